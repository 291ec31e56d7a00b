"""Print-ready PNG maps and the ranking chart (lifecircle.outputs.static_map, charts) on
hand-built layers with known answers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib.collections import LineCollection
from matplotlib.patches import Polygon
from PIL import Image

from lifecircle.errors import DataError, LifecircleWarning
from lifecircle.outputs import _fonts, charts, labels, static_draw, static_map

from ._map_inputs import grid_network, make_map_inputs, make_profile, map_layers

#: Low resolution keeps these tests fast; page sizes are checked at 300 dpi once.
FAST = static_map.Page(dpi=72)


@pytest.fixture(scope="module")
def inputs() -> dict:
    made = make_map_inputs()
    made["network"] = grid_network()
    return made


@pytest.fixture(scope="module")
def layers(inputs):
    return map_layers(inputs)


def texts(canvas) -> str:
    """Every text drawn on a page: figure texts, map texts and legend entries."""
    found = [t.get_text() for t in canvas.figure.texts]
    found += [t.get_text() for t in canvas.ax.texts]
    legend = canvas.legend_ax.get_legend()
    found += [t.get_text() for t in legend.get_texts()] if legend else []
    return "\n".join(found)


def colour_pixels(png, colour: str, tolerance: int = 30) -> int:
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - target).max(axis=2) <= tolerance).sum())


def test_a4_page_at_300_dpi_with_every_element(layers, tmp_path):
    path = static_map.static_map(layers, "nursery", tmp_path / "nursery.png")
    image = Image.open(path)
    # A4 landscape (the 4 km × 3 km area is wider than tall): 297 × 210 mm at 300 dpi.
    assert image.size == pytest.approx((297 / 25.4 * 300, 210 / 25.4 * 300), abs=1)
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert [p.name for p in tmp_path.iterdir()] == ["nursery.png"]
    # Compounds in their graded colours, facilities, streets.
    for colour in (labels.COVERED_COLOUR, labels.NEAR_MISS_COLOUR, labels.GRADE_CLASSES["c"][2],
                   labels.category_colour(0), labels.STREET_COLOUR):
        assert colour_pixels(path, colour, 12) > 50, colour


def test_paper_and_orientation(layers, tmp_path):
    a3 = static_map.static_map(layers, None, tmp_path / "a3.png",
                               page=static_map.Page("A3", "portrait", dpi=100))
    assert Image.open(a3).size == pytest.approx((297 / 25.4 * 100, 420 / 25.4 * 100), abs=1)
    assert static_map.Page().size_mm(4 / 3) == (297.0, 210.0)
    assert static_map.Page().size_mm(0.7) == (210.0, 297.0)
    assert static_map.Page(orientation="portrait").size_mm(2.0) == (210.0, 297.0)
    for bad in ({"paper": "B5"}, {"orientation": "diagonal"}, {"dpi": 10}):
        with pytest.raises(DataError):
            static_map.Page(**bad)
    # what --paper A5 prints: the choices in words, not a Python list
    with pytest.raises(DataError, match=r"paper must be A4 or A3, optionally with -portrait or "
                                        r"-landscape \(e.g. --paper A3-landscape\), not 'A5'"):
        static_map.Page.from_text("A5")


def test_title_legend_and_coverage_figures(layers, inputs):
    canvas = static_map.draw_static_map(layers, "nursery", FAST)
    drawn = texts(canvas)
    lines = [t.get_text() for t in canvas.figure.texts]
    if canvas.cjk:  # Chinese first: the title's Chinese line comes before its English line
        assert lines.index("测试区15分钟生活圈") < lines.index("Test district 15-minute life circle")
        assert "幼儿园：步行 300 米（约 4 分钟）覆盖" in drawn
    row = inputs["coverage"].set_index(["area", "category"]).loc[("(all)", "nursery")]
    assert f"Residents covered {100 * row['population_share']:.1f}%" in drawn
    assert f"near misses {int(row['n_near_miss'])}" in drawn
    # The legend counts every class, from the compounds' columns.
    compounds = inputs["compounds"]
    on_network = compounds["access_status"] == "ok"
    covered = int((on_network & compounds["nursery_covered"]).sum())
    near = int((on_network & compounds["nursery_near_miss"]).sum())
    assert f"within the threshold: ≤ 300 m, ≤ 4 min ({covered})" in drawn
    assert f"near miss (just beyond): 300–330 m, 4–4.4 min ({near})" in drawn
    assert "Kindergarten (facility)" in drawn and "study area" in drawn


def test_north_arrow_and_scale_bar_in_metres(layers):
    canvas = static_map.draw_static_map(layers, None, FAST)
    west, south, east, north = canvas.extent
    length = static_draw.nice_length(east - west)
    assert length == 1000.0  # a fifth of ~4.4 km, rounded
    bars = [p for p in canvas.ax.patches if isinstance(p, Polygon) and p.get_transform() is
            canvas.ax.transData and p.get_zorder() == 10]
    xs = np.concatenate([p.get_xy()[:, 0] for p in bars])
    assert xs.max() - xs.min() == pytest.approx(length)  # four quarters of the bar
    labels_drawn = [t.get_text() for t in canvas.ax.texts]
    assert "1,000 m" in labels_drawn
    denominator = (east - west) * 1000 / canvas.map_width_mm
    assert any(f"1:{float(f'{denominator:.2g}'):,.0f}" in t for t in labels_drawn)
    arrows = [p for p in canvas.ax.patches if p.get_transform() == canvas.ax.transAxes]
    assert len(arrows) == 2 and all(p.get_xy()[:, 1].min() > 0.8 for p in arrows)  # top right
    assert any(t.get_text() in ("北 / N", "N") for t in canvas.ax.texts)


def test_complete_map_shows_every_required_category(layers, tmp_path):
    canvas = static_map.draw_static_map(layers, None, FAST)
    drawn = texts(canvas)
    assert "Kindergarten (facility)" in drawn and "Theatres & cinemas (facility)" in drawn
    assert "2 or more categories missing" in drawn


def street_segments(canvas) -> int:
    """Street lines drawn on a page (LineCollections in the street colours)."""
    colours = {labels.STREET_COLOUR, "#d6d2c8"}
    found = 0
    for collection in canvas.ax.collections:
        if not isinstance(collection, LineCollection):
            continue
        rgb = collection.get_colors()
        if len(rgb) and "#{:02x}{:02x}{:02x}".format(*(round(255 * v) for v in rgb[0][:3])) in colours:
            found += len(collection.get_segments())
    return found


def test_streets_come_from_the_network(inputs, layers):
    assert street_segments(static_map.draw_static_map(layers, "culture", FAST)) == len(
        inputs["network"].edges
    )
    bare = map_layers(inputs, network=None)
    canvas = static_map.draw_static_map(bare, "culture", FAST)
    assert street_segments(canvas) == 0 and "streets" not in texts(canvas)


def test_without_cjk_font_warns_once_and_uses_english(layers, tmp_path, monkeypatch):
    monkeypatch.setattr(_fonts, "cjk_font", lambda: None)
    monkeypatch.setattr(_fonts, "_cjk_warned", False)
    with pytest.warns(LifecircleWarning, match="English-only"):
        canvas = static_map.draw_static_map(layers, "culture", FAST)
    titles = "".join(t.get_text() for t in canvas.figure.texts)
    legend = "".join(t.get_text() for t in canvas.legend_ax.get_legend().get_texts())
    assert "Test district" in titles and "Theatres & cinemas (facility)" in legend
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in titles + legend)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LifecircleWarning)  # warned once only
        static_map.static_map(layers, None, tmp_path / "b.png", page=FAST)


def test_unknown_category_writes_nothing(layers, tmp_path):
    with pytest.raises(DataError, match="playground"):
        static_map.static_map(layers, "playground", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_polygon_compounds_and_water_are_drawn(inputs, tmp_path):
    import geopandas as gpd

    lake = shapely.box(353_500, 3_452_200, 354_500, 3_452_700)
    water = gpd.GeoDataFrame({"name": ["湖"]}, geometry=[lake], crs="EPSG:32651").to_crs(4326)
    path = static_map.static_map(map_layers(inputs, water=water), "nursery", tmp_path / "w.png",
                                 page=FAST)
    assert colour_pixels(path, labels.WATER_COLOUR, 6) > 100


# --------------------------------------------------------------------------------------------
# Ranking chart
# --------------------------------------------------------------------------------------------


def ranking_table() -> pd.DataFrame:
    rows = []
    for area, values in {"(all)": (900, 300), "甲街道": (200, 50), "乙街道": (600, 100),
                         "丙街道": (100, 0)}.items():
        for key, zh, en in (("nursery", "幼儿园", "Kindergarten"), ("complete", "完整生活圈",
                                                                   "Complete life circle")):
            uncovered, near = values
            rows.append({"area": area, "category": key, "label_zh": zh, "label_en": en,
                         "n_uncovered": uncovered // 100, "uncovered_population": float(uncovered),
                         "uncovered_share": uncovered / 1000, "population_near_miss": float(near)})
    return pd.DataFrame(rows)


def test_ranking_puts_the_most_uncovered_sub_district_first(tmp_path):
    figure = charts.ranking_figure(ranking_table(), make_profile(), dpi=72)
    panel = figure.axes[0]
    ticks = sorted(zip(panel.get_yticks(), (t.get_text() for t in panel.get_yticklabels()),
                       strict=True), reverse=True)
    heights = {round(b.get_y() + b.get_height() / 2): b for b in panel.patches}
    # Top to bottom: 乙 (600), 甲 (200), 丙 (100); the whole area is not a bar.
    assert [name for _, name in ticks] == ["乙街道", "甲街道", "丙街道"]
    widths = sorted(((y, round(b.get_x() + b.get_width())) for y, b in heights.items()), reverse=True)
    assert [w for _, w in widths] == [600, 200, 100]
    # The near-miss part of 乙 (100 residents) is drawn in the near-miss colour.
    near = [b for b in panel.patches if b.get_facecolor()[:3] == pytest.approx(
        tuple(int(labels.NEAR_MISS_COLOUR[i : i + 2], 16) / 255 for i in (1, 3, 5)))]
    assert sorted(round(b.get_width()) for b in near) == [0, 50, 100]
    assert "600 (60%)" in [t.get_text().strip() for t in panel.texts]
    path = charts.uncovered_ranking(ranking_table(), make_profile(), tmp_path / "r.png", dpi=72)
    assert Image.open(path).size[0] == pytest.approx(297 / 25.4 * 72, abs=1)


def test_ranking_needs_sub_districts():
    whole = ranking_table()
    with pytest.raises(DataError, match="no sub-district"):
        charts.ranking_figure(whole[whole["area"] == "(all)"], make_profile())
    with pytest.raises(DataError, match="uncovered_population"):
        charts.ranking_figure(whole.drop(columns="uncovered_population"), make_profile())
