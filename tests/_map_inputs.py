"""Hand-built map inputs (layers shaped like a run's, with known answers) for the map tests."""

from __future__ import annotations

import json
import re

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from lifecircle import settings
from lifecircle.analysis.coverage import coverage_table, near_misses
from lifecircle.analysis.network import WalkNetwork, walking_network
from lifecircle.outputs import web_map
from lifecircle.outputs.map_inputs import MapLayers
from lifecircle.profile import Profile

from ._graphs import X0 as GRAPH_X0
from ._graphs import Y0 as GRAPH_Y0
from ._graphs import street_graph

UTM = "EPSG:32651"
# Study area: a 4 km x 3 km rectangle in central Shanghai (UTM 51N metres).
X0, Y0, WIDTH, HEIGHT = 353_000.0, 3_452_000.0, 4_000.0, 3_000.0
#: Compounds with a known nursery walk: 10 m beyond the 300 m threshold, and 2 km beyond it.
NEAR_MISS_ID, FAR_ID = 2, 3


def make_profile(*, sample: bool = False, name: str = "maptest") -> Profile:
    """Two categories, shaped like the huangpu profile."""
    source = {"file": "unused.csv", "x": "lon", "y": "lat"}
    return Profile.model_validate(
        {
            "name": name,
            "title": {"zh": "测试区15分钟生活圈", "en": "Test district 15-minute life circle"},
            "study_area": {"place": "Test district"},
            "walking_speed_kmh": 4.5,
            "categories": {
                "nursery": {
                    "label": {"zh": "幼儿园", "en": "Kindergarten"},
                    "threshold_m": 300,
                    "threshold_source": "GB 50180-2018 Table 3.0.4 (5-minute life circle)",
                    "source": source,
                },
                "culture": {
                    "label": {"zh": "影剧院", "en": "Theatres & cinemas"},
                    "threshold_m": 1000,
                    "threshold_source": "GB 50180-2018 Table 3.0.4 (15-minute life circle)",
                    "source": source,
                },
            },
            "compounds": {"source": source, "households_field": "households"},
            "sample": sample,
        }
    )


def make_map_inputs(
    n_points: int = 200,
    n_polygons: int = 60,
    seed: int = 7,
    profile: Profile | None = None,
    n_facilities: tuple[int, int] = (9, 3),
) -> dict:
    """Consistent hand-built layers: distances are 1.3 x straight-line distance to facilities.

    Returns a dict with compounds, facilities, study_area, sub_districts, service_areas (all
    EPSG:4326) and the profile.
    """
    profile = profile or make_profile()
    rng = np.random.default_rng(seed)
    study = shapely.box(X0, Y0, X0 + WIDTH, Y0 + HEIGHT)
    n = n_points + n_polygons
    xy = np.column_stack(
        [rng.uniform(X0 + 50, X0 + WIDTH - 50, n), rng.uniform(Y0 + 50, Y0 + HEIGHT - 50, n)]
    )
    geoms = [shapely.Point(x, y) for x, y in xy[:n_points]] + [
        shapely.box(x - 30, y - 25, x + 30, y + 25) for x, y in xy[n_points:]
    ]
    households = rng.integers(50, 2500, n).astype(float)
    households[::17] = np.nan
    access = np.array(["ok"] * n, dtype=object)
    access[5::23] = "island"
    access[11::29] = "beyond_snap_limit"
    compounds = pd.DataFrame(
        {
            "compound_id": np.arange(1, n + 1),
            "name": [f"小区{i}号 <Block & {i}>" for i in range(1, n + 1)],
            "households": households,
            "population": households * 2.32,
            "snap_m": rng.uniform(0, 120, n).round(1),
            "access_status": access,
            "sub_district": np.where(xy[:, 0] < X0 + WIDTH / 2, "西街道", "东街道"),
        }
    )
    facility_rows = []
    areas = []
    counts = dict(zip(("nursery", "culture"), n_facilities, strict=True))
    on_net = access == "ok"
    for key, count in counts.items():
        fxy = np.column_stack(
            [rng.uniform(X0, X0 + WIDTH, count), rng.uniform(Y0, Y0 + HEIGHT, count)]
        )
        names = [f"{key}-{i}" for i in range(count)]
        threshold = profile.categories[key].threshold_m
        dist = 1.3 * np.hypot(xy[:, None, 0] - fxy[None, :, 0], xy[:, None, 1] - fxy[None, :, 1])
        nearest = dist.argmin(axis=1)
        d_min = np.where(on_net, dist.min(axis=1), np.nan)
        compounds[f"{key}_dist_m"] = d_min
        compounds[f"{key}_min"] = d_min / profile.walking_speed_m_per_min
        compounds[f"{key}_count"] = np.where(on_net, (dist <= threshold).sum(axis=1), 0)
        compounds[f"{key}_covered"] = d_min <= threshold
        compounds[f"{key}_nearest"] = np.where(on_net, np.array(names)[nearest], None)
        for i, (fx, fy) in enumerate(fxy):
            facility_rows.append(
                {
                    "category": key,
                    "name": names[i],
                    "snap_m": 10.0 * i,
                    "access_status": "ok" if i % 4 else "island",
                    "geometry": shapely.Point(fx, fy),
                }
            )
        area = shapely.union_all([shapely.Point(fx, fy).buffer(threshold / 1.3) for fx, fy in fxy])
        areas.append(
            {
                "category": key,
                "threshold_m": threshold,
                "area_km2": area.area / 1e6,
                "geometry": area,
            }
        )
    _set_walk(compounds, NEAR_MISS_ID, "nursery", 310.0, profile)  # 10 m short
    _set_walk(compounds, FAR_ID, "nursery", 2_300.0, profile)  # 2 km short
    compounds["complete"] = compounds["nursery_covered"] & compounds["culture_covered"]
    thresholds = {k: c.threshold_m for k, c in profile.categories.items()}
    near = near_misses(compounds, thresholds, profile.near_miss_share, list(thresholds))
    compounds[near.columns] = near
    half = X0 + WIDTH / 2
    return {
        "compounds": gpd.GeoDataFrame(compounds, geometry=geoms, crs=UTM).to_crs(4326),
        "facilities": gpd.GeoDataFrame(facility_rows, crs=UTM).to_crs(4326),
        "study_area": gpd.GeoDataFrame({"name": ["测试区"]}, geometry=[study], crs=UTM).to_crs(
            4326
        ),
        "sub_districts": gpd.GeoDataFrame(
            {"name": ["西街道", "东街道"]},
            geometry=[
                shapely.box(X0, Y0, half, Y0 + HEIGHT),
                shapely.box(half, Y0, X0 + WIDTH, Y0 + HEIGHT),
            ],
            crs=UTM,
        ).to_crs(4326),
        "service_areas": gpd.GeoDataFrame(areas, crs=UTM).to_crs(4326),
        "coverage": coverage_table(compounds, list(thresholds), by="sub_district"),
        "profile": profile,
    }


def _set_walk(compounds: pd.DataFrame, compound_id: int, key: str, metres: float, profile) -> None:
    """Give one (on-network) compound a known walk, beyond the threshold, in one category."""
    row = compounds.index[compounds["compound_id"] == compound_id][0]
    assert compounds.loc[row, "access_status"] == "ok"
    compounds.loc[row, [f"{key}_dist_m", f"{key}_min"]] = [
        metres, metres / profile.walking_speed_m_per_min
    ]
    compounds.loc[row, [f"{key}_covered", f"{key}_count"]] = [False, 0]


def grid_network(spacing: float = 250.0, major_every: int = 4) -> WalkNetwork:
    """A street grid over the study area; every ``major_every``-th line is a primary road."""
    nx_, ny_ = int(WIDTH // spacing) + 1, int(HEIGHT // spacing) + 1
    dx, dy = X0 - GRAPH_X0, Y0 - GRAPH_Y0
    nodes = {i * ny_ + j: (dx + i * spacing, dy + j * spacing) for i in range(nx_) for j in range(ny_)}
    edges, classes = [], []
    for i in range(nx_):
        for j in range(ny_):
            if i + 1 < nx_:
                edges.append((i * ny_ + j, (i + 1) * ny_ + j))
                classes.append("primary" if j % major_every == 0 else "residential")
            if j + 1 < ny_:
                edges.append((i * ny_ + j, i * ny_ + j + 1))
                classes.append("primary" if i % major_every == 0 else "residential")
    graph = street_graph(nodes, edges)
    for (u, v), highway in zip(edges, classes, strict=True):
        for a, b in ((u, v), (v, u)):
            graph.edges[a, b, 0]["highway"] = highway
    return walking_network(graph, UTM)


def map_layers(inputs: dict, **changes) -> MapLayers:
    """The hand-built inputs as MapLayers (with the street grid, when made, as context)."""
    fields = {
        "profile": inputs["profile"],
        "compounds": inputs["compounds"],
        "facilities": inputs["facilities"],
        "study_area": inputs["study_area"],
        "sub_districts": inputs["sub_districts"],
        "service_areas": inputs["service_areas"],
        "coverage": inputs["coverage"],
        "network": inputs.get("network"),
        "credits": [settings.osm_attribution],
    }
    return MapLayers(**{**fields, **changes})


def build_map(
    inputs: dict, *, view: str = "coverage", tiles=None, context=None, **changes
) -> folium.Map:
    context = context if context is not None else inputs.get("context")
    return web_map.layers_map(map_layers(inputs, **changes), view=view, tiles=tiles, context=context)


def embedded_compounds(html: str) -> tuple[dict, dict]:
    """The compound columns and metadata embedded in a rendered map."""
    match = re.search(r"lcCompounds\((\{\"g\":.*?\}), (\{\"views\".*?\})\);\n", html, re.S)
    assert match, "compound data not found in the HTML"
    return json.loads(match.group(1)), json.loads(match.group(2))


def decode_numbers(text: str, signed: bool) -> list[int]:
    """Independent decoder of the encoded-polyline alphabet."""
    out, value, shift = [], 0, 0
    for char in text:
        chunk = ord(char) - 63
        value |= (chunk & 31) << shift
        shift += 5
        if chunk < 0x20:
            out.append((value >> 1) ^ -(value & 1) if signed else value)
            value, shift = 0, 0
    return out


def compound_rows(data: dict) -> list[dict]:
    """One dict per embedded compound: id, name, class codes, (lon, lat) of its marker."""
    deltas = np.array(decode_numbers(data["g"]["points"], True)).reshape(-1, 2)
    lat_lon = np.cumsum(deltas, axis=0) / 1e5
    return [
        {"i": data["i"][k], "n": data["n"][k], "s": data["s"][k], "lonlat": lat_lon[k][::-1],
         "c": [{"d": c["d"][k], "k": c["k"][k],
                "f": c["fn"][c["f"][k]] if c["f"][k] >= 0 else None} for c in data["c"]]}
        for k in range(len(data["n"]))
    ]


def ui_config(html: str) -> dict:
    """The configuration of the map's panels (title, coverage table, legend)."""
    match = re.search(r"lcMapUi\(map_\w+, (\{.*?\}), \[", html, re.S)
    assert match, "map panels not found in the HTML"
    return json.loads(match.group(1))



