"""Read point and polygon layers from files (CSV, Excel, GeoJSON, GeoPackage, Shapefile, Parquet).

Every layer comes out as a GeoDataFrame in WGS84 (EPSG:4326) with a ``name`` column and all the
file's other attribute columns. Tables get point geometries from their longitude/latitude
columns; Chinese map coordinates (GCJ-02, BD-09) are undone by :mod:`lifecircle.crs`.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..crs import to_wgs84
from ..errors import DataError, InputFileError, LifecircleWarning
from . import _text

#: File suffixes read_layer understands.
SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".csv",
    ".xlsx",
    ".xls",
    ".geojson",
    ".json",
    ".gpkg",
    ".shp",
    ".parquet",
)

# Column names recognised as longitude / latitude, compared case-insensitively.
_LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "wgs84_lon", "wgs84_lng")
_LAT_NAMES = ("lat", "latitude", "y", "纬度", "wgs84_lat")
# Tokens recognised inside longer names such as ``lng_bd09`` or ``经度(GCJ02)``.
_LON_TOKENS = ("lon", "lng", "longitude", "经度")
_LAT_TOKENS = ("lat", "latitude", "纬度")



def read_layer(
    path: Path | str,
    *,
    crs: str = "wgs84",
    x: str | None = None,
    y: str | None = None,
    layer: str | None = None,
    sheet: str | int | None = None,
    where: Mapping[str, Any] | None = None,
    name_field: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a point or polygon layer from a file into WGS84.

    Parameters
    ----------
    path : Path or str
        The file; its suffix picks the reader (see ``SUPPORTED_SUFFIXES``).
    crs : str
        The coordinate system of the file's coordinates (``wgs84``, ``gcj02``, ``bd09``,
        ``cgcs2000`` or an EPSG code; see :func:`lifecircle.crs.canonical_crs`).
    x, y : str, optional
        Longitude and latitude columns of a table. When not given they are detected among
        common names (lon/lng/longitude/x/经度, lat/latitude/y/纬度).
    layer : str, optional
        Layer of a multi-layer file (GeoPackage).
    sheet : str or int, optional
        Worksheet of an Excel file (name or 0-based position; default the first).
    where : mapping, optional
        Row filter ``{column: value or [values]}``; values are compared as text.
    name_field : str, optional
        Column copied into ``name``. When None an existing ``name`` or ``名称`` column is used,
        else ``name`` is empty text.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, with ``name``, the file's other attribute columns and ``geometry``.

    Raises
    ------
    DataError
        When the file is missing, of an unsupported type, unreadable, empty (also after
        ``where``), or lacks the named columns.
    CRSError
        When the coordinates do not fit the declared coordinate system.

    Warns
    -----
    LifecircleWarning
        When rows without usable coordinates or geometry are dropped (with their count).
    """
    path = Path(path)
    frame = read_rows(path, layer=layer, sheet=sheet, where=where)
    return layer_from_rows(frame, path, crs=crs, x=x, y=y, name_field=name_field)


def read_rows(
    path: Path | str,
    *,
    layer: str | None = None,
    sheet: str | int | None = None,
    where: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The rows of a layer file (first step of :func:`read_layer`), filtered by ``where``.

    Raises
    ------
    DataError
        When the file is missing, of an unsupported type, unreadable or empty.
    """
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise InputFileError(
            f"layer file {path} {problem} (relative paths in a profile resolve against "
            "the profile's folder)"
        )
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise DataError(
            f"{path}: unsupported file type {suffix or '(no suffix)'!r}; supported: "
            f"{', '.join(SUPPORTED_SUFFIXES)}"
        )
    frame = reader(path, layer, sheet)
    if len(frame) == 0:
        raise DataError(f"{path} has no rows: the layer is empty")
    return _filter_rows(frame, where, path) if where else frame


def layer_from_rows(
    frame: pd.DataFrame,
    path: Path,
    *,
    crs: str = "wgs84",
    x: str | None = None,
    y: str | None = None,
    name_field: str | None = None,
) -> gpd.GeoDataFrame:
    """Rows read from ``path`` as a WGS84 layer (second step of :func:`read_layer`)."""
    gdf, source = _with_geometry(frame, x, y, path)
    gdf = _with_name(gdf, name_field, path)
    return to_wgs84(gdf, crs, source=source)


# --- readers ------------------------------------------------------------------------------


def _read_csv(path: Path, layer: str | None, sheet: str | int | None) -> pd.DataFrame:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    text, encoding = _decoded(raw, path)
    try:
        return pd.read_csv(io.StringIO(text))
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty: the layer has no rows") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"cannot read {path} as CSV ({encoding}): {exc}") from None


def _decoded(raw: bytes, path: Path) -> tuple[str, str]:
    """The text of a CSV file: UTF-8 (with or without BOM), else GBK/GB18030 if it reads as Chinese."""
    try:
        return raw.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        raise DataError(
            f"cannot read {path}: it is neither UTF-8 nor GBK/GB18030 text ({utf8_error}); "
            "save it as UTF-8 CSV"
        ) from None
    guess = _text.implausible_gbk(raw, text)
    if guess is not None:
        sample = next((line for line in text.splitlines() if any(ord(c) > 127 for c in line)), "")
        raise DataError(
            f"cannot read {path}: it is not UTF-8, and read as GBK/GB18030 (Chinese Windows) its "
            f"text looks garbled ({sample[:40]!r}); it looks like {guess}. Save it as UTF-8 CSV "
            "(in Excel: Save As → CSV UTF-8)"
        )
    return text, "GBK/GB18030"


def _read_excel(path: Path, layer: str | None, sheet: str | int | None) -> pd.DataFrame:
    engine = "openpyxl" if path.suffix.lower() == ".xlsx" else None
    try:
        book = pd.ExcelFile(path, engine=engine)
    except ImportError as exc:
        raise DataError(
            f"cannot read {path}: old .xls files need the 'xlrd' package ({exc}); save the "
            "workbook as .xlsx instead"
        ) from None
    except Exception as exc:  # zipfile.BadZipFile, openpyxl errors...: not a workbook
        raise DataError(f"cannot read {path} as an Excel workbook: {exc}") from None
    with book:
        sheets = [str(s) for s in book.sheet_names]
        if sheet is None:
            sheet = 0
        known = 0 <= sheet < len(sheets) if isinstance(sheet, int) else sheet in sheets
        if not known:
            raise DataError(f"{path} has no sheet {sheet!r}; its sheets are: {', '.join(sheets)}")
        try:
            return pd.read_excel(book, sheet_name=sheet)
        except Exception as exc:
            raise DataError(f"cannot read sheet {sheet!r} of {path}: {exc}") from None


def _read_vector(path: Path, layer: str | None, sheet: str | int | None) -> gpd.GeoDataFrame:
    import pyogrio

    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as exc:
        raise DataError(f"cannot read {path}: {exc}; is it a valid {path.suffix} file?") from None
    if layer is None and len(layers) > 1:
        raise DataError(
            f"{path} holds several layers ({', '.join(layers)}): name one with 'layer:'"
        )
    if layer is not None and layer not in layers:
        raise DataError(f"{path} has no layer {layer!r}; its layers are: {', '.join(layers)}")
    try:
        return gpd.read_file(path, layer=layer)
    except Exception as exc:
        raise DataError(f"cannot read {path}: {exc}; is it a valid {path.suffix} file?") from None


def _read_parquet(path: Path, layer: str | None, sheet: str | int | None) -> pd.DataFrame:
    try:
        return gpd.read_parquet(path)
    except ValueError as exc:
        # A plain (non-Geo) Parquet table: read it as a table with coordinate columns.
        if "geo" not in str(exc).lower():
            raise DataError(f"cannot read {path} as Parquet: {exc}") from None
    except Exception as exc:
        raise DataError(f"cannot read {path} as Parquet: {exc}") from None
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"cannot read {path} as Parquet: {exc}") from None


_READERS: dict[str, Callable[[Path, str | None, str | int | None], pd.DataFrame]] = {
    ".csv": _read_csv,
    ".xlsx": _read_excel,
    ".xls": _read_excel,
    ".geojson": _read_vector,
    ".json": _read_vector,
    ".gpkg": _read_vector,
    ".shp": _read_vector,
    ".parquet": _read_parquet,
}


# --- rows, geometry, names ----------------------------------------------------------------


def _filter_rows(frame: pd.DataFrame, where: Mapping[str, Any], path: Path) -> pd.DataFrame:
    """Keep rows whose columns equal the given values (compared as text)."""
    mask = np.ones(len(frame), dtype=bool)
    for column, wanted in where.items():
        if column not in frame.columns:
            raise DataError(
                f"{path.name}: 'where' names column {column!r}, which the file does not have; "
                f"its columns are: {_columns(frame)}"
            )
        values = [wanted] if isinstance(wanted, str) or not isinstance(wanted, Sequence) else wanted
        wanted_text = {_as_text(v) for v in values}
        this = frame[column].map(_as_text).isin(wanted_text).to_numpy()
        if not (mask & this).any():
            present = frame.loc[mask, column].dropna().map(_as_text)
            examples = ", ".join(repr(v) for v in present.value_counts().index[:8])
            raise DataError(
                f"{path.name}: no row has {column} = {' or '.join(map(repr, sorted(wanted_text)))} "
                f"(after the other 'where' conditions); some values present: {examples or 'none'}"
            )
        mask &= this
    return frame.loc[mask]


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _with_geometry(
    frame: pd.DataFrame, x: str | None, y: str | None, path: Path
) -> tuple[gpd.GeoDataFrame, str]:
    """Return a GeoDataFrame (CRS as in the file, or none) and a description for messages."""
    has_geometry = (
        isinstance(frame, gpd.GeoDataFrame)
        and frame._geometry_column_name in frame.columns
        and frame.geometry.notna().any()
    )
    if has_geometry and x is None and y is None:
        gdf = frame
        usable = gdf.geometry.notna().to_numpy() & ~gdf.geometry.is_empty.to_numpy()
        _warn_dropped(int((~usable).sum()), len(gdf), path, "have no geometry")
        if not usable.any():
            raise DataError(f"{path}: no row has a geometry: the layer is empty")
        if gdf.geometry.name != "geometry":
            gdf = gdf.rename_geometry("geometry")
        return gdf.loc[usable].copy(), path.name

    table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    x = _coordinate_column(table, x, _LON_NAMES, _LON_TOKENS, "longitude", "x", path)
    y = _coordinate_column(table, y, _LAT_NAMES, _LAT_TOKENS, "latitude", "y", path)
    lon = pd.to_numeric(table[x], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(table[y], errors="coerce").to_numpy(dtype=float)
    usable = np.isfinite(lon) & np.isfinite(lat)
    _warn_dropped(int((~usable).sum()), len(table), path, "have missing or non-numeric coordinates")
    if not usable.any():
        raise DataError(
            f"{path}: no row has numeric coordinates in columns x={x!r}, y={y!r}: check the "
            "column names"
        )
    table = table.loc[usable]
    gdf = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(lon[usable], lat[usable]), crs=None)
    return gdf, f"{path.name} (x={x!r}, y={y!r})"


def _coordinate_column(
    table: pd.DataFrame,
    given: str | None,
    names: tuple[str, ...],
    tokens: tuple[str, ...],
    what: str,
    key: str,
    path: Path,
) -> str:
    if given is not None:
        if given not in table.columns:
            raise DataError(
                f"{path.name}: the {what} column {given!r} ({key}:) does not exist; its columns "
                f"are: {_columns(table)}"
            )
        return given
    exact = _candidate_columns(table, names, tokens)
    if len(exact) == 1:
        return exact[0]
    if not exact:
        raise DataError(
            f"{path.name}: cannot find a {what} column (looked for {', '.join(names)}); its "
            f"columns are: {_columns(table)}. Name it with '{key}:' in the profile"
        )
    raise DataError(
        f"{path.name}: several columns could hold the {what}: {', '.join(map(repr, exact))}; "
        f"choose one with '{key}:' in the profile"
    )


def _candidate_columns(
    table: pd.DataFrame, names: tuple[str, ...], tokens: tuple[str, ...]
) -> list[str]:
    """Columns named like a coordinate: exact names first, else names holding the word."""
    columns = [str(c) for c in table.columns]
    exact = [c for c in columns if c.strip().lower() in names]
    return exact or [c for c in columns if _has_token(c, tokens)]


def coordinate_columns(table: pd.DataFrame) -> tuple[str | None, str | None]:
    """The longitude and latitude columns of a table, found by name as :func:`read_layer` does.

    Returns
    -------
    (str or None, str or None)
        Each column, or None when no column or several columns could hold it.
    """
    lon = _candidate_columns(table, _LON_NAMES, _LON_TOKENS)
    lat = _candidate_columns(table, _LAT_NAMES, _LAT_TOKENS)
    return (lon[0] if len(lon) == 1 else None), (lat[0] if len(lat) == 1 else None)


def read_attributes(
    path: Path | str, *, layer: str | None = None, sheet: str | int | None = None
) -> pd.DataFrame:
    """A layer file's rows as stored, before any coordinate work (to inspect its columns).

    Raises
    ------
    DataError
        When the file is missing or of an unsupported type.
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if not path.is_file() or reader is None:
        raise DataError(
            f"{path}: not a readable layer file (it must exist and be one of "
            f"{', '.join(SUPPORTED_SUFFIXES)})"
        )
    return reader(path, layer, sheet)


def _has_token(column: str, tokens: tuple[str, ...]) -> bool:
    lowered = column.strip().lower()
    parts = [p for p in re.split(r"[\s_\-\.()（）\[\]/]+", lowered) if p]
    if any(p in tokens for p in parts):
        return True
    # Chinese names are not separated by spaces: look for the word inside.
    return any(t in lowered for t in tokens if not t.isascii())


def _with_name(gdf: gpd.GeoDataFrame, name_field: str | None, path: Path) -> gpd.GeoDataFrame:
    gdf = gdf.copy()
    if name_field is not None:
        if name_field not in gdf.columns:
            raise DataError(
                f"{path.name}: the name column {name_field!r} (name_field:) does not exist; "
                f"its columns are: {_columns(gdf)}"
            )
        source = gdf[name_field]
    elif "name" in gdf.columns:
        source = gdf["name"]
    elif "名称" in gdf.columns:
        source = gdf["名称"]
    else:
        source = pd.Series("", index=gdf.index)
    gdf["name"] = source.map(lambda v: "" if pd.isna(v) else str(v)).astype(object)
    # name first, geometry last: easy to read in notebooks.
    ordered = ["name"] + [c for c in gdf.columns if c not in ("name", "geometry")] + ["geometry"]
    return gdf[ordered]


def _warn_dropped(count: int, total: int, path: Path, reason: str) -> None:
    if count:
        warnings.warn(
            f"{path.name}: {count} of {total} row(s) {reason} and were dropped",
            LifecircleWarning,
            stacklevel=4,
        )


def _columns(frame: pd.DataFrame) -> str:
    names = [str(c) for c in frame.columns if c != "geometry"]
    return ", ".join(names) if names else "(none)"


# --- duplicates ---------------------------------------------------------------------------


def exact_duplicates(layer: gpd.GeoDataFrame) -> np.ndarray:
    """Rows that repeat an earlier row's name and geometry exactly (True from the second on).

    Parameters
    ----------
    layer : geopandas.GeoDataFrame
        With ``name`` and ``geometry``.

    Returns
    -------
    numpy.ndarray of bool
    """
    if layer.empty:
        return np.zeros(0, dtype=bool)
    keys = pd.DataFrame(
        {
            "name": layer["name"].astype(str).to_numpy() if "name" in layer else "",
            "geometry": layer.geometry.to_wkb(hex=True).to_numpy(),
        }
    )
    return keys.duplicated(keep="first").to_numpy()


def read_spec(path: Path, spec: Any) -> gpd.GeoDataFrame:
    """:func:`read_layer` with a layer spec's ``crs``, ``x``/``y``, ``layer``, ``sheet``,
    ``where`` and ``name_field`` (a profile's layer source or a scenario's layer entry)."""
    return read_layer(
        path,
        crs=spec.crs,
        x=spec.x,
        y=spec.y,
        layer=spec.layer,
        sheet=spec.sheet,
        where=spec.where,
        name_field=spec.name_field,
    )
