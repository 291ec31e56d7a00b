"""Benchmark lifecircle's access engine against per-origin networkx / osmnx approaches.

All methods run on the same real inputs: the central-Shanghai OSM street extract (cut to Huangpu
District buffered by 1000 m, or the whole file with ``--area whole``), the 2016 compound
register converted from Baidu BD-09 to WGS84, and AMap kindergartens (threshold 300 m) and
theatres/cinemas (threshold 1000 m). See benchmarks/README.md for what each method does and
how to read the table.

Run from the repository root::

    python benchmarks/bench_access.py            # or: make bench
    python benchmarks/bench_access.py --sample 500 --repeat 7

Results are printed and written as JSON to benchmarks/results/ (git-ignored). The exit status
is 1 when lifecircle's distances or counts disagree with the independent networkx check.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import prcoords
import scipy
import shapely

import lifecircle
from lifecircle import settings
from lifecircle.analysis.access import (
    STATUS_OK,
    AccessGraph,
    build_access_graph,
    category_access,
    snap_layer,
)
from lifecircle.analysis.network import WalkNetwork, walking_network

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"

PROJECTED_CRS = "EPSG:32651"  # UTM 51N, Shanghai
OSM_FILE = "shanghai_center.osm.bz2"
DISTRICTS_FILE = "shanghai_districts_cgcs2000.geojson"
COMPOUNDS_FILE = "shanghai_compounds_lianjia2016_bd09.csv"
DISTRICT_NAME = "黄浦区"
AREA_BUFFER_M = 1000.0
#: category -> (facility CSV in WGS84, walking threshold in metres)
CATEGORIES: dict[str, tuple[str, float]] = {
    "nursery": ("shanghai_kindergartens_amap_wgs84.csv", 300.0),
    "culture": ("shanghai_theatres_cinemas_amap_wgs84.csv", 1000.0),
}
#: lifecircle and the offset-aware networkx check must agree to this (metres).
AGREEMENT_TOLERANCE_M = 1e-6


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass
class Inputs:
    """Everything the methods share: the network, the snapped compounds and facilities."""

    area: str
    network: WalkNetwork
    compounds: gpd.GeoDataFrame  # projected points, only compounds snapped with status "ok"
    compound_snaps: pd.DataFrame
    facilities: dict[str, gpd.GeoDataFrame]  # projected points, only snapped facilities
    facility_snaps: dict[str, pd.DataFrame]
    counts: dict[str, int]
    load_s: dict[str, float]


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _default_data_dir() -> Path:
    env = os.environ.get("LIFECIRCLE_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _study_polygons(data: Path, area: str, graph: nx.MultiDiGraph) -> tuple[Any, Any]:
    """(polygon selecting compounds, polygon selecting the network and facilities), WGS84."""
    if area == "whole":
        xs = [d["x"] for _, d in graph.nodes(data=True)]
        ys = [d["y"] for _, d in graph.nodes(data=True)]
        extent = shapely.box(min(xs), min(ys), max(xs), max(ys))
        return extent, extent
    districts = gpd.read_file(data / DISTRICTS_FILE)
    district = districts[districts["name"] == DISTRICT_NAME]
    if district.empty:
        raise SystemExit(f"{DISTRICT_NAME} not found in {data / DISTRICTS_FILE}")
    inner = district.to_crs("EPSG:4326").union_all()
    outer = district.to_crs(PROJECTED_CRS).buffer(AREA_BUFFER_M).to_crs("EPSG:4326").union_all()
    return inner, outer


def _compounds_wgs84(data: Path, bounds: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """The compound register with BD-09 coordinates converted to WGS84 (near ``bounds``)."""
    table = pd.read_csv(data / COMPOUNDS_FILE)
    # BD-09 is offset from WGS84 by well under 0.02°: pre-filter before the per-point conversion.
    west, south, east, north = bounds
    near = table["lng_bd09"].between(west - 0.02, east + 0.02) & table["lat_bd09"].between(
        south - 0.02, north + 0.02
    )
    table = table[near].reset_index(drop=True)
    wgs = [
        prcoords.bd_wgs_bored(prcoords.Coords(lat, lon))
        for lon, lat in zip(table["lng_bd09"], table["lat_bd09"], strict=True)
    ]
    points = gpd.points_from_xy([p.lon for p in wgs], [p.lat for p in wgs])
    return gpd.GeoDataFrame(table, geometry=points, crs="EPSG:4326")


def _facilities_wgs84(data: Path, file: str) -> gpd.GeoDataFrame:
    table = pd.read_csv(data / file)
    points = gpd.points_from_xy(table["lon"], table["lat"])
    return gpd.GeoDataFrame(table, geometry=points, crs="EPSG:4326")


def _inside(gdf: gpd.GeoDataFrame, polygon: Any) -> gpd.GeoDataFrame:
    return gdf[gdf.within(polygon)].reset_index(drop=True)


def load_inputs(data: Path, area: str) -> Inputs:
    """Load and snap the real network, compounds and facilities."""
    load_s: dict[str, float] = {}
    _log(f"reading {OSM_FILE} …")
    graph, load_s["read_osm"] = _timed(
        lambda: ox.graph_from_xml(data / OSM_FILE, bidirectional=True, retain_all=True)
    )
    compound_area, network_area = _study_polygons(data, area, graph)
    if area == "huangpu":
        graph = ox.truncate.truncate_graph_polygon(graph, network_area, truncate_by_edge=True)
    network, load_s["walking_network"] = _timed(lambda: walking_network(graph, PROJECTED_CRS))

    compounds = _inside(_compounds_wgs84(data, compound_area.bounds), compound_area)
    facilities = {
        cat: _inside(_facilities_wgs84(data, file), network_area)
        for cat, (file, _) in CATEGORIES.items()
    }

    start = time.perf_counter()
    compound_snaps = snap_layer(network, compounds, settings.snap_limit_m)
    ok = (compound_snaps["access_status"] == STATUS_OK).to_numpy()
    facility_snaps = {}
    for cat, gdf in facilities.items():
        snaps = snap_layer(network, gdf, settings.snap_limit_m)
        keep = snaps["edge"].notna().to_numpy()
        facilities[cat] = gdf[keep].to_crs(PROJECTED_CRS).reset_index(drop=True)
        facility_snaps[cat] = snaps[keep].reset_index(drop=True)
    load_s["snap_layers"] = time.perf_counter() - start

    counts = {
        "network_nodes": network.n_nodes,
        "network_edges": len(network.edges),
        "compounds_in_area": len(compounds),
        "compounds_snapped_ok": int(ok.sum()),
    }
    for cat, gdf in facilities.items():
        counts[f"{cat}_facilities_snapped"] = len(gdf)
    return Inputs(
        area=area,
        network=network,
        compounds=compounds[ok].to_crs(PROJECTED_CRS).reset_index(drop=True),
        compound_snaps=compound_snaps[ok].reset_index(drop=True),
        facilities=facilities,
        facility_snaps=facility_snaps,
        counts=counts,
        load_s=load_s,
    )


# --------------------------------------------------------------------------------------------
# Method 1: lifecircle
# --------------------------------------------------------------------------------------------


def engine_step(inputs: Inputs) -> tuple[AccessGraph, dict[str, pd.DataFrame], dict[str, float]]:
    """build_access_graph + category_access for each category, with sub-step times."""
    parts: dict[str, float] = {}
    graph, parts["build_access_graph"] = _timed(
        lambda: build_access_graph(inputs.network, inputs.compound_snaps, inputs.facility_snaps)
    )
    speed = settings.walking_speed_kmh * 1000 / 60
    results = {}
    for cat, (_, threshold) in CATEGORIES.items():
        results[cat], parts[f"category_access[{cat}]"] = _timed(
            lambda cat=cat, threshold=threshold: category_access(graph, cat, threshold, speed)
        )
    return graph, results, parts


def bench_engine(inputs: Inputs, repeat: int) -> dict[str, Any]:
    """Median wall time of the engine step over ``repeat`` runs (after one warm-up)."""
    engine_step(inputs)  # warm-up: first calls pay for lazy imports and allocator growth
    totals, parts_runs = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        graph, results, parts = engine_step(inputs)
        totals.append(time.perf_counter() - start)
        parts_runs.append(parts)
    return {
        "graph": graph,
        "results": results,
        "runs_s": totals,
        "median_s": statistics.median(totals),
        "parts_median_s": {k: statistics.median(p[k] for p in parts_runs) for k in parts_runs[0]},
        "csr_nodes": int(graph.csr.shape[0]),
        "csr_nnz": int(graph.csr.nnz),
    }


def measure_engine_memory(inputs: Inputs) -> dict[str, float]:
    """Peak Python-heap allocation (tracemalloc, includes NumPy arrays) of one engine step."""
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    tracemalloc.start()
    engine_step(inputs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    return {
        "tracemalloc_peak_mb": peak / 1024**2,
        "maxrss_delta_mb": (rss_after - rss_before) / 1024**2,
        "process_maxrss_mb": rss_after / 1024**2,
    }


# --------------------------------------------------------------------------------------------
# Methods 2 and 3: per-origin networkx / osmnx
# --------------------------------------------------------------------------------------------


def nearest_nodes(inputs: Inputs) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Nearest street node of every compound and facility (the node-based approaches' snap)."""
    graph = inputs.network.graph
    pts = inputs.compounds.geometry
    compound_nodes = ox.distance.nearest_nodes(graph, pts.x.to_numpy(), pts.y.to_numpy())
    facility_nodes = {}
    for cat, gdf in inputs.facilities.items():
        facility_nodes[cat] = ox.distance.nearest_nodes(
            graph, gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
        )
    return np.asarray(compound_nodes), facility_nodes


def networkx_per_origin(
    graph: nx.MultiGraph, origins: np.ndarray, facility_nodes: dict[str, np.ndarray]
) -> dict[str, Any]:
    """One full Dijkstra per compound; nearest facility and counts read from it.

    The uncut search is needed for the nearest facility anyway, and it also answers every
    threshold, so a second cutoff search per category would only add time: this favours
    networkx.
    """
    targets = {cat: [int(n) for n in nodes] for cat, nodes in facility_nodes.items()}
    nearest = {cat: np.empty(len(origins)) for cat in targets}
    count = {cat: np.empty(len(origins), dtype=np.int64) for cat in targets}
    start = time.perf_counter()
    for i, node in enumerate(origins):
        dist = nx.single_source_dijkstra_path_length(graph, int(node), weight="length")
        for cat, nodes in targets.items():
            threshold = CATEGORIES[cat][1]
            found = [dist.get(n, np.inf) for n in nodes]
            nearest[cat][i] = min(found, default=np.inf)
            count[cat][i] = sum(d <= threshold for d in found)
    return {"seconds": time.perf_counter() - start, "nearest": nearest, "count": count}


def osmnx_ego_graph(
    graph: nx.MultiGraph, origins: np.ndarray, facility_nodes: dict[str, np.ndarray]
) -> dict[str, Any]:
    """The osmnx-tutorial isochrone way: ego_graph within the threshold, count facility nodes."""
    targets = {cat: [int(n) for n in nodes] for cat, nodes in facility_nodes.items()}
    count = {cat: np.empty(len(origins), dtype=np.int64) for cat in targets}
    start = time.perf_counter()
    for i, node in enumerate(origins):
        for cat, nodes in targets.items():
            sub = nx.ego_graph(graph, int(node), radius=CATEGORIES[cat][1], distance="length")
            count[cat][i] = sum(n in sub for n in nodes)
    return {"seconds": time.perf_counter() - start, "count": count}


# --------------------------------------------------------------------------------------------
# Agreement check: offset-aware networkx
# --------------------------------------------------------------------------------------------


def offset_aware_networkx(inputs: Inputs, sample: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Exact point-to-point walks with networkx, computed independently of lifecircle's CSR.

    A point at offset ``o`` on edge (u, v) of length ``L`` reaches a street node x by
    ``min(o + d(u, x), L - o + d(v, x))``; two points on the same edge also have the direct
    walk ``|o1 - o2|``. Snap legs (point to street) are added at both ends, as lifecircle does.
    """
    graph = inputs.network.graph
    edges = inputs.network.edges
    e_u, e_v = edges["u"].to_numpy(), edges["v"].to_numpy()
    e_len = edges["length"].to_numpy()
    fac = {}
    for cat, snaps in inputs.facility_snaps.items():
        e = snaps["edge"].to_numpy(dtype=np.int64)
        fac[cat] = (e, snaps["offset_m"].to_numpy(float), snaps["snap_m"].to_numpy(float))
    out = {
        cat: {"nearest": np.empty(len(sample)), "count": np.empty(len(sample), dtype=np.int64)}
        for cat in fac
    }
    snaps = inputs.compound_snaps
    for i, row in enumerate(sample):
        e = int(snaps["edge"].iat[row])
        o, s = float(snaps["offset_m"].iat[row]), float(snaps["snap_m"].iat[row])
        from_u = nx.single_source_dijkstra_path_length(graph, int(e_u[e]), weight="length")
        from_v = nx.single_source_dijkstra_path_length(graph, int(e_v[e]), weight="length")

        def to_node(x: int, o: float = o, e: int = e, du=from_u, dv=from_v) -> float:
            return min(o + du.get(x, np.inf), e_len[e] - o + dv.get(x, np.inf))

        for cat, (fe, fo, fs) in fac.items():
            via_u = fo + np.array([to_node(int(x)) for x in e_u[fe]])
            via_v = e_len[fe] - fo + np.array([to_node(int(x)) for x in e_v[fe]])
            street = np.minimum(via_u, via_v)
            same = fe == e
            street[same] = np.minimum(street[same], np.abs(fo[same] - o))
            dist = s + street + fs
            limit = CATEGORIES[cat][1] + settings.threshold_tolerance_m
            out[cat]["nearest"][i] = dist.min() if len(dist) else np.inf
            out[cat]["count"][i] = int((dist <= limit).sum())
    return out


def agreement(
    inputs: Inputs,
    engine_results: dict[str, pd.DataFrame],
    sample: np.ndarray,
    node_based: dict[str, Any],
    ego: dict[str, Any],
) -> dict[str, Any]:
    """Compare lifecircle with the offset-aware and the node-based networkx results."""
    exact = offset_aware_networkx(inputs, sample)
    report: dict[str, Any] = {}
    for cat, (_, threshold) in CATEGORIES.items():
        lc_dist = engine_results[cat][f"{cat}_dist_m"].to_numpy()[sample]
        lc_dist = np.where(np.isnan(lc_dist), np.inf, lc_dist)
        lc_count = engine_results[cat][f"{cat}_count"].to_numpy()[sample]
        both = np.isfinite(lc_dist) & np.isfinite(exact[cat]["nearest"])
        inf_mismatch = int((np.isfinite(lc_dist) != np.isfinite(exact[cat]["nearest"])).sum())
        nb = node_based["nearest"][cat]
        nb_both = np.isfinite(lc_dist) & np.isfinite(nb)
        diff_nb = lc_dist[nb_both] - nb[nb_both]
        report[cat] = {
            "threshold_m": threshold,
            "offset_aware_max_abs_diff_m": float(
                np.abs(lc_dist[both] - exact[cat]["nearest"][both]).max(initial=0.0)
            ),
            "offset_aware_reachability_mismatches": inf_mismatch,
            "offset_aware_count_mismatches": int((lc_count != exact[cat]["count"]).sum()),
            "node_based_median_diff_m": float(np.median(diff_nb)) if len(diff_nb) else None,
            "node_based_median_abs_diff_m": float(np.median(np.abs(diff_nb)))
            if len(diff_nb)
            else None,
            "node_based_max_abs_diff_m": float(np.abs(diff_nb).max(initial=0.0)),
            "node_based_coverage_disagreements": int(
                ((lc_dist <= threshold) != (nb <= threshold)).sum()
            ),
            "ego_vs_node_based_count_mismatches": int(
                (ego["count"][cat] != node_based["count"][cat]).sum()
            ),
        }
    return report


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    right = [False] + [True] * (len(header) - 1)

    def fmt(row: list[str]) -> str:
        cells = [
            str(c).rjust(w) if r else str(c).ljust(w)
            for c, w, r in zip(row, widths, right, strict=True)
        ]
        return "  ".join(cells)

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(r) for r in rows)])


def _ratio_text(name: str, ratio: float) -> str:
    if ratio >= 1:
        return f"{name} is {ratio:,.0f}x slower than lifecircle"
    return f"{name} is {1 / ratio:,.1f}x faster than lifecircle"


def print_report(result: dict[str, Any]) -> None:
    c = result["inputs"]
    n = c["compounds_snapped_ok"]
    print()
    print(f"lifecircle access benchmark — area: {result['area_label']}")
    print(
        f"network: {c['network_nodes']:,} nodes, {c['network_edges']:,} edges; "
        f"compounds: {n:,} snapped (of {c['compounds_in_area']:,} in the area); "
        + ", ".join(
            f"{cat} {c[f'{cat}_facilities_snapped']} facilities ({t:.0f} m)"
            for cat, (_, t) in CATEGORIES.items()
        )
    )
    print(
        f"distance step for {len(CATEGORIES)} categories (nearest + count within threshold); "
        f"sample of {result['sample_size']} compounds, seed {result['seed']}"
    )
    print()
    rows = []
    for m in result["methods"]:
        rows.append(
            [
                m["name"],
                f"{n:,}",
                f"{m['seconds']:.3f}",
                m["how"],
                f"{m['per_compound_ms']:.3f}",
                "1x" if m["ratio_vs_lifecircle"] == 1 else f"{m['ratio_vs_lifecircle']:,.0f}x",
                f"{m['prep_s']:.3f}",
            ]
        )
    header = [
        "method",
        "compounds",
        "seconds",
        "measured/extrapolated",
        "ms/compound",
        "vs lifecircle",
        "prep s",
    ]
    print(_table(rows, header))
    for m in result["methods"][1:]:
        print("  " + _ratio_text(m["name"], m["ratio_vs_lifecircle"]))
    eng = result["methods"][0]
    print(
        "  lifecircle parts (median s): "
        + ", ".join(f"{k} {v:.4f}" for k, v in eng["parts_median_s"].items())
    )
    mem = result["memory"]
    print(
        f"  lifecircle memory: tracemalloc peak {mem['tracemalloc_peak_mb']:.1f} MB during the "
        f"engine step (maxrss delta {mem['maxrss_delta_mb']:.1f} MB, process maxrss "
        f"{mem['process_maxrss_mb']:.0f} MB)"
    )
    print("  'prep' (not in the ratio): lifecircle snap_layer for all layers; networkx/osmnx")
    print("  nearest_nodes for all compounds and facilities.")
    print()
    print(f"agreement on the {result['sample_size']} sampled compounds:")
    rows = []
    for cat, a in result["agreement"].items():
        rows.append(
            [
                cat,
                f"{a['offset_aware_max_abs_diff_m']:.2e}",
                f"{a['offset_aware_count_mismatches']}",
                f"{a['node_based_median_diff_m']:+.1f}",
                f"{a['node_based_max_abs_diff_m']:.1f}",
                f"{a['node_based_coverage_disagreements']}",
                f"{a['ego_vs_node_based_count_mismatches']}",
            ]
        )
    header = [
        "category",
        "max|lc-exact nx| m",
        "count diffs",
        "median lc-node m",
        "max|lc-node| m",
        "coverage flips",
        "ego!=nx counts",
    ]
    print(_table(rows, header))
    print("  exact nx = networkx with the same edge offsets and snap legs (must be ~0);")
    print("  node = nearest-node networkx (what methods 2 and 3 compute): differs by design.")
    print(f"  agreement check: {'PASS' if result['agreement_ok'] else 'FAIL'}")
    print()
    print(f"total benchmark time {result['total_s']:.0f} s; JSON: {result['json_path']}")


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sample", type=int, default=200, help="compounds timed for the per-origin methods"
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of the engine step")
    parser.add_argument("--seed", type=int, default=0, help="seed of the compound sample")
    parser.add_argument(
        "--area",
        choices=["huangpu", "whole"],
        default="huangpu",
        help="huangpu: 黄浦区 compounds on its network buffered 1000 m; whole: the whole extract",
    )
    parser.add_argument(
        "--data", type=Path, default=_default_data_dir(), help="folder with the shared real data"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    args = parse_args(argv)
    if not (args.data / OSM_FILE).is_file():
        print(f"real data not found in {args.data}: pass --data or set LIFECIRCLE_SHARED_DATA")
        return 2
    t0 = time.perf_counter()
    inputs = load_inputs(args.data, args.area)
    n = len(inputs.compounds)
    if n == 0:
        print("no compounds snapped in the area: nothing to benchmark")
        return 2
    _log(f"{n} compounds, network {inputs.network.n_nodes} nodes; timing lifecircle …")

    engine = bench_engine(inputs, args.repeat)
    memory = measure_engine_memory(inputs)

    rng = np.random.default_rng(args.seed)
    sample = np.sort(rng.choice(n, size=min(args.sample, n), replace=False))
    (compound_nodes, facility_nodes), nn_prep_s = _timed(lambda: nearest_nodes(inputs))
    origins = compound_nodes[sample]
    _log(f"timing networkx per-origin Dijkstra on {len(sample)} compounds …")
    per_origin = networkx_per_origin(inputs.network.graph, origins, facility_nodes)
    _log(f"timing osmnx ego_graph on {len(sample)} compounds …")
    ego = osmnx_ego_graph(inputs.network.graph, origins, facility_nodes)
    _log("checking agreement …")
    checks = agreement(inputs, engine["results"], sample, per_origin, ego)
    agreement_ok = all(
        a["offset_aware_max_abs_diff_m"] <= AGREEMENT_TOLERANCE_M
        and a["offset_aware_count_mismatches"] == 0
        and a["offset_aware_reachability_mismatches"] == 0
        and a["ego_vs_node_based_count_mismatches"] == 0
        for a in checks.values()
    )

    base = engine["median_s"]
    methods = [
        {
            "name": "lifecircle (CSR multi-source Dijkstra)",
            "seconds": base,
            "how": f"measured, median of {args.repeat}",
            "per_compound_ms": base / n * 1000,
            "ratio_vs_lifecircle": 1.0,
            "prep_s": inputs.load_s["snap_layers"],
            "runs_s": engine["runs_s"],
            "parts_median_s": engine["parts_median_s"],
        }
    ]
    for name, timing in [
        ("networkx per-origin Dijkstra", per_origin),
        ("osmnx ego_graph per origin", ego),
    ]:
        per = timing["seconds"] / len(sample)
        methods.append(
            {
                "name": name,
                "seconds": per * n,
                "how": f"extrapolated from {len(sample)}",
                "sample_seconds": timing["seconds"],
                "per_compound_ms": per * 1000,
                "ratio_vs_lifecircle": per * n / base,
                "prep_s": nn_prep_s,
            }
        )

    area_label = (
        f"{DISTRICT_NAME} (Huangpu) compounds, network and facilities within "
        f"{AREA_BUFFER_M:.0f} m of the district"
        if args.area == "huangpu"
        else "whole central-Shanghai extract"
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"bench_access_{args.area}_{stamp}.json"
    result = {
        "benchmark": "lifecircle access engine vs per-origin networkx/osmnx",
        "timestamp_utc": stamp,
        "area": args.area,
        "area_label": area_label,
        "seed": args.seed,
        "sample_size": len(sample),
        "repeat": args.repeat,
        "inputs": inputs.counts | {"csr_nodes": engine["csr_nodes"], "csr_nnz": engine["csr_nnz"]},
        "categories": {cat: t for cat, (_, t) in CATEGORIES.items()},
        "load_s": inputs.load_s,
        "methods": methods,
        "memory": memory,
        "agreement": checks,
        "agreement_ok": agreement_ok,
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "lifecircle": lifecircle.__version__,
            "networkx": nx.__version__,
            "osmnx": ox.__version__,
            "scipy": scipy.__version__,
            "numpy": np.__version__,
        },
    }
    result["total_s"] = time.perf_counter() - t0
    result["json_path"] = str(
        json_path.relative_to(REPO_ROOT) if json_path.is_relative_to(REPO_ROOT) else json_path
    )
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_report(result)
    return 0 if agreement_ok else 1


if __name__ == "__main__":
    sys.exit(main())
