"""Typed errors and warnings, worded for a planner: what is wrong, where, and what to do."""

from __future__ import annotations


class LifecircleError(Exception):
    """Base class of every error lifecircle raises on purpose."""


class ProfileError(LifecircleError):
    """The study profile (YAML) is missing, malformed or inconsistent."""


class DataError(LifecircleError):
    """An input layer is missing, unreadable, empty or has the wrong columns."""


class CRSError(DataError):
    """A coordinate system is unknown or does not fit the data."""


class NetworkError(LifecircleError):
    """The walking network cannot be built, downloaded or read."""


class OfflineError(NetworkError):
    """OpenStreetMap is unreachable and nothing usable is cached."""


class LifecircleWarning(UserWarning):
    """A data problem that does not stop the run but that the user must see."""
