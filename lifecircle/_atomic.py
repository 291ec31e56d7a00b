"""Atomic file writes, used by every layer that writes (caches in sources, results in outputs).

A file is written to a temporary name in its destination folder and moved into place with
:func:`os.replace`, which is atomic on one file system: an interrupted write never leaves a
half-written file and never destroys the previous one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only on success.

    Parameters
    ----------
    path : str or Path
        The final destination. Its folder is created when missing.

    Yields
    ------
    Path
        Where to write. On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the real suffix last: some drivers (GeoPackage) check it.
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # Some writers (GeoPackage) refuse to write over an existing empty file.
    tmp.unlink()
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_atomic(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically.

    Parameters
    ----------
    path : str or Path
        The final destination.
    writer : callable
        Receives the temporary path and writes the file there.

    Returns
    -------
    Path
        ``path``.
    """
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
