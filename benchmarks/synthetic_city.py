"""A generated, street-like city written as real files: ``.osm.pbf``, CSV layers, a profile.

Used by the scale benchmark (100,000 and 1,000,000 network nodes) and by tests (a few thousand
nodes), so that the whole file path of ``lifecircle report`` runs on known, reproducible inputs.

The street network is a jittered lattice of intersections (80 m blocks by default) with about
12% of the block edges removed (irregular blocks, dead ends, bends), 30% of the edges curved by
one to three shape nodes, long ways spanning several blocks (residential, with secondary and
primary every few rows), diagonal footways across 3% of the blocks, small unconnected paths
(islands), and ways that the walking filter must drop (motorways, ``access=private``,
``foot=no``, ``highway=construction``). Compounds and facilities stand back from random
streets, denser towards the centre; a few compounds lie beyond the snap limit. The city sits on
Shanghai (UTM 51N), so the built-in district boundaries overlap it.

The file is written with pyosmium (``osmium``), the maintained Python binding of libosmium.

Example::

    python benchmarks/synthetic_city.py --nodes 100000 --out benchmarks/results/city_100k
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

PROJECTED_CRS = "EPSG:32651"
#: Centre of the generated city (People's Square, Shanghai) in UTM 51N metres.
CENTRE_X, CENTRE_Y = 354_500.0, 3_455_800.0
#: Share of lattice nodes that remain network nodes after simplification (measured: removed
#: edges turn some intersections into bends, which simplification merges).
_NETWORK_NODE_SHARE = 0.93
#: Parks: squares of this half-width (in blocks) with no streets; a few compounds lie inside,
#: beyond the snap limit.
_PARK_RADIUS_BLOCKS = 4
#: Categories: key → (threshold m, share of the facilities, Chinese and English label).
CATEGORIES: dict[str, tuple[float, float, str, str]] = {
    "nursery": (300.0, 0.40, "托育", "Nursery"),
    "elderly_care": (500.0, 0.25, "养老", "Elderly care"),
    "culture": (1000.0, 0.20, "文化", "Culture"),
    "shelter": (1000.0, 0.15, "应急避难", "Emergency shelter"),
}


@dataclass
class Streets:
    """Generated OSM nodes (metres, with their OSM ids) and ways (node positions, tags)."""

    node_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    ways: list[tuple[list[int], dict[str, str]]]
    parks: np.ndarray


def _lattice(side: int, spacing: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.divmod(np.arange(side * side), side)
    half = side * spacing / 2
    x = CENTRE_X - half + j * spacing + rng.uniform(-0.15, 0.15, side * side) * spacing
    y = CENTRE_Y - half + i * spacing + rng.uniform(-0.15, 0.15, side * side) * spacing
    return x, y


def _street_edges(
    side: int, parks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kept block edges (a, b, horizontal?) of the lattice: about 12% removed, none in parks."""
    nodes = np.arange(side * side).reshape(side, side)
    horizontal = np.c_[nodes[:, :-1].ravel(), nodes[:, 1:].ravel()]
    vertical = np.c_[nodes[:-1, :].T.ravel(), nodes[1:, :].T.ravel()]
    edges = np.r_[horizontal, vertical]
    is_h = np.r_[np.ones(len(horizontal), bool), np.zeros(len(vertical), bool)]
    keep = rng.random(len(edges)) > 0.12
    for park in parks.tolist():
        pi, pj = divmod(park, side)
        ei, ej = np.divmod(edges[:, 0], side)
        keep &= np.maximum(abs(ei - pi), abs(ej - pj)) > _PARK_RADIUS_BLOCKS
    return edges[keep, 0], edges[keep, 1], is_h[keep]


def _parks(side: int, rng: np.random.Generator) -> np.ndarray:
    """Lattice nodes at the centres of parks (squares with no streets)."""
    inner = np.arange(side * side)
    i, j = np.divmod(inner, side)
    margin = _PARK_RADIUS_BLOCKS + 1
    inner = inner[(i > margin) & (i < side - margin) & (j > margin) & (j < side - margin)]
    count = max(1, side * side // 40_000)
    return rng.choice(inner, size=min(count, len(inner)), replace=False) if len(inner) else inner


def _highway(row: int) -> str:
    if row % 10 == 0:
        return "primary"
    if row % 5 == 0:
        return "secondary"
    return "residential"


def _runs(a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """Split a row's edges (sorted along the row) into runs of contiguous edges."""
    breaks = np.flatnonzero(a[1:] != b[:-1]) + 1
    return np.split(np.arange(len(a)), breaks)


def generate_streets(n_nodes: int, seed: int = 0, spacing_m: float = 80.0) -> Streets:
    """Generate the street network of a city with about ``n_nodes`` walking-network nodes.

    Parameters
    ----------
    n_nodes : int
        Target number of nodes of the simplified walking network.
    seed : int
        Random seed (the same seed gives the same city).
    spacing_m : float
        Mean block length.

    Returns
    -------
    Streets
    """
    rng = np.random.default_rng(seed)
    side = max(4, int(round(np.sqrt(n_nodes / _NETWORK_NODE_SHARE))))
    x, y = _lattice(side, spacing_m, rng)
    parks = _parks(side, rng)
    a, b, is_h = _street_edges(side, parks, rng)
    xs, ys = [x], [y]
    next_node = side * side

    # Curved streets: 1-3 shape nodes bowing sideways, stored per edge.
    shapes: dict[int, list[int]] = {}
    curved = np.flatnonzero(rng.random(len(a)) < 0.30)
    n_shape = rng.integers(1, 4, len(curved))
    bow = rng.uniform(-0.1, 0.1, len(curved)) * spacing_m
    for edge, k, offset in zip(curved.tolist(), n_shape.tolist(), bow.tolist(), strict=True):
        t = np.arange(1, k + 1) / (k + 1)
        dx, dy = x[b[edge]] - x[a[edge]], y[b[edge]] - y[a[edge]]
        norm = np.hypot(dx, dy)
        sx = x[a[edge]] + t * dx - dy / norm * offset * np.sin(np.pi * t)
        sy = y[a[edge]] + t * dy + dx / norm * offset * np.sin(np.pi * t)
        shapes[edge] = list(range(next_node, next_node + k))
        next_node += k
        xs.append(sx)
        ys.append(sy)

    ways = _lattice_ways(a, b, is_h, side, shapes, rng)
    extra_x, extra_y, extra_ways, next_node = _extra_ways(x, y, side, spacing_m, next_node, rng)
    xs += extra_x
    ys += extra_y
    ways += extra_ways
    all_x, all_y = np.concatenate(xs), np.concatenate(ys)
    # OSM ids: a random permutation, so that nothing can depend on generation order.
    node_id = rng.permutation(len(all_x)).astype(np.int64) + 1_000_000
    return Streets(node_id=node_id, x=all_x, y=all_y, ways=ways, parks=parks)


def _lattice_ways(
    a: np.ndarray,
    b: np.ndarray,
    is_h: np.ndarray,
    side: int,
    shapes: dict[int, list[int]],
    rng: np.random.Generator,
) -> list[tuple[list[int], dict[str, str]]]:
    ways = []
    edge_ids = np.arange(len(a))
    row = np.where(is_h, a // side, a % side)
    along = np.where(is_h, a % side, a // side)
    order = np.lexsort((along, row, ~is_h))
    for horizontal in (True, False):
        sel = order[is_h[order] == horizontal]
        rows = row[sel]
        for r in np.unique(rows):
            in_row = sel[rows == r]
            for run in _runs(a[in_row], b[in_row]):
                edges = edge_ids[in_row[run]]
                # Ways of 2-12 blocks, as mappers draw them.
                cuts = np.cumsum(rng.integers(2, 13, len(edges)))
                for piece in np.split(edges, cuts[cuts < len(edges)]):
                    refs = [int(a[piece[0]])]
                    for e in piece.tolist():
                        refs += shapes.get(e, []) + [int(b[e])]
                    tags = {"highway": _highway(int(r))}
                    if rng.random() < 0.01:
                        tags |= {"access": "private"}  # gated: dropped by the walking filter
                    elif rng.random() < 0.01:
                        tags |= {"access": "private", "foot": "yes"}  # kept
                    ways.append((refs, tags))
    return ways


def _extra_ways(
    x: np.ndarray,
    y: np.ndarray,
    side: int,
    spacing: float,
    next_node: int,
    rng: np.random.Generator,
) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[list[int], dict[str, str]]], int]:
    """Footway diagonals, islands and non-walkable ways."""
    ways: list[tuple[list[int], dict[str, str]]] = []
    xs, ys = [], []
    n_blocks = (side - 1) ** 2
    corner = np.flatnonzero(rng.random(n_blocks) < 0.03)
    ci, cj = np.divmod(corner, side - 1)
    for i, j in zip(ci.tolist(), cj.tolist(), strict=True):
        ways.append(([i * side + j, (i + 1) * side + j + 1], {"highway": "footway"}))
    # Islands: a short path inside 0.1% of the blocks, joined to nothing.
    island = np.flatnonzero(rng.random(n_blocks) < 0.001)
    ii, ij = np.divmod(island, side - 1)
    for i, j in zip(ii.tolist(), ij.tolist(), strict=True):
        base = i * side + j
        px = x[base] + spacing * np.array([0.3, 0.5, 0.7])
        py = y[base] + spacing * np.array([0.6, 0.65, 0.6])
        xs.append(px)
        ys.append(py)
        ways.append((list(range(next_node, next_node + 3)), {"highway": "path"}))
        next_node += 3
    # Not walkable: motorways beside every 50th row, construction and foot=no streets.
    for r in range(25, side, 50):
        px = x[r * side : (r + 1) * side] + 0.0
        py = y[r * side : (r + 1) * side] + spacing * 0.35
        xs.append(px)
        ys.append(py)
        ways.append((list(range(next_node, next_node + side)), {"highway": "motorway"}))
        next_node += side
    for tag in ({"highway": "construction"}, {"highway": "residential", "foot": "no"}):
        pick = np.flatnonzero(rng.random(n_blocks) < 0.002)
        pi, pj = np.divmod(pick, side - 1)
        for i, j in zip(pi.tolist(), pj.tolist(), strict=True):
            ways.append(([i * side + j + 1, (i + 1) * side + j], dict(tag)))
    return xs, ys, ways, next_node


def _density_weights(x: np.ndarray, y: np.ndarray, extent: float) -> np.ndarray:
    """Denser towards the centre: 70% from a Gaussian of sigma extent/6, 30% uniform."""
    r2 = ((x - CENTRE_X) ** 2 + (y - CENTRE_Y) ** 2) / (extent / 6) ** 2
    gauss = np.exp(-r2 / 2)
    return 0.7 * gauss / gauss.sum() + 0.3 / len(x)


def _points_near_streets(
    streets: Streets, n: int, rng: np.random.Generator, setback: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Points beside random lattice streets (between two consecutive way nodes)."""
    seg_a, seg_b = [], []
    for refs, tags in streets.ways:
        if tags.get("highway") in {"residential", "secondary", "primary"} and len(tags) == 1:
            seg_a += refs[:-1]
            seg_b += refs[1:]
    ia, ib = np.array(seg_a), np.array(seg_b)
    mx, my = (streets.x[ia] + streets.x[ib]) / 2, (streets.y[ia] + streets.y[ib]) / 2
    extent = streets.x.max() - streets.x.min()
    weights = _density_weights(mx, my, extent)
    pick = rng.choice(len(ia), size=n, p=weights / weights.sum())
    t = rng.uniform(0.05, 0.95, n)
    dx, dy = streets.x[ib[pick]] - streets.x[ia[pick]], streets.y[ib[pick]] - streets.y[ia[pick]]
    norm = np.hypot(dx, dy)
    side = rng.choice([-1.0, 1.0], n) * rng.uniform(*setback, n)
    px = streets.x[ia[pick]] + t * dx - dy / norm * side
    py = streets.y[ia[pick]] + t * dy + dx / norm * side
    return px, py


def write_pbf(streets: Streets, path: Path) -> Path:
    """Write the streets as an OpenStreetMap ``.osm.pbf`` file (nodes sorted by id)."""
    import osmium
    from osmium.osm.mutable import Node, Way

    lon, lat = _to_wgs84(streets.x, streets.y)
    order = np.argsort(streets.node_id)
    path.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(path))
    try:
        for nid, lo, la in zip(
            streets.node_id[order].tolist(), lon[order].tolist(), lat[order].tolist(), strict=True
        ):
            writer.add_node(Node(id=nid, location=(lo, la), version=1))
        for number, (refs, tags) in enumerate(streets.ways, start=1):
            ids = streets.node_id[refs].tolist()
            writer.add_way(Way(id=number, nodes=ids, tags=tags, version=1))
    finally:
        writer.close()
    return path


def _to_wgs84(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    transformer = Transformer.from_crs(PROJECTED_CRS, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(x, y)
    # 7 decimals: the precision of OSM coordinates.
    return np.round(lon, 7), np.round(lat, 7)


def write_city(
    folder: Path,
    n_nodes: int,
    *,
    n_compounds: int = 15_000,
    n_facilities: int = 20_000,
    seed: int = 0,
    sub_district_grid: int = 8,
) -> Path:
    """Write a generated city: streets (PBF), compounds and facilities (CSV), a profile.

    Parameters
    ----------
    folder : Path
        Output folder (created).
    n_nodes : int
        Target number of walking-network nodes.
    n_compounds, n_facilities : int
        Compounds, and facilities over the four categories of :data:`CATEGORIES`.
    seed : int
        Random seed.
    sub_district_grid : int
        The city is cut into ``grid × grid`` square sub-districts.

    Returns
    -------
    Path
        The profile YAML (``city.yaml``); beside it ``city.osm.pbf``, ``compounds.csv``,
        ``<category>.csv``, ``sub_districts.geojson`` and ``city.json`` (the parameters).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    streets = generate_streets(n_nodes, seed)
    write_pbf(streets, folder / "city.osm.pbf")

    cx, cy = _points_near_streets(streets, n_compounds, rng, (10.0, 80.0))
    # A few compounds in the middle of parks: beyond the 250 m snap limit.
    far = rng.choice(n_compounds, size=min(len(streets.parks) * 3, n_compounds), replace=False)
    in_park = np.resize(streets.parks, len(far))
    cx[far] = streets.x[in_park] + rng.uniform(-20, 20, len(far))
    cy[far] = streets.y[in_park] + rng.uniform(-20, 20, len(far))
    lon, lat = _to_wgs84(cx, cy)
    households = np.maximum(20, rng.lognormal(np.log(400), 0.6, n_compounds)).astype(int)
    pd.DataFrame(
        {"name": [f"小区{i}" for i in range(n_compounds)], "households": households,
         "lon": lon, "lat": lat}
    ).to_csv(folder / "compounds.csv", index=False)

    shares = np.array([c[1] for c in CATEGORIES.values()])
    counts = np.floor(shares * n_facilities).astype(int)
    counts[0] += n_facilities - counts.sum()
    for (key, (_, _, zh, _)), count in zip(CATEGORIES.items(), counts, strict=True):
        fx, fy = _points_near_streets(streets, int(count), rng, (5.0, 40.0))
        lon, lat = _to_wgs84(fx, fy)
        names = [f"{zh}{i}" for i in range(count)]
        pd.DataFrame({"name": names, "lon": lon, "lat": lat}).to_csv(
            folder / f"{key}.csv", index=False
        )
    bounds = _write_sub_districts(folder / "sub_districts.geojson", streets, sub_district_grid)
    profile = folder / "city.yaml"
    profile.write_text(_profile_yaml(bounds), encoding="utf-8")
    (folder / "city.json").write_text(
        json.dumps(
            {"n_nodes_target": n_nodes, "osm_nodes": len(streets.node_id),
             "osm_ways": len(streets.ways), "compounds": n_compounds,
             "facilities": n_facilities, "seed": seed, "bounds_wgs84": bounds},
            indent=2,
        ),
        encoding="utf-8",
    )
    return profile


def _write_sub_districts(path: Path, streets: Streets, grid: int) -> list[float]:
    """Square sub-districts covering the lattice; return its WGS84 bounds."""
    x0, x1 = streets.x.min(), streets.x.max()
    y0, y1 = streets.y.min(), streets.y.max()
    xs, ys = np.linspace(x0, x1, grid + 1), np.linspace(y0, y1, grid + 1)
    features = []
    for i in range(grid):
        for j in range(grid):
            ring_x = np.array([xs[j], xs[j + 1], xs[j + 1], xs[j], xs[j]])
            ring_y = np.array([ys[i], ys[i], ys[i + 1], ys[i + 1], ys[i]])
            lon, lat = _to_wgs84(ring_x, ring_y)
            features.append(
                {
                    "type": "Feature",
                    "properties": {"name": f"街道{i:02d}{j:02d}"},
                    "geometry": {"type": "Polygon", "coordinates": [list(zip(lon, lat, strict=True))]},
                }
            )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    lon, lat = _to_wgs84(np.array([x0, x1]), np.array([y0, y1]))
    return [float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])]


def _profile_yaml(bounds: list[float]) -> str:
    west, south, east, north = bounds
    lines = [
        "# Generated street-like city (benchmarks/synthetic_city.py): not real data.",
        "name: generated_city",
        "title: {zh: 生成的城市（合成数据）, en: Generated city (synthetic data)}",
        f"study_area: {{bbox: [{west:.7f}, {south:.7f}, {east:.7f}, {north:.7f}]}}",
        "network: {source: osm_file, osm_file: city.osm.pbf}",
        f"projected_crs: {PROJECTED_CRS}",
        "categories:",
    ]
    for key, (threshold, _, zh, en) in CATEGORIES.items():
        lines += [
            f"  {key}:",
            f"    label: {{zh: {zh}, en: {en}}}",
            f"    threshold_m: {threshold:.0f}",
            "    threshold_source: GB 50180-2018 Table 3.0.4 (synthetic benchmark)",
            f"    source: {{file: {key}.csv, crs: wgs84, x: lon, y: lat, name_field: name}}",
        ]
    lines += [
        "compounds:",
        "  source: {file: compounds.csv, crs: wgs84, x: lon, y: lat, name_field: name}",
        "  households_field: households",
        "sub_districts: {file: sub_districts.geojson, name_field: name}",
        "targets:",
        "  - {category: complete, measure: population_share, minimum: 0.95}",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Command line: write a generated city."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--compounds", type=int, default=15_000)
    parser.add_argument("--facilities", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    profile = write_city(
        args.out, args.nodes, n_compounds=args.compounds, n_facilities=args.facilities,
        seed=args.seed,
    )
    print(profile)


if __name__ == "__main__":
    main()
