"""Interactive maps (lifecircle.outputs.web_map and helpers) on hand-built layers with known answers.

No network and no real data: the browser tests (tests/test_browser.py) render real maps.
"""

from __future__ import annotations

import html
import json
import re

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import prcoords
import pytest
import shapely

import lifecircle as lc
from lifecircle import crs, settings
from lifecircle.errors import DataError, LifecircleError, LifecircleWarning, ProfileError
from lifecircle.outputs import _packed, basemaps, map_context, web_map
from lifecircle.outputs import html as html_out
from lifecircle.sources import context as water_source

from ._handbuilt import write_osm, write_osm_with_features
from ._map_inputs import (
    FAR_ID,
    NEAR_MISS_ID,
    build_map,
    compound_rows,
    decode_numbers,
    embedded_compounds,
    grid_network,
    make_map_inputs,
    make_profile,
    ui_config,
)


@pytest.fixture(scope="module")
def inputs() -> dict:
    made = make_map_inputs()
    made["network"] = grid_network()
    made["context"] = map_context.map_context(made["network"])
    return made


@pytest.fixture(scope="module")
def offline_html(inputs) -> str:
    return html_out.render_html(build_map(inputs))


@pytest.fixture(scope="module")
def gaps_html(inputs) -> str:
    return html_out.render_html(build_map(inputs, view="gaps"))


def control_names(page: str) -> tuple[list[str], list[str]]:
    """Base-layer (radio) and overlay (checkbox) names of the layer control, as shown."""
    found = []
    for part in ("base_layers", "overlays"):
        block = re.search(part + r"\s*:\s*\{(.*?)\n\s*\},", page, re.S).group(1)
        names = re.findall(r'^\s*("(?:[^"\\]|\\.)*")\s*:', block, re.M)
        found.append([html.unescape(json.loads(n)) for n in names])
    return found[0], found[1]


# --------------------------------------------------------------------------------------------
# Layers and views
# --------------------------------------------------------------------------------------------


def test_compound_views_are_exclusive_choices(offline_html, inputs):
    bases, overlays = control_names(offline_html)
    # One radio choice per category and the complete life circle (listed first).
    assert bases == [
        "完整生活圈 / Complete life circle",
        "幼儿园 / Kindergarten (300 m ≈ 4 min)",
        "影剧院 / Theatres & cinemas (1000 m ≈ 13.3 min)",
    ]
    assert overlays == [
        "道路 / Streets (walking network)",
        "街道/镇 / Sub-districts",
        "步行服务范围（随所选类别） / walking service area (of the chosen category)",
        "幼儿园 / Kindergarten — 设施 / facilities (9)",
        "影剧院 / Theatres & cinemas — 设施 / facilities (3)",
    ]
    # The coverage map opens on the complete life circle, coloured by coverage status.
    _, meta = embedded_compounds(offline_html)
    assert meta["mode"] == "status" and not meta["gaps"]
    assert ui_config(offline_html)["view"] == 2


def test_gap_map_opens_on_the_gaps(gaps_html):
    _, meta = embedded_compounds(gaps_html)
    assert meta["mode"] == "graded" and meta["gaps"]
    config = ui_config(gaps_html)
    assert "缺口地图 / Gap map" in config["head"]
    assert 'value="graded" checked' in config["modes"]
    # The service area follows the chosen view and is on from the start.
    follow = re.search(r"lcFollow\((feature_group_\w+)", gaps_html).group(1)
    assert f"{follow}.addTo(map_" in gaps_html


def test_graded_classes_tell_a_near_miss_from_a_far_miss(offline_html, inputs):
    data, meta = embedded_compounds(offline_html)
    frame = inputs["compounds"].set_index("compound_id")
    profile = inputs["profile"]
    rows = compound_rows(data)
    assert len(rows) == len(frame)
    for props in rows:
        row = frame.loc[props["i"]]
        for position, (key, category) in enumerate(profile.categories.items()):
            distance, limit = row[f"{key}_dist_m"], category.threshold_m
            if row["access_status"] != "ok":
                expected = "x"
            elif np.isnan(distance):
                expected = "u"
            elif distance <= limit:
                expected = "1"
            elif distance <= 1.1 * limit:
                expected = "n"
            else:
                expected = "a" if distance <= 1.5 * limit else "b" if distance <= 2 * limit else "c"
            assert props["s"][position] == expected, (props["i"], key)
        if row["access_status"] == "ok":  # the popup's figures are the table's
            assert props["c"][1]["d"] == round(row["culture_dist_m"])
            assert props["c"][0]["k"] == row["nursery_count"]
            assert props["c"][0]["f"] == row["nursery_nearest"]
        missing = sum(not row[f"{k}_covered"] for k in profile.categories)
        complete = ("x" if row["access_status"] != "ok" else "1" if row["complete"]
                    else "n" if row["complete_near_miss"] else "m" if missing == 1 else "M")
        assert props["s"][-1] == complete
    by_id = {r["i"]: r["s"] for r in rows}
    assert by_id[NEAR_MISS_ID][0] == "n" and by_id[FAR_ID][0] == "c"
    # Each class has its own colour and a legend row that gives its walking minutes.
    graded = {row["codes"]: row for row in meta["views"][0]["graded"]}
    assert graded["n"]["colour"] != graded["c"]["colour"]
    assert graded["n"]["label"].endswith(": 300–330 m, 4–4.4 min")
    assert graded["c"]["label"].endswith(": > 600 m, > 8 min")
    status = {row["label"]: row["codes"] for row in meta["views"][0]["status"]}
    assert status["未覆盖 / not covered"] == "abcu" and status["临界 / near miss"] == "n"


def test_coverage_percentages_come_from_the_coverage_table(offline_html, inputs):
    head = ui_config(offline_html)["head"]
    table = inputs["coverage"].set_index(["area", "category"])
    for key in ("complete", "nursery", "culture"):
        row = table.loc[("(all)", key)]
        expected = (f"<td>{100 * row['population_share']:.1f}%</td>"
                    f"<td>{100 * row['compound_share']:.1f}%</td><td>{int(row['n_near_miss']):,}")
        assert expected in head, key
    # The complete life circle is the first row and opens highlighted (view 2).
    assert head.index('data-view="2"') < head.index('data-view="0"')


def test_sub_districts_carry_their_own_coverage(offline_html, inputs):
    props = re.search(r"lcAreas\(\{[^)]*?\}, (\[\{\"tip\".*?\]), \{", offline_html, re.S)
    rows = {p["tip"]: p["popup"] for p in json.loads(props.group(1))}
    table = inputs["coverage"].set_index(["area", "category"])
    assert set(rows) == {"西街道", "东街道"}
    for name, popup in rows.items():
        shares = {label: (pop, comp) for label, pop, comp in popup}
        expected = table.loc[(name, "nursery")]
        assert shares["幼儿园 / Kindergarten"] == (
            round(expected["population_share"], 4), round(expected["compound_share"], 4)
        )


def test_streets_are_drawn_from_the_network(offline_html, inputs):
    streets = inputs["context"].streets
    assert streets.n_shown == streets.n_total == len(inputs["network"].edges)
    assert json.dumps(streets.packed["p"])[1:-1] in offline_html
    lines = decode_lines(streets.packed)
    assert len(lines) == len(inputs["network"].edges)
    # The first street, decoded, lies on the network's first edge (1e-5 degrees ≈ 1 m).
    edge = inputs["network"].edges.to_crs(4326).geometry.iloc[0]
    assert shapely.Point(lines[0][0][::-1]).distance(edge) < 2e-5


# --------------------------------------------------------------------------------------------
# Escaping and templates
# --------------------------------------------------------------------------------------------


def test_names_and_labels_are_escaped(inputs):
    profile = make_profile()
    label = profile.categories["nursery"].label.model_copy(update={"en": "K <b>{{7*7}}</b>"})
    category = profile.categories["nursery"].model_copy(update={"label": label})
    profile = profile.model_copy(
        update={"categories": {**profile.categories, "nursery": category},
                "title": profile.title.model_copy(update={"en": "</title><i>{{ 6*7 }}"})}
    )
    compounds = inputs["compounds"].copy()
    compounds.loc[0, "name"] = "{{ 7*7 }}<script>x</script>"
    page = html_out.render_html(build_map(inputs, profile=profile, compounds=compounds))
    assert "<Block" not in page and "\\u003cBlock \\u0026" in page  # names hold "<Block & n>"
    assert "<b>{{7*7}}</b>" not in page and "<script>x" not in page
    bases, _ = control_names(page)
    assert "幼儿园 / K <b>{{7*7}}</b> (300 m ≈ 4 min)" in bases  # shown as text
    assert "<title>测试区15分钟生活圈 / &lt;/title&gt;&lt;i&gt;{{ 6*7 }}" in page
    # Never evaluated as a template while the map was written.
    data, _ = embedded_compounds(page)
    assert data["n"][0] == "{{ 7*7 }}<script>x</script>"
    assert "42" not in re.search(r"<title>.*?</title>", page).group(0)


def test_same_inputs_give_the_same_html(inputs):
    first = html_out.render_html(build_map(inputs))
    assert html_out.render_html(build_map(inputs)) == first


def test_missing_columns_are_reported(inputs):
    compounds = inputs["compounds"].drop(columns=["culture_near_miss"])
    with pytest.raises(DataError, match="culture_near_miss"):
        build_map(inputs, compounds=compounds)


def test_unknown_view_is_refused(inputs):
    with pytest.raises(DataError, match="view must be one of"):
        build_map(inputs, view="heatmap")


# --------------------------------------------------------------------------------------------
# Offline, online, GCJ-02
# --------------------------------------------------------------------------------------------


def test_maps_are_self_contained_and_online_maps_load_only_tiles(offline_html, inputs):
    assert html_out.external_urls(offline_html) == []
    assert "Leaflet 1.9.4" in offline_html and "sourceMappingURL" not in offline_html
    assert ui_config(offline_html)["offline"] is True
    online = html_out.render_html(build_map(inputs, tiles="osm"), self_contained=False)
    assert html_out.external_urls(online) == ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"]
    assert ui_config(online)["offline"] is False
    # Saved self-contained, the same map drops its tiles and says so.
    dropped = html_out.render_html(build_map(inputs, tiles="osm"))
    assert html_out.external_urls(dropped) == [] and ui_config(dropped)["offline"] is True


def test_gcj02_basemap_shifts_every_layer(inputs):
    page = html_out.render_html(build_map(inputs, tiles="amap"), self_contained=False)
    assert any("autonavi" in url for url in html_out.external_urls(page))
    assert "GCJ-02" in ui_config(page)["legend"]
    data, _ = embedded_compounds(page)
    compounds = inputs["compounds"].to_crs(4326)
    point = compound_rows(data)[0]  # a point compound
    source = compounds.set_index("compound_id").geometry[point["i"]]
    lat, lon = prcoords.wgs_gcj((source.y, source.x), False)
    assert point["lonlat"] == pytest.approx([lon, lat], abs=2e-5)
    # The GCJ-02 offset in Shanghai is several hundred metres.
    offset = shapely.Point(lon, lat).distance(source) * 111_000
    assert 300 < offset < 700
    # Streets are shifted too: a GCJ-02 street vertex sits on the shifted network edge.
    shifted = map_context.map_context(inputs["network"], gcj02=True).streets
    edge = inputs["network"].edges.to_crs(4326).geometry.iloc[0]
    vertex = shapely.Point(decode_lines(shifted.packed)[0][0][::-1])
    assert vertex.distance(crs.wgs84_to_gcj02([edge])[0]) < 2e-5
    assert vertex.distance(edge) * 111_000 > 300


def test_basemap_names():
    assert basemaps.resolve_basemap(None) is None and basemaps.resolve_basemap(False) is None
    assert basemaps.resolve_basemap(True) is basemaps.OSM
    assert basemaps.resolve_basemap("AMap").gcj02
    with pytest.raises(ProfileError, match="key"):
        basemaps.tianditu("")
    assert "tk=abc" in basemaps.tianditu("abc").url and not basemaps.tianditu("abc").gcj02
    with pytest.raises(ProfileError, match="unknown basemap"):
        basemaps.resolve_basemap("bing")


def test_inline_map_displays_without_internet(inputs, tmp_path):
    fmap = build_map(inputs)
    shown = fmap._repr_html_()
    assert shown.startswith("<iframe srcdoc=")
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', shown).group(1))
    assert "lcCompounds(" in page and html_out.external_urls(page) == []
    assert "<script" not in shown  # the page is escaped into the attribute
    fmap.save(tmp_path / "saved.html")
    assert (tmp_path / "saved.html").read_text(encoding="utf-8") == page


def test_self_contained_refuses_plugins_that_need_the_internet(inputs, tmp_path):
    fmap = build_map(inputs)
    folium.plugins.Fullscreen().add_to(fmap)  # loads its script from a CDN
    target = tmp_path / "plugin.html"
    with pytest.raises(LifecircleError, match="cannot be self-contained"):
        html_out.save_map(fmap, target)
    assert not target.exists()


def test_save_map_is_atomic(inputs, tmp_path, monkeypatch):
    target = tmp_path / "map.html"
    target.write_text("previous map", encoding="utf-8")
    fmap = build_map(inputs)

    def broken_render(self, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(folium.Figure, "render", broken_render)
    with pytest.raises(RuntimeError, match="render failed"):
        html_out.save_map(fmap, target)
    assert target.read_text(encoding="utf-8") == "previous map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.html"]
    monkeypatch.undo()
    html_out.save_map(fmap, target)
    assert target.read_text(encoding="utf-8").rstrip().endswith("</html>")


def test_sample_profile_says_so_in_the_title(inputs):
    page = html_out.render_html(build_map(inputs, profile=make_profile(sample=True)))
    assert "示例数据 / SAMPLE DATA" in re.search(r"<title>(.*?)</title>", page).group(1)
    assert "示例数据 / SAMPLE DATA" in ui_config(page)["head"]
    assert "SAMPLE DATA" not in html_out.render_html(build_map(inputs))


def test_legend_is_bilingual_with_thresholds_and_credits(inputs):
    credits = [settings.osm_attribution, "AMap POI (test <use> only)"]
    legend = ui_config(html_out.render_html(build_map(inputs, credits=credits)))["legend"]
    for text in (
        "幼儿园 / Kindergarten (9): 300 m ≈ 4 min",
        "影剧院 / Theatres &amp; cinemas (3): 1000 m ≈ 13.3 min",
        "4.5 km/h",
        "道路（步行路网）/ streets (walking network)",
        "© OpenStreetMap contributors (ODbL)",
        "AMap POI (test &lt;use&gt; only)",
        "no background tiles (offline file)",
    ):
        assert text in legend, text
    no_osm = ui_config(html_out.render_html(build_map(inputs, credits=["AMap"])))["legend"]
    assert settings.osm_attribution in no_osm


# --------------------------------------------------------------------------------------------
# Context: packing, size budgets, water
# --------------------------------------------------------------------------------------------


def decode_lines(packed: dict) -> list[list[tuple[float, float]]]:
    deltas, counts = decode_numbers(packed["p"], True), decode_numbers(packed["n"], False)
    positions = np.cumsum(np.array(deltas).reshape(-1, 2), axis=0) / 1e5
    out, start = [], 0
    for count in counts:
        out.append([tuple(p) for p in positions[start : start + count]])
        start += count
    return out


def test_packing_matches_the_encoded_polyline_format():
    # Google's documented example: (38.5, -120.2), (40.7, -120.95), (43.252, -126.453).
    line = shapely.LineString([(-120.2, 38.5), (-120.95, 40.7), (-126.453, 43.252)])
    assert _packed.pack_lines([line])["p"] == "_p~iF~ps|U_ulLnnqC_mqNvxq`@"
    multi = shapely.MultiLineString([[(121.4, 31.2), (121.5, 31.25)], [(121.0, 31.0), (121.1, 31.1)]])
    assert decode_lines(_packed.pack_lines([multi, None])) == [
        [(31.2, 121.4), (31.25, 121.5)], [(31.0, 121.0), (31.1, 121.1)]
    ]
    square = shapely.box(121.4, 31.2, 121.41, 31.21).difference(shapely.box(121.403, 31.203, 121.406, 31.206))
    packed = _packed.pack_polygons([square, None, shapely.MultiPolygon([square, square])])
    assert decode_numbers(packed["f"], False) == [1, 0, 2]  # polygons per feature
    assert decode_numbers(packed["k"], False) == [2, 2, 2]  # rings per polygon (shell, hole)
    assert decode_numbers(packed["n"], False) == [4] * 6  # closing vertex dropped


def test_street_budget_keeps_major_streets_and_says_so(inputs):
    network = inputs["network"]
    full = map_context.street_layer(network)
    budget = full.size // 3
    reduced = map_context.street_layer(network, budget=budget)
    assert reduced.size <= budget and reduced.reduced
    assert reduced.tolerance_m == map_context.TOLERANCES_M[-1]
    ranks = map_context.edge_ranks(network)
    # Every primary street is kept before any residential one (the grid's majors fit the budget).
    kept = decode_lines(reduced.packed)
    majors = network.edges.to_crs(4326).geometry[ranks <= 1]
    assert reduced.n_shown >= len(majors)
    drawn = shapely.MultiLineString([[p[::-1] for p in line] for line in kept])
    assert all(drawn.buffer(3e-5).contains(edge) for edge in majors)
    context = map_context.MapContext(streets=reduced, water=None)
    legend = ui_config(html_out.render_html(build_map(inputs, context=context)))["legend"]
    assert f"streets simplified: {reduced.n_shown:,} of {reduced.n_total:,} segments" in legend


def test_polygon_budget_drops_small_holes(inputs):
    holes = [shapely.box(x, 0, x + 20, 20).exterior.coords for x in range(0, 4000, 40)]
    block = shapely.Polygon(shapely.box(-100, -100, 4100, 200).exterior.coords, holes)
    series = gpd.GeoSeries([shapely.affinity.translate(block, 353_000, 3_452_000)], crs="EPSG:32651")
    full = map_context.polygon_layer(series, "EPSG:32651", budget=10**9)
    small = map_context.polygon_layer(series, "EPSG:32651", budget=full.size // 5)
    assert small.size <= full.size // 5 and small.n_shown < small.n_total


def test_water_is_read_from_the_osm_file_and_drawn(tmp_path, inputs):
    streets = [[(0.0, 0.0), (500.0, 0.0)]]
    lake = [(100.0, 50.0), (300.0, 50.0), (300.0, 200.0), (100.0, 200.0)]
    with_water = write_osm_with_features(tmp_path / "water.osm", streets, [],
                                         [(lake, {"natural": "water", "name": "湖"})])
    area = shapely.box(121.0, 30.0, 122.0, 32.0)
    water = water_source.water_features(area, osm_file=with_water)
    assert len(water) == 1 and water.geom_type.iloc[0] == "Polygon"
    assert water.to_crs("EPSG:32651").area.iloc[0] == pytest.approx(200 * 150, rel=0.01)
    # A file without water is skipped without parsing it; so is a run with no OSM source.
    assert water_source.water_features(area, osm_file=write_osm(tmp_path / "dry.osm", streets)) is None
    assert water_source.water_features(area) is None
    # An unreadable source is context lost, not a failed run: a warning says why.
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(b"not a pbf file")
    with pytest.warns(LifecircleWarning, match="without rivers and lakes"):
        assert water_source.water_features(area, osm_file=broken) is None
    context = map_context.map_context(inputs["network"], water)
    page = html_out.render_html(build_map(inputs, context=context))
    assert "水系 / Water" in control_names(page)[1]
    assert "水系 / water" in ui_config(page)["legend"]


def test_notebook_entry_point_is_exported():
    assert lc.coverage_map is web_map.coverage_map


def test_area_budget_leaves_out_small_pieces_and_says_so(inputs, monkeypatch):
    monkeypatch.setattr(map_context, "AREAS_BUDGET", 1_000)
    legend = ui_config(html_out.render_html(build_map(inputs, view="gaps")))["legend"]
    assert "service areas simplified: small holes left out" in legend
    monkeypatch.undo()
    legend = ui_config(html_out.render_html(build_map(inputs, view="gaps")))["legend"]
    assert "service areas simplified" not in legend
