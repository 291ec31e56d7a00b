"""From loaded layers to a run's results: snaps, access graph, distances, coverage, supply.

:func:`lifecircle.run` loads the layers and calls :func:`evaluate`; :func:`recompute` calls it
again with changed layers — new sites, what-if scenarios — on the run's loaded network: nothing
is read or downloaded again. Snaps already known are reused, so unchanged inputs give the run's
tables back value for value.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import pipeline_supply, schema, settings
from ._progress import Reporter
from .analysis import checks, coverage, entrances
from .analysis.access import (
    AccessGraph,
    build_access_graph,
    category_access,
    representative_points,
    snap_layer,
)
from .analysis.network import WalkNetwork
from .analysis.result import RunLayers, RunResult
from .errors import DataError
from .profile import Profile


@contextmanager
def timed(timings: dict[str, float], step: str, reporter: Reporter) -> Iterator[None]:
    """Time and announce a step of the run."""
    start = time.perf_counter()
    reporter.step_start(step)
    yield
    timings[step] = time.perf_counter() - start
    reporter.step_done(step, timings[step])


def evaluate(
    profile: Profile,
    network: WalkNetwork,
    study_area: gpd.GeoDataFrame,
    sub_districts: gpd.GeoDataFrame | None,
    layers: RunLayers,
    reporter: Reporter,
    timings: dict[str, float],
    *,
    facility_snaps: Mapping[str, pd.DataFrame] | None = None,
    check_snaps: bool = True,
    nearby_compounds: gpd.GeoDataFrame | None = None,
) -> RunResult:
    """Compute a run's results from its loaded layers.

    Parameters
    ----------
    profile : Profile
        Thresholds, capacity rules, targets.
    network : WalkNetwork
        The projected walking network.
    study_area, sub_districts : geopandas.GeoDataFrame
        The study area and its sub-districts (or None).
    layers : RunLayers
        Compounds, gates and facility layers as loaded.
    reporter : Reporter
        Announces the steps (disabled for recomputations).
    timings : dict
        Filled with step → seconds.
    facility_snaps : mapping of str to pandas.DataFrame, optional
        Snaps already known per category (row for row); the others are snapped here.
    check_snaps : bool
        Warn about implausible snaps (mistaken coordinate systems, islands); off for layers
        already checked.
    nearby_compounds : geopandas.GeoDataFrame, optional
        The compound layer around the study area as read, for the coordinate-system test.

    Returns
    -------
    RunResult
        Without the register audit, inputs, credits and map context (the caller adds them).
    """
    with timed(timings, "snapping", reporter):
        access_points, compound_snaps, snaps = _snaps(
            profile, network, layers, dict(facility_snaps or {}), check_snaps, nearby_compounds
        )
        access_graph = build_access_graph(
            network, access_points.snaps, snaps, compound_of=access_points.compound
        )
    with timed(timings, "walking distances", reporter):
        columns = _distances(profile, access_graph, layers.facility_layers, reporter)
    with timed(timings, "coverage", reporter):
        compounds = _assemble_compounds(
            layers.compounds, compound_snaps, columns, network, sub_districts
        )
        compounds[schema.ACCESS_RULE] = access_points.rule
        compounds[schema.N_GATES] = access_points.n_gates
        compounds = pipeline_supply.residents(compounds, profile, reporter)
        compounds, supply = pipeline_supply.supply_demand(
            profile, access_graph, compounds, layers.facility_layers
        )
        compounds = _life_circle(compounds, profile)
        by = schema.SUB_DISTRICT if sub_districts is not None else None
        table = coverage.coverage_table(compounds, list(profile.categories), by=by)
        targets = coverage.check_targets(table, profile.targets)
        facilities = _assemble_facilities(layers.facility_layers, snaps, network, supply)
    return RunResult(
        profile=profile,
        study_area=study_area,
        sub_districts=sub_districts,
        network=network,
        access_graph=access_graph,
        compounds=compounds,
        facilities=facilities,
        facility_snaps=snaps,
        coverage=table,
        targets=targets,
        timings=timings,
        layers=layers,
    )


def recompute(
    result: RunResult,
    *,
    facilities: Mapping[str, gpd.GeoDataFrame] | None = None,
    facility_snaps: Mapping[str, pd.DataFrame] | None = None,
    compounds: gpd.GeoDataFrame | None = None,
    profile: Profile | None = None,
) -> RunResult:
    """Recompute a run with other facilities, compounds or thresholds, on its loaded network.

    Parameters
    ----------
    result : RunResult
        The run to start from (from :func:`lifecircle.run`, or an earlier recomputation).
    facilities : mapping of str to geopandas.GeoDataFrame, optional
        Replacement facility layers (EPSG:4326, ``name`` and geometry; capacity columns when
        known) for some categories; the others keep the run's.
    facility_snaps : mapping of str to pandas.DataFrame, optional
        Snaps of (some of) the replacement layers, row for row, when already known — e.g. the
        run's own snaps followed by those of new sites — so that distances stay bit-for-bit
        equal to those they came from. The others are snapped here.
    compounds : geopandas.GeoDataFrame, optional
        Replacement compounds as read (see :class:`~lifecircle.analysis.result.RunLayers`);
        existing compounds keep their positions (their gates refer to them).
    profile : Profile, optional
        A changed profile with the same categories (e.g. other thresholds).

    Returns
    -------
    RunResult
        A new result on the same network, study area and sub-districts, with the run's
        register audit, inputs, credits and notes; ``result`` is not changed.

    Raises
    ------
    DataError
        When ``result`` does not carry its loaded layers.
    """
    if result.layers is None:
        raise DataError("this result does not carry its loaded layers: run the profile again")
    profile = profile if profile is not None else result.profile
    changed = dict(facilities or {})
    layers = RunLayers(
        compounds=compounds if compounds is not None else result.layers.compounds,
        gates=result.layers.gates,
        facility_layers={**result.layers.facility_layers, **changed},
    )
    snaps = {key: result.facility_snaps[key] for key in profile.categories if key not in changed}
    snaps |= dict(facility_snaps or {})
    timings: dict[str, float] = {}
    evaluated = evaluate(
        profile, result.network, result.study_area, result.sub_districts, layers,
        Reporter(enabled=False), timings, facility_snaps=snaps, check_snaps=False,
    )
    fields = ("profile", "access_graph", "compounds", "facilities", "facility_snaps", "coverage",
              "targets", "layers")
    return replace(
        result,
        **{name: getattr(evaluated, name) for name in fields},
        timings={**result.timings, "recompute": sum(timings.values())},
        notes=list(result.notes),
        recomputed=True,
    )


def _snaps(
    profile: Profile,
    network: WalkNetwork,
    layers: RunLayers,
    known: dict[str, pd.DataFrame],
    check: bool,
    nearby_compounds: gpd.GeoDataFrame | None = None,
) -> tuple[entrances.AccessPoints, pd.DataFrame, dict[str, pd.DataFrame]]:
    """Snap compounds (their gates, polygon edge or point) and facilities to the network,
    checking each source's coordinates (facilities with known snaps keep them)."""
    compounds = layers.compounds
    access_points = entrances.profile_access_points(network, profile, compounds, layers.gates)
    compound_snaps = entrances.compound_snaps(access_points, len(compounds))
    if check:
        checks.warn_about_snaps(
            compound_snaps, "compounds", profile.compounds.source.crs, network, compounds,
            reach_m=profile.snap_limit_m, crs_sample=nearby_compounds,
        )
    facility_snaps = {}
    for key, layer in layers.facility_layers.items():
        if key in known:
            facility_snaps[key] = known[key]
            continue
        facility_snaps[key] = snap_layer(network, layer, profile.snap_limit_m)
        if not check:
            continue
        sources = profile.categories[key].sources
        for number, source in enumerate(sources):
            part = (layer["source_number"] == number).to_numpy()
            what = f"{key} facilities" + (f" (source {number + 1})" if len(sources) > 1 else "")
            checks.warn_about_snaps(
                facility_snaps[key][part], what, source.crs, network, layer[part],
                reach_m=profile.snap_limit_m,
            )
    return access_points, compound_snaps, facility_snaps


def _distances(
    profile: Profile,
    access_graph: AccessGraph,
    facility_layers: dict[str, gpd.GeoDataFrame],
    reporter: Reporter,
) -> list[pd.DataFrame]:
    """Per category, every compound's walk to the nearest facility and the count in reach."""
    columns = []
    for key, category in profile.categories.items():
        layer = facility_layers[key]
        names = layer["name"].to_numpy() if "name" in layer else None
        graph = pipeline_supply.open_facilities(profile, access_graph, key, layer)
        with reporter.bar(f"{key} ({category.threshold_m:.0f} m)", len(layer)) as bar:
            columns.append(
                category_access(
                    graph,
                    key,
                    category.threshold_m,
                    profile.walking_speed_m_per_min,
                    names,
                    progress=bar,
                )
            )
    return columns


def _assemble_compounds(
    compounds: gpd.GeoDataFrame,
    snaps: pd.DataFrame,
    columns: list[pd.DataFrame],
    network: WalkNetwork,
    sub_districts: gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    snapped = _snapped_lonlat(snaps, network)
    out = compounds.copy()
    out[schema.SNAP_M] = snaps["snap_m"].to_numpy(dtype=float)
    out[schema.ACCESS_STATUS] = snaps["access_status"].to_numpy()
    out[schema.SNAP_LON], out[schema.SNAP_LAT] = snapped
    for frame in columns:
        for name in frame.columns:
            out[name] = frame[name].to_numpy()
    out[schema.SUB_DISTRICT] = coverage.assign_sub_districts(out, sub_districts)
    return out


def _life_circle(compounds: gpd.GeoDataFrame, profile: Profile) -> gpd.GeoDataFrame:
    """The complete life circle and the near misses, from the categories' coverage."""
    out = compounds.copy()
    required = coverage.required_categories(profile)
    out[schema.COMPLETE] = coverage.complete_life_circle(out, required)
    thresholds = {key: category.threshold_m for key, category in profile.categories.items()}
    near = coverage.near_misses(out, thresholds, profile.near_miss_share, required)
    for column in near.columns:
        out[column] = near[column].to_numpy()
    return out


def _assemble_facilities(
    layers: dict[str, gpd.GeoDataFrame],
    snaps: dict[str, pd.DataFrame],
    network: WalkNetwork,
    supply: dict[str, Any],
) -> gpd.GeoDataFrame:
    frames = []
    for key, layer in layers.items():
        points = gpd.GeoDataFrame(
            {
                "category": key,
                "name": layer.get("name", ""),
                **{c: layer[c] for c in _FACILITY_REGISTER_COLUMNS if c in layer},
            },
            geometry=representative_points(layer),
            crs=layer.crs,
        )
        snap = snaps[key]
        points["snap_m"] = snap["snap_m"].to_numpy(dtype=float)
        points["access_status"] = snap["access_status"].to_numpy()
        points["snap_lon"], points["snap_lat"] = _snapped_lonlat(snap, network)
        if key in supply:
            for column, values in pipeline_supply.facility_supply_columns(
                supply[key], len(points)
            ).items():
                points[column] = values
        frames.append(points.to_crs(settings.exchange_crs))
    if not frames:
        return gpd.GeoDataFrame(columns=["category", "name", "geometry"], crs=settings.exchange_crs)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=settings.exchange_crs)


_FACILITY_REGISTER_COLUMNS = (schema.SOURCE, schema.SOURCES, schema.CAPACITY, schema.CAPACITY_USED)


def _snapped_lonlat(snaps: pd.DataFrame, network: WalkNetwork) -> tuple[np.ndarray, np.ndarray]:
    if snaps.empty:
        return np.array([]), np.array([])
    points = gpd.GeoSeries.from_xy(snaps["snap_x"], snaps["snap_y"], crs=network.crs)
    points = points.to_crs(settings.exchange_crs)
    return points.x.to_numpy(), points.y.to_numpy()
