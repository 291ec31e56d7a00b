"""Geocoding official lists of addresses, against a local stand-in for AMap and Baidu."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml
from pyproj import Transformer

import lifecircle as lc
from lifecircle import settings
from lifecircle.errors import DataError, LifecircleWarning, OfflineError
from lifecircle.sources.geocode import geocode_addresses, geocoded_layer

from ._fake_geocoder import KEY, FakeGeocoder
from ._handbuilt import lonlat, write_osm, write_points_csv

LIBRARY = "上海市长宁区天山路100号"
MUSEUM = "上海市长宁区愚园路200号"
NOWHERE = "上海市长宁区不存在路1号"
BOOK = {LIBRARY: lonlat(100, 20), MUSEUM: lonlat(600, -20)}
_TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)


def _metres_apart(a: tuple[float, float], b: tuple[float, float]) -> float:
    (xa, ya), (xb, yb) = _TO_UTM.transform(*a), _TO_UTM.transform(*b)
    return math.hypot(xa - xb, ya - yb)


@pytest.fixture
def geocoder(monkeypatch):
    server = FakeGeocoder(BOOK).start()
    monkeypatch.setattr(settings, "amap_geocode_url", server.amap_url)
    monkeypatch.setattr(settings, "baidu_geocode_url", server.baidu_url)
    monkeypatch.setattr(settings, "geocode_interval_s", 0.0)
    monkeypatch.delenv("LIFECIRCLE_AMAP_KEY", raising=False)
    monkeypatch.delenv("LIFECIRCLE_BAIDU_KEY", raising=False)
    yield server
    server.stop()


@pytest.fixture
def address_list(tmp_path):
    path = tmp_path / "official.csv"
    pd.DataFrame(
        {"机构名称": ["天山图书馆", "愚园博物馆", "无址文化站"], "地址": [LIBRARY, MUSEUM, NOWHERE]}
    ).to_csv(path, index=False, encoding="gb18030")  # Chinese Excel exports are GBK
    return path


def test_without_a_key_nothing_is_sent_and_the_message_says_what_to_set(geocoder, tmp_path):
    with pytest.raises(DataError, match="LIFECIRCLE_AMAP_KEY.*lbs.amap.com"):
        geocode_addresses([LIBRARY], "amap", cache_dir=tmp_path)
    with pytest.raises(DataError, match="LIFECIRCLE_BAIDU_KEY"):
        geocode_addresses([LIBRARY], "baidu", cache_dir=tmp_path)
    assert geocoder.requests == []


@pytest.mark.parametrize("service", ["amap", "baidu"])
def test_addresses_are_geocoded_converted_to_wgs84_and_cached(
    geocoder, address_list, tmp_path, monkeypatch, service
):
    monkeypatch.setenv(f"LIFECIRCLE_{service.upper()}_KEY", KEY)
    cache = tmp_path / "geocode"
    with pytest.warns(LifecircleWarning, match=f"no location for 1 of 3 addresses.*{NOWHERE}"):
        layer = geocoded_layer(
            address_list, service=service, address_field="地址", city="上海",
            name_field="机构名称", cache_dir=cache,
        )
    assert layer.crs.to_epsg() == 4326
    assert layer["name"].tolist() == ["天山图书馆", "愚园博物馆"]
    # GCJ-02 / BD-09 answers undone: back at the true WGS84 places, within the services'
    # precision (6 decimals of a degree, about 0.1 m).
    for (_, row), place in zip(layer.iterrows(), [BOOK[LIBRARY], BOOK[MUSEUM]], strict=True):
        assert _metres_apart((row.geometry.x, row.geometry.y), place) < 0.2
    # The raw answers are in the service's own system, hundreds of metres off.
    raw = (layer["geocode_lon"].iloc[0], layer["geocode_lat"].iloc[0])
    assert 100 < _metres_apart(raw, BOOK[LIBRARY]) < 1500
    asked = [r for r in geocoder.requests if r.get("city") == "上海"]
    assert len(asked) == 3 and len(geocoder.requests) == 3
    assert (cache / f"{service}.json").is_file()

    # Offline and without a key, the cache answers (not-found included): nothing is asked again.
    geocoder.stop()
    monkeypatch.delenv(f"LIFECIRCLE_{service.upper()}_KEY")
    with pytest.warns(LifecircleWarning, match="no location for 1 of 3"):
        again = geocoded_layer(
            address_list, service=service, address_field="地址", city="上海",
            name_field="机构名称", cache_dir=cache,
        )
    assert again.geometry.geom_equals(layer.geometry).all()


def test_a_refused_key_and_an_unreachable_service_are_explained(geocoder, tmp_path, monkeypatch):
    with pytest.raises(DataError, match="AMap geocoding refused the request: INVALID_USER_KEY"):
        geocode_addresses([LIBRARY], "amap", key="wrong", cache_dir=tmp_path)
    with pytest.raises(DataError, match="Baidu geocoding refused the request: status 5"):
        geocode_addresses([LIBRARY], "baidu", key="wrong", cache_dir=tmp_path)
    geocoder.stop()
    with pytest.raises(OfflineError, match="did not answer"):
        geocode_addresses([MUSEUM], "amap", key=KEY, cache_dir=tmp_path)


def test_a_missing_address_column_is_named(geocoder, address_list, monkeypatch):
    monkeypatch.setenv("LIFECIRCLE_AMAP_KEY", KEY)
    with pytest.raises(DataError, match="address column '住址'.*机构名称, 地址"):
        geocoded_layer(address_list, service="amap", address_field="住址")


def test_a_run_with_an_official_list_of_addresses(geocoder, address_list, tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECIRCLE_AMAP_KEY", KEY)
    monkeypatch.setattr(settings, "data_raw_folder", tmp_path / "raw")
    write_osm(tmp_path / "streets.osm", [[(float(x), 0.0) for x in range(0, 1001, 100)]])
    write_points_csv(tmp_path / "compounds.csv", [{"name": "A", "x": 300, "y": 10}])
    profile = {
        "name": "geocoded",
        "title": {"zh": "地址测试", "en": "Address test"},
        "study_area": {"bbox": [*lonlat(-100, -200), *lonlat(1100, 200)]},
        "network": {"source": "osm_file", "osm_file": "streets.osm"},
        "categories": {"culture": {
            "label": {"zh": "文化", "en": "Culture"}, "threshold_m": 1000, "threshold_source": "test",
            "source": {"file": "official.csv", "name_field": "机构名称", "label": "官方名录",
                       "geocode": {"service": "amap", "address_field": "地址", "city": "上海"}},
        }},
        "compounds": {"source": {"file": "compounds.csv"}},
    }
    path = tmp_path / "geocoded.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    result = lc.run(path, progress=False)
    a = result.compounds.iloc[0]
    # From (300, 10): 10 m to the street, 200 m along it, 20 m to the library at (100, 20).
    assert a["culture_nearest"] == "天山图书馆"
    assert a["culture_dist_m"] == pytest.approx(230.0, abs=0.2)
    assert result.facility_audit.iloc[0][["source", "entries", "facilities"]].tolist() == ["官方名录", 2, 2]
    assert (tmp_path / "raw" / "geocoded" / "geocode" / "amap.json").is_file()
    assert any("no location for 1 of 3" in note for note in result.notes)
