"""Static PNG coverage maps for documents (matplotlib, no pyplot state)."""

from __future__ import annotations

import functools
import shutil
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import schema, settings
from .._atomic import write_atomic
from ..errors import DataError, LifecircleWarning
from ..profile import Profile
from ._geo import check_compound_columns, marker_radius, service_area_geometry, to_wgs84_layer
from .labels import BOUNDARY_COLOUR, STATUS_COLOURS, STATUS_LABELS, credits_with_osm, minutes_text

# --------------------------------------------------------------------------------------------
# Static map
# --------------------------------------------------------------------------------------------

_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Arial Unicode MS",
)
_cjk_warned = False


@functools.cache
def _cjk_font() -> str | None:
    """Name of an installed font family with Chinese glyphs, or None."""
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in available:
            return family
    # Fonts installed after matplotlib built its cache: ask fontconfig and register the file.
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        listing = subprocess.run(
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted({line.split(":")[0].strip() for line in listing.splitlines() if line.strip()})
    files.sort(key=lambda f: ("Sans" not in f, "Bold" in f, f))  # regular sans first
    for file in files:
        try:
            font_manager.fontManager.addfont(file)
            return font_manager.FontProperties(fname=file).get_name()
        except (OSError, RuntimeError, ValueError):
            continue
    return None


def _text_mode() -> str | None:
    """The CJK font family to use, or None (English-only labels, warned about once)."""
    global _cjk_warned
    family = _cjk_font()
    if family is None and not _cjk_warned:
        _cjk_warned = True
        warnings.warn(
            "no font with Chinese characters found (install fonts-noto-cjk or fonts-wqy-microhei): "
            "static maps use English-only labels",
            LifecircleWarning,
            stacklevel=3,
        )
    return family


def _nice_length(span_m: float) -> float:
    target = span_m / 5
    for length in (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000):
        if length >= target:
            return float(length)
    return 100000.0


def static_map(
    compounds: gpd.GeoDataFrame,
    study_area: gpd.GeoDataFrame,
    profile: Profile,
    category: str | None,
    path: str | Path,
    *,
    service_areas: gpd.GeoDataFrame | None = None,
    sub_districts: gpd.GeoDataFrame | None = None,
    credits: Sequence[str] = (settings.osm_attribution,),
) -> Path:
    """Draw a PNG coverage map of one category (or the complete life circle) for documents.

    Parameters
    ----------
    compounds : geopandas.GeoDataFrame
        As for :func:`coverage_map`.
    study_area : geopandas.GeoDataFrame
        The study-area polygon(s).
    profile : Profile
        Labels, thresholds, projected CRS; a sample profile marks the title "示例数据 / SAMPLE
        DATA".
    category : str or None
        A category key of the profile, or None for the complete life circle.
    path : str or Path
        Destination ``.png``; written atomically.
    service_areas : geopandas.GeoDataFrame, optional
        With ``category``; the category's area is shaded (for the complete life circle: the
        intersection of the required categories' areas).
    sub_districts : geopandas.GeoDataFrame, optional
        Outlined and labelled.
    credits : sequence of str
        Shown in the lower-right corner (the OpenStreetMap credit is added when missing).

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
    Chinese text needs a CJK font (e.g. Debian's ``fonts-noto-cjk``); without one the map has
    English-only labels and a :class:`LifecircleWarning` says so once.
    """
    # The Agg canvas directly, not pyplot: no global backend switch (which would disturb a
    # Jupyter session's inline plots) and no figure left open.
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.transforms import offset_copy

    if category is not None and category not in profile.categories:
        raise DataError(
            f"category {category!r} is not in profile {profile.name!r}; "
            f"known: {', '.join(profile.categories)} (or None for the complete life circle)"
        )
    crs = profile.projected_crs
    compounds = to_wgs84_layer(compounds, "compounds").to_crs(crs)
    check_compound_columns(compounds, profile)
    study_area = to_wgs84_layer(study_area, "study_area").to_crs(crs)
    credits = credits_with_osm(credits)
    cjk = _text_mode()

    def label(zh: str, en: str) -> str:
        return f"{zh} / {en}" if cjk else en

    if category is None:
        column = schema.COMPLETE
        what = label("完整生活圈", "Complete life circle")
    else:
        cat = profile.categories[category]
        column = schema.category_columns(category).covered
        what = (
            f"{label(cat.label.zh, cat.label.en)}: {cat.threshold_m:g} m ≈ "
            f"{minutes_text(cat.threshold_m, profile)} min"
        )
    on_network = (compounds[schema.ACCESS_STATUS] == schema.STATUS_OK).to_numpy()
    covered = compounds[column].fillna(False).astype(bool).to_numpy() & on_network
    states = np.where(~on_network, "x", np.where(covered, "1", "0"))

    rc = {"font.family": [cjk, "DejaVu Sans"] if cjk else ["DejaVu Sans"]}
    west, south, east, north = study_area.total_bounds
    aspect = (north - south) / max(east - west, 1.0)
    with matplotlib.rc_context(rc):
        # 9 inches wide; tall enough for the area plus title and legend below it.
        fig = MplFigure(figsize=(9, float(np.clip(9 * aspect + 2.0, 5, 14))), dpi=150)
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        area = service_area_geometry(service_areas, profile, category, crs)
        if area is not None and not area.is_empty:
            gpd.GeoSeries([area], crs=crs).plot(
                ax=ax, color="#4a90d9", alpha=0.18, edgecolor="#4a90d9", linewidth=0.6
            )
        if sub_districts is not None and not sub_districts.empty:
            subs = to_wgs84_layer(sub_districts, "sub_districts").to_crs(crs)
            subs.boundary.plot(ax=ax, color="#666666", linewidth=0.6)
            if cjk and "name" in subs.columns:
                for name, point in zip(subs["name"], subs.representative_point(), strict=True):
                    ax.annotate(
                        str(name), (point.x, point.y), ha="center", fontsize=7, color="#333333"
                    )
        study_area.boundary.plot(ax=ax, color=BOUNDARY_COLOUR, linewidth=1.2, linestyle="--")
        handles = []
        is_point = compounds.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
        population = pd.to_numeric(compounds["population"], errors="coerce").to_numpy()
        for code in ("x", "0", "1"):  # covered drawn last, on top
            mask = states == code
            colour = STATUS_COLOURS[code]
            zh, en = STATUS_LABELS[code]
            if (mask & ~is_point).any():
                compounds[mask & ~is_point].plot(
                    ax=ax, color=colour, edgecolor=colour, linewidth=0.3, alpha=0.8
                )
            if (mask & is_point).any():
                pts = compounds[mask & is_point]
                sizes = np.array(
                    [marker_radius(p) for p in population[mask & is_point]], dtype=float
                )
                ax.scatter(
                    pts.geometry.x,
                    pts.geometry.y,
                    s=(sizes * 0.9) ** 2,
                    c=colour,
                    edgecolors="white",
                    linewidths=0.3,
                    alpha=0.9,
                    zorder=3,
                )
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="",
                    markerfacecolor=colour,
                    markeredgecolor="white",
                    markersize=8,
                    label=f"{label('小区' + zh, 'compound ' + en)} ({int(mask.sum()):,})",
                )
            )
        if area is not None and not area.is_empty:
            handles.append(
                Patch(
                    facecolor="#4a90d9",
                    alpha=0.3,
                    label=label("步行服务范围", "walking service area"),
                )
            )
        handles.append(
            Line2D(
                [],
                [],
                color=BOUNDARY_COLOUR,
                linestyle="--",
                label=label("研究范围", "study area"),
            )
        )
        # Below the map, clear of the scale bar and credits lines.
        below = offset_copy(ax.transAxes, fig=fig, y=-(8 * len(credits) + 10), units="points")
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.0, 0.0),
            ncol=2,
            fontsize=8,
            frameon=False,
            bbox_transform=below,
        )

        pad = 0.04 * max(east - west, north - south)
        ax.set_xlim(west - pad, east + pad)
        ax.set_ylim(south - pad, north + pad)
        ax.set_aspect("equal")
        ax.set_axis_off()
        _draw_scale_bar(ax, west - pad, south - pad, east - west + 2 * pad, crs)

        title = label(profile.title.zh, profile.title.en) if cjk else profile.title.en
        if profile.sample:
            title = f"{label('示例数据', 'SAMPLE DATA')} — {title}"
        ax.set_title(
            f"{title}\n{what}", fontsize=11, color="#b00020" if profile.sample else "black"
        )
        ax.annotate(
            "\n".join(credits),
            (1.0, 0.0),
            xycoords="axes fraction",
            xytext=(0, -4),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize=6,
            color="#444444",
        )
        return write_atomic(
            path,
            lambda tmp: fig.savefig(tmp, format="png", bbox_inches="tight", pad_inches=0.2),
        )


def _draw_scale_bar(ax: Any, x0: float, y0: float, width_m: float, crs: str) -> None:
    length = _nice_length(width_m)
    x = x0 + 0.03 * width_m
    y = y0 + 0.03 * width_m
    ax.plot([x, x + length], [y, y], color="black", linewidth=3, solid_capstyle="butt", zorder=5)
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.annotate(
        f"{text}  ({crs})",
        (x, y),
        xytext=(0, -4),
        textcoords="offset points",
        va="top",
        fontsize=7,
        zorder=5,
    )
