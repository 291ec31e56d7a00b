"""Everything that leaves the program as files: whole output sets, writers and the run manifest.

A run's files are written as one set (:func:`output_set`, see :mod:`._output_set`): into a
fresh folder, switched in at once, so that a failed or killed run never leaves a half-written
file, never mixes old and new results and never destroys the previous output. Single files
outside a set are written atomically (:func:`write_atomic`). Outputs are reproducible: the
same inputs give byte-identical files (timestamps come from ``SOURCE_DATE_EPOCH`` or from the
inputs, see :func:`output_timestamp`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from .._atomic import atomic_path, write_atomic, write_text
from . import _reproducible
from ._output_set import check_output_folder, output_lock, output_set, store_folder
from ._safe import neutralise_formulas

__all__ = [
    "atomic_path",
    "check_output_folder",
    "file_sha256",
    "output_lock",
    "output_set",
    "output_timestamp",
    "package_versions",
    "reproducible_timestamp",
    "run_manifest",
    "store_folder",
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


def reproducible_timestamp(paths: list[str | Path] | None = None) -> datetime | None:
    """The time that reproducible outputs record: ``SOURCE_DATE_EPOCH``, else the inputs' date.

    Parameters
    ----------
    paths : list of str or Path, optional
        The run's input files.

    Returns
    -------
    datetime or None
        UTC, to the second: from the ``SOURCE_DATE_EPOCH`` environment variable (the
        reproducible-builds convention) when set, else the newest modification time among the
        existing files of ``paths``; None when there is neither.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    times = [Path(p).stat().st_mtime for p in paths or [] if Path(p).is_file()]
    return datetime.fromtimestamp(int(max(times)), UTC) if times else None


@contextlib.contextmanager
def output_timestamp(when: datetime | None) -> Iterator[datetime]:
    """Give every file written inside the block the same recorded time (reproducible outputs).

    Parameters
    ----------
    when : datetime or None
        The inputs' date (:func:`reproducible_timestamp`). GeoPackages record the resulting
        moment as ``gpkg_contents.last_change`` (GDAL's ``OGR_CURRENT_DATE``), workbooks as
        their document dates; ``SOURCE_DATE_EPOCH`` wins, and None falls back to a fixed
        moment (see :func:`lifecircle.outputs._reproducible.output_moment`).

    Yields
    ------
    datetime
        The moment recorded in the files.
    """
    import pyogrio

    token = _reproducible.set_moment.set(when)
    moment = _reproducible.output_moment()
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        yield moment
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
        _reproducible.set_moment.reset(token)


def run_manifest(
    profile_dump: dict[str, Any],
    inputs: dict[str, str | Path],
    timings: dict[str, float] | None,
    outputs: list[Path],
    extra: dict[str, Any] | None = None,
    *,
    base_dir: str | Path | None = None,
    output_root: str | Path | None = None,
) -> dict[str, Any]:
    """The provenance record of one run: reproducible (the same run gives the same manifest).

    Parameters
    ----------
    profile_dump : dict
        The validated profile as plain data (``base_dir`` is left out).
    inputs : dict
        Role → file path (hashed here) or a description (e.g. an Overpass URL).
    timings : dict or None
        Ignored: run timings vary between identical runs and are kept out of the manifest
        (the output set's log holds them). Kept for callers of the earlier signature.
    outputs : list of Path
        Files written by the run.
    extra : dict, optional
        Counts, warnings and other facts.
    base_dir : str or Path, optional
        The profile's folder: input paths are recorded relative to it (no home folders).
    output_root : str or Path, optional
        The output folder: outputs are recorded relative to it.

    Returns
    -------
    dict
        JSON-serialisable manifest. ``created`` is :func:`reproducible_timestamp` of the
        inputs (ISO 8601, UTC) or None.
    """
    described = {}
    for role, value in inputs.items():
        path = Path(value)
        if path.is_file():
            described[role] = {
                "path": _relative(path, base_dir),
                "sha256": file_sha256(path),
                "bytes": path.stat().st_size,
            }
        else:
            described[role] = {"source": str(value)}
    created = reproducible_timestamp([Path(v) for v in inputs.values()])
    dump = {k: v for k, v in profile_dump.items() if k != "base_dir"}
    return {
        "created": created.isoformat() if created else None,
        "profile": _relative_paths(dump, base_dir),
        "inputs": described,
        "versions": package_versions(),
        "outputs": [_relative(Path(p), output_root) for p in outputs],
        **_without_folders(extra or {}, base_dir),
    }


def _without_folders(data: Any, base: str | Path | None) -> Any:
    """Texts (warnings, notes) with the profile's folder and the home folder taken out."""
    if isinstance(data, dict):
        return {k: _without_folders(v, base) for k, v in data.items()}
    if isinstance(data, list):
        return [_without_folders(v, base) for v in data]
    if not isinstance(data, str):
        return data
    if base is not None:
        data = data.replace(os.path.abspath(base) + os.sep, "")
    home = str(Path.home())
    return data.replace(home + os.sep, "~" + os.sep) if len(home) > 1 else data


def _relative(path: Path, base: str | Path | None) -> str:
    """``path`` relative to ``base`` (POSIX separators), or as given when that is impossible."""
    if base is None:
        return path.as_posix()
    try:
        return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base))).as_posix()
    except ValueError:  # another drive (Windows)
        return path.as_posix()


def _relative_paths(data: Any, base: str | Path | None) -> Any:
    if isinstance(data, dict):
        return {k: _relative_paths(v, base) for k, v in data.items()}
    if isinstance(data, list):
        return [_relative_paths(v, base) for v in data]
    if isinstance(data, str) and os.path.isabs(data):
        return _relative(Path(data), base)
    return data


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    """Write JSON (UTF-8, indented, Chinese kept readable) atomically."""
    return write_text(path, json.dumps(data, ensure_ascii=False, indent=2, default=str))
