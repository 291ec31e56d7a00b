"""Names of the result tables' columns and codes, in one place.

Every module that reads or writes the compound table takes its column names from here (the
cityseer way: one function names the output columns), so that a renamed column cannot drift
between the engine, the reports and the maps.

Examples
--------
>>> from lifecircle import schema
>>> schema.category_columns("nursery").dist_m
'nursery_dist_m'
"""

from __future__ import annotations

from typing import NamedTuple

# --- the compound table ----------------------------------------------------------------------
COMPOUND_ID = "compound_id"
NAME = "name"
HOUSEHOLDS = "households"
POPULATION = "population"
SNAP_M = "snap_m"
ACCESS_STATUS = "access_status"
SNAP_LON = "snap_lon"
SNAP_LAT = "snap_lat"
SUB_DISTRICT = "sub_district"
#: Category key, and column, of the complete life circle (every required category covered).
COMPLETE = "complete"
#: Not a complete life circle, but every missing required category is a near miss.
COMPLETE_NEAR_MISS = "complete_near_miss"

# --- the facility table ----------------------------------------------------------------------
CATEGORY = "category"

# --- values of ``access_status`` ---------------------------------------------------------------
STATUS_OK = "ok"
STATUS_BEYOND_SNAP_LIMIT = "beyond_snap_limit"
STATUS_ISLAND = "island"

# --- coverage tables ---------------------------------------------------------------------------
#: Name of the whole-study-area row in coverage tables.
ALL_AREAS = "(all)"


class CategoryColumns(NamedTuple):
    """The compound-table columns of one facility category."""

    dist_m: str
    """Walking distance to the nearest facility (m); NaN when not on the network."""
    minutes: str
    """The same walk in minutes."""
    count: str
    """Facilities within the category's threshold."""
    covered: str
    """Within the threshold (bool)."""
    nearest: str
    """Name of the nearest facility."""
    near_miss: str
    """Not covered, but within the threshold plus the profile's near-miss margin (bool)."""


def category_columns(category: str) -> CategoryColumns:
    """The compound-table column names of a category.

    Parameters
    ----------
    category : str
        A category key of the profile.

    Returns
    -------
    CategoryColumns
        ``dist_m``, ``minutes``, ``count``, ``covered`` and ``nearest`` column names.
    """
    return CategoryColumns(
        dist_m=f"{category}_dist_m",
        minutes=f"{category}_min",
        count=f"{category}_count",
        covered=f"{category}_covered",
        nearest=f"{category}_nearest",
        near_miss=f"{category}_near_miss",
    )


def covered_column(category: str) -> str:
    """The bool column that says whether a compound is covered for ``category``.

    ``complete`` (the complete life circle) has its own column; every other key is a category.
    """
    return COMPLETE if category == COMPLETE else category_columns(category).covered


def near_miss_column(category: str) -> str:
    """The bool column that marks near misses for ``category`` (or the complete life circle)."""
    return COMPLETE_NEAR_MISS if category == COMPLETE else category_columns(category).near_miss
