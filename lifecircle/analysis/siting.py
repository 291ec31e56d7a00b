"""Where new facilities should go: covering models on walking distances from the same engine.

A :class:`SitingProblem` holds, for one category, which uncovered compounds each candidate site
would bring within the category's threshold — measured by threshold-bounded Dijkstra over the
run's access graph with the candidates inserted like facilities (never straight-line distance).
Existing facilities stay and count: compounds they already cover are not demand. Three models:

* :func:`best_sites` — the best ``k`` new sites for the most newly covered residents
  (maximal covering);
* :func:`fewest_sites` — the fewest new sites that cover a target share of residents, or every
  compound a candidate can reach (partial / full set covering);
* :func:`sub_district_sites` — one new site in every sub-district (街道/镇) without a facility,
  covering the most residents; ``one_per_sub_district=True`` adds that constraint to the others.

Every plan is then verified (:func:`lifecircle.planning.site`): the run is recomputed with the
chosen sites added as facilities (:func:`sites_as_facilities`), and its coverage must equal the
model's claim (:func:`check_recomputation`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy
from scipy import sparse

from .. import schema
from ..errors import DataError, VerificationError
from ..profile import Profile
from . import _covering
from ._covering import CoverSolution, SolverOptions, solve_max_cover, solve_min_sites
from ._layers import append_rows
from ._siting_tables import Reduced, coverage_curve, infeasible_compounds, ranked_sites
from .candidates import candidate_snaps, coverage_matrix
from .entrances import profile_access_points
from .facilities import facilities_inside
from .result import RunResult

Model = Literal["max_coverage", "min_sites", "sub_districts"]


@dataclass(frozen=True)
class SitingProblem:
    """What each candidate site would cover, for one category of a run.

    Attributes
    ----------
    result : RunResult
        The run (existing facilities included).
    category : str
    candidates : geopandas.GeoDataFrame
        From :func:`lifecircle.analysis.candidates.prepare_candidates`.
    cover : scipy.sparse.csr_array
        Compounds × candidates, true where the candidate would bring a compound that is not
        yet covered within the threshold (rows of covered compounds are empty).
    weights : numpy.ndarray
        Residents per compound (0 where unknown) — or 1 per compound when no compound has a
        population, see ``measure``.
    measure : str
        ``population_share`` or ``compound_share``: what the shares count.
    covered_before : numpy.ndarray
        Compounds covered by the existing facilities.
    lacking_sub_districts : tuple of str
        Sub-districts without a facility of the category inside them.
    dropped_candidates : dict
        Candidates left out, by reason.
    seconds : float
        Time to measure the coverage matrix.
    """

    result: RunResult
    category: str
    candidates: gpd.GeoDataFrame
    cover: sparse.csr_array
    weights: np.ndarray
    measure: str
    covered_before: np.ndarray
    lacking_sub_districts: tuple[str, ...] = ()
    dropped_candidates: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_weight(self) -> float:
        """All residents (or compounds) of the study area: the denominator of every share."""
        return float(self.weights.sum())

    @property
    def base_weight(self) -> float:
        """Residents (or compounds) the existing facilities cover."""
        return float(self.weights[self.covered_before].sum())

    @property
    def reachable(self) -> np.ndarray:
        """Uncovered compounds that at least one candidate would cover."""
        return np.asarray(self.cover.sum(axis=1)).ravel() > 0

    def share(self, weight: float) -> float:
        """Coverage share of the category when ``weight`` is covered in all."""
        return weight / self.total_weight if self.total_weight > 0 else float("nan")


@dataclass
class SitingPlan:
    """Chosen new sites, what they cover, how they were found, and the verified recomputation.

    Attributes
    ----------
    problem : SitingProblem
    model : str
        ``max_coverage``, ``min_sites`` or ``sub_districts``.
    sites : geopandas.GeoDataFrame
        Ranked sites (EPSG:4326), see :func:`lifecircle.analysis._siting_tables.ranked_sites`.
    newly_covered : numpy.ndarray
        Compounds the sites newly cover.
    solution : CoverSolution
        The solution used (exact or greedy) with its bound.
    greedy : CoverSolution
        The greedy solution of the same model, for comparison.
    solver : str
        Which solver found the sites, with status, bound and gap, for the outputs.
    share_before, share_after : float
        Coverage share before and with the new sites (as claimed by the model).
    target_share : float or None
        The requested share (fewest-sites model).
    feasible : bool
        False when the request cannot be met (the plan then does the best that can be done).
    messages : list of str
        What the planner must know (unreachable target, sub-districts without candidates…).
    curve : pandas.DataFrame
        Coverage against the number of new sites (greedy, with an upper bound).
    infeasible : pandas.DataFrame
        Uncovered compounds that no candidate reaches, with the reason.
    after : RunResult or None
        The run recomputed with the sites added (set by :func:`lifecircle.planning.verify_plan`).
    """

    problem: SitingProblem
    model: str
    sites: gpd.GeoDataFrame
    newly_covered: np.ndarray
    solution: CoverSolution
    greedy: CoverSolution
    solver: str
    share_before: float
    share_after: float
    target_share: float | None
    feasible: bool
    messages: list[str]
    curve: pd.DataFrame
    infeasible: pd.DataFrame
    after: RunResult | None = None

    @property
    def category(self) -> str:
        """The category sited."""
        return self.problem.category


# --------------------------------------------------------------------------------------------
# The coverage matrix
# --------------------------------------------------------------------------------------------


def check_category(profile: Profile, category: str) -> None:
    """Refuse a category the covering models cannot site (checked before any run).

    Raises
    ------
    DataError
        When the profile does not define the category, or its coverage depends on capacity.
    """
    if category not in profile.categories:
        raise DataError(
            f"unknown category {category!r}: the profile {profile.name!r} defines "
            f"{', '.join(profile.categories)}"
        )
    spec = profile.categories[category].capacity
    if spec is not None and spec.require_capacity:
        raise DataError(
            f"{category}: its coverage depends on capacity (capacity.require_capacity), which the "
            "covering models do not model (a new site would change other facilities' catchments); "
            "site it without require_capacity, or compare scenarios (lifecircle compare)"
        )


def siting_problem(result: RunResult, category: str, candidates: gpd.GeoDataFrame) -> SitingProblem:
    """Measure what every candidate site would cover for one category of a run.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    category : str
        A category key of the run's profile.
    candidates : geopandas.GeoDataFrame
        From :func:`lifecircle.analysis.candidates.prepare_candidates`.

    Returns
    -------
    SitingProblem

    Raises
    ------
    DataError
        When the category is unknown or there is no candidate.
    """
    profile = result.profile
    check_category(profile, category)
    if candidates.empty:
        raise DataError(
            f"no candidate site for {category} lies on the walking network inside the study area: "
            "give other candidates (siting: candidates: in the profile)"
        )
    start = time.perf_counter()
    compounds = result.compounds
    population = compounds[schema.POPULATION].astype(float)
    known = bool(population.notna().any())
    weights = population.fillna(0.0).to_numpy() if known else np.ones(len(compounds))
    covered = compounds[schema.category_columns(category).covered].astype(bool).to_numpy()
    if result.layers is None:
        raise DataError("this result does not carry its loaded layers: run the profile again")
    access_points = profile_access_points(
        result.network, profile, result.layers.compounds, result.layers.gates
    )
    cover = coverage_matrix(
        result.network, access_points, candidate_snaps(candidates),
        profile.categories[category].threshold_m, ~covered,
    )
    return SitingProblem(
        result=result,
        category=category,
        candidates=candidates,
        cover=cover,
        weights=weights,
        measure="population_share" if known else "compound_share",
        covered_before=covered,
        lacking_sub_districts=_lacking_sub_districts(result, category),
        seconds=time.perf_counter() - start,
    )


def _lacking_sub_districts(result: RunResult, category: str) -> tuple[str, ...]:
    if result.sub_districts is None:
        return ()
    having = set(facilities_inside(result, category)[schema.SUB_DISTRICT])
    return tuple(name for name in result.sub_districts["name"] if name not in having)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def _reduce(problem: SitingProblem, one_per_sub_district: bool) -> Reduced:
    rows = np.flatnonzero(problem.reachable)
    by_rows = problem.cover[rows]
    useful = np.asarray(by_rows.sum(axis=0)).ravel() > 0
    missing: list[str] = []
    group_members: list[np.ndarray] = []
    if one_per_sub_district:
        if problem.result.sub_districts is None:
            raise DataError(
                "one site per sub-district needs sub-district boundaries: add 'sub_districts:' "
                "to the profile (a file, or osm_admin_level: 8)"
            )
        names = problem.candidates[schema.SUB_DISTRICT].to_numpy()
        for name in problem.lacking_sub_districts:
            members = np.flatnonzero(names == name)
            if len(members) == 0:
                missing.append(name)
                continue
            useful[members] = True
            group_members.append(members)
    cols = np.flatnonzero(useful)
    position = np.full(len(useful), -1)
    position[cols] = np.arange(len(cols))
    return Reduced(
        cover=sparse.csr_array(by_rows[:, cols]),
        weights=problem.weights[rows],
        rows=rows,
        cols=cols,
        groups=[position[g] for g in group_members],
        missing_groups=missing,
    )


def check_siting_request(
    n_sites: int | None, target_share: float | Literal["all_reachable"] | None
) -> None:
    """Refuse a number of sites or a target share that cannot be what the planner meant.

    Raises
    ------
    DataError
        When ``n_sites`` is not a whole number of at least 1, or ``target_share`` is not in
        (0, 1] (a percentage such as 95 is named with the share it probably means, 0.95).
    """
    if n_sites is not None:
        whole = isinstance(n_sites, (int, np.integer)) and not isinstance(n_sites, bool)
        if not whole or n_sites < 1:
            raise DataError(
                f"the number of new sites must be a whole number of at least 1, got {n_sites!r}"
            )
    if target_share is None or target_share == "all_reachable":
        return
    share = float(target_share)
    if not 0 < share <= 1:
        meant = f" (for {share:g}% give --share {share / 100:g})" if 1 < share <= 100 else ""
        raise DataError(
            f"the target share of residents must be between 0 and 1 (e.g. 0.95 for 95%), "
            f"got {share:g}{meant}"
        )


def best_sites(
    problem: SitingProblem,
    n_sites: int,
    *,
    one_per_sub_district: bool = False,
    options: SolverOptions | None = None,
) -> SitingPlan:
    """The best ``n_sites`` new sites: the most newly covered residents (maximal covering).

    Parameters
    ----------
    problem : SitingProblem
        From :func:`siting_problem`.
    n_sites : int
        At most this many new sites (fewer when no further site adds coverage).
    one_per_sub_district : bool
        Also put one site in every sub-district that lacks a facility of the category.
    options : SolverOptions
        Exact or greedy, and limits (default: :class:`SolverOptions` from the settings).

    Returns
    -------
    SitingPlan
        Verified by recomputation.
    """
    options = options or SolverOptions()
    check_siting_request(n_sites, None)
    reduced = _reduce(problem, one_per_sub_district)
    if len(reduced.groups) > n_sites:
        raise DataError(
            f"{len(reduced.groups)} sub-districts lack a {problem.category} facility, more than "
            f"the {n_sites} new sites asked for: ask for at least {len(reduced.groups)}"
        )
    start = time.perf_counter()
    solution, greedy, why = solve_max_cover(
        reduced.cover, reduced.weights, reduced.groups, n_sites, options
    )
    outcome = _Outcome("max_coverage", solution, greedy, why, requested=n_sites,
                       seconds=time.perf_counter() - start)
    return _finish(problem, reduced, outcome, options)


def fewest_sites(
    problem: SitingProblem,
    target_share: float | Literal["all_reachable"],
    *,
    one_per_sub_district: bool = False,
    options: SolverOptions | None = None,
) -> SitingPlan:
    """The fewest new sites that bring coverage to ``target_share`` (partial set covering).

    ``"all_reachable"`` asks for every compound that some candidate can reach (set
    covering). Among the fewest sites, the ones covering the most residents are chosen. When
    the share cannot be reached, the plan covers everything reachable, ``feasible`` is False
    and a message says why (compounds off the network or beyond every candidate's reach).
    """
    check_siting_request(None, target_share)
    options = options or SolverOptions()
    reduced = _reduce(problem, one_per_sub_district)
    outcome = _Outcome("min_sites")
    required: float | None = None
    if target_share != "all_reachable":
        outcome.target = float(target_share)
        required = outcome.target * problem.total_weight - problem.base_weight
        reachable = float(reduced.weights.sum())
        if required > reachable * (1 + 1e-12) + 1e-9:
            outcome.problems.append(_unreachable_message(problem, outcome.target, reachable))
            required = reachable
        elif required <= 0:
            outcome.notes.append(
                f"the existing facilities already cover {problem.share(problem.base_weight):.1%} "
                f"(target {outcome.target:.1%}): no new site is needed for the share"
            )
            required = 0.0
    if required == 0.0 and not reduced.groups:
        outcome.solution = outcome.greedy = _covering.CoverSolution(
            np.array([], dtype=np.int64), 0.0, _covering.EXACT, "optimal", 0.0,
            "target already met", 0.0,
        )
        return _finish(problem, reduced, outcome, options)
    start = time.perf_counter()
    outcome.solution, outcome.greedy, outcome.why = solve_min_sites(
        reduced.cover, reduced.weights, reduced.groups, required, options
    )
    outcome.seconds = time.perf_counter() - start
    return _finish(problem, reduced, outcome, options)


def sub_district_sites(
    problem: SitingProblem, *, options: SolverOptions | None = None
) -> SitingPlan:
    """One new site in every sub-district without a facility, covering the most residents."""
    options = options or SolverOptions()
    reduced = _reduce(problem, True)
    if not reduced.groups:
        missing = f" ({'、'.join(reduced.missing_groups)} lack one but have no candidate)"
        raise DataError(
            f"no sub-district that lacks a {problem.category} facility has a candidate site: "
            f"nothing to site{missing if reduced.missing_groups else ''}"
        )
    start = time.perf_counter()
    solution, greedy, why = solve_max_cover(
        reduced.cover, reduced.weights, reduced.groups, len(reduced.groups), options
    )
    outcome = _Outcome("sub_districts", solution, greedy, why, seconds=time.perf_counter() - start)
    return _finish(problem, reduced, outcome, options)


@dataclass
class _Outcome:
    """A model's answer before it becomes a plan: solutions, why this solver, what to tell."""

    model: str
    solution: CoverSolution | None = None
    greedy: CoverSolution | None = None
    why: str = ""
    target: float | None = None
    requested: int | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _unreachable_message(problem: SitingProblem, target: float, reachable: float) -> str:
    best = problem.share(problem.base_weight + reachable)
    uncovered = ~problem.covered_before & ~problem.reachable
    statuses = problem.result.compounds[schema.ACCESS_STATUS].to_numpy()
    off = uncovered & (statuses != schema.STATUS_OK)
    unit = "residents" if problem.measure == "population_share" else "compounds"
    threshold = problem.result.profile.categories[problem.category].threshold_m
    return (
        f"the target {target:.1%} cannot be reached: at most {best:.1%} can be covered. "
        f"{int(uncovered.sum()):,} uncovered compounds ({problem.weights[uncovered].sum():,.0f} "
        f"{unit}) are beyond the {threshold:g} m walk of every candidate site, {int(off.sum()):,} "
        "of them off the main walking network (see infeasible.csv); the plan covers everything "
        "the candidates can reach. Add candidate sites near those compounds, or check the "
        "network and the snap limit."
    )


def _solver_text(outcome: _Outcome, unit: str) -> str:
    solution = outcome.solution
    highs = f"HiGHS (SciPy {scipy.__version__} optimize.milp)"
    if solution.method == _covering.EXACT:
        name = f"{highs}, exact: {solution.status}"
    elif solution.status == "optimal":
        name = f"greedy, proven optimal: it meets the LP-relaxation bound of {highs}"
    else:
        name = f"greedy ({outcome.why})"
    if outcome.model == "min_sites":
        lower = solution.bound
        gap = (solution.n_sites - lower) / solution.n_sites if solution.n_sites else 0.0
        detail = f"{solution.n_sites} sites, at least {lower:.0f} needed ({solution.bound_source})"
    else:
        bound = solution.bound
        gap = max(0.0, (bound - solution.covered_weight) / bound) if bound else 0.0
        detail = f"no plan covers more than {bound:,.0f} {unit} newly ({solution.bound_source})"
    return f"{name}; {detail}; gap {gap:.2%}; solved in {outcome.seconds:.2f} s"


def _finish(
    problem: SitingProblem, reduced: Reduced, outcome: _Outcome, options: SolverOptions
) -> SitingPlan:
    solution = outcome.solution
    problems = list(outcome.problems)
    problems += [
        f"sub-district {name} has no {problem.category} facility and no candidate site: it "
        "cannot get one here (add candidates inside it)"
        for name in reduced.missing_groups
    ]
    if solution.status == "infeasible":
        problems.append("the solver found no solution that meets every constraint")
    sites, newly = ranked_sites(problem, reduced, solution.chosen)
    notes = list(outcome.notes)
    if outcome.requested is not None and len(sites) < outcome.requested:
        notes.append(
            f"only {len(sites)} of the {outcome.requested} new sites asked for add coverage: "
            "with them every compound a candidate can reach is covered"
        )
    claimed = problem.share(problem.base_weight + float(problem.weights[newly].sum()))
    curve = coverage_curve(
        problem, reduced.cover, reduced.weights, max(len(sites), options.curve_max_sites),
        len(sites), claimed,
    )
    plan = SitingPlan(
        problem=problem,
        model=outcome.model,
        sites=sites,
        newly_covered=newly,
        solution=solution,
        greedy=outcome.greedy,
        solver=_solver_text(
            outcome, "residents" if problem.measure == "population_share" else "compounds"
        ),
        share_before=problem.share(problem.base_weight),
        share_after=claimed,
        target_share=outcome.target,
        feasible=not problems,
        messages=problems + notes,
        curve=curve,
        infeasible=infeasible_compounds(problem),
    )
    return plan


def sites_as_facilities(plan: SitingPlan) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The category's facilities with the plan's sites appended, and their snaps.

    The existing facilities keep the run's snaps and the sites the snaps their coverage was
    measured with, so a recomputation sees exactly the walks the model saw.

    Returns
    -------
    layer : geopandas.GeoDataFrame
        For :func:`lifecircle.evaluation.recompute` ``facilities={category: layer}``.
    snaps : pandas.DataFrame
        For ``facility_snaps={category: snaps}``.
    """
    problem = plan.problem
    result, key = problem.result, problem.category
    chosen = problem.candidates.iloc[plan.sites["candidate_id"].to_numpy()]
    layer = append_rows(result.layers.facility_layers[key], plan.sites[["name", "geometry"]])
    snaps = pd.concat([result.facility_snaps[key], candidate_snaps(chosen)], ignore_index=True)
    return layer, snaps


def check_recomputation(plan: SitingPlan, after: RunResult) -> None:
    """Fail loudly unless the run recomputed with the sites covers what the model claimed.

    Raises
    ------
    VerificationError
        When a compound's coverage, or the coverage share, differs from the model's claim.
    """
    problem, key = plan.problem, plan.category
    covered = after.compounds[schema.category_columns(key).covered].astype(bool).to_numpy()
    expected = problem.covered_before | plan.newly_covered
    wrong = np.flatnonzero(covered != expected)
    overall = after.coverage[after.coverage["area"] == schema.ALL_AREAS].set_index("category")
    measured = float(overall.loc[key, problem.measure])
    if len(wrong) or abs(measured - plan.share_after) > 1e-9:
        ids = after.compounds[schema.COMPOUND_ID].to_numpy()[wrong[:10]].tolist()
        raise VerificationError(
            f"siting {key}: the recomputation with the {len(plan.sites)} new sites gives a "
            f"coverage of {measured:.6%}, the model claimed {plan.share_after:.6%}; compounds "
            f"that differ: {ids}. This is a defect in lifecircle: please report it."
        )
