"""lifecircle: measure the 15-minute community life circle (15分钟社区生活圈) of a district."""

from __future__ import annotations

from . import settings
from .analysis.indicators import IndicatorReport, indicator_report
from .analysis.result import RunResult
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
)
from .outputs.bundle import write_outputs, write_report, write_report_bundle
from .outputs.web_map import coverage_map
from .pipeline import run
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
    "builtin_profiles",
    "coverage_map",
    "indicator_report",
    "load_profile",
    "run",
    "settings",
    "write_outputs",
    "write_report",
    "write_report_bundle",
]
