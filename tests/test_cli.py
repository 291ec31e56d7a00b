"""The command line's handling of everyday mistakes, offline runs and interruptions.

Every expected problem ends in one ``error:`` line naming the problem and the fix, with an
exit code per kind (1 input, 3 offline, 4 output, 130 Ctrl-C); an unexpected exception keeps its
traceback. The sample fallback never writes into the study's output folder and needs
``--allow-sample``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sys
from pathlib import Path

import filelock
import pytest
import yaml
from typer.testing import CliRunner

import lifecircle as lc
from lifecircle import cli
from lifecircle.outputs import files

from ._report_study import write_study


@pytest.fixture
def study(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    return write_study(folder)


def invoke(*args: str):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def error_lines(outcome) -> list[str]:
    return [line for line in outcome.output.splitlines() if line.startswith("error:")]


# Exit codes (cli.EXIT_*): 1 input, 3 offline, 4 output, 130 interrupted.


def assert_one_line_error(outcome, code: int, *fragments: str) -> str:
    assert outcome.exit_code == code, outcome.output
    assert "Traceback" not in outcome.output
    lines = error_lines(outcome)
    assert len(lines) == 1, outcome.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def edit_profile(path: Path, change) -> Path:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# --- offline: no silent sample ---------------------------------------------------------------


def test_offline_run_stops_with_an_error_and_writes_nothing(isolated_folders, monkeypatch):
    # Nothing listens on this port: the probe fails at once and nothing is cached.
    monkeypatch.setattr(lc.settings, "overpass_url", "http://127.0.0.1:9/api")
    outcome = invoke("run", "changning")
    line = assert_one_line_error(outcome, 3, "did not answer", "--allow-sample")
    assert "--osm-file" in line
    assert not (isolated_folders / "processed").exists() or not any(
        p.is_file() for p in (isolated_folders / "processed").rglob("*") if p.name != "lock"
    )
    assert not (isolated_folders / "maps").exists()


def test_allowed_sample_goes_to_its_own_folder_never_into_the_study_out(
    isolated_folders, study, monkeypatch
):
    out = isolated_folders / "study_results"
    assert invoke("report", study, "--out", out).exit_code == 0
    before = snapshot(out)
    monkeypatch.setattr(lc.settings, "overpass_url", "http://127.0.0.1:9/api")
    outcome = invoke("run", "changning", "--out", out, "--allow-sample")
    assert outcome.exit_code == 0, outcome.output
    assert "SAMPLE" in outcome.output and "nothing was written to" in outcome.output
    assert snapshot(out) == before  # the study's results are untouched
    sample = isolated_folders / "processed" / cli.SAMPLE_PROFILE
    assert '"sample": true' in (sample / "manifest.json").read_text(encoding="utf-8")
    html = (isolated_folders / "maps" / f"{cli.SAMPLE_PROFILE}.html").read_text(encoding="utf-8")
    assert "示例数据" in html or "SAMPLE" in html


def test_run_with_fallback_needs_permission(monkeypatch, study):
    calls = []

    def fake_run(profile, osm_file=None, progress=True):
        calls.append(profile.name)
        if profile.name != cli.SAMPLE_PROFILE:
            raise lc.OfflineError("OpenStreetMap is unreachable")
        return "sample result"

    monkeypatch.setattr(cli.pipeline, "run", fake_run)
    with pytest.raises(lc.OfflineError, match="--allow-sample"):
        cli.run_with_fallback(study)
    assert cli.run_with_fallback(study, allow_sample=True) == "sample result"
    assert calls == ["reportstudy", "reportstudy", cli.SAMPLE_PROFILE]
    with pytest.raises(lc.OfflineError):  # a local file is the user's choice: no sample then
        cli.run_with_fallback(study, Path("x.osm"), allow_sample=True)


# --- everyday mistakes: one line, no traceback -------------------------------------------------


def test_misspelt_households_field(study, tmp_path):
    edit_profile(study, lambda d: d["compounds"].update(households_field="househlds"))
    outcome = invoke("run", study, "--out", tmp_path / "out")
    assert_one_line_error(outcome, 1, "households_field", "'househlds'", "did you mean 'households'")


def test_layer_path_that_is_a_folder(study, tmp_path):
    (study.parent / "culture_dir").mkdir()
    edit_profile(study, lambda d: d["categories"]["culture"]["source"].update(file="culture_dir"))
    outcome = invoke("run", study, "--out", tmp_path / "out")
    assert_one_line_error(outcome, 1, "culture_dir", "is a folder, not a file")


@pytest.fixture
def network_never_read(monkeypatch):
    """Fail the test if the run reaches the (slow) network step: checks must come first."""

    def no_network(*args, **kwargs):
        raise AssertionError("the network was read before the inputs and options were checked")

    monkeypatch.setattr(lc.pipeline.osm, "graph_from_osm_file", no_network)
    monkeypatch.setattr(lc.pipeline.osm_arrays, "read_street_segments", no_network)


def test_missing_input_is_reported_before_the_network_is_read(study, tmp_path, network_never_read):
    edit_profile(study, lambda d: d["sub_districts"].update(file="gone.geojson"))
    outcome = invoke("run", study, "--out", tmp_path / "out")
    assert_one_line_error(outcome, 1, "sub_districts.file", "gone.geojson", "does not exist")


def test_builtin_profile_without_its_data_says_which_variable_to_set(tmp_path, monkeypatch):
    # A fresh clone elsewhere than beside ../shared/data: the planner must learn that the
    # built-in real-data profile takes its folder from LIFECIRCLE_SHARED_DATA.
    monkeypatch.delenv("LIFECIRCLE_SHARED_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    outcome = invoke("run", "huangpu", "--out", tmp_path / "out")
    assert_one_line_error(
        outcome, 1, "study_area.file", "does not exist",
        "environment variable LIFECIRCLE_SHARED_DATA, which is not set",
        "export LIFECIRCLE_SHARED_DATA=",
    )
    monkeypatch.setenv("LIFECIRCLE_SHARED_DATA", str(tmp_path / "nowhere"))
    outcome = invoke("run", "huangpu", "--out", tmp_path / "out")
    assert_one_line_error(outcome, 1, "$LIFECIRCLE_SHARED_DATA, set to", "nowhere")


def test_command_line_mistakes_fail_before_the_run_naming_the_option(
    study, tmp_path, network_never_read
):
    # Before: a mistyped basemap failed after the whole run, suggesting a Python class.
    outcome = invoke("run", study, "--online-map", "--basemap", "gaode", "--out", tmp_path / "o")
    line = assert_one_line_error(outcome, 1, "unknown basemap 'gaode'", "amap (高德地图 AMap)")
    assert "Basemap(name" not in line
    # Before: a missing --osm-file was blamed on the profile alone.
    outcome = invoke("run", study, "--osm-file", tmp_path / "gone.osm.pbf", "--out", tmp_path / "o")
    assert_one_line_error(outcome, 1, "network.osm_file (or --osm-file)", "does not exist")


def test_out_that_is_a_file(study, tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("mine\n")
    outcome = invoke("run", study, "--out", target)
    assert_one_line_error(outcome, 4, "is a file, not a folder")
    assert target.read_text() == "mine\n"


def test_out_that_holds_someone_elses_files(study, tmp_path):
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    outcome = invoke("run", study, "--out", mine)
    assert_one_line_error(outcome, 4, "lifecircle did not write")
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


@pytest.mark.skipif(sys.platform != "linux", reason="uses Linux file-system permissions")
def test_unwritable_out(study, tmp_path):
    if os.geteuid() == 0:
        out = Path("/sys/lifecircle-test-out")  # sysfs refuses new folders even to root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = locked / "out"
    outcome = invoke("run", study, "--out", out)
    assert_one_line_error(outcome, 4, str(out), "--out")


def test_full_disk_keeps_the_previous_results(study, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert invoke("run", study, "--out", out).exit_code == 0
    before = snapshot(out)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "write_table", full)
    outcome = invoke("run", study, "--out", out)
    assert_one_line_error(outcome, 4, "disk is full", "previous results are kept")
    assert snapshot(out) == before
    assert not [p for p in tmp_path.rglob("*staging*")]


def test_gbk_profile(study):
    text = study.read_text(encoding="utf-8")
    study.write_bytes(text.encode("gbk"))
    outcome = invoke("run", study)
    assert_one_line_error(outcome, 1, "not UTF-8", "GBK", "save it as UTF-8")


def test_over_long_profile_name():
    outcome = invoke("run", "x" * 300)
    assert_one_line_error(outcome, 1, "300 characters")


def test_profile_path_outside_the_profiles_folder_is_not_a_builtin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = invoke("run", "../profiles/huangpu")
    assert_one_line_error(outcome, 1, "../profiles/huangpu", "does not exist")


def test_interrupt_prints_one_line(study, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.pipeline, "run", interrupted)
    outcome = invoke("run", study, "--out", tmp_path / "out")
    assert outcome.exit_code == 130
    lines = [line for line in outcome.output.splitlines() if line.startswith("interrupted")]
    assert len(lines) == 1 and "Ctrl-C" in lines[0]
    assert "Traceback" not in outcome.output
    # Nothing was published into the new folder: no hidden store with a lone lock is left.
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.versions").exists()


def test_another_run_holds_the_folder(study, tmp_path):
    out = tmp_path / "out"
    lock_path = tmp_path / ".out.versions" / "lock"  # files.store_folder(out) / "lock"
    lock_path.parent.mkdir(parents=True)
    with filelock.FileLock(lock_path):  # as another process would hold it
        outcome = invoke("run", study, "--out", out)
    assert_one_line_error(outcome, 4, "another lifecircle run is writing to")
    assert invoke("run", study, "--out", out).exit_code == 0  # free again


def test_unexpected_errors_keep_their_traceback(study, monkeypatch):
    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli.pipeline, "run", bug)
    outcome = invoke("run", study)
    assert isinstance(outcome.exception, ZeroDivisionError)
    assert not error_lines(outcome)


def test_a_damaged_network_cache_offline_is_named_not_hidden_behind_the_sample(
    isolated_folders, study, monkeypatch
):
    from ._fake_overpass import FakeOverpass, OsmData

    edit_profile(study, lambda d: d.update(network={"source": "osm_online"}))
    server = FakeOverpass(OsmData.from_xml(study.parent / "streets.osm")).start()
    monkeypatch.setattr(lc.settings, "overpass_url", server.url)
    try:
        assert invoke("run", study, "--out", isolated_folders / "out").exit_code == 0
    finally:
        server.stop()
    cached = isolated_folders / "raw" / "reportstudy" / "network.graphml"
    cached.write_bytes(cached.read_bytes()[:300])  # a download cut short
    outcome = invoke("run", study, "--out", isolated_folders / "out", "--allow-sample")
    assert outcome.exit_code == 0  # the sample was allowed...
    text = " ".join(outcome.output.split())
    # ...but what is wrong with the cache, and how to rebuild it, is said first.
    assert f"the cached network {cached} is unreadable" in text
    assert "delete the damaged file and run again when online" in text
    assert text.index("unreadable") < text.index("SAMPLE")
    outcome = invoke("run", study, "--out", isolated_folders / "out")
    assert_one_line_error(outcome, 3, "is unreadable", "delete the damaged file")
