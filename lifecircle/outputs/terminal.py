"""What the command line prints after a run: coverage, network status, targets, indicators.

Tables are laid out to fit an 80-column terminal: labels go on two lines (中文, then English)
instead of being cut, and no column is ever truncated with an ellipsis.
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..analysis.indicators import IndicatorReport
from ..analysis.result import RunResult
from ..schema import ALL_AREAS, COMPLETE
from .display import MEASURE_TEXT, SAMPLE_WARNING, access_label, category_texts, met_text
from .labels import ACCESS_LABELS, minutes_text


def fitted_table(title: str, columns: list[tuple[str, str]]) -> Table:
    """A rich table for an 80-column terminal: escaped title, ``(header, justify)`` columns
    that fold long text instead of cutting it."""
    table = Table(title=escape(title), title_justify="left", expand=False)
    for header, justify in columns:
        table.add_column(header, justify=justify, overflow="fold")
    return table


def coverage_table(result: RunResult) -> Table:
    """Whole-area coverage per category: compounds, residents and near misses."""
    profile = result.profile
    title = f"{profile.title.zh} / {profile.title.en}"
    if profile.sample:
        title = f"示例数据 SAMPLE DATA — {title}"
    table = fitted_table(title, [
        ("类别\nCategory", "left"), ("阈值\nThreshold", "right"), ("小区\nCompounds", "right"),
        ("居民\nResidents", "right"), ("接近达标\nNear miss", "right"),
    ])
    overall = result.coverage[result.coverage["area"] == ALL_AREAS]
    labels = category_texts(profile, "\n")
    for row in overall.itertuples():
        label = labels[row.category]
        if row.category == COMPLETE:
            threshold = "全部必需\nall required"
        else:
            category = profile.categories[row.category]
            threshold = f"{category.threshold_m:,.0f} m\n{minutes_text(category.threshold_m, profile)} min"
        residents = "n/a" if pd.isna(row.population_share) else (
            f"{row.population_share:.1%}\n{row.population_covered:,.0f} 人"
        )
        near = f"{int(getattr(row, 'n_near_miss', 0)):,} 小区"
        near_people = getattr(row, "population_near_miss", float("nan"))
        if not pd.isna(near_people):
            near += f"\n{near_people:,.0f} 人"
        table.add_row(
            escape(label), threshold,
            f"{row.compound_share:.1%}\n{row.n_covered:,}/{row.n_compounds:,}", residents, near,
        )
    return table


def status_lines(statuses: pd.Series) -> list[str]:
    """'  1,746  已接入路网 / on the walking network' per access status, in a stable order."""
    counts = statuses.value_counts()
    order = [*ACCESS_LABELS, *sorted(set(counts.index) - set(ACCESS_LABELS))]
    width = max(len(f"{int(c):,}") for c in counts) if len(counts) else 1
    return [f"  {int(counts[s]):>{width},}  {access_label(s)}" for s in order if s in counts.index]


def targets_table(targets: pd.DataFrame) -> Table:
    """The profile's targets: required, measured, result and the shortfall."""
    table = fitted_table("目标 Targets", [
        ("目标\nTarget", "left"), ("要求\nRequired", "right"), ("实测\nMeasured", "right"),
        ("结果\nResult", "left"),
    ])
    for row in targets.itertuples():
        label = f"{row.label_zh or row.category}\n{MEASURE_TEXT.get(row.measure, row.measure)}"
        result = met_text(row.met)
        if not pd.isna(row.met) and not row.met:
            result += f"\n差 {row.shortfall * 100:.1f} 个百分点\nshort by {row.shortfall * 100:.1f} pts"
        measured = "n/a" if pd.isna(row.measured) else f"{row.measured:.1%}"
        table.add_row(escape(str(label)), f"{row.target:.0%}", measured, result)
    return table


def print_summary(result: RunResult, console: Console) -> None:
    """Coverage, network status, targets and credits of a run."""
    console.print(coverage_table(result))
    margin = f"{result.profile.near_miss_share:.0%}"
    console.print(
        f"[dim]接近达标 = 未覆盖，但超出阈值不足{margin} / near miss = not covered, less than "
        f"{margin} beyond the threshold[/]",
        highlight=False,
    )
    console.print("路网状态 / Network status of the compounds:")
    for line in status_lines(result.compounds["access_status"]):
        console.print(escape(line), highlight=False)
    if not result.targets.empty:
        console.print(targets_table(result.targets))
    for credit in result.credits:
        console.print(f"[dim]{escape(credit)}[/]", highlight=False)


def indicators_table(report: IndicatorReport) -> Table:
    """The plan's indicators: target, measured value and result, numbered."""
    title = "规划指标 Plan indicators"
    if report.sample:
        title = f"示例数据 SAMPLE DATA — {title}"
    table = fitted_table(title, [
        ("#", "right"), ("指标\nIndicator", "left"), ("目标\nTarget", "left"),
        ("实测\nMeasured", "right"), ("结果\nResult", "left"),
    ])
    colours = {True: "green", False: "red"}
    for number, row in enumerate(report.indicators.itertuples(), start=1):
        colour = "yellow" if pd.isna(row.met) else colours[bool(row.met)]
        table.add_row(
            str(number),
            escape(f"{row.indicator_zh}\n{row.indicator_en}"),
            escape(str(row.target)),
            escape(row.measured or "—"),
            f"[{colour}]{met_text(row.met)}[/]",
        )
    return table


def print_indicators(report: IndicatorReport, console: Console) -> None:
    """The indicator table, its notes numbered below it, and the caveats that can turn a verdict."""
    if report.sample:
        console.print(f"[bold yellow]{escape(SAMPLE_WARNING)}[/]")
    console.print(indicators_table(report))
    for number, note in enumerate(report.indicators["note"], start=1):
        console.print(f"[dim]{number}. {escape(note)}[/]", highlight=False)
    if not report.caveats.empty:
        console.print("数据局限 / Caveats that can change a verdict (details in report.md):")
        for row in report.caveats.itertuples():
            console.print(f"  • {escape(row.title_zh)} / {escape(row.title_en)}", highlight=False)
