"""Service areas at scale: the vectorised cut of edge pieces and the raster drawing, against the
exact (buffer and union) polygons on real Huangpu streets and on a generated city."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import shapely.affinity
from shapely.ops import substring

from lifecircle.analysis import gaps, isochrones
from lifecircle.analysis._raster_area import MIN_CELL_M, cell_size, raster_service_area
from lifecircle.analysis.access import build_access_graph, snap_layer
from lifecircle.analysis.isochrones import _substrings, reachable_street_lines, service_area
from lifecircle.sources.tables import read_layer


def iou(a, b) -> float:
    return shapely.intersection(a, b).area / shapely.union(a, b).area


def test_vectorised_cut_equals_shapely_substring():
    rng = np.random.default_rng(0)
    lines = np.array(
        [
            shapely.LineString(np.cumsum(rng.uniform(-50, 50, (rng.integers(2, 9), 2)), axis=0))
            for _ in range(300)
        ]
    )
    start = rng.uniform(0, 0.9, len(lines))
    end = np.minimum(1.0, start + rng.uniform(0.01, 1.0, len(lines)))
    start[:20], end[20:40] = 0.0, 1.0  # pieces from an end
    got = _substrings(lines, start, end)
    expected = [substring(g, s, e, normalized=True) for g, s, e in zip(lines, start, end, strict=True)]
    assert shapely.equals_exact(got, np.array(expected), 1e-9).all()


@pytest.mark.realdata
def test_raster_service_areas_agree_with_the_exact_ones_on_huangpu(huangpu_result):
    r = huangpu_result
    exact = gaps.result_service_areas(r).set_index("category")
    assert set(exact["method"]) == {"exact"}  # small networks stay exact
    for key, category in r.profile.categories.items():
        lines = reachable_street_lines(
            r.network, r.access_graph, r.facility_snaps[key], key, category.threshold_m
        )
        raster = service_area(lines, 40.0, method="raster")
        exact_area = exact.to_crs(r.network.crs).geometry[key]
        assert shapely.is_valid(raster)
        assert iou(raster, exact_area) >= 0.95
        assert raster.area == pytest.approx(exact_area.area, rel=0.02)


def test_raster_area_of_a_hand_built_street_has_the_right_size():
    # One straight 1 km street (not along the grid): a band 80 m wide with round caps.
    line = shapely.LineString([(0.7, 0.3), (866.7, 500.3)])
    area, cell = raster_service_area(np.array([line]), 40.0)
    exact = line.buffer(40.0)
    assert cell == MIN_CELL_M
    assert iou(area, exact) > 0.95
    assert area.area == pytest.approx(exact.area, rel=0.02)
    # Two streets farther apart than twice the buffer: two pieces, the gap stays open.
    far = shapely.affinity.translate(line, -100, 173.2)  # 200 m away
    area, _ = raster_service_area(np.array([line, far]), 40.0)
    assert len(shapely.get_parts(area)) == 2
    assert not area.intersects(shapely.Point(383.4, 308.3))  # half way between them


def test_cell_grows_for_whole_cities_only():
    assert cell_size((0, 0, 7_000, 7_000), 40.0) == MIN_CELL_M
    # An 84 km city: cells of about 13 m keep the grid at 40 million cells.
    assert 12 < cell_size((0, 0, 84_000, 84_000), 40.0) < 14


def test_large_networks_switch_to_the_raster_and_say_so(small_city, monkeypatch):
    profile, network = small_city
    nursery = read_layer(profile.parent / "nursery.csv", crs="wgs84", x="lon", y="lat")
    snaps = {"nursery": snap_layer(network, nursery, 250.0)}
    access = build_access_graph(network, snaps["nursery"].iloc[:0], snaps)
    exact = isochrones.service_areas(network, access, snaps, {"nursery": 300.0})
    monkeypatch.setattr(isochrones, "EXACT_MAX_LINES", 100)
    auto = isochrones.service_areas(network, access, snaps, {"nursery": 300.0})
    assert exact["method"].iloc[0] == "exact"
    assert auto["method"].iloc[0] == f"raster {MIN_CELL_M:g} m"
    assert auto["street_km"].iloc[0] == exact["street_km"].iloc[0]  # from the same intervals
    projected = [frame.to_crs(network.crs).geometry.iloc[0] for frame in (exact, auto)]
    assert iou(*projected) > 0.95
