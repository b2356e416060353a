"""Simulation of a (composite) generator over a time grid (GM §8, §9.7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import nn

from genmatch._checks import check_instance, time_dtype
from genmatch.generators.base import AbstractGenerator
from genmatch.guidance.condition import as_condition
from genmatch.spaces.base import TENSORS, AbstractStateSpace
from genmatch.time import FactorGrids, TimeGrid
from genmatch.types import Field, State


@final
@dataclass(frozen=True)
class SimulationResult:
    """The end of a simulation.

    Attributes:
        x: the final points, ``(batch, *event)``.
        trajectory: ``(x_{t_0}, …, x_{t_n})`` if requested, else ``None``; for tensor
            states ``torch.stack(result.trajectory)`` is ``(steps + 1, batch, *event)``.
        grid: the time grid (or per-factor grids) that was used.
        nfe: number of field evaluations, ``grid.steps × generator.nfe_per_step``.
    """

    x: State
    trajectory: tuple[State, ...] | None
    grid: TimeGrid | FactorGrids
    nfe: int


def simulate(
    generator: AbstractGenerator,
    field: Field | nn.Module,
    x_0: State,
    grid: TimeGrid | FactorGrids | int,
    *,
    space: AbstractStateSpace | None = None,
    rng: torch.Generator | None = None,
    return_trajectory: bool = False,
    grad: bool = False,
    condition: State | None = None,
) -> SimulationResult:
    """Run ``generator``'s step over ``grid`` from ``x_0``.

    One loop serves every generator: each step calls ``generator.step(field, x, t, h)``,
    which makes ``generator.nfe_per_step`` field evaluations. The grid lives on the host and
    times are sliced from one device tensor, so the loop never synchronises with a device.

    Args:
        generator: the Markov process (a flow, a composite, ...).
        field: ``(x, t) ↦ F_t(x)``, e.g. ``generator.field(net)`` or an
            :class:`~genmatch.marginal.ExactMarginal`. An ``nn.Module`` is taken to return raw
            heads and is wrapped with ``generator.field``.
        x_0: initial points at ``grid.times[0]``, ``(batch, *event)`` (a dict of factor
            batches on a product).
        grid: a :class:`~genmatch.time.TimeGrid`, or a number of uniform steps on ``[0, 1]``;
            for a :class:`~genmatch.compose.ProductGenerator` also
            :class:`~genmatch.time.FactorGrids` (a grid per factor; held factors never move).
        space: if given, ``x_0`` is validated against it; its batch operations are used for
            structured states (batches that are not tensors or dicts/tuples of tensors).
        rng: random number generator for stochastic steps.
        return_trajectory: keep every intermediate state.
        grad: record the autograd graph (for likelihood training); off by default.
        condition: conditions ``c`` for a conditional network (one per point, or a
            :class:`~genmatch.guidance.Condition`), passed as ``generator.field(net, c)``:
            with a :class:`~genmatch.guidance.ClassifierFreeGuidance` generator this samples
            the guided model. Only with a network; bind conditions to other fields yourself
            (e.g. :meth:`ExactMarginal.given <genmatch.ExactMarginal.given>`).

    Returns:
        The final state, the optional trajectory, the grid and the NFE.

    Example:
        >>> import torch
        >>> from genmatch import FlowGenerator, RK4, TimeGrid, simulate
        >>> flow = FlowGenerator(solver=RK4())
        >>> rotate = lambda x, t: torch.stack([-x[:, 1], x[:, 0]], 1)  # exact: a rotation
        >>> out = simulate(flow, rotate, torch.tensor([[1.0, 0.0]]), TimeGrid.uniform(8))
        >>> out.nfe, torch.allclose(out.x, torch.tensor([[0.5403, 0.8415]]), atol=1e-4)
        (32, True)
    """
    check_instance(generator, AbstractGenerator, "generator")
    if isinstance(grid, int) and not isinstance(grid, bool):
        grid = TimeGrid.uniform(grid)
    if not isinstance(grid, (TimeGrid, FactorGrids)):
        raise TypeError(
            f"grid must be a TimeGrid, FactorGrids or an int, got {type(grid).__name__}"
        )
    if space is not None:
        space.check(x_0, "x_0")
    states = TENSORS if space is None else space
    if isinstance(field, nn.Module):
        if condition is not None:
            condition = as_condition(condition, states.batch_size(x_0))
        field = generator.field(field, condition)
    elif condition is not None:
        raise TypeError(
            "condition= is for networks (nn.Module); bind the condition to the field instead"
        )
    ref = states.reference(x_0)
    batch = states.batch_size(x_0)
    dtype = time_dtype(ref)
    x = x_0
    trajectory = [x_0] if return_trajectory else None
    with torch.set_grad_enabled(grad):
        if isinstance(grid, TimeGrid):
            times = torch.tensor(grid.times, dtype=dtype, device=ref.device)
            steps = grid.times
            for i in range(grid.steps):
                t = times[i].expand(batch)
                x = generator.step(field, x, t, steps[i + 1] - steps[i], generator=rng)
                if trajectory is not None:
                    trajectory.append(x)
        else:
            factor_times = grid.as_tensors(dtype, ref.device)
            for i in range(grid.steps):
                t_i = {k: v[i].expand(batch) for k, v in factor_times.items()}
                x = generator.step(field, x, t_i, grid.step_sizes(i), generator=rng)  # type: ignore[arg-type]
                if trajectory is not None:
                    trajectory.append(x)
    return SimulationResult(
        x=x,
        trajectory=tuple(trajectory) if trajectory is not None else None,
        grid=grid,
        nfe=grid.steps * generator.nfe_per_step,
    )
