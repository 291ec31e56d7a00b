"""The public run: profile → sources → network → access → coverage → outputs.

This module only orchestrates; every step lives in its own module. :func:`run` computes
everything in memory first and writes nothing until the analysis succeeded, so a failing run
leaves earlier outputs untouched.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import areas, checks, coverage, io, osm, settings, tables
from ._progress import Reporter
from .access import (
    AccessGraph,
    build_access_graph,
    category_access,
    representative_points,
    snap_layer,
)
from .errors import DataError, LifecircleWarning
from .network import WalkNetwork, walking_network
from .profile import LayerSource, Profile, load_profile


@dataclass
class RunResult:
    """Everything one run computed; what :func:`write_outputs` writes and notebooks inspect.

    Attributes
    ----------
    profile : Profile
    study_area : geopandas.GeoDataFrame
        The study-area polygon (EPSG:4326).
    sub_districts : geopandas.GeoDataFrame or None
    network : WalkNetwork
        The projected walking network (study area buffered by the largest threshold).
    access_graph : AccessGraph
    compounds : geopandas.GeoDataFrame
        One row per compound inside the study area (EPSG:4326) with population, snap, status
        and per-category distance/time/count/covered columns, and ``complete``.
    facilities : geopandas.GeoDataFrame
        All facilities (EPSG:4326) with ``category``, ``name``, snap distance and status.
    facility_snaps : dict of str to pandas.DataFrame
        Per category, the snaps (network CRS), aligned with that category's facilities.
    coverage : pandas.DataFrame
        From :func:`lifecircle.coverage.coverage_table` (by sub-district when known).
    targets : pandas.DataFrame
        From :func:`lifecircle.coverage.check_targets`.
    inputs : dict
        Role → file or source description (for the manifest).
    credits : list of str
        Data-source credits to show on maps and reports.
    timings : dict
        Step → seconds.
    notes : list of str
        Warnings raised during the run, for the manifest and reports.
    """

    profile: Profile
    study_area: gpd.GeoDataFrame
    sub_districts: gpd.GeoDataFrame | None
    network: WalkNetwork
    access_graph: AccessGraph
    compounds: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    facility_snaps: dict[str, pd.DataFrame]
    coverage: pd.DataFrame
    targets: pd.DataFrame
    inputs: dict[str, Any] = field(default_factory=dict)
    credits: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        """Category keys in profile order."""
        return list(self.profile.categories)


@contextmanager
def _timed(timings: dict[str, float], step: str, reporter: Reporter) -> Iterator[None]:
    start = time.perf_counter()
    reporter.step_start(step)
    yield
    timings[step] = time.perf_counter() - start
    reporter.step_done(step, timings[step])


def run(
    profile: Profile | str | Path,
    *,
    osm_file: str | Path | None = None,
    progress: bool = True,
) -> RunResult:
    """Run the whole analysis of a profile, in memory.

    Parameters
    ----------
    profile : Profile, str or Path
        A validated profile, a built-in profile name or a YAML path.
    osm_file : str or Path, optional
        A local ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file that replaces the profile's network
        source (and its OSM-tag layers).
    progress : bool
        Show step progress on the terminal.

    Returns
    -------
    RunResult
        Use :func:`write_outputs` to save it.

    Raises
    ------
    lifecircle.errors.LifecircleError
        With a message that names the problem and what to do.
    """
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    if osm_file is not None:
        profile = profile.model_copy(
            update={"network": profile.network.model_copy(
                update={"source": "osm_file", "osm_file": Path(osm_file).resolve()}
            )}
        )
    reporter = Reporter(enabled=progress)
    timings: dict[str, float] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LifecircleWarning)
        result = _run(profile, reporter, timings)
    notes = []
    for warning in caught:
        if issubclass(warning.category, LifecircleWarning):
            notes.append(str(warning.message))
            reporter.warn(str(warning.message))
        else:
            # Not ours: hand it back to the normal warning machinery.
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    result.notes = notes
    return result


def _run(profile: Profile, reporter: Reporter, timings: dict[str, float]) -> RunResult:
    inputs: dict[str, Any] = {}
    credits = [settings.osm_attribution]
    cache_dir = settings.data_raw_folder / profile.name

    with _timed(timings, "study area", reporter):
        study_area = areas.study_area_polygon(profile)
        area_polygon = study_area.geometry.iloc[0]
        buffered = areas.buffer_polygon(area_polygon, profile.max_threshold_m, profile.projected_crs)
        inputs["study_area"] = _describe_area(profile)

    with _timed(timings, "network", reporter):
        osm_file = profile.resolve(profile.network.osm_file)
        if profile.network.source == "osm_file":
            graph = osm.graph_from_osm_file(osm_file, buffered)
            inputs["network"] = osm_file
        else:
            graph = osm.graph_from_osm_online(buffered, cache_dir)
            inputs["network"] = f"OpenStreetMap via Overpass ({settings.overpass_url})"
        network = walking_network(graph, profile.projected_crs)
        reporter.info(
            f"walking network: {network.n_nodes:,} nodes, {len(network.edges):,} edges, "
            f"{network.edges['length'].sum() / 1000:,.0f} km of streets"
        )

    layer_osm_file = osm_file if profile.network.source == "osm_file" else None
    with _timed(timings, "facilities", reporter):
        facility_layers = {}
        for key, category in profile.categories.items():
            parts = []
            for number, source in enumerate(category.sources):
                part = _load_layer(profile, source, buffered, layer_osm_file, cache_dir)
                parts.append(_clip(part, buffered).assign(source_number=number))
                credits += [source.credit] if source.credit else []
            facility_layers[key] = gpd.GeoDataFrame(
                pd.concat(parts, ignore_index=True), crs=settings.exchange_crs
            )
            described = "; ".join(_describe_source(profile, src) for src in category.sources)
            inputs[f"facilities.{key}"] = described
            if facility_layers[key].empty:
                warnings.warn(
                    f"no {category.label} facilities found in the study area (buffered by "
                    f"{profile.max_threshold_m:.0f} m): every compound counts as uncovered "
                    f"for {key}. Check the layer's source ({described}).",
                    LifecircleWarning,
                    stacklevel=2,
                )
            reporter.info(f"{key}: {len(facility_layers[key]):,} facilities")

    with _timed(timings, "compounds", reporter):
        source = profile.compounds.source
        raw = _load_layer(profile, source, area_polygon, layer_osm_file, cache_dir)
        compounds = _clip(raw, area_polygon).reset_index(drop=True)
        inputs["compounds"] = _describe_source(profile, source)
        credits += [source.credit] if source.credit else []
        if compounds.empty:
            raise DataError(
                f"none of the {len(raw):,} compounds from {_describe_source(profile, source)} "
                "lies inside the study area: check the study area and the layer's coordinate "
                "system ('crs:' in the profile)"
            )
        compounds.insert(0, "compound_id", np.arange(len(compounds)))
        compounds["households"] = (
            pd.to_numeric(compounds[profile.compounds.households_field], errors="coerce")
            if profile.compounds.households_field
            else np.nan
        )
        compounds["population"] = coverage.compound_population(
            compounds,
            profile.compounds.households_field,
            profile.compounds.population_field,
            profile.compounds.persons_per_household,
        )
        reporter.info(f"compounds in the study area: {len(compounds):,}")

    with _timed(timings, "snapping", reporter):
        compound_snaps = snap_layer(network, compounds, profile.snap_limit_m)
        checks.warn_about_snaps(compound_snaps, "compounds", source.crs, network, compounds)
        facility_snaps = {}
        for key, layer in facility_layers.items():
            facility_snaps[key] = snap_layer(network, layer, profile.snap_limit_m)
            sources = profile.categories[key].sources
            for number, source in enumerate(sources):
                part = (layer["source_number"] == number).to_numpy()
                what = f"{key} facilities" + (f" (source {number + 1})" if len(sources) > 1 else "")
                checks.warn_about_snaps(
                    facility_snaps[key][part], what, source.crs, network, layer[part]
                )
        access_graph = build_access_graph(network, compound_snaps, facility_snaps)

    with _timed(timings, "walking distances", reporter):
        columns = []
        for key, category in profile.categories.items():
            names = facility_layers[key]["name"].to_numpy() if "name" in facility_layers[key] else None
            with reporter.bar(f"{key} ({category.threshold_m:.0f} m)", len(facility_layers[key])) as bar:
                columns.append(
                    category_access(
                        access_graph,
                        key,
                        category.threshold_m,
                        profile.walking_speed_m_per_min,
                        names,
                        progress=bar,
                    )
                )

    with _timed(timings, "coverage", reporter):
        compounds = _assemble_compounds(compounds, compound_snaps, columns, network, profile)
        sub_districts = areas.sub_district_polygons(profile, study_area)
        compounds["sub_district"] = coverage.assign_sub_districts(compounds, sub_districts)
        table = coverage.coverage_table(
            compounds, list(profile.categories), by="sub_district" if sub_districts is not None else None
        )
        targets = coverage.check_targets(table, profile.targets)
        facilities = _assemble_facilities(facility_layers, facility_snaps, network)

    return RunResult(
        profile=profile,
        study_area=study_area,
        sub_districts=sub_districts,
        network=network,
        access_graph=access_graph,
        compounds=compounds,
        facilities=facilities,
        facility_snaps=facility_snaps,
        coverage=table,
        targets=targets,
        inputs=inputs,
        credits=list(dict.fromkeys(credits)),
        timings=timings,
    )


def _load_layer(
    profile: Profile,
    source: LayerSource,
    polygon: Any,
    osm_file: Path | None,
    cache_dir: Path,
) -> gpd.GeoDataFrame:
    if source.osm_tags is not None:
        return osm.features_from_osm(
            source.osm_tags, polygon, osm_file=osm_file, cache_dir=cache_dir / "features"
        )
    return tables.read_layer(
        profile.resolve(source.file),
        crs=source.crs,
        x=source.x,
        y=source.y,
        layer=source.layer,
        sheet=source.sheet,
        where=source.where,
        name_field=source.name_field,
    )


def _clip(layer: gpd.GeoDataFrame, polygon: Any) -> gpd.GeoDataFrame:
    """Features whose representative point lies inside ``polygon`` (both EPSG:4326)."""
    if layer.empty:
        return layer
    layer = layer.to_crs(settings.exchange_crs)
    inside = representative_points(layer).within(polygon)
    return layer[inside.to_numpy()]


def _assemble_compounds(
    compounds: gpd.GeoDataFrame,
    snaps: pd.DataFrame,
    columns: list[pd.DataFrame],
    network: WalkNetwork,
    profile: Profile,
) -> gpd.GeoDataFrame:
    snapped = _snapped_lonlat(snaps, network)
    out = compounds.copy()
    out["snap_m"] = snaps["snap_m"].to_numpy(dtype=float)
    out["access_status"] = snaps["access_status"].to_numpy()
    out["snap_lon"], out["snap_lat"] = snapped
    for frame in columns:
        for name in frame.columns:
            out[name] = frame[name].to_numpy()
    out["complete"] = coverage.complete_life_circle(out, coverage.required_categories(profile))
    return out


def _assemble_facilities(
    layers: dict[str, gpd.GeoDataFrame],
    snaps: dict[str, pd.DataFrame],
    network: WalkNetwork,
) -> gpd.GeoDataFrame:
    frames = []
    for key, layer in layers.items():
        points = gpd.GeoDataFrame(
            {"category": key, "name": layer.get("name", "")},
            geometry=representative_points(layer),
            crs=layer.crs,
        )
        snap = snaps[key]
        points["snap_m"] = snap["snap_m"].to_numpy(dtype=float)
        points["access_status"] = snap["access_status"].to_numpy()
        points["snap_lon"], points["snap_lat"] = _snapped_lonlat(snap, network)
        frames.append(points.to_crs(settings.exchange_crs))
    if not frames:
        return gpd.GeoDataFrame(columns=["category", "name", "geometry"], crs=settings.exchange_crs)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=settings.exchange_crs)


def _snapped_lonlat(snaps: pd.DataFrame, network: WalkNetwork) -> tuple[np.ndarray, np.ndarray]:
    if snaps.empty:
        return np.array([]), np.array([])
    points = gpd.GeoSeries.from_xy(snaps["snap_x"], snaps["snap_y"], crs=network.crs)
    points = points.to_crs(settings.exchange_crs)
    return points.x.to_numpy(), points.y.to_numpy()


def _describe_source(profile: Profile, source: LayerSource) -> str:
    if source.osm_tags is not None:
        return f"OpenStreetMap tags {source.osm_tags}"
    return str(profile.resolve(source.file))


def _describe_area(profile: Profile) -> str:
    area = profile.study_area
    if area.file is not None:
        return str(profile.resolve(area.file))
    return f"district {area.district}" if area.district else f"OSM place {area.place}"


def output_dir(profile: Profile, out: str | Path | None = None) -> Path:
    """Folder for a profile's outputs: ``out`` or ``data/processed/<profile>``."""
    return Path(out) if out is not None else settings.data_processed_folder / profile.name


def write_outputs(
    result: RunResult,
    out: str | Path | None = None,
    *,
    maps_dir: str | Path | None = None,
    self_contained_map: bool = False,
) -> list[Path]:
    """Save a run: compound and facility layers, coverage tables, map and manifest.

    Every file is written atomically; nothing is written unless all of them could be built.

    Parameters
    ----------
    result : RunResult
        From :func:`run`.
    out : str or Path, optional
        Output folder (default ``data/processed/<profile>``). When given, the map goes there
        too unless ``maps_dir`` says otherwise.
    maps_dir : str or Path, optional
        Folder for the HTML map (default ``maps/``).
    self_contained_map : bool
        Write an HTML map that works with no internet (inline scripts, no tiles).

    Returns
    -------
    list of Path
        The files written, the manifest last.
    """
    from . import maps  # folium is only needed for output

    profile = result.profile
    folder = output_dir(profile, out)
    map_folder = Path(maps_dir) if maps_dir else (folder if out is not None else settings.maps_folder)
    # Build every in-memory product first: a failure here writes nothing.
    compounds = result.compounds.to_crs(settings.exchange_crs)
    sub_districts = result.sub_districts
    fmap = maps.coverage_map(
        compounds,
        result.facilities,
        result.study_area,
        profile,
        sub_districts=sub_districts,
        credits=result.credits,
        tiles=not self_contained_map,
    )
    layers = {"compounds": compounds, "facilities": result.facilities, "study_area": result.study_area}
    if sub_districts is not None:
        layers["sub_districts"] = sub_districts

    files = {
        "compounds": folder / "compounds.parquet",
        "gpkg": folder / f"{profile.name}.gpkg",
        "facilities": folder / "facilities.parquet",
        "coverage": folder / "coverage.csv",
        "targets": folder / "targets.csv",
        "map": map_folder / f"{profile.name}.html",
    }
    written = list(files.values())
    manifest = io.run_manifest(
        profile.model_dump(mode="json"),
        result.inputs,
        result.timings,
        written,
        extra={
            "sample": profile.sample,
            "credits": result.credits,
            "counts": {
                "compounds": len(result.compounds),
                "compounds_by_status": result.compounds["access_status"].value_counts().to_dict(),
                "facilities": result.facilities["category"].value_counts().to_dict(),
                "network_nodes": result.network.n_nodes,
                "network_edges": len(result.network.edges),
            },
            "warnings": result.notes,
        },
    )
    written.append(folder / "manifest.json")
    # All files are staged and moved into place together: a failure part-way leaves every
    # earlier output as it was.
    with io.staged_outputs() as stage:
        io.write_geo(stage(files["compounds"]), compounds)
        io.write_geopackage_layers(stage(files["gpkg"]), layers)
        io.write_geo(stage(files["facilities"]), result.facilities)
        io.write_table(stage(files["coverage"]), result.coverage)
        io.write_table(stage(files["targets"]), result.targets)
        maps.save_map(fmap, stage(files["map"]), self_contained=self_contained_map)
        io.write_json(stage(written[-1]), manifest)
    return written
