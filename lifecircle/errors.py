"""Typed errors and warnings, worded for a planner: what is wrong, where, and what to do.

As in osmnx, every error also subclasses the matching built-in exception, so that code which
catches ``ValueError``, ``FileNotFoundError``, ``OSError`` or ``ConnectionError`` keeps working.
"""

from __future__ import annotations


class LifecircleError(Exception):
    """Base class of every error lifecircle raises on purpose."""


class ProfileError(LifecircleError, ValueError):
    """The study profile (YAML) is missing, malformed or inconsistent."""


class DataError(LifecircleError, ValueError):
    """An input layer is unreadable, empty, has the wrong columns or implausible values."""


class InputFileError(DataError, FileNotFoundError):
    """An input file named by the profile or the command line does not exist or is a folder."""


class CRSError(DataError):
    """A coordinate system is unknown or does not fit the data."""


class NetworkError(LifecircleError, RuntimeError):
    """The walking network cannot be built, downloaded or read."""


class OfflineError(NetworkError, ConnectionError):
    """OpenStreetMap is unreachable and nothing usable is cached."""


class OutputError(LifecircleError, OSError):
    """Results cannot be written: the output folder is unwritable, full, or in use."""


class VerificationError(LifecircleError, AssertionError):
    """A result failed its own cross-check (e.g. a recomputation disagrees with a model's claim).

    This is a defect in lifecircle, not in the inputs: please report it with the inputs.
    """


class LifecircleWarning(UserWarning):
    """A data problem that does not stop the run but that the user must see."""
