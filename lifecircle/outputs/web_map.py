"""Interactive coverage and gap maps of a run (Leaflet through folium), offline by default.

:func:`coverage_map` builds one map of a :class:`~lifecircle.analysis.result.RunResult` in one
of two views:

* ``"coverage"``, the run's map: every compound coloured by its coverage status, the complete
  life circle first;
* ``"gaps"``, the report's map: it opens on what is missing — compounds beyond the threshold
  graded by how far beyond, near misses, the walking service area of the chosen category and
  residential land outside it; covered compounds are small pale dots.

In both, compound views are exclusive choices (radio buttons: one category, or the complete
life circle, at a time), a switch colours compounds by coverage status or by graded walking
time, and a panel gives the coverage percentages of ``result.coverage``. Without tiles (the
default) the map draws its own context: the walking network, water and sub-district outlines.

Maps are :class:`~lifecircle.outputs.html.InlineMap` objects: in Jupyter they display without
internet, and ``save()``/:func:`~lifecircle.outputs.html.save_map` write self-contained HTML.
Element ids are renumbered, so the same inputs give the same HTML, byte for byte.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from html import escape

import folium
import geopandas as gpd
import pandas as pd
import shapely

from .. import schema
from ..analysis.result import RunResult
from ..errors import DataError, LifecircleWarning
from ..profile import Profile
from . import map_data, map_panels
from ._geo import (
    check_compound_columns,
    clean_value,
    feature_collection,
    round_coordinates,
    service_area_geometry,
    shifted_layer,
    to_wgs84_layer,
)
from ._packed import pack_lines
from .basemaps import Basemap, resolve_basemap
from .display import category_texts
from .html import InlineMap
from .labels import (
    ACCESS_LABELS,
    BACKGROUND_COLOUR,
    BOUNDARY_COLOUR,
    COVERED_COLOUR,
    MUTED_COLOUR,
    STREET_COLOUR,
    UNCOVERED_COLOUR,
    WATER_COLOUR,
    category_colour,
    credits_with_osm,
    map_title,
)
from .map_context import (
    MapContext,
    area_budget,
    display_geometries,
    map_context,
    polygon_layer,
    split_water,
)
from .map_inputs import MapLayers, result_layers
from .map_layers import (
    CompoundData,
    CompoundView,
    Facilities,
    FollowAreas,
    MapLibrary,
    MapUi,
    PackedAreas,
    PackedLines,
    layer_group,
    number_elements,
    safe_markup,
)

VIEWS = ("coverage", "gaps")
#: More compounds than this are drawn on a canvas (SVG slows down with tens of thousands).
CANVAS_ABOVE = 5000


def coverage_map(
    result: RunResult,
    *,
    view: str = "coverage",
    service_areas: gpd.GeoDataFrame | None = None,
    gap_layers: Mapping[str, gpd.GeoDataFrame] | None = None,
    tiles: bool | str | Basemap | None = None,
    context: MapContext | None = None,
) -> InlineMap:
    """The interactive map of a run: ``view="coverage"`` (the run's map) or ``"gaps"``.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    view : {"coverage", "gaps"}
        The coverage overview, or the gap map (see the module notes).
    service_areas : geopandas.GeoDataFrame, optional
        From :func:`lifecircle.analysis.gaps.result_service_areas`; the gap map computes them
        when not given, the coverage map draws them only when given.
    gap_layers : mapping, optional
        From :func:`lifecircle.analysis.gaps.gap_layers` (its ``gap_land_*`` layers are drawn);
        the gap map computes them when not given.
    tiles : bool, str or Basemap, optional
        None or False (default): no background tiles, the map works offline. True or
        ``"osm"``: OpenStreetMap tiles; ``"amap"``: AMap (GCJ-02: every layer is shifted to
        GCJ-02 to match, and the map says so); ``"tianditu"`` (needs
        ``$LIFECIRCLE_TIANDITU_KEY``); or a :class:`~lifecircle.outputs.basemaps.Basemap`.
    context : MapContext, optional
        Packed streets and water, to share between the maps of one run (built when missing).

    Returns
    -------
    InlineMap
        A folium map; displays inline in Jupyter without internet; save with ``.save(path)``.

    Examples
    --------
    >>> import lifecircle as lc
    >>> result = lc.run("huangpu")                         # doctest: +SKIP
    >>> lc.coverage_map(result, view="gaps")               # doctest: +SKIP
    """
    if view not in VIEWS:
        raise DataError(f"view must be one of {VIEWS}, not {view!r}")
    layers = result_layers(
        result, service_areas=service_areas, gap_layers=gap_layers, with_gaps=view == "gaps"
    )
    return layers_map(layers, view=view, tiles=tiles, context=context)


def layers_map(
    layers: MapLayers,
    *,
    view: str = "coverage",
    tiles: bool | str | Basemap | None = None,
    context: MapContext | None = None,
) -> InlineMap:
    """Build the map from its layers (see :func:`coverage_map`, which calls this for a run).

    Parameters
    ----------
    layers : MapLayers
        What to draw.
    view : {"coverage", "gaps"}
        Which view to open on.
    tiles : bool, str or Basemap, optional
        As for :func:`coverage_map`.
    context : MapContext, optional
        The layers' network and water, already packed (packed here when missing).

    Returns
    -------
    InlineMap

    Raises
    ------
    DataError
        When the compounds lack a column the map needs, or the study area is empty.
    CRSError
        When a layer has no coordinate system.
    """
    if view not in VIEWS:
        raise DataError(f"view must be one of {VIEWS}, not {view!r}")
    profile = layers.profile
    basemap = resolve_basemap(tiles)
    gcj02 = basemap is not None and basemap.gcj02
    compounds = shifted_layer(layers.compounds, "compounds", gcj02=gcj02)
    check_compound_columns(compounds, profile)
    facilities = shifted_layer(layers.facilities, "facilities", gcj02=gcj02)
    study_area = to_wgs84_layer(layers.study_area, "study_area")
    if study_area.empty:
        raise DataError("the study area is empty: nothing to fit the map to")
    if context is None or context.gcj02 != gcj02:
        context = map_context(layers.network, layers.water, gcj02=gcj02)
    fmap = _map_frame(study_area, profile, view, basemap)
    _add_context(fmap, context, layers.profile.projected_crs)
    _add_boundaries(fmap, layers, study_area, gcj02)
    follows = _add_follow_areas(fmap, layers, view, gcj02)
    base_layers = _add_compound_views(fmap, compounds, profile, view)
    counts = _add_facilities(fmap, facilities, profile)
    folium.LayerControl(collapsed=False, position="topright").add_to(fmap)
    items = map_panels.LegendItems(
        facilities=counts,
        service_areas="service" in follows,
        gap_land="land" in follows,
        areas_reduced="reduced" in follows,
        sub_districts=layers.sub_districts is not None and not layers.sub_districts.empty,
        offline=basemap is None,
        gcj02=gcj02,
    )
    config = _ui_config(layers, view, items, basemap, context)
    west, south, east, north = (float(v) for v in study_area.total_bounds)
    config["bounds"] = [[south, west], [north, east]]
    fmap.add_child(MapUi(config, base_layers))
    number_elements(fmap)
    return fmap


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


def _map_frame(
    study_area: gpd.GeoDataFrame, profile: Profile, view: str, basemap: Basemap | None
) -> InlineMap:
    """The empty map fitted to the study area, with panes, library and (optional) tiles."""
    west, south, east, north = (float(v) for v in study_area.total_bounds)
    fmap = InlineMap(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=13,
        tiles=None,
        control_scale=True,
        zoom_control=False,
    )
    zh, en = map_panels.VIEW_TITLES[view]
    fmap.page_title = f"{map_title(profile)} — {zh} / {en}"
    # Context lowest, then areas, compounds (overlay pane, 400), facilities on top.
    for name, z_index in (("lcContext", 250), ("lcAreas", 350), ("lcFacilities", 450)):
        folium.map.CustomPane(name, z_index=z_index, pointer_events=name != "lcContext").add_to(
            fmap
        )
    fmap.add_child(MapLibrary({"background": BACKGROUND_COLOUR, "covered": COVERED_COLOUR,
                               "uncovered": UNCOVERED_COLOUR}))
    if basemap is not None:
        _add_tiles(fmap, basemap)
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def _add_tiles(fmap: folium.Map, basemap: Basemap) -> None:
    # Tiles are overlays outside the layer control, so that the compound views alone are the
    # control's exclusive (radio) choices.
    for url in filter(None, (basemap.url, basemap.labels_url)):
        folium.TileLayer(
            tiles=url,
            attr=safe_markup(basemap.attribution),
            name=safe_markup(basemap.name),
            subdomains=basemap.subdomains or "abc",
            max_zoom=basemap.max_zoom,
            overlay=True,
            control=False,
        ).add_to(fmap)


def _add_context(fmap: folium.Map, context: MapContext, crs: str) -> None:
    """Streets and water as light layers under everything (toggleable)."""
    gcj02 = context.gcj02
    if context.streets is not None:
        group = layer_group("道路 / Streets (walking network)")
        group.add_child(PackedLines(context.streets.packed, {
            "color": STREET_COLOUR, "weight": 1, "opacity": 0.9, "pane": "lcContext"}))
        group.add_to(fmap)
    if context.water is not None:
        areas, lines = split_water(to_wgs84_layer(context.water, "water"))
        group = layer_group("水系 / Water")
        if not areas.empty:
            packed = polygon_layer(areas, crs, budget=area_budget("water"), gcj02=gcj02)
            group.add_child(PackedAreas(packed.packed, [], {
                "stroke": False, "fillColor": WATER_COLOUR, "fillOpacity": 0.8,
                "interactive": False, "pane": "lcContext"}, {}))
        if not lines.empty:
            packed_lines = pack_lines(display_geometries(lines, crs, 2.0, gcj02=gcj02))
            group.add_child(PackedLines(packed_lines, {
                "color": WATER_COLOUR, "weight": 2.5, "opacity": 0.9, "pane": "lcContext"}))
        group.add_to(fmap)


def _add_boundaries(
    fmap: folium.Map, layers: MapLayers, study_area: gpd.GeoDataFrame, gcj02: bool
) -> None:
    """The study area outline (always; what lies outside it faded) and labelled sub-districts
    with their coverage."""
    crs = layers.profile.projected_crs
    budget = area_budget("study_area", 2)
    outline = polygon_layer(study_area.geometry, crs, budget=budget, gcj02=gcj02)
    area = shapely.union_all(study_area.to_crs(crs).geometry.to_numpy())
    outside = area.buffer(10_000).envelope.difference(area)
    fade = polygon_layer(gpd.GeoSeries([outside], crs=crs), crs, budget=budget, gcj02=gcj02)
    group = folium.FeatureGroup(name="study_area", control=False)
    group.add_child(PackedAreas(fade.packed, [], {
        "stroke": False, "fillColor": "#ffffff", "fillOpacity": 0.45, "interactive": False,
        "pane": "lcContext"}, {}))
    group.add_child(PackedAreas(outline.packed, [], {
        "color": BOUNDARY_COLOUR, "weight": 2.5, "fill": False, "dashArray": "6 4",
        "interactive": False, "pane": "lcAreas"}, {}))
    group.add_to(fmap)
    subs = layers.sub_districts
    if subs is None or subs.empty:
        return
    subs = to_wgs84_layer(subs, "sub_districts")
    packed = polygon_layer(subs.geometry, crs, budget=area_budget("sub_districts"),
                           gcj02=gcj02)
    rows = map_data.sub_district_rows(layers.coverage, layers.profile)
    names = subs["name"] if "name" in subs.columns else pd.Series([""] * len(subs))
    props = []
    for name in names:
        text = "" if pd.isna(name) else str(name)
        props.append({"tip": text, **({"popup": rows[text]} if text in rows else {})})
    group = layer_group("街道/镇 / Sub-districts")
    group.add_child(PackedAreas(packed.packed, props, {
        "color": "#555555", "weight": 1.2, "fill": True, "fillOpacity": 0, "pane": "lcAreas"},
        {"labels": True, "headers": ["类别 / Category", "居民 / residents",
                                     "小区 / compounds"]}))
    group.add_to(fmap)


def _add_follow_areas(fmap: folium.Map, layers: MapLayers, view: str, gcj02: bool) -> set[str]:
    """Service area and uncovered land of the chosen compound view (one checkbox each).

    Returns which were drawn (``"service"``, ``"land"``) and ``"reduced"`` when small holes
    had to be left out to keep the file small.
    """
    profile, crs = layers.profile, layers.profile.projected_crs
    keys = [*profile.categories, None]  # None: the complete life circle
    colours = [category_colour(i) for i in range(len(profile.categories))] + ["#2b6cb0"]
    budget = area_budget("follow", 2 * len(keys))
    drawn: set[str] = set()

    def part(geometries: gpd.GeoSeries | None, style: dict) -> dict | None:
        if geometries is None or geometries.empty or geometries.is_empty.all():
            return None
        packed = polygon_layer(geometries, crs, budget=budget, gcj02=gcj02)
        if packed.reduced:
            drawn.add("reduced")
        return {"packed": packed.packed, "style": {**style, "interactive": False,
                                                   "pane": "lcAreas"}}

    if layers.service_areas is not None and not layers.service_areas.empty:
        parts = []
        for key, colour in zip(keys, colours, strict=True):
            area = service_area_geometry(layers.service_areas, profile, key, crs)
            parts.append(part(None if area is None else gpd.GeoSeries([area], crs=crs), {
                "color": colour, "weight": 1, "fillColor": colour, "fillOpacity": 0.16}))
        _follow_group(fmap, map_panels.SERVICE_AREA_NOTE, parts, view)
        drawn.add("service")
    if layers.gap_land:
        parts = []
        for key in keys:
            land = layers.gap_land.get(schema.COMPLETE if key is None else key)
            parts.append(part(None if land is None else to_wgs84_layer(land, "gap land").geometry, {
                "color": map_panels.GAP_LAND_COLOUR, "weight": 1, "dashArray": "3 3",
                "fillColor": map_panels.GAP_LAND_COLOUR, "fillOpacity": 0.35}))
        _follow_group(fmap, map_panels.GAP_LAND_NOTE, parts, view)
        drawn.add("land")
    return drawn


def _follow_group(
    fmap: folium.Map, label: tuple[str, str], parts: list[dict | None], view: str
) -> None:
    group = layer_group(" / ".join(label), show=view == "gaps")
    group.add_child(FollowAreas(parts))
    group.add_to(fmap)


def _add_compound_views(
    fmap: folium.Map, compounds: gpd.GeoDataFrame, profile: Profile, view: str
) -> list[folium.FeatureGroup]:
    """One exclusive (radio) layer per category and the complete life circle, shown first."""
    views = map_data.view_meta(profile)
    meta = {
        "views": views,
        "labels": map_data.popup_labels(),
        "mode": "graded" if view == "gaps" else "status",
        "gaps": view == "gaps",
        "muted": MUTED_COLOUR,
        "canvas": len(compounds) > CANVAS_ABOVE,
    }
    fmap.add_child(CompoundData(map_data.compound_data(compounds, profile), meta))
    complete = len(views) - 1
    groups = []
    for index, view_meta in enumerate(views):
        group = layer_group(view_meta["label"], overlay=False, show=index == complete)
        group.add_child(CompoundView(index))
        groups.append(group)
    for group in [groups[complete], *groups[:complete]]:  # complete life circle listed first
        group.add_to(fmap)
    return groups


def _add_facilities(
    fmap: folium.Map, facilities: gpd.GeoDataFrame, profile: Profile
) -> dict[str, int]:
    """One overlay per category; returns the number of facilities of each."""
    missing = [c for c in ("category", "name") if c not in facilities.columns]
    if missing:
        raise DataError(
            f"the facilities layer lacks the column(s) {missing} that the coverage map needs"
        )
    unknown = sorted(set(facilities["category"]) - set(profile.categories))
    if unknown:
        warnings.warn(
            f"facilities of categories {unknown} are not in profile {profile.name!r} and are "
            "left off the map",
            LifecircleWarning,
            stacklevel=3,
        )
    labels = {"category": "类别 / Category", "snap": "距路网 / To network",
              "access": "路网 / Network", "access_codes": dict(ACCESS_LABELS)}
    counts = {}
    for index, (key, category) in enumerate(profile.categories.items()):
        rows = facilities[facilities["category"] == key]
        counts[key] = len(rows)
        label = f"{category.label.zh} / {category.label.en}"
        group = layer_group(f"{label} — 设施 / facilities ({len(rows):,})")
        if not rows.empty:
            props = [
                {
                    "n": "" if pd.isna(r.name) else str(r.name),
                    "m": clean_value(getattr(r, "snap_m", None), 0),
                    "a": str(getattr(r, "access_status", schema.STATUS_OK)),
                    "ok": str(getattr(r, "access_status", schema.STATUS_OK)) == schema.STATUS_OK,
                }
                for r in rows.itertuples(index=False)
            ]
            data = feature_collection(round_coordinates(rows.geometry), props)
            group.add_child(Facilities(data, {"colour": category_colour(index),
                                              "category": label, "labels": labels}))
        group.add_to(fmap)
    return counts


def _ui_config(
    layers: MapLayers,
    view: str,
    items: map_panels.LegendItems,
    basemap: Basemap | None,
    context: MapContext,
) -> dict:
    profile = layers.profile
    credits = credits_with_osm(layers.credits)
    rows = map_data.coverage_rows(layers.coverage, profile) if layers.coverage is not None else []
    # View index of each label: the categories in profile order, then the complete life circle.
    labels = {text: i for i, text in enumerate(category_texts(profile).values())}
    osm_credits = [c for c in credits if "openstreetmap" in c.lower()]
    attribution = " | ".join(escape(c) for c in osm_credits)
    if len(osm_credits) < len(credits):
        attribution += " | 其他数据来源见图例 / other data sources in the legend"
    return {
        "view": len(profile.categories),  # the complete life circle, the last view
        "head": map_panels.head_html(profile, view, rows, labels),
        "legend": map_panels.legend_html(profile, items, context, credits),
        "modes": map_panels.modes_html("graded" if view == "gaps" else "status"),
        "mutedNote": map_panels.MUTED_NOTE,
        "attribution": attribution,
        "offline": basemap is None,
    }
