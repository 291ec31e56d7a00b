"""RunResult: everything one run computed, the one object that analysis hands to outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from ..profile import Profile
from .access import AccessGraph
from .network import WalkNetwork


@dataclass(frozen=True)
class RunLayers:
    """The layers a run's results are computed from, as loaded: what a recomputation changes.

    Attributes
    ----------
    compounds : geopandas.GeoDataFrame
        The compounds as read (EPSG:4326): numbered ``compound_id``, ``households``,
        ``population`` (before any scaling to census totals) and the file's columns.
    gates : tuple of (geopandas.GeoSeries, pandas.DataFrame) or None
        The compounds' gates and which compound each belongs to (None without gates).
    facility_layers : dict of str to geopandas.GeoDataFrame
        Per category, the facilities (EPSG:4326) after merging the registers, in run order.
    """

    compounds: gpd.GeoDataFrame
    gates: tuple[gpd.GeoSeries, pd.DataFrame] | None
    facility_layers: dict[str, gpd.GeoDataFrame]


@dataclass
class RunResult:
    """Everything one run computed; what the outputs write and notebooks inspect.

    Attributes
    ----------
    profile : Profile
    study_area : geopandas.GeoDataFrame
        The study-area polygon (EPSG:4326).
    sub_districts : geopandas.GeoDataFrame or None
    network : WalkNetwork
        The projected walking network (study area buffered by the largest threshold).
    access_graph : AccessGraph
    compounds : geopandas.GeoDataFrame
        One row per compound inside the study area (EPSG:4326) with population, snap, status
        and per-category distance/time/count/covered columns (names in
        :mod:`lifecircle.schema`), and ``complete``.
    facilities : geopandas.GeoDataFrame
        All facilities (EPSG:4326) with ``category``, ``name``, snap distance and status.
    facility_snaps : dict of str to pandas.DataFrame
        Per category, the snaps (network CRS), aligned with that category's facilities.
    coverage : pandas.DataFrame
        From :func:`lifecircle.analysis.coverage.coverage_table` (by sub-district when known).
    targets : pandas.DataFrame
        From :func:`lifecircle.analysis.coverage.check_targets`.
    facility_audit : pandas.DataFrame
        Completeness audit of the facility registers, per category and register
        (:data:`lifecircle.sources.registers.AUDIT_COLUMNS`).
    excluded_facilities : pandas.DataFrame
        Register entries excluded as closed or out of scope, with the reason and whether they
        lie inside the study area.
    inputs : dict
        Role → file or source description (for the manifest).
    credits : list of str
        Data-source credits to show on maps and reports.
    timings : dict
        Step → seconds.
    notes : list of str
        Warnings raised during the run, for the manifest and reports.
    water : geopandas.GeoDataFrame or None
        Water areas and river lines (EPSG:4326) around the study area, drawn as context on
        maps without tiles; None when the network's source has none.
    layers : RunLayers or None
        The loaded layers the results come from (for :func:`lifecircle.evaluation.recompute`).
    recomputed : bool
        True for a run recomputed with other facilities, compounds or thresholds (a scenario,
        a siting plan's ``after``): not the study's own run, so never written as its results.
    """

    profile: Profile
    study_area: gpd.GeoDataFrame
    sub_districts: gpd.GeoDataFrame | None
    network: WalkNetwork
    access_graph: AccessGraph
    compounds: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    facility_snaps: dict[str, pd.DataFrame]
    coverage: pd.DataFrame
    targets: pd.DataFrame
    facility_audit: pd.DataFrame = field(default_factory=pd.DataFrame)
    excluded_facilities: pd.DataFrame = field(default_factory=pd.DataFrame)
    inputs: dict[str, Any] = field(default_factory=dict)
    credits: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    water: gpd.GeoDataFrame | None = None
    layers: RunLayers | None = None
    recomputed: bool = False

    @property
    def categories(self) -> list[str]:
        """Category keys in profile order."""
        return list(self.profile.categories)
