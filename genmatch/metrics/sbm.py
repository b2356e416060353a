"""The validity test of stochastic-block-model graphs (as in the SPECTRE / DiGress benchmarks):
fit a block model, then test its edge probabilities against the generating ones.

The fit is the maximum-likelihood partition of the nodes into the known number of blocks
under the generating model (the most likely block assignment given ``p_in`` and ``p_out``),
found by steepest single-node moves from a spectral start and several seeded random ones.
Each block's within-block edge count and each pair of blocks' between-block count is then
tested against ``p_in`` and ``p_out`` with an exact two-sided binomial test; the graph is
valid when no test rejects at level ``α`` after a Bonferroni correction over the tests (and
the blocks have the sizes allowed, when given). SPECTRE fits with graph-tool and averages
Wald p-values without the sample-size factor; here the tests are exact and their level is
the stated ``α``.

Power depends on the graphs' size. On two blocks of 12–16 nodes (``p_in = 0.7``,
``p_out = 0.05``, ``α = 0.05``) 57 of 60 true samples pass and 0 of 60 Erdős–Rényi graphs of
the same density do (the tests); on :func:`~genmatch.data.sbm_graphs`' default blocks of 4–7
nodes, with ``block_sizes=(4, 7)``, 95.5 % of 200 true samples and 23.5 % of 200 Erdős–Rényi
graphs pass: on ten-node graphs the test cannot tell them apart reliably.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import networkx as nx
import torch
from torch import Tensor


def binomial_test(k: int, m: int, p: float) -> float:
    """The exact two-sided p-value of ``k`` successes in ``m`` Bernoulli(``p``) trials: the
    probability of every count no more likely than ``k`` (the "minlike" rule of
    ``scipy.stats.binomtest``), ``1`` when ``m = 0``.

    Example:
        >>> round(binomial_test(9, 10, 0.5), 6)  # P(K ≤ 1) + P(K ≥ 9) = 22/1024
        0.021484
    """
    if m == 0:
        return 1.0
    if not 0 <= k <= m:
        raise ValueError(f"k must be in [0, m], got k={k}, m={m}")
    counts = torch.arange(m + 1, dtype=torch.float64)
    if p in (0.0, 1.0):
        return float(k == (0 if p == 0.0 else m))
    log_pmf = (
        torch.lgamma(torch.tensor(m + 1.0, dtype=torch.float64))
        - torch.lgamma(counts + 1)
        - torch.lgamma(m - counts + 1)
        + counts * torch.log(torch.tensor(p, dtype=torch.float64))
        + (m - counts) * torch.log1p(torch.tensor(-p, dtype=torch.float64))
    )
    pmf = log_pmf.exp()
    return float(pmf[pmf <= pmf[k] * (1 + 1e-7)].sum().clamp_max(1.0))


def _block_counts(adj: Tensor, blocks: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Edges ``(k, k)`` (within-block on the diagonal, each edge once) and pairs ``(k, k)``."""
    one_hot = torch.nn.functional.one_hot(blocks, k).to(adj.dtype)
    edges = one_hot.T @ adj @ one_hot
    sizes = one_hot.sum(0)
    pairs = sizes[:, None] * sizes[None, :]
    edges = edges - torch.diag(edges.diagonal() / 2)
    pairs = pairs - torch.diag((sizes**2 + sizes) / 2)  # within: s (s − 1) / 2
    return edges, pairs


@final
@dataclass(frozen=True)
class SBMFit:
    """A block model fitted to one graph and its tests.

    Attributes:
        blocks: the block of each node, ``(n,)`` int64.
        edges: edge counts between blocks, ``(k, k)`` (within-block on the diagonal).
        pairs: node pairs between blocks, ``(k, k)``.
        p_values: the exact binomial p-values of the ``k`` within-block and ``k (k − 1) / 2``
            between-block tests, in row-major upper-triangle order.
        valid: whether no test rejects at the corrected level and the block sizes are allowed.
    """

    blocks: Tensor
    edges: Tensor
    pairs: Tensor
    p_values: Tensor
    valid: bool


@final
@dataclass(frozen=True)
class SBMTest:
    """Validity of a graph as a sample of the stochastic block model with ``blocks`` blocks,
    within-block edge probability ``p_in`` and between-block probability ``p_out``.

    Calling it on a graph gives the verdict (a validity predicate for
    :func:`~genmatch.metrics.graph_metrics`); :meth:`fit` gives the fitted partition and the
    p-values. A true SBM sample passes with probability about ``1 − α`` or more when the fit
    recovers its blocks (Bonferroni is conservative); an Erdős–Rényi graph of the same density
    fails.

    Args:
        blocks: the number of blocks ``k`` (``≥ 1``).
        p_in: the generating within-block edge probability.
        p_out: the generating between-block edge probability.
        level: the family-wise level ``α`` of the tests.
        block_sizes: ``(low, high)`` allowed block sizes, or ``None`` for any.
        restarts: random starts of the greedy fit (besides a spectral start).
        seed: the seed of the random starts (the test is deterministic).

    Example:
        >>> from genmatch.data import sbm_graphs
        >>> test = SBMTest(blocks=2, p_in=0.7, p_out=0.05)
        >>> graph = sbm_graphs(1, rng=torch.Generator().manual_seed(0))[0]
        >>> test(graph), test(nx.gnp_random_graph(11, 0.4, seed=0))
        (True, False)
    """

    blocks: int
    p_in: float
    p_out: float
    level: float = 0.05
    block_sizes: tuple[int, int] | None = None
    restarts: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.blocks, bool) or not isinstance(self.blocks, int) or self.blocks < 1:
            raise ValueError(f"blocks must be an integer >= 1, got {self.blocks!r}")
        for name in ("p_in", "p_out"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {self.level}")
        if self.restarts < 0:
            raise ValueError(f"restarts must be >= 0, got {self.restarts}")

    def _partition(self, adj: Tensor) -> Tensor:
        """The maximum-likelihood partition under the generating model, ``argmax_b
        Σ_{i<j, b_i = b_j} w_ij`` with ``w_ij = A_ij log(p_in/p_out) + (1 − A_ij)
        log((1 − p_in)/(1 − p_out))`` (the log-likelihood up to a constant), by steepest single
        node moves from a spectral start and ``restarts`` random ones."""
        n, k = adj.shape[0], self.blocks
        p_in, p_out = (min(max(p, 1e-9), 1 - 1e-9) for p in (self.p_in, self.p_out))
        w = adj * math.log(p_in / p_out) + (1 - adj) * math.log((1 - p_in) / (1 - p_out))
        w = w.fill_diagonal_(0.0)
        rng = torch.Generator().manual_seed(self.seed)
        starts = [torch.arange(n) % k]
        if k > 1 and n > k:  # spectral: order by the Fiedler vector, cut into k runs
            lap = torch.diag(adj.sum(1)) - adj
            order = torch.linalg.eigh(lap).eigenvectors[:, 1].argsort()
            spectral = torch.empty(n, dtype=torch.long)
            spectral[order] = torch.arange(n) * k // n
            starts.append(spectral)
        starts += [torch.randint(0, k, (n,), generator=rng) for _ in range(self.restarts)]
        best, best_score = starts[0], float("-inf")
        for blocks in starts:
            blocks = self._climb(w, blocks.clone())
            one_hot = torch.nn.functional.one_hot(blocks, k).to(w.dtype)
            score = float((one_hot.T @ w @ one_hot).diagonal().sum()) / 2
            if score > best_score + 1e-9:
                best, best_score = blocks, score
        return best

    def _climb(self, w: Tensor, blocks: Tensor) -> Tensor:
        """The best single-node move while one gains (no block left empty)."""
        k = self.blocks
        for _ in range(10 * w.shape[0] * k):
            one_hot = torch.nn.functional.one_hot(blocks, k).to(w.dtype)
            pull = w @ one_hot  # (n, k): Σ_{j in block b} w_ij
            gain = pull - pull.gather(1, blocks[:, None])
            alone = one_hot.sum(0)[blocks] == 1
            gain[alone] = float("-inf")
            i, b = divmod(int(gain.argmax()), k)
            if not float(gain[i, b]) > 1e-9:
                break
            blocks[i] = b
        return blocks

    def fit(self, graph: nx.Graph) -> SBMFit:
        """Fit the partition and test its edge counts (module docstring)."""
        n, k = graph.number_of_nodes(), self.blocks
        if n < k:
            empty = torch.zeros(0, dtype=torch.float64)
            zeros = torch.zeros(k, k, dtype=torch.float64)
            return SBMFit(torch.zeros(n, dtype=torch.long), zeros, zeros, empty, False)
        adj = torch.tensor(nx.to_numpy_array(graph, nodelist=list(graph.nodes)) > 0)
        adj = adj.to(torch.float64).fill_diagonal_(0.0)
        blocks = self._partition(adj)
        edges, pairs = _block_counts(adj, blocks, k)
        tests = [(r, s) for r in range(k) for s in range(r, k)]
        p_values = torch.tensor(
            [
                binomial_test(
                    int(edges[r, s]), int(pairs[r, s]), self.p_in if r == s else self.p_out
                )
                for r, s in tests
            ],
            dtype=torch.float64,
        )
        ok = bool((p_values > self.level / len(tests)).all())
        if self.block_sizes is not None:
            sizes = torch.bincount(blocks, minlength=k)
            low, high = self.block_sizes
            ok = ok and bool(((sizes >= low) & (sizes <= high)).all())
        return SBMFit(blocks, edges, pairs, p_values, ok)

    def __call__(self, graph: nx.Graph) -> bool:
        return self.fit(graph).valid
