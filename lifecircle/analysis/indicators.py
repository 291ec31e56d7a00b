"""The indicator report: a run measured against the plan's targets, for planners.

The indicators follow Changning District's community-governance plan (长宁区社区治理规划,
2021–2025): the 15-minute community life circle basically covers the district (基本覆盖全区),
inclusive childcare points (普惠性托育点) in every sub-district (街道/镇), cultural venues per
100,000 residents, elderly care near every residential area, and an emergency shelter within
reach of every residential compound. Which facility category answers which indicator, the
"basically full" share and the culture target are set in the profile's ``indicators``; an
indicator whose category the profile lacks is reported as *not measured*, never guessed.

:func:`indicator_report` builds the tables in memory; :mod:`lifecircle.outputs` writes them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import LifecircleWarning
from ..profile import THRESHOLD_PRESETS, Label, Profile
from ..schema import ALL_AREAS, COMPLETE
from . import gaps, report_tables
from .caveats import data_caveats
from .coverage import required_categories
from .facilities import facilities_inside
from .population import Population, per_capita_population, population_caveat
from .report_tables import indicator_category
from .result import RunResult
from .supply_report import group_overall, indicator_caveats, population_notes, supply_demand

#: Indicator keys, in report order.
INDICATOR_KEYS = (
    "life_circle_population",
    "life_circle_compounds",
    "childcare_sub_districts",
    "culture_per_100k",
    "elderly_compounds",
    "elderly_population",
    "shelter_compounds",
)
#: Source of a target the profile gives no policy document for.
PROFILE_TARGET = "profile target (本研究设定)"


@dataclass
class IndicatorReport:
    """A run measured against the plan's indicators.

    Attributes
    ----------
    profile_name : str
    title : Label
        The profile's bilingual title.
    sample : bool
        The run analysed the bundled sample: every output says so.
    preset : str
        The threshold preset (``gb50180`` or ``shanghai``).
    preset_label : Label
        Its bilingual name.
    preset_source : str
        What the preset's distances come from.
    full_coverage_share : float
        The share read as "basically full coverage" (基本覆盖).
    walking_speed_m_per_min : float
    population_source : str
        How the residents for per-capita indicators were counted.
    population_total : float
        Those residents in the study area (``NaN`` when unknown).
    indicators : pandas.DataFrame
        One row per indicator (see :func:`indicator_report`).
    by_sub_district : pandas.DataFrame
        Coverage and facility counts for the whole area and per sub-district.
    failing_compounds : pandas.DataFrame
        Long table: one row per compound and category beyond the threshold.
    uncovered_population : pandas.DataFrame
        From :func:`lifecircle.analysis.report_tables.uncovered_population` (with near misses).
    categories : pandas.DataFrame
        Categories with their thresholds, sources and facility counts.
    caveats : pandas.DataFrame
        The data caveats that can change a verdict (see
        :func:`lifecircle.analysis.caveats.data_caveats`).
    near_miss_share : float
        The near-miss margin as a share of each threshold.
    credits : list of str
        Data credits (OpenStreetMap first).
    notes : list of str
        Warnings of the run and of the report.
    category_labels : dict of str to (str, str)
        (中文, English) label of every category key and of ``complete``.
    facility_audit : pandas.DataFrame
        Completeness of the facility registers per category and register
        (``facility_audit.csv``).
    excluded_facilities : pandas.DataFrame
        Register entries excluded as closed or out of scope (``excluded_facilities.csv``).
    supply_demand : pandas.DataFrame
        Capacity against demand per area and category, for categories with a capacity
        (:func:`lifecircle.analysis.capacity.supply_table`); empty otherwise.
    population_estimated : bool
        The compound residents behind population shares are (partly) households × persons per
        household: every verdict that depends on them carries ``population_caveat``.
    population_caveat : str
        That caveat ("" when the residents are counted or scaled to a census).
    census_ratio : float
        Census total ÷ the compounds' estimated residents (NaN when either is unknown).
    """

    profile_name: str
    title: Label
    sample: bool
    preset: str
    preset_label: Label
    preset_source: str
    full_coverage_share: float
    walking_speed_m_per_min: float
    population_source: str
    population_total: float
    indicators: pd.DataFrame
    by_sub_district: pd.DataFrame
    failing_compounds: pd.DataFrame
    uncovered_population: pd.DataFrame
    categories: pd.DataFrame
    caveats: pd.DataFrame = field(default_factory=pd.DataFrame)
    near_miss_share: float = 0.1
    credits: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    category_labels: dict[str, tuple[str, str]] = field(default_factory=dict)
    facility_audit: pd.DataFrame = field(default_factory=pd.DataFrame)
    excluded_facilities: pd.DataFrame = field(default_factory=pd.DataFrame)
    supply_demand: pd.DataFrame = field(default_factory=pd.DataFrame)
    population_estimated: bool = False
    population_caveat: str = ""
    census_ratio: float = np.nan

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The report's tables by name, in report order (``supply_demand`` only when measured)."""
        tables = {
            "indicators": self.indicators,
            "by_sub_district": self.by_sub_district,
            "failing_compounds": self.failing_compounds,
            "uncovered_population": self.uncovered_population,
            "categories": self.categories,
        }
        if not self.supply_demand.empty:
            tables["supply_demand"] = self.supply_demand
        tables["facility_audit"] = self.facility_audit
        tables["excluded_facilities"] = self.excluded_facilities
        return tables


# --------------------------------------------------------------------------------------------
# Building the report
# --------------------------------------------------------------------------------------------


def indicator_report(result: RunResult) -> IndicatorReport:
    """Measure a run against the plan's indicators.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.

    Returns
    -------
    IndicatorReport
        Its ``indicators`` table has one row per indicator (keys in :data:`INDICATOR_KEYS`):
        ``key``, ``indicator_zh``, ``indicator_en``, ``unit`` (``share``, ``sub_districts`` or
        ``per_100k``), ``target`` (text, e.g. "≥ 95% (基本覆盖全区)"), ``target_value``,
        ``measured`` (text), ``value`` (number), ``met`` (True/False, ``pd.NA`` when not
        measurable), ``shortfall`` (target minus measured in the indicator's unit, 0 when met),
        ``source`` (the policy document of the target, or "profile target") and ``note`` (how
        it was measured, or why it was not).

    Raises
    ------
    lifecircle.errors.DataError
        When the profile's population raster cannot be read.
    """
    profile = result.profile
    notes = list(result.notes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LifecircleWarning)
        population = per_capita_population(result)
    for warning in caught:
        if issubclass(warning.category, LifecircleWarning):
            notes.append(str(warning.message))
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    notes += population.notes
    caveat = population_caveat(result)
    notes += population_notes(result, caveat.text)
    preset = THRESHOLD_PRESETS[profile.threshold_preset]
    labels = {key: gaps.category_label(result, key) for key in [*profile.categories, COMPLETE]}
    indicators = pd.DataFrame(
        [
            *_life_circle_rows(result),
            _childcare_row(result),
            _culture_row(result, population),
            *_elderly_rows(result),
            _shelter_row(result),
        ]
    )
    indicators["met"] = indicators["met"].astype(object).where(indicators["met"].notna(), pd.NA)
    indicators["caveat"] = indicator_caveats(indicators, population, caveat.text)
    return IndicatorReport(
        profile_name=profile.name,
        title=profile.title,
        sample=profile.sample,
        preset=profile.threshold_preset,
        preset_label=preset["label"],
        preset_source=preset["source"],
        full_coverage_share=profile.indicators.full_coverage_share,
        walking_speed_m_per_min=profile.walking_speed_m_per_min,
        population_source=population.description,
        population_total=population.total,
        indicators=indicators,
        by_sub_district=report_tables.by_sub_district(result, population),
        failing_compounds=report_tables.failing_compounds(result),
        uncovered_population=report_tables.uncovered_population(result),
        categories=report_tables.categories_table(result),
        caveats=data_caveats(result, population, indicators, caveat),
        near_miss_share=profile.near_miss_share,
        credits=report_tables.credits(result),
        notes=list(dict.fromkeys(notes)),
        category_labels=labels,
        facility_audit=result.facility_audit,
        excluded_facilities=result.excluded_facilities,
        supply_demand=supply_demand(result),
        population_estimated=caveat.estimated,
        population_caveat=caveat.text,
        census_ratio=caveat.census_ratio,
    )


def _row(
    key: str,
    zh: str,
    en: str,
    unit: str,
    target: str,
    target_value: float,
    measured: str = "",
    value: float = np.nan,
    met: Any = pd.NA,
    shortfall: float = np.nan,
    note: str = "",
    source: str = PROFILE_TARGET,
) -> dict[str, Any]:
    return {
        "key": key,
        "indicator_zh": zh,
        "indicator_en": en,
        "unit": unit,
        "target": target,
        "target_value": target_value,
        "measured": measured,
        "value": value,
        "met": met,
        "shortfall": shortfall,
        "source": source,
        "note": note,
    }


def pct(value: float) -> str:
    """A share as a short percentage: 0.95 → '95%', 0.955 → '95.5%'."""
    return f"{value * 100:.4g}%"


def _share_text(value: float) -> str:
    """A measured share with one decimal, never rounded up to 100% when short of it."""
    text = f"{value:.1%}"
    return "99.9%" if value < 1 and text == "100.0%" else text


def _not_measured(category_field: str, key: str | None) -> str:
    what = key or category_field.removesuffix("_category")
    return (
        f"not measured: no {what} layer in this profile (未测量：本研究未提供该类设施数据); "
        f"add the category and set indicators.{category_field}"
    )


def _policy_source(profile: Profile, category: str | None = None, measure: str | None = None) -> str:
    """The policy document behind a target: the profile target's own, else the indicators'."""
    for target in profile.targets:
        if target.category == category and target.measure == measure and target.source:
            return target.source
    return profile.indicators.source or PROFILE_TARGET


def _overall(result: RunResult, category: str) -> pd.Series | None:
    table = result.coverage
    rows = table[(table["area"] == ALL_AREAS) & (table["category"] == category)]
    return None if rows.empty else rows.iloc[0]


def _share_row(
    result: RunResult,
    key: str,
    zh: str,
    en: str,
    category: str,
    measure: str,
    minimum: float,
    target_text: str,
    how: str,
    source: str,
    overall: pd.Series | None = None,
) -> dict[str, Any]:
    row = overall if overall is not None else _overall(result, category)
    base = {"key": key, "zh": zh, "en": en, "unit": "share", "target": target_text,
            "target_value": minimum, "source": source}
    if row is None:
        return _row(**base, note=f"not measured: no {category} coverage in this run")
    value = float(row[measure])
    if math.isnan(value):
        return _row(
            **base,
            note="not measurable: the compounds have no population or households "
            "(set compounds.population_field or households_field)",
        )
    failing = int(row["n_compounds"] - row["n_covered"])
    if measure == "population_share":
        counted = f"{row['population_covered']:,.0f} of {row['population']:,.0f} residents"
    else:
        counted = f"{int(row['n_covered']):,} of {int(row['n_compounds']):,} compounds"
    note = f"{counted} {how}; {failing:,} compound(s) fall short"
    if row["n_flagged"]:
        note += (
            f" ({int(row['n_flagged']):,} compound(s) are not on the main walking network and "
            "count as not covered)"
        )
    note += _near_miss_text(result, row)
    met = bool(value >= minimum - 1e-12)
    return _row(
        **base,
        measured=_share_text(value),
        value=value,
        met=met,
        shortfall=0.0 if met else minimum - value,
        note=note,
    )


def _life_circle_rows(result: RunResult) -> list[dict[str, Any]]:
    profile = result.profile
    share = profile.indicators.full_coverage_share
    required = required_categories(profile)
    names = "、".join(profile.categories[c].label.zh for c in required) or "none"
    absent = [
        getattr(profile.indicators, name)
        for name in ("childcare_category", "culture_category", "elderly_category", "shelter_category")
        if getattr(profile.indicators, name) is not None
        and indicator_category(profile, name) is None
    ]
    definition = (
        f"a complete life circle (every required category within its walking threshold: "
        f"{names}"
        + (f"; not in this profile: {', '.join(absent)}" if absent else "")
        + f"); 'basically full' (基本覆盖) = ≥ {pct(share)} (indicators.full_coverage_share)"
    )
    target = f"≥ {pct(share)} (基本覆盖全区)"
    return [
        _share_row(
            result, "life_circle_population", "15分钟社区生活圈覆盖率（按居民）",
            "15-minute community life circle coverage (residents)",
            COMPLETE, "population_share", share, target,
            f"live in compounds with {definition}",
            _policy_source(profile, COMPLETE, "population_share"),
        ),
        _share_row(
            result, "life_circle_compounds", "15分钟社区生活圈覆盖率（按小区）",
            "15-minute community life circle coverage (compounds)",
            COMPLETE, "compound_share", share, target, f"have {definition}",
            _policy_source(profile, COMPLETE, "compound_share"),
        ),
    ]


def _near_miss_text(result: RunResult, row: pd.Series) -> str:
    """How many of the compounds that fall short are near misses (within the margin)."""
    n = int(row.get("n_near_miss", 0) or 0)
    if not n:
        return ""
    residents = row.get("population_near_miss", np.nan)
    people = "" if pd.isna(residents) else f" ({residents:,.0f} residents)"
    margin = f"{result.profile.near_miss_share:.0%}"
    return f"; {n:,} of them{people} are near misses (接近达标), within {margin} beyond a threshold"


def _childcare_row(result: RunResult) -> dict[str, Any]:
    profile = result.profile
    key = indicator_category(profile, "childcare_category")
    zh, en = "普惠性托育点街道/镇全覆盖", "Inclusive childcare points (普惠性托育点) in every sub-district"
    districts = result.sub_districts
    n = 0 if districts is None else len(districts)
    target = f"{n} / {n} 街道/镇 (every sub-district)" if n else "every sub-district (每个街道/镇)"
    base = {"key": "childcare_sub_districts", "zh": zh, "en": en, "unit": "sub_districts",
            "target": target, "target_value": float(n) if n else np.nan,
            "source": _policy_source(profile)}
    if key is None:
        return _row(**base, note=_not_measured("childcare_category", profile.indicators.childcare_category))
    if not n:
        return _row(
            **base,
            note="not measurable: the profile gives no sub-district (街道/镇) boundaries "
            "(add sub_districts: a file or osm_admin_level: 8)",
        )
    label = profile.categories[key].label
    inside = facilities_inside(result, key)
    per_district = inside["sub_district"].value_counts()
    names = list(districts["name"])
    without = [name for name in names if per_district.get(name, 0) == 0]
    k = n - len(without)
    note = (
        f"sub-districts with at least one point of the {label.zh} / {label.en} layer inside "
        f"them ({len(inside):,} inside the study area); whether a point is 普惠性 (inclusive, "
        "publicly supported) depends on the layer. "
    )
    note += f"Without: {'、'.join(without)}" if without else "Every sub-district has one."
    return _row(
        **base,
        measured=f"{k} / {n}",
        value=float(k),
        met=k == n,
        shortfall=float(n - k),
        note=note,
    )


def _culture_row(result: RunResult, population: Population) -> dict[str, Any]:
    profile = result.profile
    key = indicator_category(profile, "culture_category")
    target_value = profile.indicators.culture_per_100k_target
    base = {
        "key": "culture_per_100k",
        "zh": "每10万人文化设施数",
        "en": "Cultural venues per 100,000 residents",
        "unit": "per_100k",
        "target": f"≥ {target_value:g} per 100,000 (每10万人)",
        "target_value": target_value,
        "source": _policy_source(profile),
    }
    if key is None:
        return _row(**base, note=_not_measured("culture_category", profile.indicators.culture_category))
    count = len(facilities_inside(result, key))
    label = profile.categories[key].label
    if not population.total or math.isnan(population.total):
        return _row(
            **base,
            note=f"not measurable: population {population.description}; "
            f"{count:,} {label.zh} / {label.en} inside the study area",
        )
    value = count / population.total * 1e5
    met = bool(value >= target_value)
    note = (
        f"{count:,} {label.zh} / {label.en} inside the study area ÷ {population.total:,.0f} "
        f"residents × 100,000; population: {population.description}"
    )
    if not met:
        needed = math.ceil(target_value * population.total / 1e5 - 1e-9) - count
        note += f"; {needed:,} more venue(s) would meet the target"
    return _row(
        **base,
        measured=f"{value:.1f}",
        value=value,
        met=met,
        shortfall=0.0 if met else target_value - value,
        note=note,
    )


def _target_minimum(profile: Profile, category: str, measure: str) -> float:
    """The profile's target for a category and measure; every residential area (100%) when none."""
    for target in profile.targets:
        if target.category == category and target.measure == measure:
            return target.minimum
    return 1.0


def _threshold_text(profile: Profile, key: str) -> str:
    metres = profile.categories[key].threshold_m
    return f"{metres:g} m ({metres / profile.walking_speed_m_per_min:.0f} min)"


def _elderly_rows(result: RunResult) -> list[dict[str, Any]]:
    profile = result.profile
    key = indicator_category(profile, "elderly_category")
    rows = []
    for measure, suffix_zh, suffix_en in (
        ("compound_share", "按小区", "compounds"),
        ("population_share", "按居民", "residents"),
    ):
        row_key = f"elderly_{'compounds' if measure == 'compound_share' else 'population'}"
        zh = f"养老服务就近可达（{suffix_zh}）"
        if key is None:
            rows.append(
                _row(row_key, zh, f"Elderly care within walking distance ({suffix_en})", "share",
                     "≥ 100% (每个居住区)", 1.0, source=_policy_source(profile),
                     note=_not_measured("elderly_category", profile.indicators.elderly_category))
            )
            continue
        minimum = _target_minimum(profile, key, measure)
        # Per-capita measures count the category's demand group (e.g. residents aged 60+).
        group = group_overall(result, key) if measure == "population_share" else None
        rows.append(
            _share_row(
                result, row_key, zh,
                f"Elderly care within {_threshold_text(profile, key)} ({suffix_en})",
                key, measure, minimum, f"≥ {pct(minimum)} (每个居住区)",
                f"within {_threshold_text(profile, key)} of {profile.categories[key].label.zh}"
                + (f" ({group.name})" if group is not None else ""),
                _policy_source(profile, key, measure),
                overall=group,
            )
        )
    return rows


def _shelter_row(result: RunResult) -> dict[str, Any]:
    profile = result.profile
    key = indicator_category(profile, "shelter_category")
    zh = "每个居住区就近有应急避难场所"
    if key is None:
        return _row(
            "shelter_compounds", zh, "Emergency shelter within walking distance of every "
            "residential compound", "share", "100% of compounds (每个居住区)", 1.0,
            source=_policy_source(profile),
            note=_not_measured("shelter_category", profile.indicators.shelter_category),
        )
    return _share_row(
        result, "shelter_compounds", zh,
        f"Emergency shelter within {_threshold_text(profile, key)} of every residential compound",
        key, "compound_share", 1.0, "100% of compounds (每个居住区)",
        f"within {_threshold_text(profile, key)} of {profile.categories[key].label.zh}",
        _policy_source(profile, key, "compound_share"),
    )
