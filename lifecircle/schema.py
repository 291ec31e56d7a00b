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
#: Where the compound's walks start: ``gates``, ``boundary`` (nearest point of its polygon) or
#: ``point`` (the compound's point, or a point inside its polygon).
ACCESS_RULE = "access_rule"
#: Number of gates linked to the compound (0 without gates).
N_GATES = "n_gates"
#: Residents before any scaling to census totals (households × persons per household, or the
#: population field).
POPULATION_ESTIMATE = "population_estimate"
#: How ``population`` was obtained (values below).
POPULATION_BASIS = "population_basis"

# --- values of ``access_rule`` -----------------------------------------------------------------
RULE_GATES = "gates"
RULE_BOUNDARY = "boundary"
RULE_POINT = "point"

# --- values of ``population_basis`` ------------------------------------------------------------
#: The compound layer's population field.
BASIS_FIELD = "field"
#: Households × persons per household: an estimate.
BASIS_HOUSEHOLDS = "households_estimate"
#: Census total apportioned by households.
BASIS_CENSUS = "census_scaled"
#: Not known.
BASIS_UNKNOWN = "unknown"

# --- the facility table ----------------------------------------------------------------------
CATEGORY = "category"
#: Label of the register (source) a facility was kept from.
SOURCE = "source"
#: Every register that lists the facility (``;``-separated labels) after merging duplicates.
SOURCES = "sources"
#: Capacity (places, beds, m²) and the part of it in use, from the layer's fields.
CAPACITY = "capacity"
CAPACITY_USED = "capacity_used"

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


class SupplyColumns(NamedTuple):
    """The compound-table columns of a category's supply-demand match (2SFCA)."""

    supply: str
    """Capacity within reach per person of the demand group (two-step floating catchment)."""
    ratio: str
    """``supply`` divided by the category's norm per person (1 = the norm is met)."""
    enough: str
    """The supply ratio reaches the norm (bool)."""


def supply_columns(category: str) -> SupplyColumns:
    """The compound-table columns of a category's supply and demand."""
    return SupplyColumns(
        supply=f"{category}_supply",
        ratio=f"{category}_supply_ratio",
        enough=f"{category}_enough_capacity",
    )


#: Key of the whole resident population among the demand groups.
ALL_RESIDENTS = "all"


def demand_column(group: str) -> str:
    """The compound-table column holding the residents of a demand group.

    ``all`` (every resident) is the ``population`` column itself.
    """
    return POPULATION if group == ALL_RESIDENTS else f"demand_{group}"


def covered_column(category: str) -> str:
    """The bool column that says whether a compound is covered for ``category``.

    ``complete`` (the complete life circle) has its own column; every other key is a category.
    """
    return COMPLETE if category == COMPLETE else category_columns(category).covered


def near_miss_column(category: str) -> str:
    """The bool column that marks near misses for ``category`` (or the complete life circle)."""
    return COMPLETE_NEAR_MISS if category == COMPLETE else category_columns(category).near_miss
