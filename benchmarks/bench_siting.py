"""Benchmark siting: coverage matrix, exact (HiGHS) and greedy solves, and spopt as reference.

Two inputs, the same questions for every method:

* **Huangpu** (real data, the built-in ``huangpu`` profile): nursery (300 m) with every street
  node inside the district as a candidate; the best 5 new sites (maximal covering) and the
  fewest sites for 95% of residents. Methods: lifecircle exact (HiGHS through SciPy), lifecircle
  greedy (with its bound), and spopt's MCLP (PuLP + CBC) on the same coverage matrix.
* **Synthetic grid** of about 100,000 street nodes (``--grid 317`` → 317 × 317), 80 m blocks,
  random compounds with random residents, threshold 500 m, every node a candidate; the best
  ``--k`` new sites. Methods: lifecircle exact (time-limited) and greedy.

Every solution is checked: the sites' coverage is recomputed with a multi-source Dijkstra from
the chosen sites (Huangpu: the whole run is recomputed) and must equal the solver's claim; the
greedy value must lie within its stated bound of the exact optimum. Exit status 1 otherwise,
2 when the real data is missing.

Run from the repository root::

    python benchmarks/bench_siting.py                 # both inputs
    python benchmarks/bench_siting.py --skip-grid     # Huangpu only (about a minute)

Results are printed and written as JSON to benchmarks/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy
import shapely
from scipy import sparse

import lifecircle as lc
from lifecircle.analysis import _covering as cv
from lifecircle.analysis import siting
from lifecircle.analysis.access import build_access_graph, nearest_facility_distance, snap_layer
from lifecircle.analysis.candidates import street_node_candidates
from lifecircle.analysis.entrances import compound_access_points
from lifecircle.analysis.network import WalkNetwork

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
CRS = "EPSG:32651"


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class _PeakRss:
    """Peak resident memory of this process while a block runs (sampled every 5 ms).

    Includes memory that tracemalloc does not see (HiGHS is C++).
    """

    def __init__(self) -> None:
        self.start = self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self) -> _PeakRss:
        self.start = self.peak = self._rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.start) / 1024**2


def measure(label: str, fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run ``fn`` once: seconds and the peak resident memory above the start (MB).

    Not tracemalloc: it slows Python-heavy code (PuLP's model building) several-fold, which
    would bias the comparison, and it does not see the solvers' C/C++ memory.
    """
    with _PeakRss() as rss:
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
    _log(f"{label}: {seconds:.2f} s, peak +{rss.extra_mb:.1f} MB")
    return out, {"seconds": seconds, "rss_extra_mb": rss.extra_mb}


# --------------------------------------------------------------------------------------------
# spopt, the reference: maximal covering on the same coverage matrix
# --------------------------------------------------------------------------------------------


def spopt_mclp(cover: sparse.csr_array, weights: np.ndarray, k: int) -> np.ndarray:
    """spopt's MCLP (PuLP + CBC) on a coverage matrix given as a cost matrix (0 = covered)."""
    import pulp
    from spopt.locate import MCLP

    cost = np.where(cover.toarray(), 0.0, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = MCLP.from_cost_matrix(cost, weights, service_radius=1.0, p_facilities=k)
        model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    return np.array([j for j, v in enumerate(model.fac_vars) if v.value() > 0.5])


# --------------------------------------------------------------------------------------------
# Huangpu
# --------------------------------------------------------------------------------------------


def bench_huangpu(k: int, share: float, spopt: bool) -> tuple[dict[str, Any], list[str]]:
    """Huangpu, nursery, every street node a candidate: exact vs greedy vs spopt."""
    problems: list[str] = []
    result, run_cost = measure("huangpu run (not part of siting)",
                               lambda: lc.run("huangpu", progress=False))
    plan_k, site_cost = measure(
        f"huangpu best {k} (matrix + exact + greedy + recomputation)",
        lambda: lc.site(result, "nursery", n_sites=k, candidates="street_nodes", solver="exact"),
    )
    problem = plan_k.problem
    reduced = siting._reduce(problem, False)
    options = cv.SolverOptions(method="exact")
    (path_k, _, _), path_cost = measure("  lifecircle exact path", lambda: cv.solve_max_cover(
        reduced.cover, reduced.weights, (), k, options))
    exact_k, exact_cost = measure("  MIP alone", lambda: cv.max_cover_exact(reduced.cover, reduced.weights, k))
    greedy_k, greedy_cost = measure("  greedy", lambda: cv.max_cover_greedy(reduced.cover, reduced.weights, k))
    lp_k, lp_cost = measure("  LP bound", lambda: cv.lp_bound_max_cover(reduced.cover, reduced.weights, k))
    rows = {
        "lifecircle exact path": (path_k.covered_weight, path_cost,
                                  f"{path_k.method}, {path_k.status}"),
        "MIP alone (HiGHS)": (exact_k.covered_weight, exact_cost, exact_k.status),
        "greedy": (greedy_k.covered_weight, greedy_cost, f"bound {greedy_k.bound:,.0f}"),
    }
    if spopt:
        chosen, spopt_cost = measure("  spopt MCLP (PuLP + CBC)",
                                     lambda: spopt_mclp(reduced.cover, reduced.weights, k))
        value = float(reduced.weights[cv.covered_rows(reduced.cover, chosen)].sum())
        rows["spopt MCLP (PuLP+CBC)"] = (value, spopt_cost, "optimal")
        if abs(value - exact_k.covered_weight) > 1e-6 or abs(value - path_k.covered_weight) > 1e-6:
            problems.append(f"spopt's optimum {value} differs from lifecircle's {exact_k.covered_weight}")
    if not greedy_k.covered_weight <= exact_k.covered_weight + 1e-6 <= greedy_k.bound + 2e-6:
        problems.append("Huangpu: greedy is not within its stated bound of the exact optimum")
    plan_min, min_cost = measure(
        f"huangpu fewest sites for {share:.0%} (exact, verified)",
        lambda: lc.site(result, "nursery", target_share=share, candidates="street_nodes",
                        solver="exact"),
    )
    greedy_min = plan_min.greedy
    if not greedy_min.bound <= len(plan_min.sites) <= greedy_min.n_sites:
        problems.append("Huangpu: greedy fewest-sites bound is violated")
    facts = {
        "network_nodes": result.network.n_nodes,
        "candidates": len(problem.candidates),
        "compounds": len(result.compounds),
        "matrix_entries": int(problem.cover.nnz),
        "reduced_rows": int(reduced.cover.shape[0]),
        "reduced_cols": int(reduced.cover.shape[1]),
        "matrix_seconds": problem.seconds,
        "run": run_cost,
        "site_k_total": site_cost,
        "k": k,
        "max_cover": {name: {"covered": v, **cost, "note": note} for name, (v, cost, note) in rows.items()},
        "lp_bound": {"value": lp_k, **lp_cost},
        "share_before": plan_k.share_before,
        "share_after_k": plan_k.share_after,
        "verified_k": plan_k.after is not None,
        "fewest": {
            "share": share,
            "exact_sites": len(plan_min.sites),
            "greedy_sites": greedy_min.n_sites,
            "greedy_lower_bound": greedy_min.bound,
            "share_after": plan_min.share_after,
            "verified": plan_min.after is not None,
            "exact_seconds": plan_min.solution.seconds,
            "greedy_seconds": greedy_min.seconds,
            **min_cost,
        },
    }
    return facts, problems


# --------------------------------------------------------------------------------------------
# Synthetic grid
# --------------------------------------------------------------------------------------------


def grid_network(side: int, block_m: float) -> WalkNetwork:
    """A ``side`` × ``side`` street grid as a WalkNetwork (built directly, without osmnx)."""
    ids = np.arange(side * side).reshape(side, side)
    xs = 350_000.0 + block_m * np.arange(side)
    ys = 3_440_000.0 + block_m * np.arange(side)
    u = np.r_[ids[:, :-1].ravel(), ids[:-1, :].ravel()]
    v = np.r_[ids[:, 1:].ravel(), ids[1:, :].ravel()]
    px, py = xs[u % side], ys[u // side]
    qx, qy = xs[v % side], ys[v // side]
    lines = shapely.linestrings(np.stack([np.c_[px, py], np.c_[qx, qy]], axis=1))
    edges = gpd.GeoDataFrame(
        {"u": u, "v": v, "key": 0, "highway": "residential", "length": shapely.length(lines),
         "u_pos": u, "v_pos": v},
        geometry=lines, crs=CRS,
    )
    return WalkNetwork(
        edges=edges, node_ids=np.arange(side * side),
        node_component=np.zeros(side * side, dtype=np.int64), main_component=0, crs=CRS,
    )


def bench_grid(side: int, n_compounds: int, k: int, threshold: float, time_limit: float,
               seed: int, mip: bool) -> tuple[dict[str, Any], list[str]]:
    """Best ``k`` sites on a synthetic grid with every node a candidate: exact vs greedy."""
    problems: list[str] = []
    network, build_cost = measure(f"grid {side}x{side}", lambda: grid_network(side, 80.0))
    rng = np.random.default_rng(seed)
    west, south, east, north = network.edges.total_bounds
    compounds = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(rng.uniform(west, east, n_compounds),
                                    rng.uniform(south, north, n_compounds)),
        crs=CRS,
    )
    weights = np.round(rng.lognormal(6.5, 0.8, n_compounds))
    sites = street_node_candidates(network)
    (access, site_snaps), snap_cost = measure("  snapping", lambda: (
        compound_access_points(network, compounds, 250.0), snap_layer(network, sites, 250.0)))
    cover, matrix_cost = measure("  coverage matrix (bounded Dijkstra)", lambda: siting.coverage_matrix(
        network, access, site_snaps, threshold, np.ones(n_compounds, dtype=bool)))
    rows = np.flatnonzero(np.asarray(cover.sum(axis=1)).ravel() > 0)
    reduced = sparse.csr_array(cover[rows])
    w = weights[rows]
    greedy, greedy_cost = measure("  greedy", lambda: cv.max_cover_greedy(reduced, w, k))
    lp, lp_cost = measure("  LP bound", lambda: cv.lp_bound_max_cover(reduced, w, k, time_limit_s=time_limit))
    options = cv.SolverOptions(method="exact", time_limit_s=time_limit)
    (chosen, _, _), lifecircle_cost = measure(
        "  lifecircle exact path (greedy + LP proof, else MIP)",
        lambda: cv.solve_max_cover(reduced, w, (), k, options))
    exact, exact_cost = None, None
    if mip:
        exact, exact_cost = measure(f"  MIP alone (HiGHS, {time_limit:g} s limit)",
                                    lambda: cv.max_cover_exact(reduced, w, k, time_limit_s=time_limit))
    for name, solution in (("greedy", greedy), ("exact", exact), ("lifecircle", chosen)):
        if solution is None or solution.n_sites == 0:
            continue
        check = build_access_graph(network, access.snaps, {"s": site_snaps.iloc[solution.chosen]},
                                   compound_of=access.compound)
        distance, _ = nearest_facility_distance(check, "s")
        recomputed = float(weights[np.nan_to_num(distance, nan=np.inf) <= threshold + 1e-6].sum())
        if abs(recomputed - solution.covered_weight) > 1e-6:
            problems.append(f"grid {name}: recomputed {recomputed} != claimed {solution.covered_weight}")
    bounds = [greedy.bound, lp, chosen.bound] + ([exact.bound] if exact and exact.n_sites else [])
    best_bound = min(b for b in bounds if np.isfinite(b))
    best = max([greedy.covered_weight, chosen.covered_weight] + ([exact.covered_weight] if exact else []))
    if best > best_bound + 1e-6:
        problems.append("grid: a solution exceeds the stated bound")
    facts = {
        "side": side, "nodes": network.n_nodes, "edges": len(network.edges),
        "compounds": n_compounds, "threshold_m": threshold, "k": k,
        "matrix_entries": int(cover.nnz), "reduced_rows": int(reduced.shape[0]),
        "build": build_cost, "snapping": snap_cost, "matrix": matrix_cost,
        "greedy": {"covered": greedy.covered_weight, "bound": greedy.bound,
                   "bound_source": greedy.bound_source, **greedy_cost},
        "lp_bound": {"value": lp, **lp_cost},
        "exact": None if exact is None else {
            "covered": exact.covered_weight, "status": exact.status, "bound": exact.bound,
            **exact_cost},
        "lifecircle": {"covered": chosen.covered_weight, "status": chosen.status,
                       "method": chosen.method, "bound": chosen.bound, **lifecircle_cost},
        "best_bound": best_bound,
        "total_weight": float(weights.sum()),
    }
    return facts, problems


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _cost(entry: dict[str, float]) -> str:
    return f"{entry['seconds']:8.2f} s  peak +{entry['rss_extra_mb']:7.1f} MB"


def report(huangpu: dict | None, grid: dict | None) -> str:
    lines = []
    if huangpu:
        h = huangpu
        lines += [
            f"Huangpu nursery (300 m): {h['network_nodes']:,} street nodes, {h['candidates']:,} "
            f"street-node candidates in the district, {h['compounds']:,} compounds; coverage "
            f"matrix {h['matrix_entries']:,} entries in {h['matrix_seconds']:.2f} s "
            f"(reduced {h['reduced_rows']:,} × {h['reduced_cols']:,})",
            f"best {h['k']} new sites (residents newly covered):",
        ]
        reference = h["max_cover"]["lifecircle exact path"]["seconds"]
        for name, entry in h["max_cover"].items():
            lines.append(f"  {name:24s} {entry['covered']:12,.1f}  {_cost(entry)}  "
                         f"{entry['seconds'] / reference:6.1f}x  {entry['note']}")
        lines.append(f"  {'LP relaxation bound':24s} {h['lp_bound']['value']:12,.1f}  {_cost(h['lp_bound'])}")
        f = h["fewest"]
        lines.append(
            f"coverage {h['share_before']:.1%} → {h['share_after_k']:.1%} with {h['k']} sites "
            f"(verified by recomputation: {h['verified_k']})")
        lines.append(
            f"fewest sites for {f['share']:.0%}: exact {f['exact_sites']} ({f['exact_seconds']:.2f} s), "
            f"greedy {f['greedy_sites']} ({f['greedy_seconds']:.3f} s, lower bound {f['greedy_lower_bound']:.0f}); "
            f"reaches {f['share_after']:.1%}, verified: {f['verified']}; whole call {_cost(f)}")
    if grid:
        g = grid
        lines += [
            "",
            f"Synthetic grid {g['side']}×{g['side']} = {g['nodes']:,} nodes, {g['edges']:,} edges, "
            f"{g['compounds']:,} compounds, every node a candidate, {g['threshold_m']:g} m, best {g['k']}:",
            f"  snapping                 {_cost(g['snapping'])}",
            f"  coverage matrix          {_cost(g['matrix'])}  ({g['matrix_entries']:,} entries)",
            f"  greedy                   {_cost(g['greedy'])}  covered {g['greedy']['covered']:,.0f}",
            f"  LP relaxation bound      {_cost(g['lp_bound'])}  bound {g['lp_bound']['value']:,.0f}",
            f"  lifecircle exact path    {_cost(g['lifecircle'])}  covered {g['lifecircle']['covered']:,.0f} "
            f"({g['lifecircle']['method']}, {g['lifecircle']['status']}, bound {g['lifecircle']['bound']:,.0f})",
            f"  greedy within {(g['best_bound'] - g['greedy']['covered']) / g['best_bound']:.2%} of the best "
            f"bound; exact path / greedy time {g['lifecircle']['seconds'] / g['greedy']['seconds']:.0f}x",
        ]
        if g["exact"]:
            lines.append(
                f"  MIP alone (HiGHS)        {_cost(g['exact'])}  covered {g['exact']['covered']:,.0f} "
                f"({g['exact']['status']}, bound {g['exact']['bound']:,.0f})")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=5, help="new sites for maximal covering (Huangpu)")
    parser.add_argument("--grid-k", type=int, default=50, help="new sites on the synthetic grid")
    parser.add_argument("--share", type=float, default=0.95, help="target of the fewest-sites model")
    parser.add_argument("--grid", type=int, default=317, help="grid side (317 → 100,489 nodes)")
    parser.add_argument("--compounds", type=int, default=20_000, help="compounds on the grid")
    parser.add_argument("--threshold", type=float, default=500.0, help="grid threshold (m)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="solver time limit on the grid (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid-mip", action="store_true",
                        help="also time the integer programme alone on the grid (slow: HiGHS may "
                        "overrun its time limit by minutes on this size)")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--skip-huangpu", action="store_true")
    parser.add_argument("--no-spopt", action="store_true", help="skip the spopt reference")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problems: list[str] = []
    huangpu = grid = None
    if not args.skip_huangpu:
        data = Path(os.environ.get("LIFECIRCLE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
        if not (data / "shanghai_center.osm.bz2").is_file():
            print(f"real data not found at {data}: set LIFECIRCLE_SHARED_DATA", file=sys.stderr)
            return 2
        os.environ.setdefault("LIFECIRCLE_SHARED_DATA", str(data))
        huangpu, found = bench_huangpu(args.k, args.share, not args.no_spopt)
        problems += found
    if not args.skip_grid:
        grid, found = bench_grid(args.grid, args.compounds, args.grid_k, args.threshold,
                                 args.time_limit, args.seed, args.grid_mip)
        problems += found
    text = report(huangpu, grid)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {"created": stamp, "python": platform.python_version(), "scipy": scipy.__version__,
              "lifecircle": lc.__version__, "huangpu": huangpu, "grid": grid, "problems": problems}
    (args.out / f"siting_{stamp}.json").write_text(json.dumps(record, indent=2, default=float))
    for problem in problems:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    pd.set_option("display.width", 160)
    sys.exit(main())
