"""What ``lifecircle site`` and ``lifecircle compare`` print: ranked sites, coverage changes.

Laid out for an 80-column terminal like :mod:`lifecircle.outputs.terminal`: two-line bilingual
headers, nothing truncated; text from data is escaped (no rich markup from a facility name).
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.markup import escape

from ..analysis.scenarios import ScenarioComparison
from ..analysis.siting import SitingPlan
from ..schema import ALL_AREAS
from .display import category_texts
from .terminal import fitted_table


def print_siting(plan: SitingPlan, console: Console) -> None:
    """Print the ranked sites, the coverage before and after, the solver and any messages."""
    profile = plan.problem.result.profile
    label = profile.categories[plan.category].label
    table = fitted_table(f"新增{label.zh}选址 / New {label.en} sites", [
        ("#", "right"), ("站点\nSite", "left"), ("街道\nSub-district", "left"),
        ("新增覆盖\nNewly covered", "right"), ("累计\nCumulative", "right"),
    ])
    for row in plan.sites.itertuples():
        site = f"{row.name}\n{row.street or '—'}\n{row.lon:.6f}, {row.lat:.6f}"
        new = _compounds_and_residents(row.new_compounds, row.new_residents)
        table.add_row(str(row.rank), escape(site), escape(row.sub_district or "—"), new,
                      f"{row.cumulative_share:.1%}")
    console.print(table)
    measure = "居民 residents" if plan.problem.measure == "population_share" else "小区 compounds"
    console.print(
        f"覆盖率 coverage ({measure}): {plan.share_before:.1%} → {plan.share_after:.1%}, "
        "verified by recomputing the run with the sites added", highlight=False,
    )
    console.print(f"solver: {escape(plan.solver)}", highlight=False)
    for message in plan.messages:
        colour = "yellow" if plan.feasible else "bold yellow"
        console.print(f"[{colour}]note:[/] {escape(message)}", highlight=False)


def print_comparison(comparison: ScenarioComparison, console: Console) -> None:
    """Print the whole-area change per category, with compounds gaining and losing coverage."""
    profile = comparison.scenario.profile
    overall = comparison.by_area[comparison.by_area["area"] == ALL_AREAS]
    by_population = overall["population_share_base"].notna().any()
    measure = "population_share" if by_population else "compound_share"
    shares_of = "居民 residents" if by_population else "小区 compounds"
    table = fitted_table(f"情景 Scenario: {comparison.name} — 覆盖率 coverage ({shares_of})", [
        ("类别\nCategory", "left"), ("现状\nBase", "right"), ("情景\nScenario", "right"),
        ("变化\nChange", "right"), ("新增覆盖\nGain", "right"), ("失去覆盖\nLoss", "right"),
    ])
    labels = category_texts(profile, "\n")
    for row in overall.to_dict("records"):
        label = labels[row["category"]]
        table.add_row(
            escape(label), f"{row[measure + '_base']:.1%}", f"{row[measure + '_scenario']:.1%}",
            f"{row[measure + '_change'] * 100:+.1f} pts",
            _compounds_and_residents(row["n_gained"], row["population_gained"]),
            _compounds_and_residents(row["n_lost"], row["population_lost"]),
        )
    console.print(table)
    for note in comparison.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)


def _compounds_and_residents(compounds: int, residents: float) -> str:
    """``611 小区`` and, when residents are known, ``12,345 人`` below (as the siting table)."""
    text = f"{compounds:,} 小区"
    return text if pd.isna(residents) else f"{text}\n{residents:,.0f} 人"
