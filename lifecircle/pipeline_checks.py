"""The run's checks of its inputs: every doubt about a number is said before any figure.

Called by :func:`lifecircle.pipeline.run` between its steps; each check either returns a cleaned
layer or warns (:class:`~lifecircle.errors.LifecircleWarning`, reported before the coverage
figures and kept in the manifest) or raises a :class:`~lifecircle.errors.DataError` naming the
rows. Counts written as text are read or reported, negative counts refused, exact duplicates
dropped (unless the profile keeps them), coordinate systems of boundaries tested against the
known district boundaries, and a network that covers only part of the study area, a layer
that OpenStreetMap has no tags for, and overlapping sub-districts named.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd

from .analysis import checks
from .analysis.access import representative_points
from .analysis.network import WalkNetwork
from .errors import DataError, LifecircleWarning
from .profile import LayerSource, Profile
from .sources import areas, count_columns, tables


def compound_counts(profile: Profile, compounds: gpd.GeoDataFrame, described: str) -> gpd.GeoDataFrame:
    """The compounds with their households and population columns read as numbers.

    Raises
    ------
    DataError
        When a count is negative (the rows are named).
    """
    out = compounds.copy()
    for key in ("households_field", "population_field"):
        field = getattr(profile.compounds, key)
        if field:
            out[field] = count_columns.counts(compounds, field, f"compounds ({described}): {field}")
    return out


def without_exact_duplicates(profile: Profile, layer: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    """The layer without rows that repeat an earlier row's name and location exactly.

    With ``keep_exact_duplicates: true`` in the profile every row is kept; either way the
    duplicates are reported, since they count twice (facilities) or add residents twice
    (compounds).
    """
    repeated = tables.exact_duplicates(layer)
    if not repeated.any():
        return layer
    names = layer.loc[repeated, "name"].astype(str).head(3).tolist() if "name" in layer else []
    examples = f" (e.g. {', '.join(repr(n) for n in names)})" if names else ""
    kept = profile.keep_exact_duplicates
    warnings.warn(
        f"{what}: {int(repeated.sum()):,} of {len(layer):,} entries repeat another entry's name "
        f"and location exactly{examples}; "
        + ("all are kept (keep_exact_duplicates: true in the profile)" if kept else
           "only the first of each is kept. If they really are separate, set "
           "keep_exact_duplicates: true in the profile"),
        LifecircleWarning,
        stacklevel=2,
    )
    return layer if kept else layer.loc[~repeated]


def osm_tags_found(
    layer: gpd.GeoDataFrame, source: LayerSource, osm_file: Path | None, what: str
) -> None:
    """Name the real cause when OpenStreetMap data holds no feature with a layer's tags.

    Raises
    ------
    DataError
        When ``layer`` (read from ``source.osm_tags``) is empty.
    """
    if source.osm_tags is None or not layer.empty:
        return
    where = f"the OpenStreetMap file {osm_file.name}" if osm_file else "OpenStreetMap (Overpass)"
    hint = (
        "it holds no land-use or point-of-interest tags (e.g. a streets-only extract)"
        if osm_file else "there are none mapped in this area"
    )
    raise DataError(
        f"{what}: {where} has no feature tagged {source.osm_tags} in the study area — {hint}. "
        "Give the layer as a file instead (source: {file: ..., crs: ...}) or use an extract "
        "that has these tags"
    )


def boundary_crs(profile: Profile, study_area: gpd.GeoDataFrame) -> None:
    """Warn when the study-area or sub-district file fits the known district boundaries
    markedly better read as GCJ-02 or BD-09 than as declared."""
    spec = profile.study_area
    if spec.file is not None:
        _one_boundary_crs(study_area, spec.crs, "study area", profile)
    if profile.sub_districts is not None and profile.sub_districts.file is not None:
        path = profile.resolve(profile.sub_districts.file)
        layer = tables.read_layer(path, crs=profile.sub_districts.crs)
        _one_boundary_crs(layer, profile.sub_districts.crs, f"sub-districts ({path.name})", profile)


def _one_boundary_crs(layer: gpd.GeoDataFrame, declared: str, what: str, profile: Profile) -> None:
    reference = areas.districts_near(tuple(layer.total_bounds))
    found = checks.likely_chinese_crs_of_boundaries(layer, declared, reference, profile.projected_crs)
    if found is not None:
        checks.warn_crs_suspicion(what, declared, found, "the known district boundaries")


def partial_network(
    network: WalkNetwork, study_area: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame,
    profile: Profile, network_source: Any,
) -> None:
    """Warn when the walking network covers only part of the study area (with the shares)."""
    found = checks.network_coverage(
        network, study_area.geometry, compounds.geometry, profile.snap_limit_m
    )
    name = Path(str(network_source)).name if network_source is not None else "OpenStreetMap"
    checks.warn_partial_network(found, name)


def overlapping_sub_districts(
    sub_districts: gpd.GeoDataFrame | None, compounds: gpd.GeoDataFrame, profile: Profile
) -> None:
    """Warn when sub-districts overlap: by how much, and where the compounds there went."""
    if sub_districts is None:
        return
    overlaps = checks.sub_district_overlaps(sub_districts, profile.projected_crs)
    if overlaps.empty:
        return
    points = representative_points(compounds).to_crs(profile.projected_crs)
    described = []
    for row in overlaps.itertuples():
        inside = int(points.within(row.geometry).sum())
        described.append(
            f"{row.first} and {row.second} by {row.area_m2 / 1e6:.3f} km² "
            f"({row.share:.0%} of the smaller), {inside:,} compound(s) there counted in "
            f"{row.first} only"
        )
    warnings.warn(
        f"sub-districts overlap: {'; '.join(described)} (a compound in two sub-districts goes "
        "to the first by name). Fix the boundaries so that every place lies in one sub-district",
        LifecircleWarning,
        stacklevel=2,
    )


def facility_layers_checked(
    profile: Profile, layers: list[gpd.GeoDataFrame], key: str
) -> list[gpd.GeoDataFrame]:
    """Each source of a category without exact duplicates (see :func:`without_exact_duplicates`)."""
    return [
        without_exact_duplicates(profile, layer, f"{key} facilities" + (
            f" (source {number + 1})" if len(layers) > 1 else ""))
        for number, layer in enumerate(layers)
    ]
