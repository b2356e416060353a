import dataclasses
import math

import pytest
import torch

from genmatch import (
    MLP,
    RK4,
    EuclideanSpace,
    FlowGenerator,
    Heun,
    Midpoint,
    TimeGrid,
    simulate,
)


def rotation(x, t):
    return torch.stack([-x[:, 1], x[:, 0]], 1)


@pytest.mark.parametrize("solver", [Midpoint(), Heun(), RK4()], ids=repr)
def test_simulate_matches_exact_solution_and_counts_nfe(solver, dtype):
    flow = FlowGenerator(solver=solver)
    x_0 = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=dtype)
    out = simulate(flow, rotation, x_0, TimeGrid.uniform(64))
    exact = torch.stack(
        [
            x_0[:, 0] * math.cos(1) - x_0[:, 1] * math.sin(1),
            x_0[:, 0] * math.sin(1) + x_0[:, 1] * math.cos(1),
        ],
        1,
    )
    torch.testing.assert_close(out.x, exact, atol=1e-4, rtol=0)
    assert out.nfe == 64 * solver.stages
    assert out.x.dtype == dtype and out.trajectory is None


def test_trajectory_and_nonuniform_grid():
    flow = FlowGenerator()
    grid = TimeGrid([0.0, 0.1, 0.5, 0.9, 1.0])
    calls = []

    def field(x, t):
        calls.append(t.clone())
        return torch.ones_like(x)

    out = simulate(flow, field, torch.zeros(3, 2), grid, return_trajectory=True)
    traj = torch.stack(out.trajectory)
    assert traj.shape == (5, 3, 2)
    torch.testing.assert_close(traj[:, 0, 0], torch.tensor(grid.times))
    assert [float(c[0]) for c in calls] == pytest.approx([0.0, 0.1, 0.5, 0.9])
    assert all(c.shape == (3,) for c in calls)


def test_network_is_wrapped_and_no_grad_by_default():
    space = EuclideanSpace(2)
    flow = FlowGenerator()
    net = MLP(space, flow.head_shapes(space), hidden=8)
    out = simulate(flow, net, torch.randn(4, 2), 4)
    assert not out.x.requires_grad
    out = simulate(flow, net, torch.randn(4, 2), 4, grad=True)
    assert out.x.requires_grad


def test_solver_is_swappable_with_replace():
    flow = dataclasses.replace(FlowGenerator(), solver=RK4())
    assert flow.nfe_per_step == 4


def test_bad_inputs():
    flow = FlowGenerator()
    with pytest.raises(ValueError, match="strictly increasing"):
        TimeGrid([0.0, 0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        TimeGrid([0.0, 1.5])
    with pytest.raises(ValueError, match="positive integer"):
        TimeGrid.uniform(0)
    with pytest.raises(TypeError, match="TimeGrid"):
        simulate(flow, rotation, torch.zeros(2, 2), [0.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        simulate(flow, rotation, torch.zeros(2, 3), 4, space=EuclideanSpace(2))
    with pytest.raises(ValueError, match="NaN"):
        simulate(flow, rotation, torch.full((2, 2), float("nan")), 4, space=EuclideanSpace(2))
