"""lifecircle: measure the 15-minute community life circle (15分钟社区生活圈) of a district."""

from __future__ import annotations

from . import settings
from .errors import (
    CRSError,
    DataError,
    LifecircleError,
    LifecircleWarning,
    NetworkError,
    OfflineError,
    ProfileError,
)
from .pipeline import RunResult, run, write_outputs
from .profile import Profile, builtin_profiles, load_profile
from .report import IndicatorReport, indicator_report, write_report, write_report_bundle

__version__ = "0.1.0"

__all__ = [
    "CRSError",
    "DataError",
    "IndicatorReport",
    "LifecircleError",
    "LifecircleWarning",
    "NetworkError",
    "OfflineError",
    "Profile",
    "ProfileError",
    "RunResult",
    "builtin_profiles",
    "indicator_report",
    "load_profile",
    "run",
    "settings",
    "write_outputs",
    "write_report",
    "write_report_bundle",
]
