"""Real-data run: Huangpu District (黄浦区) on the central-Shanghai OSM extract.

Distances are checked against an independent computation (networkx Dijkstra on the same graph
with the same edge-offset arithmetic) for every compound × category; the rest are plausibility
checks against facts stated in ../shared/data/README.md.
"""

from __future__ import annotations

import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from fast_geocn import gcj02_to_wgs84

from lifecircle.analysis.access import snap_layer
from lifecircle.sources.tables import read_layer

pytestmark = pytest.mark.realdata


def _networkx_nearest(network, compound_snaps, facility_snaps):
    """Nearest-facility walk per compound from networkx Dijkstra on ``network.graph``.

    A point on edge (u, v) of length L at offset a leaves through u (cost a) or v (cost L − a).
    A virtual source joins every facility's two edge ends with those costs plus its snap
    distance, so one networkx Dijkstra gives the nearest facility for every node; two points on
    the same edge may also walk straight along it.
    """
    edges = network.edges
    graph = network.graph.copy()
    source = "facilities"

    def ends(snap):
        edge = edges.iloc[int(snap["edge"])]
        return [(edge["u"], snap["offset_m"]), (edge["v"], edge["length"] - snap["offset_m"])]

    placed = facility_snaps[facility_snaps["edge"].notna()]
    for _, fsnap in placed.iterrows():
        for node, leg in ends(fsnap):
            graph.add_edge(source, node, length=leg + fsnap["snap_m"])
    from_source = nx.single_source_dijkstra_path_length(graph, source, weight="length")

    result = np.full(len(compound_snaps), np.nan)
    for i, (_, csnap) in enumerate(compound_snaps.iterrows()):
        if pd.isna(csnap["edge"]):
            continue
        walk = min(from_source.get(node, np.inf) + leg for node, leg in ends(csnap))
        same_edge = placed[placed["edge"] == csnap["edge"]]
        for _, fsnap in same_edge.iterrows():
            walk = min(walk, abs(csnap["offset_m"] - fsnap["offset_m"]) + fsnap["snap_m"])
        result[i] = walk + csnap["snap_m"]
    return result


@pytest.mark.parametrize("category", ["nursery", "culture"])
def test_distances_agree_with_networkx_for_every_compound(huangpu_result, category):
    r = huangpu_result
    compound_snaps = snap_layer(r.network, r.compounds, r.profile.snap_limit_m)
    expected = _networkx_nearest(r.network, compound_snaps, r.facility_snaps[category])
    measured = r.compounds[f"{category}_dist_m"].to_numpy()
    reachable = np.isfinite(expected)
    # Same reachability, and within 1 m wherever reachable.
    assert np.array_equal(reachable, np.isfinite(measured))
    assert reachable.sum() > 1500
    assert np.max(np.abs(measured[reachable] - expected[reachable])) < 1.0


def test_counts_agree_with_distances(huangpu_result):
    c = huangpu_result.compounds
    for category in ("nursery", "culture"):
        covered = c[f"{category}_covered"].to_numpy()
        assert np.array_equal(covered, c[f"{category}_count"].to_numpy() > 0)


def test_compound_register_matches_the_data_readme(huangpu_result, shared_data):
    # README: 1,748 compounds with 141,272 households inside Huangpu after BD-09 → WGS84.
    c = huangpu_result.compounds
    assert len(c) == 1748
    assert c["households"].sum() == 141_272
    assert c["population"].sum() == pytest.approx(141_272 * 2.32)


def _textbook_bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """The widely published BD-09 → GCJ-02 formula (x_pi = π·3000/180).

    fast-geocn 1.1.3's own BD-09 functions use π instead of x_pi and are ~30 m off, so only its
    GCJ-02 inverse serves as the independent reference here.
    """
    x_pi = math.pi * 3000.0 / 180.0
    x, y = lon - 0.0065, lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * x_pi)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * x_pi)
    return z * math.cos(theta), z * math.sin(theta)


def test_independent_bd09_conversion_puts_compounds_in_the_same_place(huangpu_result, shared_data):
    raw = pd.read_csv(shared_data / "shanghai_compounds_lianjia2016_bd09.csv")
    ours = huangpu_result.compounds.drop_duplicates("name", keep=False).set_index("name")
    raw = raw.drop_duplicates("name", keep=False)
    sample = raw[raw["name"].isin(ours.index)].head(300)
    assert len(sample) == 300
    for _, row in sample.iterrows():
        lon, lat = gcj02_to_wgs84(*_textbook_bd09_to_gcj02(row["lng_bd09"], row["lat_bd09"]))
        point = ours.loc[row["name"]].geometry
        # fast-geocn's iterative GCJ-02 inverse is good to ~0.5 m; 1e-5° ≈ 1 m.
        assert abs(point.x - lon) < 1e-5 and abs(point.y - lat) < 1e-5


def test_most_compounds_snap_close_once_converted(huangpu_result):
    snap = huangpu_result.compounds["snap_m"]
    assert (snap < 100).mean() > 0.95
    assert snap.median() < 30
    status = huangpu_result.compounds["access_status"].value_counts()
    assert status.get("ok", 0) > 0.98 * len(huangpu_result.compounds)


def test_not_converting_bd09_visibly_changes_snap_distances(huangpu_result, shared_data):
    r = huangpu_result
    src = r.profile.compounds.source
    wrong = read_layer(
        shared_data / "shanghai_compounds_lianjia2016_bd09.csv", crs="wgs84", x=src.x, y=src.y
    )
    # The same compounds, by name, read without conversion.
    wrong = wrong[wrong["name"].isin(r.compounds["name"])]
    wrong = wrong.drop_duplicates("name", keep=False).set_index("name")
    right = r.compounds.drop_duplicates("name", keep=False).set_index("name")
    names = right.index.intersection(wrong.index)
    right_snaps = snap_layer(r.network, right.loc[names], 10_000)
    wrong_snaps = snap_layer(r.network, wrong.loc[names], 10_000)
    # Streets are dense in central Shanghai, so a ~1 km shift still lands near *a* street: the
    # median snap distance roughly doubles and most compounds snap to a different street.
    assert wrong_snaps["snap_m"].median() > 1.5 * right_snaps["snap_m"].median() + 5
    assert (wrong_snaps["edge"] != right_snaps["edge"]).mean() > 0.9


def test_coverage_is_plausible(huangpu_result):
    table = huangpu_result.coverage.set_index("category")
    # Dense central Shanghai: many, but far from all, compounds within 300 m of a kindergarten;
    # most within 1 km of a theatre or cinema.
    assert 0.15 < table.loc["nursery", "compound_share"] < 0.7
    assert 0.6 < table.loc["culture", "compound_share"] <= 1.0
    assert table.loc["complete", "compound_share"] <= table.loc["nursery", "compound_share"]
    minutes = huangpu_result.compounds["culture_min"].dropna()
    assert np.allclose(
        minutes * 75.0, huangpu_result.compounds["culture_dist_m"].dropna(), rtol=1e-12
    )


def _kindergartens_in_huangpu(shared_data):
    return read_layer(
        shared_data / "shanghai_kindergartens_amap_wgs84.csv",
        crs="wgs84",
        x="lon",
        y="lat",
        where={"adname": "黄浦区"},
    )


def test_gcj02_declared_as_wgs84_is_detected(huangpu_result, shared_data):
    import prcoords

    from lifecircle.analysis.checks import likely_chinese_crs

    network = huangpu_result.network
    compounds = huangpu_result.compounds[["name", "geometry"]]
    # Correct declarations raise no suspicion (POIs set back from streets included).
    assert likely_chinese_crs(network, compounds, "wgs84") is None
    assert likely_chinese_crs(network, _kindergartens_in_huangpu(shared_data), "wgs84") is None
    # Obfuscate the (correct) compound points to GCJ-02, then declare them as WGS84.
    shifted = [prcoords.wgs_gcj(prcoords.Coords(p.y, p.x)) for p in compounds.geometry]
    gcj = gpd.GeoDataFrame(
        compounds[["name"]],
        geometry=gpd.points_from_xy([c.lon for c in shifted], [c.lat for c in shifted]),
        crs=4326,
    )
    found = likely_chinese_crs(network, gcj, "wgs84")
    assert found is not None and found[0] == "gcj02"
    assert found[1] > 1.5 * found[2]


def test_bd09_declared_as_wgs84_warns_in_a_run(shared_data, tmp_path):
    import lifecircle as lc

    profile = lc.load_profile("huangpu")
    compounds = profile.compounds.model_copy(
        update={"source": profile.compounds.source.model_copy(update={"crs": "wgs84"})}
    )
    result = lc.run(profile.model_copy(update={"compounds": compounds}), progress=False)
    assert any("look like BD09" in note and "crs: bd09" in note for note in result.notes)
