"""Global settings, in one place (the osmnx way): change them as module attributes.

Examples
--------
>>> import lifecircle as lc
>>> lc.settings.overpass_url = "http://127.0.0.1:8000/api"
"""

from __future__ import annotations

import os
from pathlib import Path

#: Folder for downloaded and cached raw data (one sub-folder per profile).
data_raw_folder: Path = Path("data/raw")
#: Folder for analysis outputs (one sub-folder per profile).
data_processed_folder: Path = Path("data/processed")
#: Folder for interactive and static maps.
maps_folder: Path = Path("maps")

#: Seconds to wait for another lifecircle run that is writing into the same output folder
#: (0: say so and stop at once).
output_lock_timeout_s: float = 0.0

#: Overpass API endpoint used by the online path (osmnx downloads from here).
overpass_url: str = os.environ.get("LIFECIRCLE_OVERPASS_URL", "https://overpass-api.de/api")
#: Nominatim endpoint for place-name geocoding.
nominatim_url: str = os.environ.get(
    "LIFECIRCLE_NOMINATIM_URL", "https://nominatim.openstreetmap.org/"
)
#: Geocoding endpoints for official lists given as addresses (keys come from the environment:
#: LIFECIRCLE_AMAP_KEY, LIFECIRCLE_BAIDU_KEY). AMap answers in GCJ-02, Baidu in BD-09.
amap_geocode_url: str = os.environ.get(
    "LIFECIRCLE_AMAP_GEOCODE_URL", "https://restapi.amap.com/v3/geocode/geo"
)
baidu_geocode_url: str = os.environ.get(
    "LIFECIRCLE_BAIDU_GEOCODE_URL", "https://api.map.baidu.com/geocoding/v3/"
)
#: Seconds between two geocoding requests (the services limit requests per second).
geocode_interval_s: float = 0.35
#: Seconds to wait for one geocoding answer.
geocode_timeout_s: float = 10.0
#: Seconds to wait when probing whether OpenStreetMap services are reachable, before any
#: long download: the user learns within seconds that they are offline.
reachability_timeout_s: float = 3.0
#: Seconds osmnx may wait for one Overpass answer.
requests_timeout_s: float = 180.0
#: Retries of one Overpass request after a rate limit (HTTP 429), an overloaded server
#: (502/503/504), a timeout or a dropped connection; each wait is shown in the progress display.
overpass_max_retries: int = 3
#: Seconds to wait before retry n (times n), unless the server says when (Retry-After).
overpass_retry_wait_s: float = 30.0
#: Longest time (seconds) one Overpass request may take, retries and waits included.
overpass_max_total_s: float = 600.0
#: Retries of one Nominatim (place-name) request after a rate limit, an overloaded server, a
#: timeout or a dropped connection; each wait is reported.
nominatim_max_retries: int = 2
#: Seconds to wait before Nominatim retry n (times n), unless the server says when.
nominatim_retry_wait_s: float = 10.0
#: Longest time (seconds) one Nominatim request may take, retries and waits included.
nominatim_max_total_s: float = 60.0
#: Seconds between two Nominatim requests (its usage policy allows one a second).
nominatim_interval_s: float = 1.0

#: Projected CRS used for all distance work when the profile names none (UTM 51N: Shanghai).
default_projected_crs: str = "EPSG:32651"
#: CRS for maps and data exchange.
exchange_crs: str = "EPSG:4326"

#: Default walking speed, km/h.
walking_speed_kmh: float = 4.5
#: Compounds/facilities farther than this from any walkable edge are flagged, not analysed.
snap_limit_m: float = 250.0
#: A layer whose median snap distance exceeds this is suspicious (e.g. GCJ-02 read as WGS84).
implausible_median_snap_m: float = 120.0
#: Default near-miss margin: compounds not covered but within the threshold plus this share of
#: it (10%) are reported as near misses.
near_miss_share: float = 0.10
#: Average persons per household used when only households are known: Shanghai, 2020 census
#: (第七次全国人口普查, 上海市平均每个家庭户 2.32 人).
persons_per_household: float = 2.32
#: Tolerance (metres) when comparing a distance with a threshold, so that a facility exactly at
#: the threshold is counted as within it despite floating-point rounding.
threshold_tolerance_m: float = 1e-6

#: Siting (``lifecircle site``): default spacing (m) of candidate sites along the walking network.
candidate_spacing_m: float = 100.0
#: Siting: the exact solver (HiGHS) runs when the coverage matrix has at most this many entries
#: (candidate–compound pairs within the threshold); larger problems use the greedy algorithm,
#: reported with its bound (and proven optimal when it meets the LP relaxation). Real districts
#: have 10^4–10^5 entries; HiGHS's time limit is not always honoured on much larger models
#: (benchmarks/README.md: 865 s for a 120 s limit at 1.5 million entries).
siting_exact_max_entries: int = 500_000
#: Siting: seconds the exact solver may take before it returns its best solution and bound.
siting_time_limit_s: float = 60.0
#: Siting: the coverage curve follows the greedy order up to this many new sites.
siting_curve_max_sites: int = 1000

#: OpenStreetMap walking filter applied to ways read from local files. It mirrors the osmnx
#: ``network_type="walk"`` Overpass filter so that file and online networks agree.
walk_excluded_highways: frozenset[str] = frozenset(
    {
        "abandoned",
        "bus_guideway",
        "construction",
        "cycleway",
        "motor",
        "motorway",
        "motorway_link",
        "no",
        "planned",
        "platform",
        "proposed",
        "raceway",
        "razed",
    }
)

#: Data credit shown on every map and report that uses OpenStreetMap data.
osm_attribution: str = "© OpenStreetMap contributors (ODbL)"
