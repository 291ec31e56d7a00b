"""A run's outputs are one set: written into a fresh folder and switched in at once.

Checked here: the layout (output folder → link into the hidden store; maps/ → links into the
set), rollback set and cleaning, old-layout folders, foreign folders, the rename fallback for
file systems without links (with recovery), the lock, a full disk, byte-identical outputs of
identical runs, and — in a subprocess of ``lifecircle report`` — a kill (SIGKILL, SIGINT) at
every point of the writing: only whole old or whole new sets are ever found.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import lifecircle as lc
from lifecircle.outputs import files

from ._report_study import write_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return write_study(tmp_path_factory.mktemp("sets_study"))


@pytest.fixture(scope="module")
def result(study):
    return lc.run(study, progress=False)


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Default output places (data/processed, maps/) inside a fresh folder."""
    monkeypatch.setattr(lc.settings, "data_processed_folder", tmp_path / "data" / "processed")
    monkeypatch.setattr(lc.settings, "maps_folder", tmp_path / "maps")
    return tmp_path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def output_snapshot(root: Path, name: str = "reportstudy") -> dict[str, str]:
    """What a user sees: the output folder and maps/, links followed (dangling ones absent)."""
    seen = {}
    folder = root / "data" / "processed" / name
    if folder.exists():
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                seen[f"out/{path.relative_to(folder).as_posix()}"] = digest(path)
    maps = root / "maps"
    if maps.is_dir():
        for path in sorted(maps.iterdir()):
            if path.is_file():  # follows links; a dangling link is not a file
                seen[f"maps/{path.name}"] = digest(path)
    return seen


def retitled(result, zh: str):
    title = result.profile.title.model_copy(update={"zh": zh})
    return lc.RunResult(**{**result.__dict__, "profile": result.profile.model_copy(update={"title": title})})


# --- layout, rollback, cleaning ------------------------------------------------------------------


def test_output_folder_is_a_link_to_the_current_set_and_maps_link_into_it(result, here):
    lc.write_outputs(result, report=True)
    folder = here / "data" / "processed" / "reportstudy"
    store = here / "data" / "processed" / ".reportstudy.versions"
    assert folder.is_symlink() and not os.path.isabs(os.readlink(folder))
    assert Path(os.path.realpath(folder)).parent == store.resolve()
    for link in (here / "maps").iterdir():
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))
        assert link.resolve() == (folder / "maps" / link.name).resolve()
    assert (here / "maps" / "reportstudy_gaps.html").is_file()
    assert (folder / "report" / "report.md").is_file()
    assert not [p for p in folder.rglob("*") if p.name.startswith(".")]  # nothing hidden in a set

    first = os.readlink(folder)
    with pytest.warns(lc.LifecircleWarning, match="made from a different run"):
        lc.write_outputs(retitled(result, "第二次"))
    second = os.readlink(folder)
    lc.write_outputs(retitled(result, "第三次"))
    sets = sorted(p.name for p in store.iterdir() if p.is_dir())
    # The current set and the previous one (for rollback); the first is gone.
    assert sets == sorted([Path(second).name, Path(os.readlink(folder)).name])
    assert Path(first).name not in sets
    assert "第三次" in (here / "maps" / "reportstudy.html").read_text(encoding="utf-8")
    assert "第二次" in (store / Path(second).name / "maps" / "reportstudy.html").read_text("utf-8")


def test_a_run_replaces_a_report_set_whole_never_beside_it(result, here):
    lc.write_outputs(result, report=True)
    with pytest.warns(lc.LifecircleWarning, match=r"report.*made from a different run"):
        lc.write_outputs(retitled(result, "只运行"))  # `lifecircle run`: no report in this set
    folder = here / "data" / "processed" / "reportstudy"
    assert not (folder / "report").exists()
    assert not (here / "maps" / "reportstudy_gaps.html").exists()  # its link was dropped
    assert not (here / "maps" / "reportstudy_gaps.html").is_symlink()
    assert "只运行" in (here / "maps" / "reportstudy.html").read_text(encoding="utf-8")


def _extra_file(name: str, text: str):
    """An ``extra`` writer for write_outputs, as `lifecircle site` adds its plan."""

    def write(stage):
        path = stage(lc.settings.data_processed_folder / "reportstudy" / "siting" / name / "sites.csv")
        path.write_text(text, encoding="utf-8")
        return [path]

    return write


def test_products_of_the_same_run_stay_when_it_is_written_again(result, here):
    # `report`, then `site nursery`, then `site culture`, then `run`: the same run each time,
    # so the report and both plans stay valid and stay, even after the first set is cleaned.
    lc.write_outputs(result, report=True)
    before = output_snapshot(here)
    lc.write_outputs(result, extra=_extra_file("nursery", "plan A"))
    lc.write_outputs(result, extra=_extra_file("culture", "plan B"))
    lc.write_outputs(result)
    after = output_snapshot(here)
    assert {key: after[key] for key in before} == before
    assert after.keys() - before.keys() == {
        "out/siting/nursery/sites.csv", "out/siting/culture/sites.csv"
    }
    assert (here / "maps" / "reportstudy_gaps.html").is_symlink()  # still linked, and resolves
    store = here / "data" / "processed" / ".reportstudy.versions"
    assert len([entry for entry in store.iterdir() if entry.is_dir()]) == 2  # current + previous


def test_a_product_of_the_same_run_is_replaced_when_it_is_written_again(result, here):
    lc.write_outputs(result, extra=_extra_file("nursery", "plan A"))
    lc.write_outputs(result, extra=_extra_file("nursery", "plan C"))
    folder = here / "data" / "processed" / "reportstudy"
    assert (folder / "siting" / "nursery" / "sites.csv").read_text(encoding="utf-8") == "plan C"


def test_stale_staging_and_stray_links_are_cleaned_on_the_next_run(result, here):
    lc.write_outputs(result)
    store = here / "data" / "processed" / ".reportstudy.versions"
    stale = store / ".staging-20000101T000000000000-dead00"
    (stale / "report").mkdir(parents=True)
    (stale / "report" / "half.gpkg").write_bytes(b"SQLite format 3\0 half")
    stray = here / "data" / "processed" / ".reportstudy.link-deadbeef"
    os.symlink("nowhere", stray)
    lc.write_outputs(result)
    assert not stale.exists() and not stray.is_symlink()


def test_an_older_lifecircle_folder_is_kept_as_the_previous_set(result, here):
    folder = here / "data" / "processed" / "reportstudy"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    (folder / "coverage.csv").write_text("old")
    (here / "maps").mkdir()
    (here / "maps" / "reportstudy.html").write_text("old map")
    lc.write_outputs(result)
    assert folder.is_symlink() and (folder / "coverage.csv").read_text() != "old"
    store = files.store_folder(folder)
    legacy = [p for p in store.iterdir() if p.name.endswith("-legacy")]
    assert len(legacy) == 1 and (legacy[0] / "coverage.csv").read_text() == "old"
    assert (store / "replaced-maps" / "reportstudy.html").read_text() == "old map"


def test_a_folder_lifecircle_did_not_write_is_refused(result, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("precious")
    with pytest.raises(lc.OutputError, match="did not write"):
        lc.write_outputs(result, mine)
    assert [p.name for p in mine.iterdir()] == ["thesis.docx"]


def test_a_full_disk_changes_nothing(result, tmp_path, monkeypatch):
    out = tmp_path / "out"
    lc.write_outputs(result, out)
    before = output_snapshot(tmp_path)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "compounds.parquet")

    monkeypatch.setattr(files, "write_geo", full)
    with pytest.raises(lc.OutputError, match="disk is full"):
        lc.write_outputs(retitled(result, "满"), out)
    assert output_snapshot(tmp_path) == before
    assert not list(files.store_folder(out).glob(".staging-*"))


def test_two_writers_never_interleave(result, tmp_path):
    import filelock

    out = tmp_path / "out"
    lc.write_outputs(result, out)
    with (
        filelock.FileLock(files.store_folder(out) / "lock"),
        pytest.raises(lc.OutputError, match="another lifecircle run is writing to"),
    ):
        lc.write_outputs(result, out)


def test_a_failed_first_write_leaves_no_store_behind(result, tmp_path, monkeypatch):
    out = tmp_path / "out"
    store = files.store_folder(out)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "compounds.parquet")

    monkeypatch.setattr(files, "write_geo", full)
    with pytest.raises(lc.OutputError, match="disk is full"):
        lc.write_outputs(result, out)
    assert list(tmp_path.iterdir()) == []  # neither the folder nor an empty store with its lock
    # The CLI holds the lock around the run and the write: an inner release keeps it.
    with files.output_lock(out) as lock:
        with files.output_lock(out):
            pass
        assert lock.is_file()
        with pytest.raises(lc.OutputError, match="disk is full"):
            lc.write_outputs(result, out)
        assert lock.is_file()
    assert not store.exists()
    monkeypatch.undo()
    lc.write_outputs(result, out)
    assert (out / "manifest.json").is_file() and (store / "lock").is_file()
    with files.output_lock(out):
        pass
    assert (store / "lock").is_file()  # a store holding sets is never removed


# --- file systems without links: rename switch with recovery ------------------------------------


def test_rename_switch_without_symbolic_links_recovers_after_a_crash(result, here, monkeypatch):
    from lifecircle.outputs import _output_set

    monkeypatch.setattr(_output_set, "symlinks_supported", lambda folder: False)
    lc.write_outputs(result)
    folder = here / "data" / "processed" / "reportstudy"
    assert folder.is_dir() and not folder.is_symlink()
    assert not (here / "maps" / "reportstudy.html").is_symlink()  # copies, not links

    class Crash(BaseException):
        pass

    def crash_between_renames(name):
        if name == "moved out":
            raise Crash

    monkeypatch.setattr(_output_set, "fault_point", crash_between_renames)
    with pytest.raises(Crash):
        lc.write_outputs(retitled(result, "新"))
    assert not folder.exists()  # killed between the two renames
    monkeypatch.setattr(_output_set, "fault_point", lambda name: None)
    with pytest.raises(lc.OutputError), files.output_set(folder) as stage:
        # The next writer first gives the newest complete set back, then fails on its own.
        raise OSError(errno.ENOSPC, "No space left on device", str(stage(folder / "x.csv")))
    assert "新" in json.loads((folder / "manifest.json").read_text("utf-8"))["profile"]["title"]["zh"]


# --- reproducible outputs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_identical_runs(study, tmp_path_factory):
    """The same `report` run twice, a second apart: what the user finds each time."""
    here = tmp_path_factory.mktemp("twice")
    snapshots = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lc.settings, "data_processed_folder", here / "data" / "processed")
        patch.setattr(lc.settings, "maps_folder", here / "maps")
        for _ in range(2):
            lc.write_outputs(lc.run(study, progress=False), report=True)
            snapshots.append(output_snapshot(here))
            time.sleep(1.1)  # clocks that leak into files would now differ
    return snapshots


def test_the_same_run_twice_gives_byte_identical_files(two_identical_runs):
    first, second = two_identical_runs
    assert len(first) >= 20 and set(first) == set(second)
    assert any(k.endswith(".xlsx") for k in first) and any(k.endswith(".gpkg") for k in first)
    assert [k for k in first if first[k] != second[k]] == []


def test_manifest_is_reproducible_and_has_no_home_folders(result, here, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    lc.write_outputs(result)
    folder = here / "data" / "processed" / "reportstudy"
    text = (folder / "manifest.json").read_text(encoding="utf-8")
    manifest = json.loads(text)
    assert manifest["created"] == "2023-11-14T22:13:20+00:00"
    assert str(here) not in text and str(Path.home()) not in text and "base_dir" not in text
    assert "timings_s" not in manifest
    assert manifest["inputs"]["network"]["path"] == "streets.osm"  # relative to the profile
    assert "maps/reportstudy.html" in manifest["outputs"]
    import sqlite3

    with sqlite3.connect(folder / "reportstudy.gpkg") as db:
        stamps = {row[0] for row in db.execute("select last_change from gpkg_contents")}
    assert stamps == {"2023-11-14T22:13:20.000Z"}
    logs = list(files.store_folder(folder).glob("*.log.json"))
    assert len(logs) == 1 and "timings_s" in json.loads(logs[0].read_text("utf-8"))


# --- fault injection: kill `lifecircle report` while it writes -------------------------------------


def _report_process(cwd: Path, profile: Path, fault: str | None, journal: Path | None = None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LIFECIRCLE_FAULT_INJECT", None)
    if fault:
        env["LIFECIRCLE_FAULT_INJECT"] = fault
    if journal:
        env["LIFECIRCLE_FAULT_LOG"] = str(journal)
    return subprocess.Popen(
        [sys.executable, "-m", "lifecircle", "report", str(profile)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _new_title(profile: Path, title: str) -> None:
    data = yaml.safe_load(profile.read_text(encoding="utf-8"))
    data["title"]["zh"] = title
    profile.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.slow
def test_killed_at_any_point_of_writing_leaves_a_whole_old_or_new_set(tmp_path, here):
    profile = write_study(tmp_path)
    lc.write_outputs(lc.run(profile, progress=False), report=True)  # the old set
    old = output_snapshot(tmp_path)
    _new_title(profile, "新标题")

    # 1. Stop at every point of the writing (SIGSTOP) and look: what a kill there would leave.
    journal = tmp_path / "points.txt"
    process = _report_process(tmp_path, profile, "sigstop@*", journal)
    seen = []
    while True:
        _, status = os.waitpid(process.pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            break
        seen.append(output_snapshot(tmp_path))
        os.kill(process.pid, signal.SIGCONT)
    assert os.WEXITSTATUS(status) == 0, process.stderr.read()
    new = output_snapshot(tmp_path)
    points = journal.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(points) == len(seen) >= 20
    assert new != old and set(new) == set(old)
    assert all(snapshot in (old, new) for snapshot in seen), [
        p for p, s in zip(points, seen, strict=True) if s not in (old, new)
    ]
    assert seen[points.index("linked")] == old and seen[points.index("switched")] == new

    # 2. Real kills: SIGKILL and Ctrl-C (SIGINT) at chosen points, then SIGKILL at delays.
    stages = [p for p in points if p.startswith("stage ")]
    kills = [("sigkill", stages[len(stages) // 2]), ("sigkill", "linked"),
             ("sigkill", "switched"), ("sigint", stages[-1]), ("sigint", "switched")]
    expected = new
    for action, point in kills:
        _new_title(profile, f"{action} {point}")  # every attempt would write a new set
        process = _report_process(tmp_path, profile, f"{action}@{point}")
        code = process.wait(120)
        found = output_snapshot(tmp_path)
        if action == "sigkill":
            assert code == -signal.SIGKILL
        else:
            assert code == 130
            lines = process.stderr.read().splitlines()
            assert sum(line.startswith("interrupted (Ctrl-C)") for line in lines) == 1
        if point == "switched":
            assert found != expected and set(found) == set(old)  # the whole new set
            expected = found
        else:
            assert found == expected, (action, point)
    store = tmp_path / "data" / "processed" / ".reportstudy.versions"
    for delay in (0.1, 0.6):
        _new_title(profile, f"delay {delay}")
        process = _report_process(tmp_path, profile, None)
        while process.poll() is None and not list(store.glob(".staging-*")):
            time.sleep(0.01)
        time.sleep(delay)
        process.kill()
        process.wait(60)
        found = output_snapshot(tmp_path)
        assert found == expected or (set(found) == set(old) and found != expected)
        expected = found
    assert list(store.glob(".staging-*"))  # the kills left half-written staging behind

    # 3. The next run cleans what the kills left and keeps two sets.
    lc.write_outputs(lc.run(profile, progress=False), report=True)
    assert not list(store.glob(".staging-*"))
    assert len([p for p in store.iterdir() if p.is_dir()]) == 2
