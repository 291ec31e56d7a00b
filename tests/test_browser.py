"""A self-contained map really renders in headless Chromium with the network blocked.

Needs Debian's chromium at /usr/bin/chromium (`make test` installs it when run as root): missing,
the tests skip outside CI and fail under CI (CI=true).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lifecircle import settings
from lifecircle.outputs import html as html_out
from lifecircle.outputs import labels

from .test_maps import build_map, make_map_inputs

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT_COPY = REPO_ROOT / "data" / "processed" / "map_screenshot.png"
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Block the network: no name resolves and every proxied connection goes to a closed port.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--virtual-time-budget=5000",
    "--window-size=1200,900",
]


def _require_chromium() -> None:
    if CHROMIUM.is_file():
        return
    reason = f"{CHROMIUM} not found: install Debian's chromium (make test does so as root)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(reason)
    pytest.skip(reason)


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.Popen:
    # Each run needs its own profile folder: Chromium refuses a profile in use (exit code 21).
    return subprocess.Popen(
        [str(CHROMIUM), *_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> str:
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("chromium did not finish within 120 s")
    tail = "\n".join(err.splitlines()[-5:])
    assert process.returncode == 0, f"chromium exited with {process.returncode}:\n{tail}"
    return out


def _page_requests(net_log: Path) -> list[str]:
    """http(s) URLs the page asked for (Chromium's own service requests have no page origin)."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return sorted(
        {
            event["params"]["url"]
            for event in log["events"]
            if event["type"] == start_job
            and event.get("params", {}).get("url", "").startswith(("http:", "https:"))
            and event["params"].get("initiator") != "not an origin"
        }
    )


def _paths(dom: str) -> list[dict[str, str]]:
    """Attributes of the SVG paths Leaflet drew."""
    return [
        dict(re.findall(r'([\w-]+)="([^"]*)"', tag)) for tag in re.findall(r"<path\b[^>]*>", dom)
    ]


def _near(rgb: np.ndarray, colour: str, tolerance: int = 40) -> int:
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - target).max(axis=2) <= tolerance).sum())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    """The map, its DOM after scripts ran, a DOM with one popup opened, a screenshot, a net log."""
    _require_chromium()
    work = tmp_path_factory.mktemp("browser")
    inputs = make_map_inputs(n_points=300, n_polygons=100, seed=11, n_facilities=(25, 4))
    fmap = build_map(inputs, tiles=False, credits=[settings.osm_attribution, "AMap POI (test)"])
    page = html_out.save_map(fmap, work / "map.html", self_contained=True)
    html = page.read_text(encoding="utf-8")

    # Same page plus a script that opens the popup of one covered compound.
    compounds = inputs["compounds"]
    chosen = compounds[(compounds["access_status"] == "ok") & compounds["nursery_covered"]].iloc[0]
    map_name = re.search(r"var (map_\w+) = L\.map\(", html).group(1)
    opener = (
        f"<script>{map_name}.eachLayer(function (layer) {{"
        f" if (layer.feature && layer.feature.properties.i === {int(chosen['compound_id'])}"
        " && !window.lcOpened) { layer.openPopup(); window.lcOpened = true; } });</script>"
    )
    popup_page = work / "popup.html"
    popup_page.write_text(html.replace("</html>", opener + "</html>"), encoding="utf-8")

    net_log = work / "net.json"
    screenshot = work / "map.png"
    runs = [
        _chromium(page, work / "profile-dom", "--dump-dom", f"--log-net-log={net_log}"),
        _chromium(page, work / "profile-shot", f"--screenshot={screenshot}"),
        _chromium(popup_page, work / "profile-popup", "--dump-dom"),
    ]
    dom, _, popup_dom = (_finish(run) for run in runs)
    SCREENSHOT_COPY.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot, SCREENSHOT_COPY)
    return {
        "inputs": inputs,
        "html": html,
        "dom": dom,
        "popup_dom": popup_dom,
        "chosen": chosen,
        "screenshot": screenshot,
        "net_log": net_log,
    }


def test_page_loads_nothing_from_the_network(rendered):
    assert html_out.external_urls(rendered["html"]) == []
    assert _page_requests(rendered["net_log"]) == []


def test_leaflet_initialised_and_drew_every_compound(rendered):
    dom = rendered["dom"]
    assert 'class="leaflet-container' in dom or "leaflet-container " in dom
    assert "leaflet-overlay-pane" in dom and "leaflet-lcFacilities-pane" in dom
    assert not re.search(r"<img[^>]*leaflet-tile", dom)  # no background tiles offline
    compounds = rendered["inputs"]["compounds"]
    on_net = compounds["access_status"] == "ok"
    expected = {
        labels.COVERED_COLOUR: int((on_net & compounds["complete"]).sum()),
        labels.UNCOVERED_COLOUR: int((on_net & ~compounds["complete"]).sum()),
        labels.OFF_NETWORK_COLOUR: int((~on_net).sum()),
    }
    drawn = [p for p in _paths(dom) if "leaflet-interactive" in p.get("class", "")]
    fills = [p.get("fill") for p in drawn]
    # Only the complete-life-circle layer is on at first: each compound once, in its colour.
    assert {colour: fills.count(colour) for colour in expected} == expected
    assert expected[labels.COVERED_COLOUR] > 0 and expected[labels.UNCOVERED_COLOUR] > 0
    facilities = [p for p in drawn if p.get("stroke") == "#222222"]
    assert len(facilities) == len(rendered["inputs"]["facilities"])
    # Two sub-district labels.
    assert len(re.findall(r'class="[^"]*leaflet-tooltip lc-label', dom)) == 2


def test_layer_control_and_legend_are_shown(rendered):
    dom = rendered["dom"]
    control = re.search(
        r'class="leaflet-control-layers-overlays".*?</section>|'
        r'class="leaflet-control-layers-overlays".*',
        dom,
        re.S,
    ).group(0)
    for category in rendered["inputs"]["profile"].categories.values():
        label = f"{category.label.zh} / {category.label.en}".replace("&", "&amp;")
        assert control.count(label) == 3  # compounds, facilities, service area
    assert "完整生活圈 / Complete life circle" in control
    for text in (
        "步行阈值 / Walking thresholds",
        "小区已覆盖 / compound covered",
        "© OpenStreetMap contributors (ODbL)",
        "Background map omitted",
    ):
        assert text in dom, text


def test_popup_lists_every_category(rendered):
    dom, chosen = rendered["popup_dom"], rendered["chosen"]
    popup = re.search(r'class="leaflet-popup-content".*?</table></div>', dom, re.S)
    assert popup, "no popup opened"
    text = popup.group(0)
    name = str(chosen["name"]).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert name in text
    assert f"{round(chosen['culture_dist_m']):,}" in text
    assert str(chosen["nursery_nearest"]) in text and str(chosen["culture_nearest"]) in text
    assert "已覆盖 / covered" in text
    assert "阈值内数量 / Count within threshold" in text


def test_screenshot_shows_the_map(rendered):
    image = Image.open(rendered["screenshot"]).convert("RGB")
    assert image.size == (1200, 900)
    rgb = np.asarray(image).astype(int)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    assert len(np.unique(packed)) > 200  # distinct colours: not a blank page
    assert _near(rgb, labels.COVERED_COLOUR) > 300
    assert _near(rgb, labels.UNCOVERED_COLOUR) > 300
    assert SCREENSHOT_COPY.is_file()
