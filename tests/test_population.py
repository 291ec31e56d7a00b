"""Compound residents: census scaling apportioned by households, and the estimate caveat."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import lifecircle as lc
from lifecircle.analysis.population import population_caveat, scale_to_census


def _compounds():
    households = [10.0, 30.0, 20.0, 20.0, np.nan]
    return pd.DataFrame(
        {
            "households": households,
            "population": [h * 2.5 for h in households],
            "sub_district": ["东", "东", "西", "西", "西"],
        }
    )


def test_census_totals_are_apportioned_by_households():
    profile = lc.load_profile(
        "huangpu",
        population={"source": "census", "census_total": 1000, "census_by_sub_district": {"东": 600},
                    "census_source": "a census"},
    )
    frame, notes = scale_to_census(_compounds(), profile)
    # 东: 600 by households 10 : 30; the rest of the total (400) to 西 by 20 : 20.
    assert frame["population"].tolist()[:4] == pytest.approx([150, 450, 200, 200])
    assert np.isnan(frame["population"].iloc[4])
    assert frame["population_basis"].tolist() == ["census_scaled"] * 4 + ["unknown"]
    assert frame["population_estimate"].tolist()[:4] == [25, 75, 50, 50]
    assert any("of 东: 600" in n and "× 6.00" in n for n in notes)
    assert any("total less the named sub-districts: 400" in n for n in notes)

    result = SimpleNamespace(compounds=pd.concat([_compounds().drop(columns="population"), frame], axis=1),
                             profile=profile)
    caveat = population_caveat(result)
    assert not caveat.estimated and caveat.text == ""
    assert caveat.census_ratio == pytest.approx(1000 / 200)


def test_an_estimate_is_kept_and_flagged_when_not_scaled():
    profile = lc.load_profile(
        "huangpu", population={"census_total": 1000, "scale_compounds": False, "census_source": "c"}
    )
    frame, notes = scale_to_census(_compounds(), profile)
    assert notes == [] and frame["population"].tolist()[:4] == [25, 75, 50, 50]
    assert set(frame["population_basis"][:4]) == {"households_estimate"}
    result = SimpleNamespace(compounds=pd.concat([_compounds().drop(columns="population"), frame], axis=1),
                             profile=profile)
    caveat = population_caveat(result)
    assert caveat.estimated
    assert "households × 2.32" in caveat.text and "(200 in the study area)" in caveat.text
    assert "census total (1,000) is 5.00 × this estimate" in caveat.text


def test_compounds_without_households_cannot_be_scaled():
    profile = lc.load_profile("huangpu", population={"source": "census", "census_total": 1000})
    compounds = _compounds().assign(households=np.nan, population=np.nan)
    frame, notes = scale_to_census(compounds, profile)
    assert frame["population"].isna().all()
    assert notes and "is not apportioned to compounds" in notes[0]
