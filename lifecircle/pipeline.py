"""The public run: profile → sources → network → access → coverage, in memory.

This module only orchestrates; every step lives in its own module. :func:`run` computes
everything in memory and writes nothing (:mod:`lifecircle.outputs` writes), so a failing run
leaves earlier outputs untouched.
"""

from __future__ import annotations

import difflib
import os
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

from . import pipeline_checks, pipeline_supply, schema, settings
from ._progress import Reporter
from .analysis import checks, coverage, entrances
from .analysis.access import (
    AccessGraph,
    build_access_graph,
    category_access,
    representative_points,
    snap_layer,
)
from .analysis.network import WalkNetwork, walking_network, walking_network_from_segments
from .analysis.result import RunResult
from .errors import DataError, LifecircleWarning
from .profile import LayerSource, Profile, check_input_files, load_profile
from .sources import areas, context, geocode, osm, osm_arrays, registers, tables
from .sources.osm_arrays import StreetSegments


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
    streets: StreetSegments | None = None,
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
    streets : lifecircle.sources.osm_arrays.StreetSegments, optional
        Walkable street segments already read (e.g. a whole city's extract, shared by the
        pieces of :func:`lifecircle.batch.run_batch`): the network is cut from them instead of
        reading the profile's network source.

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
    check_input_files(profile)
    reporter = Reporter(enabled=progress)
    timings: dict[str, float] = {}
    notes: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LifecircleWarning)
            result = _run(profile, reporter, timings, streets)
    finally:
        # Also when the run fails: a warning (e.g. an unreadable cache) may explain the error.
        notes = _report_warnings(caught, reporter)
    result.notes = notes
    return result


def _report_warnings(caught: list[warnings.WarningMessage], reporter: Reporter) -> list[str]:
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
    return notes


def _run(
    profile: Profile,
    reporter: Reporter,
    timings: dict[str, float],
    streets: StreetSegments | None = None,
) -> RunResult:
    """The run as a sequence of named steps, each timed and announced."""
    log = _RunLog(credits=[settings.osm_attribution])
    cache_dir = settings.data_raw_folder / profile.name
    with _timed(timings, "study area", reporter):
        study_area, area_polygon, buffered = _study_area(profile, log)
        network_area = _network_area(area_polygon, profile)
        pipeline_checks.boundary_crs(profile, study_area)
    # Layers before the network: a mistake in them shows before the slow network step.
    layer_osm_file = _layer_osm_file(profile)
    with _timed(timings, "compounds", reporter):
        compounds, nearby = _compounds(
            profile, area_polygon, buffered, layer_osm_file, cache_dir, log, reporter
        )
        gates = _gates(profile, compounds, buffered, layer_osm_file, cache_dir, log, reporter)
    with _timed(timings, "facilities", reporter):
        facility_registers = {
            key: _facility_register(profile, key, buffered, layer_osm_file, cache_dir, log, reporter)
            for key in profile.categories
        }
        facility_layers = {key: register.facilities for key, register in facility_registers.items()}
    with _timed(timings, "network", reporter):
        network = _network(profile, network_area, cache_dir, log, reporter, streets)
        pipeline_checks.partial_network(
            network, study_area, compounds, profile, log.inputs.get("network")
        )
    with _timed(timings, "snapping", reporter):
        access_points, compound_snaps, facility_snaps = _snaps(
            profile, network, compounds, gates, facility_layers, nearby
        )
        access_graph = build_access_graph(
            network, access_points.snaps, facility_snaps, compound_of=access_points.compound
        )
    with _timed(timings, "walking distances", reporter):
        columns = _distances(profile, access_graph, facility_layers, reporter)
    with _timed(timings, "coverage", reporter):
        sub_districts = areas.sub_district_polygons(profile, study_area)
        pipeline_checks.overlapping_sub_districts(sub_districts, compounds, profile)
        compounds = _assemble_compounds(compounds, compound_snaps, columns, network, sub_districts)
        compounds[schema.ACCESS_RULE] = access_points.rule
        compounds[schema.N_GATES] = access_points.n_gates
        compounds = pipeline_supply.residents(compounds, profile, reporter)
        compounds, supply = pipeline_supply.supply_demand(
            profile, access_graph, compounds, facility_layers
        )
        compounds = _life_circle(compounds, profile)
        by = schema.SUB_DISTRICT if sub_districts is not None else None
        table = coverage.coverage_table(compounds, list(profile.categories), by=by)
        targets = coverage.check_targets(table, profile.targets)
        facilities = _assemble_facilities(facility_layers, facility_snaps, network, supply)
        audit, excluded = pipeline_supply.register_tables(facility_registers, area_polygon)
    with _timed(timings, "map context", reporter):
        water = _water(buffered, layer_osm_file, cache_dir)
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
        facility_audit=audit,
        excluded_facilities=excluded,
        inputs=log.inputs,
        credits=list(dict.fromkeys(log.credits)),
        timings=timings,
        water=water,
    )


def _water(buffered: Any, osm_file: Path | None, cache_dir: Path) -> gpd.GeoDataFrame | None:
    """Water to draw on offline maps (None when there is none): context, never an input."""
    if osm_file is not None:
        return context.water_features(buffered, osm_file=osm_file)
    return context.water_features(buffered, cache_dir=cache_dir / "features")


@dataclass
class _RunLog:
    """What the steps record for the manifest and the credits."""

    inputs: dict[str, Any] = field(default_factory=dict)
    credits: list[str] = field(default_factory=list)

    def source(self, role: str, profile: Profile, sources: list[LayerSource]) -> str:
        """Record the layer sources of one role (and their credits); return a description
        for messages (file paths relative to the profile's folder)."""
        for number, src in enumerate(sources):
            key = role if len(sources) == 1 else f"{role}.{number + 1}"
            self.inputs[key] = _describe_source(profile, src)
        self.credits += [src.credit for src in sources if src.credit]
        return "; ".join(_short_source(profile, src) for src in sources)


def _study_area(profile: Profile, log: _RunLog) -> tuple[gpd.GeoDataFrame, Any, Any]:
    study_area = areas.study_area_polygon(profile)
    area_polygon = study_area.geometry.iloc[0]
    buffered = areas.buffer_polygon(area_polygon, profile.max_threshold_m, profile.projected_crs)
    log.inputs["study_area"] = _describe_area(profile)
    return study_area, area_polygon, buffered


def _layer_osm_file(profile: Profile) -> Path | None:
    """The OSM file that OSM-tag layers read (None when they come from Overpass)."""
    if profile.network.source != "osm_file":
        return None
    return profile.resolve(profile.network.osm_file)


def _network_area(area_polygon: Any, profile: Profile) -> Any:
    """The area whose streets make the network: the study area buffered by the largest
    threshold plus the snap limit, so that every walk within a threshold of a compound inside
    the area, snap legs included, runs on streets of the network."""
    margin = profile.max_threshold_m + profile.snap_limit_m
    return areas.buffer_polygon(area_polygon, margin, profile.projected_crs)


def _network(
    profile: Profile,
    buffered: Any,
    cache_dir: Path,
    log: _RunLog,
    reporter: Reporter,
    streets: StreetSegments | None = None,
) -> WalkNetwork:
    """The walking network, from the profile's OSM file or from Overpass (cached), or cut
    from street segments already read (a city's extract shared by the pieces of a batch)."""
    if streets is not None:
        with reporter.working(f"cutting the network from {streets.source}"):
            segments = streets.clip(buffered)
        with reporter.working("building the walking graph"):
            network = walking_network_from_segments(segments, profile.projected_crs)
        log.inputs["network"] = f"{streets.source} (read once for a batch)"
    elif profile.network.source == "osm_file":
        osm_file = profile.resolve(profile.network.osm_file)
        # Straight from the file into arrays: no networkx graph (see sources/osm_arrays.py).
        with reporter.working(f"reading {osm_file.name}, {_size_text(osm_file)}"):
            segments = osm_arrays.read_street_segments(osm_file, buffered)
        with reporter.working("building the walking graph"):
            network = walking_network_from_segments(segments, profile.projected_crs)
        log.inputs["network"] = osm_file
    else:
        with reporter.working("OpenStreetMap walking network (cached, or downloaded from "
                              "Overpass: a download can take minutes)"):
            graph = osm.graph_from_osm_online(buffered, cache_dir, progress=reporter.info)
        log.inputs["network"] = f"OpenStreetMap via Overpass ({settings.overpass_url})"
        log.inputs["network_cache"] = cache_dir / "network.graphml"
        with reporter.working("building the walking graph"):
            network = walking_network(graph, profile.projected_crs)
    reporter.info(
        f"walking network: {network.n_nodes:,} nodes, {len(network.edges):,} edges, "
        f"{network.edges['length'].sum() / 1000:,.0f} km of streets"
    )
    return network


def _facility_register(
    profile: Profile,
    key: str,
    buffered: Any,
    osm_file: Path | None,
    cache_dir: Path,
    log: _RunLog,
    reporter: Reporter,
) -> registers.Register:
    """One category's facilities from all its registers, inside the buffered study area."""
    category = profile.categories[key]
    layers = []
    for source in category.sources:
        with reporter.working(f"reading {key}: {_source_name(source)}"):
            layer = _load_layer(profile, source, buffered, osm_file, cache_dir, reporter)
            layers.append(_clip(layer, buffered))
    layers = pipeline_checks.facility_layers_checked(profile, layers, key)
    labels = pipeline_supply.source_labels(profile, category.sources)
    register = pipeline_supply.facility_register(profile, key, layers, labels, reporter)
    described = log.source(f"facilities.{key}", profile, category.sources)
    if register.facilities.empty:
        warnings.warn(
            f"no {category.label} facilities found in the study area (buffered by "
            f"{profile.max_threshold_m:.0f} m): every compound counts as uncovered "
            f"for {key}. Check the layer's source ({described}).",
            LifecircleWarning,
            stacklevel=2,
        )
    reporter.info(f"{key}: {len(register.facilities):,} facilities")
    return register


def _compounds(
    profile: Profile,
    area_polygon: Any,
    buffered: Any,
    osm_file: Path | None,
    cache_dir: Path,
    log: _RunLog,
    reporter: Reporter,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The compounds inside the study area, numbered, with households and population; and the
    layer's compounds within ``buffered`` as read (for the coordinate-system test)."""
    source = profile.compounds.source
    with reporter.working(f"reading compounds: {_source_name(source)}"):
        raw = _load_layer(profile, source, area_polygon, osm_file, cache_dir, reporter)
    described = log.source("compounds", profile, [source])
    pipeline_checks.osm_tags_found(raw, source, osm_file, "compounds")
    _check_population_fields(profile, raw, described)
    compounds = pipeline_checks.compound_counts(profile, _clip(raw, area_polygon), described)
    compounds = pipeline_checks.without_exact_duplicates(profile, compounds, "compounds")
    compounds = compounds.reset_index(drop=True)
    if compounds.empty:
        raise DataError(
            f"none of the {len(raw):,} compounds from {described} lies inside the study area: "
            "check the study area and the layer's coordinate system ('crs:' in the profile)"
        )
    compounds.insert(0, schema.COMPOUND_ID, np.arange(len(compounds)))
    households_field = profile.compounds.households_field
    compounds[schema.HOUSEHOLDS] = (
        pd.to_numeric(compounds[households_field], errors="coerce") if households_field else np.nan
    )
    compounds[schema.POPULATION] = coverage.compound_population(
        compounds,
        households_field,
        profile.compounds.population_field,
        profile.compounds.persons_per_household,
    )
    reporter.info(f"compounds in the study area: {len(compounds):,}")
    # The same file's compounds around the study area too: more points for the CRS test.
    return compounds, _clip(raw, buffered)


def _check_population_fields(profile: Profile, layer: pd.DataFrame, described: str) -> None:
    """Raise when ``households_field`` or ``population_field`` names no column of the layer."""
    columns = [str(c) for c in layer.columns if c != "geometry"]
    for key in ("households_field", "population_field"):
        name = getattr(profile.compounds, key)
        if name is None or name in layer.columns:
            continue
        close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DataError(
            f"compounds.{key} names the column {name!r}, which the compound layer "
            f"({described}) does not have; {hint}its columns are: {', '.join(columns)}"
        )


def _gates(
    profile: Profile,
    compounds: gpd.GeoDataFrame,
    buffered: Any,
    osm_file: Path | None,
    cache_dir: Path,
    log: _RunLog,
    reporter: Reporter,
) -> tuple[gpd.GeoSeries, pd.DataFrame] | None:
    """The compounds' gates and which compound each belongs to (None without gates)."""
    spec = profile.compounds.gates
    if spec is None:
        return None
    with reporter.working(f"reading gates: {_source_name(spec.source)}"):
        layer = _load_layer(profile, spec.source, buffered, osm_file, cache_dir, reporter)
        layer = _clip(layer, buffered)
    log.source("gates", profile, [spec.source])
    return pipeline_supply.gate_links(profile, layer, compounds, reporter)


def _snaps(
    profile: Profile,
    network: WalkNetwork,
    compounds: gpd.GeoDataFrame,
    gates: tuple[gpd.GeoSeries, pd.DataFrame] | None,
    facility_layers: dict[str, gpd.GeoDataFrame],
    nearby_compounds: gpd.GeoDataFrame | None = None,
) -> tuple[entrances.AccessPoints, pd.DataFrame, dict[str, pd.DataFrame]]:
    """Snap compounds (their gates, polygon edge or point) and facilities to the network,
    checking each source's coordinates."""
    spec = profile.compounds
    access_points = entrances.compound_access_points(
        network,
        compounds,
        profile.snap_limit_m,
        gates=gates[0] if gates else None,
        links=gates[1] if gates else None,
        boundary=spec.boundary_access,
        interior_leg=spec.gates.interior_leg if spec.gates else False,
    )
    compound_snaps = entrances.compound_snaps(access_points, len(compounds))
    checks.warn_about_snaps(
        compound_snaps, "compounds", profile.compounds.source.crs, network, compounds,
        reach_m=profile.snap_limit_m, crs_sample=nearby_compounds,
    )
    facility_snaps = {}
    for key, layer in facility_layers.items():
        facility_snaps[key] = snap_layer(network, layer, profile.snap_limit_m)
        sources = profile.categories[key].sources
        for number, source in enumerate(sources):
            part = (layer["source_number"] == number).to_numpy()
            what = f"{key} facilities" + (f" (source {number + 1})" if len(sources) > 1 else "")
            checks.warn_about_snaps(
                facility_snaps[key][part], what, source.crs, network, layer[part],
                reach_m=profile.snap_limit_m,
            )
    return access_points, compound_snaps, facility_snaps


def _distances(
    profile: Profile,
    access_graph: AccessGraph,
    facility_layers: dict[str, gpd.GeoDataFrame],
    reporter: Reporter,
) -> list[pd.DataFrame]:
    """Per category, every compound's walk to the nearest facility and the count in reach."""
    columns = []
    for key, category in profile.categories.items():
        layer = facility_layers[key]
        names = layer["name"].to_numpy() if "name" in layer else None
        graph = pipeline_supply.open_facilities(profile, access_graph, key, layer)
        with reporter.bar(f"{key} ({category.threshold_m:.0f} m)", len(layer)) as bar:
            columns.append(
                category_access(
                    graph,
                    key,
                    category.threshold_m,
                    profile.walking_speed_m_per_min,
                    names,
                    progress=bar,
                )
            )
    return columns


def _load_layer(
    profile: Profile,
    source: LayerSource,
    polygon: Any,
    osm_file: Path | None,
    cache_dir: Path,
    reporter: Reporter | None = None,
) -> gpd.GeoDataFrame:
    if source.osm_tags is not None:
        return osm.features_from_osm(
            source.osm_tags,
            polygon,
            osm_file=osm_file,
            cache_dir=cache_dir / "features",
            progress=reporter.info if reporter is not None else None,
        )
    if source.geocode is not None:
        return geocode.geocoded_layer(
            profile.resolve(source.file),
            service=source.geocode.service,
            address_field=source.geocode.address_field,
            city=source.geocode.city,
            name_field=source.name_field,
            layer=source.layer,
            sheet=source.sheet,
            where=source.where,
            cache_dir=cache_dir / "geocode",
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
    sub_districts: gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    snapped = _snapped_lonlat(snaps, network)
    out = compounds.copy()
    out[schema.SNAP_M] = snaps["snap_m"].to_numpy(dtype=float)
    out[schema.ACCESS_STATUS] = snaps["access_status"].to_numpy()
    out[schema.SNAP_LON], out[schema.SNAP_LAT] = snapped
    for frame in columns:
        for name in frame.columns:
            out[name] = frame[name].to_numpy()
    out[schema.SUB_DISTRICT] = coverage.assign_sub_districts(out, sub_districts)
    return out


def _life_circle(compounds: gpd.GeoDataFrame, profile: Profile) -> gpd.GeoDataFrame:
    """The complete life circle and the near misses, from the categories' coverage."""
    out = compounds.copy()
    required = coverage.required_categories(profile)
    out[schema.COMPLETE] = coverage.complete_life_circle(out, required)
    thresholds = {key: category.threshold_m for key, category in profile.categories.items()}
    near = coverage.near_misses(out, thresholds, profile.near_miss_share, required)
    for column in near.columns:
        out[column] = near[column].to_numpy()
    return out


def _assemble_facilities(
    layers: dict[str, gpd.GeoDataFrame],
    snaps: dict[str, pd.DataFrame],
    network: WalkNetwork,
    supply: dict[str, Any],
) -> gpd.GeoDataFrame:
    frames = []
    for key, layer in layers.items():
        points = gpd.GeoDataFrame(
            {
                "category": key,
                "name": layer.get("name", ""),
                **{c: layer[c] for c in _FACILITY_REGISTER_COLUMNS if c in layer},
            },
            geometry=representative_points(layer),
            crs=layer.crs,
        )
        snap = snaps[key]
        points["snap_m"] = snap["snap_m"].to_numpy(dtype=float)
        points["access_status"] = snap["access_status"].to_numpy()
        points["snap_lon"], points["snap_lat"] = _snapped_lonlat(snap, network)
        if key in supply:
            for column, values in pipeline_supply.facility_supply_columns(
                supply[key], len(points)
            ).items():
                points[column] = values
        frames.append(points.to_crs(settings.exchange_crs))
    if not frames:
        return gpd.GeoDataFrame(columns=["category", "name", "geometry"], crs=settings.exchange_crs)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=settings.exchange_crs)


_FACILITY_REGISTER_COLUMNS = (schema.SOURCE, schema.SOURCES, schema.CAPACITY, schema.CAPACITY_USED)


def _snapped_lonlat(snaps: pd.DataFrame, network: WalkNetwork) -> tuple[np.ndarray, np.ndarray]:
    if snaps.empty:
        return np.array([]), np.array([])
    points = gpd.GeoSeries.from_xy(snaps["snap_x"], snaps["snap_y"], crs=network.crs)
    points = points.to_crs(settings.exchange_crs)
    return points.x.to_numpy(), points.y.to_numpy()


def _source_name(source: LayerSource) -> str:
    """A layer source in a few words: its file name or its OpenStreetMap tags."""
    if source.osm_tags is not None:
        tags = "; ".join(
            f"{key}={'/'.join(map(str, v)) if isinstance(v, list) else v}"
            for key, v in source.osm_tags.items()
        )
        return f"OpenStreetMap {tags}"
    return Path(str(source.file)).name


def _size_text(path: Path | None) -> str:
    """'12.3 MB' for a file (its size tells how long reading it may take)."""
    try:
        return f"{Path(path).stat().st_size / 1e6:,.1f} MB"
    except (OSError, TypeError):
        return "size unknown"


def _describe_source(profile: Profile, source: LayerSource) -> str:
    if source.osm_tags is not None:
        return f"OpenStreetMap tags {source.osm_tags}"
    return str(profile.resolve(source.file))


def _short_source(profile: Profile, source: LayerSource) -> str:
    described = _describe_source(profile, source)
    if source.osm_tags is not None:
        return described
    try:
        return os.path.relpath(described, profile.base_dir)
    except ValueError:  # another drive (Windows)
        return described


def _describe_area(profile: Profile) -> str:
    area = profile.study_area
    if area.file is not None:
        return str(profile.resolve(area.file))
    return f"district {area.district}" if area.district else f"OSM place {area.place}"
