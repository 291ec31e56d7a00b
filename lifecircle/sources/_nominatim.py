"""Private helpers of :mod:`lifecircle.sources.areas`: bounded Nominatim (place-name) requests.

osmnx sends place names to Nominatim and, when it answers HTTP 429 (rate limited) or 504,
waits 55 s and asks again, forever and silently: a blocked computer hangs. Inside
:func:`bounded_nominatim_requests` every Nominatim request of osmnx goes through
:func:`nominatim_request` instead: one request per ``settings.nominatim_interval_s`` (the usage
policy), at most ``settings.nominatim_max_retries`` retries within
``settings.nominatim_max_total_s`` seconds, each wait told, every failure a named
:class:`~lifecircle.errors.NetworkError`.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import osmnx as ox
import requests

from .. import settings
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

WHAT_TO_DO = (
    "Retry later, or point lifecircle.settings.nominatim_url (env LIFECIRCLE_NOMINATIM_URL) at "
    "another Nominatim server"
)
_last_request = {"at": -float("inf")}
_pace = threading.Lock()


@contextlib.contextmanager
def bounded_nominatim_requests(
    progress: Callable[[str], None] | None = None, *, max_retries: int | None = None
) -> Iterator[None]:
    """Inside the block, osmnx's Nominatim requests are paced, bounded, named and reported.

    Parameters
    ----------
    progress : callable, optional
        Receives one line of text per wait; default: the ``lifecircle`` logger.
    max_retries : int, optional
        Instead of ``settings.nominatim_max_retries`` (0 when the service did not answer a
        probe: fail at once).
    """
    from osmnx import _nominatim as osmnx_nominatim

    bounded = functools.partial(
        nominatim_request, progress=progress or log_progress, max_retries=max_retries
    )
    with replaced(osmnx_nominatim, "_nominatim_request", bounded):
        yield


def nominatim_request(
    params: dict[str, Any],
    *,
    request_type: str = "search",
    progress: Callable[[str], None] = log_progress,
    max_retries: int | None = None,
) -> list[dict[str, Any]]:
    """GET one Nominatim request with bounded retries; the answer comes from osmnx's cache if there.

    Parameters
    ----------
    params : dict
        The query parameters, as osmnx builds them.
    request_type : {"search", "reverse", "lookup"}
        The Nominatim endpoint.
    progress : callable
        Told about every wait.
    max_retries : int, optional
        Instead of ``settings.nominatim_max_retries``.

    Returns
    -------
    list of dict
        Nominatim's results (saved to the osmnx HTTP cache).

    Raises
    ------
    NetworkError
        Naming the failure: rate limited, overloaded, server error, not a Nominatim endpoint,
        unreadable answer, no answer in time.
    """
    from osmnx import _http

    if ox.settings.nominatim_key is not None:
        params["key"] = ox.settings.nominatim_key
    url = ox.settings.nominatim_url.rstrip("/") + "/" + request_type
    prepared = str(requests.Request("GET", url, params=params).prepare().url)
    cached = _http._retrieve_from_cache(prepared)
    if isinstance(cached, list):
        return cached
    limits = RetryLimits(
        settings.nominatim_max_retries if max_retries is None else max_retries,
        settings.nominatim_retry_wait_s,
        settings.nominatim_max_total_s,
        "settings.nominatim_max_retries, nominatim_max_total_s",
    )
    answer = with_retries(
        lambda deadline: _attempt(url, params, deadline), limits, progress, WHAT_TO_DO
    )
    _http._save_to_cache(prepared, answer, True)
    return answer


def _attempt(url: str, params: dict[str, Any], deadline: float) -> Outcome:
    from osmnx import _http

    service = f"the Nominatim geocoder at {url.split('/')[2] if '//' in url else url}"
    _wait_turn()
    timeout = request_timeout(ox.settings.requests_timeout, deadline)
    try:
        response = requests.get(
            url,
            params=params,
            timeout=timeout,
            headers=_http._get_http_headers(),
            **ox.settings.requests_kwargs,
        )
    except requests.RequestException as exc:
        return connection_failure(exc, service, timeout)
    not_found = (
        f"{url} is not a Nominatim endpoint ({{status}}): check lifecircle.settings.nominatim_url"
    )
    failure = status_failure(response, service, not_found)
    if failure is not None:
        return failure
    try:
        answer = response.json()
    except ValueError:
        return Outcome(
            failure=f"{service} sent an unreadable answer (not JSON; it begins "
            f"{begin(response.text)!r})"
        )
    if not isinstance(answer, list):
        return Outcome(failure=f"{service} sent an unreadable answer (not a list of places)")
    return Outcome(answer)


def _wait_turn() -> None:
    """Keep ``settings.nominatim_interval_s`` between two requests (Nominatim's usage policy)."""
    with _pace:
        pause = _last_request["at"] + settings.nominatim_interval_s - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        _last_request["at"] = time.monotonic()
