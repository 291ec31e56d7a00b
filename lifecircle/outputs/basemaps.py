"""Background tiles for online maps: OpenStreetMap, and Chinese providers with their offsets.

Maps are offline by default (no tiles: they draw their own streets, water and boundaries).
A user with internet may ask for tiles. Chinese commercial basemaps (AMap/高德, Tencent) are
drawn in GCJ-02: WGS84 data on them lands 100–700 m off, so with a GCJ-02 basemap every layer
of the map is shifted to GCJ-02 first (:func:`lifecircle.crs.wgs84_to_gcj02`) and the map says
so. Tianditu (天地图, the national service) uses CGCS2000, which agrees with WGS84 within
centimetres, and needs a (free) key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .. import settings
from ..errors import ProfileError

#: Environment variable holding a Tianditu (天地图) key for ``tiles="tianditu"``.
TIANDITU_KEY_VARIABLE = "LIFECIRCLE_TIANDITU_KEY"


@dataclass(frozen=True)
class Basemap:
    """A tile layer (Leaflet URL template) with its credit and its coordinate system.

    Attributes
    ----------
    name : str
        Short name, e.g. ``"osm"``.
    url : str
        Leaflet tile URL template (``{z}/{x}/{y}``, ``{s}`` for subdomains).
    attribution : str
        Credit shown on the map (plain text).
    crs : str
        ``"wgs84"`` or ``"gcj02"``: the system the tiles are drawn in.
    subdomains : str
        Characters substituted for ``{s}``.
    labels_url : str or None
        A second, transparent tile layer with place names (Tianditu's annotation layer).
    max_zoom : int
        Deepest zoom the provider serves.
    """

    name: str
    url: str
    attribution: str
    crs: str = "wgs84"
    subdomains: str = "abc"
    labels_url: str | None = None
    max_zoom: int = 19

    def __post_init__(self) -> None:
        if self.crs not in ("wgs84", "gcj02"):
            raise ProfileError(
                f"basemap {self.name!r}: crs must be 'wgs84' or 'gcj02', not {self.crs!r}"
            )

    @property
    def gcj02(self) -> bool:
        """Whether layers must be shifted to GCJ-02 to sit on these tiles."""
        return self.crs == "gcj02"


OSM = Basemap(
    "osm",
    "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    settings.osm_attribution,
    subdomains="",
)
AMAP = Basemap(
    "amap",
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}",
    "© 高德地图 AutoNavi (GCJ-02)",
    crs="gcj02",
    subdomains="1234",
    max_zoom=18,
)
_TIANDITU = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
    "&TILECOL={x}&tk={key}"
)


def tianditu(key: str) -> Basemap:
    """Tianditu (天地图) vector basemap with its annotation layer; ``key`` from tianditu.gov.cn."""
    if not key or not key.strip():
        raise ProfileError(
            "the Tianditu (天地图) basemap needs a key: get a free one at "
            f"https://console.tianditu.gov.cn and set ${TIANDITU_KEY_VARIABLE}"
        )
    key = key.strip()
    return Basemap(
        "tianditu",
        _TIANDITU.replace("{layer}", "vec").replace("{key}", key),
        "© 天地图 Tianditu (CGCS2000)",
        subdomains="01234567",
        labels_url=_TIANDITU.replace("{layer}", "cva").replace("{key}", key),
        max_zoom=18,
    )


#: Names accepted by ``tiles=`` (and ``--basemap``).
BASEMAP_NAMES = ("osm", "amap", "tianditu")


def resolve_basemap(tiles: bool | str | Basemap | None) -> Basemap | None:
    """The basemap asked for, or None for an offline map.

    Parameters
    ----------
    tiles : bool, str, Basemap or None
        ``None``/``False``: no tiles (offline, the default); ``True`` or ``"osm"``:
        OpenStreetMap; ``"amap"``: AMap (GCJ-02); ``"tianditu"``: Tianditu with the key in
        ``$LIFECIRCLE_TIANDITU_KEY``; a :class:`Basemap` for any other provider.

    Returns
    -------
    Basemap or None

    Raises
    ------
    ProfileError
        For an unknown name, or Tianditu without a key.
    """
    if tiles is None or tiles is False:
        return None
    if tiles is True:
        return OSM
    if isinstance(tiles, Basemap):
        return tiles
    name = str(tiles).strip().lower()
    if name == "osm":
        return OSM
    if name == "amap":
        return AMAP
    if name == "tianditu":
        return tianditu(os.environ.get(TIANDITU_KEY_VARIABLE, ""))
    raise ProfileError(
        f"unknown basemap {tiles!r}: use osm (OpenStreetMap), amap (高德地图 AMap) or "
        "tianditu (天地图); in Python, a lifecircle.outputs.basemaps.Basemap gives any other"
    )
