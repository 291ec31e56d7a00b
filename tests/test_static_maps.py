"""Static PNG maps (lifecircle.outputs.static_map) on hand-built layers with known answers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from lifecircle.errors import DataError, LifecircleWarning
from lifecircle.outputs import labels, static_map

from ._map_inputs import make_map_inputs


@pytest.fixture(scope="module")
def inputs() -> dict:
    return make_map_inputs()


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
