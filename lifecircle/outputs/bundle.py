"""Writing a run's whole output set: data files, report, gap layers and maps.

Every in-memory product is built first; the files are then staged and moved into place
together, so a failure never leaves a half-written set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import settings
from ..analysis import gaps
from ..analysis.indicators import IndicatorReport, indicator_report
from ..analysis.result import RunResult
from ..profile import Profile
from ..schema import COMPLETE
from . import files, html, static_map, web_map
from .basemaps import Basemap, resolve_basemap
from .excel import write_workbook
from .map_context import MapContext, map_context
from .markdown import report_markdown

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


def write_outputs(
    result: RunResult,
    out: str | Path | None = None,
    *,
    maps_dir: str | Path | None = None,
    self_contained_map: bool = True,
    report: IndicatorReport | bool = False,
    basemap: str | Basemap | None = None,
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
    basemap : str or Basemap, optional
        The tiles of an online map (``self_contained_map=False``): ``"osm"`` (default),
        ``"amap"`` (GCJ-02: layers are shifted to match), ``"tianditu"`` or a
        :class:`~lifecircle.outputs.basemaps.Basemap`.
    report : IndicatorReport or bool, default False
        Also write the indicator report, gap layers, gap map and static maps (see
        :func:`write_report_bundle`) into ``<out>/report``: True measures it here, an
        :class:`IndicatorReport` of ``result`` is used as it is.

    Returns
    -------
    list of Path
        The files written, the manifest last among the run files.
    """
    folder = output_dir(result.profile, out)
    map_folder = _maps_dir(out, maps_dir, folder)
    maps = _MapOptions.of(result, self_contained_map, basemap)
    run_files = _run_products(result, folder, map_folder, maps)
    report_products = None
    if report is not False:
        measured = report if isinstance(report, IndicatorReport) else indicator_report(result)
        report_products = _report_products(result, measured, folder / "report", map_folder, maps)
    with files.staged_outputs() as stage:
        written = _write_run_products(run_files, stage)
        if report_products is not None:
            written += _write_report_products(report_products, stage)
    return written


@dataclass(frozen=True)
class _MapOptions:
    """How a run's maps are drawn; the context (streets, water) is packed once for all."""

    basemap: Basemap | None
    context: MapContext
    paper: str = "A4"

    @classmethod
    def of(cls, result: RunResult, offline: bool, basemap: str | Basemap | None) -> _MapOptions:
        chosen = None if offline else resolve_basemap(basemap or True)
        gcj02 = chosen is not None and chosen.gcj02
        return cls(chosen, map_context(result.network, result.water, gcj02=gcj02))


def _run_products(
    result: RunResult, folder: Path, map_folder: Path, maps: _MapOptions
) -> dict:
    profile = result.profile
    compounds = result.compounds.to_crs(settings.exchange_crs)
    fmap = web_map.coverage_map(
        result, view="coverage", tiles=maps.basemap, context=maps.context
    )
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
        result.timings,
        list(paths.values()),
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
    files.write_table(stage(paths["coverage"]), result.coverage)
    files.write_table(stage(paths["targets"]), result.targets)
    html.save_map(products["map"], stage(paths["map"]), self_contained=products["self_contained"])
    files.write_json(stage(paths["manifest"]), products["manifest"])
    return list(paths.values())


def _write_report_files(
    report: IndicatorReport, folder: Path, stage: Callable[[str | Path], Path]
) -> list[Path]:
    written = []
    for name, table in report.tables.items():
        path = folder / f"{name}.csv"
        files.write_table(stage(path), table)
        written.append(path)
    markdown = folder / REPORT_MARKDOWN
    files.write_text(stage(markdown), report_markdown(report))
    workbook = folder / REPORT_WORKBOOK
    files.write_atomic(stage(workbook), lambda tmp: write_workbook(tmp, report))
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
    with files.staged_outputs() as stage:
        return _write_report_files(report, Path(folder), stage)


def _report_products(
    result: RunResult, report: IndicatorReport, folder: Path, map_folder: Path,
    maps: _MapOptions,
) -> dict:
    service_areas = gaps.result_service_areas(result)
    gap_layers = gaps.gap_layers(result, service_areas)
    layers = {"service_areas": service_areas}
    layers |= {k: v for k, v in gap_layers.items() if not v.empty}
    layers["study_area"] = result.study_area
    if result.sub_districts is not None:
        layers["sub_districts"] = result.sub_districts
    return {
        "result": result,
        "report": report,
        "folder": folder,
        "map_folder": map_folder,
        "service_areas": service_areas,
        "layers": layers,
        "compounds": result.compounds.to_crs(settings.exchange_crs),
        "gaps_map": web_map.coverage_map(
            result, view="gaps", service_areas=service_areas, gap_layers=gap_layers,
            tiles=maps.basemap, context=maps.context,
        ),
        "self_contained": maps.basemap is None,
        "maps": maps,
    }


def _write_report_products(products: dict, stage: Callable[[str | Path], Path]) -> list[Path]:
    result, report = products["result"], products["report"]
    profile, folder, map_folder = result.profile, products["folder"], products["map_folder"]
    service_areas = products["service_areas"]
    written = _write_report_files(report, folder, stage)
    gpkg = folder / "report_layers.gpkg"
    files.write_geopackage_layers(stage(gpkg), products["layers"])
    gaps_html = map_folder / f"{profile.name}_gaps.html"
    html.save_map(products["gaps_map"], stage(gaps_html), self_contained=products["self_contained"])
    written += [gpkg, gaps_html]
    for key in [*profile.categories, COMPLETE]:
        png = map_folder / f"{profile.name}_{key}.png"
        static_map.static_map(
            products["compounds"],
            result.study_area,
            profile,
            None if key == COMPLETE else key,
            stage(png),
            service_areas=service_areas,
            sub_districts=result.sub_districts,
            credits=report.credits,
        )
        written.append(png)
    return written


def write_report_bundle(
    result: RunResult,
    out: str | Path | None = None,
    *,
    maps_dir: str | Path | None = None,
    offline_map: bool = True,
    report: IndicatorReport | None = None,
    basemap: str | Basemap | None = None,
) -> list[Path]:
    """Write everything a planner needs besides the run files: report, gap layers and maps.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    out : str or Path, optional
        Folder of the report and the layers (default ``data/processed/<profile>/report``).
    maps_dir : str or Path, optional
        Folder of the maps (default ``maps/``; ``out`` when ``out`` is given).
    offline_map : bool, default True
        Write an HTML map that works with no internet (inline scripts, no background tiles);
        False adds background tiles (``basemap``), which load from the internet when viewed.
    report : IndicatorReport, optional
        The report of ``result`` if already computed (avoids measuring it twice, e.g. summing
        a population raster again).
    basemap : str or Basemap, optional
        The tiles of an online map (``offline_map=False``), as for :func:`write_outputs`.

    Returns
    -------
    list of Path
        The report files (see :func:`write_report`), ``report_layers.gpkg`` (service areas,
        gap layers, study area, sub-districts), ``<profile>_gaps.html`` and one
        ``<profile>_<category>.png`` per category and for the complete life circle. Everything
        is built in memory first and moved into place together.
    """
    folder = Path(out) if out is not None else output_dir(result.profile) / "report"
    map_folder = _maps_dir(out, maps_dir, folder)
    report = report if report is not None else indicator_report(result)
    maps = _MapOptions.of(result, offline_map, basemap)
    products = _report_products(result, report, folder, map_folder, maps)
    with files.staged_outputs() as stage:
        return _write_report_products(products, stage)
