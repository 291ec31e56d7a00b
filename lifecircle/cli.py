"""Command line: ``lifecircle run [PROFILE] [--osm-file F] [--out DIR]`` and friends.

Commands call the public API and show progress; they hold no analysis logic of their own.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from . import __version__, pipeline, planning, starter
from ._progress import Reporter
from .analysis.indicators import IndicatorReport, indicator_report
from .analysis.result import RunResult
from .errors import LifecircleError, OfflineError, OutputError
from .outputs import planning_terminal, terminal
from .outputs.bundle import write_outputs
from .outputs.scenario_outputs import write_comparison
from .outputs.siting_outputs import write_siting
from .profile import builtin_profiles, load_profile

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
        help="HTML maps with background tiles from the internet (default: self-contained maps "
        "that work offline and draw streets and water from the data).",
    ),
]
BasemapOpt = Annotated[
    str,
    typer.Option(
        "--basemap",
        help="Tiles of --online-map: osm, amap (高德, GCJ-02: layers are shifted to match) or "
        "tianditu (天地图, key in $LIFECIRCLE_TIANDITU_KEY).",
    ),
]


@app.command()
def run(
    profile: ProfileArg = "changning",
    osm_file: OsmFileOpt = None,
    out: OutOpt = None,
    online_map: OnlineMapOpt = False,
    basemap: BasemapOpt = "osm",
    sample_fallback: SampleFallbackOpt = True,
) -> None:
    """Compute walking access and coverage for PROFILE and write all outputs."""
    try:
        result = run_with_fallback(profile, osm_file, sample_fallback=sample_fallback)
        written = _write(result, out, online_map, basemap=basemap)
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
    basemap: BasemapOpt = "osm",
    sample_fallback: SampleFallbackOpt = True,
) -> None:
    """Run PROFILE and write the planners' indicator report, gap layers and maps."""
    try:
        result = run_with_fallback(profile, osm_file, sample_fallback=sample_fallback)
        with Reporter().working("measuring the plan's indicators"):
            indicators = indicator_report(result)
        written = _write(result, out, online_map, indicators, basemap=basemap)
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
        console.print(f"  {escape(str(path))}", highlight=False)
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
        console.print(escape(f"{name:18s} {study.title.zh} / {study.title.en}"), highlight=False)


def print_summary(result: RunResult, out: Console | None = None) -> None:
    """Print the whole-area coverage (with near misses), network status and targets."""
    terminal.print_summary(result, out or console)


def print_indicators(indicators: IndicatorReport, out: Console | None = None) -> None:
    """Print the plan-indicator table, its notes and the caveats that can turn a verdict."""
    terminal.print_indicators(indicators, out or console)


def _write(
    result: RunResult,
    out: Path | None,
    online_map: bool,
    report: IndicatorReport | bool = False,
    *,
    basemap: str = "osm",
) -> list[Path]:
    """Write the outputs, announcing each step that can take seconds."""
    reporter = Reporter()
    reporter.step_start("writing")
    with reporter.steps() as announce:
        written = write_outputs(
            result,
            out,
            self_contained_map=not online_map,
            report=report,
            progress=announce,
            basemap=basemap,
        )
    return written


def package_version() -> str:
    """The installed version of lifecircle."""
    try:
        return metadata.version("lifecircle")
    except metadata.PackageNotFoundError:
        return __version__


def _show_version(value: bool) -> None:
    if value:
        console.print(f"lifecircle {package_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True,
                     help="Show the version and exit."),
    ] = False,
) -> None:
    """lifecircle: 15-minute community life circle (15分钟社区生活圈) coverage."""


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="Name of the new profile (letters, digits, _ and -).")],
    district: Annotated[
        str | None, typer.Option(help="Chinese district, e.g. 长宁区 (resolved offline).")
    ] = None,
    compounds: Annotated[
        Path | None, typer.Option(help="Compound (小区) file: CSV, Excel, GeoJSON, GeoPackage …")
    ] = None,
    facility: Annotated[
        list[str] | None,
        typer.Option(help="A facility file as CATEGORY=FILE, e.g. nursery=kindergartens.csv "
                          "(repeat for each category)."),
    ] = None,
    sub_districts: Annotated[
        Path | None, typer.Option(help="Sub-district (街道/镇) boundary file.")
    ] = None,
    osm_file: OsmFileOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Profile file to write (default NAME.yaml here).")
    ] = None,
) -> None:
    """Write a commented starter profile for a district and your data files (never overwrites)."""
    path = out or Path(f"{name}.yaml")
    try:
        if path.exists():
            raise OutputError(
                f"{path} already exists: lifecircle init never overwrites a file. Choose another "
                "name or --out, or edit the existing profile"
            )
        text, hints = starter.profile_text(
            name, path.parent, district=district, compounds=compounds,
            facilities=_facility_files(facility or []), sub_districts=sub_districts,
            osm_file=osm_file,
        )
        _write_new(path, text)
    except LifecircleError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(code=1) from None
    for layer in hints:
        crs = f"{layer.crs} ({'' if layer.crs_certain else 'CHECK: '}{layer.crs_reason})"
        columns = f"x={layer.x}, y={layer.y}, " if layer.x or layer.y else ""
        console.print(escape(f"{layer.path.name}: {layer.rows:,} rows; {columns}crs {crs}"),
                      highlight=False)
    console.print(f"[bold]Written:[/] {escape(str(path))}")
    console.print(escape(f"Check the lines marked CHECK, then: lifecircle run {path}"))


def _facility_files(values: list[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for value in values:
        key, sep, file = value.partition("=")
        if not sep or not key.strip() or not file.strip():
            raise typer.BadParameter(f"{value!r}: give CATEGORY=FILE, e.g. nursery=kindergartens.csv",
                                     param_hint="--facility")
        files[key.strip()] = Path(file.strip())
    return files


def _write_new(path: Path, text: str) -> None:
    """Write ``text`` to a new file, atomically, failing if the file appeared meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        os.link(tmp, path)  # unlike a rename, a link never replaces an existing file
    except FileExistsError:
        raise OutputError(f"{path} already exists: lifecircle init never overwrites a file") from None
    finally:
        tmp.unlink(missing_ok=True)


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
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(code=1) from None
    planning_terminal.print_siting(plan, console)
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
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(code=1) from None
    planning_terminal.print_comparison(comparison, console)
    _print_written(written, comparison.base.profile.sample)


def main() -> None:  # pragma: no cover - console entry point
    """Entry point for ``python -m lifecircle``."""
    app()
