"""Writing a siting plan: ranked sites, coverage curve, layers, map and the verified recomputation.

Everything is built in memory first and then staged and moved into place together
(:func:`lifecircle.outputs.files.staged_outputs`): a failure leaves earlier files as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from .. import schema, settings
from ..analysis._siting_tables import SITE_COLUMNS
from ..analysis.siting import SitingPlan
from ..profile import Profile
from . import files, web_map
from ._fonts import cjk_family
from ._geo import clean_value
from ._overlays import point_layer
from ._safe import markdown_text
from .bundle import Progress, output_dir, write_outputs
from .display import rounded
from .html import save_map
from .labels import credits_with_osm

#: Colour of new sites on maps and curves (not green/red/grey, which mean coverage states).
SITE_COLOUR = "#c51b7d"
MODEL_LABELS = {
    "max_coverage": ("最大覆盖（新增K处）", "maximal covering (best K new sites)"),
    "min_sites": ("最少站点（达到目标覆盖率）", "fewest sites for a target share"),
    "sub_districts": ("每个街道/镇至少一处", "one site in every sub-district"),
}


def siting_dir(profile: Profile, category: str, out: str | Path | None = None) -> Path:
    """``<out>/siting/<category>``; ``out`` defaults to the run's folder (:func:`output_dir`)."""
    return output_dir(profile, out) / "siting" / category


def siting_summary(plan: SitingPlan) -> dict[str, Any]:
    """The plan's facts as plain data: model, solver, bound, shares, verification, inputs."""
    problem, result = plan.problem, plan.problem.result
    profile = result.profile
    category = profile.categories[plan.category]
    after = plan.after.coverage if plan.after is not None else None
    recomputed = float("nan")
    if after is not None:
        overall = after[after["area"] == schema.ALL_AREAS].set_index("category")
        recomputed = float(overall.loc[plan.category, problem.measure])
    solution, greedy = plan.solution, plan.greedy
    zh, en = MODEL_LABELS[plan.model]
    return {
        "profile": profile.name,
        "category": plan.category,
        "category_label": str(category.label),
        "threshold_m": category.threshold_m,
        "model": plan.model,
        "model_label": f"{zh} / {en}",
        "measure": problem.measure,
        "share_before": plan.share_before,
        "share_after": plan.share_after,
        "share_recomputed": recomputed,
        "verified": plan.after is not None and abs(recomputed - plan.share_after) <= 1e-9,
        "target_share": plan.target_share,
        "feasible": plan.feasible,
        "messages": plan.messages,
        "n_new_sites": len(plan.sites),
        "newly_covered_compounds": int(plan.newly_covered.sum()),
        "newly_covered_weight": float(problem.weights[plan.newly_covered].sum()),
        "solver": plan.solver,
        "solution": _solution_facts(solution),
        "greedy": _solution_facts(greedy),
        "candidates": {
            "used": len(problem.candidates),
            "sources": problem.candidates["source"].value_counts().to_dict(),
            "left_out": problem.dropped_candidates,
        },
        "coverage_matrix": {
            "compounds": int(problem.cover.shape[0]),
            "candidates": int(problem.cover.shape[1]),
            "entries": int(problem.cover.nnz),
            "seconds": round(problem.seconds, 3),
        },
        "unreachable_compounds": len(plan.infeasible),
        "lacking_sub_districts": list(problem.lacking_sub_districts),
        "credits": credits_with_osm(result.credits),
        "sample": profile.sample,
    }


def _solution_facts(solution: Any) -> dict[str, Any]:
    return {
        "method": solution.method,
        "status": solution.status,
        "n_sites": solution.n_sites,
        "covered_weight": solution.covered_weight,
        "bound": solution.bound,
        "bound_source": solution.bound_source,
        "seconds": round(solution.seconds, 3),
    }


def write_siting(
    plan: SitingPlan,
    out: str | Path | None = None,
    *,
    self_contained_map: bool = True,
    progress: Progress | None = None,
) -> list[Path]:
    """Write the run's output set with a siting plan's files in ``<out>/siting/<category>/``.

    The run's outputs are written again with the plan, as one whole set
    (:func:`lifecircle.write_outputs`), so that the plan never sits beside another run's files.

    Parameters
    ----------
    plan : SitingPlan
        From :func:`lifecircle.site` (verified: ``plan.after`` is set).
    out : str or Path, optional
        The run's output folder (default ``data/processed/<profile>``).
    self_contained_map : bool, default True
        Write HTML maps that work with no internet.
    progress : callable, optional
        Called with a short description before each slow step.

    Returns
    -------
    list of Path
        The run's files, then ``sites.csv`` (ranked: rank, WGS84 lon/lat, projected x/y,
        sub-district, residents newly covered, cumulative share), ``coverage_curve.csv`` and
        ``.png``, ``infeasible.csv`` (compounds no candidate reaches, with the reason),
        ``coverage_after.csv`` and ``targets_after.csv`` (the run recomputed with the sites),
        ``siting.gpkg`` (sites, candidates, newly covered and unreachable compounds, study
        area), ``sites_map.html``, ``siting.md`` and ``summary.json``.
    """
    result = plan.problem.result
    folder = siting_dir(result.profile, plan.category, out)
    summary = siting_summary(plan)
    fmap = sites_map(plan, tiles=not self_contained_map)
    layers = siting_layers(plan)
    tables = {
        "sites.csv": pd.DataFrame(plan.sites[SITE_COLUMNS]),
        "coverage_curve.csv": plan.curve,
        "infeasible.csv": plan.infeasible,
        "coverage_after.csv": plan.after.coverage,
        "targets_after.csv": plan.after.targets,
    }
    writers = {name: table_writer(table) for name, table in tables.items()}
    writers |= _other_files(plan, fmap, layers, summary, self_contained_map)
    return write_outputs(
        result, out, self_contained_map=self_contained_map, progress=progress,
        extra=lambda stage: write_files(stage, folder, writers),
    )


def write_files(
    stage: Callable[[str | Path], Path], folder: Path, writers: dict[str, Callable[[Path], Any]]
) -> list[Path]:
    """Write files of an output set: ``writers[name](path)`` for each ``folder / name``."""
    for name, write in writers.items():
        write(stage(folder / name))
    return [folder / name for name in writers]


def table_writer(table: pd.DataFrame) -> Callable[[Path], Any]:
    return lambda path: files.write_table(path, rounded(table))


def _other_files(
    plan: SitingPlan, fmap: folium.Map, layers: dict, summary: dict, self_contained: bool
) -> dict[str, Callable[[Path], Any]]:
    return {
        "coverage_curve.png": lambda path: curve_png(plan, path),
        "siting.gpkg": lambda path: files.write_geopackage_layers(path, layers),
        "sites_map.html": lambda path: save_map(fmap, path, self_contained=self_contained),
        "siting.md": lambda path: files.write_text(path, siting_markdown(plan, summary)),
        "summary.json": lambda path: files.write_json(path, {**summary, "versions": files.package_versions()}),
    }


def siting_layers(plan: SitingPlan) -> dict[str, gpd.GeoDataFrame]:
    """GeoPackage layers (EPSG:4326): sites, candidates, newly covered and unreachable compounds."""
    problem = plan.problem
    compounds = plan.after.compounds.to_crs(settings.exchange_crs)
    columns = schema.category_columns(plan.category)
    keep = [schema.COMPOUND_ID, schema.NAME, schema.POPULATION, schema.SUB_DISTRICT,
            columns.dist_m, columns.minutes, "geometry"]
    candidates = problem.candidates.drop(columns=["edge", "component"]).to_crs(settings.exchange_crs)
    candidates["would_cover_compounds"] = np.asarray(problem.cover.sum(axis=0)).ravel()
    candidates["would_cover_weight"] = problem.cover.T @ problem.weights
    unreachable = compounds.set_index(schema.COMPOUND_ID).loc[
        plan.infeasible[schema.COMPOUND_ID], ["geometry"]
    ].reset_index()
    unreachable = gpd.GeoDataFrame(
        unreachable.merge(plan.infeasible, on=schema.COMPOUND_ID), crs=settings.exchange_crs
    )
    layers = {
        "sites": plan.sites,
        "candidates": candidates,
        "newly_covered": compounds.loc[plan.newly_covered, keep],
        "unreachable": unreachable,
        "study_area": plan.problem.result.study_area,
    }
    return layers


def sites_map(plan: SitingPlan, *, tiles: bool = False) -> folium.Map:
    """The coverage map with the sites added, plus layers of the ranked sites and newly covered.

    The map of the run recomputed with the sites: compounds are coloured by their coverage
    *with* the new sites (which are among the facilities); the new sites are also drawn as
    large magenta dots with their rank, and the compounds they newly cover are ringed.
    """
    after = plan.after
    profile = after.profile
    fmap = web_map.coverage_map(after, tiles=tiles)
    label = profile.categories[plan.category].label
    newly = after.compounds.loc[plan.newly_covered]
    point_layer(
        fmap, newly, [{"name": str(n)} for n in newly[schema.NAME]],
        f"新增覆盖小区 / newly covered compounds ({len(newly):,})",
        folium.CircleMarker(radius=7, fill=False, color=SITE_COLOUR, weight=2),
    )
    sites = plan.sites
    texts = [
        {
            "site": f"#{row.rank} {row.name}",
            "street": row.street or "—",
            "sub_district": row.sub_district or "—",
            "new": f"{row.new_compounds:,} / {clean_value(row.new_residents, 0) or '—'}",
            "share": f"{row.cumulative_share:.1%}",
        }
        for row in sites.itertuples()
    ]
    point_layer(
        fmap, sites, texts, f"新增{label.zh} / new {label.en} sites ({len(sites)})",
        folium.CircleMarker(radius=9, fill=True, fill_opacity=1.0, color="#222222", weight=1.5,
                            fill_color=SITE_COLOUR),
        popup={
            "site": "站点 / Site", "street": "道路 / Street", "sub_district": "街道 / Sub-district",
            "new": "新增覆盖小区/人口 / Newly covered compounds / residents",
            "share": "累计覆盖率 / Cumulative coverage",
        },
    )
    return fmap


def curve_png(plan: SitingPlan, path: str | Path) -> Path:
    """Draw the coverage curve (coverage against the number of new sites) as a PNG."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curve = plan.curve
    cjk = cjk_family()

    def label(zh: str, en: str) -> str:
        return f"{zh} / {en}" if cjk else en

    category = plan.problem.result.profile.categories[plan.category]
    measure = label("人口覆盖率", "share of residents") if plan.problem.measure == "population_share" \
        else label("小区覆盖率", "share of compounds")
    rc = {"font.family": [cjk, "DejaVu Sans"] if cjk else ["DejaVu Sans"]}
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(8, 5), dpi=150)
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        greedy = curve.dropna(subset=["covered_share_greedy"])
        ax.plot(greedy["n_new_sites"], greedy["covered_share_greedy"], color="#1f78b4",
                label=label("贪心顺序", "greedy order"))
        ax.plot(greedy["n_new_sites"], greedy["covered_share_upper_bound"], color="#1f78b4",
                linestyle=":", label=label("上界（不可能更好）", "upper bound (no set does better)"))
        chosen = curve.dropna(subset=["covered_share_chosen"])
        ax.scatter(chosen["n_new_sites"], chosen["covered_share_chosen"], color=SITE_COLOUR,
                   zorder=5, label=label("所选方案", "chosen plan") + f" ({plan.solution.method})")
        if plan.target_share is not None:
            ax.axhline(plan.target_share, color="#555555", linestyle="--", linewidth=0.8,
                       label=label("目标", "target") + f" {plan.target_share:.0%}")
        ax.set_xlabel(label("新增站点数", "number of new sites"))
        ax.set_ylabel(measure)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_title(f"{label(category.label.zh, category.label.en)} ({category.threshold_m:g} m)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        credits = "; ".join(credits_with_osm(plan.problem.result.credits))
        fig.text(0.99, 0.01, credits, ha="right", va="bottom", fontsize=5, color="#444444")
        return files.write_atomic(path, lambda tmp: fig.savefig(tmp, format="png"))


def siting_markdown(plan: SitingPlan, summary: dict[str, Any]) -> str:
    """A short bilingual Markdown report of the plan (text from data and profiles escaped)."""
    unit = "residents" if plan.problem.measure == "population_share" else "compounds"
    lines = [
        f"# 新增设施选址 / Siting new facilities: {markdown_text(summary['category_label'])}",
        "",
        f"- **模型 / Model:** {summary['model_label']}",
        f"- **步行阈值 / Walking threshold:** {summary['threshold_m']:g} m",
        f"- **覆盖率 / Coverage:** {plan.share_before:.1%} → {plan.share_after:.1%} "
        f"(recomputed: {summary['share_recomputed']:.1%}; {unit})",
        f"- **新增站点 / New sites:** {len(plan.sites)}",
        f"- **求解器 / Solver:** {plan.solver}",
    ]
    if plan.target_share is not None:
        lines.append(f"- **目标 / Target:** {plan.target_share:.1%}")
    lines += [f"- **注意 / Note:** {markdown_text(message)}" for message in plan.messages]
    shown = pd.DataFrame(plan.sites[SITE_COLUMNS]).copy()
    shown["cumulative_share"] = [f"{v:.1%}" for v in shown["cumulative_share"]]
    shown = shown.map(lambda v: markdown_text(v) if isinstance(v, str) else v)
    lines += ["", "## 选址排序 / Ranked sites", "",
              shown.to_markdown(index=False) if not shown.empty else "(none / 无)", ""]
    lines += ["## 数据来源 / Credits", ""]
    lines += [f"- {markdown_text(c)}" for c in summary["credits"]] + [""]
    return "\n".join(lines)

