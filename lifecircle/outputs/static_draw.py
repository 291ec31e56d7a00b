"""The drawing steps of a printed map: page layout, layers, north arrow, scale bar, legend.

Layers are drawn straight onto matplotlib collections and patches in projected metres (not with
GeoDataFrame.plot, which redraws the whole figure after every layer): a 300 dpi A4 page of a
district renders in about a second.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Polygon
from matplotlib.path import Path as MplPath

from .. import schema
from ..analysis.network import WalkNetwork
from ..profile import Profile
from ._fonts import has_bold
from ._geo import marker_radius
from .labels import (
    BOUNDARY_COLOUR,
    COMPLETE_CLASSES,
    GRADE_CLASSES,
    STREET_COLOUR,
    WATER_COLOUR,
    category_colour,
)
from .map_context import edge_ranks, split_water
from .map_data import category_ranges

if TYPE_CHECKING:
    from .map_inputs import MapLayers
    from .static_map import Page

MM_PER_INCH = 25.4
_MARGIN, _TITLE, _FOOTER = 10.0, 33.0, 7.0  # mm
_LEGEND_BELOW, _LEGEND_BESIDE = 44.0, 80.0  # mm: portrait legend height, landscape width
_HALO = [patheffects.withStroke(linewidth=2.2, foreground="white")]


@dataclass
class Canvas:
    """A page being drawn: the figure, the map and legend axes, and the map's extent."""

    figure: Figure
    ax: Any
    legend_ax: Any
    page: Page
    cjk: str | None
    extent: tuple[float, float, float, float]
    map_width_mm: float

    @classmethod
    def for_page(cls, study_area: gpd.GeoDataFrame, page: Page, cjk: str | None) -> Canvas:
        """Lay out the page for a study area (in metres): title, map frame, legend, footer."""
        west, south, east, north = study_area.total_bounds
        width_mm, height_mm = page.size_mm((east - west) / max(north - south, 1.0))
        figure = Figure(figsize=(width_mm / MM_PER_INCH, height_mm / MM_PER_INCH), dpi=page.dpi)
        FigureCanvasAgg(figure)
        landscape = width_mm > height_mm
        box, legend_box = _boxes(width_mm, height_mm, landscape)
        ax = figure.add_axes(_fraction(box, width_mm, height_mm))
        legend_ax = figure.add_axes(_fraction(legend_box, width_mm, height_mm))
        legend_ax.set_axis_off()
        extent = _fitted_extent((west, south, east, north), box[2] / box[3])
        ax.set_xlim(extent[0], extent[2])
        ax.set_ylim(extent[1], extent[3])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_linewidth(0.8)
        return cls(figure, ax, legend_ax, page, cjk, extent, box[2])

    @property
    def scale_denominator(self) -> float:
        """The printed scale's denominator (1:n): metres of ground per metre of paper."""
        return (self.extent[2] - self.extent[0]) * 1000 / self.map_width_mm

    @property
    def paper_scale(self) -> float:
        """Symbol size factor: 1 on A4, larger on A3."""
        return 1.0 if self.page.paper == "A4" else 1.35

    def font(self, size: float, weight: str = "normal") -> FontProperties:
        """Font properties with Chinese glyphs when a CJK font is installed."""
        families = [self.cjk, "DejaVu Sans"] if self.cjk else ["DejaVu Sans"]
        weight = weight if has_bold(self.cjk) else "normal"
        return FontProperties(family=families, size=size * self.paper_scale, weight=weight)

    def text(self, zh: str, en: str) -> str:
        """Chinese first and English, or English only without a CJK font."""
        return f"{zh} / {en}" if self.cjk else en

    def title(self, lines: Sequence[tuple[str, str]], *, sample: bool) -> None:
        """The title block above the map: (Chinese, English) pairs, each on its own lines.

        The first pair is the title (Chinese large, English below it), then the subject and the
        coverage figures; without a CJK font only the English lines are drawn.
        """
        top = 1 - _MARGIN / (self.figure.get_figheight() * MM_PER_INCH)
        left = _MARGIN / (self.figure.get_figwidth() * MM_PER_INCH)
        colour = "#b00020" if sample else "#111111"
        styles = [((14, "bold", colour), (9.5, "normal", colour)),
                  ((10.5, "bold", "#222222"), (9, "normal", "#333333")),
                  ((8.5, "normal", "#333333"), (8, "normal", "#444444"))]
        offset = 0.0
        for (zh, en), pair in zip(lines, styles, strict=False):
            for text, (size, weight, tint) in zip((zh, en) if self.cjk else ("", en), pair,
                                                  strict=True):
                if text:
                    self.figure.text(left, top - offset, text, va="top", ha="left", color=tint,
                                     fontproperties=self.font(size, weight), wrap=True)
                    offset += (size + 3.5) * self.paper_scale / 72 / self.figure.get_figheight()

    def legend(self, handles: Sequence[Any]) -> None:
        """The legend in its box (below the map, or beside it in landscape)."""
        landscape = self.figure.get_figwidth() > self.figure.get_figheight()
        self.legend_ax.legend(
            handles=handles, loc="upper left", frameon=False, ncol=1 if landscape else 2,
            prop=self.font(7.2), handlelength=1.6, borderaxespad=0.0, labelspacing=0.45,
            columnspacing=1.6,
        )

    def footer(self, credits: Sequence[str], crs: str) -> None:
        """Credits, coordinate system and the printed scale along the bottom of the page."""
        left = _MARGIN / (self.figure.get_figwidth() * MM_PER_INCH)
        bottom = (_MARGIN - 4) / (self.figure.get_figheight() * MM_PER_INCH)
        label = self.text("数据来源", "Data")
        text = f"{label}: " + " · ".join(credits) + f"   |   {crs}   |   lifecircle"
        self.figure.text(left, bottom, text, va="bottom", ha="left", color="#555555",
                         fontproperties=self.font(5.5), wrap=True)

    def save(self, path: str | Path) -> None:
        """Write the page as PNG at the page's resolution."""
        self.figure.savefig(path, format="png", dpi=self.page.dpi)


def _boxes(width: float, height: float, landscape: bool) -> tuple[tuple, tuple]:
    """Map and legend boxes (left, bottom, width, height) in mm."""
    bottom = _MARGIN + _FOOTER
    if landscape:
        map_width = width - 2 * _MARGIN - _LEGEND_BESIDE - 6
        map_box = (_MARGIN, bottom, map_width, height - bottom - _MARGIN - _TITLE)
        legend = (_MARGIN + map_width + 6, bottom, _LEGEND_BESIDE, map_box[3])
        return map_box, legend
    map_bottom = bottom + _LEGEND_BELOW
    map_box = (_MARGIN, map_bottom, width - 2 * _MARGIN, height - map_bottom - _MARGIN - _TITLE)
    return map_box, (_MARGIN, bottom, width - 2 * _MARGIN, _LEGEND_BELOW - 4)


def _fraction(box: tuple, width: float, height: float) -> list[float]:
    return [box[0] / width, box[1] / height, box[2] / width, box[3] / height]


def _fitted_extent(bounds: tuple, aspect: float, pad: float = 0.04) -> tuple:
    """The study area's bounds, padded, widened to the frame's aspect (width / height)."""
    west, south, east, north = bounds
    margin = pad * max(east - west, north - south)
    west, south, east, north = west - margin, south - margin, east + margin, north + margin
    cx, cy, w, h = (west + east) / 2, (south + north) / 2, east - west, north - south
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------


def polygon_path(geometry: shapely.Geometry) -> MplPath | None:
    """A matplotlib path of a (multi)polygon, holes included; None when empty."""
    if geometry is None or geometry.is_empty:
        return None
    paths = []
    for part in shapely.get_parts(geometry):
        if isinstance(part, shapely.Polygon) and not part.is_empty:
            for ring in [part.exterior, *part.interiors]:
                paths.append(MplPath(np.asarray(ring.coords)[:, :2], closed=True))
    return MplPath.make_compound_path(*paths) if paths else None


def _line_segments(geometries: np.ndarray) -> list[np.ndarray]:
    parts = shapely.get_parts(geometries)
    counts = shapely.get_num_coordinates(parts)
    coordinates = shapely.get_coordinates(parts)
    return np.split(coordinates, np.cumsum(counts)[:-1]) if len(coordinates) else []


def draw_context(
    canvas: Canvas, network: WalkNetwork | None, water: gpd.GeoDataFrame | None, crs: str
) -> None:
    """Water and the street network (in ``crs``), light, under everything."""
    if water is not None:
        areas, lines = split_water(water)
        for geometry in areas:
            path = polygon_path(geometry)
            if path is not None:
                canvas.ax.add_patch(PathPatch(path, facecolor=WATER_COLOUR, edgecolor="none",
                                              zorder=1))
        if not lines.empty:
            canvas.ax.add_collection(LineCollection(
                _line_segments(lines.to_numpy()), colors=WATER_COLOUR, linewidths=1.4, zorder=1))
    if network is None or not len(network.edges):
        return
    lines = network.edges.geometry.to_crs(crs).to_numpy()
    major = edge_ranks(network) <= 3
    # Wider lines on large-scale (zoomed-in) maps, where a hairline street would vanish.
    widen = float(np.clip(20_000 / canvas.scale_denominator, 1.0, 3.0))
    for mask, width, colour in ((~major, 0.35 * widen, "#d6d2c8"),
                                (major, 0.75 * widen, STREET_COLOUR)):
        segments = _line_segments(lines[mask])
        canvas.ax.add_collection(LineCollection(segments, colors=colour, linewidths=width,
                                                capstyle="round", zorder=2))


def draw_service_area(canvas: Canvas, area: shapely.Geometry | None, colour: str) -> None:
    """The walking service area, lightly shaded."""
    path = polygon_path(area)
    if path is not None:
        canvas.ax.add_patch(PathPatch(path, facecolor=colour, alpha=0.16, edgecolor="none",
                                      zorder=3))
        canvas.ax.add_patch(PathPatch(path, facecolor="none", edgecolor=colour, alpha=0.6,
                                      linewidth=0.5, zorder=3))


def draw_study_area(canvas: Canvas, study_area: gpd.GeoDataFrame) -> None:
    """Everything outside the study area faded; its outline dashed on top."""
    west, south, east, north = canvas.extent
    area = shapely.union_all(study_area.geometry.to_numpy())
    outside = polygon_path(shapely.box(west, south, east, north).difference(area))
    if outside is not None:
        canvas.ax.add_patch(PathPatch(outside, facecolor="white", alpha=0.55, edgecolor="none",
                                      zorder=4))
    outline = polygon_path(area)
    if outline is not None:
        canvas.ax.add_patch(PathPatch(outline, facecolor="none", edgecolor=BOUNDARY_COLOUR,
                                      linewidth=1.3, linestyle=(0, (5, 3)), zorder=8))


def draw_sub_districts(canvas: Canvas, sub_districts: gpd.GeoDataFrame | None) -> None:
    """Sub-district outlines and names."""
    if sub_districts is None:
        return
    canvas.ax.add_collection(LineCollection(
        _line_segments(sub_districts.boundary.to_numpy()), colors="#666666", linewidths=0.6,
        zorder=5))
    if "name" not in sub_districts.columns:
        return
    for name, point in zip(sub_districts["name"], sub_districts.representative_point(), strict=True):
        # Without a CJK font, Chinese names would print as empty boxes: leave them out.
        if not pd.isna(name) and (canvas.cjk or str(name).isascii()):
            canvas.ax.text(point.x, point.y, str(name), ha="center", va="center", color="#333333",
                           fontproperties=canvas.font(7, "bold"), path_effects=_HALO, zorder=9,
                           clip_on=True)


def marker_areas(population: pd.Series, scale: float) -> np.ndarray:
    """Marker areas (points²) of compounds on paper: the web map's radii, scaled for print."""
    values = pd.to_numeric(population, errors="coerce").to_numpy(float)
    return (np.array([marker_radius(p) for p in values]) * 0.55 * scale) ** 2


#: Drawing order of classes: covered at the bottom, near misses (the cheapest gaps) on top.
_ORDER = "1xuMcbman"


def draw_compounds(
    canvas: Canvas, compounds: gpd.GeoDataFrame, classes: np.ndarray, colours: dict[str, str]
) -> None:
    """Compounds as circles sized by population (polygons as shapes), coloured by class."""
    points = compounds.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
    centres = compounds.geometry.representative_point()
    sizes = marker_areas(compounds[schema.POPULATION], canvas.paper_scale)
    for code in sorted(set(classes), key=lambda c: _ORDER.index(c) if c in _ORDER else 0):
        mask = classes == code
        shapes = [polygon_path(g) for g in compounds.geometry[mask & ~points]]
        patches = [PathPatch(p) for p in shapes if p is not None]
        if patches:
            canvas.ax.add_collection(PatchCollection(
                patches, facecolor=colours[code], edgecolor=colours[code], alpha=0.75,
                linewidth=0.3, zorder=6))
        if (mask & points).any():
            canvas.ax.scatter(centres.x[mask & points], centres.y[mask & points],
                              s=sizes[mask & points], c=colours[code], edgecolors="#2b2b2b",
                              linewidths=0.25, zorder=6)


def draw_facilities(canvas: Canvas, facilities: gpd.GeoDataFrame, profile: Profile) -> None:
    """Facilities as diamonds in their category's colour (white: not on the network)."""
    size = (3.4 * canvas.paper_scale) ** 2
    for index, key in enumerate(profile.categories):
        rows = facilities[facilities["category"] == key]
        if rows.empty:
            continue
        ok = (rows["access_status"] == schema.STATUS_OK).to_numpy() if "access_status" in rows \
            else np.ones(len(rows), bool)
        faces = np.where(ok, category_colour(index), "#ffffff")
        canvas.ax.scatter(rows.geometry.x, rows.geometry.y, s=size, marker="D", c=list(faces),
                          edgecolors="#1a1a1a", linewidths=0.45, zorder=7)


# --------------------------------------------------------------------------------------------
# Furniture
# --------------------------------------------------------------------------------------------


def north_arrow(canvas: Canvas) -> None:
    """A north arrow in the map's upper right corner (projected north: grid north in UTM)."""
    x, y, height = 0.955, 0.885, 0.07
    aspect = canvas.ax.bbox.height / canvas.ax.bbox.width
    half = height * 0.32 * aspect
    transform = canvas.ax.transAxes
    for side, face in ((-1, "#111111"), (1, "#ffffff")):
        canvas.ax.add_patch(Polygon(
            [(x, y + height), (x + side * half, y), (x, y + height * 0.28)], closed=True,
            facecolor=face, edgecolor="#111111", linewidth=0.7, transform=transform, zorder=10))
    canvas.ax.text(x, y + height + 0.008, canvas.text("北", "N") if canvas.cjk else "N",
                   ha="center", va="bottom", transform=transform,
                   fontproperties=canvas.font(9, "bold"), path_effects=_HALO, zorder=10)


def nice_length(span_m: float) -> float:
    """A round scale-bar length near a fifth of the map's width."""
    target = span_m / 5
    for length in (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000):
        if length >= target:
            return float(length)
    return 100000.0


def scale_bar(canvas: Canvas) -> None:
    """A scale bar in metres (two halves, alternating) and the printed scale, lower left."""
    west, south, east, north = canvas.extent
    length = nice_length(east - west)
    x0, y0 = west + 0.04 * (east - west), south + 0.04 * (north - south)
    height = 0.009 * (north - south)
    for i, face in enumerate(("#111111", "#ffffff", "#111111", "#ffffff")):
        canvas.ax.add_patch(Polygon(
            [(x0 + i * length / 4, y0), (x0 + (i + 1) * length / 4, y0),
             (x0 + (i + 1) * length / 4, y0 + height), (x0 + i * length / 4, y0 + height)],
            facecolor=face, edgecolor="#111111", linewidth=0.6, zorder=10))
    font = canvas.font(6.5)
    for fraction in (0.0, 0.5, 1.0):
        label = f"{length * fraction:,.0f}" + (" m" if fraction == 1.0 else "")
        canvas.ax.text(x0 + fraction * length, y0 + height * 1.6, label, ha="center", va="bottom",
                       fontproperties=font, path_effects=_HALO, zorder=10)
    rounded = float(f"{canvas.scale_denominator:.2g}")
    canvas.ax.text(x0, y0 - height * 0.8, canvas.text(f"比例尺 1:{rounded:,.0f}",
                                                      f"scale 1:{rounded:,.0f}"),
                   ha="left", va="top", fontproperties=font, path_effects=_HALO, zorder=10)


def _class_rows(category: str | None, profile: Profile) -> list[tuple[str, str, str]]:
    """(code, label, colour) of the compound classes of a map."""
    if category is None:
        return [(c, f"{zh} / {en}", colour) for c, (zh, en, colour) in COMPLETE_CLASSES.items()]
    ranges = category_ranges(profile.categories[category].threshold_m, profile)
    return [(c, f"{zh} / {en}{ranges.get(c, '')}", colour)
            for c, (zh, en, colour) in GRADE_CLASSES.items()]


def legend_handles(
    canvas: Canvas,
    profile: Profile,
    category: str | None,
    classes: np.ndarray,
    facilities: gpd.GeoDataFrame,
    layers: MapLayers,
    area_colour: str,
) -> list[Any]:
    """Legend entries: compound classes with their counts, facilities, areas and lines."""
    plain: Callable[[str], str] = (lambda s: s) if canvas.cjk else (lambda s: s.split(" / ")[-1])
    counts = pd.Series(classes).value_counts()
    handles: list[Any] = [Patch(color="none", label=canvas.text("小区（圆点大小表示人口）",
                                                               "Compounds (size: residents)"))]
    for code, label, colour in _class_rows(category, profile):
        if not counts.get(code, 0) and code not in "1n":
            continue  # classes no compound is in are left out of the legend
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=5.5,
                              markerfacecolor=colour, markeredgecolor="#2b2b2b",
                              markeredgewidth=0.3, label=f"{plain(label)} ({counts.get(code, 0):,})"))
    for index, (key, item) in enumerate(profile.categories.items()):
        if (facilities["category"] == key).any():
            handles.append(Line2D([], [], marker="D", linestyle="", markersize=4.5,
                                  markerfacecolor=category_colour(index), markeredgecolor="#1a1a1a",
                                  label=canvas.text(f"{item.label.zh}（设施）",
                                                    f"{item.label.en} (facility)")))
    if "access_status" in facilities and (facilities["access_status"] != schema.STATUS_OK).any():
        handles.append(Line2D([], [], marker="D", linestyle="", markersize=4.5,
                              markerfacecolor="#ffffff", markeredgecolor="#1a1a1a",
                              label=canvas.text("设施未接入路网", "facility not on the network")))
    if layers.service_areas is not None and not layers.service_areas.empty:
        handles.append(Patch(facecolor=area_colour, alpha=0.3,
                             label=canvas.text("步行服务范围", "walking service area")))
    if layers.network is not None:
        handles.append(Line2D([], [], color=STREET_COLOUR, linewidth=1.2,
                              label=canvas.text("道路（步行路网）", "streets (walking network)")))
    if layers.water is not None and not layers.water.empty:
        handles.append(Patch(facecolor=WATER_COLOUR, label=canvas.text("水系", "water")))
    if layers.sub_districts is not None and not layers.sub_districts.empty:
        handles.append(Line2D([], [], color="#666666", linewidth=0.8,
                              label=canvas.text("街道/镇界", "sub-district boundary")))
    handles.append(Line2D([], [], color=BOUNDARY_COLOUR, linestyle=(0, (5, 3)), linewidth=1.2,
                          label=canvas.text("研究范围", "study area")))
    return handles
