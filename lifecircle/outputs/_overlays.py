"""Point layers drawn over a coverage map (new sites, compounds that gain or lose coverage)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import folium
import geopandas as gpd
from branca.element import Element

from .. import settings
from ._geo import feature_collection, round_coordinates
from .map_layers import number_elements, safe_markup


def point_layer(
    fmap: folium.Map,
    points: gpd.GeoDataFrame,
    texts: Sequence[dict[str, str]],
    name: str,
    marker: folium.CircleMarker,
    *,
    popup: dict[str, str] | None = None,
    show: bool = True,
) -> None:
    """Add points as a toggleable layer, with a tooltip (the first text) and an optional popup.

    Parameters
    ----------
    fmap : folium.Map
        The map to add to.
    points : geopandas.GeoDataFrame
        Points or polygons (drawn at a representative point), any CRS.
    texts : sequence of dict
        Per feature, field → text; every text is HTML-escaped here.
    name : str
        The layer's name in the layer list.
    marker : folium.CircleMarker
        How a point looks.
    popup : dict, optional
        Field → bilingual label of the popup rows (plain text, escaped here).
    show : bool
        Shown when the map opens.
    """
    located = points.to_crs(settings.exchange_crs).representative_point()
    props = [{k: html.escape(str(v)) for k, v in row.items()} for row in texts]
    fields = list(props[0]) if props else ["label"]
    layer = folium.GeoJson(
        feature_collection(round_coordinates(located), props),
        name=safe_markup(name),
        marker=marker,
        tooltip=folium.GeoJsonTooltip(fields=fields[:1], labels=False),
        popup=(
            folium.GeoJsonPopup(fields=list(popup), aliases=[safe_markup(a) for a in popup.values()])
            if popup else None
        ),
        show=show,
    )
    # Deterministic ids for the new elements only: renumbering the whole map would rename the
    # layers its controls already refer to.
    number_elements(layer, f"x{len(fmap._children):03d}", width=3)
    layer.add_to(fmap)
    _before_layer_control(fmap, layer)


def _before_layer_control(fmap: folium.Map, layer: Element) -> None:
    """Move ``layer`` before the map's layer control: the control's script names the layers
    and must come after them."""
    keys = list(fmap._children)
    controls = [k for k in keys if isinstance(fmap._children[k], folium.LayerControl)]
    if not controls:
        return
    after = keys[keys.index(controls[0]) :]
    for key in after:
        if fmap._children[key] is not layer:
            fmap._children.move_to_end(key)
