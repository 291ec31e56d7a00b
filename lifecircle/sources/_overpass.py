"""Private helpers of :mod:`lifecircle.osm`: osmnx settings, cache keys and atomic writes.

The online path downloads from Overpass once and then works offline from files in the
profile's cache folder. A cached file is only trusted together with its sidecar JSON, whose
hash must match the request (study polygon, and tags for features); files are written to a
temporary name in the same folder and moved into place with :func:`os.replace`, so an
interrupted run never leaves a half-written cache that looks valid.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from importlib.metadata import version as _package_version
from pathlib import Path
from typing import Any

import osmnx as ox
import requests
import shapely
from shapely.geometry.base import BaseGeometry

from .. import settings
from .._atomic import write_text
from ..errors import LifecircleWarning, OfflineError
from ._osm_common import useful_way_tags

_MISSING = object()


@contextlib.contextmanager
def osmnx_settings(**values: Any) -> Iterator[None]:
    """Set ``osmnx.settings`` attributes inside the block and restore them afterwards.

    Parameters
    ----------
    **values
        ``osmnx.settings`` attribute names and the values to use inside the block.

    Yields
    ------
    None
    """
    saved = {name: getattr(ox.settings, name, _MISSING) for name in values}
    try:
        for name, value in values.items():
            setattr(ox.settings, name, value)
        yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                delattr(ox.settings, name)
            else:
                setattr(ox.settings, name, value)


def geometry_hash(geometry: BaseGeometry) -> str:
    """Return a stable SHA-256 of a geometry (normalised WKT rounded to about 1 cm).

    Parameters
    ----------
    geometry : shapely geometry
        The study polygon, in WGS84.

    Returns
    -------
    str
        Hexadecimal digest; equal polygons (same vertices, any start vertex or ring
        orientation) give the same digest.
    """
    wkt = shapely.to_wkt(shapely.normalize(geometry), rounding_precision=7, trim=True)
    return hashlib.sha256(wkt.encode("utf-8")).hexdigest()


def request_hash(geometry: BaseGeometry, tags: Mapping[str, Any]) -> str:
    """Return a stable SHA-256 of a feature request (tags and polygon).

    Parameters
    ----------
    geometry : shapely geometry
        The query polygon, in WGS84.
    tags : mapping
        osmnx-style tag query, e.g. ``{"amenity": ["library", "theatre"]}``.

    Returns
    -------
    str
        Hexadecimal digest.
    """
    canonical = {
        key: sorted(value) if isinstance(value, list) else value for key, value in tags.items()
    }
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=True) + geometry_hash(geometry)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def osmnx_version() -> str:
    """Return the installed osmnx version (recorded in cache sidecars)."""
    return _package_version("osmnx")


def utc_now() -> str:
    """Return the current UTC time as ISO 8601 text, to the second."""
    return datetime.now(tz=UTC).replace(microsecond=0).isoformat()


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """Return a cache sidecar's JSON content, or None when missing or unreadable."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def write_sidecar(path: Path, content: Mapping[str, Any]) -> None:
    """Write a cache sidecar JSON atomically."""
    write_text(path, json.dumps(dict(content), ensure_ascii=False, indent=2, sort_keys=True))




def probe_service(url: str, timeout: float | None = None) -> bool:
    """Check quickly whether a web service answers at ``url``.

    Sends ``GET url`` in a background thread and waits at most ``timeout`` seconds, so that a
    slow DNS lookup or a silent firewall cannot make it hang.

    Parameters
    ----------
    url : str
        The address to try.
    timeout : float, optional
        Seconds to wait; default ``lifecircle.settings.reachability_timeout_s``.

    Returns
    -------
    bool
        True when the service answered with an HTTP status below 500 in time, False otherwise
        (no exception escapes).
    """
    seconds = settings.reachability_timeout_s if timeout is None else float(timeout)
    answered: list[bool] = []

    def _probe() -> None:
        try:
            with requests.get(
                url,
                timeout=seconds,
                stream=True,
                headers={"User-Agent": "lifecircle (reachability check)"},
            ) as response:
                answered.append(response.status_code < 500)
        except Exception:  # any failure means "not reachable"
            answered.append(False)

    thread = threading.Thread(target=_probe, name="lifecircle-probe", daemon=True)
    thread.start()
    thread.join(max(seconds, 0.0))
    return bool(answered and answered[0])


def probe_overpass(url: str | None = None, timeout: float | None = None) -> bool:
    """Check quickly whether an Overpass API endpoint answers (``GET {url}/status``).

    Parameters
    ----------
    url : str, optional
        Overpass API base URL (without ``/status``); default
        ``lifecircle.settings.overpass_url``.
    timeout : float, optional
        Seconds to wait; default ``lifecircle.settings.reachability_timeout_s``.

    Returns
    -------
    bool
        See :func:`probe_service`.
    """
    base = (url or settings.overpass_url).rstrip("/")
    return probe_service(f"{base}/status", timeout)


def read_cache(path: Path, reader: Any, what: str) -> Any | None:
    """Read a cached download, or None when it is missing or broken (then it is fetched again)."""
    if not path.is_file():
        return None
    try:
        return reader(path)
    except Exception as exc:  # a broken cache is downloaded again, never trusted
        warnings.warn(
            f"Cached {what} {path} is unreadable ({exc}); downloading it again.",
            LifecircleWarning,
            stacklevel=3,
        )
        return None


def require_overpass(url: str, what: str) -> None:
    """Raise OfflineError within the reachability timeout when ``url`` does not answer."""
    if probe_overpass(url):
        return
    raise OfflineError(
        f"Cannot download {what}: the Overpass API at {url} did not answer (waited at most "
        f"{settings.reachability_timeout_s:g} s), so the network is unreachable (offline, "
        "proxy or firewall), and nothing usable is cached for this study area. Supply a "
        "local OpenStreetMap file instead: run with `--osm-file F` (F = an .osm, .osm.bz2 "
        "or .osm.pbf extract covering the study area) or set "
        "`network: {source: osm_file, osm_file: path/to/extract.osm.pbf}` in the profile "
        "(layers: `source: {file: ...}`). Or point lifecircle.settings.overpass_url "
        "(env LIFECIRCLE_OVERPASS_URL) at a reachable Overpass server."
    )


def overpass_settings(url: str, cache_dir: Path | None) -> Any:
    """osmnx settings for one online request, restored when the block ends."""
    return osmnx_settings(
        overpass_url=url.rstrip("/"),
        cache_folder=str(cache_dir / "http") if cache_dir is not None else ox.settings.cache_folder,
        use_cache=cache_dir is not None,
        requests_timeout=settings.requests_timeout_s,
        log_console=False,
        log_file=False,
        useful_tags_way=useful_way_tags(),
    )
