"""lifecircle batch: pieces on a Dask LocalCluster give the same results as single-process runs
of each piece, and the merged coverage is the coverage of the merged compounds."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from lifecircle import batch, pipeline, settings
from lifecircle.analysis import coverage
from lifecircle.errors import CRSError, InputFileError, LifecircleWarning

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pieces_file(small_city, tmp_path_factory):
    """Four neighbouring sub-districts of the generated city, and one area with no compound."""
    profile, _ = small_city
    subs = gpd.read_file(profile.parent / "sub_districts.geojson")
    chosen = subs.iloc[[18, 19, 26, 27]][["name", "geometry"]]
    empty = gpd.GeoDataFrame(
        {"name": ["海上"]}, geometry=[shapely.box(122.5, 31.0, 122.6, 31.1)], crs=4326
    )
    path = tmp_path_factory.mktemp("batch") / "pieces.geojson"
    pd.concat([chosen, empty.to_crs(chosen.crs)]).to_file(path)
    return path


@pytest.fixture(scope="module")
def batch_run(small_city, pieces_file, tmp_path_factory):
    profile, _ = small_city
    out = tmp_path_factory.mktemp("batch_out")
    result = batch.run_batch(profile, pieces_file, out=out, workers=2)
    return result, out


def test_merged_batch_equals_single_process_runs_of_each_piece(small_city, batch_run, tmp_path):
    profile_path, _ = small_city
    result, _ = batch_run
    assert result.workers == 2
    profiles = batch.piece_profiles(
        pipeline.load_profile(profile_path), result.areas, tmp_path / "pieces"
    )
    singles = []
    for name, profile in profiles.items():
        piece = result.compounds[result.compounds[batch.AREA] == name].drop(columns=batch.AREA)
        try:
            single = pipeline.run(profile, progress=False)
        except Exception as exc:  # the empty area fails alone just as it was skipped
            assert name == "海上" and "lies inside the study area" in str(exc)
            continue
        compounds = single.compounds.to_crs(settings.exchange_crs)
        assert len(compounds) > 0
        pd.testing.assert_frame_equal(
            piece.reset_index(drop=True), compounds.reset_index(drop=True), check_like=False
        )
        singles.append(compounds.assign(**{batch.AREA: name}))
    assert len(singles) == 4
    expected = coverage.coverage_table(
        pd.concat(singles, ignore_index=True), list(result.profile.categories), by=batch.AREA
    )
    pd.testing.assert_frame_equal(result.coverage, expected)


def test_pieces_without_compounds_are_skipped_and_said_so(batch_run):
    result, _ = batch_run
    skipped = {p.name: p.skipped for p in result.pieces if p.skipped}
    assert list(skipped) == ["海上"]
    assert "inside the study area" in skipped["海上"]
    assert set(result.compounds[batch.AREA]) == {p.name for p in result.pieces} - {"海上"}


def test_batch_writes_merged_tables_pieces_and_an_overview_map(batch_run):
    result, out = batch_run
    written = batch.write_batch(result, out)
    assert {p.name for p in written} >= {"compounds.parquet", "coverage.csv", "pieces.csv"}
    overview = next(p for p in written if p.name.endswith("_overview.html"))
    assert overview.stat().st_size > 10_000
    pieces = pd.read_csv(out / "merged" / "pieces.csv")
    assert len(pieces) == 5
    ran = pieces[pieces["skipped"].isna()]
    for folder in ran["folder"]:  # each piece keeps its own files and map
        assert (out / "pieces" / folder.split("/")[-1] / "compounds.parquet").is_file()
        assert any((out / "pieces" / folder.split("/")[-1]).glob("*.html"))
    merged = gpd.read_parquet(out / "merged" / "compounds.parquet")
    assert len(merged) == len(result.compounds)


def test_bad_batch_areas_are_clear_errors(small_city, tmp_path):
    profile_path, _ = small_city
    profile = pipeline.load_profile(profile_path)
    twice = gpd.GeoDataFrame(
        {"name": ["a", "a"]}, geometry=[shapely.box(0, 0, 1, 1)] * 2, crs=4326
    )
    twice.to_file(tmp_path / "twice.geojson")
    with pytest.raises(batch.DataError, match="repeated: a"):
        batch.batch_areas(profile, tmp_path / "twice.geojson")
    with pytest.raises(batch.DataError, match="no column 'district'"):
        batch.batch_areas(profile, tmp_path / "twice.geojson", name_field="district")
    shanghai = batch.batch_areas(profile, "districts")
    assert len(shanghai) == 16 and "黄浦区" in set(shanghai["name"])


# The test writes an area file without a coordinate system on purpose; pyogrio says so.
@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
def test_batch_area_files_are_read_and_checked_like_layers(small_city, tmp_path):
    # Before: a missing file, or one in metres without a CRS, ended in a raw traceback
    # (DataSourceError, GEOSException), and an empty file was said to lack a 'name' column.
    profile = pipeline.load_profile(small_city[0])
    with pytest.raises(InputFileError, match="does not exist"):
        batch.batch_areas(profile, tmp_path / "gone.geojson")
    # a mistyped keyword is not taken for a file of the profile: the keywords are listed
    with pytest.raises(InputFileError, match="--areas district: .*'districts', 'districts:<city>'"):
        batch.batch_areas(profile, "district")
    areas = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(121.40, 31.20, 121.41, 31.21)],
                             crs=4326)
    areas.to_crs(32651).set_crs(None, allow_override=True).to_file(tmp_path / "metres.geojson")
    with pytest.raises(CRSError, match="projected metres"):
        batch.batch_areas(profile, tmp_path / "metres.geojson")
    areas.iloc[:0].to_file(tmp_path / "empty.geojson")
    with pytest.raises(batch.DataError, match="empty"):
        batch.batch_areas(profile, tmp_path / "empty.geojson")
    areas.to_crs(32651).to_file(tmp_path / "utm.gpkg")  # a file's own CRS is used
    read = batch.batch_areas(profile, tmp_path / "utm.gpkg")
    assert read.geometry.iloc[0].equals_exact(areas.geometry.iloc[0], 1e-7)


def test_overlapping_areas_count_shared_compounds_once_in_the_whole_batch(batch_run):
    # Before: a compound in two overlapping areas was counted twice in the (all) rows.
    result, _ = batch_run
    ran = [p for p in result.pieces if not p.skipped]
    first = ran[0]
    copy = batch.Piece(name="copy", compounds=first.compounds.assign(**{batch.AREA: "copy"}),
                       facilities=first.facilities)
    with pytest.warns(LifecircleWarning, match=f"{len(first.compounds)} compounds .*copy"):
        merged = batch.merge_pieces(result.profile, result.areas, [*ran, copy])
    whole = merged.coverage[merged.coverage[batch.AREA] == coverage.ALL_AREAS]
    before = result.coverage[result.coverage[batch.AREA] == coverage.ALL_AREAS]
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), before.reset_index(drop=True))
    per_copy = merged.coverage[merged.coverage[batch.AREA] == "copy"].drop(columns=batch.AREA)
    per_first = result.coverage[result.coverage[batch.AREA] == first.name].drop(columns=batch.AREA)
    pd.testing.assert_frame_equal(per_copy.reset_index(drop=True), per_first.reset_index(drop=True))


def test_a_piece_warns_through_its_notes_not_on_the_workers_terminal(small_city, pieces_file,
                                                                    tmp_path, capfd):
    # Before: each Dask worker printed its piece's warnings as they came, interleaved between
    # pieces and naming no area; now they come back in the piece's notes, printed under its name.
    profile = pipeline.load_profile(small_city[0])
    areas = batch.batch_areas(profile, pieces_file)
    profiles = batch.piece_profiles(profile, areas, tmp_path)
    name = areas["name"].iloc[0]
    streets = batch._shared_streets(profile, areas)
    capfd.readouterr()
    # a snap limit of 1 m leaves compounds and facilities off the network: the run warns
    piece = batch.run_piece(profiles[name].model_copy(update={"snap_limit_m": 1.0}), streets, None)
    printed = capfd.readouterr()
    assert not piece.skipped and piece.notes, piece
    for note in piece.notes:
        assert note[:40] not in printed.err + printed.out
    said = []
    batch._say_piece(piece, said.append)
    assert said[0].startswith(f"  {name}: ") and len(said) == 1 + len(piece.notes)
    assert all(line.startswith(f"      warning ({name}): ") for line in said[1:])
