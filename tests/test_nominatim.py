"""Place names geocoded through Nominatim: bounded retries, named failures, never a hang.

Against the local stand-in in tests/_fake_nominatim.py (127.0.0.1), never the internet. osmnx
alone retries a rate-limited Nominatim forever, 55 s apart; lifecircle gives up within
``settings.nominatim_max_total_s`` with a NetworkError that names the failure.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import osmnx as ox
import pytest
from shapely.geometry import box

import lifecircle as lc
from lifecircle.profile import Profile
from lifecircle.sources import areas

from ._fake_nominatim import FakeNominatim
from .test_areas import _profile as area_profile

PLACE = "Changning District, Shanghai"
OUTLINE = box(121.36, 31.19, 121.44, 31.23)


def _profile(tmp_path: Path, place: str = PLACE) -> Profile:
    return area_profile(tmp_path, study_area={"place": place})


@pytest.fixture
def nominatim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(lc.settings, "nominatim_max_retries", 2)
    monkeypatch.setattr(lc.settings, "nominatim_retry_wait_s", 0.05)
    monkeypatch.setattr(lc.settings, "nominatim_max_total_s", 20)
    monkeypatch.setattr(lc.settings, "nominatim_interval_s", 0.0)
    monkeypatch.setattr(lc.settings, "requests_timeout_s", 1.0)
    monkeypatch.setattr(ox.settings, "cache_folder", str(tmp_path / "osmnx-cache"))
    server = FakeNominatim({PLACE: OUTLINE}).start()
    server.slow_s = 1.5
    monkeypatch.setattr(lc.settings, "nominatim_url", server.url)
    yield server
    server.stop()


def test_place_is_geocoded_through_the_bounded_request(nominatim, tmp_path, caplog):
    nominatim.fail_next(429)  # rate limited once, then answered
    with caplog.at_level(logging.WARNING, logger="lifecircle"):
        area = areas.study_area_polygon(_profile(tmp_path))
    assert area.geometry.iloc[0].equals(OUTLINE)
    assert nominatim.searches == [PLACE, PLACE]
    waits = [r.getMessage() for r in caplog.records if "before retry" in r.getMessage()]
    host = nominatim.url.split("/")[2]
    assert waits == [
        f"the Nominatim geocoder at {host} is rate limiting this computer "
        "(HTTP 429 Too Many Requests): waiting 0 s before retry 1 of 2"
    ]
    # The answer is cached by osmnx: the next run does not ask again.
    areas.study_area_polygon(_profile(tmp_path))
    assert len(nominatim.searches) == 2


@pytest.mark.parametrize(
    ("faults", "named", "searches"),
    [
        ((429, 429, 429), "is rate limiting this computer (HTTP 429", 3),
        ((503, 503, 503), "is overloaded (HTTP 503", 3),
        ((500,), "answered with a server error (HTTP 500", 1),
        ((404,), "is not a Nominatim endpoint (HTTP 404", 1),
        ((403,), "refused the request (HTTP 403", 1),
        (("garbage",), "sent an unreadable answer (not JSON; it begins '<html>", 1),
        (("slow", "slow", "slow"), "did not answer within 1 s", 3),
    ],
)
def test_nominatim_failures_are_named_and_bounded(nominatim, tmp_path, faults, named, searches):
    nominatim.fail_next(*faults)
    started = time.monotonic()
    with pytest.raises(lc.NetworkError) as info:
        areas.study_area_polygon(_profile(tmp_path))
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert not isinstance(info.value, lc.OfflineError)  # it answered: not "offline"
    assert message.startswith(f"cannot look up the place {PLACE!r}: ")
    assert named in message and "study_area.district" in message
    assert len(nominatim.searches) == searches
    if searches > 1:
        assert f"still after {searches} tries within 20 s" in message


def test_a_rate_limit_that_lasts_ends_within_the_total_time(nominatim, tmp_path, monkeypatch):
    # The next wait (30 s) would pass the 2 s allowed in all: give up now, not after the wait.
    monkeypatch.setattr(lc.settings, "nominatim_retry_wait_s", 30.0)
    monkeypatch.setattr(lc.settings, "nominatim_max_total_s", 2)
    nominatim.fail_next(429, 429, 429)
    started = time.monotonic()
    with pytest.raises(lc.NetworkError, match="still after 1 tries within 2 s") as info:
        areas.study_area_polygon(_profile(tmp_path))
    assert time.monotonic() - started < 2
    assert "settings.nominatim_max_retries, nominatim_max_total_s" in str(info.value)
    assert nominatim.searches == [PLACE]


def test_osmnx_nominatim_request_is_restored_after_the_lookup(nominatim, tmp_path):
    from osmnx import _nominatim

    before = _nominatim._nominatim_request
    nominatim.fail_next(500)
    with pytest.raises(lc.NetworkError):
        areas.study_area_polygon(_profile(tmp_path))
    assert _nominatim._nominatim_request is before
