"""Study profiles: the validated description of one study (pydantic models).

Nothing else in lifecircle reads YAML. A profile names the study area, the walking network,
the facility categories with their thresholds (each citing its source), the residential
compounds, optional sub-district boundaries, population settings and the targets to check.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import settings
from .errors import ProfileError

_ENV_PATTERN = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class _Strict(BaseModel):
    # Unknown keys are typos until proven otherwise: reject them with the field's name.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Strict):
    """A bilingual label (中文 / English)."""

    zh: str
    en: str

    def __str__(self) -> str:
        return f"{self.zh} / {self.en}"


class LayerSource(_Strict):
    """Where a point or polygon layer comes from: OpenStreetMap tags and/or a table file.

    Exactly one of ``osm_tags`` or ``file`` must be given.
    """

    osm_tags: dict[str, bool | str | list[str]] | None = None
    file: Path | None = None
    crs: str = "wgs84"
    x: str | None = None
    y: str | None = None
    layer: str | None = None
    sheet: str | int | None = None
    name_field: str | None = None
    where: dict[str, str | list[str]] | None = None
    credit: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> LayerSource:
        if (self.osm_tags is None) == (self.file is None):
            raise ValueError("give exactly one of 'osm_tags' or 'file'")
        return self


class Category(_Strict):
    """One facility category with its walking threshold."""

    label: Label
    threshold_m: float = Field(gt=0, le=5000)
    threshold_source: str = Field(min_length=3)
    required: bool = True
    source: LayerSource


class StudyArea(_Strict):
    """The study area: a polygon file, an OSM place name, or a Chinese district name."""

    district: str | None = None
    place: str | None = None
    file: Path | None = None
    crs: str = "wgs84"
    where: dict[str, str | list[str]] | None = None
    label: Label | None = None

    @model_validator(mode="after")
    def _one_source(self) -> StudyArea:
        given = [k for k in ("district", "place", "file") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of 'district', 'place' or 'file' (got {given or 'none'})"
            )
        return self


class NetworkSource(_Strict):
    """The walking network: OpenStreetMap online (with cache) or a local OSM file."""

    source: Literal["osm_online", "osm_file"] = "osm_online"
    osm_file: Path | None = None

    @model_validator(mode="after")
    def _file_given(self) -> NetworkSource:
        if self.source == "osm_file" and self.osm_file is None:
            raise ValueError("source 'osm_file' needs 'osm_file: path/to/extract.osm(.bz2|.pbf)'")
        return self


class Compounds(_Strict):
    """Residential compounds (小区): points or polygons with optional population columns."""

    source: LayerSource
    households_field: str | None = None
    population_field: str | None = None
    persons_per_household: float = Field(default=settings.persons_per_household, gt=0, le=10)


class SubDistricts(_Strict):
    """Sub-district (街道/镇) boundaries."""

    file: Path | None = None
    osm_admin_level: int | None = None
    crs: str = "wgs84"
    name_field: str = "name"
    population: dict[str, float] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SubDistricts:
        if (self.file is None) == (self.osm_admin_level is None):
            raise ValueError("give exactly one of 'file' or 'osm_admin_level'")
        return self


class Target(_Strict):
    """A target to check: a coverage share for one category (or ``complete``)."""

    category: str
    measure: Literal["population_share", "compound_share"] = "population_share"
    minimum: float = Field(ge=0, le=1)
    label: Label | None = None
    source: str | None = None


class Profile(_Strict):
    """A validated study profile.

    Use :func:`load_profile` to read one from YAML; paths in it are resolved against
    ``base_dir`` (the profile file's folder, or the working folder for built-in profiles).
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    title: Label
    study_area: StudyArea
    network: NetworkSource = NetworkSource()
    projected_crs: str = settings.default_projected_crs
    walking_speed_kmh: float = Field(default=settings.walking_speed_kmh, gt=0, le=10)
    snap_limit_m: float = Field(default=settings.snap_limit_m, gt=0, le=2000)
    categories: dict[str, Category] = Field(min_length=1)
    compounds: Compounds
    sub_districts: SubDistricts | None = None
    targets: list[Target] = []
    total_population: float | None = Field(default=None, gt=0)
    sample: bool = False
    base_dir: Path = Path(".")

    @field_validator("categories")
    @classmethod
    def _category_keys(cls, value: dict[str, Category]) -> dict[str, Category]:
        for key in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
                raise ValueError(f"category key {key!r} must be lower_snake_case ascii")
            if key == "complete":
                raise ValueError("'complete' is reserved for the complete life circle")
        return value

    @model_validator(mode="after")
    def _targets_name_categories(self) -> Profile:
        known = set(self.categories) | {"complete"}
        for target in self.targets:
            if target.category not in known:
                raise ValueError(
                    f"target names category {target.category!r}, which the profile does not "
                    f"define; known: {sorted(known)}"
                )
        return self

    @property
    def max_threshold_m(self) -> float:
        """The largest category threshold: the study area is buffered by it for the network."""
        return max(c.threshold_m for c in self.categories.values())

    @property
    def walking_speed_m_per_min(self) -> float:
        """Walking speed in metres per minute."""
        return self.walking_speed_kmh * 1000.0 / 60.0

    def resolve(self, path: Path | str | None) -> Path | None:
        """Return ``path`` made absolute against the profile's ``base_dir``."""
        if path is None:
            return None
        path = Path(_expand_env(str(path))).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()


def _expand_env(text: str) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` (shell style) in ``text``."""

    def _sub(match: re.Match[str]) -> str:
        value = os.environ.get(match["name"])
        if value:
            return value
        if match["default"] is not None:
            return match["default"]
        raise ProfileError(
            f"the profile uses ${{{match['name']}}}, but that environment variable is not set"
        )

    return _ENV_PATTERN.sub(_sub, text)


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped with lifecircle.

    Returns
    -------
    list of str
        Profile names usable with :func:`load_profile`, e.g. ``"changning"``.
    """
    folder = resources.files("lifecircle") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_profile(name_or_path: str | Path, **overrides: Any) -> Profile:
    """Read and validate a study profile.

    Parameters
    ----------
    name_or_path : str or Path
        A built-in profile name (see :func:`builtin_profiles`) or a path to a YAML file.
    **overrides
        Top-level fields to replace after reading (e.g. ``snap_limit_m=150``).

    Returns
    -------
    Profile
        The validated profile; relative paths inside it resolve against the YAML file's
        folder (built-in profiles: the current working folder).

    Raises
    ------
    ProfileError
        When the file is missing, is not YAML, or does not validate; the message names
        the offending field.
    """
    text, source, base_dir = _read_profile_text(name_or_path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"{source} must be a YAML mapping of profile fields")
    data.update(overrides)
    data.setdefault("base_dir", base_dir)
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_explain_validation(exc, source)) from None


def _read_profile_text(name_or_path: str | Path) -> tuple[str, str, Path]:
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise ProfileError(
                f"profile file {path} does not exist; built-in profiles: "
                f"{', '.join(builtin_profiles())}"
            )
        return path.read_text(encoding="utf-8"), str(path), path.resolve().parent
    resource = resources.files("lifecircle") / "profiles" / f"{name_or_path}.yaml"
    if not resource.is_file():
        raise ProfileError(
            f"unknown profile {str(name_or_path)!r}: give a YAML file path or one of the "
            f"built-in profiles: {', '.join(builtin_profiles())}"
        )
    return resource.read_text(encoding="utf-8"), f"built-in profile {name_or_path!r}", Path.cwd()


def _explain_validation(exc: ValidationError, source: str) -> str:
    lines = [f"{source} has {exc.error_count()} problem(s):"]
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field (a typo?)"
        lines.append(f"  - {where}: {message}")
    return "\n".join(lines)
