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
from ._packed import pack_points, pack_polygons
from .display import COMPLETE_LABEL, category_texts
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


def _column(values: pd.Series, digits: int | None) -> list:
    return [clean_value(v, digits) for v in values]


def _dictionary(values: pd.Series) -> tuple[list[str], list[int]]:
    """Distinct non-empty texts and, per row, the index of its text (-1: none)."""
    texts = ["" if v is None or pd.isna(v) else str(v) for v in values]
    names = sorted({t for t in texts if t})
    index = {name: i for i, name in enumerate(names)}
    return names, [index.get(t, -1) for t in texts]


def _category_data(compounds: pd.DataFrame, key: str) -> dict:
    """One category's columns: distance, minutes, count, and the nearest facility by index."""
    columns = schema.category_columns(key)
    names, nearest = _dictionary(compounds[columns.nearest])
    return {
        "d": _column(compounds[columns.dist_m], 0),
        "t": _column(compounds[columns.minutes], 1),
        "k": _column(compounds[columns.count], 0),
        "f": nearest,
        "fn": names,
    }


def _geometry_data(geometry: gpd.GeoSeries) -> dict:
    """Every compound's point (where its marker goes) and, when any is a polygon, the shapes."""
    points = geometry.where(geometry.geom_type == "Point", geometry.representative_point())
    data = {"points": pack_points(round_coordinates(points).to_numpy())}
    polygonal = geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if polygonal.any():
        shapes = round_coordinates(geometry).to_numpy()
        data["polygons"] = pack_polygons([g if p else None for g, p in zip(
            shapes, polygonal.to_numpy(), strict=True)])
    return data


def compound_data(compounds: gpd.GeoDataFrame, profile: Profile) -> dict:
    """The compounds as columns for ``lcCompounds`` (``_static/compounds.js``).

    Columns rather than one GeoJSON feature each, so that a city's tens of thousands of
    compounds stay a few megabytes: ``g`` geometry (packed points, or polygons), ``i`` id,
    ``n`` name, ``s`` class codes (:func:`compound_classes`), ``h`` households, ``p``
    population, ``a`` access status (index into ``ak``), ``m`` snap distance, ``r`` marker
    radius, ``d`` sub-district (index into ``dn``, -1: none) and ``c``, per category, its
    distance ``d``, minutes ``t``, count ``k`` and nearest facility ``f`` (index into ``fn``).
    """
    n = len(compounds)
    households = _column(compounds[schema.HOUSEHOLDS], 0) if schema.HOUSEHOLDS in compounds \
        else [None] * n
    pph = profile.compounds.persons_per_household
    population = [p if p is not None or h is None else round(h * pph) for p, h in
                  zip(_column(compounds[schema.POPULATION], 0), households, strict=True)]
    access = [str(v) for v in compounds[schema.ACCESS_STATUS]]
    access_keys = sorted(set(access))
    districts = compounds[schema.SUB_DISTRICT] if schema.SUB_DISTRICT in compounds \
        else pd.Series([None] * n)
    district_names, district_index = _dictionary(districts)
    return {
        "g": _geometry_data(compounds.geometry),
        "i": _column(compounds[schema.COMPOUND_ID], None),
        "n": ["" if pd.isna(v) else str(v) for v in compounds[schema.NAME]],
        "s": compound_classes(compounds, profile),
        "h": households,
        "p": population,
        "a": [access_keys.index(v) for v in access],
        "ak": access_keys,
        "m": _column(compounds[schema.SNAP_M], 0) if schema.SNAP_M in compounds else [None] * n,
        "r": [marker_radius(float("nan") if p is None else p) for p in population],
        "d": district_index,
        "dn": district_names,
        "c": [_category_data(compounds, key) for key in profile.categories],
    }


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
    for key, label in category_texts(profile).items():
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
    labels = category_texts(profile)
    for row in coverage[coverage["area"] != schema.ALL_AREAS].itertuples(index=False):
        if row.category in labels:
            out.setdefault(str(row.area), []).append(
                [labels[row.category], clean_value(row.population_share, 4),
                 clean_value(row.compound_share, 4)]
            )
    return out
