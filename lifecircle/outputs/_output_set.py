"""Whole output sets: one run's files are written into a fresh folder and switched in at once.

A run's outputs (data, report, maps) belong together. They are written into a new folder in a
hidden store beside the output folder, ``<parent>/.<name>.versions/<set id>/``, and the output
folder itself, ``<parent>/<name>``, is a relative symbolic link to the current set. The switch
is one :func:`os.replace` of a new link over the old one, which is atomic: a run killed at any
moment (SIGKILL, Ctrl-C, power cut after the page cache is flushed) leaves the old complete set
or the new complete set, never a mixture. Maps that live outside the output folder (``maps/``)
are stable relative links into the set (``maps/huangpu.html`` →
``../data/processed/huangpu/maps/huangpu.html``), created once, so the same switch moves them.

The store keeps the current set and the previous one (for rollback: point the link back at it);
older sets, half-written staging folders of killed runs and stray temporary links are deleted
at the start of the next write. A lock file (:mod:`filelock`: an operating-system lock that the
kernel releases when a process dies, on Linux, macOS and Windows) keeps two runs from writing
into the same folder at once.

Where the file system has no symbolic links (Windows without developer mode, some network
drives), the output folder is a real folder and the switch is two renames (old folder out, new
folder in); a run killed between them leaves no output folder, and the next write restores the
newest complete set first. Maps outside the output folder are then copied after the switch.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import filelock

from .. import settings
from ..errors import LifecircleError, LifecircleWarning, OutputError

#: Suffix of the hidden store folder beside an output folder.
STORE_SUFFIX = ".versions"
_STAGING_PREFIX = ".staging-"
_OLD_PREFIX = "old-"
_LINK_PREFIX = ".link-"
_LOG_SUFFIX = ".log.json"
_MAPS = "maps"
#: Longest output folder name (file systems allow 255 bytes; the store adds a prefix and suffix).
_MAX_NAME_BYTES = 200

_held: dict[str, filelock.FileLock] = {}


def store_folder(folder: str | Path) -> Path:
    """The hidden folder holding the output sets of ``folder``."""
    folder = _absolute(folder)
    return folder.parent / f".{folder.name}{STORE_SUFFIX}"


# --- checks and lock ------------------------------------------------------------------------


def check_output_folder(folder: str | Path, what: str = "output folder") -> Path:
    """Check that results can be written to ``folder``, before any heavy work.

    Parameters
    ----------
    folder : str or Path
        The output folder (``--out``): new, empty, or written by lifecircle before.
    what : str
        How to name the folder in messages.

    Returns
    -------
    Path
        The absolute folder path.

    Raises
    ------
    OutputError
        When the path is a file, a folder lifecircle did not write (its contents would be
        hidden), the working folder itself, too long, or inside a folder that cannot be written.
    """
    folder = _absolute(folder)
    if len(folder.name.encode("utf-8")) > _MAX_NAME_BYTES:
        raise OutputError(
            f"the {what} name {folder.name[:40]}… is too long ({len(folder.name)} characters): "
            "use a shorter name"
        )
    if Path.cwd().resolve().is_relative_to(folder.resolve()) and not folder.is_symlink():
        raise OutputError(
            f"the {what} {folder} is the working folder (or holds it): give a sub-folder, "
            "e.g. --out results"
        )
    if folder.is_symlink():
        if not _is_our_link(folder):
            raise OutputError(
                f"the {what} {folder} is a link lifecircle did not make: remove it or give "
                "another --out"
            )
    elif folder.exists():
        if not folder.is_dir():
            raise OutputError(
                f"the {what} {folder} is a file, not a folder: give a folder path with --out"
            )
        if not _is_ours(folder):
            raise OutputError(
                f"the {what} {folder} already holds files that lifecircle did not write: give a "
                "new or empty folder with --out (nothing there was changed)"
            )
    _check_writable_ancestor(folder, what)
    return folder


def _check_writable_ancestor(folder: Path, what: str) -> None:
    parent = folder.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot create the {what} {folder}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"cannot write the {what} {folder}: the folder {parent} is not writable for you; "
            "give another --out"
        )


@contextlib.contextmanager
def output_lock(folder: str | Path) -> Iterator[Path]:
    """Hold the write lock of an output folder (re-entrant within one process).

    Parameters
    ----------
    folder : str or Path
        The output folder.

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    OutputError
        When another process holds the lock for longer than
        ``lifecircle.settings.output_lock_timeout_s``.
    """
    check_output_folder(folder)
    store = store_folder(folder)
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, _absolute(folder)) from exc
    path = store / "lock"
    key = str(path)
    lock = _held.setdefault(key, filelock.FileLock(path, thread_local=False))
    try:
        lock.acquire(timeout=settings.output_lock_timeout_s)
    except filelock.Timeout:
        raise OutputError(
            f"another lifecircle run is writing to {_absolute(folder)} (lock {path}); wait for "
            "it to finish, or give another --out"
        ) from None
    try:
        yield path
    finally:
        if lock.lock_counter == 1:  # the outermost hold: nobody in this process still needs it
            _drop_unused_store(store, path)
        lock.release()


def _drop_unused_store(store: Path, lock_path: Path) -> None:
    """Remove a store that holds nothing but its lock (a first run that failed before writing).

    Called while the lock is still held, so no other run is inside it: removing the file is safe
    because a run that opened it meanwhile sees an unlinked file (filelock checks) and tries again.
    """
    try:
        if {entry.name for entry in store.iterdir()} != {lock_path.name}:
            return
        lock_path.unlink()
        store.rmdir()
    except OSError:  # another run just created something there: it keeps the store
        pass


# --- the set --------------------------------------------------------------------------------


@contextlib.contextmanager
def output_set(
    folder: str | Path,
    *,
    maps_dir: str | Path | None = None,
    log: dict[str, Any] | None = None,
    keep_if_unchanged: str | None = None,
) -> Iterator[Callable[[str | Path], Path]]:
    """Write a whole output set and switch it in only when every file is written.

    Parameters
    ----------
    folder : str or Path
        The output folder; after the switch it shows the new set.
    maps_dir : str or Path, optional
        A second folder (``maps/``) whose files belong to the set: they are written into the
        set's ``maps/`` sub-folder and appear in ``maps_dir`` as links into it.
    log : dict, optional
        Facts that vary between identical runs (timings): written beside the set in the store
        (``<set id>.log.json``), outside the compared outputs.
    keep_if_unchanged : str, optional
        A file of the set (e.g. ``"manifest.json"``) that identifies what the other files were
        made from. When the new set writes it byte for byte as the current set has it, the
        current set's files that the new set does not write (a report, another category's
        siting plan) are still valid and are kept in the new set; otherwise they are left out
        with a warning naming them (they stay in the previous set until the next write).

    Yields
    ------
    callable
        ``stage(final_path) -> path``: write each output to the path it returns. ``final_path``
        lies under ``folder`` or ``maps_dir``.

    Raises
    ------
    OutputError
        When the set cannot be written (full disk, no permission...): nothing was switched and
        the previous set is untouched.
    """
    folder = check_output_folder(folder)
    maps = _absolute(maps_dir) if maps_dir is not None else None
    if maps is not None and maps == folder:
        maps = None
    if maps is not None and maps.exists() and not maps.is_dir():
        raise OutputError(f"the maps folder {maps} is a file, not a folder")
    with output_lock(folder):
        store = store_folder(folder)
        _recover(folder, store)
        _clean(folder, store, maps)
        set_id = _new_set_id()
        staging = store / f"{_STAGING_PREFIX}{set_id}"
        links: dict[str, Path] = {}
        try:
            staging.mkdir(parents=True)
            yield _stager(folder, maps, staging, links)
            if keep_if_unchanged is not None:
                _keep_unchanged(folder, staging, maps, links, keep_if_unchanged)
            fault_point("written")
            complete = store / set_id
            os.rename(staging, complete)
            fault_point("complete")
            if log is not None:
                _write_log(store / f"{set_id}{_LOG_SUFFIX}", log)
            _switch(folder, store, complete, maps, links)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError) and not isinstance(exc, LifecircleError):
                raise output_error(exc, folder) from exc
            raise
        _clean(folder, store, maps)
        fault_point("cleaned")


def _stager(
    folder: Path, maps: Path | None, staging: Path, links: dict[str, Path]
) -> Callable[[str | Path], Path]:
    def stage(final: str | Path) -> Path:
        final = _absolute(final)
        if maps is not None and final.parent == maps:
            relative = Path(_MAPS) / final.name
            links[final.name] = relative
        elif final.is_relative_to(folder):
            relative = final.relative_to(folder)
        else:
            raise ValueError(f"{final} lies outside the output set ({folder}, maps: {maps})")
        fault_point(f"stage {relative.as_posix()}")
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    return stage


def _keep_unchanged(
    folder: Path, staging: Path, maps: Path | None, links: dict[str, Path], key: str
) -> None:
    """Bring the current set's other files into the new set when they are still valid."""
    if not folder.is_dir():
        return
    current = Path(os.path.realpath(folder))
    missing = sorted(
        path.relative_to(current)
        for path in current.rglob("*")
        if path.is_file() and not (staging / path.relative_to(current)).exists()
    )
    if not missing:
        return
    old_key, new_key = current / key, staging / key
    if not (old_key.is_file() and new_key.is_file() and _same_bytes(old_key, new_key)):
        shown = sorted({
            relative.as_posix() if relative.parts[0] == _MAPS or len(relative.parts) == 1
            else f"{relative.parts[0]}/" for relative in missing
        })
        warnings.warn(
            f"{folder}: the previous {', '.join(shown)} were made from a different run "
            f"(its {key} differs) and are not part of the new results; they stay in "
            f"{current} until the next write. Run the command that made them again.",
            LifecircleWarning,
            stacklevel=4,
        )
        return
    for relative in missing:
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Sets are never changed in place, so sharing the file with the old set is safe.
            os.link(current / relative, target)
        except OSError:
            shutil.copy2(current / relative, target)
        if maps is not None and relative.parts[0] == _MAPS and len(relative.parts) == 2:
            links[relative.name] = relative


def _same_bytes(first: Path, second: Path) -> bool:
    return first.stat().st_size == second.stat().st_size and first.read_bytes() == second.read_bytes()


def output_error(exc: OSError, folder: Path) -> OutputError:
    """An :class:`OutputError` for a failed write, with what to do about it."""
    if isinstance(exc, OutputError):
        return exc
    advice = {
        errno.ENOSPC: "the disk is full: free some space or give another --out",
        errno.EDQUOT: "your disk quota is used up: free some space or give another --out",
        errno.EACCES: "permission denied: give a folder you can write to with --out",
        errno.EPERM: "permission denied: give a folder you can write to with --out",
        errno.EROFS: "the file system is read-only: give another --out",
        errno.ENAMETOOLONG: "a file name is too long: use a shorter profile name or --out",
    }.get(exc.errno or 0, "give another --out, or check the disk")
    where = f" ({exc.filename})" if exc.filename else ""
    return OutputError(
        f"cannot write the results to {folder}: {exc.strerror or exc}{where}; {advice}. "
        "Nothing was changed: the previous results are kept."
    )


def _write_log(path: Path, log: dict[str, Any]) -> None:
    record = {"written_at": datetime.now().astimezone().isoformat(timespec="seconds"), **log}
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2, default=str), "utf-8")


# --- switching --------------------------------------------------------------------------------


def _switch(
    folder: Path, store: Path, complete: Path, maps: Path | None, links: dict[str, Path]
) -> None:
    if symlinks_supported(folder.parent):
        if maps is not None:
            _link_maps(folder, store, maps, links)
        fault_point("linked")
        _migrate_real_folder(folder, store)
        _replace_with_link(folder, Path(os.path.relpath(complete, folder.parent)))
        fault_point("switched")
        if maps is not None:
            _drop_dangling_map_links(folder, maps)
        return
    if folder.exists():
        os.rename(folder, store / f"{_OLD_PREFIX}{_new_set_id()}")
    fault_point("moved out")
    os.rename(complete, folder)
    fault_point("switched")
    if maps is not None:
        _copy_maps(folder, maps, links)


def _link_maps(folder: Path, store: Path, maps: Path, links: dict[str, Path]) -> None:
    maps.mkdir(parents=True, exist_ok=True)
    real_maps = Path(os.path.realpath(maps))
    real_folder = Path(os.path.realpath(folder.parent)) / folder.name
    for name, relative in links.items():
        target = Path(os.path.relpath(real_folder / relative, real_maps))
        link = maps / name
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if link.exists() and not link.is_symlink():
            # A map written by an older lifecircle: keep it in the store, then link.
            kept = store / "replaced-maps"
            kept.mkdir(exist_ok=True)
            os.replace(link, kept / name)
        _replace_with_link(link, target, directory=False)


def _drop_dangling_map_links(folder: Path, maps: Path) -> None:
    real_folder = Path(os.path.realpath(folder.parent)) / folder.name / _MAPS
    real_maps = Path(os.path.realpath(maps))
    for link in maps.iterdir():
        if not link.is_symlink() or link.exists():
            continue
        pointed = Path(os.path.normpath(real_maps / os.readlink(link)))
        if pointed.parent == real_folder:
            link.unlink()


def _copy_maps(folder: Path, maps: Path, links: dict[str, Path]) -> None:
    maps.mkdir(parents=True, exist_ok=True)
    for name, relative in links.items():
        temporary = maps / f".{name}{_LINK_PREFIX}{uuid.uuid4().hex[:8]}"
        shutil.copyfile(folder / relative, temporary)
        os.replace(temporary, maps / name)


def _replace_with_link(path: Path, target: Path, *, directory: bool = True) -> None:
    temporary = path.parent / f".{path.name}{_LINK_PREFIX}{uuid.uuid4().hex[:8]}"
    os.symlink(target, temporary, target_is_directory=directory)  # the flag matters on Windows
    os.replace(temporary, path)


def _migrate_real_folder(folder: Path, store: Path) -> None:
    """Move an output folder of an older lifecircle (or an empty one) out of the way."""
    if folder.is_symlink() or not folder.exists():
        return
    if not any(folder.iterdir()):
        folder.rmdir()
        return
    os.rename(folder, store / f"{_new_set_id()}-legacy")


# --- recovery and cleaning ------------------------------------------------------------------


def _recover(folder: Path, store: Path) -> None:
    """Give back an output folder lost between two steps of a switch (kill or crash)."""
    if folder.is_symlink() and folder.exists():
        return
    if folder.exists():
        return
    sets = _complete_sets(store)
    if not sets:
        return
    newest = sets[-1]
    if symlinks_supported(folder.parent):
        _replace_with_link(folder, Path(os.path.relpath(newest, folder.parent)))
    else:
        os.rename(newest, folder)


def _clean(folder: Path, store: Path, maps: Path | None) -> None:
    """Delete stale staging folders, stray temporary links and all sets but two.

    The current set stays, and the newest other one (the previous set, for rollback).
    """
    current = Path(os.path.realpath(folder)) if folder.is_symlink() else None
    others = [
        entry
        for entry in [*_complete_sets(store), *_old_sets(store)]
        if current is None or Path(os.path.realpath(entry)) != current
    ]
    others.sort(key=lambda entry: entry.name.removeprefix(_OLD_PREFIX))
    kept = {*others[-1:], *([current] if current else [])}
    kept_names = {entry.name for entry in kept}
    for entry in store.iterdir() if store.is_dir() else []:
        if entry.name.startswith(_STAGING_PREFIX) or (entry in others and entry.name not in kept_names):
            shutil.rmtree(entry, ignore_errors=True)
    for log in store.glob(f"*{_LOG_SUFFIX}"):
        if log.name.removesuffix(_LOG_SUFFIX) not in kept_names:
            log.unlink(missing_ok=True)
    for parent in {folder.parent, *([maps] if maps is not None and maps.is_dir() else [])}:
        for stray in parent.glob(f".*{_LINK_PREFIX}*"):
            stray.unlink(missing_ok=True)


def _old_sets(store: Path) -> list[Path]:
    return sorted(store.glob(f"{_OLD_PREFIX}*")) if store.is_dir() else []


def _complete_sets(store: Path) -> list[Path]:
    if not store.is_dir():
        return []
    names = [
        e for e in store.iterdir()
        if e.is_dir() and not e.is_symlink() and not e.name.startswith((".", _OLD_PREFIX))
        and e.name != "replaced-maps"
    ]
    return sorted(names, key=lambda e: e.name)


def _is_our_link(folder: Path) -> bool:
    target = Path(os.readlink(folder))
    return not target.is_absolute() and target.parent == Path(store_folder(folder).name)


def _is_ours(folder: Path) -> bool:
    """An empty folder, a set of the rename mode, or the output folder of an older lifecircle."""
    if not any(folder.iterdir()):
        return True
    return store_folder(folder).is_dir() or (folder / "manifest.json").is_file()


def _absolute(path: str | Path) -> Path:
    # abspath, not resolve: the output folder is a link that must not be followed.
    return Path(os.path.abspath(os.fspath(path)))


def _new_set_id() -> str:
    stamp = datetime.now().astimezone().strftime("%Y%m%dT%H%M%S%f")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


_symlink_support: dict[str, bool] = {}


def symlinks_supported(folder: Path) -> bool:
    """Whether symbolic links can be made in ``folder`` (tested once per folder)."""
    key = str(folder)
    if key not in _symlink_support:
        probe = folder / f".lifecircle-probe{_LINK_PREFIX}{uuid.uuid4().hex[:8]}"
        try:
            os.symlink(".", probe, target_is_directory=True)
            probe.unlink()
            _symlink_support[key] = True
        except (OSError, NotImplementedError):
            _symlink_support[key] = False
    return _symlink_support[key]


# --- fault injection (tests) -----------------------------------------------------------------


def fault_point(name: str) -> None:
    """Let the test suite stop or kill the process here (``LIFECIRCLE_FAULT_INJECT``).

    The variable holds ``<action>@<point>``: action ``sigkill``, ``sigint`` or ``sigstop``,
    point a name (``stage report/report.md``, ``written``, ``complete``, ``linked``,
    ``switched``, ``cleaned``), a 1-based count of points reached, or ``*`` for every point.
    With ``LIFECIRCLE_FAULT_LOG`` set, every point reached is appended to that file first.
    Unset (always, outside the tests) this does nothing.
    """
    spec = os.environ.get("LIFECIRCLE_FAULT_INJECT")
    if not spec:
        return
    _fault_state["count"] += 1
    journal = os.environ.get("LIFECIRCLE_FAULT_LOG")
    if journal:
        with open(journal, "a", encoding="utf-8") as handle:
            handle.write(f"{name}\n")
    action, _, point = spec.partition("@")
    if point not in {"*", name, str(_fault_state["count"])}:
        return
    number = {"sigkill": signal.SIGKILL, "sigint": signal.SIGINT, "sigstop": signal.SIGSTOP}
    os.kill(os.getpid(), number[action])
    if action == "sigint":
        time.sleep(1)  # the KeyboardInterrupt is raised here


_fault_state = {"count": 0}
