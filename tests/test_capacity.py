"""Capacity, norms and 2SFCA: against PySAL `access`, a hand computation and the capacity rule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

import lifecircle as lc
from lifecircle.analysis.access import build_access_graph, category_access, snap_layer
from lifecircle.analysis.capacity import (
    at_capacity,
    decay_weight,
    reachable_pairs,
    two_step_fca,
    without_full_facilities,
)
from lifecircle.analysis.network import walking_network
from lifecircle.profile_supply import NORM_PRESETS

from ._graphs import CRS, points, street_graph
from ._handbuilt import write_osm, write_points_csv

fca = pytest.importorskip("access.fca", reason="PySAL access (test extra) is not installed")

THRESHOLD = 300.0


def _dai(distance: float) -> float:
    """Dai's (2010) Gaussian weight, written out independently of the package."""
    g = math.exp(-0.5)
    return (math.exp(-0.5 * (distance / THRESHOLD) ** 2) - g) / (1 - g)


def _graph(network, compounds, facilities):
    compound_snaps = snap_layer(network, compounds, 100)
    facility_snaps = {"cat": snap_layer(network, facilities, 100)}
    return build_access_graph(network, compound_snaps, facility_snaps)


@pytest.fixture(scope="module")
def line():
    """A straight street y=0, x 0–1000 (nodes every 100 m); compounds 10 m north, facilities 5 m
    south, so every walk is 10 + |Δx| + 5 m."""
    nodes = {i: (100.0 * i, 0.0) for i in range(11)}
    network = walking_network(street_graph(nodes, [(i, i + 1) for i in range(10)]), CRS)
    compound_x = [100, 400, 900, 650, 20]
    facility_x = [200, 600, 1000, 480]
    compounds = points([(x, 10) for x in compound_x])
    facilities = points([(x, -5) for x in facility_x])
    return {
        "network": network,
        "graph": _graph(network, compounds, facilities),
        "compound_x": np.array(compound_x, float),
        "facility_x": np.array(facility_x, float),
        "demand": np.array([1000.0, 500.0, 2000.0, 0.0, 300.0]),
        "supply": np.array([50.0, 30.0, 80.0, 12.0]),
    }


def test_pairs_are_the_walks_within_the_threshold(line):
    pairs = reachable_pairs(line["graph"], "cat", THRESHOLD)
    walks = 15 + np.abs(line["facility_x"][:, None] - line["compound_x"][None, :])
    expected = {(f, c): walks[f, c] for f, c in zip(*np.nonzero(walks <= THRESHOLD), strict=True)}
    found = dict(zip(zip(pairs.facility, pairs.compound, strict=True), pairs.distance_m, strict=True))
    assert set(found) == set(expected)
    assert max(abs(found[k] - expected[k]) for k in expected) < 1e-6


@pytest.mark.parametrize("method", ["2sfca", "gaussian"])
def test_2sfca_matches_pysal_access_and_a_hand_computation(line, method):
    pairs = reachable_pairs(line["graph"], "cat", THRESHOLD)
    access_i, ratio_j, _ = two_step_fca(pairs, line["supply"], line["demand"], THRESHOLD, method)

    # By hand: R_j = S_j / Σ_k D_k W(d_kj); A_i = Σ_j R_j W(d_ij), over walks 10 + |Δx| + 5.
    weight = (lambda d: 1.0) if method == "2sfca" else _dai
    walks = 15 + np.abs(line["facility_x"][:, None] - line["compound_x"][None, :])
    hand_r = []
    for j, supply in enumerate(line["supply"]):
        demand = sum(d * weight(w) for d, w in zip(line["demand"], walks[j], strict=True) if w <= THRESHOLD)
        hand_r.append(supply / demand if demand else np.nan)
    hand_a = [
        sum(hand_r[j] * weight(walks[j, i]) for j in range(len(hand_r))
            if walks[j, i] <= THRESHOLD and not math.isnan(hand_r[j]))
        for i in range(len(line["demand"]))
    ]
    assert np.allclose(ratio_j, hand_r, equal_nan=True, rtol=1e-9)
    assert np.allclose(access_i, hand_a, rtol=1e-9)
    # The first compound: its 1,000 residents share the first facility's 50 places with the
    # 500 at x=400 and the 300 at x=20, and reach no other facility.
    if method == "2sfca":
        assert access_i[0] == pytest.approx(50 / 1800)

    # PySAL access, given the walks as its cost table.
    demand = pd.DataFrame({"demand": line["demand"]}, index=pd.Index(range(5), name="geoid"))
    supply = pd.DataFrame({"supply": line["supply"]}, index=pd.Index(range(4), name="geoid"))
    rows, cols = np.nonzero(walks <= THRESHOLD)
    cost = pd.DataFrame({"origin": cols, "dest": rows, "cost": walks[rows, cols]})
    pysal = fca.two_stage_fca(
        demand, supply, cost, max_cost=THRESHOLD, demand_index=True,
        weight_fn=None if method == "2sfca" else _dai,
    )
    expected = pysal.reindex(range(5)).fillna(0.0).to_numpy()
    assert np.allclose(access_i, expected, rtol=1e-9)


def test_2sfca_conserves_supply_on_a_grid_and_agrees_with_pysal():
    """Overlapping catchments on a 6 × 6 grid of 100 m blocks, random compounds and capacities."""
    rng = np.random.default_rng(7)
    nodes = {r * 6 + c: (100.0 * c, 100.0 * r) for r in range(6) for c in range(6)}
    edges = [(n, n + 1) for n in nodes if n % 6 < 5] + [(n, n + 6) for n in nodes if n < 30]
    network = walking_network(street_graph(nodes, edges), CRS)
    compounds = points(rng.uniform(0, 500, (40, 2)))
    facilities = points(rng.uniform(0, 500, (7, 2)))
    graph = _graph(network, compounds, facilities)
    demand = rng.integers(50, 3000, 40).astype(float)
    supply = rng.integers(5, 200, 7).astype(float)
    pairs = reachable_pairs(graph, "cat", THRESHOLD)
    access_i, ratio_j, _ = two_step_fca(pairs, supply, demand, THRESHOLD)
    # Every place of a facility with demand in reach is shared out, none is created.
    assert (demand * access_i).sum() == pytest.approx(supply[np.isfinite(ratio_j)].sum())

    cost = pd.DataFrame({"origin": pairs.compound, "dest": pairs.facility, "cost": pairs.distance_m})
    pysal = fca.two_stage_fca(
        pd.DataFrame({"demand": demand}, index=pd.Index(range(40), name="geoid")),
        pd.DataFrame({"supply": supply}, index=pd.Index(range(7), name="geoid")),
        cost, max_cost=THRESHOLD, demand_index=True,
    )
    assert np.allclose(access_i, pysal.reindex(range(40)).fillna(0.0).to_numpy(), rtol=1e-9)


def test_gaussian_weight_runs_from_one_to_zero():
    weights = decay_weight(np.array([0.0, 150.0, 300.0]), 300.0, "gaussian")
    assert weights[0] == pytest.approx(1) and weights[2] == pytest.approx(0)
    assert weights[1] == pytest.approx(_dai(150.0))


def test_a_full_facility_stops_counting(line):
    layer = pd.DataFrame({"capacity": [50, 30, 80, 12], "capacity_used": [50, 10, np.nan, 0]})
    full = at_capacity(layer)
    # Used ≥ capacity is full; an unknown use is never assumed full.
    assert full.tolist() == [True, False, False, False]
    before = category_access(line["graph"], "cat", THRESHOLD, 75.0)
    after = category_access(without_full_facilities(line["graph"], "cat", full), "cat", THRESHOLD, 75.0)
    # Compound at x=100: 115 m from the full facility at x=200; the next one (x=480) is 395 m away.
    assert before.loc[0, ["cat_count", "cat_covered"]].tolist() == [1, True]
    assert after.loc[0, ["cat_count", "cat_covered"]].tolist() == [0, False]
    assert after.loc[0, "cat_dist_m"] == pytest.approx(395.0)
    # Compound at x=400: the full one (215 m) stops counting; x=480 (95 m) and x=600 (215 m) count.
    assert before.loc[1, "cat_count"] == 3 and after.loc[1, "cat_count"] == 2


# --- through the whole pipeline -----------------------------------------------------------------


@pytest.fixture(scope="module")
def capacity_study(tmp_path_factory):
    """Street y=0 (x 0–1000). A: 400 households at x=100; B: 200 households at x=800 (2.5 persons
    each). Nurseries: a full one at x=150 (20 of 20 places used) and one at x=850 (2 of 10 used)."""
    folder = tmp_path_factory.mktemp("capacity")
    write_osm(folder / "streets.osm", [[(float(x), 0.0) for x in range(0, 1001, 100)]])
    write_points_csv(folder / "nursery.csv", [
        {"name": "满园", "places": 20, "enrolled": 20, "x": 150, "y": -5},
        {"name": "有位", "places": 10, "enrolled": 2, "x": 850, "y": -5},
    ])
    write_points_csv(folder / "compounds.csv", [
        {"name": "A", "households": 400, "kids": 30, "x": 100, "y": 10},
        {"name": "B", "households": 200, "kids": 70, "x": 800, "y": 10},
    ])
    polygon = [[list(_lonlat(x, y)) for x, y in ((-50, -100), (1050, -100), (1050, 100), (-50, 100), (-50, -100))]]
    (folder / "area.geojson").write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
        f'"geometry": {{"type": "Polygon", "coordinates": {polygon}}}}}]}}', encoding="utf-8"
    )
    return folder


def _lonlat(x, y):
    from ._handbuilt import lonlat

    return lonlat(x, y)


def _run(folder, capacity, demand_group="all", **extra):
    profile = {
        "name": "capacity",
        "title": {"zh": "容量测试", "en": "Capacity test"},
        "study_area": {"file": "area.geojson"},
        "network": {"source": "osm_file", "osm_file": "streets.osm"},
        "categories": {
            "nursery": {
                "label": {"zh": "托育", "en": "Nursery"},
                "threshold_m": THRESHOLD,
                "threshold_source": "test",
                "source": {"file": "nursery.csv", "capacity_field": "places", "used_field": "enrolled"},
                "capacity": capacity,
                "demand_group": demand_group,
            }
        },
        "compounds": {
            "source": {"file": "compounds.csv"},
            "households_field": "households",
            "persons_per_household": 2.5,
        },
        **extra,
    }
    path = folder / "capacity.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    return lc.run(path, progress=False)


def _rows(result):
    return result.compounds.set_index("name")


def test_capacity_rule_in_a_run(capacity_study):
    unit = {"zh": "托位", "en": "places"}
    off = _rows(_run(capacity_study, {"unit": unit, "norm": {"preset": "childcare_places_14th_fyp"}}))
    assert off.loc["A", ["nursery_covered", "nursery_count"]].tolist() == [True, 1]
    # 2SFCA: A's 1,000 residents alone share the first nursery's 20 places, B's 500 the other's 10.
    assert off.loc["A", "nursery_supply"] == pytest.approx(20 / 1000)
    assert off.loc["B", "nursery_supply"] == pytest.approx(10 / 500)
    per_person = NORM_PRESETS["childcare_places_14th_fyp"]["value"] / 1000
    assert off.loc["B", "nursery_supply_ratio"] == pytest.approx(0.02 / per_person)

    on = _rows(_run(capacity_study, {"unit": unit, "require_capacity": True,
                                     "norm": {"preset": "childcare_places_14th_fyp"}}))
    # The full nursery stops counting: A's nearest with free places is 10 + 750 + 5 m away.
    assert on.loc["A", ["nursery_covered", "nursery_count"]].tolist() == [False, 0]
    assert on.loc["A", "nursery_dist_m"] == pytest.approx(765.0, abs=0.2)
    assert on.loc["A", "nursery_nearest"] == "有位"
    assert on.loc["B", ["nursery_covered", "nursery_count"]].tolist() == [True, 1]

    strict = _run(capacity_study, {"unit": unit, "require_capacity": True,
                                   "norm": {"value": 30, "per": 1000, "source": "a test norm"}})
    b = _rows(strict).loc["B"]
    # 0.02 places per resident against a norm of 0.03: within reach, but not enough places.
    assert b["nursery_supply_ratio"] == pytest.approx(0.02 / 0.03)
    assert not b["nursery_enough_capacity"] and not b["nursery_covered"]
    assert any("no free places" in note for note in strict.notes)
    facilities = strict.facilities.set_index("name")
    assert facilities.loc["有位", "catchment_demand"] == pytest.approx(500)


def test_demand_groups_from_a_field_and_from_a_cited_share(capacity_study):
    groups = {
        "kids": {"label": {"zh": "幼儿", "en": "Young children"}, "field": "kids"},
        "age_60_plus": {"label": {"zh": "60岁及以上", "en": "Aged 60+"},
                        "preset": "shanghai_2020_age_60_plus"},
    }
    result = _run(
        capacity_study,
        {"norm": {"value": 0.5, "per": 1, "source": "a test norm (places per child)"}},
        demand_group="kids",
        demand_groups=groups,
        indicators={"elderly_category": "nursery", "childcare_category": None},
    )
    c = _rows(result)
    assert c["demand_kids"].tolist() == [30, 70]
    # The Shanghai 2020 census share of residents aged 60+ (23.4%), cited in the preset.
    assert c["demand_age_60_plus"].tolist() == pytest.approx([0.234 * 1000, 0.234 * 500])
    # 2SFCA over the children: 20 places for A's 30, 10 for B's 70.
    assert c["nursery_supply"].tolist() == pytest.approx([20 / 30, 10 / 70])
    assert c["nursery_supply_ratio"].tolist() == pytest.approx([20 / 30 / 0.5, 10 / 70 / 0.5])

    report = lc.indicator_report(result)
    # The per-capita indicator of the category counts its demand group (children here):
    # A (30 children) is covered, B (70) is too: both within 300 m of a nursery.
    row = report.indicators.set_index("key").loc["elderly_population"]
    assert row["value"] == pytest.approx(1.0) and "幼儿 / Young children" in row["note"]
    supply = report.supply_demand.set_index("area").loc["(all)"]
    assert supply["demand"] == 100 and supply["capacity_inside"] == 30
    assert supply["capacity_required"] == pytest.approx(50)
    assert supply["container_ratio"] == pytest.approx(30 / 50)
    # Demand-weighted mean supply: (30 × 20/30 + 70 × 10/70) / 100 = 0.3 places per child.
    assert supply["supply_per_person"] == pytest.approx(0.3)
    assert supply["demand_share_enough"] == pytest.approx(0.3)  # only A's 30 reach the norm


# --- capacities written as text: read or reported, never coerced silently -----------------------


def test_register_capacities_written_as_text_are_read_or_reported():
    from lifecircle.errors import DataError, LifecircleWarning
    from lifecircle.sources.registers import register_part

    layer = points(
        [(100.0 * i, 0.0) for i in range(6)],
        name=["甲园", "乙园", "丙园", "丁园", "戊园", "己园"],
        places=["1,200", "约500", "N/A", 0, "１２０", 35.0],
        used=["10", "", "很多", 0, 5, 35],
    ).to_crs("EPSG:4326")
    with pytest.warns(LifecircleWarning) as caught:
        part = register_part(layer, "教育局名单", 0, capacity_field="places", used_field="used")
    np.testing.assert_array_equal(part["capacity"], [1200, np.nan, np.nan, 0, 120, 35])
    np.testing.assert_array_equal(part["capacity_used"], [10, np.nan, np.nan, 0, 5, 35])
    messages = [str(w.message) for w in caught]
    text = next(m for m in messages if "places (capacity_field)" in m and "not plain" in m)
    assert "register '教育局名单'" in text and "1 are not plain numbers (row 2 (乙园): '约500')" in text
    assert "capacity.missing" in text and "empty" not in text  # empty cells: the analysis says
    zero = next(m for m in messages if "values are 0" in m)
    assert "1 of 6 values are 0 (row 4 (丁园): 0)" in zero and "count as full" in zero
    used = next(m for m in messages if "used (used_field)" in m)
    assert "(row 3 (丙园): '很多')" in used and "never taken for full" in used
    assert sum("values are 0" in m for m in messages) == 1  # 0 places in use is usual

    layer["places"] = [120, "-30", 10, "-1,000", 5, 6]
    with pytest.raises(DataError, match=r"2 value\(s\) are negative, which a capacity cannot be"
                       ) as info:
        register_part(layer, "教育局名单", 0, capacity_field="places")
    assert "row 2 (乙园): '-30'" in str(info.value) and "row 4 (丁园): '-1,000'" in str(info.value)


def test_capacity_text_that_skipped_the_sources_layer_is_an_error_not_nan():
    from lifecircle.analysis.capacity import capacity_figures
    from lifecircle.errors import DataError

    assert capacity_figures(pd.DataFrame({"capacity": [3, None]}), "capacity", "托育").tolist()[0] == 3
    with pytest.raises(DataError, match="托育: the capacity column holds text"):
        capacity_figures(pd.DataFrame({"capacity": ["1,200", 3]}), "capacity", "托育")
    with pytest.raises(DataError, match="capacity_used column holds text"):
        at_capacity(pd.DataFrame({"capacity": [3, 3], "capacity_used": [1, "约1"]}))


def test_capacity_text_in_a_run_reaches_the_notes_and_the_manifest(capacity_study, tmp_path):
    import json
    import shutil

    folder = tmp_path / "study"
    shutil.copytree(capacity_study, folder)
    table = pd.read_csv(folder / "nursery.csv", dtype=object)
    table["places"] = ["２０", "约10个"]  # full-width 20, and a guess
    table.to_csv(folder / "nursery.csv", index=False)
    unit = {"zh": "托位", "en": "places"}
    result = _run(folder, {"unit": unit, "missing": "median",
                           "norm": {"preset": "childcare_places_14th_fyp"}})
    c = _rows(result)
    # 满园's 20 places are read; 有位's unknown capacity takes the median of the others (20).
    assert c.loc["A", "nursery_supply"] == pytest.approx(20 / 1000)
    assert c.loc["B", "nursery_supply"] == pytest.approx(20 / 500)
    note = next(n for n in result.notes if "not plain numbers" in n)
    assert "row 2 (有位): '约10个'" in note and "places (capacity_field)" in note
    assert any("1 of 2 facilities have no capacity: given the median" in n for n in result.notes)
    lc.write_outputs(result, tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert note in json.dumps(manifest, ensure_ascii=False)

    table["places"] = ["20", "-10"]
    table.to_csv(folder / "nursery.csv", index=False)
    with pytest.raises(lc.DataError, match="negative") as info:
        _run(folder, {"unit": unit})
    assert "row 2 (有位): -10" in str(info.value) and "capacity_field" in str(info.value)
