"""Base classes of the profile models, shared by :mod:`lifecircle.profile` and its sections."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from .crs import canonical_crs
from .errors import CRSError


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
