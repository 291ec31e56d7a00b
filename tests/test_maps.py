"""Tests of the interactive and static maps (lifecircle.outputs) on hand-built layers (no network, no real data needed)."""

from __future__ import annotations

import json
import re
import warnings

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image

from lifecircle import settings
from lifecircle.errors import DataError, LifecircleError, LifecircleWarning
from lifecircle.outputs import html as html_out
from lifecircle.outputs import labels, static_map, web_map
from lifecircle.profile import Profile

UTM = "EPSG:32651"
# Study area: a 4 km x 3 km rectangle in central Shanghai (UTM 51N metres).
X0, Y0, WIDTH, HEIGHT = 353_000.0, 3_452_000.0, 4_000.0, 3_000.0


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
    compounds["complete"] = compounds["nursery_covered"] & compounds["culture_covered"]
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
        "profile": profile,
    }


def build_map(inputs: dict, **kwargs) -> folium.Map:
    return web_map.coverage_map(
        inputs["compounds"],
        inputs["facilities"],
        inputs["study_area"],
        inputs["profile"],
        sub_districts=inputs["sub_districts"],
        service_areas=inputs["service_areas"],
        **kwargs,
    )


def embedded_compounds(html: str) -> tuple[dict, dict]:
    """The compound GeoJSON and metadata embedded in a rendered map."""
    match = re.search(r"lcCompounds\((\{\"type\":\"FeatureCollection\".*?\}), (\{.*?\})\);\n", html, re.S)
    assert match, "compound data not found in the HTML"
    return json.loads(match.group(1)), json.loads(match.group(2))


@pytest.fixture(scope="module")
def inputs() -> dict:
    return make_map_inputs()


@pytest.fixture(scope="module")
def offline_html(inputs, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("maps") / "offline.html"
    html_out.save_map(build_map(inputs, tiles=False), path, self_contained=True)
    return path.read_text(encoding="utf-8")


def test_one_layer_per_category_in_the_folium_object(inputs):
    fmap = build_map(inputs)
    names = [
        child.layer_name
        for child in fmap._children.values()
        if isinstance(child, folium.map.Layer) and child.control
    ]
    for category in inputs["profile"].categories.values():
        label = f"{category.label.zh} / {category.label.en}"
        assert sum(name.startswith(label) for name in names) == 3  # compounds, facilities, area
        assert any("小区覆盖 / compounds" in n and n.startswith(label) for n in names)
    assert "完整生活圈 / Complete life circle" in names
    assert "街道 / Sub-districts" in names
    # Facility layers state their size.
    assert f"幼儿园 / Kindergarten — 设施 / facilities ({9})" in names


def overlay_names(html: str) -> list[str]:
    """Overlay names of the layer control, in order (folium writes them as JSON strings)."""
    block = re.search(r"overlays\s*:\s*\{(.*?)\n\s*\},", html, re.S)
    assert block, "layer control not found"
    return [json.loads(m) for m in re.findall(r'^\s*("(?:[^"\\]|\\.)*")\s*:', block.group(1), re.M)]


def test_layer_control_lists_categories_in_html(offline_html, inputs):
    names = overlay_names(offline_html)
    assert names[0] == "完整生活圈 / Complete life circle"
    for key, category in inputs["profile"].categories.items():
        label = f"{category.label.zh} / {category.label.en}"
        n_facilities = int((inputs["facilities"]["category"] == key).sum())
        area_km2 = inputs["service_areas"].set_index("category").loc[key, "area_km2"]
        assert [n for n in names if n.startswith(label)] == [
            f"{label} — 小区覆盖 / compounds ({category.threshold_m:g} m)",
            f"{label} — 设施 / facilities ({n_facilities})",
            f"{label} — 步行服务范围 / walking service area ({category.threshold_m:g} m, "
            f"{area_km2:.2f} km²)",
        ]
    assert names[-1] == "街道 / Sub-districts"


def test_embedded_statuses_match_the_compound_columns(offline_html, inputs):
    data, meta = embedded_compounds(offline_html)
    frame = inputs["compounds"]
    assert len(data["features"]) == len(frame)
    by_id = {f["properties"]["i"]: f for f in data["features"]}
    for row in frame.itertuples():
        props = by_id[row.compound_id]["properties"]
        status = props["s"]
        if row.access_status != "ok":
            assert status == "xxx"
            assert props["c"][0][0] is None
            continue
        assert status[0] == ("1" if row.nursery_covered else "0")
        assert status[1] == ("1" if row.culture_covered else "0")
        assert status[2] == ("1" if row.complete else "0")
        assert props["c"][1][0] == round(row.culture_dist_m)
        assert props["c"][0][2] == row.nursery_count
        assert props["c"][0][3] == row.nursery_nearest
        assert 3 <= props["r"] <= 10
    # Both outcomes occur, so colours are really tested, and NaN households became null.
    statuses = "".join(f["properties"]["s"] for f in data["features"])
    assert {"0", "1", "x"} <= set(statuses)
    assert any(f["properties"]["h"] is None for f in data["features"])
    assert meta["categories"][0].startswith("幼儿园 / Kindergarten (300 m)")
    # Coordinates are rounded to 6 decimals.
    first = next(f for f in data["features"] if f["geometry"]["type"] == "Point")
    assert all(len(str(c).split(".")[1]) <= 6 for c in first["geometry"]["coordinates"])


def test_names_are_escaped_in_the_html(offline_html):
    # Names contain "<Block & n>": they must not appear as raw markup anywhere.
    assert "<Block" not in offline_html
    assert "\\u003cBlock \\u0026" in offline_html


def test_legend_is_bilingual_with_thresholds_and_credits(inputs):
    credits = [settings.osm_attribution, "AMap POI (test use only)"]
    html = build_map(inputs, credits=credits, tiles=False).get_root().render()
    for text in (
        "小区已覆盖 / compound covered",
        "小区未覆盖 / compound not covered",
        "步行阈值 / Walking thresholds",
        "幼儿园 / Kindergarten: 300 m ≈ 4 min",
        "影剧院 / Theatres &amp; cinemas: 1000 m ≈ 13.3 min",
        "4.5 km/h",
        "© OpenStreetMap contributors (ODbL)",
        "AMap POI (test use only)",
        "Background map omitted",
    ):
        assert text in html, text
    assert labels.COVERED_COLOUR in html and labels.UNCOVERED_COLOUR in html


def test_osm_credit_added_when_missing(inputs):
    html = build_map(inputs, credits=["AMap POI (test use only)"]).get_root().render()
    assert settings.osm_attribution in html
    assert "Background map omitted" not in html  # tiles are on


def test_sample_profile_says_so_in_the_title(inputs, tmp_path):
    sample_inputs = dict(inputs, profile=make_profile(sample=True))
    path = html_out.save_map(build_map(sample_inputs), tmp_path / "sample.html")
    html = path.read_text(encoding="utf-8")
    title = re.search(r"<title>(.*?)</title>", html).group(1)
    assert "SAMPLE DATA" in title and "示例数据" in title
    assert html.count("示例数据 / SAMPLE DATA") >= 3  # <title>, title bar, legend
    normal = build_map(inputs).get_root().render()
    assert "SAMPLE DATA" not in normal


def test_self_contained_html_has_no_external_urls(offline_html, inputs, tmp_path):
    assert html_out.external_urls(offline_html) == []
    assert "Leaflet 1.9.4" in offline_html
    assert "tile.openstreetmap.org" not in offline_html
    assert "sourceMappingURL" not in offline_html
    assert "Background map omitted" in offline_html
    # A normal map does load Leaflet and tiles from the internet: the check can fail.
    online = html_out.save_map(build_map(inputs), tmp_path / "online.html").read_text("utf-8")
    urls = html_out.external_urls(online)
    assert any("leaflet" in u and u.endswith(".js") for u in urls)
    assert any("tile.openstreetmap.org" in u for u in urls)
    # Saving the same tiled map self-contained drops the tiles and says so, without warnings
    # (nothing in it needs jQuery), and the map object itself keeps its tiles.
    fmap = build_map(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        offline = html_out.save_map(fmap, tmp_path / "o.html", self_contained=True)
    text = offline.read_text("utf-8")
    assert html_out.external_urls(text) == [] and "Background map omitted" in text
    again = html_out.save_map(fmap, tmp_path / "again.html").read_text("utf-8")
    assert "tile.openstreetmap.org" in again and "Background map omitted" not in again
    assert again == online


def test_external_urls_finds_each_kind():
    page = (
        '<link rel="stylesheet" href="https://cdn.example/a.css"/>'
        "<script src='//cdn.example/b.js'></script><img src=http://x.example/c.png>"
        "<style>.x{background:url(https://x.example/d.png)} .y{background:url(data:image/png;base64,AA)}</style>"
        '<a href="https://openstreetmap.org/copyright">OSM</a><script src="local.js"></script>'
        '<script>L.tileLayer("https://tile.example/{z}/{x}/{y}.png").addTo(m)</script>'
    )
    assert html_out.external_urls(page) == [
        "https://cdn.example/a.css",
        "//cdn.example/b.js",
        "http://x.example/c.png",
        "https://x.example/d.png",
        "https://tile.example/{z}/{x}/{y}.png",
    ]


def test_self_contained_refuses_plugins_that_need_the_internet(inputs, tmp_path):
    fmap = build_map(inputs, tiles=False)
    folium.plugins.Fullscreen().add_to(fmap)  # loads its script from a CDN
    target = tmp_path / "plugin.html"
    with pytest.raises(LifecircleError, match="cannot be self-contained"):
        html_out.save_map(fmap, target, self_contained=True)
    assert not target.exists()


def test_same_inputs_give_the_same_html(inputs, tmp_path):
    first = build_map(inputs).get_root().render()
    second = build_map(inputs).get_root().render()
    assert first == second
    a = html_out.save_map(build_map(inputs), tmp_path / "a.html", self_contained=True)
    b = html_out.save_map(build_map(inputs), tmp_path / "b.html", self_contained=True)
    assert a.read_bytes() == b.read_bytes()


def test_missing_flags_count_as_not_covered(inputs):
    compounds = inputs["compounds"].copy()
    ok = compounds.index[compounds["access_status"] == "ok"][:3]
    compounds["nursery_covered"] = compounds["nursery_covered"].astype(object)
    compounds.loc[ok, "nursery_covered"] = [np.nan, None, pd.NA]
    html = (
        web_map.coverage_map(
            compounds, inputs["facilities"], inputs["study_area"], inputs["profile"], tiles=False
        )
        .get_root()
        .render()
    )
    data, _ = embedded_compounds(html)
    by_id = {f["properties"]["i"]: f["properties"]["s"] for f in data["features"]}
    for compound_id in compounds.loc[ok, "compound_id"]:
        assert by_id[compound_id][0] == "0"


def test_save_map_is_atomic(inputs, tmp_path, monkeypatch):
    target = tmp_path / "map.html"
    target.write_text("previous map", encoding="utf-8")
    fmap = build_map(inputs, tiles=False)

    def broken_render(self, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(folium.Figure, "render", broken_render)
    with pytest.raises(RuntimeError, match="render failed"):
        html_out.save_map(fmap, target, self_contained=True)
    assert target.read_text(encoding="utf-8") == "previous map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.html"]
    monkeypatch.undo()

    # A failure while writing (not rendering) also leaves the old file and no temp file.
    def broken_write(self, *args, **kwargs):
        super(type(self), self).write_text("half a ma", encoding="utf-8")  # noqa: UP008
        raise OSError("disk full")

    monkeypatch.setattr(type(target), "write_text", broken_write)
    with pytest.raises(OSError, match="disk full"):
        html_out.save_map(fmap, target)
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "previous map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.html"]

    # And a successful save replaces it with a full HTML document.
    html_out.save_map(fmap, target)
    assert target.read_text(encoding="utf-8").rstrip().endswith("</html>")


def test_missing_columns_are_reported(inputs):
    compounds = inputs["compounds"].drop(columns=["culture_nearest"])
    with pytest.raises(DataError, match="culture_nearest"):
        web_map.coverage_map(compounds, inputs["facilities"], inputs["study_area"], inputs["profile"])


def _colour_pixels(png, colour: str, tolerance: int = 40) -> int:
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - target).max(axis=2) <= tolerance).sum())


@pytest.mark.parametrize("category", ["nursery", None])
def test_static_map_writes_a_png(inputs, tmp_path, category):
    path = static_map.static_map(
        inputs["compounds"],
        inputs["study_area"],
        inputs["profile"],
        category,
        tmp_path / "static.png",
        service_areas=inputs["service_areas"],
        sub_districts=inputs["sub_districts"],
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 30_000 < path.stat().st_size < 3_000_000
    width, height = Image.open(path).size
    assert width >= 1000 and height >= 1000
    # Compounds are drawn in both coverage colours.
    assert _colour_pixels(path, labels.COVERED_COLOUR) > 200
    assert _colour_pixels(path, labels.UNCOVERED_COLOUR) > 200
    assert [p.name for p in tmp_path.iterdir()] == ["static.png"]


def test_static_map_without_cjk_font_warns_and_uses_english(inputs, tmp_path, monkeypatch):
    monkeypatch.setattr(static_map, "_cjk_font", lambda: None)
    monkeypatch.setattr(static_map, "_cjk_warned", False)
    with pytest.warns(LifecircleWarning, match="English-only"):
        static_map.static_map(
            inputs["compounds"],
            inputs["study_area"],
            inputs["profile"],
            "culture",
            tmp_path / "a.png",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", LifecircleWarning)  # warned once only
        static_map.static_map(
            inputs["compounds"], inputs["study_area"], inputs["profile"], None, tmp_path / "b.png"
        )
    assert (tmp_path / "b.png").stat().st_size > 10_000


def test_static_map_rejects_unknown_category(inputs, tmp_path):
    with pytest.raises(DataError, match="playground"):
        static_map.static_map(
            inputs["compounds"],
            inputs["study_area"],
            inputs["profile"],
            "playground",
            tmp_path / "x.png",
        )
    assert not (tmp_path / "x.png").exists()
