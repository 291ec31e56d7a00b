"""The run's supply-and-demand steps: facility registers, residents, capacity (orchestration).

:func:`lifecircle.pipeline.run` calls these between its own steps; each only orchestrates the
sources and analysis modules that do the work, and says what it did (progress lines, or
warnings that reach the report's notes).
"""

from __future__ import annotations

import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import schema, settings
from ._progress import Reporter
from .analysis import capacity, population
from .analysis.access import AccessGraph
from .errors import LifecircleWarning
from .profile import Category, LayerSource, Profile
from .sources import gates, osm_features, registers


def facility_register(
    profile: Profile,
    key: str,
    layers: list[gpd.GeoDataFrame],
    labels: list[str],
    reporter: Reporter,
) -> registers.Register:
    """A category's facilities from its registers: closed and out-of-scope entries excluded
    (and listed), duplicates across registers merged, the completeness audit counted."""
    category = profile.categories[key]
    parts = []
    for number, (layer, source) in enumerate(zip(layers, category.sources, strict=True)):
        capacity_field, used_field = capacity_fields(category, source)
        parts.append(registers.register_part(
            layer, labels[number], number, capacity_field=capacity_field, used_field=used_field
        ))
    rules = profile.registers
    register = registers.merge_registers(
        parts,
        key,
        closed_patterns=rules.closed_patterns,
        exclude_patterns=category.exclude_patterns,
        match_fields=rules.match_fields,
        max_distance_m=rules.deduplicate.max_distance_m,
        min_name_similarity=rules.deduplicate.min_name_similarity,
        projected_crs=profile.projected_crs,
    )
    _report_register(key, register, reporter)
    return register


def capacity_fields(category: Category, source: LayerSource) -> tuple[str | None, str | None]:
    """The columns holding a source's capacity and the part in use (None: not read).

    Those named in the profile (``capacity_field``, ``used_field``); for OpenStreetMap tags of a
    category with ``capacity``, the capacity defaults to the ``capacity`` tag
    (:data:`lifecircle.sources.osm_features.OSM_CAPACITY_TAG`; ``capacity_field: beds`` reads that tag instead).
    """
    capacity_field = source.capacity_field
    if capacity_field is None and source.osm_tags is not None and category.capacity is not None:
        capacity_field = osm_features.OSM_CAPACITY_TAG
    return capacity_field, source.used_field


def source_labels(profile: Profile, sources: list[LayerSource]) -> list[str]:
    """The audit label of each register: its ``label``, file name, or "OpenStreetMap"."""
    labels = [
        source.label
        or (profile.resolve(source.file).name if source.file is not None else "OpenStreetMap")
        for source in sources
    ]
    repeated = {label for label in labels if labels.count(label) > 1}
    return [f"{label} ({n + 1})" if label in repeated else label for n, label in enumerate(labels)]


def _report_register(key: str, register: registers.Register, reporter: Reporter) -> None:
    """Say what cleaning and merging did: nothing leaves the registers silently."""
    merged = register.audit.iloc[-1]
    if len(register.excluded):
        reasons = register.excluded["reason"].value_counts()
        warnings.warn(
            f"{key}: {len(register.excluded):,} register entries excluded ("
            + ", ".join(f"{count} {reason}" for reason, count in reasons.items())
            + "); `lifecircle report` lists them in report/excluded_facilities.csv",
            LifecircleWarning,
            stacklevel=3,
        )
    if merged["merged_away"]:
        reporter.info(
            f"{key}: {int(merged['merged_away']):,} duplicate entries across registers merged "
            "(see facility_audit.csv)"
        )


def register_tables(
    facility_registers: dict[str, registers.Register], area_polygon: Any
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The audit of every category, and every excluded entry (flagged when inside the area)."""
    audit = _concat([r.audit for r in facility_registers.values()], registers.AUDIT_COLUMNS)
    excluded = _concat([r.excluded for r in facility_registers.values()], registers.EXCLUDED_COLUMNS)
    points = gpd.GeoSeries.from_xy(excluded["lon"], excluded["lat"], crs=settings.exchange_crs)
    excluded["inside_study_area"] = points.within(area_polygon).to_numpy(dtype=bool)
    return audit, excluded


def _concat(tables: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [t for t in tables if len(t)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def gate_links(
    profile: Profile, layer: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame, reporter: Reporter
) -> tuple[gpd.GeoSeries, pd.DataFrame]:
    """The gates (EPSG:4326) and the compound each belongs to."""
    spec = profile.compounds.gates
    assert spec is not None  # called only when the profile names gates
    links = gates.link_gates(
        layer,
        compounds,
        link_field=spec.link_field,
        compound_field=spec.compound_field,
        max_distance_m=spec.max_distance_m,
        projected_crs=profile.projected_crs,
    )
    reporter.info(
        f"gates: {links['gate'].nunique():,} of {len(layer):,} belong to "
        f"{links['compound'].nunique():,} of {len(compounds):,} compounds"
    )
    return layer.geometry.reset_index(drop=True), links


def open_facilities(profile: Profile, graph: AccessGraph, key: str, layer: pd.DataFrame) -> AccessGraph:
    """The access graph for a category's distances: full facilities closed under the capacity rule.

    With ``capacity.require_capacity`` a facility whose capacity is all in use stops counting
    (no distance, count or nearest name leads to it); otherwise the graph is returned as is.
    """
    spec = profile.categories[key].capacity
    if spec is None or not spec.require_capacity:
        return graph
    full = capacity.at_capacity(layer)
    if full.any():
        warnings.warn(
            f"{key}: {int(full.sum()):,} of {len(full):,} facilities have no free places "
            "(capacity in use ≥ capacity) and do not count for coverage (capacity.require_capacity)",
            LifecircleWarning,
            stacklevel=2,
        )
    return capacity.without_full_facilities(graph, key, full)


def residents(compounds: gpd.GeoDataFrame, profile: Profile, reporter: Reporter) -> gpd.GeoDataFrame:
    """Compound residents scaled to census totals where given, and every demand group."""
    scaled, notes = population.scale_to_census(compounds, profile)
    out = compounds.copy()
    for column in scaled.columns:
        out[column] = scaled[column].to_numpy()
    for note in notes:
        if "not apportioned" in note:
            warnings.warn(note, LifecircleWarning, stacklevel=2)
        else:
            reporter.info(note)
    groups = population.demand_groups(out, profile)
    for column in groups.columns:
        out[column] = groups[column].to_numpy()
    return out


def supply_demand(
    profile: Profile,
    graph: AccessGraph,
    compounds: gpd.GeoDataFrame,
    layers: dict[str, gpd.GeoDataFrame],
) -> tuple[gpd.GeoDataFrame, dict[str, capacity.SupplyDemand]]:
    """2SFCA supply per compound for every category with a capacity; the capacity rule applied.

    Under ``capacity.require_capacity`` with a norm, a compound within the threshold is covered
    only when its supply ratio reaches the norm.
    """
    out = compounds.copy()
    results = {}
    for key, category in profile.categories.items():
        spec = category.capacity
        if spec is None:
            continue
        demand = out[schema.demand_column(capacity.norm_group(profile, key))].to_numpy(float)
        result = capacity.supply_demand(
            graph, key, spec, layers[key], demand, category.threshold_m, str(category.label)
        )
        for note in result.notes:
            warnings.warn(note, LifecircleWarning, stacklevel=2)
        for column in result.compounds.columns:
            out[column] = result.compounds[column].to_numpy()
        if spec.require_capacity and spec.norm is not None:
            covered = schema.category_columns(key).covered
            enough = result.compounds[schema.supply_columns(key).enough].to_numpy(dtype=bool)
            out[covered] = out[covered].to_numpy(dtype=bool) & enough
        results[key] = result
    return out, results


def facility_supply_columns(result: capacity.SupplyDemand | None, n: int) -> dict[str, np.ndarray]:
    """Per facility, its catchment demand and capacity per person (NaN without a capacity)."""
    if result is None:
        return {"catchment_demand": np.full(n, np.nan), "capacity_per_person": np.full(n, np.nan)}
    return {
        "catchment_demand": result.facilities["catchment_demand"].to_numpy(dtype=float),
        "capacity_per_person": result.facilities["ratio"].to_numpy(dtype=float),
    }
