"""What an interactive map embeds: compound classes and attributes, view legends, coverage rows.

Every figure comes from the run's tables (the compound columns named in :mod:`lifecircle.schema`
and ``result.coverage``); this module only sorts compounds into display classes and formats.
Strings travel raw in JSON (made safe for ``<script>`` by :func:`to_js`) and are escaped by the
map's JavaScript where they become HTML.
"""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import schema
from ..profile import Profile
from ._geo import clean_value, is_true, marker_radius, round_coordinates
from .labels import (
    ACCESS_LABELS,
    COMPLETE_CLASSES,
    GRADE_CLASSES,
    GRADE_LIMITS,
    STATUS_COLOURS_WITH_NEAR_MISS,
    STATUS_LABELS_WITH_NEAR_MISS,
    STATUS_OF_CLASS,
    minutes_range,
    minutes_text,
)

COMPLETE_LABEL = ("完整生活圈", "Complete life circle")


def to_js(value: Any) -> str:
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


def _flags(compounds: pd.DataFrame, column: str) -> np.ndarray:
    return np.array([is_true(v) for v in compounds[column]], dtype=bool)


def category_classes(compounds: pd.DataFrame, key: str, threshold_m: float) -> np.ndarray:
    """Graded class code of every compound for one category (see ``labels.GRADE_CLASSES``)."""
    columns = schema.category_columns(key)
    distance = pd.to_numeric(compounds[columns.dist_m], errors="coerce").to_numpy(float)
    on_network = (compounds[schema.ACCESS_STATUS] == schema.STATUS_OK).to_numpy()
    ratio = distance / threshold_m
    graded = np.select(
        [np.isnan(distance), ratio <= GRADE_LIMITS[0], ratio <= GRADE_LIMITS[1]],
        ["u", "a", "b"],
        "c",
    )
    graded = np.where(_flags(compounds, columns.near_miss), "n", graded)
    graded = np.where(_flags(compounds, columns.covered), "1", graded)
    return np.where(on_network, graded, "x")


def complete_classes(compounds: pd.DataFrame, profile: Profile) -> np.ndarray:
    """Class code of every compound for the complete life circle (``labels.COMPLETE_CLASSES``)."""
    required = [k for k, c in profile.categories.items() if c.required]
    missing = sum((~_flags(compounds, schema.category_columns(k).covered)).astype(int)
                  for k in required) if required else np.zeros(len(compounds), dtype=int)
    graded = np.where(np.asarray(missing) >= 2, "M", "m")
    graded = np.where(_flags(compounds, schema.COMPLETE_NEAR_MISS), "n", graded)
    graded = np.where(_flags(compounds, schema.COMPLETE), "1", graded)
    on_network = (compounds[schema.ACCESS_STATUS] == schema.STATUS_OK).to_numpy()
    return np.where(on_network, graded, "x")


def compound_classes(compounds: pd.DataFrame, profile: Profile) -> list[str]:
    """One string per compound: a class code per category (profile order), then ``complete``."""
    columns = [category_classes(compounds, k, c.threshold_m) for k, c in profile.categories.items()]
    columns.append(complete_classes(compounds, profile))
    return ["".join(codes) for codes in zip(*columns, strict=True)]


def _category_cells(row: dict, keys: list[str]) -> list[list[Any]]:
    cells = []
    for key in keys:
        columns = schema.category_columns(key)
        cells.append(
            [
                clean_value(row[columns.dist_m], 0),
                clean_value(row[columns.minutes], 1),
                clean_value(row[columns.count], 0),
                clean_value(row[columns.nearest]),
            ]
        )
    return cells


def compound_features(compounds: gpd.GeoDataFrame, profile: Profile) -> dict:
    """The compounds as compact GeoJSON for ``lcCompounds`` (``_static/compounds.js``).

    Properties: ``i`` id, ``n`` name, ``d`` sub-district, ``h`` households, ``p`` population,
    ``a`` access status, ``m`` snap distance, ``s`` class codes (:func:`compound_classes`),
    ``r`` marker radius, ``c`` per category ``[distance m, minutes, count, nearest name]``.
    """
    keys = list(profile.categories)
    pph = profile.compounds.persons_per_household
    classes = compound_classes(compounds, profile)
    geometry = round_coordinates(compounds.geometry)
    attributes = [c for c in compounds.columns if c != compounds.geometry.name]
    features = []
    rows = pd.DataFrame(compounds[attributes]).to_dict("records")
    for row, codes, shape in zip(rows, classes, geometry, strict=True):
        households = clean_value(row.get(schema.HOUSEHOLDS), 0)
        population = clean_value(row[schema.POPULATION], 0)
        if population is None and households is not None:
            population = round(households * pph)
        props = {
            "i": clean_value(row[schema.COMPOUND_ID]),
            "n": "" if pd.isna(row[schema.NAME]) else str(row[schema.NAME]),
            "h": households,
            "p": population,
            "a": str(row[schema.ACCESS_STATUS]),
            "m": clean_value(row.get(schema.SNAP_M), 0),
            "s": codes,
            "r": marker_radius(population if population is not None else float("nan")),
            "c": _category_cells(row, keys),
        }
        district = row.get(schema.SUB_DISTRICT)
        if district is not None and not pd.isna(district) and str(district):
            props["d"] = str(district)
        features.append({"type": "Feature", "geometry": shape.__geo_interface__,
                         "properties": props})
    return {"type": "FeatureCollection", "features": features}


def _class_rows(classes: dict[str, tuple[str, str, str]], extra: dict[str, str]) -> list[dict]:
    return [
        {"codes": code, "label": f"{zh} / {en}" + extra.get(code, ""), "colour": colour}
        for code, (zh, en, colour) in classes.items()
    ]


def _status_rows(codes: str) -> list[dict]:
    rows = []
    for status, (zh, en) in STATUS_LABELS_WITH_NEAR_MISS.items():
        members = "".join(c for c in codes if STATUS_OF_CLASS[c] == status)
        rows.append({"codes": members, "label": f"{zh} / {en}",
                     "colour": STATUS_COLOURS_WITH_NEAR_MISS[status]})
    return rows


def category_ranges(threshold_m: float, profile: Profile) -> dict[str, str]:
    """Distance and minute range of each graded class of a category, for legends."""
    near = threshold_m * (1 + profile.near_miss_share)
    low, high = (threshold_m * g for g in GRADE_LIMITS)
    spans = {"1": (None, threshold_m), "n": (threshold_m, near), "a": (near, low),
             "b": (low, high), "c": (high, None)}
    out = {}
    for code, (start, end) in spans.items():
        metres = (f"≤ {end:,.0f} m" if start is None else f"> {start:,.0f} m" if end is None
                  else f"{start:,.0f}–{end:,.0f} m")
        out[code] = f": {metres}, {minutes_range(start, end, profile)}"
    return out


def view_meta(profile: Profile) -> list[dict]:
    """One entry per compound view (categories in profile order, then the complete life circle).

    Each has a ``label`` and the legend rows of its two colourings: ``status`` (covered, near
    miss, not covered, off network) and ``graded`` (walking time relative to the threshold).
    """
    views = []
    for category in profile.categories.values():
        threshold = category.threshold_m
        label = (f"{category.label.zh} / {category.label.en} "
                 f"({threshold:g} m ≈ {minutes_text(threshold, profile)} min)")
        views.append({
            "label": label,
            "status": _status_rows("".join(GRADE_CLASSES)),
            "graded": _class_rows(GRADE_CLASSES, category_ranges(threshold, profile)),
        })
    views.append({
        "label": " / ".join(COMPLETE_LABEL),
        "status": _status_rows("".join(COMPLETE_CLASSES)),
        "graded": _class_rows(COMPLETE_CLASSES, {}),
    })
    return views


def popup_labels() -> dict:
    """Bilingual labels of the compound popup."""
    return {
        "id": "编号 / ID",
        "sub_district": "街道 / Sub-district",
        "households": "户数 / Households",
        "population": "人口 / Population",
        "access": "路网 / Network",
        "complete": " / ".join(COMPLETE_LABEL),
        "access_codes": dict(ACCESS_LABELS),
        "columns": [
            "类别 / Category",
            "状态 / Status",
            "距离 / Distance (m)",
            "步行 / Walk (min)",
            "阈值内数量 / Count within threshold",
            "最近设施 / Nearest facility",
        ],
    }


def coverage_rows(coverage: pd.DataFrame, profile: Profile) -> list[dict]:
    """Whole-area coverage per category and the complete life circle, from ``result.coverage``.

    Returns
    -------
    list of dict
        ``label``, ``population_share``, ``compound_share``, ``n_near_miss``,
        ``population_near_miss`` (None where unknown), in view order (categories, complete).
    """
    whole = coverage[coverage["area"] == schema.ALL_AREAS].set_index("category")
    rows = []
    labels = {k: f"{c.label.zh} / {c.label.en}" for k, c in profile.categories.items()}
    labels[schema.COMPLETE] = " / ".join(COMPLETE_LABEL)
    for key, label in labels.items():
        if key not in whole.index:
            continue
        row = whole.loc[key]
        rows.append({
            "label": label,
            "population_share": clean_value(row.get("population_share")),
            "compound_share": clean_value(row.get("compound_share")),
            "n_near_miss": clean_value(row.get("n_near_miss"), 0),
            "population_near_miss": clean_value(row.get("population_near_miss"), 0),
        })
    return rows


def sub_district_rows(coverage: pd.DataFrame | None, profile: Profile) -> dict[str, list]:
    """Per sub-district, ``[label, population share, compound share]`` rows for its popup."""
    if coverage is None:
        return {}
    out: dict[str, list] = {}
    labels = {k: f"{c.label.zh} / {c.label.en}" for k, c in profile.categories.items()}
    labels[schema.COMPLETE] = " / ".join(COMPLETE_LABEL)
    for row in coverage[coverage["area"] != schema.ALL_AREAS].itertuples(index=False):
        if row.category in labels:
            out.setdefault(str(row.area), []).append(
                [labels[row.category], clean_value(row.population_share, 4),
                 clean_value(row.compound_share, 4)]
            )
    return out
