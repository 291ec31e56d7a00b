"""The inputs every benchmark method shares: one study's network, snapped compounds and
facilities, the engine's access graph, and the same graph as a plain node graph for peers."""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from scipy import sparse

import lifecircle as lc
from lifecircle.analysis.access import AccessGraph, build_access_graph, snap_layer
from lifecircle.analysis.network import WalkNetwork, symmetric_csr
from lifecircle.analysis.result import RunResult

from ._measure import log, timed
from .synthetic_city import write_city

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Thresholds of the counts task (the 5, 10 and 15-minute life circles of GB 50180-2018).
COUNT_THRESHOLDS = (300.0, 500.0, 1000.0)
#: Generated sizes: network nodes.
GENERATED = {"100k": 100_000, "1m": 1_000_000}


@dataclass
class PeerGraph:
    """The access graph as a plain directed graph: street nodes, inserted points, facility
    doors, and one *home* node per compound joined to its street point by its snap leg.

    Every method answers the same node-to-node question on it: walks from the doors of a
    category to the homes. Coordinates (projected metres) are given for peers that map
    points to nodes (pandana).
    """

    csr: sparse.csr_array
    x: np.ndarray
    y: np.ndarray
    homes: np.ndarray  # node of each on-network compound
    on_network: np.ndarray  # positions of those compounds among all compounds
    doors: dict[str, np.ndarray]  # per category, nodes of the snapped facilities

    @property
    def n_nodes(self) -> int:
        """Nodes of the graph."""
        return self.csr.shape[0]


@dataclass
class Inputs:
    """One study, ready for every method."""

    size: str
    label: str
    profile: Path
    result: RunResult
    network: WalkNetwork
    compound_snaps: pd.DataFrame
    facility_snaps: dict[str, pd.DataFrame]
    access: AccessGraph
    peer: PeerGraph
    thresholds: dict[str, float]
    prepare_s: dict[str, float]
    city: dict


def shared_data_dir() -> Path:
    """The real data folder (``$LIFECIRCLE_SHARED_DATA`` or ``../shared/data``)."""
    env = os.environ.get("LIFECIRCLE_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def city_profile(size: str, folder: Path, seed: int) -> Path:
    """The generated city of a size, written once and reused while its parameters hold."""
    target = folder / f"city_{size}_seed{seed}"
    profile = target / "city.yaml"
    if not profile.is_file():
        log(f"generating the {size} city (once) in {target} …")
        write_city(target, GENERATED[size], seed=seed)
    return profile


def load(size: str, cities: Path, seed: int) -> Inputs:
    """Run the study once through lifecircle (files → network → snaps) and build the inputs."""
    if size == "huangpu":
        os.environ.setdefault("LIFECIRCLE_SHARED_DATA", str(shared_data_dir()))
        profile = Path("huangpu")  # the built-in profile, by name
        label = "黄浦区 Huangpu (real OSM extract, AMap and Lianjia data)"
        study: str | Path = "huangpu"
        city = {}
    else:
        profile = city_profile(size, cities, seed)
        study = profile
        label = f"generated city, {GENERATED[size]:,} network nodes (synthetic .osm.pbf)"
        city = json.loads((profile.parent / "city.json").read_text())
    log(f"{size}: running the study once to read and snap its inputs …")
    # The run's warnings (kept in result.notes) would break up the tables: not printed here.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        run = timed(lambda: lc.run(study, progress=False))
    result: RunResult = run.value
    snaps = timed(lambda: _snaps(result))
    compound_snaps, facility_snaps = snaps.value
    graph = timed(lambda: build_access_graph(result.network, compound_snaps, facility_snaps))
    peer = peer_graph(result.network, graph.value, compound_snaps, facility_snaps, result)
    thresholds = {k: c.threshold_m for k, c in result.profile.categories.items()}
    return Inputs(
        size=size,
        label=label,
        profile=profile,
        result=result,
        network=result.network,
        compound_snaps=compound_snaps,
        facility_snaps=facility_snaps,
        access=graph.value,
        peer=peer,
        thresholds=thresholds,
        prepare_s={
            "run_s": run.wall_s,
            "run_timings": dict(result.timings),
            "snap_s": snaps.wall_s,
            "access_graph_s": graph.wall_s,
        },
        city=city,
    )


def _snaps(result: RunResult) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Compounds snapped by their point (one access point each), facilities as in the run."""
    compound_snaps = snap_layer(result.network, result.compounds, result.profile.snap_limit_m)
    return compound_snaps, {k: result.facility_snaps[k] for k in result.profile.categories}


def peer_graph(
    network: WalkNetwork,
    access: AccessGraph,
    compound_snaps: pd.DataFrame,
    facility_snaps: dict[str, pd.DataFrame],
    result: RunResult,
) -> PeerGraph:
    """The access graph plus home nodes, with coordinates for every node."""
    n = access.csr.shape[0]
    on_network = np.flatnonzero(access.compound_node >= 0)
    homes = n + np.arange(len(on_network))
    coo = access.csr.tocoo()
    legs = access.compound_snap_m[on_network]
    csr = symmetric_csr(
        np.r_[coo.row, access.compound_node[on_network]],
        np.r_[coo.col, homes],
        np.r_[coo.data, legs],
        n + len(on_network),
    )
    x, y = _coordinates(network, access, compound_snaps, facility_snaps, result, n)
    home_points = shapely.get_coordinates(
        result.compounds.to_crs(network.crs).geometry.representative_point().to_numpy()
    )[on_network]
    return PeerGraph(
        csr=csr,
        x=np.r_[x, home_points[:, 0]],
        y=np.r_[y, home_points[:, 1]],
        homes=homes,
        on_network=on_network,
        doors={k: d[d >= 0] for k, d in access.facility_door.items()},
    )


def _coordinates(
    network: WalkNetwork,
    access: AccessGraph,
    compound_snaps: pd.DataFrame,
    facility_snaps: dict[str, pd.DataFrame],
    result: RunResult,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """x/y of street nodes (edge ends), inserted points (snapped places) and doors (the
    facilities themselves): the order of :func:`lifecircle.analysis.access.build_access_graph`."""
    x, y = np.zeros(n), np.zeros(n)
    edges = network.edges
    geoms = edges.geometry.to_numpy()
    for column, which in (("u_pos", 0), ("v_pos", -1)):
        xy = shapely.get_coordinates(shapely.get_point(geoms, which))
        x[edges[column].to_numpy()], y[edges[column].to_numpy()] = xy[:, 0], xy[:, 1]
    snaps = pd.concat(
        [compound_snaps[["edge", "snap_x", "snap_y"]]]
        + [s[["edge", "snap_x", "snap_y"]] for s in facility_snaps.values()],
        ignore_index=True,
    )
    placed = snaps[snaps["edge"].notna()]
    first = network.n_nodes
    x[first : first + len(placed)] = placed["snap_x"].to_numpy()
    y[first : first + len(placed)] = placed["snap_y"].to_numpy()
    layers = result.facilities.to_crs(network.crs)
    for key, doors in access.facility_door.items():
        points = shapely.get_coordinates(
            layers[layers["category"] == key].geometry.representative_point().to_numpy()
        )
        ok = doors >= 0
        x[doors[ok]], y[doors[ok]] = points[ok, 0], points[ok, 1]
    return x, y
