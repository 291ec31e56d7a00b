"""Planning questions on top of a run: where new facilities should go, and what-if scenarios.

:func:`site` chooses new sites for one category (see :mod:`lifecircle.analysis.siting`);
:func:`compare` applies a scenario file and compares it with the run (see
:mod:`lifecircle.analysis.scenarios`). Both take a profile (and run it) or a finished
:class:`~lifecircle.analysis.result.RunResult`, whose loaded network they reuse; both compute in
memory and write nothing (:func:`lifecircle.write_siting`, :func:`lifecircle.write_comparison`).
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Literal

import geopandas as gpd
import pandas as pd

from . import pipeline, settings
from ._progress import Reporter, collected_warnings
from .analysis import checks
from .analysis.access import snap_layer
from .analysis.candidates import (
    SOURCE,
    network_candidates,
    prepare_candidates,
    street_node_candidates,
)
from .analysis.result import RunResult
from .analysis.scenarios import ScenarioComparison, compare_runs, scenario_changes
from .analysis.siting import (
    SitingPlan,
    SolverOptions,
    best_sites,
    check_category,
    check_recomputation,
    check_siting_request,
    fewest_sites,
    sites_as_facilities,
    siting_problem,
    sub_district_sites,
)
from .errors import DataError, LifecircleWarning
from .evaluation import recompute
from .profile import Profile
from .sources import areas, tables
from .sources.layers import load_layer
from .sources.scenario_file import Scenario, load_scenario, scenario_layers

CandidateSpec = Literal["network", "street_nodes"] | str | Path | gpd.GeoDataFrame


def _result(
    profile: Profile | str | Path | RunResult, osm_file: str | Path | None, progress: bool
) -> RunResult:
    if isinstance(profile, RunResult):
        return profile
    return pipeline.run(profile, osm_file=osm_file, progress=progress)


def site(
    profile: Profile | str | Path | RunResult,
    category: str,
    *,
    n_sites: int | None = None,
    target_share: float | Literal["all_reachable"] | None = None,
    one_per_sub_district: bool | None = None,
    sub_districts_only: bool = False,
    candidates: CandidateSpec | None = None,
    candidates_crs: str = "wgs84",
    spacing_m: float | None = None,
    solver: Literal["auto", "exact", "greedy"] | None = None,
    osm_file: str | Path | None = None,
    progress: bool = True,
) -> SitingPlan:
    """Choose new sites for a category, verified by recomputing the run with them.

    Parameters
    ----------
    profile : Profile, str, Path or RunResult
        A profile (run here) or a finished run (its network is reused).
    category : str
        The category to site (e.g. ``"nursery"``).
    n_sites : int, optional
        The best ``n_sites`` new sites (maximal covering). Without it: the fewest sites that
        reach ``target_share``.
    target_share : float or "all_reachable", optional
        For the fewest-sites model (default: the profile's ``siting.target_share``, else its
        "basically full" share ``indicators.full_coverage_share``, 95%).
    one_per_sub_district : bool, optional
        Also put a site in every sub-district without a facility (default: the profile's).
    sub_districts_only : bool
        Only that: one site in every sub-district without a facility, covering the most.
    candidates : "network", "street_nodes", a file path or a GeoDataFrame, optional
        Where sites may go (default: the profile's ``siting.candidates``, else ``network``:
        points along the walking network at most ``spacing_m`` apart).
    candidates_crs : str
        Coordinate system of a candidate file given as a path (``wgs84``, ``gcj02``, ``bd09``,
        EPSG codes).
    spacing_m : float, optional
        Spacing of network candidates (default: the profile's ``siting.spacing_m``, 100 m).
    solver : {"auto", "exact", "greedy"}, optional
        Default: the profile's ``siting.solver`` (``auto``).
    osm_file : str or Path, optional
        As for :func:`lifecircle.run`.
    progress : bool
        Show the run's progress.

    Returns
    -------
    SitingPlan
        With the ranked sites, the coverage curve, the solver and its bound, and ``after``:
        the run recomputed with the sites (its coverage equals the model's claim).
    """
    _check_request(profile, category, n_sites, target_share, sub_districts_only)
    result = _result(profile, osm_file, progress)
    settings_ = result.profile.siting
    with collected_warnings(Reporter(enabled=progress), LifecircleWarning) as notes:
        layer = candidate_layer(result, candidates, candidates_crs, spacing_m)
        prepared, dropped = prepare_candidates(
            result, layer, within_study_area=not settings_.outside_study_area
        )
    problem = replace(siting_problem(result, category, prepared), dropped_candidates=dropped)
    options = SolverOptions.from_profile(result.profile)
    if solver is not None:
        options = replace(options, method=solver)
    per_district = settings_.one_per_sub_district if one_per_sub_district is None else one_per_sub_district
    if sub_districts_only:
        plan = sub_district_sites(problem, options=options)
    elif n_sites is not None:
        plan = best_sites(problem, n_sites, one_per_sub_district=per_district, options=options)
    else:
        share = next(s for s in (target_share, settings_.target_share,
                                 result.profile.indicators.full_coverage_share) if s is not None)
        plan = fewest_sites(problem, share, one_per_sub_district=per_district, options=options)
    plan.messages += notes
    return verify_plan(plan)


def _check_request(
    profile: Profile | str | Path | RunResult,
    category: str,
    n_sites: int | None,
    target_share: float | Literal["all_reachable"] | None,
    sub_districts_only: bool,
) -> None:
    """Refuse a siting request that cannot be meant, before the run (minutes on a city)."""
    if n_sites is not None and (target_share is not None or sub_districts_only):
        raise DataError("give either a number of new sites or a target share, not both")
    check_siting_request(n_sites, target_share)
    if isinstance(profile, (Profile, RunResult)):
        check_category(profile if isinstance(profile, Profile) else profile.profile, category)


def verify_plan(plan: SitingPlan) -> SitingPlan:
    """Recompute the run with the plan's sites added and check it against the model's claim.

    Returns
    -------
    SitingPlan
        ``plan`` with ``after`` set to the recomputed run.

    Raises
    ------
    VerificationError
        When the recomputation disagrees with the claim (a defect, reported loudly).
    """
    layer, snaps = sites_as_facilities(plan)
    after = recompute(
        plan.problem.result, facilities={plan.category: layer}, facility_snaps={plan.category: snaps}
    )
    check_recomputation(plan, after)
    plan.after = after
    return plan


def candidate_layer(
    result: RunResult,
    candidates: CandidateSpec | None = None,
    crs: str = "wgs84",
    spacing_m: float | None = None,
) -> gpd.GeoDataFrame:
    """The candidate sites as given (before snapping): generated, read, or the profile's.

    Returns
    -------
    geopandas.GeoDataFrame
        With ``name``, ``source`` and geometry (any CRS).
    """
    profile = result.profile
    spec = candidates if candidates is not None else profile.siting.candidates
    spacing = spacing_m if spacing_m is not None else profile.siting.spacing_m
    if isinstance(spec, gpd.GeoDataFrame):
        if spec.crs is None:
            raise DataError("the candidate GeoDataFrame has no coordinate system: set its crs")
        layer = spec.copy()
        layer["name"] = layer.get("name", "")
        layer[SOURCE] = layer.get(SOURCE, "GeoDataFrame")
        return layer
    if isinstance(spec, str) and spec == "network":
        return network_candidates(result.network, spacing)
    if isinstance(spec, str) and spec == "street_nodes":
        return street_node_candidates(result.network)
    if isinstance(spec, (str, Path)):
        layer = tables.read_layer(Path(spec), crs=crs)
        _check_candidate_crs(result, layer, crs, str(spec))
        return layer.assign(**{SOURCE: Path(spec).name})
    return _profile_candidates(result)


def _profile_candidates(result: RunResult) -> gpd.GeoDataFrame:
    profile = result.profile
    area = result.study_area.geometry.union_all()
    buffered = areas.buffer_polygon(area, profile.max_threshold_m, profile.projected_crs)
    parts = []
    for source in profile.siting.candidate_sources:
        layer = load_layer(
            profile, source, buffered, profile.local_osm_file, settings.data_raw_folder / profile.name
        )
        described = "OpenStreetMap" if source.osm_tags is not None else Path(str(source.file)).name
        if source.file is not None:
            _check_candidate_crs(result, layer, source.crs, described)
        parts.append(layer[["name", "geometry"]].assign(**{SOURCE: described}))
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=settings.exchange_crs)


def _check_candidate_crs(result: RunResult, layer: gpd.GeoDataFrame, crs: str, what: str) -> None:
    """Warn when candidates look like GCJ-02/BD-09 declared as WGS84, as for facilities."""
    if layer.empty:
        warnings.warn(f"the candidate layer {what} is empty", LifecircleWarning, stacklevel=3)
        return
    snaps = snap_layer(result.network, layer, result.profile.snap_limit_m)
    checks.warn_about_snaps(snaps, f"candidate sites ({what})", crs, result.network, layer)


def compare(
    profile: Profile | str | Path | RunResult,
    scenario: Scenario | str | Path,
    *,
    osm_file: str | Path | None = None,
    progress: bool = True,
) -> ScenarioComparison:
    """Apply a what-if scenario to a run and compare it with the run.

    Parameters
    ----------
    profile : Profile, str, Path or RunResult
        A profile (run here) or a finished run; its loaded network is reused.
    scenario : Scenario, str or Path
        A validated scenario or a scenario YAML file (see
        :mod:`lifecircle.sources.scenario_file`).
    osm_file : str or Path, optional
        As for :func:`lifecircle.run`.
    progress : bool
        Show the run's progress.

    Returns
    -------
    ScenarioComparison
        The base and scenario runs and their differences per category and sub-district.
    """
    if not isinstance(scenario, Scenario):  # a malformed file is refused before the run
        scenario = load_scenario(scenario)
    result = _result(profile, osm_file, progress)
    with collected_warnings(Reporter(enabled=progress), LifecircleWarning) as notes:
        changes = scenario_changes(result, scenario, scenario_layers(scenario))
    changed = recompute(
        result, facilities=changes.facilities, facility_snaps=changes.facility_snaps,
        compounds=changes.compounds, profile=changes.profile,
    )
    changed.notes = [*changed.notes, *notes]
    return compare_runs(result, changed, scenario.name)
