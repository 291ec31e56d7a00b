"""The data caveats that can change a verdict, stated with the run's own numbers.

A report that says "met" or "not met" must also say what in the data could turn that verdict
around: estimated population, facility categories the profile lacks, a network without
footways, compounds off the network, sample data. Each caveat names the numbers it affects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import pandas as pd

from ..schema import ALL_AREAS, COMPLETE, STATUS_BEYOND_SNAP_LIMIT, STATUS_ISLAND, STATUS_OK
from .coverage import required_categories
from .population import Population, PopulationCaveat
from .report_tables import indicator_category
from .result import RunResult

#: OpenStreetMap ``highway`` values of ways made for walking: without any of them the network
#: holds only streets, and walks through compounds, parks and alleys are missing.
FOOT_HIGHWAYS = frozenset({"footway", "path", "pedestrian", "steps", "living_street", "track"})
#: Indicator settings that name a facility category, with the role's (中文, English) name.
_INDICATOR_FIELDS = {
    "childcare_category": ("托育", "childcare"),
    "culture_category": ("文化设施", "cultural venues"),
    "elderly_category": ("养老服务", "elderly care"),
    "shelter_category": ("应急避难场所", "emergency shelters"),
}
#: Why a compound is off the network, in words (中文, English).
_OFF_NETWORK_WORDS = {
    STATUS_ISLAND: ("在孤立路段上", "on an isolated street piece"),
    STATUS_BEYOND_SNAP_LIMIT: ("距路网过远", "too far from any street"),
}
#: Columns of the caveats table.
CAVEAT_COLUMNS = ["key", "title_zh", "title_en", "effect_zh", "effect_en"]


@dataclass(frozen=True)
class Caveat:
    """One caveat: a bilingual title and what it does to the results."""

    key: str
    title_zh: str
    title_en: str
    effect_zh: str
    effect_en: str


def data_caveats(
    result: RunResult,
    population: Population,
    indicators: pd.DataFrame,
    estimate: PopulationCaveat | None = None,
) -> pd.DataFrame:
    """The caveats of a run that can change a verdict, most serious first.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    population : Population
        The residents used for per-capita indicators.
    indicators : pandas.DataFrame
        The indicator rows (``key``, ``value``, ``target_value``, ``met``), to state which
        verdicts a caveat can turn.
    estimate : PopulationCaveat, optional
        From :func:`lifecircle.analysis.population.population_caveat`: whether the compound
        residents are households × persons per household (not counted, not scaled to a census).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CAVEAT_COLUMNS`; keys ``sample``, ``missing_categories``,
        ``empty_categories``, ``no_footways``, ``off_network``, ``population_estimate``,
        ``population_missing``, ``no_sub_districts`` (only those that apply).
    """
    found = [
        _sample(result),
        _missing_categories(result),
        _empty_categories(result),
        _no_footways(result),
        _off_network(result),
        _population_estimate(result, population, indicators, estimate),
        _population_missing(result),
        _no_sub_districts(result),
    ]
    rows = [asdict(c) for c in found if c is not None]
    return pd.DataFrame(rows, columns=CAVEAT_COLUMNS)


def _overall(result: RunResult, category: str) -> pd.Series | None:
    table = result.coverage
    rows = table[(table["area"] == ALL_AREAS) & (table["category"] == category)]
    return None if rows.empty else rows.iloc[0]


def _pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.1%}"


def _sample(result: RunResult) -> Caveat | None:
    if not result.profile.sample:
        return None
    return Caveat(
        "sample", "示例数据", "Sample data",
        "结果来自随附的示例数据，不是研究区：任何达标或未达标的结论都不适用。",
        "The results analyse the bundled sample, not a study area: no verdict applies.",
    )


def _missing_categories(result: RunResult) -> Caveat | None:
    profile = result.profile
    missing = [
        (getattr(profile.indicators, name), *_INDICATOR_FIELDS[name])
        for name in _INDICATOR_FIELDS
        if getattr(profile.indicators, name) is not None
        and indicator_category(profile, name) is None
    ]
    if not missing:
        return None
    missing_zh = "、".join(f"{zh}（{key}）" for key, zh, _ in missing)
    missing_en = ", ".join(f"{en} ({key})" for key, _, en in missing)
    counted = [profile.categories[c].label for c in required_categories(profile)]
    zh_names = "、".join(label.zh for label in counted) or "无"
    en_names = ", ".join(label.en for label in counted) or "none"
    complete = _overall(result, COMPLETE)
    share = _pct(complete["population_share"]) if complete is not None else "n/a"
    return Caveat(
        "missing_categories", "缺少设施类别", "Facility categories missing",
        f"本研究没有{missing_zh}图层：相应指标未测量；完整生活圈只按 {zh_names} 计算，"
        f"纳入全部类别后覆盖率（现为居民的 {share}）只会相同或更低。",
        f"The profile has no {missing_en} layer: those indicators are not measured, and the complete "
        f"life circle counts only {en_names}; with every category its coverage (now {share} of "
        "residents) could only stay the same or fall.",
    )


def _empty_categories(result: RunResult) -> Caveat | None:
    counts = result.facilities["category"].value_counts()
    empty = [key for key in result.profile.categories if int(counts.get(key, 0)) == 0]
    if not empty:
        return None
    keys = ", ".join(empty)
    return Caveat(
        "empty_categories", "设施图层为空", "Facility layers with no facilities",
        f"{keys} 没有找到任何设施：所有小区在这些类别都计为未覆盖。请检查数据来源，"
        "缺数据与真缺设施无法区分。",
        f"No facility of {keys} was found: every compound counts as not covered for it. Check "
        "the source: missing data cannot be told apart from missing facilities.",
    )


def network_has_footways(result: RunResult) -> bool:
    """True when the walking network holds any footway, path, pedestrian street or steps."""
    # The edge table carries each edge's class (no networkx graph needed at city scale).
    return any(
        not _highways(highway).isdisjoint(FOOT_HIGHWAYS)
        for highway in result.network.edges["highway"]
    )


def _highways(value: object) -> set[str]:
    # Simplified osmnx edges carry a list when the merged ways differ.
    if isinstance(value, str):
        return {value}
    if isinstance(value, Iterable):
        return {str(v) for v in value}
    return set()


def _no_footways(result: RunResult) -> Caveat | None:
    if network_has_footways(result):
        return None
    near = _overall(result, COMPLETE)
    margin = f"{result.profile.near_miss_share:.0%}"
    n = int(near["n_near_miss"]) if near is not None else 0
    residents = near["population_near_miss"] if near is not None else math.nan
    people_zh = "" if math.isnan(residents) else f"（{residents:,.0f} 人）"
    people_en = "" if math.isnan(residents) else f" ({residents:,.0f} residents)"
    return Caveat(
        "no_footways", "路网不含人行道和小路", "Network without footways or paths",
        "路网中没有人行道、小路、步行街或台阶（highway=footway/path/pedestrian/steps），"
        "步行只能沿车行道计算：距离偏长，覆盖率偏低。完整生活圈有 "
        f"{n:,} 个小区{people_zh}只差不到阈值的 {margin}（接近达标），实际可能已覆盖。",
        "The network has no footway, path, pedestrian street or steps "
        "(highway=footway/path/pedestrian/steps): walks follow streets only, so distances are "
        f"upper bounds and coverage a lower bound. {n:,} compound(s){people_en} miss the complete "
        f"life circle by less than {margin} of a threshold (near misses) and may be covered "
        "in reality.",
    )


def _off_network(result: RunResult) -> Caveat | None:
    compounds = result.compounds
    off = compounds["access_status"] != STATUS_OK
    if not off.any():
        return None
    counts = compounds.loc[off, "access_status"].value_counts().sort_index()
    words = {s: _OFF_NETWORK_WORDS.get(s, (s, s)) for s in counts.index}
    detail_zh = "，".join(f"{count:,} 个{words[s][0]}" for s, count in counts.items())
    detail = ", ".join(f"{count:,} {words[s][1]}" for s, count in counts.items())
    complete = _overall(result, COMPLETE)
    bound_zh = bound_en = ""
    if complete is not None and complete["population"]:
        residents = compounds.loc[off, "population"].astype(float).sum()
        ceiling = (complete["population_covered"] + residents) / complete["population"]
        if not math.isnan(ceiling):
            bound_zh = f"；即使它们全部覆盖，完整生活圈居民覆盖率最多为 {_pct(ceiling)}"
            bound_en = f"; even if all were covered, the complete life circle would reach at most {_pct(ceiling)} of residents"
    return Caveat(
        "off_network", "小区不在主路网上", "Compounds off the walking network",
        f"{int(off.sum()):,} 个小区不在主步行路网上（{detail_zh}），计为未覆盖{bound_zh}。"
        "请检查其位置或路网。",
        f"{int(off.sum()):,} compound(s) are not on the main walking network ({detail}) and "
        f"count as not covered{bound_en}. Check their location or the network.",
    )


def _population_estimate(
    result: RunResult,
    population: Population,
    indicators: pd.DataFrame,
    estimate: PopulationCaveat | None,
) -> Caveat | None:
    spec = result.profile.compounds
    estimated = estimate.estimated if estimate is not None else (
        bool(spec.households_field) and not spec.population_field
    )
    if not estimated:
        return None
    pph = spec.persons_per_household
    zh = (f"居民数为估算值：户数 × {pph:g} 人/户。按居民的覆盖率与户均人数无关（相互抵消），"
          "但假定各小区户均人数相同。")
    en = (f"Residents are estimated as households × {pph:g} persons per household. Shares by "
          "residents do not depend on the multiplier (it cancels) but assume the same household "
          "size in every compound.")
    flip = _per_capita_flip(result, population, indicators, pph)
    if flip is not None:
        zh += flip[0]
        en += " " + flip[1]
    return Caveat("population_estimate", "人口为估算值", "Population is an estimate", zh, en)


def _per_capita_flip(
    result: RunResult, population: Population, indicators: pd.DataFrame, pph: float
) -> tuple[str, str] | None:
    """The household size at which the per-capita culture verdict would turn, if it depends on it."""
    if result.profile.population.source != "compounds":
        return None
    rows = indicators.set_index("key")
    if "culture_per_100k" not in rows.index:
        return None
    row = rows.loc["culture_per_100k"]
    value, target = float(row["value"]), float(row["target_value"])
    if math.isnan(value) or not value or not target:
        return None
    # Venues per 100,000 scale as 1 / persons per household.
    turning = pph * value / target
    if value >= target:
        return (f"每10万人文化设施（{value:.1f}，目标 {target:g}）在户均人数超过 {turning:.2f} 时将不达标。",
                f"Cultural venues per 100,000 ({value:.1f}, target {target:g}) would fail above "
                f"{turning:.2f} persons per household.")
    return (f"每10万人文化设施（{value:.1f}，目标 {target:g}）在户均人数低于 {turning:.2f} 时才会达标。",
            f"Cultural venues per 100,000 ({value:.1f}, target {target:g}) would be met only "
            f"below {turning:.2f} persons per household.")


def _population_missing(result: RunResult) -> Caveat | None:
    population = result.compounds["population"].astype(float)
    missing = int(population.isna().sum())
    if not missing or missing == len(population):
        return None
    return Caveat(
        "population_missing", "部分小区缺少户数", "Compounds without households",
        f"{missing:,} 个小区没有户数或人口：计入按小区的覆盖率，但不计入按居民的覆盖率。",
        f"{missing:,} compound(s) have no households or population: they count in the shares "
        "by compound but add no residents to the shares by residents.",
    )


def _no_sub_districts(result: RunResult) -> Caveat | None:
    if result.sub_districts is not None:
        return None
    return Caveat(
        "no_sub_districts", "未提供街道边界", "No sub-district boundaries",
        "没有街道/镇边界：无法测量“普惠性托育点街道/镇全覆盖”，分街道表只有全区一行。",
        "No sub-district (街道/镇) boundaries: the 'childcare in every sub-district' indicator "
        "cannot be measured and the per-sub-district tables hold only the whole area.",
    )
