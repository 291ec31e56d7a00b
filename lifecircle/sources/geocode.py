"""Geocode official facility lists given as addresses (AMap or Baidu geocoding REST APIs).

Official registers (e.g. a district's list of elderly-care institutions) are often a spreadsheet
of names and addresses. With a user-supplied key, each address is sent once to AMap (高德) or
Baidu (百度); the answers come back in GCJ-02 (AMap) or BD-09 (Baidu) and are converted to WGS84
by :mod:`lifecircle.crs`. Every answer is cached on disk (``data/raw/<profile>/geocode/``), so a
list is geocoded once and later runs work offline.

Keys are read from the environment, never from a profile: ``LIFECIRCLE_AMAP_KEY`` (an AMap
"Web服务" key, https://lbs.amap.com) or ``LIFECIRCLE_BAIDU_KEY`` (a Baidu "服务端" AK,
https://lbsyun.baidu.com).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import requests

from .. import settings
from .._atomic import write_text
from ..errors import DataError, LifecircleWarning, OfflineError
from . import tables

#: Columns holding the geocoded coordinates (in the service's system) in a geocoded layer.
LON, LAT = "geocode_lon", "geocode_lat"


@dataclass(frozen=True)
class Service:
    """A geocoding service: its coordinate system, key variable and endpoint setting."""

    name: str
    crs: str
    key_variable: str
    url_setting: str
    signup: str


SERVICES: dict[str, Service] = {
    "amap": Service("AMap (高德)", "gcj02", "LIFECIRCLE_AMAP_KEY", "amap_geocode_url",
                    "an AMap Web Service (Web服务) key from https://lbs.amap.com"),
    "baidu": Service("Baidu (百度)", "bd09", "LIFECIRCLE_BAIDU_KEY", "baidu_geocode_url",
                     "a Baidu server AK (服务端) from https://lbsyun.baidu.com"),
}


def geocode_addresses(
    addresses: Sequence[str],
    service: str,
    *,
    city: str | None = None,
    cache_dir: str | Path | None = None,
    key: str | None = None,
) -> pd.DataFrame:
    """Coordinates of addresses from AMap or Baidu, in the service's own system.

    Parameters
    ----------
    addresses : sequence of str
        The addresses (duplicates are looked up once).
    service : {"amap", "baidu"}
        The geocoding service.
    city : str, optional
        Restricts the search to a city (e.g. ``上海``).
    cache_dir : str or Path, optional
        Folder of the answer cache (``<service>.json``); None caches nothing.
    key : str, optional
        The service key; default from ``LIFECIRCLE_AMAP_KEY`` / ``LIFECIRCLE_BAIDU_KEY``.

    Returns
    -------
    pandas.DataFrame
        Indexed by address: ``lon``, ``lat`` (GCJ-02 for AMap, BD-09 for Baidu; NaN when the
        service found nothing) and ``match`` (the service's description of the match, or why
        nothing was found).

    Raises
    ------
    DataError
        When an address is not cached and no key is set, or the service refuses the key.
    OfflineError
        When the service cannot be reached.
    """
    spec = SERVICES[service]
    wanted = list(dict.fromkeys(str(a).strip() for a in addresses if str(a).strip()))
    cache_path = Path(cache_dir) / f"{service}.json" if cache_dir is not None else None
    cache = _read_cache(cache_path)
    missing = [a for a in wanted if _cache_key(a, city) not in cache]
    if missing:
        key = key or os.environ.get(spec.key_variable)
        if not key:
            raise DataError(
                f"{len(missing):,} address(es) need geocoding with {spec.name} (e.g. "
                f"{missing[0]!r}) but no key is set: set the environment variable "
                f"{spec.key_variable} to {spec.signup}, or give the list's coordinates (x/y) "
                "instead of 'geocode'"
            )
        _fetch(missing, spec, service, city, key, cache, cache_path)
    rows = [cache[_cache_key(a, city)] for a in wanted]
    frame = pd.DataFrame(rows, index=pd.Index(wanted, name="address"), columns=["lon", "lat", "match"])
    return frame.astype({"lon": float, "lat": float})


def _cache_key(address: str, city: str | None) -> str:
    return f"{city or ''}|{address}"


def _read_cache(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        warnings.warn(f"the geocoding cache {path} is unreadable: it is ignored and rebuilt",
                      LifecircleWarning, stacklevel=3)
        return {}


def _fetch(
    addresses: list[str],
    spec: Service,
    service: str,
    city: str | None,
    key: str,
    cache: dict[str, Any],
    cache_path: Path | None,
) -> None:
    """Ask the service for each address, saving the cache after every answer."""
    url = getattr(settings, spec.url_setting)
    ask = _ask_amap if service == "amap" else _ask_baidu
    with requests.Session() as session:
        for number, address in enumerate(addresses):
            if number:
                time.sleep(settings.geocode_interval_s)
            try:
                cache[_cache_key(address, city)] = ask(session, url, address, city, key)
            finally:
                if cache_path is not None:
                    write_text(cache_path, json.dumps(cache, ensure_ascii=False, indent=0))


def _get(session: requests.Session, url: str, params: dict[str, str], name: str) -> dict[str, Any]:
    try:
        response = session.get(url, params=params, timeout=settings.geocode_timeout_s)
        response.raise_for_status()
        return response.json()
    except requests.RequestException as exc:
        raise OfflineError(
            f"{name} geocoding at {url} did not answer ({exc}); retry later (answers so far are "
            "cached)"
        ) from exc
    except ValueError as exc:
        raise DataError(f"{name} geocoding at {url} sent an unreadable answer ({exc})") from exc


def _ask_amap(session: requests.Session, url: str, address: str, city: str | None, key: str) -> list:
    params = {"key": key, "address": address, "output": "JSON"}
    if city:
        params["city"] = city
    answer = _get(session, url, params, "AMap")
    if str(answer.get("status")) != "1":
        raise DataError(
            f"AMap geocoding refused the request: {answer.get('info', 'no reason given')} "
            f"(infocode {answer.get('infocode', '?')}); check LIFECIRCLE_AMAP_KEY and its quota"
        )
    found = answer.get("geocodes") or []
    if not found:
        return [None, None, "not found (AMap)"]
    lon, lat = (float(v) for v in str(found[0]["location"]).split(","))
    return [lon, lat, f"AMap level: {found[0].get('level', '')}"]


def _ask_baidu(session: requests.Session, url: str, address: str, city: str | None, key: str) -> list:
    params = {"ak": key, "address": address, "output": "json", "ret_coordtype": "bd09ll"}
    if city:
        params["city"] = city
    answer = _get(session, url, params, "Baidu")
    status = int(answer.get("status", -1))
    message = str(answer.get("msg") or answer.get("message") or "")
    if status == 1 and "无相关结果" in message:
        return [None, None, "not found (Baidu)"]
    if status != 0:
        raise DataError(
            f"Baidu geocoding refused the request: status {status} {message}; check "
            "LIFECIRCLE_BAIDU_KEY and its quota"
        )
    result = answer["result"]
    location = result["location"]
    return [float(location["lng"]), float(location["lat"]),
            f"Baidu level: {result.get('level', '')}, confidence {result.get('confidence', '')}"]


def geocoded_layer(
    path: Path,
    *,
    service: str,
    address_field: str,
    city: str | None = None,
    name_field: str | None = None,
    layer: str | None = None,
    sheet: str | int | None = None,
    where: dict[str, Any] | None = None,
    cache_dir: str | Path | None = None,
) -> gpd.GeoDataFrame:
    """A list of addresses as a WGS84 point layer, geocoded (and cached).

    Parameters
    ----------
    path : Path
        The list (any table format :func:`lifecircle.sources.tables.read_layer` reads).
    service : {"amap", "baidu"}
        The geocoding service.
    address_field : str
        The column holding the addresses.
    city : str, optional
        Restricts the search to a city.
    name_field, layer, sheet, where
        As in :func:`lifecircle.sources.tables.read_layer`.
    cache_dir : str or Path, optional
        Folder of the answer cache.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 with ``name``, the list's columns, ``geocode_lon``/``geocode_lat`` (in the
        service's system) and ``geocode_match``.

    Warns
    -----
    LifecircleWarning
        Naming the addresses the service could not find (those rows are left out).
    """
    rows = tables.read_rows(path, layer=layer, sheet=sheet, where=where)
    if address_field not in rows.columns:
        raise DataError(
            f"{path.name}: the address column {address_field!r} (geocode.address_field) does not "
            f"exist; its columns are: {', '.join(map(str, rows.columns))}"
        )
    addresses = rows[address_field].map(lambda v: "" if pd.isna(v) else str(v).strip())
    found = geocode_addresses(addresses, service, city=city, cache_dir=cache_dir)
    located = found.reindex(addresses)
    rows = rows.assign(**{LON: located["lon"].to_numpy(), LAT: located["lat"].to_numpy(),
                          "geocode_match": located["match"].to_numpy()})
    lost = rows[LON].isna().to_numpy()
    if lost.any():
        examples = "; ".join(addresses[lost].head(5))
        warnings.warn(
            f"{path.name}: {service} found no location for {int(lost.sum()):,} of {len(rows):,} "
            f"addresses (e.g. {examples}); those entries are left out: correct the addresses or "
            "add coordinates",
            LifecircleWarning,
            stacklevel=2,
        )
        rows = rows[~lost]
    if rows.empty:
        raise DataError(f"{path.name}: no address could be geocoded")
    return tables.layer_from_rows(rows, path, crs=SERVICES[service].crs, x=LON, y=LAT, name_field=name_field)
