"""What-if scenarios: the validated scenario file and the layers it names.

A scenario changes a run: it adds, moves or removes facilities (a file in any supported format
and coordinate system, or points written in the file), adds compounds (new housing with its
households or population), or changes category thresholds. Unknown keys are errors, as in
profiles. Example::

    name: two_new_kindergartens
    title: {zh: 新增两所幼儿园, en: Two new kindergartens}
    facilities:
      add:
        - category: nursery
          crs: gcj02
          points:
            - {name: 新幼儿园A, x: 121.4801, y: 31.2205}
        - {category: nursery, file: proposals.xlsx, crs: bd09, x: lng, y: lat, name_field: 名称}
      remove:
        - {category: nursery, name: 某幼儿园}
        - {category: culture, near: {x: 121.47, y: 31.22}, crs: wgs84, within_m: 20}
      move:
        - {category: nursery, name: 某幼儿园, to: {x: 121.49, y: 31.23}, crs: wgs84}
    compounds:
      add:
        - {crs: wgs84, points: [{name: 新建小区, x: 121.48, y: 31.21, households: 800}]}
    thresholds:
      nursery: 500
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml
from pydantic import Field, ValidationError, model_validator

from .. import settings
from .._profile_base import Label, _FileLayer, _Strict, exactly_one
from .._profile_text import DuplicateKeyError, UniqueKeyLoader, yaml_problem
from ..crs import to_wgs84
from ..errors import DataError, InputFileError, ProfileError
from ..profile import explain_validation, resolve_path
from . import count_columns
from .tables import read_spec


class ScenarioPoint(_Strict):
    """A point written in the scenario (in the coordinate system of its entry)."""

    x: float
    y: float
    name: str = ""
    households: float | None = Field(default=None, ge=0)
    population: float | None = Field(default=None, ge=0)


class _PointsOrFile(_FileLayer):
    """Points written in the scenario, or a file read like a profile layer."""

    points: list[ScenarioPoint] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> _PointsOrFile:
        exactly_one(self, "points", "file")
        return self


class FacilityAddition(_PointsOrFile):
    """New facilities of one category."""

    category: str


class FacilitySelection(_Strict):
    """Existing facilities of one category, chosen by name or by location."""

    category: str
    name: str | None = None
    near: ScenarioPoint | None = None
    crs: str = "wgs84"
    within_m: float = Field(default=10.0, gt=0, le=1000)

    @model_validator(mode="after")
    def _one_selector(self) -> FacilitySelection:
        exactly_one(self, "name", "near")
        return self


class FacilityRemoval(FacilitySelection):
    """Facilities to remove (every one with that name, or within ``within_m`` of ``near``)."""


class FacilityMove(FacilitySelection):
    """One facility to move to ``to`` (the selection must match exactly one facility)."""

    to: ScenarioPoint


class FacilityChanges(_Strict):
    """Facility changes, applied in this order: remove, move, add."""

    add: list[FacilityAddition] = []
    remove: list[FacilityRemoval] = []
    move: list[FacilityMove] = []


class CompoundAddition(_PointsOrFile):
    """New compounds (housing): with households or population (per point, or file columns)."""

    households_field: str | None = None
    population_field: str | None = None


class CompoundChanges(_Strict):
    """Compound changes."""

    add: list[CompoundAddition] = []


class Scenario(_Strict):
    """A validated what-if scenario (see the module documentation for the file format)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    title: Label | None = None
    description: str | None = None
    facilities: FacilityChanges = FacilityChanges()
    compounds: CompoundChanges = CompoundChanges()
    thresholds: dict[str, float] = {}
    base_dir: Path = Path(".")

    @model_validator(mode="after")
    def _positive_thresholds(self) -> Scenario:
        for key, value in self.thresholds.items():
            if not 0 < value <= 5000:
                raise ValueError(f"threshold of {key!r} must be in (0, 5000] m, got {value}")
        return self

    def resolve(self, path: Path | str | None) -> Path | None:
        """A path of the scenario, absolute against the scenario file's folder."""
        return resolve_path(path, self.base_dir)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    Raises
    ------
    InputFileError
        When the file does not exist.
    ProfileError
        When it is not YAML or does not validate; the message names the offending field.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"scenario file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ProfileError(f"scenario {path} is not UTF-8 text: save it as UTF-8") from None
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise ProfileError(f"scenario {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(yaml_problem(exc, f"scenario {path}")) from None
    if not isinstance(data, dict):
        raise ProfileError(f"scenario {path} must be a YAML mapping of scenario fields")
    data.setdefault("base_dir", path.resolve().parent)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(explain_validation(exc, f"scenario {path}")) from None


@dataclass
class ScenarioLayers:
    """The layers a scenario names, read and in WGS84 (EPSG:4326).

    Attributes
    ----------
    added_facilities : dict of str to list of geopandas.GeoDataFrame
        Per category, one layer (``name``, ``geometry``) per ``add`` entry.
    removal_points, move_points, move_targets : list of geopandas.GeoDataFrame or None
        Per ``remove``/``move`` entry, its ``near`` point (None when chosen by name), and
        per ``move`` its ``to`` point.
    added_compounds : geopandas.GeoDataFrame or None
        New compounds with ``name``, ``households``, ``population`` (None when not given).
    """

    added_facilities: dict[str, list[gpd.GeoDataFrame]] = field(default_factory=dict)
    removal_points: list[gpd.GeoDataFrame | None] = field(default_factory=list)
    move_points: list[gpd.GeoDataFrame | None] = field(default_factory=list)
    move_targets: list[gpd.GeoDataFrame] = field(default_factory=list)
    added_compounds: gpd.GeoDataFrame | None = None


def scenario_layers(scenario: Scenario) -> ScenarioLayers:
    """Read every file and point the scenario names, converting declared GCJ-02/BD-09 to WGS84."""
    layers = ScenarioLayers()
    for entry in scenario.facilities.add:
        layer = _read(scenario, entry)[["name", "geometry"]]
        layers.added_facilities.setdefault(entry.category, []).append(layer)
    layers.removal_points = [_near(item) for item in scenario.facilities.remove]
    layers.move_points = [_near(item) for item in scenario.facilities.move]
    layers.move_targets = [
        _points([item.to], item.crs, "scenario move target") for item in scenario.facilities.move
    ]
    compounds = [_compound_layer(scenario, entry) for entry in scenario.compounds.add]
    if compounds:
        layers.added_compounds = gpd.GeoDataFrame(
            pd.concat(compounds, ignore_index=True), crs=settings.exchange_crs
        )
    return layers


def _near(item: FacilitySelection) -> gpd.GeoDataFrame | None:
    return None if item.near is None else _points([item.near], item.crs, "scenario point")


def _points(points: list[ScenarioPoint], crs: str, what: str) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {
            "name": [p.name for p in points],
            "households": [p.households for p in points],
            "population": [p.population for p in points],
        },
        geometry=gpd.points_from_xy([p.x for p in points], [p.y for p in points]),
    )
    return to_wgs84(frame, crs, source=what)


def _read(scenario: Scenario, entry: _PointsOrFile) -> gpd.GeoDataFrame:
    if entry.points is not None:
        return _points(entry.points, entry.crs, "points of the scenario")
    return read_spec(scenario.resolve(entry.file), entry)


#: New compounds' counts: read like the profile's; compounds with neither are reported apart.
_NEW_HOUSING = replace(count_columns.RESIDENT_COUNTS, report_blank=False)


def _compound_layer(scenario: Scenario, entry: CompoundAddition) -> gpd.GeoDataFrame:
    """New compounds with households and population read like the profile's compounds
    (``1,200`` is a number; other text, zeros and negatives are reported or refused)."""
    layer = _read(scenario, entry)
    for role, column in (("households", entry.households_field),
                         ("population", entry.population_field)):
        if entry.file is None:
            column, what = role, f"scenario points: {role}"
        else:
            what = f"{entry.file}: {role}"
        if column is not None and column not in layer.columns:
            raise DataError(
                f"{entry.file}: the {role} column {column!r} ({role}_field:) does not exist; "
                f"its columns: {', '.join(map(str, layer.columns))}"
            )
        layer[role] = count_columns.counts(layer, column, what, _NEW_HOUSING) if column else np.nan
    return layer[["name", "households", "population", "geometry"]]
