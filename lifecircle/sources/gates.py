"""Gates (出入口) of gated compounds: which compound each gate belongs to.

A gate is linked to its compound by a field of the gates file naming the compound (matched
with a column of the compound layer), or, without one, by lying on or near the compound's
polygon — as OpenStreetMap ``entrance=*`` and ``barrier=gate`` nodes on a compound's boundary
do. Distances use the projected CRS.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import settings
from ..errors import DataError, LifecircleWarning

#: Columns of the link table.
LINK_COLUMNS = ["compound", "gate", "gap_m"]


def link_gates(
    gates: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    *,
    link_field: str | None = None,
    compound_field: str = "name",
    max_distance_m: float = 20.0,
    projected_crs: str = settings.default_projected_crs,
) -> pd.DataFrame:
    """Which compound each gate belongs to.

    Parameters
    ----------
    gates : geopandas.GeoDataFrame
        Gate points (any CRS).
    compounds : geopandas.GeoDataFrame
        Compound points or polygons (any CRS), in their final order.
    link_field : str, optional
        Column of ``gates`` naming the gate's compound. Without it, a gate belongs to every
        compound polygon within ``max_distance_m`` of it (inside counts as 0 m) and to the
        nearest compound point within that distance.
    compound_field : str
        Column of ``compounds`` that ``link_field`` matches (as trimmed text). When several
        compounds share the value, the gate goes to the nearest of them.
    max_distance_m : float
        Largest gap between a gate and its compound for a spatial link.
    projected_crs : str
        Metric CRS for the distances.

    Returns
    -------
    pandas.DataFrame
        :data:`LINK_COLUMNS`: one row per (compound position, gate position) with the gap
        between them (m), sorted by compound then gate.

    Raises
    ------
    DataError
        When ``link_field`` or ``compound_field`` is not a column.

    Warns
    -----
    LifecircleWarning
        When gates inside the compounds' extent name no compound in ``link_field``.
    """
    if gates.empty or compounds.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(LINK_COLUMNS, ("int64", "int64", "float64"), strict=True)})
    gate_points = gates.geometry.to_crs(projected_crs).representative_point().to_numpy()
    shapes = compounds.geometry.to_crs(projected_crs).to_numpy()
    if link_field is not None:
        links = _links_by_field(gates, compounds, link_field, compound_field, gate_points, shapes)
        _warn_unlinked(links, gate_points, shapes, link_field)
    else:
        # Gates from OpenStreetMap include many on streets, far from any compound: not a problem.
        links = _links_by_place(gate_points, shapes, max_distance_m)
    return links.sort_values(["compound", "gate"], kind="stable").reset_index(drop=True)


def _links_by_field(
    gates: pd.DataFrame,
    compounds: pd.DataFrame,
    link_field: str,
    compound_field: str,
    gate_points: np.ndarray,
    shapes: np.ndarray,
) -> pd.DataFrame:
    for frame, column, what in ((gates, link_field, "gates"), (compounds, compound_field, "compound")):
        if column not in frame.columns:
            raise DataError(
                f"the {what} layer has no column {column!r} (compounds.gates.link_field / "
                f"compound_field); its columns are: "
                f"{', '.join(map(str, frame.columns.drop('geometry', errors='ignore')))}"
            )
    keys = pd.DataFrame({"gate": np.arange(len(gates)), "key": _text(gates[link_field])})
    owners = pd.DataFrame({"compound": np.arange(len(compounds)), "key": _text(compounds[compound_field])})
    pairs = keys[keys["key"] != ""].merge(owners, on="key")
    gap = shapely.distance(gate_points[pairs["gate"]], shapes[pairs["compound"]])
    pairs = pairs.assign(gap_m=gap).sort_values(["gate", "gap_m", "compound"], kind="stable")
    return pairs.drop_duplicates("gate")[LINK_COLUMNS]


def _links_by_place(gate_points: np.ndarray, shapes: np.ndarray, max_distance_m: float) -> pd.DataFrame:
    tree = shapely.STRtree(shapes)
    gate, compound = tree.query(gate_points, predicate="dwithin", distance=max_distance_m)
    gap = shapely.distance(gate_points[gate], shapes[compound])
    pairs = pd.DataFrame({"compound": compound, "gate": gate, "gap_m": gap})
    # A point compound takes a gate only when it is the gate's nearest compound point.
    is_point = shapely.get_type_id(shapes[compound]) == shapely.GeometryType.POINT
    points = pairs[is_point].sort_values(["gate", "gap_m", "compound"], kind="stable")
    return pd.concat([pairs[~is_point], points.drop_duplicates("gate")], ignore_index=True)


def _text(values: pd.Series) -> pd.Series:
    return values.map(lambda v: "" if pd.isna(v) else str(v).strip()).astype(object)


def _warn_unlinked(
    links: pd.DataFrame, gate_points: np.ndarray, shapes: np.ndarray, link_field: str
) -> None:
    extent = shapely.box(*shapely.total_bounds(shapes))
    unlinked = np.ones(len(gate_points), dtype=bool)
    unlinked[links["gate"].to_numpy(dtype=np.int64)] = False
    stray = int((unlinked & shapely.intersects(gate_points, extent)).sum())
    if stray:
        warnings.warn(
            f"{stray:,} of {len(gate_points):,} gates among the compounds name no compound in "
            f"their '{link_field}' column: they are not used (check the names, or the column "
            "named by compounds.gates.compound_field)",
            LifecircleWarning,
            stacklevel=3,
        )
