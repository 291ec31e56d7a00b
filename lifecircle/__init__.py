"""lifecircle: measure the 15-minute community life circle (15分钟社区生活圈) of a district."""

from __future__ import annotations

from . import settings
from .analysis.indicators import IndicatorReport, indicator_report
from .analysis.result import RunResult
from .analysis.scenarios import ScenarioComparison
from .analysis.siting import SitingPlan
from .errors import (
    CRSError,
    DataError,
    InputFileError,
    LifecircleError,
    LifecircleWarning,
    NetworkError,
    OfflineError,
    OutputError,
    ProfileError,
    VerificationError,
)
from .outputs.bundle import write_outputs, write_report, write_report_bundle
from .outputs.scenario_outputs import write_comparison
from .outputs.siting_outputs import write_siting
from .outputs.web_map import coverage_map
from .pipeline import run
from .planning import compare, site
from .profile import Profile, builtin_profiles, load_profile

__version__ = "0.1.0"

__all__ = [
    "CRSError",
    "DataError",
    "IndicatorReport",
    "InputFileError",
    "LifecircleError",
    "LifecircleWarning",
    "NetworkError",
    "OfflineError",
    "OutputError",
    "Profile",
    "ProfileError",
    "RunResult",
    "ScenarioComparison",
    "SitingPlan",
    "VerificationError",
    "builtin_profiles",
    "compare",
    "coverage_map",
    "indicator_report",
    "load_profile",
    "run",
    "settings",
    "site",
    "write_outputs",
    "write_report",
    "write_comparison",
    "write_report_bundle",
    "write_siting",
]
