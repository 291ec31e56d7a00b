"""What-if scenarios: apply facility, housing and threshold changes to a run, and compare.

:func:`apply_scenario` turns a validated scenario into a recomputed run on the same loaded
network (:func:`lifecircle.analysis.recompute.recompute`): removals and moves keep the run's
own snaps of the facilities that stay, so that adding a facility and removing it again gives
back the run's results exactly. :func:`compare_runs` lists what changed, per category and per
sub-district, and which compounds gain or lose coverage.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import schema, settings
from ..errors import DataError, LifecircleWarning
from ..profile import Profile
from ..sources.scenario_file import FacilityMove, FacilitySelection, Scenario, ScenarioLayers
from ._layers import append_rows
from .access import representative_points, snap_layer
from .result import RunResult

#: Values of ``change`` in the compound change table.
GAINED, LOST, NEW_COVERED, NEW_UNCOVERED = "gained", "lost", "new_covered", "new_uncovered"
#: Values of ``change`` in the facility change table.
ADDED, REMOVED = "added", "removed"


@dataclass
class ScenarioComparison:
    """A run, the same run with a scenario applied, and what changed.

    Attributes
    ----------
    name : str
        The scenario's name.
    base, scenario : RunResult
        The run before and after (same network).
    by_area : pandas.DataFrame
        Per area (whole study area and each sub-district) and category (and the complete life
        circle): compounds, covered compounds and shares, population covered and shares, in
        the base and the scenario, their differences, and compounds/residents that gain or
        lose coverage.
    compound_changes : pandas.DataFrame
        One row per compound and category whose coverage changes (or that is new):
        ``compound_id``, ``name``, ``sub_district``, ``population``, ``category``, ``change``
        (``gained``, ``lost``, ``new_covered``, ``new_uncovered``), ``dist_m_base``,
        ``dist_m_scenario``.
    facility_changes : pandas.DataFrame
        Facilities added or removed (a move is both), with ``category``, ``name``, ``change``,
        ``lon``, ``lat``.
    notes : list of str
    """

    name: str
    base: RunResult
    scenario: RunResult
    by_area: pd.DataFrame
    compound_changes: pd.DataFrame
    facility_changes: pd.DataFrame
    notes: list[str] = field(default_factory=list)


@dataclass
class ScenarioChanges:
    """What a scenario changes in a run: the arguments of :func:`lifecircle.evaluation.recompute`.

    Attributes
    ----------
    facilities : dict of str to geopandas.GeoDataFrame
        The changed categories' facility layers (EPSG:4326).
    facility_snaps : dict of str to pandas.DataFrame
        Their snaps, row for row (the run's own for the facilities that stay).
    compounds : geopandas.GeoDataFrame or None
        The compounds with the new ones appended (None when unchanged).
    profile : Profile
        The profile with the scenario's thresholds.
    """

    facilities: dict[str, gpd.GeoDataFrame]
    facility_snaps: dict[str, pd.DataFrame]
    compounds: gpd.GeoDataFrame | None
    profile: Profile


def scenario_changes(result: RunResult, scenario: Scenario, layers: ScenarioLayers) -> ScenarioChanges:
    """The changed layers of a run under a scenario.

    Parameters
    ----------
    result : RunResult
        The run to change (a scenario's result works too); it must carry its loaded layers.
    scenario : Scenario
        The validated scenario.
    layers : ScenarioLayers
        Its layers, from :func:`lifecircle.sources.scenario_file.scenario_layers`.

    Returns
    -------
    ScenarioChanges

    Raises
    ------
    DataError
        When the scenario names an unknown category, a facility that does not exist (or, for
        a move, more than one), or new compounds outside the study area.
    """
    if result.layers is None:
        raise DataError("this result does not carry its loaded layers: run the profile again")
    profile = _changed_profile(result.profile, scenario)
    touched = (
        {e.category for e in scenario.facilities.add}
        | {e.category for e in scenario.facilities.remove}
        | {e.category for e in scenario.facilities.move}
    )
    _check_categories(profile, touched)
    facilities, snaps = {}, {}
    for key in sorted(touched):
        facilities[key], snaps[key] = _changed_facilities(result, key, scenario, layers)
    compounds = None
    if layers.added_compounds is not None:
        compounds = _with_new_compounds(result, layers.added_compounds, profile)
    return ScenarioChanges(facilities, snaps, compounds, profile)


def _check_categories(profile: Profile, keys: set[str]) -> None:
    unknown = sorted(keys - set(profile.categories))
    if unknown:
        raise DataError(
            f"the scenario names the category {', '.join(map(repr, unknown))}, which the profile "
            f"{profile.name!r} does not define; its categories: {', '.join(profile.categories)}"
        )


def _changed_profile(profile: Profile, scenario: Scenario) -> Profile:
    if not scenario.thresholds:
        return profile
    _check_categories(profile, set(scenario.thresholds))
    categories = dict(profile.categories)
    for key, threshold in scenario.thresholds.items():
        old = categories[key]
        categories[key] = old.model_copy(
            update={
                "threshold_m": float(threshold),
                "level": None,
                "threshold_source": f"scenario {scenario.name}: {threshold:g} m "
                f"(was {old.threshold_m:g} m: {old.threshold_source})",
            }
        )
        if threshold > profile.max_threshold_m:
            warnings.warn(
                f"scenario threshold {threshold:g} m for {key} exceeds the run's largest "
                f"threshold ({profile.max_threshold_m:g} m), by which the study area was buffered "
                "to load streets and facilities: walks leaving that buffer are not seen. Change "
                "the profile and run again for exact figures near the boundary.",
                LifecircleWarning,
                stacklevel=3,
            )
    return profile.model_copy(update={"categories": categories})


def _changed_facilities(
    result: RunResult, key: str, scenario: Scenario, layers: ScenarioLayers
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """One category's facilities after removals, moves and additions, with their snaps."""
    layer = result.layers.facility_layers[key].reset_index(drop=True)
    snaps = result.facility_snaps[key].reset_index(drop=True)
    keep = np.ones(len(layer), dtype=bool)
    for item, point in zip(scenario.facilities.remove, layers.removal_points, strict=True):
        if item.category == key:
            keep &= ~_selected(result, layer, item, point)
    moved = []
    for item, point, target in zip(
        scenario.facilities.move, layers.move_points, layers.move_targets, strict=True
    ):
        if item.category == key:
            found = _selected(result, layer, item, point) & keep
            if found.sum() != 1:
                raise DataError(_move_message(item, int(found.sum())))
            keep &= ~found
            moved.append(target.assign(name=layer["name"].to_numpy()[found][0]))
    added = [*layers.added_facilities.get(key, []), *moved]
    layer, snaps = layer[keep].reset_index(drop=True), snaps[keep].reset_index(drop=True)
    if added:
        new = gpd.GeoDataFrame(
            pd.concat([a[["name", "geometry"]] for a in added], ignore_index=True),
            crs=settings.exchange_crs,
        )
        new_snaps = snap_layer(result.network, new, result.profile.snap_limit_m)
        _warn_beyond_snap_limit(new, new_snaps, key)
        layer = append_rows(layer, new)
        snaps = pd.concat([snaps, new_snaps], ignore_index=True)
    return layer, snaps


def _warn_beyond_snap_limit(new: gpd.GeoDataFrame, snaps: pd.DataFrame, key: str) -> None:
    beyond = (snaps["access_status"] != schema.STATUS_OK).to_numpy()
    if beyond.any():
        names = ", ".join(repr(n) for n in new["name"].to_numpy()[beyond][:5])
        warnings.warn(
            f"{int(beyond.sum())} {key} facilities added by the scenario are not on the main "
            f"walking network ({names}): check their coordinates and 'crs'",
            LifecircleWarning,
            stacklevel=4,
        )


def _selected(
    result: RunResult, layer: gpd.GeoDataFrame, item: FacilitySelection, point: gpd.GeoDataFrame | None
) -> np.ndarray:
    if point is None:
        found = (layer["name"] == item.name).to_numpy()
        what = f"named {item.name!r}"
    else:
        crs = result.network.crs
        distance = layer.geometry.to_crs(crs).distance(point.geometry.to_crs(crs).iloc[0])
        found = (distance <= item.within_m).to_numpy()
        what = f"within {item.within_m:g} m of ({item.near.x}, {item.near.y}) [{item.crs}]"
    if not found.any():
        raise DataError(
            f"the scenario changes a {item.category} facility {what}, but there is none: check "
            "the name (exact match) or the point and its 'crs'"
        )
    return found


def _move_message(item: FacilityMove, count: int) -> str:
    selector = f"named {item.name!r}" if item.name is not None else f"within {item.within_m:g} m"
    return (
        f"the scenario moves the {item.category} facility {selector}, which matches {count} "
        "facilities: a move needs exactly one (use 'near' with a smaller 'within_m', or remove "
        "and add)"
    )


def _with_new_compounds(
    result: RunResult, added: gpd.GeoDataFrame, profile: Profile
) -> gpd.GeoDataFrame:
    base = result.layers.compounds
    area = result.study_area.to_crs(settings.exchange_crs).geometry.union_all()
    outside = ~representative_points(added).within(area).to_numpy()
    if outside.any():
        names = ", ".join(repr(n) for n in added["name"].to_numpy()[outside][:5])
        raise DataError(
            f"{int(outside.sum())} new compound(s) of the scenario lie outside the study area "
            f"({names}): check their coordinates and 'crs'"
        )
    if added[["households", "population"]].isna().all(axis=1).any():
        warnings.warn(
            "some new compounds of the scenario have neither households nor population: they "
            "count as compounds with unknown residents",
            LifecircleWarning,
            stacklevel=3,
        )
    start = int(base[schema.COMPOUND_ID].max()) + 1 if len(base) else 0
    # A compound's own population wins; otherwise households × persons per household.
    population = added["population"].fillna(
        added["households"] * profile.compounds.persons_per_household
    )
    new = gpd.GeoDataFrame(
        {
            schema.COMPOUND_ID: np.arange(start, start + len(added)),
            schema.NAME: added["name"].to_numpy(),
            schema.HOUSEHOLDS: added["households"].to_numpy(dtype=float),
            schema.POPULATION: population.to_numpy(dtype=float),
        },
        geometry=added.geometry.to_numpy(),
        crs=settings.exchange_crs,
    )
    # Other columns of the compound file stay missing (NaN) for new housing.
    return gpd.GeoDataFrame(pd.concat([base, new], ignore_index=True), crs=base.crs)


def compare_runs(base: RunResult, changed: RunResult, name: str) -> ScenarioComparison:
    """Differences between a run and the same run with a scenario applied.

    Parameters
    ----------
    base, changed : RunResult
        The run and its scenario (from :func:`apply_scenario`).
    name : str
        The scenario's name.

    Returns
    -------
    ScenarioComparison
    """
    changes = compound_changes(base, changed)
    return ScenarioComparison(
        name=name,
        base=base,
        scenario=changed,
        by_area=_by_area(base, changed, changes),
        compound_changes=changes,
        facility_changes=facility_changes(base, changed),
        notes=[n for n in changed.notes if n not in base.notes],
    )


def compound_changes(base: RunResult, changed: RunResult) -> pd.DataFrame:
    """Compounds whose coverage changes per category (and the complete life circle)."""
    before = base.compounds.set_index(schema.COMPOUND_ID)
    after = changed.compounds.set_index(schema.COMPOUND_ID)
    rows = []
    for key in [*changed.categories, schema.COMPLETE]:
        column = schema.covered_column(key)
        dist = None if key == schema.COMPLETE else schema.category_columns(key).dist_m
        now = after[column].astype(bool)
        was = before[column].astype(bool).reindex(after.index)
        new = ~after.index.isin(before.index)
        change = pd.Series("", index=after.index, dtype=object)
        change[~new & now & ~was.fillna(False).astype(bool)] = GAINED
        change[~new & ~now & was.fillna(False).astype(bool)] = LOST
        change[new] = np.where(now[new], NEW_COVERED, NEW_UNCOVERED)
        picked = after[change != ""]
        rows.append(
            pd.DataFrame(
                {
                    schema.COMPOUND_ID: picked.index.to_numpy(),
                    schema.NAME: picked[schema.NAME].to_numpy(),
                    schema.SUB_DISTRICT: picked[schema.SUB_DISTRICT].to_numpy(),
                    schema.POPULATION: picked[schema.POPULATION].to_numpy(dtype=float),
                    "category": key,
                    "change": change[change != ""].to_numpy(),
                    "dist_m_base": (
                        before[dist].reindex(picked.index).to_numpy(dtype=float) if dist
                        else np.full(len(picked), np.nan)
                    ),
                    "dist_m_scenario": (
                        picked[dist].to_numpy(dtype=float) if dist else np.full(len(picked), np.nan)
                    ),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def facility_changes(base: RunResult, changed: RunResult) -> pd.DataFrame:
    """Facilities added or removed (by category, name and location)."""
    def keyed(frame: gpd.GeoDataFrame) -> pd.DataFrame:
        points = frame.to_crs(settings.exchange_crs)
        return pd.DataFrame(
            {
                "category": points["category"].to_numpy(),
                "name": points["name"].to_numpy(),
                "lon": points.geometry.x.round(7).to_numpy(),
                "lat": points.geometry.y.round(7).to_numpy(),
            }
        )

    before, after = keyed(base.facilities), keyed(changed.facilities)
    merged = before.merge(after, how="outer", indicator=True)
    merged = merged[merged["_merge"] != "both"]
    merged["change"] = np.where(merged["_merge"] == "left_only", REMOVED, ADDED)
    columns = ["category", "name", "change", "lon", "lat"]
    return merged[columns].sort_values(["category", "change", "name"]).reset_index(drop=True)


def _by_area(base: RunResult, changed: RunResult, changes: pd.DataFrame) -> pd.DataFrame:
    keys = ["area", "category"]
    measures = ["n_compounds", "n_covered", "compound_share", "population_covered",
                "population_share"]
    merged = base.coverage[keys + measures].merge(
        changed.coverage[keys + measures], on=keys, how="outer", suffixes=("_base", "_scenario")
    )
    for measure in ("n_covered", "compound_share", "population_covered", "population_share"):
        merged[f"{measure}_change"] = merged[f"{measure}_scenario"] - merged[f"{measure}_base"]
    counted = []
    areas = [schema.ALL_AREAS, *sorted(set(merged["area"]) - {schema.ALL_AREAS})]
    for area in areas:
        rows = changes if area == schema.ALL_AREAS else changes[changes[schema.SUB_DISTRICT] == area]
        for key, group in rows.groupby("category"):
            for change in (GAINED, LOST):
                picked = group[group["change"] == change]
                counted.append({"area": area, "category": key, f"n_{change}": len(picked),
                                f"population_{change}": picked[schema.POPULATION].sum()})
    if counted:
        tally = pd.DataFrame(counted).groupby(keys, sort=False).sum(min_count=1).reset_index()
        merged = merged.merge(tally, on=keys, how="left")
    for column in (f"n_{GAINED}", f"n_{LOST}", f"population_{GAINED}", f"population_{LOST}"):
        merged[column] = merged[column].fillna(0) if column in merged else 0
        if column.startswith("n_"):
            merged[column] = merged[column].astype(np.int64)
    order = {a: i for i, a in enumerate(areas)}
    category_order = {k: i for i, k in enumerate([*changed.categories, schema.COMPLETE])}
    merged = merged.sort_values(
        ["area", "category"],
        key=lambda s: s.map(order if s.name == "area" else category_order),
    )
    return merged.reset_index(drop=True)
