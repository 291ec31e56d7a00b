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
