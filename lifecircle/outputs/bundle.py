"""Writing a run's whole output set: data files, report, gap layers and maps.

Every in-memory product is built first; the files are then written as one set
(:func:`lifecircle.outputs.files.output_set`): into a fresh folder that replaces the previous
set in one atomic switch, so a failure or a kill never leaves a half-written or mixed set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import settings
from ..analysis import gaps
from ..analysis.indicators import PROFILE_TARGET, IndicatorReport, indicator_report
from ..analysis.result import RunResult
from ..errors import DataError
from ..profile import Profile
from ..schema import COMPLETE
from . import charts, display, files, html, static_map, web_map
from .basemaps import Basemap, resolve_basemap
from .excel import write_workbook
from .map_context import MapContext, map_context
from .map_inputs import result_layers
from .markdown import report_markdown

#: Announces a step of the writing ("building the gap map", "writing report.xlsx").
Progress = Callable[[str], None]

#: Writes more files into a run's output set: ``extra(stage) -> paths`` (see write_outputs).
ExtraFiles = Callable[[Callable[[str | Path], Path]], list[Path]]

#: Markdown and workbook files written by :func:`write_report` (besides one CSV per table).
REPORT_MARKDOWN = "report.md"
REPORT_WORKBOOK = "report.xlsx"


def output_dir(profile: Profile, out: str | Path | None = None) -> Path:
    """Folder for a profile's outputs: ``out`` or ``data/processed/<profile>``."""
    return Path(out) if out is not None else settings.data_processed_folder / profile.name


def _maps_dir(out: str | Path | None, maps_dir: str | Path | None, default: Path) -> Path:
    # Maps follow an explicit --out (one folder to hand on), else go to maps/.
    if maps_dir is not None:
        return Path(maps_dir)
    return default if out is not None else settings.maps_folder


def _check_own_run(result: RunResult) -> None:
    """Refuse a recomputed result: as the run's output set it would replace the study's."""
    if result.recomputed:
        raise DataError(
            "this result is a recomputation (a scenario, or a run with new sites), not the study's "
            "own run: written as the run's output set it would replace the study's results. "
            "Write the comparison or plan of the run itself (put all changes in one scenario file)"
        )


def write_outputs(
    result: RunResult,
    out: str | Path | None = None,
    *,
    maps_dir: str | Path | None = None,
    self_contained_map: bool = True,
    report: IndicatorReport | bool = False,
    progress: Progress | None = None,
    basemap: str | Basemap | None = None,
    page: static_map.Page | None = None,
    extra: ExtraFiles | None = None,
) -> list[Path]:
    """Save a run: compound and facility layers, coverage tables, map, manifest (and report).

    Every product is built in memory first; then all files are staged and moved into place
    together, so a failure writes nothing and leaves earlier outputs as they were.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    out : str or Path, optional
        Output folder (default ``data/processed/<profile>``). When given, the maps go there
        too unless ``maps_dir`` says otherwise.
    maps_dir : str or Path, optional
        Folder for the HTML and PNG maps (default ``maps/``).
    self_contained_map : bool, default True
        Write HTML maps that work with no internet (Leaflet inlined, no background tiles,
        streets and water drawn from the data); False adds background tiles, which load from
        the internet when viewed.
    report : IndicatorReport or bool, default False
        Also write the indicator report, gap layers, gap map and static maps (see
        :func:`write_report_bundle`) into ``<out>/report``: True measures it here, an
        :class:`IndicatorReport` of ``result`` is used as it is.
    progress : callable, optional
        Called with a short description before each step that can take seconds (building a
        map, service areas, writing each file), e.g. a :class:`lifecircle._progress.Reporter`
        step announcer.
    basemap : str or Basemap, optional
        The tiles of an online map (``self_contained_map=False``): ``"osm"`` (default),
        ``"amap"`` (GCJ-02: layers are shifted to match), ``"tianditu"`` or a
        :class:`~lifecircle.outputs.basemaps.Basemap`.
    page : static_map.Page, optional
        Paper, orientation and resolution of the PNG maps (default A4, fitted, 300 dpi).
    extra : callable, optional
        ``extra(stage) -> list of Path``: writes more files of the same set (e.g. a siting plan
        under ``siting/``) through ``stage`` (see :func:`lifecircle.outputs.files.output_set`).

    Returns
    -------
    list of Path
        The files written, the manifest last among the run files.
    """
    say = progress or _silent
    _check_own_run(result)
    folder = output_dir(result.profile, out)
    map_folder = _maps_dir(out, maps_dir, folder)
    files.check_output_folder(folder)
    say("building the interactive map")
    maps = _MapOptions.of(result, self_contained_map, basemap, page)
    run_files = _run_products(result, folder, map_folder, maps)
    report_products = None
    if report is not False:
        if not isinstance(report, IndicatorReport):
            say("measuring the plan's indicators")
        measured = report if isinstance(report, IndicatorReport) else indicator_report(result)
        report_products = _report_products(
            result, measured, folder / "report", map_folder, maps, say, set_root=folder
        )
    with _output_set(result, folder, map_folder) as stage:
        stage = _announcing(stage, say)
        written = _write_run_products(run_files, stage)
        if report_products is not None:
            written += _write_report_products(
                report_products, stage, run_map=run_files["paths"]["map"]
            )
        if extra is not None:
            written += extra(stage)
    return written


@contextmanager
def _output_set(
    result: RunResult | None, folder: Path, map_folder: Path, *, with_run_files: bool = True
) -> Iterator[Callable[[str | Path], Path]]:
    """One whole output set, its files stamped with the inputs' time (reproducible)."""
    inputs = list(result.inputs.values()) if result is not None else []
    log = {"profile": result.profile.name, "timings_s": result.timings} if result else None
    # Products made from the same run (a report, other siting plans) stay in the new set.
    keep = "manifest.json" if result is not None and with_run_files else None
    with (
        files.output_set(folder, maps_dir=map_folder, log=log, keep_if_unchanged=keep) as stage,
        files.output_timestamp(files.reproducible_timestamp(inputs)),
    ):
        yield stage


@dataclass(frozen=True)
class _MapOptions:
    """How a run's maps are drawn; the context (streets, water) is packed once for all."""

    basemap: Basemap | None
    context: MapContext
    page: static_map.Page

    @classmethod
    def of(
        cls,
        result: RunResult,
        offline: bool,
        basemap: str | Basemap | None,
        page: static_map.Page | None = None,
    ) -> _MapOptions:
        chosen = None if offline else resolve_basemap(basemap or True)
        gcj02 = chosen is not None and chosen.gcj02
        context = map_context(result.network, result.water, gcj02=gcj02)
        return cls(chosen, context, page or static_map.Page())


def _silent(message: str) -> None:
    """No progress display."""


def _announcing(stage: Callable[[str | Path], Path], say: Progress) -> Callable[[str | Path], Path]:
    """``stage`` that announces each file as it is about to be written."""

    def announced(final: str | Path) -> Path:
        say(f"writing {Path(final).name}")
        return stage(final)

    return announced


def _run_products(result: RunResult, folder: Path, map_folder: Path, maps: _MapOptions) -> dict:
    profile = result.profile
    compounds = result.compounds.to_crs(settings.exchange_crs)
    fmap = web_map.coverage_map(result, view="coverage", tiles=maps.basemap, context=maps.context)
    layers = {"compounds": compounds, "facilities": result.facilities, "study_area": result.study_area}
    if result.sub_districts is not None:
        layers["sub_districts"] = result.sub_districts
    paths = {
        "compounds": folder / "compounds.parquet",
        "gpkg": folder / f"{profile.name}.gpkg",
        "facilities": folder / "facilities.parquet",
        "coverage": folder / "coverage.csv",
        "targets": folder / "targets.csv",
        "map": map_folder / f"{profile.name}.html",
        "manifest": folder / "manifest.json",
    }
    manifest = files.run_manifest(
        profile.model_dump(mode="json"),
        result.inputs,
        None,
        [_in_set(path, folder, map_folder) for path in paths.values()],
        base_dir=profile.base_dir,
        extra={
            "sample": profile.sample,
            "credits": result.credits,
            "counts": _counts(result),
            "warnings": result.notes,
        },
    )
    return {
        "paths": paths,
        "compounds": compounds,
        "layers": layers,
        "result": result,
        "map": fmap,
        "self_contained": maps.basemap is None,
        "manifest": manifest,
    }


def _in_set(path: Path, folder: Path, map_folder: Path) -> Path:
    """Where a file lies inside the output set (maps outside ``folder`` go to ``maps/``)."""
    if map_folder != folder and path.parent == map_folder:
        return Path("maps") / path.name
    return path.relative_to(folder)


def _counts(result: RunResult) -> dict:
    return {
        "compounds": len(result.compounds),
        "compounds_by_status": result.compounds["access_status"].value_counts().to_dict(),
        "facilities": result.facilities["category"].value_counts().to_dict(),
        "network_nodes": result.network.n_nodes,
        "network_edges": len(result.network.edges),
    }


def _write_run_products(products: dict, stage: Callable[[str | Path], Path]) -> list[Path]:
    paths, result = products["paths"], products["result"]
    files.write_geo(stage(paths["compounds"]), products["compounds"])
    files.write_geopackage_layers(stage(paths["gpkg"]), products["layers"])
    files.write_geo(stage(paths["facilities"]), result.facilities)
    labels = display.category_labels(result.profile)
    files.write_table(stage(paths["coverage"]), display.coverage_csv(result.coverage, labels))
    source = result.profile.indicators.source or PROFILE_TARGET
    files.write_table(stage(paths["targets"]), display.targets_csv(result.targets, source))
    html.save_map(products["map"], stage(paths["map"]), self_contained=products["self_contained"])
    files.write_json(stage(paths["manifest"]), products["manifest"])
    return list(paths.values())


def _write_report_files(
    report: IndicatorReport,
    folder: Path,
    stage: Callable[[str | Path], Path],
    maps: list[Path] | None = None,
) -> list[Path]:
    written = []
    for name, table in report.tables.items():
        path = folder / f"{name}.csv"
        files.write_table(stage(path), display.report_csv(table, report.near_miss_share))
        written.append(path)
    links = display.map_links(maps or [], folder, report.category_labels)
    markdown = folder / REPORT_MARKDOWN
    files.write_text(stage(markdown), report_markdown(report, links))
    workbook = folder / REPORT_WORKBOOK
    files.write_atomic(stage(workbook), lambda tmp: write_workbook(tmp, report, links))
    return [*written, markdown, workbook]


def write_report(report: IndicatorReport, folder: str | Path) -> list[Path]:
    """Write the indicator report: one CSV per table, Markdown and an Excel workbook.

    Parameters
    ----------
    report : IndicatorReport
        From :func:`lifecircle.indicator_report`.
    folder : str or Path
        Output folder (created when missing).

    Returns
    -------
    list of Path
        ``<table>.csv`` for every table (UTF-8 with BOM, snake_case columns), ``report.md`` and
        ``report.xlsx`` (one sheet per table with bilingual headers, plus an "about" sheet).
        All files are staged and moved into place together: a failure leaves earlier files as
        they were.
    """
    with _output_set(None, Path(folder), Path(folder)) as stage:
        return _write_report_files(report, Path(folder), stage)


def _report_products(
    result: RunResult,
    report: IndicatorReport,
    folder: Path,
    map_folder: Path,
    maps: _MapOptions,
    say: Progress = _silent,
    set_root: Path | None = None,
) -> dict:
    say("walking service areas (isochrones)")
    service_areas = gaps.result_service_areas(result)
    layers = {"service_areas": service_areas}
    say("gap layers")
    gap_layers = gaps.gap_layers(result, service_areas)
    layers |= {k: v for k, v in gap_layers.items() if not v.empty}
    layers["study_area"] = result.study_area
    if result.sub_districts is not None:
        layers["sub_districts"] = result.sub_districts
    return {
        "result": result,
        "report": report,
        "folder": folder,
        "set_root": set_root or folder,
        "map_folder": map_folder,
        "service_areas": service_areas,
        "layers": layers,
        "compounds": result.compounds.to_crs(settings.exchange_crs),
        "gaps_map": _gaps_map(result, service_areas, gap_layers, maps, say),
        "self_contained": maps.basemap is None,
        "page": maps.page,
    }


def _gaps_map(
    result: RunResult, service_areas, gap_layers: dict, maps: _MapOptions, say: Progress
) -> web_map.InlineMap:
    say("building the gap map")
    return web_map.coverage_map(
        result, view="gaps", service_areas=service_areas, gap_layers=gap_layers,
        tiles=maps.basemap, context=maps.context,
    )


def _write_report_products(
    products: dict,
    stage: Callable[[str | Path], Path],
    run_map: Path | None = None,
) -> list[Path]:
    result, report = products["result"], products["report"]
    profile, folder, map_folder = result.profile, products["folder"], products["map_folder"]
    service_areas = products["service_areas"]
    gpkg = folder / "report_layers.gpkg"
    files.write_geopackage_layers(stage(gpkg), products["layers"])
    gaps_html = map_folder / f"{profile.name}_gaps.html"
    html.save_map(products["gaps_map"], stage(gaps_html), self_contained=products["self_contained"])
    written = [gpkg, gaps_html]
    layers = result_layers(result, service_areas=service_areas)
    for key in [*profile.categories, COMPLETE]:
        png = map_folder / f"{profile.name}_{key}.png"
        static_map.static_map(layers, None if key == COMPLETE else key, stage(png),
                              page=products["page"])
        written.append(png)
    if result.sub_districts is not None and not result.sub_districts.empty:
        ranking = map_folder / f"{profile.name}_uncovered_ranking.png"
        charts.uncovered_ranking(report.uncovered_population, profile, stage(ranking),
                                 dpi=products["page"].dpi)
        written.append(ranking)
    # The report comes first in the list and links every map written with it, by its place
    # inside the set (maps/ outside the output folder are links into the set's maps/).
    root = products["set_root"]
    maps = [
        root / _in_set(p, root, map_folder)
        for p in [run_map, *written]
        if p is not None and p.suffix in (".html", ".png")
    ]
    return [*_write_report_files(report, folder, stage, maps), *written]


def write_report_bundle(
    result: RunResult,
    out: str | Path | None = None,
    *,
    maps_dir: str | Path | None = None,
    offline_map: bool = True,
    report: IndicatorReport | None = None,
    progress: Progress | None = None,
    basemap: str | Basemap | None = None,
    page: static_map.Page | None = None,
) -> list[Path]:
    """Write everything a planner needs besides the run files: report, gap layers and maps.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    out : str or Path, optional
        Folder of the report and the layers, written as an output set of its own. By default
        the run's whole set (``data/processed/<profile>``, report in ``report/``) is written
        again, so that the report never sits beside the files of another run.
    maps_dir : str or Path, optional
        Folder of the maps (default ``maps/``; ``out`` when ``out`` is given).
    offline_map : bool, default True
        Write an HTML map that works with no internet (inline scripts, no background tiles);
        False adds background tiles (``basemap``), which load from the internet when viewed.
    report : IndicatorReport, optional
        The report of ``result`` if already computed (avoids measuring it twice, e.g. summing
        a population raster again).
    progress : callable, optional
        Called with a short description before each step that can take seconds.
    basemap : str or Basemap, optional
        The tiles of an online map (``offline_map=False``), as for :func:`write_outputs`.
    page : static_map.Page, optional
        Paper, orientation and resolution of the PNG maps (default A4, fitted, 300 dpi).

    Returns
    -------
    list of Path
        The report files (see :func:`write_report`), ``report_layers.gpkg`` (service areas,
        gap layers, study area, sub-districts), ``<profile>_gaps.html`` and one
        ``<profile>_<category>.png`` per category and for the complete life circle. Everything
        is built in memory first and moved into place together.
    """
    say = progress or _silent
    report = report if report is not None else indicator_report(result)
    if out is None:
        # The default place is inside the run's own set: write the whole set again.
        return write_outputs(
            result,
            maps_dir=maps_dir,
            self_contained_map=offline_map,
            report=report,
            progress=progress,
            basemap=basemap,
            page=page,
        )
    folder = Path(out)
    map_folder = _maps_dir(out, maps_dir, folder)
    files.check_output_folder(folder)
    maps = _MapOptions.of(result, offline_map, basemap, page)
    products = _report_products(result, report, folder, map_folder, maps, say)
    with _output_set(result, folder, map_folder, with_run_files=False) as stage:
        return _write_report_products(products, _announcing(stage, say))
