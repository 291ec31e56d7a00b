"""Base classes of the profile models, shared by :mod:`lifecircle.profile` and its sections."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from .crs import canonical_crs
from .errors import CRSError


def exactly_one(model: BaseModel, first: str, second: str) -> None:
    """Refuse a section that gives both or neither of two alternative keys."""
    if (getattr(model, first) is None) == (getattr(model, second) is None):
        raise ValueError(f"give exactly one of '{first}' or '{second}'")


def with_preset(data: Any, presets: Mapping[str, Mapping[str, Any]], value_key: str) -> Any:
    """A section's keys over those of its named ``preset`` (keys given win; ``value_key``
    must not be given too)."""
    if not (isinstance(data, dict) and data.get("preset") in presets):
        return data
    if data.get(value_key) is not None:
        raise ValueError(f"give either 'preset' or '{value_key}', not both")
    given = {key: value for key, value in data.items() if value is not None}
    return {**presets[data["preset"]], **given}


class _Strict(BaseModel):
    # Unknown keys are typos until proven otherwise: reject them with the field's name.
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("crs", check_fields=False)
    @classmethod
    def _known_crs(cls, value: str) -> str:
        """Check declared coordinate systems when the profile is read, not mid-run."""
        try:
            canonical_crs(value)
        except CRSError as exc:
            raise ValueError(str(exc)) from None
        return value


class _FileLayer(_Strict):
    """How to read a layer file: its coordinate system, columns, layer or sheet, and a filter.

    Shared by profile layer sources and scenario files, which read files the same way
    (:func:`lifecircle.sources.tables.read_layer`).
    """

    file: Path | None = None
    crs: str = "wgs84"
    x: str | None = None
    y: str | None = None
    layer: str | None = None
    sheet: str | int | None = None
    name_field: str | None = None
    where: dict[str, str | list[str]] | None = None


class Label(_Strict):
    """A bilingual label (中文 / English)."""

    zh: str
    en: str

    def __str__(self) -> str:
        return f"{self.zh} / {self.en}"
