"""Command line: ``lifecircle run [PROFILE] [--osm-file F] [--out DIR]`` and friends.

Commands call the public API and show progress; they hold no analysis logic of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from . import pipeline, planning
from .analysis.indicators import IndicatorReport, indicator_report
from .analysis.result import RunResult
from .analysis.scenarios import ScenarioComparison
from .analysis.siting import SitingPlan
from .errors import LifecircleError, OfflineError
from .outputs.bundle import write_outputs
from .outputs.scenario_outputs import write_comparison
from .outputs.siting_outputs import write_siting
from .profile import builtin_profiles, load_profile
from .schema import ALL_AREAS

app = typer.Typer(
    help="lifecircle: 15-minute community life circle (15分钟社区生活圈) coverage.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

#: Built-in profile analysed when OpenStreetMap is unreachable and nothing is cached.
SAMPLE_PROFILE = "sample_helsinki"

ProfileArg = Annotated[
    str, typer.Argument(help="Built-in profile name or path to a profile YAML file.")
]
OsmFileOpt = Annotated[
    Path | None,
    typer.Option("--osm-file", help="Local .osm, .osm.bz2 or .osm.pbf file for the network."),
]
SampleFallbackOpt = Annotated[
    bool, typer.Option(help="When OpenStreetMap is unreachable, analyse the bundled sample.")
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Output folder (default data/processed/<profile>).")
]
OnlineMapOpt = Annotated[
    bool,
    typer.Option(
        "--online-map/--offline-map",
        help="HTML maps that load Leaflet and OpenStreetMap tiles from the internet "
        "(default: self-contained maps that work offline).",
    ),
]


@app.command()
def run(
    profile: ProfileArg = "changning",
    osm_file: OsmFileOpt = None,
    out: OutOpt = None,
    online_map: OnlineMapOpt = False,
    sample_fallback: SampleFallbackOpt = True,
) -> None:
    """Compute walking access and coverage for PROFILE and write all outputs."""
    try:
        result = run_with_fallback(profile, osm_file, sample_fallback=sample_fallback)
        written = write_outputs(result, out, self_contained_map=not online_map)
    except LifecircleError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    print_summary(result)
    _print_written(written, result.profile.sample)


@app.command()
def report(
    profile: ProfileArg = "changning",
    osm_file: OsmFileOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output folder: run outputs go there, the report into its report/ sub-folder "
            "(default data/processed/<profile> and maps/).",
        ),
    ] = None,
    online_map: OnlineMapOpt = False,
    sample_fallback: SampleFallbackOpt = True,
) -> None:
    """Run PROFILE and write the planners' indicator report, gap layers and maps."""
    try:
        result = run_with_fallback(profile, osm_file, sample_fallback=sample_fallback)
        indicators = indicator_report(result)
        written = write_outputs(
            result, out, self_contained_map=not online_map, report=indicators
        )
    except LifecircleError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    print_summary(result)
    print_indicators(indicators)
    _print_written(written, result.profile.sample)


def run_with_fallback(
    profile: str | Path, osm_file: Path | None = None, *, sample_fallback: bool = True
) -> RunResult:
    """Run a profile; when OpenStreetMap is unreachable, run the bundled sample instead.

    Parameters
    ----------
    profile : str or Path
        Built-in profile name or YAML path.
    osm_file : Path, optional
        Local OSM file for the network (no fallback when given: the file is the user's choice).
    sample_fallback : bool
        Fall back to the sample profile (:data:`SAMPLE_PROFILE`) on :class:`OfflineError`,
        saying so on the terminal.

    Returns
    -------
    RunResult

    Raises
    ------
    LifecircleError
        Any error of the run (including OfflineError when there is no fallback).
    """
    study = load_profile(profile)
    try:
        return pipeline.run(study, osm_file=osm_file)
    except OfflineError as exc:
        if not sample_fallback or osm_file is not None:
            raise
        err_console.print(f"[bold red]offline:[/] {exc}")
        err_console.print(
            f"[bold]Analysing the bundled real OpenStreetMap SAMPLE ({SAMPLE_PROFILE}) "
            "instead, so that you see a complete run. Its outputs are labelled as a sample "
            "and say nothing about your study area.[/]"
        )
        return pipeline.run(load_profile(SAMPLE_PROFILE))


def _print_written(written: list[Path], sample: bool = False) -> None:
    console.print("\n[bold]Written:[/]")
    for path in written:
        console.print(f"  {path}")
    if sample:
        console.print(
            "\n[bold yellow]These outputs analyse the bundled SAMPLE (示例数据), not your study "
            "area.[/] To analyse it offline, give a local OpenStreetMap extract: "
            "lifecircle run PROFILE --osm-file extract.osm.pbf"
        )


@app.command("profiles")
def list_profiles() -> None:
    """List the built-in profiles."""
    for name in builtin_profiles():
        study = load_profile(name)
        console.print(f"{name:18s} {study.title.zh} / {study.title.en}")


def print_summary(result: RunResult) -> None:
    """Print the whole-area coverage and the targets as terminal tables."""
    profile = result.profile
    title = f"{profile.title.zh} / {profile.title.en}"
    if profile.sample:
        title = f"SAMPLE DATA 示例数据 — {title}"
    table = Table(title=title, title_justify="left")
    for column in ("类别 Category", "阈值 Threshold", "小区 Compounds", "人口 Population"):
        table.add_column(column, justify="right" if column != "类别 Category" else "left")
    overall = result.coverage[result.coverage["area"] == ALL_AREAS]
    for row in overall.itertuples():
        if row.category == "complete":
            label, threshold = "完整生活圈 Complete life circle", "all required"
        else:
            category = profile.categories[row.category]
            label = str(category.label)
            threshold = f"{category.threshold_m:.0f} m / {category.threshold_m / profile.walking_speed_m_per_min:.0f} min"
        table.add_row(
            label,
            threshold,
            f"{row.compound_share:.1%} ({row.n_covered:,}/{row.n_compounds:,})",
            "n/a" if pd.isna(row.population_share) else f"{row.population_share:.1%}",
        )
    console.print(table)
    flagged = result.compounds["access_status"].value_counts()
    console.print(f"access status of compounds: {flagged.to_dict()}")
    if not result.targets.empty:
        targets = Table(title="目标 Targets", title_justify="left")
        for column in ("目标 Target", "要求 Required", "实测 Measured", "结果 Result"):
            targets.add_column(column)
        for row in result.targets.itertuples():
            met = "n/a" if pd.isna(row.met) else ("达标 met" if row.met else f"未达标 short by {row.shortfall:.1%}")
            targets.add_row(
                row.label_zh or row.category, f"{row.target:.0%}", f"{row.measured:.1%}", met
            )
        console.print(targets)
    for credit in result.credits:
        console.print(f"[dim]{credit}[/]")


def print_indicators(indicators: IndicatorReport) -> None:
    """Print the plan-indicator table of an indicator report, its notes numbered below it."""
    title = "规划指标 Plan indicators"
    if indicators.sample:
        title = f"SAMPLE DATA 示例数据 — {title}"
    table = Table(title=title, title_justify="left")
    for column in ("#", "指标 Indicator", "目标 Target", "实测 Measured", "结果 Result"):
        table.add_column(column, overflow="fold")
    for number, row in enumerate(indicators.indicators.itertuples(), start=1):
        if pd.isna(row.met):
            result = "[yellow]n/a[/]"
        else:
            result = "[green]达标 met[/]" if row.met else "[red]未达标 not met[/]"
        table.add_row(
            str(number),
            f"{row.indicator_zh}\n{row.indicator_en}",
            row.target,
            row.measured or "—",
            result,
        )
    console.print(table)
    for number, note in enumerate(indicators.indicators["note"], start=1):
        console.print(f"[dim]{number}. {note}[/]", highlight=False)


SitingOutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="The run's output folder (default data/processed/<profile>)."),
]


@app.command()
def site(
    profile: ProfileArg,
    category: Annotated[str, typer.Argument(help="Category key to site, e.g. nursery.")],
    new: Annotated[
        int | None, typer.Option("--new", help="The best N new sites (most residents newly covered).")
    ] = None,
    share: Annotated[
        float | None,
        typer.Option("--share", help="Fewest new sites reaching this share of residents "
                     "(default: the profile's 'basically full' share, 0.95)."),
    ] = None,
    all_reachable: Annotated[
        bool, typer.Option("--all-reachable", help="Fewest new sites covering every compound "
                           "a candidate can reach.")
    ] = False,
    per_sub_district: Annotated[
        bool | None,
        typer.Option("--per-sub-district/--no-per-sub-district",
                     help="Also one site in every sub-district without a facility."),
    ] = None,
    sub_districts_only: Annotated[
        bool, typer.Option("--sub-districts-only", help="Only one site in every sub-district "
                           "without a facility, covering the most residents.")
    ] = False,
    candidates: Annotated[
        str | None,
        typer.Option("--candidates", help="network (points along streets, default), "
                     "street_nodes, or a file of candidate sites."),
    ] = None,
    candidates_crs: Annotated[
        str, typer.Option("--candidates-crs", help="Coordinate system of a candidate file.")
    ] = "wgs84",
    spacing: Annotated[
        float | None, typer.Option("--spacing", help="Metres between network candidates.")
    ] = None,
    solver: Annotated[
        str | None, typer.Option("--solver", help="auto (default), exact or greedy.")
    ] = None,
    osm_file: OsmFileOpt = None,
    out: SitingOutOpt = None,
    online_map: OnlineMapOpt = False,
) -> None:
    """Choose new sites for CATEGORY of PROFILE and verify them by recomputing the run."""
    if solver not in (None, "auto", "exact", "greedy"):
        err_console.print("[bold red]error:[/] --solver must be auto, exact or greedy")
        raise typer.Exit(code=2)
    target = "all_reachable" if all_reachable else share
    try:
        plan = planning.site(
            load_profile(profile), category, n_sites=new, target_share=target,
            one_per_sub_district=per_sub_district, sub_districts_only=sub_districts_only,
            candidates=candidates, candidates_crs=candidates_crs, spacing_m=spacing,
            solver=solver, osm_file=osm_file,
        )
        written = write_siting(plan, out, self_contained_map=not online_map)
    except LifecircleError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    print_siting(plan)
    _print_written(written, plan.problem.result.profile.sample)


@app.command()
def compare(
    profile: ProfileArg,
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    osm_file: OsmFileOpt = None,
    out: SitingOutOpt = None,
    online_map: OnlineMapOpt = False,
) -> None:
    """Apply the what-if SCENARIO to PROFILE and compare coverage per category and sub-district."""
    try:
        comparison = planning.compare(load_profile(profile), scenario, osm_file=osm_file)
        written = write_comparison(comparison, out, self_contained_map=not online_map)
    except LifecircleError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    print_comparison(comparison)
    _print_written(written, comparison.base.profile.sample)


def print_siting(plan: SitingPlan) -> None:
    """Print the ranked sites, the coverage before and after, the solver and any messages."""
    profile = plan.problem.result.profile
    label = profile.categories[plan.category].label
    table = Table(title=f"新增{label.zh}选址 / New {label.en} sites", title_justify="left")
    for column in ("#", "站点 Site", "道路 Street", "街道 Sub-district", "新增覆盖 New",
                   "累计 Cumulative"):
        table.add_column(column)
    for row in plan.sites.itertuples():
        new = f"{row.new_compounds:,} compounds"
        if not pd.isna(row.new_residents):
            new += f", {row.new_residents:,.0f} residents"
        table.add_row(str(row.rank), f"{row.name}\n{row.lon:.6f}, {row.lat:.6f}", row.street or "—",
                      row.sub_district or "—", new, f"{row.cumulative_share:.1%}")
    console.print(table)
    measure = "residents" if plan.problem.measure == "population_share" else "compounds"
    console.print(
        f"coverage ({measure}): {plan.share_before:.1%} → {plan.share_after:.1%}, verified by "
        f"recomputing the run with the sites added", highlight=False,
    )
    console.print(f"solver: {plan.solver}", highlight=False)
    for message in plan.messages:
        colour = "yellow" if plan.feasible else "bold yellow"
        console.print(f"[{colour}]note:[/] {message}", highlight=False)


def print_comparison(comparison: ScenarioComparison) -> None:
    """Print the whole-area change per category."""
    table = Table(title=f"情景 Scenario: {comparison.name}", title_justify="left")
    for column in ("类别 Category", "现状 Base", "情景 Scenario", "变化 Change", "新增覆盖 Gain",
                   "失去覆盖 Loss"):
        table.add_column(column)
    overall = comparison.by_area[comparison.by_area["area"] == ALL_AREAS]
    measure = "population_share" if overall["population_share_base"].notna().any() else "compound_share"
    for row in overall.to_dict("records"):
        table.add_row(row["category"], f"{row[measure + '_base']:.1%}",
                      f"{row[measure + '_scenario']:.1%}",
                      f"{row[measure + '_change'] * 100:+.1f} pts", f"{row['n_gained']:,}",
                      f"{row['n_lost']:,}")
    console.print(table)
    for note in comparison.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def main() -> None:  # pragma: no cover - console entry point
    """Entry point for ``python -m lifecircle``."""
    app()
