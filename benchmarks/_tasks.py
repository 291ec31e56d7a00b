"""The benchmark tasks: build the network, nearest facilities, counts within thresholds,
service areas and the whole ``lifecircle report``, each measured against its references."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from lifecircle.analysis import isochrones
from lifecircle.analysis.network import walking_network, walking_network_from_segments
from lifecircle.analysis.reach import walks_within
from lifecircle.sources import areas, osm
from lifecircle.sources.osm_arrays import read_street_segments

from ._inputs import Inputs
from ._measure import Method, Outcome, log, measure, timed
from ._methods import LIMITS, OWN, count_methods, nearest_methods, reference_counts

#: Distances of float64 methods must agree to this (m); pandana keeps float32 distances.
EXACT_M = 1e-6
FLOAT32_M = 0.05
#: Side of the window where exact and raster service areas are compared on generated cities.
WINDOW_M = 2_000.0


def network_task(inputs: Inputs, plan: dict[str, Any]) -> list[Outcome]:
    """Build the walking network from the profile's OSM file, cut to the buffered area."""
    profile = inputs.result.profile
    path = profile.resolve(profile.network.osm_file)
    area = areas.study_area_polygon(profile).geometry.iloc[0]
    buffered = areas.buffer_polygon(area, profile.max_threshold_m, profile.projected_crs)
    crs = profile.projected_crs
    methods = [
        Method(
            "lifecircle (pyosmium arrays + NumPy/numba)",
            lambda _: walking_network_from_segments(read_street_segments(path, buffered), crs),
            how=path.name,
        )
    ]
    if plan.get("osmnx_build"):
        methods.append(
            Method(
                "osmnx graph path (graph_from_osm_file + walking_network)",
                lambda _: walking_network(osm.graph_from_osm_file(path, buffered), crs),
                how=path.name,
                repeat=1,
            )
        )
    outcomes = measure(methods, plan["build_repeat"])
    if not plan.get("osmnx_build"):
        outcomes.append(Outcome("osmnx graph path (graph_from_osm_file + walking_network)", "",
                                skipped=plan.get("osmnx_skip", "not run at this size")))
    reference = outcomes[0].answer
    for outcome in outcomes[1:]:
        if outcome.answer is None:
            continue
        a, b = reference.edges, outcome.answer.edges
        same = len(a) == len(b) and np.array_equal(a["u"], b["u"]) and np.array_equal(a["v"], b["v"])
        outcome.agreement = {
            "edges": [len(a), len(b)],
            "same_edges": bool(same),
            "max_length_diff_m": float(np.abs(a["length"].to_numpy() - b["length"].to_numpy()).max())
            if same else None,
            "ok": bool(same),
        }
    outcomes[0].agreement = {"nodes": reference.n_nodes, "edges": len(reference.edges), "ok": True}
    for outcome in outcomes:
        outcome.answer = None
    return outcomes


def nearest_task(inputs: Inputs, plan: dict[str, Any]) -> list[Outcome]:
    """Nearest facility of every category, every compound; agreement with the engine."""
    outcomes = measure(nearest_methods(inputs, plan), plan["repeat"])
    reference = outcomes[0].answer
    for outcome in outcomes:
        if outcome.answer is not None:
            tolerance = FLOAT32_M if outcome.name.startswith("pandana") else EXACT_M
            outcome.agreement = _nearest_agreement(reference, outcome.answer, tolerance)
        outcome.answer = None
    return outcomes


def count_task(inputs: Inputs, plan: dict[str, Any], seed: int) -> list[Outcome]:
    """Counts within 300/500/1000 m; sampled methods are checked on their own sample."""
    methods, samples = count_methods(inputs, plan, np.random.default_rng(seed))
    outcomes = measure(methods, plan["repeat"])
    reference = outcomes[0].answer
    partial = {name: reference_counts(inputs, sample) for name, sample in samples.items()}
    for outcome in outcomes:
        if outcome.answer is None:
            continue
        expected = reference
        if outcome.name.startswith("igraph") and outcome.scale != 1:
            expected = partial["igraph"]
        elif "facilities, extrapolated" in outcome.how:
            expected = partial["facilities"]
        outcome.agreement = _count_agreement(expected, outcome.answer)
        if outcome.name.startswith(("pandana", "cityseer")) and not outcome.agreement["ok"]:
            outcome.agreement |= _float32_ties(inputs, expected, outcome.answer)
        outcome.answer = None
    return outcomes


def _float32_ties(inputs: Inputs, expected: dict, answer: dict) -> dict[str, Any]:
    """Whether every differing count has a walk within FLOAT32_M of its threshold (a tie that
    float32 distances can put on either side)."""
    access, peer = inputs.access, inputs.peer
    on = peer.on_network
    explained, differing = 0, 0
    for category, counts in expected.items():
        rows, cols = np.nonzero(counts != np.asarray(answer[category]))
        if len(rows) == 0:
            continue
        source, target, walk = walks_within(
            access.csr, peer.doors[category], access.compound_node[on], LIMITS[-1] + 1.0,
            target_extra=access.compound_snap_m[on],
        )
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            differing += 1
            near = np.abs(walk[target == row] - LIMITS[col]) <= FLOAT32_M
            explained += bool(near.any())
    return {"float32_ties": explained, "ok": explained == differing}


def _nearest_agreement(reference: dict, answer: dict, tolerance: float) -> dict[str, Any]:
    worst, unreachable = 0.0, 0
    for category, expected in reference.items():
        got = np.asarray(answer[category], dtype=float)
        both = np.isfinite(expected) & np.isfinite(got)
        unreachable += int((np.isfinite(expected) != np.isfinite(got)).sum())
        if both.any():
            worst = max(worst, float(np.abs(expected[both] - got[both]).max()))
    return {
        "max_abs_diff_m": worst,
        "reachability_mismatches": unreachable,
        "tolerance_m": tolerance,
        "ok": worst <= tolerance and unreachable == 0,
    }


def _count_agreement(reference: dict, answer: dict) -> dict[str, Any]:
    rows = answer.get("_rows")
    mismatches, cells = 0, 0
    for category, expected in reference.items():
        expected = expected[rows] if rows is not None else expected
        got = np.asarray(answer[category])
        mismatches += int((expected != got).sum())
        cells += expected.size
    return {"count_mismatches": mismatches, "cells": cells, "ok": mismatches == 0}


def service_area_task(inputs: Inputs, plan: dict[str, Any]) -> list[Outcome]:
    """Service areas of every category (the report's), and exact against raster drawing."""
    r = inputs.result
    lines = {
        key: isochrones.reachable_street_lines(
            r.network, r.access_graph, r.facility_snaps[key], key, threshold
        )
        for key, threshold in inputs.thresholds.items()
    }
    window = None if plan.get("exact_areas") == "full" else _window(r)
    if window is not None:
        lines_in = {
            k: v[v.intersects(window.buffer(100.0))] for k, v in lines.items()
        }
    else:
        lines_in = lines

    def draw(method: str, which: dict) -> dict:
        return {k: isochrones.service_area(v, 40.0, method=method) for k, v in which.items()}

    area = "whole study area" if window is None else f"{WINDOW_M / 1000:.0f} km window"
    methods = [
        Method("lifecircle service_areas (auto)",
               lambda _: isochrones.service_areas(r.network, r.access_graph, r.facility_snaps,
                                                  inputs.thresholds),
               how="all categories, whole area", repeat=plan.get("areas_repeat", 2),
               comparable=window is None),
        Method("exact: buffer + union", lambda _: draw("exact", lines_in), how=area, repeat=1),
        Method("raster: burn, grow, polygonise", lambda _: draw("raster", lines_in), how=area,
               repeat=1),
    ]
    outcomes = measure(methods, 1)
    auto = outcomes[0].answer
    outcomes[0].agreement = {
        "methods": auto["method"].tolist(),
        "vertices": [int(shapely.get_num_coordinates(g)) for g in auto.geometry],
        "ok": True,
    }
    exact, raster = outcomes[1].answer, outcomes[2].answer
    ious = {}
    for key in exact:
        e, g = exact[key], raster[key]
        if window is not None:
            e, g = e.intersection(window), g.intersection(window)
        union = shapely.union(e, g).area
        ious[key] = shapely.intersection(e, g).area / union if union else 1.0
    outcomes[2].agreement = {"iou_vs_exact": ious, "ok": min(ious.values(), default=1.0) >= 0.95}
    for outcome in outcomes:
        outcome.answer = None
    return outcomes


def _window(result) -> shapely.Polygon:
    """A square window at the centre of the network."""
    x0, y0, x1, y1 = result.network.edges.total_bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return shapely.box(cx - WINDOW_M / 2, cy - WINDOW_M / 2, cx + WINDOW_M / 2, cy + WINDOW_M / 2)


def report_task(inputs: Inputs, plan: dict[str, Any]) -> Outcome:
    """The whole ``lifecircle report`` from files, in a process of its own."""
    out = Path(tempfile.mkdtemp(prefix=f"lc_bench_{inputs.size}_"))
    command = [sys.executable, "-m", "lifecircle", "report", str(inputs.profile), "--out",
               str(out / "out")]
    log(f"{inputs.size}: lifecircle report … ({' '.join(command[3:])})")
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=os.environ | {"COLUMNS": "100"})
    output = process.stdout.read() if process.stdout else b""
    # wait4 gives this child's own CPU time and peak memory.
    _, wait_status, usage = os.wait4(process.pid, 0)
    status = os.waitstatus_to_exitcode(wait_status)
    process.returncode = status
    wall = time.perf_counter() - start
    outcome = Outcome("lifecircle report (CLI, own process)", "files → all outputs")
    outcome.runs_s = [wall]
    outcome.cpu_s = [usage.ru_utime + usage.ru_stime]
    outcome.peak_mb = usage.ru_maxrss / 1024
    maps = sorted(out.rglob("*.html"))
    outcome.agreement = {
        "exit_status": status,
        "map_mb": {p.name: round(p.stat().st_size / 1e6, 2) for p in maps},
        "largest_map_mb": round(max((p.stat().st_size for p in maps), default=0) / 1e6, 2),
        "outputs_mb": round(sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6, 1),
        "ok": status == 0,
    }
    if status != 0:
        outcome.note = output.decode(errors="replace")[-2000:]
    shutil.rmtree(out, ignore_errors=True)
    return outcome


def own_methods() -> set[str]:
    """Names of lifecircle's own methods (not references)."""
    return OWN | {"lifecircle (pyosmium arrays + NumPy/numba)", "lifecircle service_areas (auto)",
                  "lifecircle report (CLI, own process)", "lifecircle batch, 1 Dask worker(s)",
                  "lifecircle batch, 2 Dask worker(s)"}




def batch_task(inputs: Inputs, plan: dict[str, Any]) -> list[Outcome]:
    """``lifecircle batch`` over the 16 districts of Shanghai, with 1 and 2 Dask workers.

    The generated city lies on central Shanghai: the districts it overlaps become pieces, the
    others are skipped (no compound inside). Times include starting the local cluster.
    """
    from lifecircle import batch

    outcomes, merged = [], {}
    for workers in plan.get("batch_workers", (1, 2)):
        out = Path(tempfile.mkdtemp(prefix=f"lc_batch_{workers}_"))
        log(f"{inputs.size}: lifecircle batch, districts, {workers} worker(s) …")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            run = timed(lambda out=out, workers=workers: batch.run_batch(
                inputs.profile, "districts", out=out, workers=workers))
        result = run.value
        ran = [p for p in result.pieces if not p.skipped]
        outcome = Outcome(f"lifecircle batch, {workers} Dask worker(s)",
                          f"{len(ran)} of {len(result.pieces)} districts hold compounds")
        outcome.runs_s, outcome.cpu_s = [run.wall_s], [run.cpu_s]
        outcome.peak_mb = run.peak_mb
        outcome.agreement = {"pieces_s": round(sum(p.seconds for p in ran), 1),
                             "compounds": len(result.compounds), "ok": True}
        merged[workers] = result.compounds.drop(columns="geometry")
        outcomes.append(outcome)
        shutil.rmtree(out, ignore_errors=True)
    first, *others = list(merged.values())
    for outcome, frame in zip(outcomes[1:], others, strict=True):
        same = frame.reset_index(drop=True).equals(first.reset_index(drop=True))
        outcome.agreement |= {"same_as_1_worker": same, "ok": same}
    return outcomes
