"""The indicator report: a run measured against the plan's targets, for planners.

The indicators follow Changning District's community-governance plan (长宁区社区治理规划,
2021–2025): the 15-minute community life circle basically covers the district (基本覆盖全区),
inclusive childcare points (普惠性托育点) in every sub-district (街道/镇), cultural venues per
100,000 residents, elderly care near every residential area, and an emergency shelter within
reach of every residential compound. Which facility category answers which indicator, the
"basically full" share and the culture target are set in the profile's ``indicators``; an
indicator whose category the profile lacks is reported as *not measured*, never guessed.

:func:`indicator_report` builds the tables in memory; :func:`write_report` writes them as CSV,
Markdown and an Excel workbook; :func:`write_report_bundle` adds the gap layers (GeoPackage), the
gap map (HTML) and static PNG maps.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import gaps, io, settings
from .coverage import ALL_AREAS, COMPLETE, required_categories
from .errors import LifecircleWarning
from .profile import THRESHOLD_PRESETS, Label, Profile

if TYPE_CHECKING:
    from .pipeline import RunResult

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
#: Excel sheet of each table (bilingual, at most 31 characters).
SHEET_NAMES = {
    "indicators": "指标 Indicators",
    "by_sub_district": "分街道 By sub-district",
    "failing_compounds": "未达标小区 Failing compounds",
    "uncovered_population": "未覆盖人口 Uncovered population",
    "categories": "类别与阈值 Categories",
    "about": "说明 About",
}
#: Markdown and workbook files written by :func:`write_report` (besides one CSV per table).
REPORT_MARKDOWN = "report.md"
REPORT_WORKBOOK = "report.xlsx"
#: Compounds per category listed in the Markdown report (all of them are in the CSV and workbook).
MARKDOWN_TOP_COMPOUNDS = 10

_SAMPLE_WARNING = (
    "示例数据 / SAMPLE DATA — these results come from the bundled OpenStreetMap sample, not from "
    "your study area; they only show what a complete run produces."
)
_MET_TEXT = {True: "达标 met", False: "未达标 not met"}
_NOT_MEASURABLE = "无法测量 n/a"

# Bilingual headers of the fixed columns (the snake_case names stay in CSV files and in code).
_HEADERS = {
    "key": "代码 / Key",
    "indicator": "指标 / Indicator",
    "target": "目标 / Target",
    "measured": "实测 / Measured",
    "met": "结果 / Result",
    "shortfall": "差距 / Shortfall",
    "note": "说明 / Note",
    "area": "区域 / Area",
    "residents": "居民 / Residents",
    "n_compounds": "小区数 / Compounds",
    "childcare_facilities": "托育点 / Childcare points",
    "culture_venues": "文化设施 / Cultural venues",
    "culture_population": "人口(人均指标) / Population (per-capita)",
    "culture_per_100k": "每10万人文化设施 / Cultural venues per 100k",
    "category": "类别代码 / Category key",
    "label_zh": "类别 / Category (中文)",
    "label_en": "类别 / Category (English)",
    "compound_id": "小区编号 / Compound ID",
    "name": "名称 / Name",
    "sub_district": "街道 / Sub-district",
    "households": "户数 / Households",
    "population": "人口 / Population",
    "dist_m": "步行距离(米) / Walk (m)",
    "minutes": "步行时间(分钟) / Walk (min)",
    "threshold_m": "阈值(米) / Threshold (m)",
    "access_status": "路网状态 / Network status",
    "gap_reason": "原因 / Reason",
    "nearest": "最近设施 / Nearest facility",
    "n_uncovered": "未覆盖小区 / Uncovered compounds",
    "n_uncovered_off_network": "其中不在路网 / of which off the network",
    "uncovered_population": "未覆盖人口 / Uncovered residents",
    "uncovered_share": "未覆盖比例 / Uncovered share",
    "threshold_min": "阈值(分钟) / Threshold (min)",
    "level": "生活圈层级 / Life-circle level",
    "required": "完整生活圈必需 / Required",
    "threshold_source": "阈值依据 / Threshold source",
    "facilities_in_buffer": "设施(含周边) / Facilities (with surroundings)",
    "facilities_inside": "区内设施 / Facilities inside",
}


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
        From :func:`lifecircle.gaps.uncovered_population`.
    categories : pandas.DataFrame
        Categories with their thresholds, sources and facility counts.
    credits : list of str
        Data credits (OpenStreetMap first).
    notes : list of str
        Warnings of the run and of the report.
    category_labels : dict of str to (str, str)
        (中文, English) label of every category key and of ``complete``.
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
    credits: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    category_labels: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The report's tables by name, in report order."""
        return {
            "indicators": self.indicators,
            "by_sub_district": self.by_sub_district,
            "failing_compounds": self.failing_compounds,
            "uncovered_population": self.uncovered_population,
            "categories": self.categories,
        }


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
        measurable), ``shortfall`` (target minus measured in the indicator's unit, 0 when met)
        and ``note`` (how it was measured, or why it was not).

    Raises
    ------
    lifecircle.errors.DataError
        When the profile's population raster cannot be read.
    """
    profile = result.profile
    notes = list(result.notes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LifecircleWarning)
        population = _per_capita_population(result)
    for warning in caught:
        if issubclass(warning.category, LifecircleWarning):
            notes.append(str(warning.message))
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    notes += population.notes
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
        by_sub_district=_by_sub_district(result, population),
        failing_compounds=_failing_compounds(result),
        uncovered_population=gaps.uncovered_population(result),
        categories=_categories_table(result),
        credits=_credits(result),
        notes=list(dict.fromkeys(notes)),
        category_labels=labels,
    )


@dataclass
class _Population:
    """Residents for per-capita indicators: whole area and per sub-district."""

    total: float
    by_sub_district: dict[str, float]
    description: str
    notes: list[str]


def _per_capita_population(result: RunResult) -> _Population:
    profile = result.profile
    spec = profile.population
    compounds = result.compounds
    names = list(result.sub_districts["name"]) if result.sub_districts is not None else []
    if spec.source == "census":
        by_sub = {name: np.nan for name in names}
        notes = []
        given = spec.census_by_sub_district or {}
        for name, value in given.items():
            if name in by_sub:
                by_sub[name] = float(value)
        unknown = sorted(set(given) - set(names))
        if unknown:
            notes.append(
                f"population.census_by_sub_district names {', '.join(unknown)}, which match no "
                f"sub-district of the study area (known: {', '.join(names) or 'none'})"
            )
        source = spec.census_source or "population.census_total in the profile"
        return _Population(float(spec.census_total), by_sub, f"census: {source}", notes)
    if spec.source == "raster":
        from .raster import zonal_population

        path = profile.resolve(spec.raster)
        total = float(zonal_population(path, result.study_area).sum(min_count=1))
        by_sub = {}
        if result.sub_districts is not None:
            sums = zonal_population(path, result.sub_districts)
            by_sub = dict(zip(names, sums.astype(float), strict=True))
        description = (
            f"population raster {path.name}, summed over the area (cells whose centre lies inside)"
        )
        return _Population(total, by_sub, description, [])
    population = compounds["population"].astype(float)
    total = float(population.sum(min_count=1))
    by_sub = {
        name: float(population[compounds["sub_district"] == name].sum(min_count=1))
        for name in names
    }
    if profile.compounds.population_field:
        how = f"the compounds' population field '{profile.compounds.population_field}'"
    elif profile.compounds.households_field:
        how = (
            f"households × {profile.compounds.persons_per_household:g} persons per household"
        )
    else:
        description = (
            "unknown: the compounds have no population or households field (set "
            "compounds.population_field or households_field, or population.source)"
        )
        return _Population(total, by_sub, description, [])
    notes = []
    missing = int(population.isna().sum())
    if missing and not math.isnan(total):
        notes.append(
            f"{missing:,} of {len(population):,} compounds have no population or households: "
            "they count as 0 residents in population shares"
        )
    return _Population(total, by_sub, f"residents of the compounds ({how})", notes)


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
        "note": note,
    }


def _pct(value: float) -> str:
    """0.95 → '95%', 0.955 → '95.5%'."""
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


def _indicator_category(profile: Profile, category_field: str) -> str | None:
    """The profile's category that answers an indicator, or None when it has none."""
    key = getattr(profile.indicators, category_field)
    return key if key is not None and key in profile.categories else None


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
) -> dict[str, Any]:
    row = _overall(result, category)
    base = {"key": key, "zh": zh, "en": en, "unit": "share", "target": target_text,
            "target_value": minimum}
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
        and _indicator_category(profile, name) is None
    ]
    definition = (
        f"a complete life circle (every required category within its walking threshold: "
        f"{names}"
        + (f"; not in this profile: {', '.join(absent)}" if absent else "")
        + f"); 'basically full' (基本覆盖) = ≥ {_pct(share)} (indicators.full_coverage_share)"
    )
    target = f"≥ {_pct(share)} (基本覆盖全区)"
    return [
        _share_row(
            result, "life_circle_population", "15分钟社区生活圈覆盖率（按居民）",
            "15-minute community life circle coverage (residents)",
            COMPLETE, "population_share", share, target,
            f"live in compounds with {definition}",
        ),
        _share_row(
            result, "life_circle_compounds", "15分钟社区生活圈覆盖率（按小区）",
            "15-minute community life circle coverage (compounds)",
            COMPLETE, "compound_share", share, target, f"have {definition}",
        ),
    ]


def facilities_inside(result: RunResult, category: str) -> gpd.GeoDataFrame:
    """Facilities of a category inside the study area, with their sub-district.

    Facilities in the network buffer around the study area serve its residents (they count
    for coverage) but do not belong to it: they do not count for per-sub-district or
    per-capita indicators.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    category : str
        A category key.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, the facilities whose location lies within the study area, with
        ``sub_district`` (``""`` when outside every sub-district or when there are none).
    """
    facilities = result.facilities.to_crs(settings.exchange_crs)
    facilities = facilities[facilities["category"] == category]
    area = result.study_area.to_crs(settings.exchange_crs).geometry.union_all()
    inside = facilities[facilities.geometry.within(area).to_numpy()].copy()
    inside["sub_district"] = ""
    if result.sub_districts is not None and not inside.empty:
        districts = result.sub_districts.to_crs(settings.exchange_crs)[["name", "geometry"]]
        joined = gpd.sjoin(inside[["geometry"]], districts, how="left", predicate="within")
        # A point on a shared border matches twice: keep the first sub-district by name.
        first = joined.sort_values("name").groupby(level=0)["name"].first()
        inside["sub_district"] = first.reindex(inside.index).fillna("").astype(object)
    return inside


def _childcare_row(result: RunResult) -> dict[str, Any]:
    profile = result.profile
    key = _indicator_category(profile, "childcare_category")
    zh, en = "普惠性托育点街道/镇全覆盖", "Inclusive childcare points (普惠性托育点) in every sub-district"
    districts = result.sub_districts
    n = 0 if districts is None else len(districts)
    target = f"{n} / {n} 街道/镇 (every sub-district)" if n else "every sub-district (每个街道/镇)"
    base = {"key": "childcare_sub_districts", "zh": zh, "en": en, "unit": "sub_districts",
            "target": target, "target_value": float(n) if n else np.nan}
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


def _culture_row(result: RunResult, population: _Population) -> dict[str, Any]:
    profile = result.profile
    key = _indicator_category(profile, "culture_category")
    target_value = profile.indicators.culture_per_100k_target
    base = {
        "key": "culture_per_100k",
        "zh": "每10万人文化设施数",
        "en": "Cultural venues per 100,000 residents",
        "unit": "per_100k",
        "target": f"≥ {target_value:g} per 100,000 (每10万人)",
        "target_value": target_value,
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


def _target_minimum(profile: Profile, category: str, measure: str) -> tuple[float, str]:
    for target in profile.targets:
        if target.category == category and target.measure == measure:
            return target.minimum, target.source or "profile target"
    return 1.0, "plan: every residential area (每个居住区)"


def _threshold_text(profile: Profile, key: str) -> str:
    metres = profile.categories[key].threshold_m
    return f"{metres:g} m ({metres / profile.walking_speed_m_per_min:.0f} min)"


def _elderly_rows(result: RunResult) -> list[dict[str, Any]]:
    profile = result.profile
    key = _indicator_category(profile, "elderly_category")
    rows = []
    for measure, suffix_zh, suffix_en in (
        ("compound_share", "按小区", "compounds"),
        ("population_share", "按居民", "residents"),
    ):
        row_key = f"elderly_{'compounds' if measure == 'compound_share' else 'population'}"
        zh = f"养老服务就近可达（{suffix_zh}）"
        if key is None:
            minimum = 1.0
            rows.append(
                _row(row_key, zh, f"Elderly care within walking distance ({suffix_en})", "share",
                     f"≥ {_pct(minimum)}", minimum,
                     note=_not_measured("elderly_category", profile.indicators.elderly_category))
            )
            continue
        minimum, source = _target_minimum(profile, key, measure)
        rows.append(
            _share_row(
                result, row_key, zh,
                f"Elderly care within {_threshold_text(profile, key)} ({suffix_en})",
                key, measure, minimum, f"≥ {_pct(minimum)} ({source})",
                f"within {_threshold_text(profile, key)} of {profile.categories[key].label.zh}",
            )
        )
    return rows


def _shelter_row(result: RunResult) -> dict[str, Any]:
    profile = result.profile
    key = _indicator_category(profile, "shelter_category")
    zh = "每个居住区就近有应急避难场所"
    if key is None:
        return _row(
            "shelter_compounds", zh, "Emergency shelter within walking distance of every "
            "residential compound", "share", "100% of compounds (每个居住区)", 1.0,
            note=_not_measured("shelter_category", profile.indicators.shelter_category),
        )
    return _share_row(
        result, "shelter_compounds", zh,
        f"Emergency shelter within {_threshold_text(profile, key)} of every residential compound",
        key, "compound_share", 1.0, "100% of compounds (每个居住区)",
        f"within {_threshold_text(profile, key)} of {profile.categories[key].label.zh}",
    )


def _by_sub_district(result: RunResult, population: _Population) -> pd.DataFrame:
    profile = result.profile
    coverage = result.coverage
    areas = [ALL_AREAS]
    if result.sub_districts is not None:
        areas += list(result.sub_districts["name"])
    childcare = _indicator_category(profile, "childcare_category")
    culture = _indicator_category(profile, "culture_category")
    childcare_at = facilities_inside(result, childcare) if childcare else None
    culture_at = facilities_inside(result, culture) if culture else None
    rows = []
    for area in areas:
        frame = result.compounds if area == ALL_AREAS else (
            result.compounds[result.compounds["sub_district"] == area]
        )
        residents = frame["population"].astype(float).sum(min_count=1)
        row: dict[str, Any] = {"area": area, "residents": residents, "n_compounds": len(frame)}
        table = coverage[coverage["area"] == area].set_index("category")
        for key in [*profile.categories, COMPLETE]:
            for measure in ("compound_share", "population_share"):
                row[f"{key}_{measure}"] = (
                    float(table.loc[key, measure]) if key in table.index else np.nan
                )
        if childcare_at is not None:
            row["childcare_facilities"] = (
                len(childcare_at) if area == ALL_AREAS
                else int((childcare_at["sub_district"] == area).sum())
            )
        if culture_at is not None:
            venues = (
                len(culture_at) if area == ALL_AREAS
                else int((culture_at["sub_district"] == area).sum())
            )
            people = population.total if area == ALL_AREAS else population.by_sub_district.get(
                area, np.nan
            )
            row["culture_venues"] = venues
            row["culture_population"] = people
            row["culture_per_100k"] = (
                venues / people * 1e5 if people and not math.isnan(people) else np.nan
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _failing_compounds(result: RunResult) -> pd.DataFrame:
    frames = []
    for key in result.profile.categories:
        layer = gaps.uncovered_compounds(result, key)
        frame = pd.DataFrame(layer.drop(columns="geometry"))
        zh, en = gaps.category_label(result, key)
        frame["label_zh"], frame["label_en"] = zh, en
        frames.append(frame)
    columns = ["category", "label_zh", "label_en", "compound_id", "name", "sub_district",
               "households", "population", "dist_m", "minutes", "threshold_m",
               "access_status", "gap_reason", "nearest"]
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True)
    out = out[[c for c in columns if c in out.columns]]
    return out


def _categories_table(result: RunResult) -> pd.DataFrame:
    profile = result.profile
    rows = []
    counts = result.facilities["category"].value_counts()
    for key, category in profile.categories.items():
        rows.append(
            {
                "category": key,
                "label_zh": category.label.zh,
                "label_en": category.label.en,
                "threshold_m": category.threshold_m,
                "threshold_min": category.threshold_m / profile.walking_speed_m_per_min,
                "level": category.level or "",
                "required": category.required,
                "facilities_in_buffer": int(counts.get(key, 0)),
                "facilities_inside": len(facilities_inside(result, key)),
                "threshold_source": category.threshold_source,
            }
        )
    return pd.DataFrame(rows)


def _credits(result: RunResult) -> list[str]:
    return list(dict.fromkeys([settings.osm_attribution, *result.credits]))


# --------------------------------------------------------------------------------------------
# Writing the report
# --------------------------------------------------------------------------------------------


def _met_text(value: Any) -> str:
    if value is pd.NA or value is None or (isinstance(value, float) and math.isnan(value)):
        return _NOT_MEASURABLE
    return _MET_TEXT[bool(value)]


def _shortfall_text(unit: str, value: float) -> str:
    if value is None or math.isnan(value):
        return ""
    if unit == "share":
        return f"{value * 100:.1f} pts" if value else "0"
    if unit == "sub_districts":
        return f"{value:.0f} 街道/镇" if value else "0"
    return f"{value:.1f} per 100k" if value else "0"


def _indicator_display(report: IndicatorReport, *, notes: bool = True) -> pd.DataFrame:
    """The indicators as a planner reads them: bilingual headers, text values.

    Without ``notes`` the note column is replaced by a number pointing at a list of notes.
    """
    table = report.indicators
    display = pd.DataFrame(
        {
            "#": range(1, len(table) + 1),
            _HEADERS["indicator"]: table["indicator_zh"] + " / " + table["indicator_en"],
            _HEADERS["target"]: table["target"],
            _HEADERS["measured"]: table["measured"].replace("", "—"),
            _HEADERS["met"]: [_met_text(v) for v in table["met"]],
            _HEADERS["shortfall"]: [
                _shortfall_text(u, v) for u, v in zip(table["unit"], table["shortfall"], strict=True)
            ],
            _HEADERS["note"]: table["note"],
        }
    )
    return display.drop(columns=["#"]) if notes else display.drop(columns=[_HEADERS["note"]])


def _header(column: str, labels: dict[str, tuple[str, str]]) -> str:
    if column in _HEADERS:
        return _HEADERS[column]
    for key, (zh, en) in labels.items():
        for measure, measure_zh, measure_en in (
            ("compound_share", "小区覆盖率", "compound share"),
            ("population_share", "人口覆盖率", "population share"),
        ):
            if column == f"{key}_{measure}":
                return f"{zh}{measure_zh} / {en} {measure_en}"
    return column


def _bilingual(frame: pd.DataFrame, labels: dict[str, tuple[str, str]]) -> pd.DataFrame:
    return frame.rename(columns={c: _header(c, labels) for c in frame.columns})


_WHOLE_NUMBER_COLUMNS = frozenset(
    {"residents", "population", "uncovered_population", "culture_population", "households",
     "dist_m", "threshold_m"}
)
_ONE_DECIMAL_COLUMNS = frozenset({"minutes", "threshold_min", "culture_per_100k"})
_EXCEL_FORMATS = {"{:.1%}": "0.0%", "{:,.0f}": "#,##0", "{:.1f}": "0.0"}


def _number_pattern(column: str) -> str | None:
    """How a numeric column is shown (a str.format pattern), or None to leave it as is."""
    if column.endswith("_share"):
        return "{:.1%}"
    if column in _WHOLE_NUMBER_COLUMNS:
        return "{:,.0f}"
    if column in _ONE_DECIMAL_COLUMNS:
        return "{:.1f}"
    return None


def _markdown_table(frame: pd.DataFrame, labels: dict[str, tuple[str, str]]) -> str:
    if frame.empty:
        return "(none / 无)\n"
    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        pattern = _number_pattern(column)
        if pattern is not None:
            shown[column] = [("" if pd.isna(v) else pattern.format(v)) for v in values]
    shown = _bilingual(shown, labels)
    return _escape_pipes(shown).to_markdown(index=False) + "\n"


def _escape_pipes(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.map(lambda v: v.replace("|", "\\|") if isinstance(v, str) else v)


def _summary_lines(report: IndicatorReport) -> list[tuple[str, str]]:
    population = (
        "unknown" if math.isnan(report.population_total) else f"{report.population_total:,.0f}"
    )
    return [
        ("研究 / Study", f"{report.title.zh} / {report.title.en} ({report.profile_name})"),
        ("示例数据 / Sample data", "是 yes" if report.sample else "否 no"),
        (
            "阈值标准 / Threshold preset",
            f"{report.preset}: {report.preset_label.zh} / {report.preset_label.en} — "
            f"{report.preset_source} (categories with a life-circle level use it; the others "
            "give their own threshold and source)",
        ),
        (
            "基本覆盖 / 'Basically full' coverage",
            f"≥ {_pct(report.full_coverage_share)} of residents (indicators.full_coverage_share)",
        ),
        (
            "步行速度 / Walking speed",
            f"{report.walking_speed_m_per_min:.0f} m/min ({report.walking_speed_m_per_min * 0.06:g} km/h)",
        ),
        ("人口 / Population (per-capita indicators)", f"{population} — {report.population_source}"),
    ]


def report_markdown(report: IndicatorReport) -> str:
    """The report as Markdown: summary, every table, notes and credits.

    Parameters
    ----------
    report : IndicatorReport
        From :func:`indicator_report`.

    Returns
    -------
    str
        Markdown text (GitHub tables). The failing-compounds table lists the
        :data:`MARKDOWN_TOP_COMPOUNDS` largest compounds of each category; the CSV and the
        workbook list all of them.
    """
    labels = report.category_labels
    lines = [f"# {report.title.zh} / {report.title.en}", "", "## 指标报告 / Indicator report", ""]
    if report.sample:
        lines += [f"> **{_SAMPLE_WARNING}**", ""]
    lines += [f"- **{k}:** {v}" for k, v in _summary_lines(report)]
    lines += ["", "### 规划指标 / Plan indicators", "",
              _escape_pipes(_indicator_display(report, notes=False)).to_markdown(index=False), ""]
    lines += [f"{i}. {note}" for i, note in enumerate(report.indicators["note"], start=1)]
    lines += [""]
    lines += ["### 设施类别与步行阈值 / Categories and walking thresholds", "",
              _markdown_table(report.categories, labels)]
    lines += ["### 分街道 / By sub-district", "", _markdown_table(report.by_sub_district, labels)]
    lines += ["### 未覆盖人口 / Uncovered residents", "",
              _markdown_table(report.uncovered_population, labels)]
    lines += [
        "### 未达标小区 / Compounds beyond the threshold", "",
        f"The {MARKDOWN_TOP_COMPOUNDS} most populous per category; all of them are in "
        "failing_compounds.csv and report.xlsx.", "",
    ]
    failing = report.failing_compounds
    for key, group in failing.groupby("category", sort=False):
        zh, en = labels.get(str(key), (str(key), str(key)))
        lines += [f"#### {zh} / {en}: {len(group):,} compound(s)", "",
                  _markdown_table(group.head(MARKDOWN_TOP_COMPOUNDS).drop(
                      columns=["category", "label_zh", "label_en"]), labels)]
    if failing.empty:
        lines += ["(none / 无)", ""]
    if report.notes:
        lines += ["### 说明 / Notes", ""] + [f"- {note}" for note in report.notes] + [""]
    lines += ["### 数据来源 / Credits", ""] + [f"- {credit}" for credit in report.credits] + [""]
    return "\n".join(lines)


def _write_workbook(path: Path, report: IndicatorReport) -> None:
    from openpyxl.styles import Alignment, Font

    labels = report.category_labels
    about = pd.DataFrame(
        [*_summary_lines(report), *[("说明 / Note", n) for n in report.notes],
         *[("数据来源 / Credit", c) for c in report.credits]],
        columns=["项目 / Item", "内容 / Value"],
    )
    if report.sample:
        about = pd.concat(
            [pd.DataFrame([("示例数据 / SAMPLE DATA", _SAMPLE_WARNING)], columns=about.columns), about],
            ignore_index=True,
        )
    sheets = {
        SHEET_NAMES["indicators"]: (_indicator_display(report), []),
        SHEET_NAMES["by_sub_district"]: (_bilingual(report.by_sub_district, labels),
                                          list(report.by_sub_district.columns)),
        SHEET_NAMES["failing_compounds"]: (_bilingual(report.failing_compounds, labels),
                                            list(report.failing_compounds.columns)),
        SHEET_NAMES["uncovered_population"]: (_bilingual(report.uncovered_population, labels),
                                               list(report.uncovered_population.columns)),
        SHEET_NAMES["categories"]: (_bilingual(report.categories, labels),
                                     list(report.categories.columns)),
        SHEET_NAMES["about"]: (about, []),
    }
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, (frame, raw_columns) in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
            sheet = writer.sheets[name]
            for position, column in enumerate(raw_columns, start=1):
                number_format = _EXCEL_FORMATS.get(_number_pattern(column) or "")
                if number_format:
                    for (cell,) in sheet.iter_rows(min_row=2, min_col=position, max_col=position):
                        cell.number_format = number_format
            for cell in sheet[1]:
                cell.font = Font(bold=True)
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            for letter_cells in sheet.columns:
                width = max(len(str(c.value or "")) for c in letter_cells[:50])
                sheet.column_dimensions[letter_cells[0].column_letter].width = min(
                    max(10, width * 1.2), 60
                )
            sheet.freeze_panes = "A2"


def _write_report_files(
    report: IndicatorReport, folder: Path, stage: Callable[[str | Path], Path]
) -> list[Path]:
    written = []
    for name, table in report.tables.items():
        path = folder / f"{name}.csv"
        io.write_table(stage(path), table)
        written.append(path)
    markdown = folder / REPORT_MARKDOWN
    io.write_text(stage(markdown), report_markdown(report))
    workbook = folder / REPORT_WORKBOOK
    io.write_atomic(stage(workbook), lambda tmp: _write_workbook(tmp, report))
    return [*written, markdown, workbook]


def write_report(report: IndicatorReport, folder: str | Path) -> list[Path]:
    """Write the indicator report: one CSV per table, Markdown and an Excel workbook.

    Parameters
    ----------
    report : IndicatorReport
        From :func:`indicator_report`.
    folder : str or Path
        Output folder (created when missing).

    Returns
    -------
    list of Path
        ``<table>.csv`` for every table (UTF-8 with BOM, snake_case columns), ``report.md`` and
        ``report.xlsx`` (one sheet per table with bilingual headers, plus an "about" sheet).
        All files are staged and moved into place together: a failure leaves earlier files as
        they were.
    """
    folder = Path(folder)
    with io.staged_outputs() as stage:
        return _write_report_files(report, folder, stage)


def write_report_bundle(
    result: RunResult,
    out: str | Path | None = None,
    *,
    maps_dir: str | Path | None = None,
    offline_map: bool = True,
    report: IndicatorReport | None = None,
) -> list[Path]:
    """Write everything a planner needs: report, gap layers, gap map and static maps.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    out : str or Path, optional
        Folder of the report and the layers (default ``data/processed/<profile>/report``).
    maps_dir : str or Path, optional
        Folder of the maps (default ``maps/``; ``out`` when ``out`` is given).
    offline_map : bool, default True
        Write an HTML map that works with no internet (inline scripts, no background tiles);
        False loads Leaflet and OpenStreetMap tiles from the internet when viewed.
    report : IndicatorReport, optional
        The report of ``result`` if already computed (avoids measuring it twice, e.g. summing
        a population raster again).

    Returns
    -------
    list of Path
        The report files (see :func:`write_report`), ``report_layers.gpkg`` (service areas,
        gap layers, study area, sub-districts), ``<profile>_gaps.html`` and one
        ``<profile>_<category>.png`` per category and for the complete life circle. Everything
        is built in memory first and moved into place together.
    """
    from . import maps
    from .pipeline import output_dir

    profile = result.profile
    folder = Path(out) if out is not None else output_dir(profile) / "report"
    map_folder = Path(maps_dir) if maps_dir else (folder if out is not None else settings.maps_folder)
    report = report if report is not None else indicator_report(result)
    service_areas = gaps.result_service_areas(result)
    layers = {"service_areas": service_areas}
    layers |= {k: v for k, v in gaps.gap_layers(result, service_areas).items() if not v.empty}
    layers["study_area"] = result.study_area
    if result.sub_districts is not None:
        layers["sub_districts"] = result.sub_districts
    compounds = result.compounds.to_crs(settings.exchange_crs)
    fmap = maps.coverage_map(
        compounds,
        result.facilities,
        result.study_area,
        profile,
        sub_districts=result.sub_districts,
        service_areas=service_areas,
        credits=report.credits,
        tiles=not offline_map,
    )
    with io.staged_outputs() as stage:
        written = _write_report_files(report, folder, stage)
        gpkg = folder / "report_layers.gpkg"
        io.write_geopackage_layers(stage(gpkg), layers)
        html = map_folder / f"{profile.name}_gaps.html"
        maps.save_map(fmap, stage(html), self_contained=offline_map)
        written += [gpkg, html]
        for key in [*profile.categories, COMPLETE]:
            png = map_folder / f"{profile.name}_{key}.png"
            maps.static_map(
                compounds,
                result.study_area,
                profile,
                None if key == COMPLETE else key,
                stage(png),
                service_areas=service_areas,
                sub_districts=result.sub_districts,
                credits=report.credits,
            )
            written.append(png)
    return written
