"""Coordinate systems: names, GCJ-02/BD-09 inverses against published pairs and an independent
implementation, geometry conversion, and the guards against wrong declarations."""

from __future__ import annotations

import math

import fast_geocn.coord as fgc
import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from lifecircle.crs import (
    canonical_crs,
    looks_like_china,
    to_wgs84,
    utm_crs_for,
    xy_to_wgs84,
)
from lifecircle.errors import CRSError, LifecircleWarning

GEOD = pyproj.Geod(ellps="WGS84")

# Shanghai box used for random points (lon, lat).
SHANGHAI = ((121.0, 121.9), (30.7, 31.5))


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres between arrays of points."""
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def _random_shanghai(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(*SHANGHAI[0], n), rng.uniform(*SHANGHAI[1], n)


_X_PI = math.pi * 3000.0 / 180.0


def _gcj_to_bd_textbook(lon: float, lat: float) -> tuple[float, float]:
    """The published GCJ-02 → BD-09 formula (x_pi = π·3000/180), written here independently of
    prcoords (as in eviltransform's gcj2bd and wandergis/coordTransform_py)."""
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("wgs84", "EPSG:4326"),
        ("WGS-84", "EPSG:4326"),
        ("WGS 84", "EPSG:4326"),
        ("4326", "EPSG:4326"),
        ("epsg:4326", "EPSG:4326"),
        ("cgcs2000", "EPSG:4490"),
        ("CGCS-2000", "EPSG:4490"),
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("mars", "gcj02"),
        ("高德", "gcj02"),
        ("bd09", "bd09"),
        ("BD-09", "bd09"),
        ("baidu", "bd09"),
        ("百度", "bd09"),
        ("EPSG:32651", "EPSG:32651"),
        ("epsg:4547", "EPSG:4547"),
        (" 32651 ", "EPSG:32651"),
    ],
)
def test_canonical_crs_accepts_names_and_codes(declared: str, expected: str) -> None:
    assert canonical_crs(declared) == expected


def test_canonical_crs_result_is_readable_by_pyproj() -> None:
    name = canonical_crs("+proj=utm +zone=51 +datum=WGS84 +units=m")
    assert pyproj.CRS(name).equals(pyproj.CRS("EPSG:32651"))


@pytest.mark.parametrize("declared", ["wgs48", "gcj03", "EPSG:999999", ""])
def test_unknown_crs_error_lists_accepted_names(declared: str) -> None:
    with pytest.raises(CRSError) as info:
        canonical_crs(declared)
    message = str(info.value)
    for accepted in ("wgs84", "gcj02", "bd09", "cgcs2000", "EPSG:"):
        assert accepted in message


def test_baidu_mercator_is_refused_with_advice() -> None:
    with pytest.raises(CRSError, match="bd09 longitude/latitude"):
        canonical_crs("bd09mc")


# --- published coordinate pairs -------------------------------------------------------------

# (wgs_lon, wgs_lat, gcj_lon, gcj_lat, max error in metres, source)
GCJ_PAIRS = [
    # googollee/eviltransform python/test.py, TESTS (wgsLat, wgsLng, gcjLat, gcjLng): Shanghai,
    # Shenzhen, Beijing.
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597, 0.05, "eviltransform SH"),
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766, 0.05, "eviltransform SZ"),
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069, 0.05, "eviltransform BJ"),
    # Glatzel/pyxis crates/geotool-cli/tests/test_crypto.rs (WGS84_LON/LAT, GCJ02_LON/LAT),
    # a point in Jinshan, Shanghai.
    (121.0917077, 30.6107779, 121.09626935575027, 30.608604331756705, 0.05, "pyxis"),
    # hujiulong/gcoord test/unit/crs/GCJ02.spec.ts: GCJ02 [123, 45] -> WGS84, asserted there to
    # 5 decimals (their inverse stops earlier than prcoords': allow 0.2 m).
    (122.99395597, 44.99804071, 123.0, 45.0, 0.2, "gcoord GCJ02.spec"),
    # hujiulong/gcoord test/fixtures/china-cities.json (map-API values rounded to 7 decimals;
    # they agree with the formula within about 0.7 m): 驻马店, 沈阳, 泰州, 金华.
    (114.0164322, 33.0133556, 114.022306, 33.0115324, 1.0, "gcoord cities 驻马店"),
    (123.4253306, 41.8032629, 123.4314787, 41.8057023, 1.0, "gcoord cities 沈阳"),
    (119.9183831, 32.4580023, 119.9231242, 32.4557802, 1.0, "gcoord cities 泰州"),
    (119.6427465, 29.0820414, 119.6474509, 29.0790641, 1.0, "gcoord cities 金华"),
]

# (wgs_lon, wgs_lat, bd_lon, bd_lat, max error in metres, source)
BD_PAIRS = [
    # Glatzel/pyxis crates/geotool-cli/tests/test_crypto.rs (WGS84_* and BD09_*).
    (121.0917077, 30.6107779, 121.10271732371203, 30.61484572185035, 0.05, "pyxis"),
    # hujiulong/gcoord test/unit/crs/BD09.spec.ts: BD09 [123, 45] -> WGS84 (5 decimals there).
    (122.98762210, 44.99171540, 123.0, 45.0, 0.2, "gcoord BD09.spec"),
    # hujiulong/gcoord test/fixtures/china-cities.json: 驻马店, 沈阳, 泰州, 金华.
    (114.0164322, 33.0133556, 114.0287781, 33.0176697, 1.0, "gcoord cities 驻马店"),
    (123.4253306, 41.8032629, 123.438095, 41.8114013, 1.0, "gcoord cities 沈阳"),
    (119.9183831, 32.4580023, 119.9296902, 32.4615531, 1.0, "gcoord cities 泰州"),
    (119.6427465, 29.0820414, 119.6538875, 29.0854003, 1.0, "gcoord cities 金华"),
]


@pytest.mark.parametrize(
    ("wgs_lon", "wgs_lat", "lon", "lat", "tolerance", "source"), GCJ_PAIRS, ids=lambda v: str(v)
)
def test_gcj02_to_wgs84_matches_published_pairs(wgs_lon, wgs_lat, lon, lat, tolerance, source):
    out_lon, out_lat = xy_to_wgs84([lon], [lat], "gcj02")
    error = _metres(out_lon, out_lat, [wgs_lon], [wgs_lat])[0]
    assert error < tolerance, f"{source}: {error:.3f} m"
    # The offset itself is hundreds of metres: the test would fail without a conversion.
    assert _metres([lon], [lat], [wgs_lon], [wgs_lat])[0] > 100


@pytest.mark.parametrize(
    ("wgs_lon", "wgs_lat", "lon", "lat", "tolerance", "source"), BD_PAIRS, ids=lambda v: str(v)
)
def test_bd09_to_wgs84_matches_published_pairs(wgs_lon, wgs_lat, lon, lat, tolerance, source):
    out_lon, out_lat = xy_to_wgs84([lon], [lat], "bd09")
    error = _metres(out_lon, out_lat, [wgs_lon], [wgs_lat])[0]
    assert error < tolerance, f"{source}: {error:.3f} m"
    assert _metres([lon], [lat], [wgs_lon], [wgs_lat])[0] > 500


# --- independent implementation and round trips ---------------------------------------------


def test_gcj02_agrees_with_fast_geocn_on_1000_shanghai_points() -> None:
    lon, lat = _random_shanghai(1000, seed=1)
    ours_lon, ours_lat = xy_to_wgs84(lon, lat, "gcj02")
    theirs = np.array([fgc.gcj02_to_wgs84(x, y) for x, y in zip(lon, lat, strict=True)])
    gap = _metres(ours_lon, ours_lat, theirs[:, 0], theirs[:, 1])
    assert gap.max() < 1.0


def test_bd09_inverse_checked_with_independent_forward_formula() -> None:
    # fast-geocn's own BD-09 functions use sin(y·π) instead of sin(y·π·3000/180) and are tens of
    # metres off the published pairs, so BD-09 is checked with its forward formula instead:
    # fast-geocn's WGS→GCJ followed by the textbook GCJ→BD must give back the BD input.
    lon, lat = _random_shanghai(1000, seed=2)
    wgs_lon, wgs_lat = xy_to_wgs84(lon, lat, "bd09")
    back = np.array(
        [
            _gcj_to_bd_textbook(*fgc.wgs84_to_gcj02(x, y))
            for x, y in zip(wgs_lon, wgs_lat, strict=True)
        ]
    )
    assert _metres(back[:, 0], back[:, 1], lon, lat).max() < 0.05


def test_round_trips_are_below_a_centimetre() -> None:
    lon, lat = _random_shanghai(500, seed=3)
    gcj = np.array([fgc.wgs84_to_gcj02(x, y) for x, y in zip(lon, lat, strict=True)])
    bd = np.array([_gcj_to_bd_textbook(x, y) for x, y in gcj])
    for shifted, name in ((gcj, "gcj02"), (bd, "bd09")):
        back_lon, back_lat = xy_to_wgs84(shifted[:, 0], shifted[:, 1], name)
        assert _metres(back_lon, back_lat, lon, lat).max() < 0.01, name


# --- geometries -----------------------------------------------------------------------------


def _gcj_shapes() -> gpd.GeoDataFrame:
    shell = [(121.40, 31.20), (121.44, 31.20), (121.44, 31.23), (121.40, 31.23)]
    hole = [(121.41, 31.21), (121.42, 31.21), (121.42, 31.22), (121.41, 31.22)]
    return gpd.GeoDataFrame(
        {"label": ["point", "line", "polygon", "multi"]},
        geometry=[
            Point(121.43, 31.22),
            LineString([(121.40, 31.20), (121.45, 31.25), (121.50, 31.21)]),
            Polygon(shell, [hole]),
            MultiPolygon(
                [
                    Polygon([(121.5, 31.1), (121.51, 31.1), (121.51, 31.11)]),
                    Polygon([(121.6, 31.1), (121.61, 31.1), (121.61, 31.11)]),
                ]
            ),
        ],
        index=[10, 11, 12, 13],
        crs="EPSG:4326",  # GCJ files usually carry a WGS84 label: the declaration wins.
    )


@pytest.mark.parametrize("declared", ["gcj02", "bd09"])
def test_every_vertex_of_every_geometry_type_is_converted(declared: str) -> None:
    shapes = _gcj_shapes()
    before = shapes.copy()
    out = to_wgs84(shapes, declared)

    # The caller's frame is untouched; index, columns and structure are kept.
    assert shapes.geom_equals(before).all()
    assert list(out.index) == [10, 11, 12, 13]
    assert list(out["label"]) == list(shapes["label"])
    assert out.crs.to_epsg() == 4326
    assert list(out.geom_type) == list(shapes.geom_type)
    assert len(out.geometry.iloc[2].interiors) == 1
    assert len(out.geometry.iloc[3].geoms) == 2

    # Each vertex equals the point conversion of the same vertex.
    coords = shapely.get_coordinates(shapes.geometry.values)
    expected_lon, expected_lat = xy_to_wgs84(coords[:, 0], coords[:, 1], declared)
    got = shapely.get_coordinates(out.geometry.values)
    np.testing.assert_allclose(got[:, 0], expected_lon, atol=1e-12)
    np.testing.assert_allclose(got[:, 1], expected_lat, atol=1e-12)
    shift = _metres(coords[:, 0], coords[:, 1], got[:, 0], got[:, 1])
    assert (shift > 300).all()


def test_gcj_declaration_accepts_unlabelled_and_cgcs_labelled_files() -> None:
    labelled = to_wgs84(_gcj_shapes(), "gcj02")
    for crs in (None, "EPSG:4490"):
        other = _gcj_shapes().set_crs(crs, allow_override=True)
        assert to_wgs84(other, "gcj02").geom_equals_exact(labelled, tolerance=1e-12).all()


def test_gcj_declaration_contradicted_by_projected_file_crs() -> None:
    shapes = _gcj_shapes().to_crs("EPSG:32651")
    with pytest.raises(CRSError, match="EPSG:32651"):
        to_wgs84(shapes, "gcj02")


def test_projected_and_cgcs_layers_use_pyproj() -> None:
    utm = gpd.GeoDataFrame(geometry=[Point(350000, 3450000)], crs=None)
    out = to_wgs84(utm, "EPSG:32651")
    lon, lat = pyproj.Transformer.from_crs(32651, 4326, always_xy=True).transform(350000, 3450000)
    assert out.geometry.iloc[0].x == pytest.approx(lon, abs=1e-9)
    assert out.geometry.iloc[0].y == pytest.approx(lat, abs=1e-9)
    # A CGCS2000 label on data declared wgs84 (or the reverse) is accepted: same to centimetres.
    cgcs = gpd.GeoDataFrame(geometry=[Point(121.4, 31.2)], crs="EPSG:4490")
    assert to_wgs84(cgcs, "wgs84").geometry.iloc[0].distance(Point(121.4, 31.2)) < 1e-6


def test_declared_epsg_contradicted_by_file_crs() -> None:
    utm = gpd.GeoDataFrame(geometry=[Point(350000, 3450000)], crs="EPSG:32651")
    with pytest.raises(CRSError, match="EPSG:32651"):
        to_wgs84(utm, "wgs84")


def test_points_outside_china_are_left_alone_with_a_warning() -> None:
    paris = gpd.GeoDataFrame(geometry=[Point(2.35, 48.85), Point(121.4, 31.2)], crs=None)
    with pytest.warns(LifecircleWarning, match="1 coordinate"):
        out = to_wgs84(paris, "gcj02")
    assert out.geometry.iloc[0].equals(Point(2.35, 48.85))
    assert not out.geometry.iloc[1].equals(Point(121.4, 31.2))


# --- real data ------------------------------------------------------------------------------


def _iou(a, b) -> float:
    return a.intersection(b).area / a.union(b).area


@pytest.mark.realdata
def test_changning_gcj_boundary_moves_onto_the_cgcs2000_polygon(shared_data) -> None:
    gcj = gpd.read_file(shared_data / "changning_boundary_gcj02.geojson")
    districts = gpd.read_file(shared_data / "shanghai_districts_cgcs2000.geojson")
    reference = districts[districts["name"] == "长宁区"].to_crs("EPSG:32651").union_all()

    as_shipped = gcj.set_crs("EPSG:4326", allow_override=True).to_crs("EPSG:32651").union_all()
    converted = to_wgs84(gcj, "gcj02").to_crs("EPSG:32651").union_all()

    assert 0.74 < _iou(as_shipped, reference) < 0.80  # README: 0.77
    assert _iou(converted, reference) > 0.91  # README: 0.93
    dx = converted.centroid.x - as_shipped.centroid.x
    dy = converted.centroid.y - as_shipped.centroid.y
    assert 420 < math.hypot(dx, dy) < 560  # README: about 490 m
    bearing = math.degrees(math.atan2(dx, dy)) % 360
    assert 270 < bearing < 315  # west-north-west


# --- guards ---------------------------------------------------------------------------------


def test_swapped_shanghai_columns_are_caught() -> None:
    swapped = gpd.GeoDataFrame(geometry=[Point(31.23, 121.47), Point(31.20, 121.44)], crs=None)
    for declared in ("wgs84", "gcj02", "bd09"):
        with pytest.raises(CRSError, match="swapped"):
            to_wgs84(swapped, declared, source="pois.csv (x='lat', y='lon')")


def test_swapped_columns_within_valid_ranges_are_caught() -> None:
    # Ürümqi (87.6 E, 43.8 N) swapped is a valid lon/lat pair, but in the Indian Ocean.
    with pytest.raises(CRSError, match="swapped"):
        xy_to_wgs84([43.8, 43.9], [87.6, 87.5], "wgs84")


def test_projected_metres_declared_as_degrees() -> None:
    with pytest.raises(CRSError, match="projected metres"):
        xy_to_wgs84([350000.0], [3450000.0], "wgs84")


def test_correct_shanghai_data_passes_the_guard() -> None:
    lon, lat = _random_shanghai(50, seed=4)
    out_lon, out_lat = xy_to_wgs84(lon, lat, "wgs84")
    np.testing.assert_allclose(out_lon, lon)
    np.testing.assert_allclose(out_lat, lat)


def test_looks_like_china() -> None:
    result = looks_like_china([121.47, 2.35, 31.2, 87.6], [31.23, 48.85, 121.47, 43.8])
    assert result.dtype == bool
    assert result.tolist() == [True, False, False, True]


# --- UTM ------------------------------------------------------------------------------------


def test_utm_crs_for_shanghai_and_the_south() -> None:
    assert utm_crs_for(121.47, 31.23) == "EPSG:32651"
    assert utm_crs_for(151.2, -33.9) == "EPSG:32756"
    assert utm_crs_for(180.0, 10.0) == "EPSG:32660"


def test_utm_crs_for_puts_points_within_their_zone() -> None:
    # Independent check with pyproj: the zone's central meridian lies within 3° of the point and
    # the southern zones carry the 10,000 km false northing.
    rng = np.random.default_rng(5)
    for lon, lat in zip(rng.uniform(-180, 180, 200), rng.uniform(-80, 84, 200), strict=True):
        crs = pyproj.CRS(utm_crs_for(lon, lat))
        params = {p.name: p.value for p in crs.coordinate_operation.params}
        central = params["Longitude of natural origin"]
        assert abs((lon - central + 180) % 360 - 180) <= 3 + 1e-9
        assert params["False northing"] == (0 if lat >= 0 else 10_000_000)
