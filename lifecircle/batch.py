"""Many study areas as independent pieces on Dask: ``lifecircle batch``.

A batch runs one profile over a set of study areas (the 16 districts of Shanghai, the
sub-districts of a city, or any polygon layer). The street extract is read once into arrays
(:mod:`lifecircle.sources.osm_arrays`) and sent to every worker once; each piece cuts its own
network from it (its area buffered by the largest threshold plus the snap limit, as a single run
does, so results inside the area are exact) and runs the ordinary pipeline. The pieces run as
Dask tasks: on a ``LocalCluster`` of this machine by default, or on any Dask cluster given by its
scheduler address. The per-compound tables are merged and the coverage is computed again for the
whole batch and per area; each piece keeps its own files and map, and one overview map shows the
whole batch.

No process pool or scheduler of our own: ``dask.distributed`` places, retries and reports the
tasks. On a real cluster every worker must see the profile's input files (layers, boundaries and
the OSM file, which is only checked and read for OpenStreetMap-tag layers and water) at the same
paths and be able to write the output folder: use a shared file system, or the same paths on
every machine.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from . import pipeline, schema, settings
from ._progress import Reporter, collected_warnings
from .analysis import coverage
from .errors import CRSError, DataError, InputFileError, LifecircleError, LifecircleWarning
from .outputs import files, html
from .outputs.bundle import output_dir, write_outputs
from .outputs.map_inputs import MapLayers
from .outputs.web_map import layers_map
from .profile import Profile, StudyArea, load_profile
from .sources import areas, osm_arrays, tables

#: Column of the merged tables naming each compound's piece.
AREA = "area"
#: Default city of ``areas="districts"``.
DEFAULT_CITY = "上海市"


@dataclass
class Piece:
    """What one piece returns to the client (small: tables, no network)."""

    name: str
    compounds: gpd.GeoDataFrame | None = None
    facilities: gpd.GeoDataFrame | None = None
    seconds: float = 0.0
    folder: str | None = None
    notes: list[str] = field(default_factory=list)
    skipped: str = ""


@dataclass
class BatchResult:
    """A batch: the pieces and their merged tables.

    Attributes
    ----------
    profile : Profile
        The batch's profile (its study area is replaced by each piece's).
    areas : geopandas.GeoDataFrame
        The pieces (``name``, ``geometry``; EPSG:4326).
    compounds : geopandas.GeoDataFrame
        Every piece's compounds, with the piece in column ``area``.
    facilities : geopandas.GeoDataFrame
        Every facility used by a piece, once.
    coverage : pandas.DataFrame
        :func:`lifecircle.analysis.coverage.coverage_table` of the merged compounds: the whole
        batch (``(all)``) and every area.
    targets : pandas.DataFrame
        The profile's targets, checked on the whole batch.
    pieces : list of Piece
        Per piece: time, output folder, warnings, or why it was skipped.
    timings : dict
        Step → seconds (reading the extract, the pieces, merging).
    workers : int
        Dask workers that ran the pieces.
    """

    profile: Profile
    areas: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    coverage: pd.DataFrame
    targets: pd.DataFrame
    pieces: list[Piece]
    timings: dict[str, float]
    workers: int


def batch_areas(
    profile: Profile, areas_source: str | Path, *, name_field: str = "name"
) -> gpd.GeoDataFrame:
    """The study areas of a batch.

    Parameters
    ----------
    profile : Profile
        The batch's profile.
    areas_source : str or Path
        ``"districts"`` (the districts of Shanghai, from the bundled boundaries),
        ``"districts:<city>"`` (those of another city, e.g. ``districts:南京市``),
        ``"sub_districts"`` (the profile's sub-districts), or a polygon file.
    name_field : str
        Column naming the areas of a polygon file.

    Returns
    -------
    geopandas.GeoDataFrame
        ``name`` and ``geometry`` (EPSG:4326), names unique.

    Raises
    ------
    DataError
        When the source gives no polygon, or names repeat.
    """
    text = str(areas_source)
    if text == "districts" or text.startswith("districts:"):
        city = text.partition(":")[2] or DEFAULT_CITY
        table = areas.city_districts(city)[["name", "geometry"]]
    elif text == "sub_districts":
        study_area = areas.study_area_polygon(profile)
        table = areas.sub_district_polygons(profile, study_area)
        if table is None:
            raise DataError("the profile has no sub_districts: give them, or another --areas")
        table = table[["name", "geometry"]]
    else:
        if not Path(text).exists():
            raise InputFileError(
                f"--areas {text}: this file does not exist, and it is not one of 'districts', 'districts:<city>' "
                "(e.g. districts:南京市) or 'sub_districts'; give one of these or the path of a "
                "polygon file (GeoJSON, GeoPackage, Shapefile)"
            )
        table = _area_file(Path(text), name_field)
    table = table[table.geometry.notna() & ~table.geometry.is_empty].reset_index(drop=True)
    table["name"] = table["name"].astype(str)
    if table.empty:
        raise DataError(f"the batch areas {text!r} hold no polygon")
    repeated = sorted(table["name"][table["name"].duplicated()].unique())
    if repeated:
        raise DataError(f"batch area names must be unique; repeated: {', '.join(repeated)}")
    return gpd.GeoDataFrame(table, geometry="geometry", crs=settings.exchange_crs)


def _area_file(path: Path, name_field: str) -> gpd.GeoDataFrame:
    """The areas of a polygon file, in WGS84, checked like any layer (exists, has rows, and
    coordinates that fit its CRS: a file without one must be longitude/latitude)."""
    rows = tables.read_rows(path)
    if name_field not in rows:
        raise DataError(
            f"{path} has no column {name_field!r} to name its areas; columns: "
            f"{', '.join(map(str, rows.columns))}. Give --name-field."
        )
    epsg = rows.crs.to_epsg() if getattr(rows, "crs", None) is not None else 4326
    if epsg is None:  # a CRS without an EPSG code: trust the file
        return rows.to_crs(settings.exchange_crs).rename(columns={name_field: "name"})[
            ["name", "geometry"]]
    try:
        layer = tables.layer_from_rows(rows, path, crs=f"EPSG:{epsg}", name_field=name_field)
    except CRSError as exc:
        raise CRSError(
            f"{exc} (a polygon file without a coordinate system is read as WGS84: save it with "
            "its own, e.g. as a GeoPackage)"
        ) from None
    return layer[["name", "geometry"]]


def piece_profiles(profile: Profile, pieces: gpd.GeoDataFrame, folder: Path) -> dict[str, Profile]:
    """One profile per piece: the batch profile with the piece as its study area.

    The pieces are written once to ``folder/areas.geojson``; each profile selects its own by
    name (so a profile stays a small, picklable description).
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "areas.geojson"
    files.write_atomic(path, lambda tmp: pieces.to_file(tmp, driver="GeoJSON"))
    out = {}
    for name in pieces["name"]:
        area = StudyArea(file=path.resolve(), crs="wgs84", where={"name": name})
        out[name] = profile.model_copy(
            update={"name": f"{profile.name}_{_slug(name)}", "study_area": area}
        )
    return out


def _slug(name: str) -> str:
    """A file-safe piece name (Chinese kept, separators replaced)."""
    return re.sub(r"[^\w\-]+", "_", name).strip("_") or "area"


def run_piece(profile: Profile, streets: osm_arrays.StreetSegments, folder: str | None) -> Piece:
    """Run one piece (a Dask task): the pipeline on the shared streets, and its own outputs.

    Parameters
    ----------
    profile : Profile
        The piece's profile (from :func:`piece_profiles`).
    streets : StreetSegments
        The batch's walkable street segments (cut to the piece here).
    folder : str, optional
        Where to write the piece's outputs (run files and its coverage map).

    Returns
    -------
    Piece
    """
    name = profile.study_area.where["name"]  # type: ignore[index]
    start = time.perf_counter()
    try:
        # The piece's warnings come back in its notes and are printed under the area's name;
        # printed here by the worker as well, they would interleave unattributed with others'.
        with contextlib.redirect_stderr(io.StringIO()):
            result = pipeline.run(profile, streets=streets, progress=False)
    except LifecircleError as exc:
        # A piece without compounds (e.g. a district outside the extract) is skipped, said so.
        return Piece(name, seconds=time.perf_counter() - start, skipped=str(exc))
    if folder is not None:
        write_outputs(result, folder)
    compounds = result.compounds.to_crs(settings.exchange_crs)
    compounds.insert(0, AREA, name)
    return Piece(
        name,
        compounds=compounds,
        facilities=result.facilities,
        seconds=time.perf_counter() - start,
        folder=folder,
        notes=list(result.notes),
    )


def run_batch(
    profile: Profile | str | Path,
    areas_source: str | Path = "districts",
    *,
    name_field: str = "name",
    out: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    osm_file: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> BatchResult:
    """Run a profile over many study areas, as independent pieces on Dask.

    Parameters
    ----------
    profile : Profile, str or Path
        The batch's profile (built-in name or YAML); its network must come from a local OSM
        file (``network.source: osm_file``, or ``osm_file``), read once for all pieces.
    areas_source : str or Path
        See :func:`batch_areas`.
    name_field : str
        Column naming the areas of a polygon file.
    out : str or Path, optional
        Output folder (default ``data/processed/<profile>_batch``): ``pieces/<area>/`` per
        piece, and the merged tables and overview map (see :func:`write_batch`).
    scheduler : str, optional
        Address of a running Dask scheduler (e.g. ``tcp://10.0.0.5:8786``); by default a
        ``LocalCluster`` of this machine is started and stopped.
    workers : int, optional
        Worker processes of the local cluster (default: the number of CPUs).
    osm_file : str or Path, optional
        Replaces the profile's network file.
    progress : callable, optional
        Called with a line of text as pieces finish.

    Returns
    -------
    BatchResult

    Raises
    ------
    LifecircleError
        When the profile's network is not a local file, or no piece has any compound.
    """
    say = progress or (lambda _: None)
    profile = _file_network_profile(profile, osm_file)
    folder = batch_folder(profile, out)
    pieces = batch_areas(profile, areas_source, name_field=name_field)
    profiles = piece_profiles(profile, pieces, folder / "pieces")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    streets = _shared_streets(profile, pieces)
    timings["read extract"] = time.perf_counter() - start
    say(f"read {streets.source} once: {streets.n_segments:,} walkable segments")
    start = time.perf_counter()
    with _dask_client(scheduler, workers) as client:
        n_workers = len(client.scheduler_info()["workers"])
        say(f"running {len(profiles)} pieces on {n_workers} Dask worker(s)")
        done = _run_pieces(client, profiles, streets, folder / "pieces", say)
    timings["pieces"] = time.perf_counter() - start
    start = time.perf_counter()
    with collected_warnings(Reporter(enabled=progress is not None), LifecircleWarning):
        batch = merge_pieces(profile, pieces, sorted(done, key=lambda p: list(profiles).index(p.name)))
    batch.timings = timings | {"merge": time.perf_counter() - start}
    batch.workers = n_workers
    return batch


def batch_folder(profile: Profile, out: str | Path | None = None) -> Path:
    """A batch's output folder: ``out``, or ``data/processed/<profile>_batch`` beside the run's."""
    if out is not None:
        return Path(out)
    return output_dir(profile).with_name(f"{profile.name}_batch")


def _file_network_profile(profile: Profile | str | Path, osm_file: str | Path | None) -> Profile:
    """The batch's profile, its network from a local file (required: it is read once)."""
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    if osm_file is not None:
        profile = profile.with_osm_file(osm_file)
    if profile.network.source != "osm_file":
        raise LifecircleError(
            "a batch reads its street network once from a local OpenStreetMap file: set "
            "network: {source: osm_file, osm_file: ...} in the profile, or give --osm-file"
        )
    return profile


def _run_pieces(
    client: Any,
    profiles: dict[str, Profile],
    streets: osm_arrays.StreetSegments,
    folder: Path,
    say: Callable[[str], None],
) -> list[Piece]:
    """Submit one Dask task per piece (the streets sent to every worker once); collect them
    as they finish."""
    from dask.distributed import as_completed

    shared = client.scatter(streets, broadcast=True)
    futures = [
        client.submit(run_piece, piece_profile, shared, str(folder / _slug(name)),
                      key=f"piece-{_slug(name)}", pure=False)
        for name, piece_profile in profiles.items()
    ]
    done = []
    for future in as_completed(futures):
        piece = future.result()
        done.append(piece)
        _say_piece(piece, say)
    return done


def _say_piece(piece: Piece, say: Callable[[str], None]) -> None:
    """A finished piece in one line (why it was skipped, in full), then its warnings."""
    state = f"skipped ({piece.skipped.splitlines()[0]})" if piece.skipped else (
        f"{len(piece.compounds):,} compounds, {piece.seconds:.1f} s")
    say(f"  {piece.name}: {state}")
    for note in piece.notes:
        say(f"      warning ({piece.name}): {note}")


def _shared_streets(profile: Profile, pieces: gpd.GeoDataFrame) -> osm_arrays.StreetSegments:
    """The extract's walkable segments near the pieces, read once."""
    path = profile.resolve(profile.network.osm_file)
    margin = profile.max_threshold_m + profile.snap_limit_m
    union = areas.buffer_polygon(pieces.union_all(), margin, profile.projected_crs)
    return osm_arrays.read_street_segments(path, union)


class _dask_client:  # noqa: N801 - used as a context manager, like a function
    """A Dask client: of the given scheduler, or of a LocalCluster started (and stopped) here."""

    def __init__(self, scheduler: str | None, workers: int | None) -> None:
        self.scheduler, self.workers = scheduler, workers
        self.cluster: Any = None
        self.client: Any = None

    def __enter__(self) -> Any:
        from dask.distributed import Client, LocalCluster

        if self.scheduler:
            self.client = Client(self.scheduler)
        else:
            # One single-threaded process per worker: the pieces are CPU-bound Python.
            self.cluster = LocalCluster(
                n_workers=self.workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port: other clusters may hold 8787
                silence_logs=logging.ERROR,
            )
            self.client = Client(self.cluster)
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def merge_pieces(profile: Profile, pieces: gpd.GeoDataFrame, done: list[Piece]) -> BatchResult:
    """Merge the pieces' compound tables and compute the coverage again, whole and per area.

    Raises
    ------
    DataError
        When no piece has any compound.
    """
    ran = [p for p in done if not p.skipped]
    if not ran:
        reasons = "; ".join(f"{p.name}: {p.skipped.splitlines()[0]}" for p in done)
        raise DataError(f"no piece of the batch has compounds to analyse ({reasons})")
    compounds = gpd.GeoDataFrame(
        pd.concat([p.compounds for p in ran], ignore_index=True), crs=settings.exchange_crs
    )
    facilities = gpd.GeoDataFrame(
        pd.concat([p.facilities for p in ran], ignore_index=True), crs=settings.exchange_crs
    )
    # A facility near a boundary serves several pieces: keep it once.
    key = pd.DataFrame(
        {
            "category": facilities["category"].astype(str),
            "name": facilities["name"].astype(str),
            "where": facilities.geometry.to_wkt(rounding_precision=7),
        }
    )
    facilities = facilities[~key.duplicated().to_numpy()].reset_index(drop=True)
    table = _merged_coverage(compounds, list(profile.categories))
    return BatchResult(
        profile=profile,
        areas=pieces,
        compounds=compounds,
        facilities=facilities,
        coverage=table,
        targets=coverage.check_targets(table, profile.targets),
        pieces=done,
        timings={},
        workers=0,
    )


def _merged_coverage(compounds: gpd.GeoDataFrame, categories: list[str]) -> pd.DataFrame:
    """Coverage per area, and of the whole batch counting every compound once.

    Overlapping areas share compounds: each area counts them, the whole batch once (a warning
    names the areas).
    """
    table = coverage.coverage_table(compounds, categories, by=AREA)
    key = pd.DataFrame({"name": compounds[schema.NAME].astype(str),
                        "where": compounds.geometry.to_wkt(rounding_precision=7)})
    repeated = key.duplicated().to_numpy()
    if not repeated.any():
        return table
    shared = key.duplicated(keep=False).to_numpy()
    names = sorted(compounds.loc[shared, AREA].astype(str).unique())
    warnings.warn(
        f"{int(repeated.sum()):,} compounds lie in more than one batch area (overlapping areas: "
        f"{', '.join(names)}): each area counts them, the whole batch '{coverage.ALL_AREAS}' once",
        LifecircleWarning,
        stacklevel=3,
    )
    whole = coverage.coverage_table(compounds[~repeated], categories)
    return pd.concat([whole, table[table[AREA] != coverage.ALL_AREAS]], ignore_index=True)


def write_batch(batch: BatchResult, out: str | Path) -> list[Path]:
    """Write the merged outputs of a batch into ``out/merged`` (beside ``out/pieces``).

    The merged files are one output set (written whole, switched in at once, like a run's).

    Returns
    -------
    list of Path
        ``compounds.parquet`` (all pieces, with ``area``), ``coverage.csv`` (whole batch and
        per area), ``targets.csv``, ``pieces.csv`` (time, compounds, folder or why skipped),
        ``areas.gpkg`` and ``<profile>_overview.html`` (one map of every piece).
    """
    folder = Path(out) / "merged"
    pieces = pd.DataFrame(
        [
            {
                "area": p.name,
                "compounds": 0 if p.compounds is None else len(p.compounds),
                "seconds": round(p.seconds, 2),
                "folder": p.folder or "",
                "skipped": p.skipped.splitlines()[0] if p.skipped else "",
                "warnings": len(p.notes),
            }
            for p in batch.pieces
        ]
    )
    overview = layers_map(
        MapLayers(
            profile=batch.profile,
            compounds=batch.compounds,
            facilities=batch.facilities,
            study_area=gpd.GeoDataFrame(
                {"name": [batch.profile.name]}, geometry=[batch.areas.union_all()],
                crs=settings.exchange_crs,
            ),
            sub_districts=batch.areas,
            coverage=batch.coverage,
        ),
        view="coverage",
    )
    paths = {
        "compounds": folder / "compounds.parquet",
        "coverage": folder / "coverage.csv",
        "targets": folder / "targets.csv",
        "pieces": folder / "pieces.csv",
        "areas": folder / "areas.gpkg",
        "map": folder / f"{batch.profile.name}_overview.html",
    }
    with files.output_set(folder) as stage:
        files.write_geo(stage(paths["compounds"]), batch.compounds)
        files.write_table(stage(paths["coverage"]), batch.coverage)
        files.write_table(stage(paths["targets"]), batch.targets)
        files.write_table(stage(paths["pieces"]), pieces)
        files.write_geopackage_layers(stage(paths["areas"]), {"areas": batch.areas})
        html.save_map(overview, stage(paths["map"]))
    return list(paths.values())
