"""Profile sections for supply and demand: facility registers, capacity norms, demand groups.

These models sit beside :mod:`lifecircle.profile`, which uses them in its categories. Every number
a planner would quote (a norm, a census share) carries its source in the profile: the presets
below cite theirs, and a norm or share without a preset must be given with ``source``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ._profile_base import Label, _Strict, with_preset
from .schema import ALL_RESIDENTS

#: Names or types that mark an entry of a Chinese POI register (AMap, Baidu) as closed,
#: suspended or moved: such entries are excluded and listed, never counted as facilities.
DEFAULT_CLOSED_PATTERNS: tuple[str, ...] = (
    "暂停营业",
    "已关闭",
    "装修中",
    "停业",
    "倒闭",
    "歇业",
    "已搬迁",
)

_SHANGHAI_2020_CENSUS = (
    "上海市第七次全国人口普查主要数据公报 / Shanghai 7th national census, main data (上海市统计局, "
    "2021-05-18): of 24,870,895 residents, 0–14 岁 2,436,300 (9.8%), 60 岁及以上 5,815,500 "
    "(23.4%), 65 岁及以上 16.3% — Shanghai-wide shares, not the district's own"
)

#: Shares of residents by age group, with their source (usable as ``preset:`` in demand groups).
DEMAND_SHARE_PRESETS: dict[str, dict[str, Any]] = {
    "shanghai_2020_age_0_14": {"share": 0.098, "source": _SHANGHAI_2020_CENSUS},
    "shanghai_2020_age_60_plus": {"share": 0.234, "source": _SHANGHAI_2020_CENSUS},
    "shanghai_2020_age_65_plus": {"share": 0.163, "source": _SHANGHAI_2020_CENSUS},
}

# Read (2026-11) in a news report of the plan's approval, 《上海市出台养老服务设施布局专项规划》
# (2022-10-15), http://m.818894.cn/news/news-zhengce/11871.html: "中心城区各区养老床位数按照区域
# 内户籍老年人口的2.5%配置，浦东新区……3.1%……，其他各区……3.5%" and "全市每千人居家社区养老服务
# 设施建筑面积达到50平方米" (2025). The plan's own text was not found among the stored pages.
_SHANGHAI_ELDERLY_PLAN = (
    "《上海市养老服务设施布局专项规划（2022—2035年）》(上海市民政局、上海市规划和自然资源局, 2022), "
    "as reported at its approval (http://m.818894.cn/news/news-zhengce/11871.html): "
)
_REGISTERED_OLDER = (
    " — the plan counts the district's registered (户籍) older residents; lifecircle counts the "
    "category's demand group (e.g. the census share of resident 常住 residents aged 60+)"
)

#: Supply norms with their source (usable as ``preset:`` in a category's capacity norm). Each
#: is only a default the profile names; ``value``/``per``/``source`` replace it.
NORM_PRESETS: dict[str, dict[str, Any]] = {
    "childcare_places_14th_fyp": {
        "value": 4.5,
        "per": 1000.0,
        "population": ALL_RESIDENTS,
        "source": (
            "《中华人民共和国国民经济和社会发展第十四个五年规划和2035年远景目标纲要》(2021) 主要指标: "
            "每千人口拥有3岁以下婴幼儿托位数 4.5 个 (2025) / 14th Five-Year Plan outline, main "
            "indicators: 4.5 childcare places for children under 3 per 1,000 residents by 2025"
        ),
    },
    "shanghai_elderly_beds_central_2022": {
        "value": 2.5,
        "per": 100.0,
        "source": _SHANGHAI_ELDERLY_PLAN + (
            "中心城区各区养老床位数按照区域内户籍老年人口的2.5%配置 / central districts: elderly-care "
            "beds for 2.5% of older residents"
        ) + _REGISTERED_OLDER,
    },
    "shanghai_elderly_beds_pudong_2022": {
        "value": 3.1,
        "per": 100.0,
        "source": _SHANGHAI_ELDERLY_PLAN + (
            "浦东新区养老床位数按照区域内户籍老年人口的3.1%配置 / Pudong New Area: elderly-care beds "
            "for 3.1% of older residents"
        ) + _REGISTERED_OLDER,
    },
    "shanghai_elderly_beds_other_2022": {
        "value": 3.5,
        "per": 100.0,
        "source": _SHANGHAI_ELDERLY_PLAN + (
            "其他各区养老床位数按照区域内户籍老年人口的3.5%配置 / other (suburban) districts: "
            "elderly-care beds for 3.5% of older residents"
        ) + _REGISTERED_OLDER,
    },
    "shanghai_community_elderly_floor_area_2025": {
        "value": 50.0,
        "per": 1000.0,
        "population": ALL_RESIDENTS,
        "source": _SHANGHAI_ELDERLY_PLAN + (
            "全市每千人居家社区养老服务设施建筑面积达到50平方米 (2025) / city-wide 50 m² of floor area "
            "of home-and-community elderly-care facilities per 1,000 residents by 2025 (by district "
            "class of older-resident share: 55 / 50 / 45 m² — give that value with its source)"
        ),
    },
}

#: Norm presets that count older residents: the category's demand group must be such a group.
NORMS_FOR_OLDER_RESIDENTS: frozenset[str] = frozenset(
    key for key in NORM_PRESETS if key.startswith("shanghai_elderly_beds_")
)


class DemandGroup(_Strict):
    """A population group that a category serves (e.g. residents aged 60 and over).

    Give its ``share`` of each compound's residents with the ``source`` of that share, a
    ``preset`` share (see :data:`DEMAND_SHARE_PRESETS`), or the compound-layer ``field`` that
    counts the group per compound.
    """

    label: Label
    share: float | None = Field(default=None, gt=0, le=1)
    field: str | None = None
    source: str | None = None
    preset: Literal[tuple(DEMAND_SHARE_PRESETS)] | None = None  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        return with_preset(data, DEMAND_SHARE_PRESETS, "share")

    @model_validator(mode="after")
    def _one_way(self) -> DemandGroup:
        if (self.share is None) == (self.field is None):
            raise ValueError("give exactly one of 'share' (with 'source'), 'preset' or 'field'")
        if self.share is not None and not (self.source and len(self.source) >= 3):
            raise ValueError(
                "a demand share needs its 'source' (e.g. the census table it comes from); "
                f"or use a preset: {', '.join(DEMAND_SHARE_PRESETS)}"
            )
        return self


class Norm(_Strict):
    """A supply norm: ``value`` units of capacity per ``per`` persons of a population group.

    ``population`` names the demand group the norm counts (default: the category's
    ``demand_group``); the two-step floating catchment uses that group as demand. No norm has a
    default value: give ``value`` with its ``source``, or a ``preset`` (:data:`NORM_PRESETS`).
    """

    value: float = Field(gt=0)
    per: float = Field(default=1.0, gt=0)
    population: str | None = None
    source: str = Field(min_length=3)
    preset: Literal[tuple(NORM_PRESETS)] | None = None  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        data = with_preset(data, NORM_PRESETS, "value")
        if isinstance(data, dict) and data.get("value") is not None and not data.get("source"):
            raise ValueError(
                "a norm needs its 'source' (the standard or plan it comes from); lifecircle "
                "invents no norm"
            )
        return data

    @property
    def per_person(self) -> float:
        """Capacity per person of the norm's population group."""
        return self.value / self.per


class Capacity(_Strict):
    """Capacity of a category's facilities and how supply is matched with demand.

    The capacity of each facility is read from its layer (``capacity_field`` of each source).
    Supply and demand are matched with the two-step floating catchment method (2SFCA; Luo &
    Wang 2003) over the walking distances within the category threshold, or with its Gaussian
    distance-decay variant (Dai 2010). With ``require_capacity`` a compound is covered only when
    a facility with free places (``used_field`` below capacity) is within the threshold and,
    when a norm is given, its supply ratio reaches the norm.
    """

    unit: Label = Label(zh="容量", en="capacity")
    norm: Norm | None = None
    method: Literal["2sfca", "gaussian"] = "2sfca"
    require_capacity: bool = False
    #: Facilities without a capacity value: ``zero`` (they supply nothing; counted and
    #: reported) or ``median`` (the median of the category's known capacities, reported).
    missing: Literal["zero", "median"] = "zero"


class Deduplication(_Strict):
    """When two entries of different sources are the same facility.

    Entries of different sources within ``max_distance_m`` of each other whose names are at
    least ``min_name_similarity`` similar (0–100, rapidfuzz ``fuzz.ratio`` of the names with
    spaces, punctuation and brackets' spacing removed) are merged; unnamed entries never merge.
    """

    max_distance_m: float = Field(default=100.0, gt=0, le=2000)
    min_name_similarity: float = Field(default=80.0, ge=0, le=100)


class Registers(_Strict):
    """How facility registers are cleaned and merged (all categories).

    ``closed_patterns`` are regular expressions (case-insensitive) looked for in the
    ``match_fields`` of every entry (those present in the layer); a match excludes the entry and
    lists it in ``excluded_facilities.csv``. Categories add their own out-of-scope patterns.
    """

    closed_patterns: list[str] = list(DEFAULT_CLOSED_PATTERNS)
    match_fields: list[str] = ["name", "type"]
    deduplicate: Deduplication = Deduplication()

    @field_validator("closed_patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        return checked_patterns(value)


class Geocode(_Strict):
    """Geocode a table of addresses with a Chinese geocoding service.

    The key is read from the environment (``LIFECIRCLE_AMAP_KEY`` or ``LIFECIRCLE_BAIDU_KEY``);
    results are cached under ``data/raw/<profile>/geocode/``. AMap answers in GCJ-02, Baidu in
    BD-09; both are converted to WGS84.
    """

    service: Literal["amap", "baidu"]
    address_field: str = Field(min_length=1)
    city: str | None = None


def checked_patterns(patterns: list[str]) -> list[str]:
    """Check that every pattern is a valid regular expression (the profile's error otherwise)."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
    return patterns
