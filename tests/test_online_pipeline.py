"""The online path end to end: a whole run against a local Overpass stand-in on 127.0.0.1
(answering with real OSM data), then again from the cache with the server stopped, and the
command line's fast offline fallback to the bundled sample."""

from __future__ import annotations

import time

import numpy as np
import pytest
from typer.testing import CliRunner

import lifecircle as lc
from lifecircle import cli

from ._fake_overpass import FakeOverpass, OsmData

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def shanghai_osm(shared_data):
    return OsmData.from_xml(shared_data / "shanghai_center.osm.bz2")


def _online_profile(shared_data):
    base = lc.load_profile("huangpu")
    return base.model_copy(
        update={
            "name": "online_test",
            # About 1.5 km × 1.5 km around People's Square (人民广场).
            "study_area": base.study_area.model_copy(
                update={"file": None, "where": None, "bbox": (121.467, 31.225, 121.483, 31.239)}
            ),
            "network": base.network.model_copy(update={"source": "osm_online", "osm_file": None}),
        }
    )


def test_online_run_then_cached_run_with_server_stopped(
    shared_data, shanghai_osm, isolated_folders, monkeypatch
):
    monkeypatch.setenv("LIFECIRCLE_SHARED_DATA", str(shared_data))
    profile = _online_profile(shared_data)
    server = FakeOverpass(shanghai_osm).start()
    monkeypatch.setattr(lc.settings, "overpass_url", server.url)
    try:
        first = lc.run(profile, progress=False)
    finally:
        server.stop()
    assert server.queries, "the first run must have asked the local Overpass server"
    cache = isolated_folders / "raw" / "online_test"
    assert (cache / "network.graphml").is_file()

    second = lc.run(profile, progress=False)  # the server is down: only the cache can answer
    assert len(first.compounds) > 50
    assert second.network.n_nodes == first.network.n_nodes
    for column in ("nursery_dist_m", "culture_dist_m"):
        np.testing.assert_array_equal(first.compounds[column], second.compounds[column])
    assert first.compounds["snap_m"].median() < 50


def test_cli_falls_back_to_the_sample_within_seconds_when_offline(isolated_folders, monkeypatch):
    # Nothing listens on this port: the probe fails at once and nothing is cached.
    monkeypatch.setattr(lc.settings, "overpass_url", "http://127.0.0.1:9/api")
    start = time.perf_counter()
    outcome = CliRunner().invoke(cli.app, ["run", "changning", "--allow-sample"])
    elapsed = time.perf_counter() - start
    assert outcome.exit_code == 0, outcome.output
    assert "SAMPLE" in outcome.output
    manifest = (isolated_folders / "processed" / "sample_helsinki" / "manifest.json").read_text()
    assert '"sample": true' in manifest
    html = (isolated_folders / "maps" / "sample_helsinki.html").read_text(encoding="utf-8")
    assert "示例数据" in html or "SAMPLE" in html
    assert elapsed < 60


def test_cli_reports_errors_plainly(tmp_path):
    outcome = CliRunner().invoke(cli.app, ["run", str(tmp_path / "missing.yaml")])
    assert outcome.exit_code == 1
    assert "does not exist" in " ".join(outcome.output.split())


def test_osm_tag_profile_online_with_known_answers(tmp_path, isolated_folders, monkeypatch):
    """The changning profile's OSM-tag layers (facilities and compounds) through Overpass."""
    from ._handbuilt import write_osm_with_features

    path = write_osm_with_features(
        tmp_path / "features.osm",
        ways=[[(float(x), 0.0) for x in range(0, 1001, 100)]],
        pois=[
            (200, 10, {"amenity": "kindergarten", "name": "幼儿园甲"}),
            (900, -10, {"amenity": "library", "name": "图书馆乙"}),
            (500, 5, {"emergency": "assembly_point", "name": "避难点丙"}),
            (100, -5, {"social_facility": "nursing_home", "name": "养老院丁"}),
            # 东苑's only gate, in its north wall (facing away from the street); a gate across
            # the street itself belongs to no compound.
            (600, 70, {"entrance": "main"}),
            (300, 0, {"barrier": "gate"}),
        ],
        areas=[
            # Compound 东苑: a 40 m square whose centre is 50 m north of the street at x=600.
            ([(580, 30), (620, 30), (620, 70), (580, 70)], {"landuse": "residential", "name": "东苑"}),
            ([(180, -70), (220, -70), (220, -30), (180, -30)], {"landuse": "residential", "name": "西苑"}),
        ],
    )
    server = FakeOverpass(OsmData.from_xml(path)).start()
    monkeypatch.setattr(lc.settings, "overpass_url", server.url)
    from ._handbuilt import lonlat

    west, south = lonlat(-50, -150)
    east, north = lonlat(1050, 150)
    base = lc.load_profile("changning")
    profile = base.model_copy(
        update={
            "study_area": base.study_area.model_copy(
                update={"district": None, "bbox": (west, south, east, north)}
            ),
            "sub_districts": None,
        }
    )
    try:
        first = lc.run(profile, progress=False)
    finally:
        server.stop()
    second = lc.run(profile, progress=False)  # from the cache, server stopped

    for result in (first, second):
        c = result.compounds.set_index("name")
        assert sorted(c.index) == ["东苑", "西苑"]
        # 西苑 has no gate: its walks start at its wall facing the street, 30 m from it.
        assert c.loc["西苑", ["access_rule", "n_gates"]].tolist() == ["boundary", 0]
        assert c.loc["西苑", "snap_m"] == pytest.approx(30, abs=0.5)
        assert c.loc["西苑", "nursery_dist_m"] == pytest.approx(30 + 10, abs=0.5)
        assert c.loc["西苑", "elderly_care_dist_m"] == pytest.approx(30 + 100 + 5, abs=0.5)
        # 东苑's walks start at its OSM entrance, 70 m from the street.
        assert c.loc["东苑", ["access_rule", "n_gates"]].tolist() == ["gates", 1]
        assert c.loc["东苑", "nursery_dist_m"] == pytest.approx(70 + 400 + 10, abs=0.5)
        assert c.loc["东苑", "shelter_dist_m"] == pytest.approx(70 + 100 + 5, abs=0.5)
        assert c.loc["东苑", "culture_dist_m"] == pytest.approx(70 + 300 + 10, abs=0.5)
        assert list(c.loc[["东苑", "西苑"], "nursery_covered"]) == [False, True]
        assert c.loc["东苑", "shelter_nearest"] == "避难点丙"
    np.testing.assert_allclose(
        first.compounds["culture_dist_m"], second.compounds["culture_dist_m"]
    )
