"""Tables as planners read them: bilingual headers, Chinese-first codes, number formats.

The analysis returns machine tables (snake_case columns, codes such as ``beyond_threshold``,
unrounded numbers). This module holds what turns them into what a planner reads: the labels of
every code, the bilingual column headers, the number formats shared by Markdown and Excel, and
the rounding and label columns of the CSV files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..profile import Profile
from ..schema import ALL_AREAS, COMPLETE
from .labels import ACCESS_LABELS

SAMPLE_WARNING = (
    "示例数据 / SAMPLE DATA — these results come from the bundled OpenStreetMap sample, not from "
    "your study area; they only show what a complete run produces."
)
MET_TEXT = {True: "达标 met", False: "未达标 not met"}
NOT_MEASURABLE = "无法测量 n/a"
YES_NO = {True: "是 yes", False: "否 no"}
#: The whole-study-area row of every per-area table.
ALL_AREAS_LABEL = "全区 / whole study area"
COMPLETE_LABEL = ("完整生活圈", "Complete life circle")
NEAR_MISS_LABEL = "接近达标 / near miss"
#: Why a compound is not covered (``gap_reason``) and where it lies on the network.
GAP_REASON_LABELS = {
    "beyond_threshold": "超出步行阈值 / beyond the walking threshold",
    "no_facility_reachable": "无可达设施 / no facility reachable",
    "missing_categories": "缺少类别 / categories missing",
    **ACCESS_LABELS,
}
#: What a target measures.
MEASURE_TEXT = {
    "population_share": "按居民 / share of residents",
    "compound_share": "按小区 / share of compounds",
}
#: Why a register entry was excluded, and the audit row of a category's merged register.
EXCLUSION_LABELS = {"closed": "已关闭 / closed", "out of scope": "不属于该类 / out of scope"}
MERGED_LABEL = "合并后 / merged register"
#: Supply-and-demand methods and the demand group of every resident.
METHOD_LABELS = {
    "2sfca": "两步移动搜寻法 / 2SFCA (two-step floating catchment)",
    "gaussian": "高斯两步移动搜寻法 / Gaussian 2SFCA",
}
ALL_RESIDENTS_LABEL = "全体居民 / all residents"
LEVEL_LABELS = {
    "5min": "5分钟生活圈 / 5-minute",
    "10min": "10分钟生活圈 / 10-minute",
    "15min": "15分钟生活圈 / 15-minute",
    "": "",
}
#: (中文, English) of the per-category measures of the by-sub-district table.
MEASURE_LABELS = {
    "compound_share": ("小区覆盖率", "compound share"),
    "population_share": ("人口覆盖率", "population share"),
    "near_miss_compounds": ("接近达标小区", "near-miss compounds"),
    "near_miss_population": ("接近达标人口", "near-miss residents"),
}

# Bilingual headers of the fixed columns (the snake_case names stay in CSV files and in code).
HEADERS = {
    "key": "代码 / Key",
    "indicator": "指标 / Indicator",
    "target": "目标 / Target",
    "target_value": "目标值 / Target value",
    "measured": "实测 / Measured",
    "value": "实测 / Measured",
    "met": "结果 / Result",
    "shortfall": "差距 / Shortfall",
    "target_source": "目标依据 / Target source",
    "source": "数据来源 / Source",
    "note": "说明 / Note",
    "area": "区域 / Area",
    "residents": "居民 / Residents",
    "n_compounds": "小区数 / Compounds",
    "n_covered": "覆盖小区 / Covered compounds",
    "compound_share": "小区覆盖率 / Compound share",
    "population_covered": "覆盖人口 / Covered residents",
    "population_share": "人口覆盖率 / Population share",
    "n_flagged": "不在路网小区 / Compounds off the network",
    "n_near_miss": "接近达标小区 / Near-miss compounds",
    "population_near_miss": "接近达标人口 / Near-miss residents",
    "childcare_facilities": "托育点 / Childcare points",
    "culture_venues": "文化设施 / Cultural venues",
    "culture_population": "人口(人均指标) / Population (per-capita)",
    "culture_per_100k": "每10万人文化设施 / Cultural venues per 100k",
    "category": "类别 / Category",
    "category_key": "类别代码 / Category key",
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
    "near_miss": "接近达标 / Near miss",
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
    "caveat": "数据局限 / Caveat",
    "entries": "条目 / Entries",
    "excluded": "排除 / Excluded",
    "facilities": "保留设施 / Facilities kept",
    "unique": "仅此来源 / Unique",
    "shared": "多来源共有 / Shared",
    "merged_away": "合并去重 / Merged away",
    "reason": "排除原因 / Reason",
    "pattern": "匹配规则 / Pattern",
    "field": "字段 / Field",
    "lon": "经度 / Longitude",
    "lat": "纬度 / Latitude",
    "inside_study_area": "在研究区内 / Inside the study area",
    "demand_group": "需求人群 / Demand group",
    "demand": "需求人口 / Demand",
    "facilities_without_capacity": "无容量数据设施 / Facilities without capacity",
    "capacity_inside": "区内容量 / Capacity inside",
    "capacity_required": "所需容量 / Capacity required",
    "container_ratio": "容量比 / Capacity ratio",
    "supply_per_person": "人均供给(2SFCA) / Supply per person",
    "supply_ratio": "供给比 / Supply ratio",
    "demand_share_enough": "供给充足人口比例 / Demand served enough",
    "unit": "单位 / Unit",
    "norm": "配置标准 / Norm",
    "norm_source": "标准依据 / Norm source",
    "method": "方法 / Method",
    "effect_zh": "影响 (中文)",
    "effect_en": "Effect on the results (English)",
}


def met_text(value: Any) -> str:
    """达标 met / 未达标 not met / 无法测量 n/a."""
    if _missing(value):
        return NOT_MEASURABLE
    return MET_TEXT[bool(value)]


def yes_no(value: Any) -> str:
    """是 yes / 否 no (empty when unknown)."""
    return "" if _missing(value) else YES_NO[bool(value)]


def area_label(area: Any) -> str:
    """A sub-district name, or the Chinese-first label of the whole study area."""
    return ALL_AREAS_LABEL if area == ALL_AREAS else str(area)


def gap_reason_label(reason: Any, near_miss: bool = False, margin: float = 0.1) -> str:
    """Chinese-first label of a ``gap_reason`` (near misses say so)."""
    if near_miss and reason == "beyond_threshold":
        return f"接近达标：超出阈值不足{margin:.0%} / near miss: less than {margin:.0%} beyond"
    return GAP_REASON_LABELS.get(str(reason), str(reason))


def level_label(level: Any) -> str:
    """Chinese-first label of a life-circle level (``5min`` …)."""
    return LEVEL_LABELS.get(str(level or ""), str(level))


def access_label(status: Any) -> str:
    """Chinese-first label of an ``access_status``."""
    return ACCESS_LABELS.get(str(status), str(status))


def category_text(key: str, labels: dict[str, tuple[str, str]]) -> str:
    """'幼儿园 / Kindergarten' for a category key (or the complete life circle)."""
    zh, en = labels.get(key, COMPLETE_LABEL if key == COMPLETE else (key, key))
    return f"{zh} / {en}"


def category_labels(profile: Profile) -> dict[str, tuple[str, str]]:
    """(中文, English) label of every category key of a profile and of ``complete``."""
    labels = {key: (c.label.zh, c.label.en) for key, c in profile.categories.items()}
    return {**labels, COMPLETE: COMPLETE_LABEL}


def category_texts(profile: Profile, sep: str = " / ") -> dict[str, str]:
    """'中文<sep>English' of every category key of a profile, then of ``complete``."""
    return {key: sep.join(pair) for key, pair in category_labels(profile).items()}


def map_title(path: Path, labels: dict[str, tuple[str, str]]) -> str:
    """What a map file shows, from its name (``<profile>_<category>.png`` …)."""
    stem = path.stem
    if path.suffix == ".html":
        if stem.endswith("_gaps"):
            return "缺口地图（交互式） / Gap map (interactive)"
        return "覆盖地图（交互式） / Coverage map (interactive)"
    if stem.endswith("_uncovered_ranking"):
        return "各街道/镇未覆盖居民排名 / Uncovered residents by sub-district (chart)"
    for key in sorted(labels, key=len, reverse=True):
        if stem.endswith(f"_{key}"):
            return f"{category_text(key, labels)} — 静态地图 / static map"
    return path.name


def map_links(
    maps: Sequence[Path], folder: Path, labels: dict[str, tuple[str, str]]
) -> list[tuple[str, str]]:
    """(title, path relative to ``folder`` with forward slashes) of each map file."""
    out = []
    for path in maps:
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
        out.append((map_title(Path(path), labels), Path(relative).as_posix()))
    return out


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def header(column: str, labels: dict[str, tuple[str, str]]) -> str:
    """The bilingual header of a report column (category columns named after their labels)."""
    if column in HEADERS:
        return HEADERS[column]
    for key in labels:
        for measure, (measure_zh, measure_en) in MEASURE_LABELS.items():
            if column == f"{key}_{measure}":
                zh, en = labels[key]
                return f"{zh}{measure_zh} / {en} {measure_en}"
    return column


# --- numbers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberFormat:
    """How a number is shown: a ``str.format`` pattern and the matching Excel number format."""

    python: str
    excel: str

    def text(self, value: Any) -> str:
        """The value as text ('' when missing)."""
        if _missing(value):
            return ""
        return self.python.format(value)


SHARE = NumberFormat("{:.1%}", "0.0%")
COUNT = NumberFormat("{:,.0f}", "#,##0")
ONE_DECIMAL = NumberFormat("{:,.1f}", "#,##0.0")
IDENTIFIER = NumberFormat("{:.0f}", "0")
TWO_DECIMALS = NumberFormat("{:,.2f}", "#,##0.00")
FOUR_DECIMALS = NumberFormat("{:.4f}", "0.0000")
DEGREES = NumberFormat("{:.6f}", "0.000000")

_COUNT_COLUMNS = frozenset(
    {"residents", "population", "uncovered_population", "culture_population", "households",
     "dist_m", "threshold_m", "population_covered", "population_near_miss",
     "childcare_facilities", "culture_venues", "facilities_in_buffer", "facilities_inside",
     "entries", "excluded", "facilities", "unique", "shared", "merged_away", "demand",
     "facilities_without_capacity", "capacity_inside", "capacity_required"}
)
_ONE_DECIMAL_COLUMNS = frozenset({"minutes", "threshold_min", "culture_per_100k"})
_OTHER_FORMATS = {
    "container_ratio": TWO_DECIMALS,
    "supply_ratio": TWO_DECIMALS,
    "supply_per_person": FOUR_DECIMALS,
    "demand_share_enough": SHARE,
    "lon": DEGREES,
    "lat": DEGREES,
}


def column_format(column: str) -> NumberFormat | None:
    """How a numeric report column is shown, or None to leave it as it is."""
    if column in _OTHER_FORMATS:
        return _OTHER_FORMATS[column]
    if column.endswith("_share"):
        return SHARE
    if column == "compound_id":
        return IDENTIFIER
    if column in _ONE_DECIMAL_COLUMNS:
        return ONE_DECIMAL
    if column in _COUNT_COLUMNS or column.startswith("n_") or column.endswith(
        ("_near_miss_compounds", "_near_miss_population")
    ):
        return COUNT
    return None


#: The format of an indicator's value, shortfall and target by its unit.
UNIT_FORMATS = {
    "share": SHARE,
    "per_100k": ONE_DECIMAL,
    "sub_districts": COUNT,
}


# --- CSV files --------------------------------------------------------------------------------

#: Decimals kept in CSV files, by the kind of column (rules in :func:`csv_decimals`).
SHARE_DECIMALS = 4
METRE_DECIMALS = 1
MINUTE_DECIMALS = 1
PEOPLE_DECIMALS = 1
DEGREE_DECIMALS = 6
OTHER_DECIMALS = 4


def csv_decimals(column: str) -> int:
    """Decimals a CSV column keeps: shares 4, metres and minutes 0.1, people 0.1, degrees 6."""
    if column.endswith(("_share", "shortfall")) or column in ("target", "measured", "value"):
        return SHARE_DECIMALS
    if column.endswith(("_m", "_km")):
        return METRE_DECIMALS
    if column.endswith(("_min", "minutes")):
        return MINUTE_DECIMALS
    if column.endswith(("_lon", "_lat")) or column in ("lon", "lat"):
        return DEGREE_DECIMALS
    if "population" in column or column in ("residents", "households"):
        return PEOPLE_DECIMALS
    return OTHER_DECIMALS


def rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every float column rounded by :func:`csv_decimals`."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].round(csv_decimals(str(column)))
    return out


def _insert_after(frame: pd.DataFrame, after: str, column: str, values: Any) -> None:
    position = frame.columns.get_loc(after) + 1 if after in frame.columns else len(frame.columns)
    frame.insert(position, column, values)


def coverage_csv(coverage: pd.DataFrame, labels: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """coverage.csv: rounded, with the category labels beside the key."""
    out = rounded(coverage)
    _insert_after(out, "category", "label_zh", [labels.get(k, (k, k))[0] for k in out["category"]])
    _insert_after(out, "label_zh", "label_en", [labels.get(k, (k, k))[1] for k in out["category"]])
    return out


def targets_csv(targets: pd.DataFrame, source_default: str) -> pd.DataFrame:
    """targets.csv: rounded, with a readable result and every target's source."""
    out = rounded(targets)
    if "measure" in out.columns:
        _insert_after(out, "measure", "measure_label",
                      [MEASURE_TEXT.get(str(m), str(m)) for m in out["measure"]])
    if "met" in out.columns:
        _insert_after(out, "met", "result", [met_text(v) for v in out["met"]])
    if "source" in out.columns:
        out["source"] = [s if isinstance(s, str) and s else source_default for s in out["source"]]
    return out


def report_csv(table: pd.DataFrame, margin: float = 0.1) -> pd.DataFrame:
    """A report table as written to CSV: rounded, with a readable label beside each code."""
    out = rounded(table)
    if "met" in out.columns:
        _insert_after(out, "met", "result", [met_text(v) for v in out["met"]])
    if "access_status" in out.columns:
        _insert_after(out, "access_status", "access_status_label",
                      [access_label(v) for v in out["access_status"]])
    if "gap_reason" in out.columns:
        near = out["near_miss"] if "near_miss" in out.columns else [False] * len(out)
        _insert_after(out, "gap_reason", "gap_reason_label",
                      [gap_reason_label(r, bool(n), margin)
                       for r, n in zip(out["gap_reason"], near, strict=True)])
    if "area" in out.columns:
        _insert_after(out, "area", "area_label", [area_label(v) for v in out["area"]])
    return out


# --- text helpers shared by Markdown, Excel and the terminal ----------------------------------


def formatted(frame: pd.DataFrame, formats: dict[str, NumberFormat | list]) -> pd.DataFrame:
    """Every cell as display text, numbers by ``formats`` (per column, or a list per row)."""
    out = frame.astype(object).copy()
    for column, fmt in formats.items():
        if column not in out.columns:
            continue
        per_row = fmt if isinstance(fmt, list) else [fmt] * len(out)
        out[column] = [
            (f.text(v) if f is not None else _plain(v)) for f, v in zip(per_row, out[column], strict=True)
        ]
    return out.map(_plain)


def _plain(value: Any) -> str:
    if _missing(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return yes_no(value)
    if isinstance(value, float | np.floating):
        return f"{value:g}"
    return str(value)
