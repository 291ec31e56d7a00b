"""Coverage maps: interactive Folium (Leaflet) HTML maps built with folium.

Interactive maps show, per facility category, which residential compounds (小区) are covered
(green), not covered (red) or not on the walking network (grey), plus the complete life circle
(完整生活圈), the facilities, optional walking service areas and sub-district boundaries.

Compounds are embedded **once** as a GeoJSON object that every category layer re-uses (one layer
per category, drawn from a status string per compound), so an HTML map of 2,000 compounds and four
categories stays around 1 MB; the popup of a compound lists every category.

Save with :func:`lifecircle.outputs.html.save_map` (self-contained by default). Folium gives its
elements random ids; :func:`coverage_map` renumbers them so that the same inputs give the same
HTML, byte for byte.
"""

from __future__ import annotations

import html
import json
import math
import warnings
from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
from branca.element import Element, MacroElement
from folium.template import Template
from folium.utilities import JsCode

from .. import schema, settings
from ..errors import DataError, LifecircleWarning
from ..profile import Profile
from ._geo import (
    check_compound_columns,
    clean_value,
    feature_collection,
    is_true,
    marker_radius,
    round_coordinates,
    simplified,
    to_wgs84_layer,
)
from .html import static_text
from .labels import (
    ACCESS_LABELS,
    BACKGROUND_COLOUR,
    BOUNDARY_COLOUR,
    COVERED_COLOUR,
    SAMPLE_LABEL,
    STATUS_COLOURS,
    STATUS_LABELS,
    UNCOVERED_COLOUR,
    category_colour,
    credits_with_osm,
    map_title,
    minutes_text,
)


def _compound_properties(compounds: pd.DataFrame, profile: Profile) -> list[dict]:
    """Compact per-compound attributes read by the map's JavaScript.

    ``s`` holds one status character per category (profile order) and a last one for the
    complete life circle: ``"1"`` covered, ``"0"`` not covered, ``"x"`` not on the network.
    ``c`` holds per category ``[distance m, minutes, count within threshold, nearest name]``.
    """
    keys = list(profile.categories)
    columns = {k: schema.category_columns(k) for k in keys}
    pph = profile.compounds.persons_per_household
    has_sub_district = schema.SUB_DISTRICT in compounds.columns
    attributes = [c for c in compounds.columns if c != compounds.geometry.name]
    records = []
    for row_dict in pd.DataFrame(compounds[attributes]).to_dict("records"):
        on_network = row_dict[schema.ACCESS_STATUS] == schema.STATUS_OK
        status = "".join(
            "x" if not on_network else ("1" if is_true(row_dict[columns[k].covered]) else "0")
            for k in keys
        )
        status += "x" if not on_network else ("1" if is_true(row_dict[schema.COMPLETE]) else "0")
        households = clean_value(row_dict.get("households"), 0)
        population = clean_value(row_dict["population"], 0)
        if population is None and households is not None:
            population = round(households * pph)
        record = {
            "i": clean_value(row_dict["compound_id"]),
            "n": "" if pd.isna(row_dict["name"]) else str(row_dict["name"]),
            "h": households,
            "p": population,
            "a": str(row_dict["access_status"]),
            "m": clean_value(row_dict.get("snap_m"), 0),
            "s": status,
            "r": marker_radius(population if population is not None else float("nan")),
            "c": [
                [
                    clean_value(row_dict[columns[k].dist_m], 0),
                    clean_value(row_dict[columns[k].minutes], 1),
                    clean_value(row_dict[columns[k].count], 0),
                    clean_value(row_dict[columns[k].nearest]),
                ]
                for k in keys
            ],
        }
        if has_sub_district and not pd.isna(row_dict["sub_district"]):
            record["d"] = str(row_dict["sub_district"])
        records.append(record)
    return records


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
        {% macro header(this, kwargs) %}
        <script>{{ this.library_js }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = lcCompounds({{ this.data_js }}, {{ this.meta_js }});
        {% endmacro %}
        """
    )

    def __init__(self, data: dict, meta: dict) -> None:
        super().__init__()
        self._name = "LcCompounds"
        self.library_js = static_text("compounds.js")
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
        <style>:root { --lc-background: {{ this.background }}; --lc-covered: {{ this.covered }};
            --lc-uncovered: {{ this.uncovered }}; }
{{ this.css }}</style>
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
        self.css = static_text("map.css")
        self.title_html = title_html
        self.body_html = body_html
        self.offline = offline
        self.background = BACKGROUND_COLOUR
        self.covered = COVERED_COLOUR
        self.uncovered = UNCOVERED_COLOUR


def _legend_html(profile: Profile, credits: Sequence[str], service_areas: bool) -> tuple[str, str]:
    esc = html.escape
    title = esc(f"{profile.title.zh} / {profile.title.en}")
    if profile.sample:
        title = f'<span class="lc-sample">{esc(SAMPLE_LABEL)}</span><br>{title}'
    rows = []
    if profile.sample:
        rows.append(f'<div class="lc-row lc-sample">{esc(SAMPLE_LABEL)}</div>')
    for code in ("1", "0", "x"):
        zh, en = STATUS_LABELS[code]
        rows.append(
            f'<div class="lc-row"><span class="lc-swatch" style="background:'
            f'{STATUS_COLOURS[code]}"></span>小区{esc(zh)} / compound {esc(en)}</div>'
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
            f'<span class="lc-swatch" style="background:{category_colour(index)};'
            f'border-radius:2px"></span>{esc(category.label.zh)} / {esc(category.label.en)}: '
            f"{category.threshold_m:g} m ≈ {minutes_text(category.threshold_m, profile)} min"
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
    compounds = to_wgs84_layer(compounds, "compounds")
    facilities = to_wgs84_layer(facilities, "facilities")
    study_area = to_wgs84_layer(study_area, "study_area")
    check_compound_columns(compounds, profile)
    if study_area.empty:
        raise DataError("the study area is empty: nothing to fit the map to")
    credits = credits_with_osm(credits)

    west, south, east, north = (float(v) for v in study_area.total_bounds)
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=13,
        tiles="OpenStreetMap" if tiles else None,
        control_scale=True,
    )
    fmap.get_root().title = map_title(profile)
    # Areas sit below compounds and facilities above them, whatever order layers are toggled in.
    folium.map.CustomPane("lcAreas", z_index=350, pointer_events=False).add_to(fmap)
    folium.map.CustomPane("lcFacilities", z_index=450, pointer_events=True).add_to(fmap)

    # The attribution line keeps to the OpenStreetMap credit; the legend lists every source.
    osm_credits = [c for c in credits if "openstreetmap" in c.lower()]
    attribution = " | ".join(html.escape(c) for c in osm_credits)
    if len(osm_credits) < len(credits):
        attribution += " | 其他数据来源见图例 / other data sources in the legend"
    boundary_props = [
        {"name": clean_value(v)}
        for v in (study_area["name"] if "name" in study_area.columns else [None] * len(study_area))
    ]
    folium.GeoJson(
        feature_collection(simplified(study_area, profile), boundary_props),
        name="研究范围 / Study area",
        style_function=lambda _f: {
            "color": BOUNDARY_COLOUR,
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
        "colours": STATUS_COLOURS,
        "status": {code: html.escape(f"{zh} / {en}") for code, (zh, en) in STATUS_LABELS.items()},
        "access": {k: html.escape(v) for k, v in ACCESS_LABELS.items()},
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
    data = feature_collection(
        round_coordinates(compounds.geometry), _compound_properties(compounds, profile)
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
        _add_service_areas(fmap, to_wgs84_layer(service_areas, "service_areas"), profile)
    if sub_districts is not None and not sub_districts.empty:
        _add_sub_districts(fmap, to_wgs84_layer(sub_districts, "sub_districts"), profile)
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
        feature_collection(simplified(sub_districts, profile), props),
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
    geometry = simplified(areas, profile)
    for index, (key, category) in enumerate(profile.categories.items()):
        mask = (areas["category"] == key).to_numpy()
        if not mask.any():
            continue
        rows = areas[mask]
        area = rows["area_km2"].sum() if "area_km2" in rows.columns else float("nan")
        thresholds = "/".join(f"{t:g}" for t in sorted(rows["threshold_m"].unique()))
        area_text = f", {area:.2f} km²" if math.isfinite(area) else ""
        colour = category_colour(index)
        folium.GeoJson(
            feature_collection(geometry[mask], [{} for _ in range(int(mask.sum()))]),
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
                "snap_m": clean_value(getattr(r, "snap_m", None), 0),
                "access": ACCESS_LABELS.get(str(getattr(r, "access_status", "")), "—"),
                "ok": str(getattr(r, "access_status", "ok")) == "ok",
            }
            for r in rows.itertuples(index=False)
        ]
        colour = category_colour(index)
        folium.GeoJson(
            feature_collection(round_coordinates(rows.geometry), props),
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
