"""Shared fixtures. Real data is read from ../shared/data (or $LIFECIRCLE_SHARED_DATA) through
the one `shared_data` fixture: outside CI a missing folder skips, under CI (CI=true) it fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("LIFECIRCLE_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder holding the real offline data (see its README for provenance)."""
    folder = _shared_data_dir()
    if not (folder / "shanghai_center.osm.bz2").is_file():
        reason = (
            f"real data not found at {folder}: set LIFECIRCLE_SHARED_DATA to the folder holding "
            "shanghai_center.osm.bz2 and the other shared files"
        )
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason)
        pytest.skip(reason)
    return folder


@pytest.fixture(scope="session")
def huangpu_result(shared_data):
    """One real-data run of the built-in Huangpu profile, shared by the tests that read it."""
    os.environ.setdefault("LIFECIRCLE_SHARED_DATA", str(shared_data))
    import lifecircle as lc

    return lc.run(lc.load_profile("huangpu"), progress=False)


@pytest.fixture(scope="session")
def report_study(tmp_path_factory) -> Path:
    """The hand-built report study of tests/_report_study.py (profile path)."""
    from ._report_study import write_study

    return write_study(tmp_path_factory.mktemp("report_study"))


@pytest.fixture(scope="session")
def report_result(report_study):
    """One run of the hand-built report study, shared by the report tests."""
    import lifecircle as lc

    return lc.run(report_study, progress=False)


@pytest.fixture(scope="session")
def report_built(report_result):
    """The indicator report of :func:`report_result`."""
    import lifecircle as lc

    return lc.indicator_report(report_result)


@pytest.fixture
def isolated_folders(tmp_path, monkeypatch):
    """Raw, processed and maps folders of lifecircle inside ``tmp_path``; no proxy for 127.0.0.1."""
    import lifecircle as lc

    monkeypatch.setattr(lc.settings, "data_raw_folder", tmp_path / "raw")
    monkeypatch.setattr(lc.settings, "data_processed_folder", tmp_path / "processed")
    monkeypatch.setattr(lc.settings, "maps_folder", tmp_path / "maps")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return tmp_path


@pytest.fixture(scope="session")
def small_city(tmp_path_factory):
    """A generated street-like city on disk (about 5,000 network nodes, 400 compounds, 600
    facilities; benchmarks/synthetic_city.py) and its walking network built from the PBF."""
    from benchmarks.synthetic_city import write_city
    from lifecircle.analysis.network import walking_network_from_segments
    from lifecircle.sources.osm_arrays import read_street_segments

    folder = tmp_path_factory.mktemp("small_city")
    profile = write_city(folder, 5_000, n_compounds=400, n_facilities=600, seed=11)
    segments = read_street_segments(folder / "city.osm.pbf")
    return profile, walking_network_from_segments(segments, "EPSG:32651")
