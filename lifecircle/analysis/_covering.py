"""Covering models on a sparse coverage matrix: exact (HiGHS through SciPy) and greedy.

Rows are demand points (compounds not yet covered), columns are candidate sites;
``cover[i, j]`` is true when site ``j`` would cover compound ``i``; ``weights[i]`` its residents.
``groups`` are disjoint sets of columns of which at least one must be chosen (the sub-districts
that lack a facility). Two models:

* maximal covering: at most ``k`` sites covering the most weight;
* minimum sites: the fewest sites covering at least ``required`` weight (partial covering) or,
  with ``required=None``, every row (set covering).

The exact models are mixed-integer programmes solved by HiGHS through
:func:`scipy.optimize.milp`, built directly from the sparse matrix (one binary per site, one
continuous ``0 ≤ y_i ≤ 1`` per row; ``y_i ≤ Σ_j cover[i, j]·x_j``). The greedy algorithm takes the
site with the largest marginal gain at each step; its solutions come with a bound on the
optimum: the LP relaxation (HiGHS), the marginal-gain bound of submodular maximisation (for any
set ``S``: ``OPT_k ≤ f(S) + sum of the k largest marginal gains at S``), and, without groups,
the ``1 − 1/e`` guarantee.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import optimize, sparse

from .. import settings

if TYPE_CHECKING:
    from ..profile import Profile

EXACT = "exact"
GREEDY = "greedy"
#: Marginal gains below this share of the total weight count as zero (floating-point drift).
_RELATIVE_EPS = 1e-12


@dataclass(frozen=True)
class CoverSolution:
    """A set of chosen sites with what it achieves and how good it is proven to be.

    Attributes
    ----------
    chosen : numpy.ndarray
        Chosen columns; greedy solutions keep the order they were picked in.
    covered_weight : float
        Weight of the rows the chosen sites cover (counted from the matrix, not the solver).
    method : str
        ``exact`` (HiGHS) or ``greedy``.
    status : str
        ``optimal``, ``time_limit`` (best found when the time ran out), ``heuristic``
        (greedy) or ``infeasible``.
    bound : float
        Maximal covering: an upper bound on the best coverage with that many sites. Minimum
        sites: a lower bound on the number of sites needed.
    bound_source : str
        Where the bound comes from.
    seconds : float
        Solve time.
    """

    chosen: np.ndarray
    covered_weight: float
    method: str
    status: str
    bound: float
    bound_source: str
    seconds: float

    @property
    def n_sites(self) -> int:
        """Number of chosen sites."""
        return len(self.chosen)


def covered_rows(cover: sparse.csr_array, chosen: Sequence[int] | np.ndarray) -> np.ndarray:
    """Boolean mask of the rows covered by the chosen columns."""
    chosen = np.asarray(chosen, dtype=np.int64)
    if len(chosen) == 0:
        return np.zeros(cover.shape[0], dtype=bool)
    return np.asarray(cover[:, chosen].sum(axis=1)).ravel() > 0


def _weight(cover: sparse.csr_array, weights: np.ndarray, chosen: np.ndarray) -> float:
    return float(weights[covered_rows(cover, chosen)].sum())


# --------------------------------------------------------------------------------------------
# Greedy
# --------------------------------------------------------------------------------------------


class GreedyCover:
    """The greedy state: uncovered rows and every site's marginal gain, updated per pick."""

    def __init__(self, cover: sparse.csr_array, weights: np.ndarray) -> None:
        self.csr = sparse.csr_array(cover, dtype=np.int8)
        self.csc = self.csr.tocsc()
        self.weights = np.asarray(weights, dtype=float)
        self.uncovered = np.ones(cover.shape[0], dtype=bool)
        self.marginal = self.csr.T @ self.weights
        self.value = 0.0
        self.chosen: list[int] = []
        self.eps = _RELATIVE_EPS * max(1.0, float(self.weights.sum()))

    def best(self, among: np.ndarray | None = None) -> int:
        """The site with the largest marginal gain (lowest column on ties), or -1 if none."""
        if among is None:
            j = int(np.argmax(self.marginal))
            return j if self.marginal[j] > -np.inf else -1
        if len(among) == 0:
            return -1
        return int(among[np.argmax(self.marginal[among])])

    def take(self, j: int) -> float:
        """Choose site ``j``; return the weight it newly covers."""
        column = self.csc.indices[self.csc.indptr[j] : self.csc.indptr[j + 1]]
        rows = column[self.uncovered[column]]
        gain = float(self.weights[rows].sum())
        self.uncovered[rows] = False
        starts = self.csr.indptr[rows]
        lengths = self.csr.indptr[rows + 1] - starts
        sites = self.csr.indices[_ranges(starts, lengths)]
        np.subtract.at(self.marginal, sites, np.repeat(self.weights[rows], lengths))
        self.marginal[j] = -np.inf
        self.value += gain
        self.chosen.append(j)
        return gain

    def has_gain(self) -> bool:
        """Whether some site still covers more than nothing."""
        return bool(self.marginal.max(initial=-np.inf) > self.eps)

    def top_gains(self, limit: int) -> np.ndarray:
        """Cumulative sums of the ``limit`` largest marginal gains (``[0] = 0``)."""
        gains = np.clip(self.marginal, 0.0, None)
        limit = min(limit, len(gains))
        top = -np.sort(-np.partition(gains, len(gains) - limit)[len(gains) - limit :])
        return np.r_[0.0, np.cumsum(top)]


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])``, vectorised."""
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts - before, lengths) + np.arange(lengths.sum())


def _restricted(state: GreedyCover, budget: int, open_groups: list[np.ndarray]) -> np.ndarray | None:
    """Candidates the next pick must come from: the open groups once the budget only fits them."""
    if open_groups and budget <= len(open_groups):
        return np.concatenate(open_groups)
    return None


def _close_groups(groups: list[np.ndarray], j: int) -> list[np.ndarray]:
    return [g for g in groups if j not in set(g.tolist())]


def greedy_curve(
    cover: sparse.csr_array, weights: np.ndarray, max_sites: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy order with its gains, and an upper bound on the optimum for every number of sites.

    Parameters
    ----------
    cover : scipy.sparse.csr_array
        Rows × sites coverage.
    weights : numpy.ndarray
        Row weights.
    max_sites : int
        Stop after this many sites (or when no site adds coverage).

    Returns
    -------
    order : numpy.ndarray
        Sites in greedy order.
    gains : numpy.ndarray
        Weight each newly covers.
    upper : numpy.ndarray
        ``upper[k-1]`` bounds the best coverage of any ``k`` sites (``k = 1 … len(order)``):
        the smallest ``f(S_i) + (sum of the k largest marginal gains at S_i)`` over greedy
        steps ``i = 0, 1, 2, 4, 8, …``, and never more than the coverable weight.
    """
    state = GreedyCover(cover, weights)
    total = float(np.asarray(weights)[np.asarray(cover.sum(axis=1)).ravel() > 0].sum())
    upper = np.full(max_sites, total)
    gains = []
    checkpoint = 0
    while len(state.chosen) < max_sites:
        if len(state.chosen) == checkpoint:
            tops = state.top_gains(max_sites)
            bounded = state.value + tops[1:]
            upper[: len(bounded)] = np.minimum(upper[: len(bounded)], bounded)
            checkpoint = max(1, 2 * checkpoint)
        if not state.has_gain():
            break
        gains.append(state.take(state.best()))
    n = len(state.chosen)
    return np.array(state.chosen, dtype=np.int64), np.array(gains), upper[:n]


def max_cover_greedy(
    cover: sparse.csr_array, weights: np.ndarray, k: int, groups: Sequence[np.ndarray] = ()
) -> CoverSolution:
    """Greedy maximal covering with at most ``k`` sites (and one in every group).

    The bound is the smallest of the marginal-gain bounds met along the way and, without
    groups, ``value / (1 − 1/e)``.
    """
    start = time.perf_counter()
    state = GreedyCover(cover, weights)
    open_groups = [np.asarray(g, dtype=np.int64) for g in groups]
    bound = math.inf
    while len(state.chosen) < k:
        bound = min(bound, state.value + state.top_gains(k)[-1])
        among = _restricted(state, k - len(state.chosen), open_groups)
        if among is None and not state.has_gain():
            break
        j = state.best(among)
        if j < 0:
            break
        state.take(j)
        open_groups = _close_groups(open_groups, j)
    value = state.value
    bound = min(bound, value + state.top_gains(k)[-1])
    status = "infeasible" if open_groups else "heuristic"
    source = "marginal-gain bound"
    if not groups and value > 0 and value / (1 - 1 / math.e) < bound:
        bound, source = value / (1 - 1 / math.e), "(1 − 1/e) guarantee"
    if not state.has_gain():
        bound, source = value, "every coverable compound is covered"
    chosen = np.array(state.chosen, dtype=np.int64)
    bound = min(bound, _coverable(cover, weights))
    return CoverSolution(
        chosen, _weight(cover, weights, chosen), GREEDY, status, bound, source,
        time.perf_counter() - start,
    )


def min_sites_greedy(
    cover: sparse.csr_array,
    weights: np.ndarray,
    required: float | None,
    groups: Sequence[np.ndarray] = (),
) -> CoverSolution:
    """Greedy: add the best site until ``required`` weight (every row if None) is covered.

    Then one site for every group still without one. The lower bound on the number of sites
    is the largest of: the number of groups, and at greedy steps ``0, 1, 2, 4, …`` the fewest
    marginal gains that could still reach ``required``.
    """
    start = time.perf_counter()
    state = GreedyCover(cover, weights)
    if required is None:
        # Every row: weight each row 1 so that every one of them counts.
        state = GreedyCover(cover, np.ones(cover.shape[0]))
        required = float(cover.shape[0])
    target = required - state.eps
    lower, checkpoint = len(groups), 0
    while state.value < target and state.has_gain():
        if len(state.chosen) == checkpoint:
            tops = state.top_gains(cover.shape[1])
            lower = max(lower, int(np.searchsorted(tops, target - state.value, side="left")))
            checkpoint = max(1, 2 * checkpoint)
        state.take(state.best())
    open_groups = [np.asarray(g, dtype=np.int64) for g in groups]
    for j in state.chosen:
        open_groups = _close_groups(open_groups, j)
    while open_groups:
        j = state.best(np.concatenate(open_groups))
        state.take(j)
        open_groups = _close_groups(open_groups, j)
    chosen = np.array(state.chosen, dtype=np.int64)
    status = "heuristic" if state.value >= target else "infeasible"
    return CoverSolution(
        chosen, _weight(cover, weights, chosen), GREEDY, status, float(lower),
        "marginal-gain bound", time.perf_counter() - start,
    )


def _coverable(cover: sparse.csr_array, weights: np.ndarray) -> float:
    return float(np.asarray(weights)[np.asarray(cover.sum(axis=1)).ravel() > 0].sum())


# --------------------------------------------------------------------------------------------
# Exact (HiGHS)
# --------------------------------------------------------------------------------------------


def _group_rows(groups: Sequence[np.ndarray], n_cols: int) -> sparse.csr_array:
    rows = np.concatenate([np.full(len(g), i) for i, g in enumerate(groups)]) if groups else []
    cols = np.concatenate([np.asarray(g) for g in groups]) if groups else []
    return sparse.csr_array(
        (np.ones(len(cols)), (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
        shape=(len(groups), n_cols),
    )


def _milp(
    objective: np.ndarray,
    blocks: list[tuple[sparse.csr_array, float, float]],
    n_integer: int,
    time_limit_s: float,
    relax: bool = False,
) -> optimize.OptimizeResult:
    constraints = [optimize.LinearConstraint(matrix, lb, ub) for matrix, lb, ub in blocks]
    integrality = np.zeros(len(objective))
    if not relax:
        integrality[:n_integer] = 1
    return optimize.milp(
        objective,
        constraints=constraints,
        integrality=integrality,
        bounds=optimize.Bounds(0, 1),
        options={"disp": False, "time_limit": time_limit_s, "mip_rel_gap": 0.0, "presolve": True},
    )


def _linking(cover: sparse.csr_array) -> sparse.csr_array:
    """Rows ``y_i − Σ_j cover[i, j]·x_j ≤ 0`` over the variables ``[x, y]``."""
    n_rows = cover.shape[0]
    return sparse.hstack(
        [-sparse.csr_array(cover, dtype=float), sparse.eye_array(n_rows, format="csr")], format="csr"
    )


def _max_cover_model(
    cover: sparse.csr_array, weights: np.ndarray, k: int, groups: Sequence[np.ndarray]
) -> tuple[np.ndarray, list]:
    n_rows, n_sites = cover.shape
    objective = np.r_[np.zeros(n_sites), -np.asarray(weights, dtype=float)]
    budget = sparse.csr_array(np.r_[np.ones(n_sites), np.zeros(n_rows)][None, :])
    blocks = [(_linking(cover), -np.inf, 0.0), (budget, 0.0, float(k))]
    if groups:
        blocks.append((_group_rows(groups, n_sites + n_rows), 1.0, np.inf))
    return objective, blocks


def _min_sites_model(
    cover: sparse.csr_array, weights: np.ndarray, required: float | None,
    groups: Sequence[np.ndarray],
) -> tuple[np.ndarray, list]:
    n_rows, n_sites = cover.shape
    if required is None:
        objective = np.ones(n_sites)
        blocks = [(sparse.csr_array(cover, dtype=float), 1.0, np.inf)]
        n_cols = n_sites
    else:
        objective = np.r_[np.ones(n_sites), np.zeros(n_rows)]
        demand = sparse.csr_array(np.r_[np.zeros(n_sites), weights][None, :])
        blocks = [(_linking(cover), -np.inf, 0.0), (demand, required, np.inf)]
        n_cols = n_sites + n_rows
    if groups:
        blocks.append((_group_rows(groups, n_cols), 1.0, np.inf))
    return objective, blocks


def _chosen(result: optimize.OptimizeResult, n_sites: int) -> np.ndarray | None:
    if result.x is None:
        return None
    return np.flatnonzero(result.x[:n_sites] > 0.5)


def max_cover_exact(
    cover: sparse.csr_array,
    weights: np.ndarray,
    k: int,
    groups: Sequence[np.ndarray] = (),
    time_limit_s: float = 60.0,
) -> CoverSolution:
    """Maximal covering solved by HiGHS: at most ``k`` sites (and one per group)."""
    start = time.perf_counter()
    n_sites = cover.shape[1]
    objective, blocks = _max_cover_model(cover, weights, k, groups)
    result = _milp(objective, blocks, n_sites, time_limit_s)
    chosen = _chosen(result, n_sites)
    seconds = time.perf_counter() - start
    if chosen is None:
        status = "infeasible" if result.status == 2 else "time_limit"
        return CoverSolution(np.array([], dtype=np.int64), 0.0, EXACT, status, math.nan,
                             f"HiGHS: {result.message}", seconds)
    value = _weight(cover, weights, chosen)
    optimal = result.status == 0
    bound = value if optimal else -float(result.mip_dual_bound)
    source = "proven optimal (HiGHS)" if optimal else "HiGHS dual bound"
    return CoverSolution(chosen, value, EXACT, "optimal" if optimal else "time_limit", bound,
                         source, seconds)


def min_sites_exact(
    cover: sparse.csr_array,
    weights: np.ndarray,
    required: float | None,
    groups: Sequence[np.ndarray] = (),
    time_limit_s: float = 60.0,
) -> CoverSolution:
    """The fewest sites covering ``required`` weight (every row when None), solved by HiGHS.

    Among the fewest, a second solve picks the sites that cover the most weight.
    """
    start = time.perf_counter()
    n_sites = cover.shape[1]
    objective, blocks = _min_sites_model(cover, weights, required, groups)
    result = _milp(objective, blocks, n_sites, time_limit_s)
    chosen = _chosen(result, n_sites)
    if chosen is None:
        status = "infeasible" if result.status == 2 else "time_limit"
        return CoverSolution(np.array([], dtype=np.int64), 0.0, EXACT, status, math.nan,
                             f"HiGHS: {result.message}", time.perf_counter() - start)
    optimal = result.status == 0
    lower = float(len(chosen)) if optimal else math.ceil(float(result.mip_dual_bound) - 1e-6)
    remaining = time_limit_s - (time.perf_counter() - start)
    if required is not None and remaining > 0:
        best = max_cover_exact(cover, weights, len(chosen), groups, remaining)
        if best.covered_weight > _weight(cover, weights, chosen) and best.covered_weight >= required:
            chosen = best.chosen
    return CoverSolution(
        chosen, _weight(cover, weights, chosen), EXACT, "optimal" if optimal else "time_limit",
        lower, "proven optimal (HiGHS)" if optimal else "HiGHS dual bound",
        time.perf_counter() - start,
    )


def lp_bound_max_cover(
    cover: sparse.csr_array, weights: np.ndarray, k: int, groups: Sequence[np.ndarray] = (),
    time_limit_s: float = 60.0,
) -> float:
    """Upper bound on maximal covering from its LP relaxation (``nan`` if HiGHS did not finish)."""
    objective, blocks = _max_cover_model(cover, weights, k, groups)
    result = _milp(objective, blocks, cover.shape[1], time_limit_s, relax=True)
    return -float(result.fun) if result.status == 0 else math.nan


def lp_bound_min_sites(
    cover: sparse.csr_array, weights: np.ndarray, required: float | None,
    groups: Sequence[np.ndarray] = (), time_limit_s: float = 60.0,
) -> float:
    """Lower bound on the number of sites from the LP relaxation, rounded up (``nan`` if unsolved)."""
    objective, blocks = _min_sites_model(cover, weights, required, groups)
    result = _milp(objective, blocks, cover.shape[1], time_limit_s, relax=True)
    return float(math.ceil(result.fun - 1e-6)) if result.status == 0 else math.nan


# --------------------------------------------------------------------------------------------
# Choosing the solver
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SolverOptions:
    """How the siting models are solved.

    Attributes
    ----------
    method : {"auto", "exact", "greedy"}
        ``auto`` solves exactly when the coverage matrix has at most ``exact_max_entries``
        entries (candidate–compound pairs), else greedily with a bound.
    exact_max_entries : int
        See ``method``.
    time_limit_s : float
        Per exact solve (and per LP bound); the best solution found and its bound are kept.
    curve_max_sites : int
        Length of the coverage curve.
    """

    method: Literal["auto", "exact", "greedy"] = "auto"
    # Read when an instance is made, so that changed settings apply.
    exact_max_entries: int = field(default_factory=lambda: settings.siting_exact_max_entries)
    time_limit_s: float = field(default_factory=lambda: settings.siting_time_limit_s)
    curve_max_sites: int = field(default_factory=lambda: settings.siting_curve_max_sites)

    @classmethod
    def from_profile(cls, profile: Profile) -> SolverOptions:
        """The options of a profile's ``siting`` section."""
        siting = profile.siting
        return cls(
            method=siting.solver,
            exact_max_entries=siting.exact_max_entries,
            time_limit_s=siting.time_limit_s,
        )


def _use_exact(cover: sparse.csr_array, options: SolverOptions) -> tuple[bool, str]:
    if options.method != "auto":
        return options.method == "exact", f"solver: {options.method} requested"
    size = cover.nnz
    if size <= options.exact_max_entries:
        return True, f"coverage matrix of {size:,} entries within the exact limit"
    return False, (
        f"coverage matrix of {size:,} entries exceeds the exact limit of "
        f"{options.exact_max_entries:,} (siting: exact_max_entries)"
    )


def solve_max_cover(
    cover: sparse.csr_array,
    weights: np.ndarray,
    groups: Sequence[np.ndarray],
    k: int,
    options: SolverOptions,
) -> tuple[CoverSolution, CoverSolution, str]:
    """Maximal covering, exact or greedy as ``options`` say.

    The greedy solution and the LP relaxation come first (both are cheap): when greedy
    reaches the LP bound it is optimal and the integer programme is not needed.

    Returns
    -------
    solution : CoverSolution
        The exact solution, or the greedy one (with the tightest bound) when it is proven
        optimal, when the problem is too large, or when the exact solve ran out of time with a
        worse solution.
    greedy : CoverSolution
        The greedy solution with its bound, for comparison.
    why : str
        Why this solver was used.
    """
    exact, why = _use_exact(cover, options)
    greedy = max_cover_greedy(cover, weights, k, groups)
    lp = lp_bound_max_cover(cover, weights, k, groups, options.time_limit_s)
    if lp <= greedy.bound:
        greedy = replace(greedy, bound=lp, bound_source="LP relaxation (HiGHS)")
    if greedy.status != "infeasible" and greedy.covered_weight >= greedy.bound - _tolerance(greedy.bound):
        return replace(greedy, status="optimal", bound=greedy.covered_weight), greedy, why
    if not exact:
        return greedy, greedy, why
    solved = max_cover_exact(cover, weights, k, groups, options.time_limit_s)
    if solved.status == "optimal" or solved.covered_weight >= greedy.covered_weight:
        return solved, greedy, why
    bound = min(greedy.bound, solved.bound) if math.isfinite(solved.bound) else greedy.bound
    return replace(greedy, bound=bound), greedy, why


def solve_min_sites(
    cover: sparse.csr_array,
    weights: np.ndarray,
    groups: Sequence[np.ndarray],
    required: float | None,
    options: SolverOptions,
) -> tuple[CoverSolution, CoverSolution, str]:
    """The fewest sites, exact or greedy as ``options`` say (see :func:`solve_max_cover`).

    When greedy's count meets the LP lower bound it is the fewest; among that many sites the
    ones covering the most are then chosen by :func:`solve_max_cover`.
    """
    exact, why = _use_exact(cover, options)
    greedy = min_sites_greedy(cover, weights, required, groups)
    lp = lp_bound_min_sites(cover, weights, required, groups, options.time_limit_s)
    if lp >= greedy.bound:
        greedy = replace(greedy, bound=lp, bound_source="LP relaxation (HiGHS)")
    if greedy.status != "infeasible" and greedy.n_sites <= greedy.bound:
        best = greedy
        if required is not None and greedy.n_sites:
            most = solve_max_cover(cover, weights, groups, greedy.n_sites, options)[0]
            if most.covered_weight > greedy.covered_weight and most.covered_weight >= required:
                best = replace(greedy, chosen=most.chosen, covered_weight=most.covered_weight,
                               method=most.method)
        return replace(best, status="optimal"), greedy, why
    if not exact:
        return greedy, greedy, why
    solved = min_sites_exact(cover, weights, required, groups, options.time_limit_s)
    if solved.status == "optimal" or 0 < solved.n_sites <= greedy.n_sites:
        return solved, greedy, why
    bound = max(greedy.bound, solved.bound) if math.isfinite(solved.bound) else greedy.bound
    return replace(greedy, bound=bound), greedy, why


def _tolerance(value: float) -> float:
    return 1e-9 * max(1.0, abs(value))
