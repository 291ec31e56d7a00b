"""Print-ready PNG maps of coverage for documents (matplotlib's Agg canvas, no pyplot state).

One map per category and one for the complete life circle, on an A4 or A3 page (portrait,
landscape, or whichever fits the study area) at 300 dpi: compounds coloured by graded walking
time (within the threshold, near miss, up to 1.5×, 1.5–2×, over 2× the threshold, no facility
reachable, off the network), the category's facilities and walking service area, the street
network, water and sub-districts underneath, a north arrow, a scale bar in metres with the
printed scale, a Chinese-first title with the coverage figures of ``result.coverage`` and a
legend with the count of every class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import schema
from .._atomic import write_atomic
from ..errors import DataError
from ..profile import Profile
from . import map_data
from ._fonts import cjk_family
from ._geo import check_compound_columns, service_area_geometry, to_wgs84_layer
from .labels import COMPLETE_CLASSES, GRADE_CLASSES, category_colour, credits_with_osm
from .map_inputs import MapLayers
from .static_draw import (
    Canvas,
    draw_compounds,
    draw_context,
    draw_facilities,
    draw_service_area,
    draw_study_area,
    draw_sub_districts,
    legend_handles,
    north_arrow,
    scale_bar,
)

#: Paper sizes (width, height) in millimetres, portrait.
PAPER_MM = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
ORIENTATIONS = ("auto", "portrait", "landscape")
#: Resolution of printed maps.
DPI = 300


@dataclass(frozen=True)
class Page:
    """Paper, orientation and resolution of a printed map.

    Attributes
    ----------
    paper : {"A4", "A3"}
    orientation : {"auto", "portrait", "landscape"}
        ``"auto"``: landscape when the study area is clearly wider than tall.
    dpi : int
        Dots per inch (300 for print).
    """

    paper: str = "A4"
    orientation: str = "auto"
    dpi: int = DPI

    def __post_init__(self) -> None:
        if self.paper not in PAPER_MM:
            raise DataError(
                f"paper must be {' or '.join(PAPER_MM)}, optionally with -portrait or "
                f"-landscape (e.g. --paper A3-landscape), not {self.paper!r}"
            )
        if self.orientation not in ORIENTATIONS:
            raise DataError(
                f"paper orientation must be {', '.join(ORIENTATIONS)} (e.g. --paper "
                f"A4-portrait), not {self.orientation!r}"
            )
        if not 50 <= self.dpi <= 1200:
            raise DataError(f"dpi must be between 50 and 1200, not {self.dpi}")

    @classmethod
    def from_text(cls, text: str) -> Page:
        """A page from ``"A4"``, ``"A3"``, ``"A3-landscape"``, ``"A4-portrait"`` (300 dpi)."""
        paper, _, orientation = text.strip().partition("-")
        return cls(paper.upper(), orientation.lower() or "auto")

    def size_mm(self, aspect: float) -> tuple[float, float]:
        """(width, height) in mm for a study area of width/height ``aspect``."""
        short, long = PAPER_MM[self.paper]
        landscape = self.orientation == "landscape" or (
            self.orientation == "auto" and aspect > 1.15
        )
        return (long, short) if landscape else (short, long)


def static_map(
    layers: MapLayers,
    category: str | None,
    path: str | Path,
    *,
    page: Page | None = None,
) -> Path:
    """Draw a print-ready PNG map of one category (or the complete life circle).

    Parameters
    ----------
    layers : MapLayers
        What to draw (:func:`lifecircle.outputs.map_inputs.result_layers` gives a run's);
        the network, water, sub-districts, service areas and coverage table are optional.
    category : str or None
        A category key of the profile, or None for the complete life circle.
    path : str or Path
        Destination ``.png``; written atomically.
    page : Page, optional
        Paper, orientation and dpi (default A4, orientation to fit, 300 dpi).

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
    Chinese text needs a CJK font (e.g. Debian's ``fonts-wqy-microhei``); without one the map
    has English-only labels and a :class:`~lifecircle.errors.LifecircleWarning` says so once.
    """
    canvas = draw_static_map(layers, category, page or Page())
    return write_atomic(path, canvas.save)


def draw_static_map(layers: MapLayers, category: str | None, page: Page) -> Canvas:
    """Draw the page of :func:`static_map` without saving it (its figure is ``.figure``)."""
    profile = layers.profile
    _check_category(profile, category)
    frames = _projected(layers)
    canvas = Canvas.for_page(frames["study_area"], page, cjk_family())
    classes = _classes(frames["compounds"], profile, category)
    draw_context(canvas, layers.network, frames.get("water"), profile.projected_crs)
    area_colour = _area_colour(profile, category)
    draw_service_area(canvas, _area(layers, category), area_colour)
    draw_study_area(canvas, frames["study_area"])
    draw_sub_districts(canvas, frames.get("sub_districts"))
    draw_compounds(canvas, frames["compounds"], classes, _class_colours(category))
    shown = _shown_facilities(frames["facilities"], profile, category)
    draw_facilities(canvas, shown, profile)
    north_arrow(canvas)
    scale_bar(canvas)
    _title(canvas, layers, category)
    canvas.legend(legend_handles(canvas, profile, category, classes, shown, layers, area_colour))
    canvas.footer(credits_with_osm(layers.credits), profile.projected_crs)
    return canvas


def _check_category(profile: Profile, category: str | None) -> None:
    if category is not None and category not in profile.categories:
        raise DataError(
            f"category {category!r} is not in profile {profile.name!r}; "
            f"known: {', '.join(profile.categories)} (or None for the complete life circle)"
        )


def _projected(layers: MapLayers) -> dict[str, gpd.GeoDataFrame]:
    """Every layer in the profile's projected CRS (metres), so the scale bar is true."""
    crs = layers.profile.projected_crs
    compounds = to_wgs84_layer(layers.compounds, "compounds")
    check_compound_columns(compounds, layers.profile)
    frames = {
        "compounds": compounds.to_crs(crs),
        "facilities": to_wgs84_layer(layers.facilities, "facilities").to_crs(crs),
        "study_area": to_wgs84_layer(layers.study_area, "study_area").to_crs(crs),
    }
    if frames["study_area"].empty:
        raise DataError("the study area is empty: nothing to draw")
    for key in ("sub_districts", "water"):
        layer = getattr(layers, key)
        if layer is not None and not layer.empty:
            frames[key] = to_wgs84_layer(layer, key).to_crs(crs)
    return frames


def _classes(compounds: gpd.GeoDataFrame, profile: Profile, category: str | None) -> np.ndarray:
    if category is None:
        return map_data.complete_classes(compounds, profile)
    threshold = profile.categories[category].threshold_m
    return map_data.category_classes(compounds, category, threshold)


def _class_colours(category: str | None) -> dict[str, str]:
    classes = COMPLETE_CLASSES if category is None else GRADE_CLASSES
    return {code: colour for code, (_zh, _en, colour) in classes.items()}


def _area(layers: MapLayers, category: str | None) -> Any:
    return service_area_geometry(
        layers.service_areas, layers.profile, category, layers.profile.projected_crs
    )


def _area_colour(profile: Profile, category: str | None) -> str:
    if category is None:
        return "#2b6cb0"
    return category_colour(list(profile.categories).index(category))


def _shown_facilities(
    facilities: gpd.GeoDataFrame, profile: Profile, category: str | None
) -> gpd.GeoDataFrame:
    """The category's facilities (every required category's for the complete life circle)."""
    if category is None:
        keys = [k for k, c in profile.categories.items() if c.required]
    else:
        keys = [category]
    return facilities[facilities["category"].isin(keys)]


def _title(canvas: Canvas, layers: MapLayers, category: str | None) -> None:
    profile = layers.profile
    title = (profile.title.zh, profile.title.en)
    if profile.sample:
        title = (f"【示例数据】{title[0]}", f"[SAMPLE DATA] {title[1]}")
    if category is None:
        names = "、".join(c.label.zh for c in profile.categories.values() if c.required)
        what = (f"完整生活圈：{names}均在步行范围内",
                "Complete life circle: every required category within its walking threshold")
    else:
        cat = profile.categories[category]
        minutes = cat.threshold_m / profile.walking_speed_m_per_min
        what = (f"{cat.label.zh}：步行 {cat.threshold_m:g} 米（约 {minutes:.0f} 分钟）覆盖",
                f"{cat.label.en}: within {cat.threshold_m:g} m ({minutes:.0f} min) on foot")
    canvas.title([title, what, _coverage_line(layers, category)], sample=profile.sample)


def _coverage_line(layers: MapLayers, category: str | None) -> tuple[str, str]:
    """The whole area's coverage figures, from the run's coverage table."""
    table = layers.coverage
    key = schema.COMPLETE if category is None else category
    if table is None:
        return "", ""
    row = table[(table["area"] == schema.ALL_AREAS) & (table["category"] == key)]
    if row.empty:
        return "", ""
    row = row.iloc[0]
    population, compounds = row.get("population_share"), row.get("compound_share")
    near, near_people = row.get("n_near_miss"), row.get("population_near_miss")
    share = "—" if population is None or pd.isna(population) else f"{100 * population:.1f}%"
    zh = f"居民覆盖率 {share}　小区覆盖率 {100 * compounds:.1f}%"
    en = f"Residents covered {share}, compounds {100 * compounds:.1f}%"
    if near is not None and not pd.isna(near):
        people = "" if near_people is None or pd.isna(near_people) else f"{near_people:,.0f}"
        zh += f"　临界小区 {int(near):,} 个" + (f"（{people} 人）" if people else "")
        en += f"; near misses {int(near):,}" + (f" ({people} residents)" if people else "")
    return zh, en
