"""Profiles: built-ins validate, typos and bad values give messages that name the field."""

from __future__ import annotations

import pytest
import yaml

import lifecircle as lc
from lifecircle.errors import ProfileError


def test_builtin_profiles_load_and_cite_their_thresholds():
    names = lc.builtin_profiles()
    assert {"changning", "huangpu"} <= set(names)
    for name in names:
        profile = lc.load_profile(name)
        for category in profile.categories.values():
            assert category.threshold_source.strip()
            assert category.label.zh and category.label.en


def test_changning_profile_matches_the_plan():
    profile = lc.load_profile("changning")
    assert set(profile.categories) == {"nursery", "elderly_care", "culture", "shelter"}
    # GB 50180-2018: 5/10/15-minute life circles ≈ 300 / 500 / 800–1000 m.
    assert profile.categories["nursery"].threshold_m == 300
    assert profile.categories["culture"].threshold_m == 1000
    assert "GB 50180-2018" in profile.categories["nursery"].threshold_source
    assert profile.walking_speed_kmh == 4.5
    assert profile.walking_speed_m_per_min == pytest.approx(75.0)
    assert profile.max_threshold_m == 1000
    assert profile.population.source == "census"
    assert profile.population.census_total == 693_051
    assert profile.indicators.full_coverage_share == 0.95
    assert profile.indicators.culture_per_100k_target == 15.5


def test_threshold_presets_set_levels_and_name_their_source():
    gb = lc.load_profile("changning")
    sh = lc.load_profile("changning", threshold_preset="shanghai")
    assert gb.threshold_preset == "gb50180" and sh.threshold_preset == "shanghai"
    assert gb.categories["culture"].level == "15min"
    assert gb.categories["culture"].threshold_m == 1000
    assert sh.categories["culture"].threshold_m == 800
    assert gb.categories["nursery"].threshold_m == sh.categories["nursery"].threshold_m == 300


def test_level_and_threshold_together_are_refused(tmp_path):
    data = _minimal()
    data["categories"]["nursery"]["level"] = "5min"
    with pytest.raises(ProfileError, match="either 'level' or 'threshold_m'"):
        lc.load_profile(_write(tmp_path, data))
    del data["categories"]["nursery"]["threshold_m"]
    data["categories"]["nursery"]["level"] = "20min"
    with pytest.raises(ProfileError, match="level must be one of"):
        lc.load_profile(_write(tmp_path, data))


def _write(tmp_path, data, name="p.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _minimal():
    return {
        "name": "t",
        "title": {"zh": "测试", "en": "Test"},
        "study_area": {"district": "长宁区"},
        "categories": {
            "nursery": {
                "label": {"zh": "托育", "en": "Nursery"},
                "threshold_m": 300,
                "threshold_source": "GB 50180-2018",
                "source": {"osm_tags": {"amenity": "kindergarten"}},
            }
        },
        "compounds": {"source": {"osm_tags": {"landuse": "residential"}}},
    }


def test_typo_in_a_field_name_is_reported_with_its_path(tmp_path):
    data = _minimal()
    data["categories"]["nursery"]["treshold_m"] = data["categories"]["nursery"].pop("threshold_m")
    with pytest.raises(ProfileError) as err:
        lc.load_profile(_write(tmp_path, data))
    message = str(err.value)
    assert "categories.nursery.treshold_m" in message and "typo" in message
    assert "categories.nursery.threshold_m" in message  # the missing correct field


def test_a_typo_inside_a_layer_source_names_profile_keys_only(tmp_path):
    # A category's source may be one source or a list: pydantic reports both forms, with
    # internal names ("function-after[...]", "list[...]"); the planner sees one line per typo.
    data = _minimal()
    data["categories"]["nursery"]["source"] = {
        "file": "k.csv", "crs": "wgs84", "x": "lon", "y": "lat", "name_feild": "name",
    }
    with pytest.raises(ProfileError) as err:
        lc.load_profile(_write(tmp_path, data))
    message = str(err.value)
    assert "has 1 problem(s)" in message
    assert "categories.nursery.source.name_feild: unknown field (a typo?)" in message
    assert "function-after" not in message and "valid list" not in message


def test_yaml_slips_name_the_line_and_what_to_check(tmp_path):
    bad = tmp_path / "indent.yaml"
    bad.write_text("name: x\ncategories:\n  nursery:\n    label: k\n   threshold_m: 300\n")
    with pytest.raises(ProfileError) as err:
        lc.load_profile(bad)
    message = str(err.value)
    assert "indent.yaml is not valid YAML, line 5, column 4" in message
    assert "indented differently" in message and "starts at line 3" in message
    assert "unicode string" not in message and "<block end>" not in message
    colon = tmp_path / "colon.yaml"
    colon.write_text("name: x\ncategories:\n  nursery\n    label: k\n")
    with pytest.raises(ProfileError, match=r"line 4, column 10: a ':' where none can be"):
        lc.load_profile(colon)


def test_a_misspelt_builtin_profile_gets_a_suggestion():
    with pytest.raises(ProfileError, match=r"unknown profile 'huangpo' \(did you mean 'huangpu'\?\)"):
        lc.load_profile("huangpo")


def test_bad_values_are_explained(tmp_path):
    data = _minimal()
    data["categories"]["nursery"]["threshold_m"] = -5
    data["targets"] = [{"category": "nurseries", "minimum": 0.9}]
    with pytest.raises(ProfileError, match="threshold_m"):
        lc.load_profile(_write(tmp_path, data))
    data["categories"]["nursery"]["threshold_m"] = 300
    with pytest.raises(ProfileError, match="nurseries"):
        lc.load_profile(_write(tmp_path, data))


def test_layer_needs_exactly_one_source(tmp_path):
    data = _minimal()
    data["compounds"]["source"] = {"crs": "bd09"}
    with pytest.raises(ProfileError, match="exactly one of 'osm_tags' or 'file'"):
        lc.load_profile(_write(tmp_path, data))


def test_missing_unknown_and_malformed_profiles(tmp_path):
    with pytest.raises(ProfileError, match="does not exist"):
        lc.load_profile(tmp_path / "nope.yaml")
    with pytest.raises(ProfileError, match="unknown profile 'nope'.*changning"):
        lc.load_profile("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="not valid YAML"):
        lc.load_profile(bad)


def test_paths_resolve_against_the_profile_folder_and_env(tmp_path, monkeypatch):
    data = _minimal()
    data["network"] = {"source": "osm_file", "osm_file": "${MY_DATA:-fallback}/x.osm"}
    profile = lc.load_profile(_write(tmp_path, data))
    assert profile.resolve(profile.network.osm_file) == tmp_path / "fallback" / "x.osm"
    monkeypatch.setenv("MY_DATA", "/data/here")
    assert str(profile.resolve(profile.network.osm_file)) == "/data/here/x.osm"


def test_unknown_crs_is_refused_when_the_profile_is_read(tmp_path):
    data = _minimal()
    data["compounds"]["source"] = {"file": "c.csv", "crs": "wsg84"}
    with pytest.raises(ProfileError, match=r"compounds\.source\.crs.*unknown coordinate system 'wsg84'"):
        lc.load_profile(_write(tmp_path, data))


def test_a_key_given_twice_is_an_error_naming_it(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(
        "name: twice\ntitle: {zh: 甲, en: A}\nsnap_limit_m: 200\nwalking_speed_kmh: 4\n"
        "snap_limit_m: 300\n",
        encoding="utf-8",
    )
    with pytest.raises(ProfileError, match=r"'snap_limit_m' is given twice \(lines 3 and 5\)"):
        lc.load_profile(path)
    nested = tmp_path / "nested.yaml"
    nested.write_text("name: n\ntitle: {zh: 甲, en: A, zh: 乙}\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="'zh' is given twice"):
        lc.load_profile(nested)


def test_a_gbk_profile_says_how_to_fix_it(tmp_path):
    path = tmp_path / "gbk.yaml"
    path.write_bytes("name: gbk\ntitle: {zh: 长宁区, en: Changning}\n".encode("gbk"))
    with pytest.raises(ProfileError, match="not UTF-8 text .*GBK.*save it as UTF-8"):
        lc.load_profile(path)


def test_profile_paths_are_not_looked_up_among_builtins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("../profiles/huangpu", "profiles/../huangpu", "./huangpu"):
        with pytest.raises(ProfileError, match="does not exist"):
            lc.load_profile(name)
    assert lc.load_profile("huangpu").name == "huangpu"  # a plain name still is


def test_over_long_names_and_folders(tmp_path):
    with pytest.raises(ProfileError, match="300 characters"):
        lc.load_profile("y" * 300)
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(ProfileError, match="is a folder"):
        lc.load_profile(tmp_path / "folder.yaml")
    with pytest.raises(ProfileError, match="name: String should have at most 100 characters"):
        lc.load_profile("huangpu", name="z" * 101)  # it names the output folder
