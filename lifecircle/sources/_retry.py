"""Private helpers of the online sources: bounded retries of one web request, failures named.

osmnx retries a rate-limited (HTTP 429) or overloaded (504) Overpass or Nominatim server
forever, 55 s apart and silently. lifecircle's requests go through :func:`with_retries` instead:
at most a set number of retries within a set total time, each wait told to the user, and every
failure raised as a :class:`~lifecircle.errors.NetworkError` that says what went wrong (rate
limited, overloaded, server error, wrong address, unreadable answer, no answer in time).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from ..errors import NetworkError

#: HTTP statuses after which a request is tried again (rate limit, gateway trouble).
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_logger = logging.getLogger("lifecircle")


def log_progress(message: str) -> None:
    """Default receiver of wait messages: the ``lifecircle`` logger."""
    _logger.warning(message)


@contextlib.contextmanager
def replaced(module: Any, name: str, replacement: Callable[..., Any]) -> Iterator[None]:
    """Inside the block ``module.name`` is ``replacement`` (an osmnx request function); restored
    afterwards, also on errors."""
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


@dataclass
class Outcome:
    """One request: the answer, or a failure text and whether (and when) to try again."""

    answer: Any = None
    failure: str | None = None
    retry: bool = False
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryLimits:
    """How often and how long one request may be tried.

    Attributes
    ----------
    max_retries : int
        Retries after the first try.
    retry_wait_s : float
        Wait before retry n is n times this, unless the server says (Retry-After).
    max_total_s : float
        Longest time for all tries and waits together.
    settings_names : str
        The settings that hold these limits, for the message.
    """

    max_retries: int
    retry_wait_s: float
    max_total_s: float
    settings_names: str


def with_retries(
    attempt: Callable[[float], Outcome],
    limits: RetryLimits,
    progress: Callable[[str], None],
    what_to_do: str,
) -> Any:
    """Call ``attempt(deadline)`` until it answers, within ``limits``.

    Parameters
    ----------
    attempt : callable
        Makes one request, given the :func:`time.monotonic` deadline of all tries.
    limits : RetryLimits
        How often and how long.
    progress : callable
        Told about every wait (one line of text).
    what_to_do : str
        The advice that ends every failure message.

    Returns
    -------
    object
        The first answer.

    Raises
    ------
    NetworkError
        With the last failure, and how often it was tried when more than once.
    """
    deadline = time.monotonic() + limits.max_total_s
    for number in range(1, limits.max_retries + 2):
        outcome = attempt(deadline)
        if outcome.failure is None:
            return outcome.answer
        if not outcome.retry:
            raise NetworkError(f"{outcome.failure}. {what_to_do}")
        wait = outcome.retry_after or limits.retry_wait_s * number
        if number > limits.max_retries or time.monotonic() + wait > deadline:
            raise NetworkError(
                f"{outcome.failure}, still after {number} tries within "
                f"{limits.max_total_s:g} s ({limits.settings_names}). {what_to_do}"
            )
        progress(
            f"{outcome.failure}: waiting {wait:.0f} s before retry {number} of {limits.max_retries}"
        )
        time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def request_timeout(seconds: float, deadline: float) -> float:
    """Seconds one request may wait: its own timeout, cut to what is left of the deadline."""
    return max(1.0, min(seconds, deadline - time.monotonic()))


def connection_failure(exc: requests.RequestException, service: str, timeout: float) -> Outcome:
    """A request that got no answer: timed out or failed to connect (both tried again)."""
    if isinstance(exc, requests.Timeout):
        return Outcome(failure=f"{service} did not answer within {timeout:g} s", retry=True)
    return Outcome(failure=f"the connection to {service} failed ({exc})", retry=True)


def status_failure(response: requests.Response, service: str, not_found: str) -> Outcome | None:
    """The failure an HTTP status means, or None for a success.

    Parameters
    ----------
    response : requests.Response
        The answer.
    service : str
        E.g. ``"Overpass at overpass-api.de"``.
    not_found : str
        What an HTTP 404 means, with what to check; ``{status}`` is replaced by the status.
    """
    status = f"HTTP {response.status_code} {response.reason or ''}".strip()
    code = response.status_code
    if code in RETRY_STATUSES:
        what = "is rate limiting this computer" if code == 429 else "is overloaded"
        return Outcome(
            failure=f"{service} {what} ({status})", retry=True, retry_after=_retry_after(response)
        )
    if code == 404:
        return Outcome(failure=not_found.replace("{status}", status))
    if code >= 500:
        return Outcome(failure=f"{service} answered with a server error ({status})")
    if code >= 400:
        return Outcome(failure=f"{service} refused the request ({status}: {begin(response.text)})")
    return None


def _retry_after(response: requests.Response) -> float | None:
    """The server's Retry-After (seconds), when it gives one."""
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def begin(text: str, length: int = 60) -> str:
    """The start of an answer's text, on one line, for messages."""
    flat = " ".join(text.split())
    return flat[:length] + ("…" if len(flat) > length else "")
