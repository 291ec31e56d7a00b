"""Private helpers of :mod:`lifecircle.osm`: osmnx settings, cache keys and atomic writes.

The online path downloads from Overpass once and then works offline from files in the
profile's cache folder. A cached file is only trusted together with its sidecar JSON, whose
hash must match the request (study polygon, and tags for features); files are written to a
temporary name in the same folder and moved into place with :func:`os.replace`, so an
interrupted run never leaves a half-written cache that looks valid.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
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
from ..errors import LifecircleWarning, NetworkError, OfflineError
from ._osm_common import useful_way_tags
from ._retry import (
    Outcome,
    RetryLimits,
    begin,
    connection_failure,
    log_progress,
    replaced,
    request_timeout,
    status_failure,
    with_retries,
)

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
    status = _status_code(url, seconds)
    return status is not None and status < 500


def _status_code(url: str, seconds: float) -> int | None:
    """HTTP status of ``GET url`` within ``seconds`` (in a thread: DNS cannot hang it), or None."""
    answered: list[int] = []

    def _probe() -> None:
        try:
            with requests.get(
                url,
                timeout=seconds,
                stream=True,
                headers={"User-Agent": "lifecircle (reachability check)"},
            ) as response:
                answered.append(response.status_code)
        except Exception:  # any failure means "not reachable"
            pass

    thread = threading.Thread(target=_probe, name="lifecircle-probe", daemon=True)
    thread.start()
    thread.join(max(seconds, 0.0))
    return answered[0] if answered else None


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


def read_cache(path: Path, reader: Any, what: str) -> tuple[Any | None, str | None]:
    """Read a cached download.

    Returns
    -------
    tuple
        ``(content, None)``; ``(None, None)`` when there is no cache; ``(None, problem)`` when
        the cache is broken (then it is downloaded again, with a warning naming the problem).
    """
    if not path.is_file():
        return None, None
    try:
        return reader(path), None
    except Exception as exc:  # a broken cache is downloaded again, never trusted
        problem = f"the cached {what} {path} is unreadable ({type(exc).__name__}: {exc})"
        warnings.warn(f"{problem}; downloading it again.", LifecircleWarning, stacklevel=3)
        return None, problem


def require_overpass(url: str, what: str, cache_problem: str | None = None) -> None:
    """Raise within the reachability timeout when the Overpass API at ``url`` cannot serve.

    Parameters
    ----------
    url : str
        Overpass API base URL.
    what : str
        What is to be downloaded, for the message.
    cache_problem : str, optional
        Why the cached copy could not be used (a damaged cache), told when offline.

    Raises
    ------
    OfflineError
        When the endpoint does not answer at all.
    NetworkError
        When it answers ``/status`` with a server error.
    """
    status = _status_code(f"{url.rstrip('/')}/status", settings.reachability_timeout_s)
    if status is not None and status < 500:
        return
    if status is not None:
        raise NetworkError(
            f"Cannot download {what}: the Overpass API at {url} answers with a server error "
            f"(HTTP {status}). Retry later, use another Overpass server "
            "(set LIFECIRCLE_OVERPASS_URL) or a local extract "
            "(`--osm-file F`)."
        )
    if cache_problem:
        raise OfflineError(
            f"Cannot use the cache of {what}: {cache_problem}. The Overpass API at {url} did not "
            f"answer either (waited {settings.reachability_timeout_s:g} s), so the cache cannot "
            "be rebuilt now: delete the damaged file and run again when online to download it "
            "afresh, or supply a local OpenStreetMap file with `--osm-file F`."
        )
    raise OfflineError(
        f"Cannot download {what}: the OpenStreetMap (Overpass) server {url} did not answer "
        f"within {settings.reachability_timeout_s:g} s: it is unreachable from this computer "
        "(no internet access, or a proxy or firewall blocks it), and nothing usable is "
        "cached for this study area. To work offline, give a local OpenStreetMap extract "
        "covering the study area: add `--osm-file extract.osm.pbf` (.osm, .osm.bz2 or "
        ".osm.pbf), or set `network: {source: osm_file, osm_file: extract.osm.pbf}` in the "
        "profile and give each layer as a file (`source: {file: ...}`). Or set "
        "LIFECIRCLE_OVERPASS_URL to an Overpass server you can reach."
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


# --- bounded Overpass requests ----------------------------------------------------------------


@contextlib.contextmanager
def bounded_overpass_requests(
    progress: Callable[[str], None] | None = None, *, max_retries: int | None = None
) -> Iterator[None]:
    """Inside the block, osmnx's Overpass requests are bounded, named and reported.

    osmnx retries HTTP 429/504 forever (55 s apart, silently), may pause a minute on an
    unreadable ``/status`` and reports a garbled answer as "no data". Inside this block every
    Overpass request of osmnx goes through :func:`overpass_request`: at most
    ``settings.overpass_max_retries`` retries within ``settings.overpass_max_total_s`` seconds,
    each wait reported through ``progress``, and every failure raised as a
    :class:`NetworkError` that names it (rate limited, server error, unreadable answer...).

    Parameters
    ----------
    progress : callable, optional
        Receives one line of text per wait (e.g. the CLI's progress display); default: the
        ``lifecircle`` logger.
    max_retries : int, optional
        Instead of ``settings.overpass_max_retries`` (0 when the service did not answer a probe:
        fail at once).
    """
    from osmnx import _overpass as osmnx_overpass

    bounded = functools.partial(
        overpass_request, progress=progress or log_progress, max_retries=max_retries
    )
    with replaced(osmnx_overpass, "_overpass_request", bounded):
        yield


def overpass_request(
    data: Mapping[str, Any],
    *,
    progress: Callable[[str], None] = log_progress,
    max_retries: int | None = None,
) -> dict[str, Any]:
    """POST one Overpass query with bounded retries; the answer comes from osmnx's cache if there.

    Parameters
    ----------
    data : mapping
        The form data (``{"data": query}``), as osmnx builds it.
    progress : callable
        Told about every wait.
    max_retries : int, optional
        Instead of ``settings.overpass_max_retries``.

    Returns
    -------
    dict
        The Overpass JSON answer (saved to the osmnx HTTP cache, atomically).

    Raises
    ------
    NetworkError
        Naming the failure: rate limited, server error, not an Overpass endpoint, query refused,
        unreadable answer, no answer in time.
    """
    from osmnx import _http

    base = ox.settings.overpass_url.rstrip("/")
    url = f"{base}/interpreter"
    key = str(requests.Request("GET", url, params=dict(data)).prepare().url)
    cache_path = _http._resolve_cache_filepath(key) if ox.settings.use_cache else None
    if cache_path is not None:
        cached, _ = read_cache(cache_path, _read_json_dict, "Overpass answer")
        if cached is not None:
            return cached
    limits = RetryLimits(
        settings.overpass_max_retries if max_retries is None else max_retries,
        settings.overpass_retry_wait_s,
        settings.overpass_max_total_s,
        "settings.overpass_max_retries, overpass_max_total_s",
    )
    answer = with_retries(lambda deadline: _attempt(url, data, deadline), limits, progress, _WHAT_TO_DO)
    if cache_path is not None:
        write_text(cache_path, json.dumps(answer))
    return answer


_WHAT_TO_DO = (
    "Retry later, use another Overpass server (lifecircle.settings.overpass_url, env "
    "LIFECIRCLE_OVERPASS_URL), or supply a local OpenStreetMap extract with `--osm-file F`"
)


def _attempt(url: str, data: Mapping[str, Any], deadline: float) -> Outcome:
    from osmnx import _http

    service = f"Overpass at {url.split('/')[2] if '//' in url else url}"
    timeout = request_timeout(settings.requests_timeout_s, deadline)
    try:
        response = requests.post(
            url, data=data, timeout=timeout, headers=_http._get_http_headers(),
            **ox.settings.requests_kwargs,
        )
    except requests.RequestException as exc:
        return connection_failure(exc, service, timeout)
    not_found = (
        f"{url} is not an Overpass API endpoint ({{status}}): check "
        "lifecircle.settings.overpass_url (it ends in /api)"
    )
    failure = status_failure(response, service, not_found)
    if failure is not None:
        return failure
    answer = _answer(response, service)
    return Outcome(failure=answer) if isinstance(answer, str) else Outcome(answer)


def _answer(response: requests.Response, service: str) -> dict[str, Any] | str:
    try:
        answer = response.json()
    except ValueError:
        return f"{service} sent an unreadable answer (not JSON; it begins {begin(response.text)!r})"
    if not isinstance(answer, dict) or not isinstance(answer.get("elements"), list):
        return f"{service} sent an unreadable answer (JSON without 'elements')"
    remark = str(answer.get("remark") or "")
    if "error" in remark.lower():
        return f"{service} gave up on the query ({remark.strip()}): try a smaller study area"
    return answer


def _read_json_dict(path: Path) -> dict[str, Any]:
    content = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(content, dict):
        raise ValueError("not a JSON object")
    return content
