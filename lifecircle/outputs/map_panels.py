"""HTML of the interactive map's panels: title and coverage, legend, colouring switch.

Everything from a profile or the data is escaped here with :func:`html.escape`; the panels are
inserted as markup by ``lcMapUi`` (``_static/layers.js``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from ..profile import Profile
from .labels import (
    BOUNDARY_COLOUR,
    SAMPLE_LABEL,
    STREET_COLOUR,
    WATER_COLOUR,
    category_colour,
    minutes_text,
)
from .map_context import MapContext

#: The two views of a run: the overview of coverage, and the map of what is missing.
VIEW_TITLES = {"coverage": ("覆盖地图", "Coverage map"), "gaps": ("缺口地图", "Gap map")}
GAP_LAND_COLOUR = "#b2182b"
SERVICE_AREA_NOTE = ("步行服务范围（随所选类别）", "walking service area (of the chosen category)")
GAP_LAND_NOTE = ("服务范围外的居住用地（随所选类别）",
                 "residential land outside the service area (of the chosen category)")
MUTED_NOTE = "浅绿小点：已覆盖的小区 / small pale-green dots: covered compounds"


@dataclass(frozen=True)
class LegendItems:
    """Which optional symbols a map draws (the legend lists only those)."""

    facilities: dict[str, int]
    service_areas: bool = False
    gap_land: bool = False
    sub_districts: bool = False
    offline: bool = True
    gcj02: bool = False
    areas_reduced: bool = False


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def head_html(profile: Profile, view: str, rows: list[dict], view_index: dict[str, int]) -> str:
    """Title, view name and the whole-area coverage table (one row per compound view).

    Parameters
    ----------
    profile : Profile
        Title and sample flag.
    view : str
        ``"coverage"`` or ``"gaps"``.
    rows : list of dict
        From :func:`lifecircle.outputs.map_data.coverage_rows` (complete life circle last).
    view_index : dict of str to int
        Compound-view index of each row label, so that clicking a row shows that view.
    """
    zh, en = VIEW_TITLES[view]
    title = escape(f"{profile.title.zh} / {profile.title.en}")
    if profile.sample:
        title = f'<span class="lc-sample">{escape(SAMPLE_LABEL)}</span><br>{title}'
    parts = [f'<div class="lc-title">{title}</div>',
             f'<div class="lc-subtitle">{escape(zh)} / {escape(en)}</div>']
    if rows:
        parts.append(
            '<table class="lc-coverage"><tr><th>覆盖率 / Coverage</th><th>居民<br>residents</th>'
            "<th>小区<br>compounds</th><th>临界小区<br>near misses</th></tr>"
        )
        for row in [rows[-1], *rows[:-1]]:  # the complete life circle first
            near = row["n_near_miss"]
            near_text = "—" if near is None else f"{near:,}"
            if row["population_near_miss"] is not None and near:
                near_text += f" ({row['population_near_miss']:,} 人)"
            parts.append(
                f'<tr data-view="{view_index[row["label"]]}"><td>{escape(row["label"])}</td>'
                f'<td>{_percent(row["population_share"])}</td>'
                f'<td>{_percent(row["compound_share"])}</td><td>{near_text}</td></tr>'
            )
        parts.append(
            "</table><div class=\"lc-note\">点击一行查看该类别 / click a row to show it · "
            f"临界 = 超出阈值不到 {profile.near_miss_share:.0%} / near miss = less than "
            f"{profile.near_miss_share:.0%} beyond the threshold</div>"
        )
    return "\n".join(parts)


def modes_html(mode: str) -> str:
    """The colouring switch: coverage status or graded walking time."""
    options = (("status", "覆盖状态 / coverage status"),
               ("graded", "步行时间分级 / walking time, graded"))
    inputs = "".join(
        f'<label><input type="radio" name="lc-mode" value="{value}"'
        f'{" checked" if value == mode else ""}> {text}</label>'
        for value, text in options
    )
    return f'<div class="lc-mode-title">小区着色 / Colour compounds by</div>{inputs}'


def _swatch(colour: str, shape: str = "dot") -> str:
    return f'<span class="lc-swatch lc-{shape}" style="--c:{colour}"></span>'


def _facility_rows(profile: Profile, counts: dict[str, int]) -> list[str]:
    rows = [f"<h4>设施 / Facilities ({escape(f'{profile.walking_speed_kmh:g} km/h')})</h4>"]
    for index, (key, category) in enumerate(profile.categories.items()):
        optional = "" if category.required else " <i>(可选 / optional)</i>"
        rows.append(
            f'<div class="lc-row" title="{escape(category.threshold_source)}">'
            f"{_swatch(category_colour(index), 'diamond')}{escape(category.label.zh)} / "
            f"{escape(category.label.en)} ({counts.get(key, 0):,}): {category.threshold_m:g} m ≈ "
            f"{minutes_text(category.threshold_m, profile)} min{optional}</div>"
        )
    rows.append('<div class="lc-note">白色 = 未接入路网 / white = not on the network</div>')
    return rows


def _symbol_rows(items: LegendItems, context: MapContext | None) -> list[str]:
    rows = []
    if items.service_areas:
        rows.append(f'<div class="lc-row">{_swatch("#4a90d9", "patch")}'
                    f"{escape(' / '.join(SERVICE_AREA_NOTE))}</div>")
    if items.gap_land:
        rows.append(f'<div class="lc-row">{_swatch(GAP_LAND_COLOUR, "patch")}'
                    f"{escape(' / '.join(GAP_LAND_NOTE))}</div>")
    if context is not None and context.streets is not None:
        rows.append(f'<div class="lc-row">{_swatch(STREET_COLOUR, "line")}'
                    "道路（步行路网）/ streets (walking network)</div>")
    if context is not None and context.water is not None:
        rows.append(f'<div class="lc-row">{_swatch(WATER_COLOUR, "patch")}水系 / water</div>')
    if items.sub_districts:
        rows.append(f'<div class="lc-row">{_swatch("#555555", "line")}街道/镇 / sub-districts</div>')
    rows.append(f'<div class="lc-row">{_swatch(BOUNDARY_COLOUR, "dash")}研究范围 / study area</div>')
    return rows


def _note_rows(items: LegendItems, context: MapContext | None) -> list[str]:
    rows = []
    streets = context.streets if context is not None else None
    if streets is not None and streets.reduced:
        rows.append(
            f'<div class="lc-note">道路已简化：显示 {streets.n_shown:,} / {streets.n_total:,} 段，'
            f"次要道路从略，以控制文件大小 / streets simplified: {streets.n_shown:,} of "
            f"{streets.n_total:,} segments shown, minor streets left out to keep the file small"
            "</div>"
        )
    if items.areas_reduced:
        rows.append(
            '<div class="lc-note">服务范围已简化：小的空洞从略，以控制文件大小 / service areas '
            "simplified: small holes left out to keep the file small</div>"
        )
    if items.gcj02:
        rows.append(
            '<div class="lc-note">底图为 GCJ-02（火星坐标）：所有图层已由 WGS84 偏移至 GCJ-02 以对齐底图 '
            "/ GCJ-02 basemap: every layer is shifted from WGS84 to GCJ-02 to match it</div>"
        )
    rows.append(
        '<div class="lc-offline">无背景底图（离线文件）：道路与水系取自分析数据 / no background '
        "tiles (offline file): streets and water are drawn from the analysis data</div>"
    )
    return rows


def legend_html(
    profile: Profile, items: LegendItems, context: MapContext | None, credits: Sequence[str]
) -> str:
    """The legend: the chosen view's classes (filled in by the map), then fixed symbols.

    Parameters
    ----------
    profile : Profile
        Categories, thresholds, walking speed.
    items : LegendItems
        Which optional symbols the map draws.
    context : MapContext or None
        Streets and water; their simplification is stated.
    credits : sequence of str
        Data credits (the OpenStreetMap credit included).
    """
    rows = [
        '<details open><summary>图例 / Legend</summary><div class="lc-view-legend"></div>',
        '<div class="lc-note">圆点大小表示人口；点击小区查看各类设施的步行距离 / circle size '
        "shows population; click a compound for its walking distances</div>",
        *_facility_rows(profile, items.facilities),
        *_symbol_rows(items, context),
        *_note_rows(items, context),
        '<div class="lc-credits">数据来源 / Data: '
        + " · ".join(escape(c) for c in credits) + "</div></details>",
    ]
    return "\n".join(rows)
