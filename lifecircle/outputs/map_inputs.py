"""What a map draws: :class:`MapLayers`, gathered once from a run for every map of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from .. import settings
from ..analysis import gaps
from ..analysis.network import WalkNetwork
from ..analysis.result import RunResult
from ..profile import Profile

_GAP_LAND = "gap_land_"


@dataclass
class MapLayers:
    """Everything a map draws, in any CRS (converted when drawn).

    Attributes
    ----------
    profile : Profile
    compounds : geopandas.GeoDataFrame
        The run's compound table (columns of :mod:`lifecircle.schema`).
    facilities : geopandas.GeoDataFrame
        With ``category``, ``name``, ``snap_m``, ``access_status``.
    study_area : geopandas.GeoDataFrame
    sub_districts : geopandas.GeoDataFrame or None
        With ``name``.
    service_areas : geopandas.GeoDataFrame or None
        With ``category`` (from :func:`lifecircle.analysis.gaps.result_service_areas`).
    gap_land : mapping of str to geopandas.GeoDataFrame
        Residential land outside the service area, by category key or ``complete``.
    coverage : pandas.DataFrame or None
        ``result.coverage``: the percentages shown on maps.
    network : WalkNetwork or None
        Drawn as the street underlay of maps without tiles.
    water : geopandas.GeoDataFrame or None
        Water areas and lines, drawn as context.
    credits : sequence of str
    """

    profile: Profile
    compounds: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    study_area: gpd.GeoDataFrame
    sub_districts: gpd.GeoDataFrame | None = None
    service_areas: gpd.GeoDataFrame | None = None
    gap_land: Mapping[str, gpd.GeoDataFrame] = field(default_factory=dict)
    coverage: pd.DataFrame | None = None
    network: WalkNetwork | None = None
    water: gpd.GeoDataFrame | None = None
    credits: Sequence[str] = (settings.osm_attribution,)


def result_layers(
    result: RunResult,
    *,
    service_areas: gpd.GeoDataFrame | None = None,
    gap_layers: Mapping[str, gpd.GeoDataFrame] | None = None,
    with_gaps: bool = False,
) -> MapLayers:
    """The layers of a run's maps.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    service_areas : geopandas.GeoDataFrame, optional
        From :func:`lifecircle.analysis.gaps.result_service_areas`.
    gap_layers : mapping, optional
        From :func:`lifecircle.analysis.gaps.gap_layers`; its ``gap_land_*`` layers are kept.
    with_gaps : bool
        Compute the service areas and gap layers when they are not given.

    Returns
    -------
    MapLayers
    """
    if with_gaps:
        if service_areas is None:
            service_areas = gaps.result_service_areas(result)
        if gap_layers is None:
            gap_layers = gaps.gap_layers(result, service_areas)
    return MapLayers(
        profile=result.profile,
        compounds=result.compounds,
        facilities=result.facilities,
        study_area=result.study_area,
        sub_districts=result.sub_districts,
        service_areas=service_areas,
        gap_land={k.removeprefix(_GAP_LAND): v for k, v in (gap_layers or {}).items()
                  if k.startswith(_GAP_LAND) and not v.empty},
        coverage=result.coverage,
        network=result.network,
        water=result.water,
        credits=result.credits,
    )
