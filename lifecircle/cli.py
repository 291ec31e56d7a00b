"""Command line: ``lifecircle run [PROFILE] [--osm-file F] [--out DIR]`` and friends.

Commands call the public API and show progress; they hold no analysis logic of their own.
Every command is wrapped in :func:`handle_errors`: the errors lifecircle raises on purpose
(and operating-system errors such as a full disk) end in one line naming the problem and the
fix, with an exit code per kind (:data:`EXIT_CODES`); Ctrl-C ends with one line too; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from . import __version__, pipeline, planning, starter
from ._progress import Reporter
from .analysis.indicators import IndicatorReport, indicator_report
from .analysis.result import RunResult
from .errors import LifecircleError, OfflineError, OutputError
from .outputs import planning_terminal, terminal
from .outputs.basemaps import resolve_basemap
from .outputs.bundle import output_dir, write_outputs
from .outputs.files import check_output_folder, output_lock
from .outputs.scenario_outputs import write_comparison
from .outputs.siting_outputs import write_siting
from .outputs.static_map import Page
from .profile import Profile, builtin_profiles, load_profile
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

#: Exit codes: 1 bad input or failed analysis, 3 OpenStreetMap unreachable (and the sample not
#: allowed), 4 results not written, 130 interrupted (Ctrl-C).
EXIT_ERROR, EXIT_OFFLINE, EXIT_OUTPUT, EXIT_INTERRUPTED = 1, 3, 4, 130
EXIT_CODES: dict[type[BaseException], int] = {
    OutputError: EXIT_OUTPUT,
    OfflineError: EXIT_OFFLINE,
    LifecircleError: EXIT_ERROR,
    OSError: EXIT_ERROR,
}

_Command = TypeVar("_Command", bound=Callable[..., Any])


def handle_errors(command: _Command) -> _Command:
    """Wrap a command: expected errors and Ctrl-C end in one line and an exit code.

    Use it on every command, below ``@app.command()``. :class:`LifecircleError` and
    :class:`OSError` (a full disk, a permission...) print ``error: <message>`` and exit with
    their code from :data:`EXIT_CODES`; Ctrl-C prints one line and exits with 130; any other
    exception is a bug and shows its traceback.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            _error_line(
                "interrupted (Ctrl-C): ",
                "stopped; every output folder holds either its previous results or a complete "
                "new set, nothing half-written.",
            )
            raise typer.Exit(code=EXIT_INTERRUPTED) from None
        except (LifecircleError, OSError) as exc:
            _error_line("error: ", _one_line(exc))
            code = next(c for kind, c in EXIT_CODES.items() if isinstance(exc, kind))
            raise typer.Exit(code=code) from None

    return wrapper  # type: ignore[return-value]


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, LifecircleError) or not isinstance(exc, OSError):
        return str(exc)
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _error_line(label: str, message: str) -> None:
    # Text, not markup: messages quote data ([brackets] included) verbatim.
    err_console.print(Text.assemble((label, "bold red"), message), soft_wrap=True)


ProfileArg = Annotated[
    str, typer.Argument(help="Built-in profile name or path to a profile YAML file.")
]
OsmFileOpt = Annotated[
    Path | None,
    typer.Option("--osm-file", metavar="FILE", help="Local .osm, .osm.bz2 or .osm.pbf file for the network."),
]
AllowSampleOpt = Annotated[
    bool,
    typer.Option(
        "--allow-sample", metavar="",
        help="When OpenStreetMap is unreachable and nothing is cached, analyse the bundled "
        "sample (into its own folder, labelled SAMPLE) instead of stopping with an error.",
    ),
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", metavar="FOLDER", help="Output folder (default data/processed/<profile>).")
]
OnlineMapOpt = Annotated[
    bool,
    typer.Option(
        "--online-map/--offline-map", metavar="",
        help="HTML maps with background tiles from the internet (default: self-contained maps "
        "that work offline and draw streets and water from the data).",
    ),
]
PaperOpt = Annotated[
    str,
    typer.Option(
        "--paper", metavar="PAPER",
        help="Paper of the PNG maps: A4 or A3, optionally -portrait or -landscape "
        "(default A4, turned to fit the study area; 300 dpi).",
    ),
]
BasemapOpt = Annotated[
    str,
    typer.Option(
        "--basemap", metavar="NAME",
        help="Tiles of --online-map: osm, amap (高德, GCJ-02: layers are shifted to match) or "
        "tianditu (天地图, key in $LIFECIRCLE_TIANDITU_KEY).",
    ),
]


@app.command()
@handle_errors
def run(
    profile: ProfileArg = "changning",
    osm_file: OsmFileOpt = None,
    out: OutOpt = None,
    online_map: OnlineMapOpt = False,
    basemap: BasemapOpt = "osm",
    allow_sample: AllowSampleOpt = False,
) -> None:
    """Compute walking access and coverage for PROFILE and write all outputs."""
    result, _, written = _run_and_write(
        profile, osm_file, out, allow_sample, False, online_map=online_map, basemap=basemap
    )
    print_summary(result)
    _print_written(written, result.profile.sample)


@app.command()
@handle_errors
def report(
    profile: ProfileArg = "changning",
    osm_file: OsmFileOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FOLDER",
            help="Output folder: run outputs and maps go there, the report into its report/ "
            "sub-folder (default data/processed/<profile> and maps/).",
        ),
    ] = None,
    online_map: OnlineMapOpt = False,
    basemap: BasemapOpt = "osm",
    paper: PaperOpt = "A4",
    allow_sample: AllowSampleOpt = False,
) -> None:
    """Run PROFILE and write the planners' indicator report, gap layers and maps."""
    page = Page.from_text(paper)  # a mistyped paper fails before the run, not after
    result, indicators, written = _run_and_write(
        profile, osm_file, out, allow_sample, True, online_map=online_map, basemap=basemap,
        page=page,
    )
    print_summary(result)
    if isinstance(indicators, IndicatorReport):
        print_indicators(indicators)
    _print_written(written, result.profile.sample)


@app.command()
@handle_errors
def batch(
    profile: ProfileArg = "changning",
    areas: Annotated[
        str,
        typer.Option(
            "--areas", metavar="AREAS",
            help="The pieces: 'districts' (the 16 districts of Shanghai, bundled), "
            "'districts:<city>' (e.g. districts:南京市), 'sub_districts' (the profile's) or a "
            "polygon file (GeoJSON, GeoPackage…).",
        ),
    ] = "districts",
    name_field: Annotated[
        str, typer.Option("--name-field", metavar="COLUMN", help="Column naming the areas of a polygon file.")
    ] = "name",
    osm_file: OsmFileOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FOLDER", help="Output folder (default data/processed/<profile>_batch).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", metavar="ADDRESS",
            help="Address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786); default: a "
            "local cluster of this machine.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", metavar="N", min=1, help="Worker processes of the local cluster "
                     "(default: one per CPU)."),
    ] = None,
) -> None:
    """Run PROFILE over many study areas (districts, sub-districts…) as pieces on Dask."""
    from . import batch as batch_module

    result = batch_module.run_batch(
        profile, areas, name_field=name_field, out=out, scheduler=scheduler, workers=workers,
        osm_file=osm_file, progress=console.print,
    )
    written = batch_module.write_batch(result, batch_module.batch_folder(result.profile, out))
    whole = result.coverage[result.coverage["area"] == ALL_AREAS]
    for row in whole.itertuples():
        console.print(f"{row.category:>14}: {row.compound_share:.1%} of compounds covered")
    console.print(
        f"{len(result.compounds):,} compounds in {sum(not p.skipped for p in result.pieces)} "
        f"of {len(result.pieces)} pieces; {result.workers} Dask worker(s); pieces "
        f"{result.timings['pieces']:.1f} s"
    )
    _print_written(written)


def _run_and_write(
    profile: str,
    osm_file: Path | None,
    out: Path | None,
    allow_sample: bool,
    with_report: bool,
    **write_options: Any,
) -> tuple[RunResult, IndicatorReport | bool, list[Path]]:
    """Check the output folder, lock it, run (or the sample), write one whole output set.

    ``write_options`` (``online_map``, ``basemap``...) go to :func:`_write`.
    """
    study = load_profile(profile)
    if write_options.get("online_map"):
        resolve_basemap(write_options.get("basemap"))  # a mistyped basemap fails before the run
    folder = check_output_folder(output_dir(study, out))
    with output_lock(folder):
        result = run_with_fallback(study, osm_file, allow_sample=allow_sample)
        fell_back = result.profile.name != study.name
        if fell_back:
            # The sample never writes into the study's folder: it has its own.
            out = None
        indicators: IndicatorReport | bool = False
        if with_report:
            with Reporter().working("measuring the plan's indicators"):
                indicators = indicator_report(result)
        written = _write(result, out, report=indicators, **write_options)
    if fell_back:
        err_console.print(
            f"[bold yellow]The SAMPLE's outputs went to {escape(str(output_dir(result.profile)))}; "
            f"nothing was written to {escape(str(folder))}.[/]"
        )
    return result, indicators, written


def run_with_fallback(
    profile: str | Path | Profile,
    osm_file: Path | None = None,
    *,
    allow_sample: bool = False,
) -> RunResult:
    """Run a profile; when OpenStreetMap is unreachable, run the bundled sample if allowed.

    Parameters
    ----------
    profile : str, Path or Profile
        Built-in profile name, YAML path or a loaded profile.
    osm_file : Path, optional
        Local OSM file for the network (no fallback when given: the file is the user's choice).
    allow_sample : bool, default False
        Run the sample profile (:data:`SAMPLE_PROFILE`) instead on :class:`OfflineError`,
        saying so on the terminal. The caller must write its outputs to the sample's own
        folder (its ``profile.name`` differs from the study's).

    Returns
    -------
    RunResult
        Of the study, or of the sample (``result.profile.sample`` is True).

    Raises
    ------
    LifecircleError
        Any error of the run; :class:`OfflineError` when the sample is not allowed (its message
        says how to allow it).
    """
    study = profile if isinstance(profile, Profile) else load_profile(profile)
    try:
        return pipeline.run(study, osm_file=osm_file)
    except OfflineError as exc:
        if not allow_sample or osm_file is not None:
            hint = "" if osm_file is not None else (
                " To see a complete labelled run of the bundled sample instead, add "
                "--allow-sample."
            )
            raise OfflineError(f"{exc}{hint}") from exc
        _error_line("offline: ", str(exc))
        err_console.print(
            f"[bold]Analysing the bundled real OpenStreetMap SAMPLE ({SAMPLE_PROFILE}) "
            "instead (--allow-sample), so that you see a complete run. Its outputs are labelled "
            "as a sample, go to the sample's own folder and say nothing about your study area.[/]"
        )
        return pipeline.run(load_profile(SAMPLE_PROFILE))


def _print_written(written: list[Path], sample: bool = False) -> None:
    console.print("\n[bold]Written:[/]")
    for path in written:
        console.print(f"  {escape(str(path))}", highlight=False)
    if sample:
        console.print(
            "\n[bold yellow]These outputs analyse the bundled SAMPLE (示例数据), not your study "
            "area.[/] To analyse your study area offline, run the same command again with "
            "--osm-file extract.osm.pbf: an OpenStreetMap extract that covers it (e.g. from "
            "https://download.geofabrik.de)."
        )


@app.command("profiles")
@handle_errors
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
    page: Page | None = None,
) -> list[Path]:
    """Write the outputs, announcing each step that can take seconds."""
    return _announced(lambda announce: write_outputs(
        result,
        out,
        self_contained_map=not online_map,
        report=report,
        progress=announce,
        basemap=basemap,
        page=page,
    ))


def _announced(write: Callable[[Callable[[str], None]], list[Path]]) -> list[Path]:
    """Run ``write(announce)``, announcing each step that can take seconds."""
    reporter = Reporter()
    reporter.step_start("writing")
    with reporter.steps() as announce:
        return write(announce)


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
        typer.Option("--version", metavar="", callback=_show_version, is_eager=True,
                     help="Show the version and exit."),
    ] = False,
) -> None:
    """lifecircle: 15-minute community life circle (15分钟社区生活圈) coverage."""


@app.command()
@handle_errors
def init(
    name: Annotated[str, typer.Argument(help="Name of the new profile (letters, digits, _ and -).")],
    district: Annotated[
        str | None, typer.Option(metavar="DISTRICT", help="Chinese district, e.g. 长宁区 (resolved offline).")
    ] = None,
    compounds: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Compound (小区) file: CSV, Excel, GeoJSON, GeoPackage …")
    ] = None,
    facility: Annotated[
        list[str] | None,
        typer.Option(metavar="CATEGORY=FILE", help="A facility file as CATEGORY=FILE, e.g. nursery=kindergartens.csv "
                          "(repeat for each category)."),
    ] = None,
    sub_districts: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Sub-district (街道/镇) boundary file.")
    ] = None,
    osm_file: OsmFileOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Profile file to write (default NAME.yaml here).")
    ] = None,
) -> None:
    """Write a commented starter profile for a district and your data files (never overwrites)."""
    path = out or Path(f"{name}.yaml")
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
    typer.Option("--out", metavar="FOLDER", help="The run's output folder (default data/processed/<profile>)."),
]


@app.command()
@handle_errors
def site(
    profile: ProfileArg,
    category: Annotated[str, typer.Argument(help="Category key to site, e.g. nursery.")],
    new: Annotated[
        int | None, typer.Option("--new", metavar="N", help="The best N new sites (most residents newly covered).")
    ] = None,
    share: Annotated[
        float | None,
        typer.Option("--share", metavar="SHARE", help="Fewest new sites reaching this share of residents "
                     "(default: the profile's 'basically full' share, 0.95)."),
    ] = None,
    all_reachable: Annotated[
        bool, typer.Option("--all-reachable", metavar="", help="Fewest new sites covering every compound "
                           "a candidate can reach.")
    ] = False,
    per_sub_district: Annotated[
        bool | None,
        typer.Option("--per-sub-district/--no-per-sub-district", metavar="",
                     help="Also one site in every sub-district without a facility."),
    ] = None,
    sub_districts_only: Annotated[
        bool, typer.Option("--sub-districts-only", metavar="", help="Only one site in every sub-district "
                           "without a facility, covering the most residents.")
    ] = False,
    candidates: Annotated[
        str | None,
        typer.Option("--candidates", metavar="SITES", help="network (points along streets, default), "
                     "street_nodes, or a file of candidate sites."),
    ] = None,
    candidates_crs: Annotated[
        str, typer.Option("--candidates-crs", metavar="CRS", help="Coordinate system of a candidate file.")
    ] = "wgs84",
    spacing: Annotated[
        float | None, typer.Option("--spacing", metavar="METRES", help="Metres between network candidates.")
    ] = None,
    solver: Annotated[
        str | None, typer.Option("--solver", metavar="SOLVER", help="auto (default), exact or greedy.")
    ] = None,
    osm_file: OsmFileOpt = None,
    out: SitingOutOpt = None,
    online_map: OnlineMapOpt = False,
) -> None:
    """Choose new sites for CATEGORY of PROFILE and verify them by recomputing the run."""
    if solver not in (None, "auto", "exact", "greedy"):
        raise typer.BadParameter("auto, exact or greedy", param_hint="--solver")
    target = "all_reachable" if all_reachable else share
    study = load_profile(profile)
    with output_lock(check_output_folder(output_dir(study, out))):
        plan = planning.site(
            study, category, n_sites=new, target_share=target,
            one_per_sub_district=per_sub_district, sub_districts_only=sub_districts_only,
            candidates=candidates, candidates_crs=candidates_crs, spacing_m=spacing,
            solver=solver, osm_file=osm_file,
        )
        written = _announced(lambda say: write_siting(
            plan, out, self_contained_map=not online_map, progress=say))
    planning_terminal.print_siting(plan, console)
    _print_written(written, plan.problem.result.profile.sample)


@app.command()
@handle_errors
def compare(
    profile: ProfileArg,
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    osm_file: OsmFileOpt = None,
    out: SitingOutOpt = None,
    online_map: OnlineMapOpt = False,
) -> None:
    """Apply the what-if SCENARIO to PROFILE and compare coverage per category and sub-district."""
    study = load_profile(profile)
    with output_lock(check_output_folder(output_dir(study, out))):
        comparison = planning.compare(study, scenario, osm_file=osm_file)
        written = _announced(lambda say: write_comparison(
            comparison, out, self_contained_map=not online_map, progress=say))
    planning_terminal.print_comparison(comparison, console)
    _print_written(written, comparison.base.profile.sample)


def main() -> None:  # pragma: no cover - console entry point
    """Entry point for ``python -m lifecircle``."""
    app()
