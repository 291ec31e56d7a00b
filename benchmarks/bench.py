"""lifecircle against the field's tools, fairly: same graph, same snapped inputs, same answers.

For real Huangpu data and generated street-like cities of 100,000 and 1,000,000 network nodes
(real ``.osm.pbf`` files, 15,000 compounds, 20,000 facilities in four categories), the tasks are:
build the walking network from the file, the nearest facility of every category, the facilities
within 300/500/1000 m, service areas, and the whole ``lifecircle report`` from files. Each method
is set up once (timed apart), then run several times in rotated order; medians are reported with
the peak resident memory each run added, and every answer is checked against lifecircle's in the
run. Ratios are against the fastest reference measured in the same run. See benchmarks/README.md.

Run from the repository root::

    make bench                                   # installs the peers, then all sizes
    .venv/bin/python benchmarks/bench.py --sizes huangpu,100k
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "benchmarks"  # noqa: A001

from benchmarks import _inputs, _tasks
from benchmarks._measure import Outcome, fastest_reference, log, machine, seconds, table

RESULTS = Path(__file__).resolve().parent / "results"
#: Per size: repeats, samples for the slow references, which references run.
PLANS: dict[str, dict[str, Any]] = {
    "huangpu": {"repeat": 5, "build_repeat": 3, "door_sample": None, "igraph_sample": None,
                "ego_sample": 100,
                "osmnx_build": True, "exact_areas": "full", "areas_repeat": 3},
    "100k": {"repeat": 3, "build_repeat": 2, "door_sample": 2_000, "igraph_sample": 200,
             "ego_sample": 20, "osmnx_build": True, "exact_areas": "window", "areas_repeat": 1,
             "batch": True},
    "1m": {"repeat": 3, "build_repeat": 1, "door_sample": 400, "igraph_sample": 40,
           "ego_sample": 5, "osmnx_build": False, "exact_areas": "window", "areas_repeat": 1,
           "osmnx_skip": "not run: 339 s and 12.5 GB measured once (issue 10); 63 s and 1.3 GB "
                         "at 100k here",
           "pandana": False,
           "pandana_skip": "not run: its set-up (contraction hierarchy) took 52 s at 100k",
           "cityseer": False},
}


def run_size(size: str, args: argparse.Namespace) -> dict[str, Any]:
    """All tasks of one size."""
    plan = PLANS[size]
    inputs = _inputs.load(size, args.cities, args.seed)
    log(f"{size}: inputs ready ({inputs.network.n_nodes:,} nodes); network task …")
    tasks: dict[str, list[Outcome]] = {}
    tasks["network"] = _tasks.network_task(inputs, plan)
    log(f"{size}: nearest …")
    tasks["nearest"] = _tasks.nearest_task(inputs, plan)
    log(f"{size}: counts …")
    tasks["counts"] = _tasks.count_task(inputs, plan, args.seed)
    log(f"{size}: service areas …")
    tasks["service_areas"] = _tasks.service_area_task(inputs, plan)
    if not args.no_report:
        tasks["report"] = [_tasks.report_task(inputs, plan)]
    if plan.get("batch") and not args.no_batch:
        tasks["batch"] = _tasks.batch_task(inputs, plan)
    return {
        "size": size,
        "label": inputs.label,
        "counts": _counts(inputs),
        "prepare_s": inputs.prepare_s,
        "city": inputs.city,
        "tasks": {k: [o.as_dict() for o in v] for k, v in tasks.items()},
        "machine_after": machine(),
    }


def _counts(inputs: _inputs.Inputs) -> dict[str, Any]:
    return {
        "network_nodes": inputs.network.n_nodes,
        "network_edges": len(inputs.network.edges),
        "graph_nodes_with_points": inputs.peer.n_nodes,
        "compounds": len(inputs.compound_snaps),
        "compounds_on_network": len(inputs.peer.on_network),
        "facilities": {k: int(len(v)) for k, v in inputs.peer.doors.items()},
        "thresholds_m": inputs.thresholds,
        "count_thresholds_m": list(_inputs.COUNT_THRESHOLDS),
    }


TITLES = {
    "network": "walking network from the OSM file (read, filter, cut, simplify, arrays)",
    "nearest": "nearest facility, every category, every compound",
    "counts": "facilities within 300 / 500 / 1000 m, every category, every compound",
    "service_areas": "service areas (40 m band around reachable streets)",
    "report": "whole `lifecircle report` from files (own process)",
    "batch": "lifecircle batch: the districts of Shanghai as pieces on a Dask LocalCluster",
}


def print_size(result: dict[str, Any]) -> None:
    """The comparison tables of one size."""
    c = result["counts"]
    print(f"\n=== {result['size']}: {result['label']}")
    print(
        f"network {c['network_nodes']:,} nodes, {c['network_edges']:,} edges; compounds "
        f"{c['compounds']:,} ({c['compounds_on_network']:,} on the network); facilities "
        + ", ".join(f"{k} {v:,} ({c['thresholds_m'][k]:.0f} m)" for k, v in c["facilities"].items())
    )
    own = _tasks.own_methods()
    for task, outcomes in result["tasks"].items():
        print(f"\n{task}: {TITLES[task]}")
        print(table(_rows(outcomes, own), ["method", "how", "set-up s", "run s (median)",
                                           "cpu s", "vs best ref", "peak MB", "agreement"]))
        _print_notes(task, outcomes)


def _rows(outcomes: list[dict[str, Any]], own: set[str]) -> list[list[str]]:
    as_objects = [_outcome(o) for o in outcomes]
    reference = fastest_reference(as_objects, own)
    rows = []
    for o in outcomes:
        if o["skipped"]:
            rows.append([o["method"], "", "", "skipped", "", "", "", o["skipped"][:90]])
            continue
        comparable = reference is not None and o.get("comparable", True)
        ratio = o["median_s"] / reference.median_s if comparable else float("nan")
        mark = " (ref)" if reference and o["method"] == reference.name else ""
        cpu = sum(o["cpu_s"]) / len(o["cpu_s"]) * o["scale"] if o["cpu_s"] else float("nan")
        rows.append([
            o["method"], o["how"][:44], seconds(o["setup_s"]),
            f"{seconds(o['median_s'])} ({len(o['runs_s'])})", seconds(cpu),
            f"{ratio:.2f}x{mark}" if ratio == ratio else "-",
            f"{o['peak_mb']:.0f}" if o["peak_mb"] == o["peak_mb"] else "-",
            _agreement_text(o["agreement"]),
        ])
    return rows


def _outcome(o: dict[str, Any]) -> Outcome:
    return Outcome(o["method"], o["how"], runs_s=o["runs_s"], scale=o["scale"],
                   skipped=o["skipped"], comparable=o.get("comparable", True))


def _agreement_text(a: dict[str, Any]) -> str:
    if not a:
        return ""
    if "max_abs_diff_m" in a:
        return (f"{'ok' if a['ok'] else 'FAIL'} max|Δ| {a['max_abs_diff_m']:.1e} m, "
                f"{a['reachability_mismatches']} unreachable≠")
    if "count_mismatches" in a:
        ties = (f" (all {a['float32_ties']} float32 ties at a threshold)"
                if a.get("float32_ties") is not None else "")
        return (f"{'ok' if a['ok'] else 'FAIL'} {a['count_mismatches']} of {a['cells']:,} "
                f"differ{ties}")
    if "iou_vs_exact" in a:
        return "IoU " + ", ".join(f"{k} {v:.3f}" for k, v in a["iou_vs_exact"].items())
    if "same_edges" in a:
        return (f"{'same edges' if a['same_edges'] else 'DIFFERENT edges'}"
                + (f", max|Δlength| {a['max_length_diff_m']:.0e} m" if a["same_edges"] else ""))
    if "pieces_s" in a:
        same = "" if "same_as_1_worker" not in a else (
            ", same tables as 1 worker" if a["same_as_1_worker"] else ", DIFFERENT tables")
        return f"{a['compounds']:,} compounds; pieces {a['pieces_s']} s in total{same}"
    if "largest_map_mb" in a:
        return f"exit {a['exit_status']}, largest map {a['largest_map_mb']} MB"
    if "methods" in a:
        return ", ".join(sorted(set(a["methods"]))) + f"; {sum(a['vertices']):,} vertices"
    return "ok" if a.get("ok") else ""


def _print_notes(task: str, outcomes: list[dict[str, Any]]) -> None:
    by_name = {o["method"]: o for o in outcomes}
    if task == "batch" and len(outcomes) > 1:
        print(f"  speed-up with {len(outcomes)} workers: "
              f"{outcomes[0]['median_s'] / outcomes[-1]['median_s']:.2f}x")
    kernel = {"nearest": "bare kernel: scipy dijkstra min_only",
              "counts": "bare kernel: numba count_within"}.get(task)
    if kernel and kernel in by_name and "lifecircle" in by_name:
        ratio = by_name["lifecircle"]["median_s"] / by_name[kernel]["median_s"]
        print(f"  engine / bare kernel: {ratio:.2f}x (target ≤ 1.5x)")
    for o in outcomes:
        if task == "report" and o["agreement"]:
            maps = ", ".join(f"{k} {v} MB" for k, v in o["agreement"]["map_mb"].items())
            print(f"  maps: {maps}; all outputs {o['agreement']['outputs_mb']} MB")
        if o.get("note") and task != "report":
            print(f"  {o['method']}: {o['note']}")
        if task == "report" and o.get("note"):
            print(f"  report failed:\n{o['note']}")


def write_results(results: list[dict[str, Any]], started: float, args: argparse.Namespace) -> Path:
    """JSON with everything and a CSV with one row per size, task and method."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench_{stamp}.json"
    payload = {"timestamp_utc": stamp, "total_s": time.perf_counter() - started,
               "machine": machine(), "sizes": results}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
    with (args.out / f"bench_{stamp}.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["size", "task", "method", "how", "setup_s", "median_s", "peak_mb",
                         "agreement_ok", "skipped"])
        for r in results:
            for task, outcomes in r["tasks"].items():
                for o in outcomes:
                    writer.writerow([r["size"], task, o["method"], o["how"], o["setup_s"],
                                     o["median_s"], o["peak_mb"], o["agreement"].get("ok"),
                                     o["skipped"]])
    return path


def all_agree(results: list[dict[str, Any]]) -> bool:
    """Every answer checked in the run matches lifecircle's."""
    return all(
        o["agreement"].get("ok", True)
        for r in results
        for outcomes in r["tasks"].values()
        for o in outcomes
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="huangpu,100k,1m",
                        help="comma-separated: huangpu, 100k, 1m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-report", action="store_true", help="skip the report task")
    parser.add_argument("--no-batch", action="store_true", help="skip the Dask batch task")
    parser.add_argument("--cities", type=Path, default=RESULTS / "cities",
                        help="folder for the generated cities (reused between runs)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when an answer disagrees, 2 without real data."""
    args = parse_args(argv)
    started = time.perf_counter()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in PLANS]
    if unknown:
        print(f"unknown sizes {unknown}: choose from {list(PLANS)}")
        return 2
    if "huangpu" in sizes and not (_inputs.shared_data_dir() / "shanghai_center.osm.bz2").is_file():
        print(f"real data not found in {_inputs.shared_data_dir()}: set LIFECIRCLE_SHARED_DATA")
        return 2
    results = []
    for size in sizes:
        result = run_size(size, args)
        results.append(result)
        print_size(result)
        sys.stdout.flush()
    path = write_results(results, started, args)
    ok = all_agree(results)
    print(f"\nagreement checks: {'PASS' if ok else 'FAIL'}; total {time.perf_counter() - started:.0f} s; "
          f"machine load {machine()['load_average']}; results: {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
