"""Zonal population sums on small hand-built GeoTIFFs with known values."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from lifecircle.errors import CRSError, DataError, LifecircleWarning
from lifecircle.sources.raster import zonal_population

UTM = "EPSG:32651"
# Upper-left corner of the rasters (UTM 51N metres, central Shanghai); cells are 100 m.
X0, Y0, CELL = 350_000.0, 3_457_000.0, 100.0


def write_tif(path, values, *, crs=UTM, nodata=None):
    """A one-band GeoTIFF with row 0 at the top, north up, ``CELL`` m cells from (X0, Y0)."""
    values = np.asarray(values)
    profile = {
        "driver": "GTiff",
        "height": values.shape[0],
        "width": values.shape[1],
        "count": 1,
        "dtype": values.dtype,
        "transform": from_origin(X0, Y0, CELL, CELL),
        "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    return path


def cells(col0, row0, col1, row1):
    """Box (UTM) covering whole cells col0..col1-1, row0..row1-1."""
    return box(X0 + col0 * CELL, Y0 - row1 * CELL, X0 + col1 * CELL, Y0 - row0 * CELL)


def zones(*geoms, crs=UTM, names=None):
    names = names or [f"z{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"name": names}, geometry=list(geoms), crs=crs)


@pytest.fixture
def fives(tmp_path):
    return write_tif(tmp_path / "fives.tif", np.full((10, 10), 5.0, dtype="float32"))


def test_zone_of_four_cells_sums_them(fives):
    result = zonal_population(fives, zones(cells(2, 3, 4, 5)))
    assert result.name == "population"
    assert result.iloc[0] == pytest.approx(20.0)


def test_sums_follow_cell_values(tmp_path):
    values = np.arange(100, dtype="int32").reshape(10, 10)
    path = write_tif(tmp_path / "ramp.tif", values)
    frame = zones(cells(0, 0, 10, 10), cells(1, 2, 4, 3), cells(7, 6, 9, 9))
    result = zonal_population(path, frame)
    assert result.tolist() == pytest.approx(
        [values.sum(), values[2:3, 1:4].sum(), values[6:9, 7:9].sum()]
    )


def test_cells_count_by_their_centre(fives):
    # From 60 m to 240 m across: only the centre at 150 m lies inside, in x and in y.
    inner = box(X0 + 60, Y0 - 240, X0 + 240, Y0 - 60)
    # Two neighbours sharing an edge: every cell is counted once, by one of them.
    west, east = cells(0, 0, 3, 10), cells(3, 0, 10, 10)
    result = zonal_population(fives, zones(inner, west, east))
    assert result.tolist() == pytest.approx([5.0, 150.0, 350.0])
    assert result.iloc[1] + result.iloc[2] == pytest.approx(500.0)


def test_nodata_and_nan_cells_are_left_out(tmp_path):
    values = np.full((10, 10), 5.0, dtype="float32")
    values[3, 2] = -99999.0  # declared nodata
    values[4, 3] = np.nan  # not declared, but not a number either
    path = write_tif(tmp_path / "holes.tif", values, nodata=-99999.0)
    all_missing = cells(2, 3, 3, 4)
    result = zonal_population(path, zones(cells(2, 3, 4, 5), all_missing))
    assert result.iloc[0] == pytest.approx(10.0)
    assert result.iloc[1] == 0.0


def test_zones_in_wgs84_are_reprojected(fives):
    utm = zones(cells(2, 3, 4, 5), cells(5, 5, 8, 7))
    wgs84 = utm.to_crs("EPSG:4326")
    assert zonal_population(fives, wgs84).tolist() == pytest.approx([20.0, 30.0])
    # The index of the zones is kept.
    shuffled = wgs84.set_index(np.array([10, 3]))
    assert zonal_population(fives, shuffled).index.tolist() == [10, 3]


def test_raster_in_wgs84(tmp_path):
    # Same grid expressed in degrees: 0.001° cells, values 2; a zone in UTM picks the cells
    # whose centres it holds.
    values = np.full((20, 20), 2.0, dtype="float32")
    path = tmp_path / "deg.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=20, width=20, count=1, dtype="float32",
        crs="EPSG:4326", transform=from_origin(121.40, 31.22, 0.001, 0.001),
    ) as dst:
        dst.write(values, 1)
    zone = zones(box(121.4031, 31.2131, 121.4069, 31.2169), crs="EPSG:4326").to_crs(UTM)
    # Centres at .4035/.4045/.4055/.4065 in x and .2135/.../.2165 in y: 4 x 4 cells.
    assert zonal_population(path, zone).iloc[0] == pytest.approx(32.0, abs=1e-6)


def test_zone_partly_outside_warns_and_counts_the_inside(fives):
    half_out = box(X0 - 300, Y0 - 200, X0 + 200, Y0)  # 2 x 2 cells inside, the rest west of it
    with pytest.warns(LifecircleWarning, match="does not fully cover 1 area"):
        result = zonal_population(fives, zones(half_out, cells(1, 1, 2, 2)))
    assert result.tolist() == pytest.approx([20.0, 5.0])


def test_zone_wholly_outside_is_nan(fives):
    far = box(X0 + 5000, Y0, X0 + 5200, Y0 + 200)
    with pytest.warns(LifecircleWarning, match="far_zone"):
        result = zonal_population(fives, zones(cells(0, 0, 1, 1), far, names=["a", "far_zone"]))
    assert result.iloc[0] == pytest.approx(5.0)
    assert np.isnan(result.iloc[1])


def test_no_overlap_at_all_is_an_error(fives):
    far = box(X0 + 5000, Y0, X0 + 5200, Y0 + 200)
    with pytest.raises(DataError, match="does not overlap"), warnings.catch_warnings():
        warnings.simplefilter("ignore", LifecircleWarning)
        zonal_population(fives, zones(far))


def test_missing_and_unreadable_rasters_are_data_errors(tmp_path):
    frame = zones(cells(0, 0, 1, 1))
    with pytest.raises(DataError, match="does not exist"):
        zonal_population(tmp_path / "nope.tif", frame)
    junk = tmp_path / "junk.tif"
    junk.write_text("not a raster", encoding="utf-8")
    with pytest.raises(DataError, match="cannot be read"):
        zonal_population(junk, frame)


def test_missing_coordinate_systems_are_crs_errors(tmp_path, fives):
    bare = write_tif(tmp_path / "bare.tif", np.ones((3, 3), dtype="float32"), crs=None)
    with pytest.raises(CRSError, match="no coordinate system"):
        zonal_population(bare, zones(cells(0, 0, 1, 1)))
    with pytest.raises(CRSError, match="no coordinate system"):
        zonal_population(fives, gpd.GeoDataFrame(geometry=[cells(0, 0, 1, 1)]))
