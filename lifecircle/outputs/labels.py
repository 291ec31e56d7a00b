"""Bilingual labels (中文 / English), colours and credits shared by every output.

Planners read Chinese first: every code that reaches a map, a table or a spreadsheet has a
Chinese-first label here.
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import settings
from ..profile import Profile

#: Fill colour of compounds within the threshold of a category.
COVERED_COLOUR = "#1a9850"
#: Fill colour of compounds on the network but beyond the threshold.
UNCOVERED_COLOUR = "#d73027"
#: Fill colour of compounds that could not be placed on the walking network.
OFF_NETWORK_COLOUR = "#9e9e9e"
#: Facility marker colours, one per category in profile order (repeats after ten); none of them
#: is green, yellow, orange, red or grey, which mean coverage states and graded walking time.
FACILITY_COLOURS = (
    "#1f78b4",
    "#6a3d9a",
    "#17becf",
    "#e7298a",
    "#08306b",
    "#b15928",
    "#bcbd22",
    "#8c6bb1",
    "#01665e",
    "#000000",
)
BOUNDARY_COLOUR = "#222222"
BACKGROUND_COLOUR = "#f2f1ec"

SAMPLE_LABEL = "示例数据 / SAMPLE DATA"
ACCESS_LABELS = {
    "ok": "已接入路网 / on the walking network",
    "island": "孤立路网 / on an isolated piece of network",
    "beyond_snap_limit": "距路网过远 / too far from the network",
}
STATUS_LABELS = {
    "1": ("已覆盖", "covered"),
    "0": ("未覆盖", "not covered"),
    "x": ("未接入路网", "not on the walking network"),
}
STATUS_COLOURS = {"1": COVERED_COLOUR, "0": UNCOVERED_COLOUR, "x": OFF_NETWORK_COLOUR}


def credits_with_osm(credits: Iterable[str]) -> list[str]:
    # The walking network always comes from OpenStreetMap, whose licence requires the credit.
    out = list(dict.fromkeys(str(c) for c in credits if str(c).strip()))
    if not any("openstreetmap" in c.lower() for c in out):
        out.insert(0, settings.osm_attribution)
    return out


def minutes_text(threshold_m: float, profile: Profile) -> str:
    minutes = threshold_m / profile.walking_speed_m_per_min
    return f"{minutes:.0f}" if abs(minutes - round(minutes)) < 0.05 else f"{minutes:.1f}"


def category_colour(index: int) -> str:
    return FACILITY_COLOURS[index % len(FACILITY_COLOURS)]


def map_title(profile: Profile) -> str:
    title = f"{profile.title.zh} / {profile.title.en}"
    return f"【{SAMPLE_LABEL}】 {title}" if profile.sample else title

# --- graded walking time on maps --------------------------------------------------------------
#: Fill colour of near misses: not covered, but within the profile's near-miss margin.
NEAR_MISS_COLOUR = "#fec44f"
#: Compound classes of one category on maps, by walk relative to the threshold: code →
#: (中文, English, colour). ``n`` is the pipeline's near-miss flag; ``a``/``b``/``c`` split the
#: rest at 1.5 and 2 times the threshold.
GRADE_CLASSES = {
    "1": ("阈值内", "within the threshold", COVERED_COLOUR),
    "n": ("临界（略超阈值）", "near miss (just beyond)", NEAR_MISS_COLOUR),
    "a": ("超出，≤1.5倍阈值", "beyond, up to 1.5 × threshold", "#fd8d3c"),
    "b": ("超出，1.5–2倍阈值", "beyond, 1.5–2 × threshold", "#e31a1c"),
    "c": ("超出，>2倍阈值", "beyond, over 2 × threshold", "#800026"),
    "u": ("无可达设施", "no facility reachable", "#252525"),
    "x": ("未接入路网", "not on the walking network", OFF_NETWORK_COLOUR),
}
#: Graded classes of the complete life circle: how many required categories are missing.
COMPLETE_CLASSES = {
    "1": ("完整生活圈", "complete life circle", COVERED_COLOUR),
    "n": ("临界（所缺类别均略超阈值）", "near miss (every missing category just beyond)",
          NEAR_MISS_COLOUR),
    "m": ("缺1类设施", "1 category missing", "#fd8d3c"),
    "M": ("缺2类及以上", "2 or more categories missing", "#b10026"),
    "x": ("未接入路网", "not on the walking network", OFF_NETWORK_COLOUR),
}
#: Threshold multiples that bound graded classes ``a`` and ``b``.
GRADE_LIMITS = (1.5, 2.0)
#: Coverage status on maps (covered / near miss / not covered / off network) by graded class.
STATUS_OF_CLASS = {
    "1": "1", "n": "n", "a": "0", "b": "0", "c": "0", "u": "0", "m": "0", "M": "0", "x": "x",
}
STATUS_LABELS_WITH_NEAR_MISS = {
    "1": ("已覆盖", "covered"),
    "n": ("临界", "near miss"),
    "0": ("未覆盖", "not covered"),
    "x": ("未接入路网", "not on the walking network"),
}
STATUS_COLOURS_WITH_NEAR_MISS = {**STATUS_COLOURS, "n": NEAR_MISS_COLOUR}
#: Streets, water and muted (covered) compounds on maps.
STREET_COLOUR = "#b9b4a8"
WATER_COLOUR = "#a9cce3"
MUTED_COLOUR = "#9fc5a8"


def minutes_range(low_m: float | None, high_m: float | None, profile: Profile) -> str:
    """Walking minutes of a distance range, e.g. ``"4.4–6 min"``, ``"≤ 4 min"``, ``"> 8 min"``."""
    if low_m is None:
        return f"≤ {minutes_text(high_m, profile)} min"
    if high_m is None:
        return f"> {minutes_text(low_m, profile)} min"
    return f"{minutes_text(low_m, profile)}–{minutes_text(high_m, profile)} min"
