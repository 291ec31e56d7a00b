"""Charts for documents: sub-districts ranked by their uncovered residents, per category."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch

from .. import schema
from .._atomic import write_atomic
from ..errors import DataError
from ..profile import Profile
from ._fonts import cjk_family, has_bold
from .labels import NEAR_MISS_COLOUR, UNCOVERED_COLOUR

_MM = 1 / 25.4
_COLUMNS = ("area", "category", "label_zh", "label_en", "uncovered_population", "uncovered_share",
            "n_uncovered")


def uncovered_ranking(
    table: pd.DataFrame, profile: Profile, path: str | Path, *, dpi: int = 300
) -> Path:
    """Draw sub-districts ranked by uncovered residents: one panel per category and complete.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`lifecircle.analysis.report_tables.uncovered_population` (``report.
        uncovered_population``): one row per area and category; ``population_near_miss``, when
        present, is drawn as the near-miss part of each bar. The figures are drawn as they are.
    profile : Profile
        Title and sample flag.
    path : str or Path
        Destination ``.png``; written atomically.
    dpi : int
        Resolution.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DataError
        When the table lacks columns or has no sub-district rows.
    """
    figure = ranking_figure(table, profile, dpi=dpi)
    return write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi))


def ranking_figure(table: pd.DataFrame, profile: Profile, *, dpi: int = 300) -> Figure:
    """The figure of :func:`uncovered_ranking`, not saved."""
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"the uncovered-population table lacks the column(s) {missing}")
    areas = table[table["area"] != schema.ALL_AREAS]
    if areas.empty:
        raise DataError("the uncovered-population table has no sub-district rows to rank")
    cjk = cjk_family()
    keys = list(dict.fromkeys(areas["category"]))
    n_areas = areas["area"].nunique()
    columns = min(3, len(keys))
    rows = math.ceil(len(keys) / columns)
    panel = max(6.5 * n_areas, 22)  # mm of bars per panel; 24 mm more for its title and axis
    height = 52 + rows * panel + (rows - 1) * 24
    figure = Figure(figsize=(297 * _MM, height * _MM), dpi=dpi)
    FigureCanvasAgg(figure)
    font = _fonts(cjk)
    for index, key in enumerate(keys):
        ax = figure.add_subplot(rows, columns, index + 1)
        _panel(ax, areas[areas["category"] == key], font, cjk)
    _decorate(figure, profile, font, cjk, areas)
    # Fixed margins (labels are shortened to fit them): the same layout whatever the names.
    figure.subplots_adjust(left=0.1, right=0.96, bottom=26 / height, top=1 - 26 / height,
                           wspace=0.55, hspace=24 / panel)
    return figure


def _fonts(cjk: str | None) -> dict[str, FontProperties]:
    families = [cjk, "DejaVu Sans"] if cjk else ["DejaVu Sans"]
    bold = "bold" if has_bold(cjk) else "normal"
    return {size: FontProperties(family=families, size=points,
                                 weight=bold if weight == "bold" else weight)
            for size, points, weight in (("title", 13, "bold"), ("panel", 10, "bold"),
                                         ("text", 7.5, "normal"))}


def _label(cjk: str | None, zh: str, en: str) -> str:
    return f"{zh} / {en}" if cjk else en


def _panel(ax, rows: pd.DataFrame, font: dict, cjk: str | None) -> None:
    """One category: sub-districts ranked, most uncovered residents on top."""
    counted = rows["uncovered_population"].notna().any()
    value = rows["uncovered_population"] if counted else rows["n_uncovered"].astype(float)
    order = np.argsort(-value.fillna(0).to_numpy(), kind="stable")
    rows, value = rows.iloc[order], value.iloc[order].fillna(0).to_numpy()
    near = rows["population_near_miss"].fillna(0).to_numpy() if (
        counted and "population_near_miss" in rows) else np.zeros(len(rows))
    near = np.minimum(near, value)
    y = np.arange(len(rows))[::-1]
    ax.barh(y, value - near, color=UNCOVERED_COLOUR, height=0.7)
    ax.barh(y, near, left=value - near, color=NEAR_MISS_COLOUR, height=0.7)
    ax.set_yticks(y, [_short(str(a)) for a in rows["area"]], fontproperties=font["text"])
    share = rows["uncovered_share"].to_numpy()
    for yy, total, fraction in zip(y, value, share, strict=True):
        text = f"{total:,.0f}" + ("" if pd.isna(fraction) else f" ({fraction:.0%})")
        ax.text(total, yy, " " + text, va="center", ha="left", fontproperties=font["text"])
    first = rows.iloc[0]
    ax.set_title(_short(_label(cjk, str(first["label_zh"]), str(first["label_en"])), 44),
                 fontproperties=font["panel"], loc="left")
    ax.set_xlim(0, max(value.max(), 1) * 1.3)
    unit = _label(cjk, "未覆盖居民", "uncovered residents") if counted else _label(
        cjk, "未覆盖小区", "uncovered compounds")
    ax.set_xlabel(unit, fontproperties=font["text"])
    ax.tick_params(axis="x", labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _short(name: str, limit: int = 16) -> str:
    """A sub-district name short enough for an axis label."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _decorate(figure: Figure, profile: Profile, font: dict, cjk: str | None,
              areas: pd.DataFrame) -> None:
    title = _label(cjk, f"{profile.title.zh}：各街道/镇未覆盖居民排名",
                   f"{profile.title.en}: uncovered residents by sub-district")
    if profile.sample:
        title = _label(cjk, "【示例数据】", "[SAMPLE DATA]") + " " + title
    figure.suptitle(title, x=0.02, ha="left", fontproperties=font["title"],
                    color="#b00020" if profile.sample else "#111111")
    handles = [Patch(color=UNCOVERED_COLOUR, label=_label(cjk, "未覆盖", "not covered")),
               Patch(color=NEAR_MISS_COLOUR,
                     label=_label(cjk, "其中临界（略超阈值）", "of which near misses (just beyond)"))]
    figure.legend(handles=handles, loc="lower left", ncol=2, frameon=False, prop=font["text"],
                  bbox_to_anchor=(0.02, 0.0))
    n = areas["area"].nunique()
    figure.text(0.98, 0.01, _label(cjk, f"{n} 个街道/镇", f"{n} sub-districts"), ha="right",
                va="bottom", fontproperties=font["text"], color="#555555")
