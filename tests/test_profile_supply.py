"""Profile sections for supply and demand: no number without its source, clear messages."""

from __future__ import annotations

import json

import pytest
import yaml

import lifecircle as lc
from lifecircle.errors import ProfileError
from lifecircle.profile_supply import DEMAND_SHARE_PRESETS, NORM_PRESETS


def _with(changes: dict, category: dict | None = None, **top):
    """The huangpu profile with the nursery category (and top-level fields) changed."""
    base = lc.load_profile("huangpu").model_dump(mode="json", exclude={"base_dir"}, exclude_unset=True)
    nursery = {**base["categories"]["nursery"], **(category or {})}
    data = {**base, **top, "categories": {**base["categories"], "nursery": {**nursery, **changes}}}
    return lc.profile.Profile.model_validate(data)


def test_presets_cite_their_sources():
    for preset in [*NORM_PRESETS.values(), *DEMAND_SHARE_PRESETS.values()]:
        assert len(preset["source"]) > 40
    assert NORM_PRESETS["childcare_places_14th_fyp"]["value"] == 4.5
    assert "十四个五年规划" in NORM_PRESETS["childcare_places_14th_fyp"]["source"]
    assert "第七次全国人口普查" in DEMAND_SHARE_PRESETS["shanghai_2020_age_60_plus"]["source"]


def test_a_norm_needs_its_source():
    with pytest.raises(ValueError, match="needs its 'source'.*invents no norm"):
        _with({"capacity": {"norm": {"value": 3, "per": 100}}})
    profile = _with({"capacity": {"norm": {"value": 3, "per": 100, "source": "a plan, p. 12"}}})
    assert profile.categories["nursery"].capacity.norm.per_person == pytest.approx(0.03)


def test_a_share_needs_its_source_and_groups_must_exist():
    label = {"zh": "老人", "en": "Older"}
    with pytest.raises(ValueError, match="demand share needs its 'source'"):
        _with({}, demand_groups={"older": {"label": label, "share": 0.3}})
    with pytest.raises(ValueError, match="demand_group names 'older'"):
        _with({"demand_group": "older"})
    with pytest.raises(ValueError, match="capacity.norm.population names 'kids'"):
        _with({"capacity": {"norm": {"preset": "childcare_places_14th_fyp", "population": "kids"}}})
    ok = _with({"demand_group": "older"},
               demand_groups={"older": {"label": label, "preset": "shanghai_2020_age_65_plus"}})
    assert ok.demand_groups["older"].share == 0.163


def test_register_patterns_must_be_regular_expressions():
    with pytest.raises(ValueError, match="not a valid regular expression"):
        _with({"exclude_patterns": ["KTV("]})


def test_geocoded_sources_take_no_coordinates(tmp_path):
    path = tmp_path / "p.yaml"
    text = lc.load_profile("huangpu").model_dump_json(exclude={"base_dir"}, exclude_unset=True)
    data = json.loads(text)
    data["categories"]["nursery"]["source"]["geocode"] = {"service": "amap", "address_field": "地址"}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ProfileError, match="'geocode' reads addresses from a file: give 'file' without 'x'"):
        lc.load_profile(path)


def test_built_in_profiles_use_the_register_and_gate_rules():
    huangpu = lc.load_profile("huangpu")
    assert "KTV" in huangpu.categories["culture"].exclude_patterns
    assert "暂停营业" in huangpu.registers.closed_patterns
    changning = lc.load_profile("changning")
    assert changning.compounds.gates is not None
    assert changning.compounds.gates.source.osm_tags == {"entrance": True, "barrier": ["gate"]}
