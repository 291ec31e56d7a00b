"""Coverage maps: interactive Folium (Leaflet) HTML maps and static PNG maps for documents.

Interactive maps show, per facility category, which residential compounds (小区) are covered
(green), not covered (red) or not on the walking network (grey), plus the complete life circle
(完整生活圈), the facilities, optional walking service areas and sub-district boundaries.

Compounds are embedded **once** as a GeoJSON object that every category layer re-uses (one layer
per category, drawn from a status string per compound), so an HTML map of 2,000 compounds and four
categories stays around 1 MB; the popup of a compound lists every category.

``save_map(..., self_contained=True)`` writes an HTML file that works with no internet: Leaflet
1.9.4 is inlined from ``lifecircle/_static`` and no background tiles are used. Folium gives its
elements random ids; :func:`coverage_map` renumbers them so that the same inputs give the same
HTML, byte for byte.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import math
import re
import shutil
import subprocess
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from folium.template import Template
from folium.utilities import JsCode

from . import io, settings
from .errors import CRSError, DataError, LifecircleError, LifecircleWarning
from .profile import Profile

#: Fill colour of compounds within the threshold of a category.
COVERED_COLOUR = "#1a9850"
#: Fill colour of compounds on the network but beyond the threshold.
UNCOVERED_COLOUR = "#d73027"
#: Fill colour of compounds that could not be placed on the walking network.
OFF_NETWORK_COLOUR = "#9e9e9e"
#: Facility marker colours, one per category in profile order (repeats after ten); none of them
#: is green, red or grey, which mean coverage states.
FACILITY_COLOURS = (
    "#1f78b4",
    "#ff7f00",
    "#6a3d9a",
    "#b15928",
    "#e7298a",
    "#17becf",
    "#bcbd22",
    "#08306b",
    "#fdbf6f",
    "#000000",
)
_BOUNDARY_COLOUR = "#222222"
_BACKGROUND_COLOUR = "#f2f1ec"

_SAMPLE_LABEL = "示例数据 / SAMPLE DATA"
_ACCESS_LABELS = {
    "ok": "已接入路网 / on the walking network",
    "island": "孤立路网 / on an isolated piece of network",
    "beyond_snap_limit": "距路网过远 / too far from the network",
}
_STATUS_LABELS = {
    "1": ("已覆盖", "covered"),
    "0": ("未覆盖", "not covered"),
    "x": ("未接入路网", "not on the walking network"),
}
_STATUS_COLOURS = {"1": COVERED_COLOUR, "0": UNCOVERED_COLOUR, "x": OFF_NETWORK_COLOUR}
_COORD_DECIMALS = 6  # about 0.1 m: finer than any input and keeps the HTML small
_SIMPLIFY_M = 1.0  # service areas and boundaries: invisible at street zoom, much smaller HTML
_CDN_HINT = "save it with self_contained=False, or remove the plugin"


# --------------------------------------------------------------------------------------------
# Input checks and preparation
# --------------------------------------------------------------------------------------------


def _to_wgs84(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise DataError(f"{what} must be a GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None:
        raise CRSError(
            f"{what} has no coordinate system: set it (e.g. gdf.set_crs('EPSG:4326')) "
            "before drawing a map"
        )
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    return gdf.to_crs(settings.exchange_crs)


def _check_compound_columns(compounds: pd.DataFrame, profile: Profile) -> None:
    needed = ["compound_id", "name", "population", "access_status", "complete"]
    for key in profile.categories:
        needed += [f"{key}_{s}" for s in ("dist_m", "min", "count", "covered", "nearest")]
    missing = [c for c in needed if c not in compounds.columns]
    if missing:
        raise DataError(
            f"the compounds layer lacks the column(s) {missing} that the coverage map needs; "
            "draw the map from the output of lifecircle.pipeline.run (it adds them)"
        )


def _credits_with_osm(credits: Iterable[str]) -> list[str]:
    # The walking network always comes from OpenStreetMap, whose licence requires the credit.
    out = list(dict.fromkeys(str(c) for c in credits if str(c).strip()))
    if not any("openstreetmap" in c.lower() for c in out):
        out.insert(0, settings.osm_attribution)
    return out


def _round_coordinates(geometry: gpd.GeoSeries) -> gpd.GeoSeries:
    rounded = shapely.transform(geometry.values, lambda xy: np.round(xy, _COORD_DECIMALS))
    return gpd.GeoSeries(rounded, index=geometry.index, crs=geometry.crs)


def _simplified(gdf: gpd.GeoDataFrame, profile: Profile) -> gpd.GeoSeries:
    projected = gdf.geometry.to_crs(profile.projected_crs)
    simple = projected.simplify(_SIMPLIFY_M, preserve_topology=True)
    return _round_coordinates(simple.to_crs(settings.exchange_crs))


def _clean(value: Any, digits: int | None = None) -> Any:
    """A JSON-safe scalar: NaN/None -> None, numpy scalars -> Python, floats rounded."""
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        if digits == 0:
            return round(float(value))
        return round(float(value), digits) if digits is not None else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if pd.isna(value):
        return None
    return value


def _is_true(value: Any) -> bool:
    """True for a set flag; False for False, None and missing values (NaN, pd.NA)."""
    return value is not None and not bool(pd.isna(value)) and bool(value)


def _marker_radius(population: float) -> float:
    """Circle radius in pixels, growing with the square root of population, within 3-10 px."""
    if population is None or not math.isfinite(population) or population <= 0:
        return 4.0
    return round(min(10.0, max(3.0, 3.0 + math.sqrt(population) / 10.0)), 1)


def _feature_collection(geometries: gpd.GeoSeries, properties: Sequence[dict]) -> dict:
    features = [
        {"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": props}
        for geom, props in zip(geometries, properties, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def _compound_properties(compounds: pd.DataFrame, profile: Profile) -> list[dict]:
    """Compact per-compound attributes read by the map's JavaScript.

    ``s`` holds one status character per category (profile order) and a last one for the
    complete life circle: ``"1"`` covered, ``"0"`` not covered, ``"x"`` not on the network.
    ``c`` holds per category ``[distance m, minutes, count within threshold, nearest name]``.
    """
    keys = list(profile.categories)
    pph = profile.compounds.persons_per_household
    has_sub_district = "sub_district" in compounds.columns
    columns = [c for c in compounds.columns if c != compounds.geometry.name]
    records = []
    for row_dict in pd.DataFrame(compounds[columns]).to_dict("records"):
        on_network = row_dict["access_status"] == "ok"
        status = "".join(
            "x" if not on_network else ("1" if _is_true(row_dict[f"{k}_covered"]) else "0")
            for k in keys
        )
        status += "x" if not on_network else ("1" if _is_true(row_dict["complete"]) else "0")
        households = _clean(row_dict.get("households"), 0)
        population = _clean(row_dict["population"], 0)
        if population is None and households is not None:
            population = round(households * pph)
        record = {
            "i": _clean(row_dict["compound_id"]),
            "n": "" if pd.isna(row_dict["name"]) else str(row_dict["name"]),
            "h": households,
            "p": population,
            "a": str(row_dict["access_status"]),
            "m": _clean(row_dict.get("snap_m"), 0),
            "s": status,
            "r": _marker_radius(population if population is not None else float("nan")),
            "c": [
                [
                    _clean(row_dict[f"{k}_dist_m"], 0),
                    _clean(row_dict[f"{k}_min"], 1),
                    _clean(row_dict[f"{k}_count"], 0),
                    _clean(row_dict[f"{k}_nearest"]),
                ]
                for k in keys
            ],
        }
        if has_sub_district and not pd.isna(row_dict["sub_district"]):
            record["d"] = str(row_dict["sub_district"])
        records.append(record)
    return records


def _minutes_text(threshold_m: float, profile: Profile) -> str:
    minutes = threshold_m / profile.walking_speed_m_per_min
    return f"{minutes:.0f}" if abs(minutes - round(minutes)) < 0.05 else f"{minutes:.1f}"


def _category_colour(index: int) -> str:
    return FACILITY_COLOURS[index % len(FACILITY_COLOURS)]


def _map_title(profile: Profile) -> str:
    title = f"{profile.title.zh} / {profile.title.en}"
    return f"【{_SAMPLE_LABEL}】 {title}" if profile.sample else title


def _to_js(value: Any) -> str:
    """JSON for embedding in a <script>: non-ASCII kept (smaller), markup characters escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


# --------------------------------------------------------------------------------------------
# Custom map elements
# --------------------------------------------------------------------------------------------


class _CompoundData(MacroElement):
    """All compounds as one GeoJSON object plus the functions that draw and describe them."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function (data, meta) {
            var colours = meta.colours;
            function esc(v) {
                return String(v).replace(/[&<>"']/g, function (ch) {
                    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch];
                });
            }
            function num(v, digits) {
                if (v === null || v === undefined) { return "—"; }
                return Number(v).toLocaleString("zh-CN", {maximumFractionDigits: digits});
            }
            function style(f, j) {
                var colour = colours[f.properties.s.charAt(j)];
                if (f.geometry.type === "Point") {
                    return {color: "#ffffff", weight: 0.8, opacity: 1, fillColor: colour, fillOpacity: 0.85};
                }
                return {color: colour, weight: 1, opacity: 0.9, fillColor: colour, fillOpacity: 0.55};
            }
            function popup(p, j) {
                var L_ = meta.labels;
                var h = '<div class="lc-popup"><div class="lc-popup-name">' + esc(p.n) + '</div>';
                h += '<table class="lc-popup-facts">';
                h += '<tr><th>' + L_.id + '</th><td>' + esc(p.i) + '</td></tr>';
                if (p.d) { h += '<tr><th>' + L_.sub_district + '</th><td>' + esc(p.d) + '</td></tr>'; }
                h += '<tr><th>' + L_.households + '</th><td>' + num(p.h, 0) + '</td></tr>';
                h += '<tr><th>' + L_.population + '</th><td>' + num(p.p, 0) + '</td></tr>';
                h += '<tr><th>' + L_.access + '</th><td>' + esc(meta.access[p.a] || p.a) +
                     ' (' + num(p.m, 0) + ' m)</td></tr>';
                h += '</table><table class="lc-popup-cats"><tr>';
                for (var k = 0; k < L_.columns.length; k++) { h += '<th>' + L_.columns[k] + '</th>'; }
                h += '</tr>';
                for (var i = 0; i < meta.categories.length; i++) {
                    var c = p.c[i], s = p.s.charAt(i);
                    h += '<tr class="lc-s' + s + (i === j ? ' lc-current' : '') + '">' +
                         '<td>' + meta.categories[i] + '</td>' +
                         '<td>' + meta.status[s] + '</td>' +
                         '<td>' + num(c[0], 0) + '</td><td>' + num(c[1], 1) + '</td>' +
                         '<td>' + num(c[2], 0) + '</td>' +
                         '<td>' + (c[3] === null ? '—' : esc(c[3])) + '</td></tr>';
                }
                var s = p.s.charAt(meta.categories.length);
                h += '<tr class="lc-s' + s + (j === meta.categories.length ? ' lc-current' : '') +
                     '"><td>' + L_.complete + '</td><td colspan="5">' + meta.status[s] + '</td></tr>';
                return h + '</table></div>';
            }
            return {
                data: data,
                layer: function (j) {
                    return L.geoJson(data, {
                        pointToLayer: function (f, latlng) {
                            return L.circleMarker(latlng, {radius: f.properties.r});
                        },
                        style: function (f) { return style(f, j); },
                        onEachFeature: function (f, layer) {
                            layer.bindTooltip(esc(f.properties.n), {sticky: true});
                            // Pan popups clear of the expanded layer control (top right).
                            layer.bindPopup(function () { return popup(f.properties, j); },
                                            {maxWidth: 560, autoPanPaddingTopLeft: [50, 300]});
                        }
                    });
                }
            };
        })({{ this.data_js }}, {{ this.meta_js }});
        {% endmacro %}
        """
    )

    def __init__(self, data: dict, meta: dict) -> None:
        super().__init__()
        self._name = "LcCompounds"
        self.data_js = _to_js(data)
        self.meta_js = _to_js(meta)


class _CompoundLayer(MacroElement):
    """The compounds coloured by their status in one category (index ``j``); child of a group."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = {{ this.source.get_name() }}.layer({{ this.index }})
            .addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, source: _CompoundData, index: int) -> None:
        super().__init__()
        self._name = "LcCompoundLayer"
        self.source = source
        self.index = index


class _MapLegend(MacroElement):
    """Fixed title bar and bilingual legend (with the credits)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .leaflet-container { background: {{ this.background }}; }
        .leaflet-control-layers-expanded { max-width: 330px; max-height: 60vh; overflow-y: auto;
            font: 12px/1.35 "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; }
        .leaflet-control-layers label { margin: 2px 0; }
        .lc-title { position: fixed; top: 10px; left: 56px; z-index: 1000;
            max-width: calc(100% - 460px); background: rgba(255,255,255,0.92); padding: 6px 12px;
            border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.3);
            font: 600 15px/1.35 "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif;
            text-align: left; }
        .lc-sample { color: #b00020; font-weight: 700; }
        .lc-legend { position: fixed; bottom: 58px; left: 10px; z-index: 1000; max-width: 340px;
            max-height: calc(100% - 140px); overflow-y: auto; background: rgba(255,255,255,0.94);
            padding: 8px 10px; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.3);
            font: 12px/1.4 "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; }
        .lc-legend summary { font-weight: 700; font-size: 13px; cursor: pointer; }
        .lc-legend h4 { margin: 6px 0 4px; font-size: 13px; }
        .lc-legend .lc-row { margin: 2px 0; }
        .lc-swatch { display: inline-block; width: 12px; height: 12px; border-radius: 50%;
            margin-right: 6px; vertical-align: -2px; border: 1px solid #555; }
        .lc-note, .lc-credits, .lc-offline { color: #444; margin-top: 4px; font-size: 11px; }
        .lc-popup { font: 12px/1.35 "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
        .lc-popup-name { font-weight: 700; font-size: 14px; margin-bottom: 4px; }
        .lc-popup table { border-collapse: collapse; margin-bottom: 4px; }
        .lc-popup th, .lc-popup td { padding: 1px 5px; text-align: left; vertical-align: top; }
        .lc-popup-cats tr { border-top: 1px solid #ddd; }
        .lc-popup-cats .lc-s1 td:nth-child(2) { color: {{ this.covered }}; font-weight: 600; }
        .lc-popup-cats .lc-s0 td:nth-child(2) { color: {{ this.uncovered }}; font-weight: 600; }
        .lc-popup-cats .lc-current { background: #f3f3f3; }
        .lc-label { background: transparent; border: 0; box-shadow: none; color: #333;
            font-weight: 600; text-shadow: 0 0 3px #fff, 0 0 3px #fff; }
        .lc-label::before { display: none; }
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div class="lc-title">{{ this.title_html }}</div>
        <details class="lc-legend" open><summary>图例 / Legend</summary>{{ this.body_html }}
        {%- if this.offline %}
        <div class="lc-offline">背景底图已省略（离线文件） / Background map omitted (offline file)</div>
        {%- endif %}
        </details>
        {% endmacro %}
        """
    )

    def __init__(self, title_html: str, body_html: str, *, offline: bool) -> None:
        super().__init__()
        self._name = "LcLegend"
        self.title_html = title_html
        self.body_html = body_html
        self.offline = offline
        self.background = _BACKGROUND_COLOUR
        self.covered = COVERED_COLOUR
        self.uncovered = UNCOVERED_COLOUR


class _RawHTML(Element):
    """Markup inserted verbatim (no Jinja: inlined libraries may contain template syntax)."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self._markup = markup

    def render(self, **kwargs: Any) -> str:
        return self._markup


def _legend_html(profile: Profile, credits: Sequence[str], service_areas: bool) -> tuple[str, str]:
    esc = html.escape
    title = esc(f"{profile.title.zh} / {profile.title.en}")
    if profile.sample:
        title = f'<span class="lc-sample">{esc(_SAMPLE_LABEL)}</span><br>{title}'
    rows = []
    if profile.sample:
        rows.append(f'<div class="lc-row lc-sample">{esc(_SAMPLE_LABEL)}</div>')
    for code in ("1", "0", "x"):
        zh, en = _STATUS_LABELS[code]
        rows.append(
            f'<div class="lc-row"><span class="lc-swatch" style="background:'
            f'{_STATUS_COLOURS[code]}"></span>小区{esc(zh)} / compound {esc(en)}</div>'
        )
    rows.append(
        '<div class="lc-note">圆点大小表示人口 / circle size shows population; '
        "点击小区查看各类设施距离 / click a compound for distances</div>"
    )
    speed = f"{profile.walking_speed_kmh:g} km/h"
    rows.append(
        f"<h4>步行阈值 / Walking thresholds "
        f"<span style='font-weight:400'>({esc(speed)})</span></h4>"
    )
    for index, (key, category) in enumerate(profile.categories.items()):
        optional = "" if category.required else " <i>(可选 / optional)</i>"
        rows.append(
            f'<div class="lc-row" title="{esc(category.threshold_source)}" data-category="{key}">'
            f'<span class="lc-swatch" style="background:{_category_colour(index)};'
            f'border-radius:2px"></span>{esc(category.label.zh)} / {esc(category.label.en)}: '
            f"{category.threshold_m:g} m ≈ {_minutes_text(category.threshold_m, profile)} min"
            f"{optional}</div>"
        )
    rows.append(
        '<div class="lc-note">设施为黑边小圆点，颜色见上；白色 = 未接入路网 / facilities are '
        "small dots in the colours above, white = not on the network. "
        "完整生活圈 = 全部必需类别均覆盖 / complete life circle = every required category covered"
        "</div>"
    )
    if service_areas:
        rows.append(
            '<div class="lc-note">半透明区域为步行服务范围 / shaded areas are walking service '
            "areas (toggle in the layer list)</div>"
        )
    rows.append(
        '<div class="lc-credits">数据来源 / Data: ' + " · ".join(esc(c) for c in credits) + "</div>"
    )
    return title, "\n".join(rows)


# --------------------------------------------------------------------------------------------
# Interactive map
# --------------------------------------------------------------------------------------------


def coverage_map(
    compounds: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    study_area: gpd.GeoDataFrame,
    profile: Profile,
    *,
    sub_districts: gpd.GeoDataFrame | None = None,
    service_areas: gpd.GeoDataFrame | None = None,
    credits: Sequence[str] = (settings.osm_attribution,),
    tiles: bool = True,
) -> folium.Map:
    """Build an interactive coverage map: one toggleable layer per category.

    Parameters
    ----------
    compounds : geopandas.GeoDataFrame
        Compounds (points or polygons) with ``compound_id``, ``name``, ``households``,
        ``population``, ``snap_m``, ``access_status``, optional ``sub_district`` and, per
        category key ``c``, ``c_dist_m``, ``c_min``, ``c_count``, ``c_covered``, ``c_nearest``,
        and ``complete``.
    facilities : geopandas.GeoDataFrame
        Points with ``category``, ``name``, ``snap_m``, ``access_status``.
    study_area : geopandas.GeoDataFrame
        The study-area polygon(s); the map opens fitted to them.
    profile : Profile
        Gives the categories (labels, thresholds), the walking speed and the title; a sample
        profile puts "示例数据 / SAMPLE DATA" in the title.
    sub_districts : geopandas.GeoDataFrame, optional
        Sub-district polygons with a ``name`` column, drawn as labelled outlines.
    service_areas : geopandas.GeoDataFrame, optional
        Walking service areas with ``category``, ``threshold_m``, ``area_km2``; one layer per
        category (hidden at first).
    credits : sequence of str
        Data-source credits for the legend and the attribution line. The OpenStreetMap credit
        is added when missing: the walking network always comes from OpenStreetMap.
    tiles : bool
        Draw OpenStreetMap background tiles (needs internet when viewed). Without tiles the
        background is plain and the legend says so.

    Returns
    -------
    folium.Map
        Save it with :func:`save_map`; in Jupyter it displays itself.

    Raises
    ------
    DataError
        When the compounds lack a column the map needs.
    CRSError
        When a layer has no coordinate system.
    """
    compounds = _to_wgs84(compounds, "compounds")
    facilities = _to_wgs84(facilities, "facilities")
    study_area = _to_wgs84(study_area, "study_area")
    _check_compound_columns(compounds, profile)
    if study_area.empty:
        raise DataError("the study area is empty: nothing to fit the map to")
    credits = _credits_with_osm(credits)

    west, south, east, north = (float(v) for v in study_area.total_bounds)
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=13,
        tiles="OpenStreetMap" if tiles else None,
        control_scale=True,
    )
    fmap.get_root().title = _map_title(profile)
    # Areas sit below compounds and facilities above them, whatever order layers are toggled in.
    folium.map.CustomPane("lcAreas", z_index=350, pointer_events=False).add_to(fmap)
    folium.map.CustomPane("lcFacilities", z_index=450, pointer_events=True).add_to(fmap)

    # The attribution line keeps to the OpenStreetMap credit; the legend lists every source.
    osm_credits = [c for c in credits if "openstreetmap" in c.lower()]
    attribution = " | ".join(html.escape(c) for c in osm_credits)
    if len(osm_credits) < len(credits):
        attribution += " | 其他数据来源见图例 / other data sources in the legend"
    boundary_props = [
        {"name": _clean(v)}
        for v in (study_area["name"] if "name" in study_area.columns else [None] * len(study_area))
    ]
    folium.GeoJson(
        _feature_collection(_simplified(study_area, profile), boundary_props),
        name="研究范围 / Study area",
        style_function=lambda _f: {
            "color": _BOUNDARY_COLOUR,
            "weight": 2.5,
            "fill": False,
            "dashArray": "6 4",
        },
        control=False,
        interactive=False,
        pane="lcAreas",
        attribution=attribution,
    ).add_to(fmap)

    meta = {
        "categories": [
            html.escape(f"{c.label.zh} / {c.label.en} ({c.threshold_m:g} m)")
            for c in profile.categories.values()
        ],
        "colours": _STATUS_COLOURS,
        "status": {code: html.escape(f"{zh} / {en}") for code, (zh, en) in _STATUS_LABELS.items()},
        "access": {k: html.escape(v) for k, v in _ACCESS_LABELS.items()},
        "labels": {
            "id": "编号 / ID",
            "sub_district": "街道 / Sub-district",
            "households": "户数 / Households",
            "population": "人口 / Population",
            "access": "路网 / Network",
            "complete": "完整生活圈 / Complete life circle",
            "columns": [
                "类别 / Category",
                "状态 / Status",
                "距离 / Distance (m)",
                "步行 / Walk (min)",
                "阈值内数量 / Count within threshold",
                "最近设施 / Nearest facility",
            ],
        },
    }
    data = _feature_collection(
        _round_coordinates(compounds.geometry), _compound_properties(compounds, profile)
    )
    source = _CompoundData(data, meta)
    fmap.add_child(source)
    # Layers are listed in the layer control in the order they are added; panes, not this
    # order, keep areas below compounds and facilities above them.
    complete = folium.FeatureGroup(name="完整生活圈 / Complete life circle", show=True)
    complete.add_child(_CompoundLayer(source, len(profile.categories)))
    complete.add_to(fmap)
    # Category layers address their status by position in the compounds' status string.
    for position, category in enumerate(profile.categories.values()):
        group = folium.FeatureGroup(
            name=(
                f"{category.label.zh} / {category.label.en} — 小区覆盖 / compounds "
                f"({category.threshold_m:g} m)"
            ),
            show=False,
        )
        group.add_child(_CompoundLayer(source, position))
        group.add_to(fmap)
    _add_facilities(fmap, facilities, profile)
    if service_areas is not None and not service_areas.empty:
        _add_service_areas(fmap, _to_wgs84(service_areas, "service_areas"), profile)
    if sub_districts is not None and not sub_districts.empty:
        _add_sub_districts(fmap, _to_wgs84(sub_districts, "sub_districts"), profile)
    _MapLegend(
        *_legend_html(profile, credits, service_areas is not None), offline=not tiles
    ).add_to(fmap)
    folium.LayerControl(collapsed=False, position="topright").add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])
    _renumber(fmap)
    return fmap


def _add_sub_districts(fmap: folium.Map, sub_districts: gpd.GeoDataFrame, profile: Profile) -> None:
    names = sub_districts["name"] if "name" in sub_districts.columns else [""] * len(sub_districts)
    props = [{"label": html.escape(str(n)) if not pd.isna(n) else ""} for n in names]
    folium.GeoJson(
        _feature_collection(_simplified(sub_districts, profile), props),
        name="街道 / Sub-districts",
        style_function=lambda _f: {"color": "#555555", "weight": 1.2, "fill": False},
        interactive=False,
        pane="lcAreas",
        # One permanent label per polygon (a GeoJsonTooltip would give one for the whole layer).
        on_each_feature=JsCode(
            "function (f, layer) { if (f.properties.label) { layer.bindTooltip("
            "f.properties.label, {permanent: true, direction: 'center', className: 'lc-label'}"
            "); } }"
        ),
    ).add_to(fmap)


def _add_service_areas(fmap: folium.Map, areas: gpd.GeoDataFrame, profile: Profile) -> None:
    missing = [c for c in ("category", "threshold_m") if c not in areas.columns]
    if missing:
        raise DataError(f"service_areas lacks the column(s) {missing}")
    geometry = _simplified(areas, profile)
    for index, (key, category) in enumerate(profile.categories.items()):
        mask = (areas["category"] == key).to_numpy()
        if not mask.any():
            continue
        rows = areas[mask]
        area = rows["area_km2"].sum() if "area_km2" in rows.columns else float("nan")
        thresholds = "/".join(f"{t:g}" for t in sorted(rows["threshold_m"].unique()))
        area_text = f", {area:.2f} km²" if math.isfinite(area) else ""
        colour = _category_colour(index)
        folium.GeoJson(
            _feature_collection(geometry[mask], [{} for _ in range(int(mask.sum()))]),
            name=(
                f"{category.label.zh} / {category.label.en} — 步行服务范围 / walking service "
                f"area ({thresholds} m{area_text})"
            ),
            style_function=lambda _f, colour=colour: {
                "color": colour,
                "weight": 1,
                "fillColor": colour,
                "fillOpacity": 0.18,
            },
            show=False,
            interactive=False,
            pane="lcAreas",
        ).add_to(fmap)


def _add_facilities(fmap: folium.Map, facilities: gpd.GeoDataFrame, profile: Profile) -> None:
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
    for index, (key, category) in enumerate(profile.categories.items()):
        rows = facilities[facilities["category"] == key]
        name = f"{category.label.zh} / {category.label.en} — 设施 / facilities ({len(rows)})"
        if rows.empty:
            folium.FeatureGroup(name=name, show=True).add_to(fmap)
            continue
        label = f"{category.label.zh} / {category.label.en}"
        props = [
            {
                "name": "" if pd.isna(r.name) else str(r.name),
                "category": label,
                "snap_m": _clean(getattr(r, "snap_m", None), 0),
                "access": _ACCESS_LABELS.get(str(getattr(r, "access_status", "")), "—"),
                "ok": str(getattr(r, "access_status", "ok")) == "ok",
            }
            for r in rows.itertuples(index=False)
        ]
        colour = _category_colour(index)
        folium.GeoJson(
            _feature_collection(_round_coordinates(rows.geometry), props),
            name=name,
            marker=folium.CircleMarker(radius=4.5, pane="lcFacilities"),
            style_function=lambda f, colour=colour: {
                "color": "#222222",
                "weight": 1,
                "fill": True,
                "fillColor": colour if f["properties"]["ok"] else "#ffffff",
                "fillOpacity": 1.0,
            },
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
            popup=folium.GeoJsonPopup(
                fields=["name", "category", "snap_m", "access"],
                aliases=[
                    "名称 / Name",
                    "类别 / Category",
                    "距路网 / To network (m)",
                    "路网 / Network",
                ],
            ),
            show=True,
        ).add_to(fmap)


def _renumber(fmap: folium.Map) -> None:
    """Give every element a sequential id: the same map renders to the same HTML.

    Must run before the first render: folium keys some render-time children by element names.
    """
    queue: list[Element] = [fmap]
    counter = 0
    while queue:
        element = queue.pop(0)
        element._id = f"{counter:04d}"
        counter += 1
        queue.extend(element._children.values())


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------

_URL_PATTERNS = (
    re.compile(
        r"<(?:script|img|iframe|source|audio|video|embed)\b[^>]*?\bsrc\s*=\s*[\"']?([^\"'\s>]+)",
        re.I,
    ),
    re.compile(r"<link\b[^>]*?\bhref\s*=\s*[\"']?([^\"'\s>]+)", re.I),
    re.compile(r"url\(\s*[\"']?([^\"')\s]+)", re.I),
    re.compile(r"@import\s+[\"']([^\"']+)", re.I),
    re.compile(r"tileLayer\(\s*[\"']([^\"']+)", re.I),
)


def external_urls(html_text: str) -> list[str]:
    """Internet resources an HTML page would load: scripts, stylesheets, images, tiles.

    Parameters
    ----------
    html_text : str
        The HTML document.

    Returns
    -------
    list of str
        ``http(s)://`` and protocol-relative (``//host``) URLs in ``<script src>``,
        ``<link href>``, ``<img src>`` (and other media), CSS ``url()``/``@import`` and Leaflet
        tile-layer templates, in document order without repeats. Links (``<a href>``) are not
        resources and are not listed. Empty for a self-contained map.
    """
    found: dict[str, int] = {}
    for pattern in _URL_PATTERNS:
        for match in pattern.finditer(html_text):
            url = match.group(1)
            if re.match(r"(?:https?:)?//", url, re.I):
                found.setdefault(url, match.start())
    return sorted(found, key=found.__getitem__)


@functools.cache
def _static_text(name: str) -> str:
    return (resources.files("lifecircle") / "_static" / name).read_text(encoding="utf-8")


@functools.cache
def _inline_leaflet() -> tuple[str, str]:
    """Leaflet's CSS (its two control icons as data URIs) and JavaScript, ready to inline."""
    css = _static_text("leaflet.css")
    for image in ("layers-2x.png", "layers.png"):
        data = (resources.files("lifecircle") / "_static" / image).read_bytes()
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        css = css.replace(f"url(images/{image})", f"url({uri})")
    js = _static_text("leaflet.js").replace("</script", "<\\/script")
    # The source map is not shipped: drop the comment that points browsers to it.
    js = re.sub(r"//# sourceMappingURL=\S+\s*$", "", js)
    return css, js


def _render_html(fmap: folium.Map, *, self_contained: bool) -> str:
    """Render the map into a fresh Figure (no stale parts of earlier renders)."""
    old_parent = fmap._parent
    old_children = fmap._children
    instance_assets = {k: vars(fmap)[k] for k in ("default_js", "default_css") if k in vars(fmap)}
    legends = [c for c in old_children.values() if isinstance(c, _MapLegend)]
    legend_offline = [legend.offline for legend in legends]
    title = getattr(old_parent, "title", None) if isinstance(old_parent, Figure) else None
    figure = Figure(title=title)
    try:
        if self_contained:
            fmap._children = OrderedDict(
                (k, v)
                for k, v in old_children.items()
                if not isinstance(v, folium.raster_layers.TileLayer)
            )
            fmap.default_js, fmap.default_css = [], []
            css, js = _inline_leaflet()
            figure.header.add_child(_RawHTML(f"<style>{css}</style>"), name="leaflet_css")
            figure.header.add_child(_RawHTML(f"<script>{js}</script>"), name="leaflet")
            for legend in legends:
                legend.offline = True
        figure.add_child(fmap, name=fmap.get_name())
        rendered = figure.render()
    finally:
        fmap._parent = old_parent
        fmap._children = old_children
        for key in ("default_js", "default_css"):
            if key in instance_assets:
                setattr(fmap, key, instance_assets[key])
            elif key in vars(fmap):
                delattr(fmap, key)
        for legend, offline in zip(legends, legend_offline, strict=True):
            legend.offline = offline
    if self_contained:
        leftover = external_urls(rendered)
        if leftover:
            raise LifecircleError(
                f"the map needs files from the internet ({', '.join(leftover[:3])}), probably "
                f"from a folium plugin added to it, so it cannot be self-contained: {_CDN_HINT}"
            )
        body = rendered[rendered.find("</head>") :]
        if re.search(r"\$\(|jQuery|L\.AwesomeMarkers", body):
            warnings.warn(
                "the map uses folium features that need jQuery or Font Awesome (e.g. folium.Popup "
                "with HTML, or icon markers), which self-contained maps leave out: they will not "
                f"work offline; {_CDN_HINT}",
                LifecircleWarning,
                stacklevel=3,
            )
    return rendered


def save_map(fmap: folium.Map, path: str | Path, *, self_contained: bool = False) -> Path:
    """Write a map to an HTML file, atomically.

    Parameters
    ----------
    fmap : folium.Map
        From :func:`coverage_map` (any folium map works).
    path : str or Path
        Destination ``.html`` file; its folder is created when missing.
    self_contained : bool
        Inline Leaflet and drop background tiles, so that the file works with no internet (and
        can be e-mailed). Otherwise Leaflet and the tiles load from the internet when viewed.

    Returns
    -------
    Path
        ``path``. The map is rendered fully before anything is written; the file is replaced
        in one step, so a failure leaves any previous file untouched.

    Raises
    ------
    LifecircleError
        With ``self_contained=True``, when the map uses a plugin that loads files from the
        internet.
    """
    rendered = _render_html(fmap, self_contained=self_contained)
    return io.write_text(path, rendered)


# --------------------------------------------------------------------------------------------
# Static map
# --------------------------------------------------------------------------------------------

_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Arial Unicode MS",
)
_cjk_warned = False


@functools.cache
def _cjk_font() -> str | None:
    """Name of an installed font family with Chinese glyphs, or None."""
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in available:
            return family
    # Fonts installed after matplotlib built its cache: ask fontconfig and register the file.
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        listing = subprocess.run(
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted({line.split(":")[0].strip() for line in listing.splitlines() if line.strip()})
    files.sort(key=lambda f: ("Sans" not in f, "Bold" in f, f))  # regular sans first
    for file in files:
        try:
            font_manager.fontManager.addfont(file)
            return font_manager.FontProperties(fname=file).get_name()
        except (OSError, RuntimeError, ValueError):
            continue
    return None


def _text_mode() -> str | None:
    """The CJK font family to use, or None (English-only labels, warned about once)."""
    global _cjk_warned
    family = _cjk_font()
    if family is None and not _cjk_warned:
        _cjk_warned = True
        warnings.warn(
            "no font with Chinese characters found (install fonts-noto-cjk or fonts-wqy-microhei): "
            "static maps use English-only labels",
            LifecircleWarning,
            stacklevel=3,
        )
    return family


def _nice_length(span_m: float) -> float:
    target = span_m / 5
    for length in (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000):
        if length >= target:
            return float(length)
    return 100000.0


def static_map(
    compounds: gpd.GeoDataFrame,
    study_area: gpd.GeoDataFrame,
    profile: Profile,
    category: str | None,
    path: str | Path,
    *,
    service_areas: gpd.GeoDataFrame | None = None,
    sub_districts: gpd.GeoDataFrame | None = None,
    credits: Sequence[str] = (settings.osm_attribution,),
) -> Path:
    """Draw a PNG coverage map of one category (or the complete life circle) for documents.

    Parameters
    ----------
    compounds : geopandas.GeoDataFrame
        As for :func:`coverage_map`.
    study_area : geopandas.GeoDataFrame
        The study-area polygon(s).
    profile : Profile
        Labels, thresholds, projected CRS; a sample profile marks the title "示例数据 / SAMPLE
        DATA".
    category : str or None
        A category key of the profile, or None for the complete life circle.
    path : str or Path
        Destination ``.png``; written atomically.
    service_areas : geopandas.GeoDataFrame, optional
        With ``category``; the category's area is shaded (for the complete life circle: the
        intersection of the required categories' areas).
    sub_districts : geopandas.GeoDataFrame, optional
        Outlined and labelled.
    credits : sequence of str
        Shown in the lower-right corner (the OpenStreetMap credit is added when missing).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DataError
        When ``category`` is not in the profile or the compounds lack columns.

    Notes
    -----
    Chinese text needs a CJK font (e.g. Debian's ``fonts-noto-cjk``); without one the map has
    English-only labels and a :class:`LifecircleWarning` says so once.
    """
    # The Agg canvas directly, not pyplot: no global backend switch (which would disturb a
    # Jupyter session's inline plots) and no figure left open.
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.transforms import offset_copy

    if category is not None and category not in profile.categories:
        raise DataError(
            f"category {category!r} is not in profile {profile.name!r}; "
            f"known: {', '.join(profile.categories)} (or None for the complete life circle)"
        )
    crs = profile.projected_crs
    compounds = _to_wgs84(compounds, "compounds").to_crs(crs)
    _check_compound_columns(compounds, profile)
    study_area = _to_wgs84(study_area, "study_area").to_crs(crs)
    credits = _credits_with_osm(credits)
    cjk = _text_mode()

    def label(zh: str, en: str) -> str:
        return f"{zh} / {en}" if cjk else en

    if category is None:
        column = "complete"
        what = label("完整生活圈", "Complete life circle")
    else:
        cat = profile.categories[category]
        column = f"{category}_covered"
        what = (
            f"{label(cat.label.zh, cat.label.en)}: {cat.threshold_m:g} m ≈ "
            f"{_minutes_text(cat.threshold_m, profile)} min"
        )
    on_network = (compounds["access_status"] == "ok").to_numpy()
    covered = compounds[column].fillna(False).astype(bool).to_numpy() & on_network
    states = np.where(~on_network, "x", np.where(covered, "1", "0"))

    rc = {"font.family": [cjk, "DejaVu Sans"] if cjk else ["DejaVu Sans"]}
    west, south, east, north = study_area.total_bounds
    aspect = (north - south) / max(east - west, 1.0)
    with matplotlib.rc_context(rc):
        # 9 inches wide; tall enough for the area plus title and legend below it.
        fig = MplFigure(figsize=(9, float(np.clip(9 * aspect + 2.0, 5, 14))), dpi=150)
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        area = _static_service_area(service_areas, profile, category, crs)
        if area is not None and not area.is_empty:
            gpd.GeoSeries([area], crs=crs).plot(
                ax=ax, color="#4a90d9", alpha=0.18, edgecolor="#4a90d9", linewidth=0.6
            )
        if sub_districts is not None and not sub_districts.empty:
            subs = _to_wgs84(sub_districts, "sub_districts").to_crs(crs)
            subs.boundary.plot(ax=ax, color="#666666", linewidth=0.6)
            if cjk and "name" in subs.columns:
                for name, point in zip(subs["name"], subs.representative_point(), strict=True):
                    ax.annotate(
                        str(name), (point.x, point.y), ha="center", fontsize=7, color="#333333"
                    )
        study_area.boundary.plot(ax=ax, color=_BOUNDARY_COLOUR, linewidth=1.2, linestyle="--")
        handles = []
        is_point = compounds.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
        population = pd.to_numeric(compounds["population"], errors="coerce").to_numpy()
        for code in ("x", "0", "1"):  # covered drawn last, on top
            mask = states == code
            colour = _STATUS_COLOURS[code]
            zh, en = _STATUS_LABELS[code]
            if (mask & ~is_point).any():
                compounds[mask & ~is_point].plot(
                    ax=ax, color=colour, edgecolor=colour, linewidth=0.3, alpha=0.8
                )
            if (mask & is_point).any():
                pts = compounds[mask & is_point]
                sizes = np.array(
                    [_marker_radius(p) for p in population[mask & is_point]], dtype=float
                )
                ax.scatter(
                    pts.geometry.x,
                    pts.geometry.y,
                    s=(sizes * 0.9) ** 2,
                    c=colour,
                    edgecolors="white",
                    linewidths=0.3,
                    alpha=0.9,
                    zorder=3,
                )
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="",
                    markerfacecolor=colour,
                    markeredgecolor="white",
                    markersize=8,
                    label=f"{label('小区' + zh, 'compound ' + en)} ({int(mask.sum()):,})",
                )
            )
        if area is not None and not area.is_empty:
            handles.append(
                Patch(
                    facecolor="#4a90d9",
                    alpha=0.3,
                    label=label("步行服务范围", "walking service area"),
                )
            )
        handles.append(
            Line2D(
                [],
                [],
                color=_BOUNDARY_COLOUR,
                linestyle="--",
                label=label("研究范围", "study area"),
            )
        )
        # Below the map, clear of the scale bar and credits lines.
        below = offset_copy(ax.transAxes, fig=fig, y=-(8 * len(credits) + 10), units="points")
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.0, 0.0),
            ncol=2,
            fontsize=8,
            frameon=False,
            bbox_transform=below,
        )

        pad = 0.04 * max(east - west, north - south)
        ax.set_xlim(west - pad, east + pad)
        ax.set_ylim(south - pad, north + pad)
        ax.set_aspect("equal")
        ax.set_axis_off()
        _draw_scale_bar(ax, west - pad, south - pad, east - west + 2 * pad, crs)

        title = label(profile.title.zh, profile.title.en) if cjk else profile.title.en
        if profile.sample:
            title = f"{label('示例数据', 'SAMPLE DATA')} — {title}"
        ax.set_title(
            f"{title}\n{what}", fontsize=11, color="#b00020" if profile.sample else "black"
        )
        ax.annotate(
            "\n".join(credits),
            (1.0, 0.0),
            xycoords="axes fraction",
            xytext=(0, -4),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize=6,
            color="#444444",
        )
        return io.write_atomic(
            path,
            lambda tmp: fig.savefig(tmp, format="png", bbox_inches="tight", pad_inches=0.2),
        )


def _static_service_area(
    service_areas: gpd.GeoDataFrame | None, profile: Profile, category: str | None, crs: str
) -> shapely.Geometry | None:
    if service_areas is None or service_areas.empty:
        return None
    areas = _to_wgs84(service_areas, "service_areas").to_crs(crs)
    if category is not None:
        rows = areas[areas["category"] == category]
        return shapely.union_all(rows.geometry.values) if not rows.empty else None
    required = [k for k, c in profile.categories.items() if c.required]
    result = None
    for key in required:
        rows = areas[areas["category"] == key]
        if rows.empty:
            return None  # a required category without an area: no complete area to show
        union = shapely.union_all(rows.geometry.values)
        result = union if result is None else shapely.intersection(result, union)
    return result


def _draw_scale_bar(ax: Any, x0: float, y0: float, width_m: float, crs: str) -> None:
    length = _nice_length(width_m)
    x = x0 + 0.03 * width_m
    y = y0 + 0.03 * width_m
    ax.plot([x, x + length], [y, y], color="black", linewidth=3, solid_capstyle="butt", zorder=5)
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.annotate(
        f"{text}  ({crs})",
        (x, y),
        xytext=(0, -4),
        textcoords="offset points",
        va="top",
        fontsize=7,
        zorder=5,
    )
