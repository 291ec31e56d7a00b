"""The public run: profile → sources → network → access → coverage, in memory.

This module only orchestrates; every step lives in its own module. :func:`run` computes
everything in memory and writes nothing (:mod:`lifecircle.outputs` writes), so a failing run
leaves earlier outputs untouched.
"""

from __future__ import annotations

import difflib
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import pipeline_checks, pipeline_supply, schema, settings
from ._progress import Reporter, collected_warnings
from .analysis import coverage
from .analysis.access import representative_points
from .analysis.network import WalkNetwork, walking_network, walking_network_from_segments
from .analysis.result import RunLayers, RunResult
from .errors import DataError, LifecircleWarning
from .evaluation import evaluate, timed
from .profile import LayerSource, Profile, check_input_files, load_profile
from .sources import areas, context, osm, osm_arrays, registers
from .sources.layers import load_layer
from .sources.osm_arrays import StreetSegments
from .sources.osm_features import tags_text


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
        profile = profile.with_osm_file(osm_file)
    check_input_files(profile)
    reporter = Reporter(enabled=progress)
    timings: dict[str, float] = {}
    with collected_warnings(reporter, LifecircleWarning) as notes:
        result = _run(profile, reporter, timings, streets)
    result.notes = notes
    return result


def _run(
    profile: Profile,
    reporter: Reporter,
    timings: dict[str, float],
    streets: StreetSegments | None = None,
) -> RunResult:
    """The run as a sequence of named steps, each timed and announced."""
    log = _RunLog(credits=[settings.osm_attribution])
    cache_dir = settings.data_raw_folder / profile.name
    with timed(timings, "study area", reporter):
        study_area, area_polygon, buffered = _study_area(profile, log)
        network_area = _network_area(area_polygon, profile)
        pipeline_checks.boundary_crs(profile, study_area)
    # Layers before the network: a mistake in them shows before the slow network step.
    layer_osm_file = profile.local_osm_file
    with timed(timings, "compounds", reporter):
        compounds, nearby = _compounds(
            profile, area_polygon, buffered, layer_osm_file, cache_dir, log, reporter
        )
        gates = _gates(profile, compounds, buffered, layer_osm_file, cache_dir, log, reporter)
    with timed(timings, "facilities", reporter):
        facility_registers = {
            key: _facility_register(profile, key, buffered, layer_osm_file, cache_dir, log, reporter)
            for key in profile.categories
        }
        facility_layers = {key: register.facilities for key, register in facility_registers.items()}
    with timed(timings, "network", reporter):
        network = _network(profile, network_area, cache_dir, log, reporter, streets)
        pipeline_checks.partial_network(
            network, study_area, compounds, profile, log.inputs.get("network")
        )
    sub_districts = areas.sub_district_polygons(profile, study_area)
    pipeline_checks.overlapping_sub_districts(sub_districts, compounds, profile)
    layers = RunLayers(compounds=compounds, gates=gates, facility_layers=facility_layers)
    result = evaluate(
        profile, network, study_area, sub_districts, layers, reporter, timings,
        nearby_compounds=nearby,
    )
    audit, excluded = pipeline_supply.register_tables(facility_registers, area_polygon)
    with timed(timings, "map context", reporter):
        water = _water(buffered, layer_osm_file, cache_dir)
    return replace(
        result,
        facility_audit=audit,
        excluded_facilities=excluded,
        inputs=log.inputs,
        credits=list(dict.fromkeys(log.credits)),
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
    elif (osm_file := profile.local_osm_file) is not None:
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
            layer = load_layer(profile, source, buffered, osm_file, cache_dir, progress=reporter.info,
                               keep_tags=[f for f in pipeline_supply.capacity_fields(category, source) if f])
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
        raw = load_layer(profile, source, area_polygon, osm_file, cache_dir, progress=reporter.info)
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
        layer = load_layer(profile, spec.source, buffered, osm_file, cache_dir, progress=reporter.info)
        layer = _clip(layer, buffered)
    log.source("gates", profile, [spec.source])
    return pipeline_supply.gate_links(profile, layer, compounds, reporter)


def _clip(layer: gpd.GeoDataFrame, polygon: Any) -> gpd.GeoDataFrame:
    """Features whose representative point lies inside ``polygon`` (both EPSG:4326)."""
    if layer.empty:
        return layer
    layer = layer.to_crs(settings.exchange_crs)
    inside = representative_points(layer).within(polygon)
    return layer[inside.to_numpy()]


def _source_name(source: LayerSource) -> str:
    """A layer source in a few words: its file name or its OpenStreetMap tags."""
    if source.osm_tags is not None:
        return f"OpenStreetMap {tags_text(source.osm_tags)}"
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
