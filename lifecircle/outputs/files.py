"""Everything that leaves the program as files: atomic writes and the run manifest.

Every output is written to a temporary file in its destination folder and moved into place with
:func:`os.replace`, which is atomic on one file system: a failed or interrupted run never leaves
a half-written file and never destroys the previous output.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from .._atomic import atomic_path, write_atomic, write_text
from ._safe import neutralise_formulas

__all__ = [
    "atomic_path",
    "file_sha256",
    "package_versions",
    "run_manifest",
    "staged_outputs",
    "write_atomic",
    "write_geo",
    "write_geopackage_layers",
    "write_json",
    "write_table",
    "write_text",
]

#: Packages whose versions the manifest records.
_VERSIONED = (
    "lifecircle",
    "osmnx",
    "networkx",
    "geopandas",
    "shapely",
    "pyproj",
    "scipy",
    "numpy",
    "pandas",
    "folium",
    "pyrosm",
    "prcoords",
)


@contextlib.contextmanager
def staged_outputs() -> Iterator[Callable[[str | Path], Path]]:
    """Stage several output files and move them into place together, only on success.

    Yields
    ------
    callable
        ``stage(final_path) -> temporary_path``: write each output to the temporary path it
        returns. When the block ends without an exception every staged file replaces its final
        path; on an exception all staged files are discarded and no final path is touched.

    Examples
    --------
    >>> with staged_outputs() as stage:  # doctest: +SKIP
    ...     frame.to_csv(stage("out/coverage.csv"))
    """
    token = uuid.uuid4().hex[:8]
    staged: list[tuple[Path, Path]] = []
    folders: set[Path] = set()

    def stage(final: str | Path) -> Path:
        final = Path(final)
        folder = final.parent / f".staging-{token}"
        folder.mkdir(parents=True, exist_ok=True)
        folders.add(folder)
        staged.append((folder / final.name, final))
        return folder / final.name

    try:
        yield stage
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


def write_table(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write a CSV (UTF-8 with BOM, so Excel shows Chinese correctly) atomically.

    Text cells that a spreadsheet would read as a formula are neutralised (see
    :func:`lifecircle.outputs._safe.neutralise_formulas`).
    """
    safe = neutralise_formulas(frame)
    return write_atomic(path, lambda tmp: safe.to_csv(tmp, index=False, encoding="utf-8-sig"))


def write_geo(path: str | Path, gdf: gpd.GeoDataFrame, layer: str | None = None) -> Path:
    """Write a GeoDataFrame as GeoParquet (``.parquet``) or GeoPackage (``.gpkg``) atomically.

    Parameters
    ----------
    path : str or Path
        Destination; the suffix picks the format.
    gdf : geopandas.GeoDataFrame
        The layer to write.
    layer : str, optional
        GeoPackage layer name (default: the file stem).
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return write_atomic(path, lambda tmp: gdf.to_parquet(tmp, index=False))
    if suffix == ".gpkg":
        name = layer or Path(path).stem
        return write_atomic(path, lambda tmp: gdf.to_file(tmp, layer=name, driver="GPKG"))
    raise ValueError(f"unsupported output format {suffix!r}: use .parquet or .gpkg")


def write_geopackage_layers(path: str | Path, layers: dict[str, gpd.GeoDataFrame]) -> Path:
    """Write several layers into one GeoPackage, atomically as a whole."""

    def _write(tmp: Path) -> None:
        for name, gdf in layers.items():
            gdf.to_file(tmp, layer=name, driver="GPKG")

    return write_atomic(path, _write)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape the results."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_manifest(
    profile_dump: dict[str, Any],
    inputs: dict[str, str | Path],
    timings: dict[str, float],
    outputs: list[Path],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record of one run.

    Parameters
    ----------
    profile_dump : dict
        The validated profile as plain data.
    inputs : dict
        Role → file path (hashed here) or a description (e.g. an Overpass URL).
    timings : dict
        Step → seconds.
    outputs : list of Path
        Files written by the run.
    extra : dict, optional
        Counts, warnings and other facts.

    Returns
    -------
    dict
        JSON-serialisable manifest.
    """
    described = {}
    for role, value in inputs.items():
        path = Path(value)
        if path.is_file():
            described[role] = {
                "path": str(path),
                "sha256": file_sha256(path),
                "bytes": path.stat().st_size,
            }
        else:
            described[role] = {"source": str(value)}
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile_dump,
        "inputs": described,
        "versions": package_versions(),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "outputs": [str(p) for p in outputs],
        **(extra or {}),
    }


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    """Write JSON (UTF-8, indented, Chinese kept readable) atomically."""
    return write_text(path, json.dumps(data, ensure_ascii=False, indent=2, default=str))
