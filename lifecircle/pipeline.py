"""The public run: profile → sources → network → access → coverage, in memory.

This module only orchestrates; every step lives in its own module. :func:`run` computes
everything in memory and writes nothing (:mod:`lifecircle.outputs` writes), so a failing run
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

from . import schema, settings
from ._progress import Reporter, collected_warnings
from .analysis import checks, coverage, recompute
from .analysis.access import (
    AccessGraph,
    build_access_graph,
    category_access,
    representative_points,
    snap_layer,
)
from .analysis.network import WalkNetwork, walking_network
from .analysis.result import RunResult
from .errors import DataError, LifecircleWarning
from .profile import LayerSource, Profile, load_profile
from .sources import areas, osm
from .sources.layers import load_layer


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
    with collected_warnings(reporter, LifecircleWarning) as notes:
        result = _run(profile, reporter, timings)
    result.notes = notes
    return result


def _run(profile: Profile, reporter: Reporter, timings: dict[str, float]) -> RunResult:
    """The run as a sequence of named steps, each timed and announced."""
    log = _RunLog(credits=[settings.osm_attribution])
    cache_dir = settings.data_raw_folder / profile.name
    with _timed(timings, "study area", reporter):
        study_area, area_polygon, buffered = _study_area(profile, log)
    with _timed(timings, "network", reporter):
        network, layer_osm_file = _network(profile, buffered, cache_dir, log, reporter)
    with _timed(timings, "facilities", reporter):
        facility_layers = {
            key: _facility_layer(profile, key, buffered, layer_osm_file, cache_dir, log, reporter)
            for key in profile.categories
        }
    with _timed(timings, "compounds", reporter):
        compounds = _compounds(profile, area_polygon, layer_osm_file, cache_dir, log, reporter)
    with _timed(timings, "snapping", reporter):
        compound_snaps, facility_snaps = _snaps(profile, network, compounds, facility_layers)
        access_graph = build_access_graph(network, compound_snaps, facility_snaps)
    with _timed(timings, "walking distances", reporter):
        columns = _distances(profile, access_graph, facility_layers, reporter)
    with _timed(timings, "coverage", reporter):
        compounds = recompute.compound_table(compounds, compound_snaps, columns, network, profile)
        sub_districts = areas.sub_district_polygons(profile, study_area)
        compounds, table, targets = recompute.summarise(compounds, sub_districts, profile)
        facilities = recompute.facility_table(facility_layers, facility_snaps, network)
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
        inputs=log.inputs,
        credits=list(dict.fromkeys(log.credits)),
        timings=timings,
    )


@dataclass
class _RunLog:
    """What the steps record for the manifest and the credits."""

    inputs: dict[str, Any] = field(default_factory=dict)
    credits: list[str] = field(default_factory=list)

    def source(self, role: str, profile: Profile, sources: list[LayerSource]) -> str:
        """Record the layer sources of one role (and their credits); return the description."""
        described = "; ".join(_describe_source(profile, src) for src in sources)
        self.inputs[role] = described
        self.credits += [src.credit for src in sources if src.credit]
        return described


def _study_area(profile: Profile, log: _RunLog) -> tuple[gpd.GeoDataFrame, Any, Any]:
    study_area = areas.study_area_polygon(profile)
    area_polygon = study_area.geometry.iloc[0]
    buffered = areas.buffer_polygon(area_polygon, profile.max_threshold_m, profile.projected_crs)
    log.inputs["study_area"] = _describe_area(profile)
    return study_area, area_polygon, buffered


def _network(
    profile: Profile, buffered: Any, cache_dir: Path, log: _RunLog, reporter: Reporter
) -> tuple[WalkNetwork, Path | None]:
    """The walking network, and the OSM file that OSM-tag layers read (None when online)."""
    osm_file = profile.resolve(profile.network.osm_file)
    if profile.network.source == "osm_file":
        graph = osm.graph_from_osm_file(osm_file, buffered)
        log.inputs["network"] = osm_file
    else:
        graph = osm.graph_from_osm_online(buffered, cache_dir)
        log.inputs["network"] = f"OpenStreetMap via Overpass ({settings.overpass_url})"
    network = walking_network(graph, profile.projected_crs)
    reporter.info(
        f"walking network: {network.n_nodes:,} nodes, {len(network.edges):,} edges, "
        f"{network.edges['length'].sum() / 1000:,.0f} km of streets"
    )
    return network, osm_file if profile.network.source == "osm_file" else None


def _facility_layer(
    profile: Profile,
    key: str,
    buffered: Any,
    osm_file: Path | None,
    cache_dir: Path,
    log: _RunLog,
    reporter: Reporter,
) -> gpd.GeoDataFrame:
    """One category's facilities from all its sources, inside the buffered study area."""
    category = profile.categories[key]
    parts = [
        _clip(load_layer(profile, source, buffered, osm_file, cache_dir), buffered).assign(
            source_number=number
        )
        for number, source in enumerate(category.sources)
    ]
    layer = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=settings.exchange_crs)
    described = log.source(f"facilities.{key}", profile, category.sources)
    if layer.empty:
        warnings.warn(
            f"no {category.label} facilities found in the study area (buffered by "
            f"{profile.max_threshold_m:.0f} m): every compound counts as uncovered "
            f"for {key}. Check the layer's source ({described}).",
            LifecircleWarning,
            stacklevel=2,
        )
    reporter.info(f"{key}: {len(layer):,} facilities")
    return layer


def _compounds(
    profile: Profile,
    area_polygon: Any,
    osm_file: Path | None,
    cache_dir: Path,
    log: _RunLog,
    reporter: Reporter,
) -> gpd.GeoDataFrame:
    """The compounds inside the study area, numbered, with households and population."""
    source = profile.compounds.source
    raw = load_layer(profile, source, area_polygon, osm_file, cache_dir)
    compounds = _clip(raw, area_polygon).reset_index(drop=True)
    described = log.source("compounds", profile, [source])
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
    return compounds


def _snaps(
    profile: Profile,
    network: WalkNetwork,
    compounds: gpd.GeoDataFrame,
    facility_layers: dict[str, gpd.GeoDataFrame],
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Snap compounds and facilities to the network, checking each source's coordinates."""
    compound_snaps = snap_layer(network, compounds, profile.snap_limit_m)
    checks.warn_about_snaps(
        compound_snaps, "compounds", profile.compounds.source.crs, network, compounds
    )
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
    return compound_snaps, facility_snaps


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
        with reporter.bar(f"{key} ({category.threshold_m:.0f} m)", len(layer)) as bar:
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
    return columns


def _clip(layer: gpd.GeoDataFrame, polygon: Any) -> gpd.GeoDataFrame:
    """Features whose representative point lies inside ``polygon`` (both EPSG:4326)."""
    if layer.empty:
        return layer
    layer = layer.to_crs(settings.exchange_crs)
    inside = representative_points(layer).within(polygon)
    return layer[inside.to_numpy()]


def _describe_source(profile: Profile, source: LayerSource) -> str:
    if source.osm_tags is not None:
        return f"OpenStreetMap tags {source.osm_tags}"
    return str(profile.resolve(source.file))


def _describe_area(profile: Profile) -> str:
    area = profile.study_area
    if area.file is not None:
        return str(profile.resolve(area.file))
    return f"district {area.district}" if area.district else f"OSM place {area.place}"
