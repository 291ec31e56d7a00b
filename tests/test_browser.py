"""The maps lifecircle writes really render, offline, in headless Chromium.

Every HTML map of `lifecircle report` (the run's coverage map and the gap map) is opened with the
network blocked and its requests recorded: none may leave the page. The drawn compounds are
counted by colour against the run's own table, the gap map must open on the gaps, and a study
with script payloads in every text field must run none of them. Screenshots of the Huangpu maps
are kept under data/processed/.

Needs Debian's chromium at /usr/bin/chromium (`make test` installs it when run as root): missing,
the tests skip outside CI and fail under CI (CI=true).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lifecircle.outputs import html as html_out
from lifecircle.outputs import labels

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO_ROOT / "data" / "processed"
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
    "--virtual-time-budget=8000",
    "--window-size=1400,900",
]


def require_chromium() -> None:
    if CHROMIUM.is_file():
        return
    reason = f"{CHROMIUM} not found: install Debian's chromium (make test does so as root)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(reason)
    pytest.skip(reason)


def chromium(page: Path, work: Path, *args: str) -> str:
    """Run Chromium on a page (its own profile folder) and return what it printed."""
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=work))
    process = subprocess.run(
        [str(CHROMIUM), *_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    tail = "\n".join(process.stderr.splitlines()[-5:])
    assert process.returncode == 0, f"chromium exited with {process.returncode}:\n{tail}"
    return process.stdout


def page_requests(net_log: Path) -> list[str]:
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


def with_script(page: Path, script: str, suffix: str) -> Path:
    """A copy of a map page with ``script`` run after the map is built (``MAP`` = the map)."""
    text = page.read_text(encoding="utf-8")
    map_name = re.search(r"var (map_\w+) = L\.map\(", text).group(1)
    body = f"<script>(function (MAP) {{ {script} }})({map_name});</script>"
    copy = page.with_name(f"{page.stem}_{suffix}.html")
    copy.write_text(text.replace("</html>", body + "</html>"), encoding="utf-8")
    return copy


def render(page: Path, work: Path, *, dom_script: str | None = None) -> dict:
    """DOM after load (and after ``dom_script``), screenshot and network log, in parallel."""
    net_log, shot = work / f"{page.stem}.net.json", work / f"{page.stem}.png"
    jobs = {
        "dom": (page, ("--dump-dom", f"--log-net-log={net_log}")),
        "shot": (page, (f"--screenshot={shot}",)),
    }
    if dom_script is not None:
        jobs["scripted"] = (with_script(page, dom_script, "scripted"), ("--dump-dom",))
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {k: pool.submit(chromium, p, work, *a) for k, (p, a) in jobs.items()}
        out = {k: f.result() for k, f in futures.items()}
    out.update(requests=page_requests(net_log), screenshot=shot)
    return out


def svg_fills(dom: str, pane: str = "overlay") -> list[str]:
    """Fill colours of the interactive SVG paths Leaflet drew in one pane."""
    start = dom.find(f'class="leaflet-pane leaflet-{pane}-pane"')
    assert start >= 0, f"no {pane} pane"
    end = dom.find('class="leaflet-pane', start + 10)
    block = dom[start : end if end > 0 else len(dom)]
    paths = [dict(re.findall(r'([\w-]+)="([^"]*)"', tag)) for tag in re.findall(r"<path\b[^>]*>", block)]
    return [p["fill"] for p in paths if "leaflet-interactive" in p.get("class", "") and "fill" in p]


def near_pixels(image: Path, colour: str, tolerance: int = 30) -> int:
    rgb = np.asarray(Image.open(image).convert("RGB")).astype(int)
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - target).max(axis=2) <= tolerance).sum())


def class_counts(codes: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(codes, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


# --------------------------------------------------------------------------------------------
# The Huangpu maps written by `lifecircle report`
# --------------------------------------------------------------------------------------------

#: Chooses the nursery view in the layer control (as a user would) and opens the popup of
#: 西凌新邨 (compound 0: 11,769 residents, 10 m beyond the 300 m kindergarten threshold).
_CHOOSE_NURSERY = """
var inputs = document.querySelectorAll(".leaflet-control-layers-base input");
var labels = document.querySelectorAll(".leaflet-control-layers-base label");
for (var i = 0; i < labels.length; i++) {
  if (labels[i].textContent.indexOf("Kindergarten") >= 0) { inputs[i].click(); }
}
MAP.eachLayer(function (layer) {
  if (layer.lcId === 0 && layer.getPopup()) { layer.openPopup(); }
});
document.documentElement.setAttribute("data-done", "yes");
"""


@pytest.fixture(scope="module")
def huangpu_maps(huangpu_result, tmp_path_factory) -> dict:
    """Both HTML maps of `lifecircle report huangpu`, rendered; screenshots kept."""
    require_chromium()
    import lifecircle as lc

    work = tmp_path_factory.mktemp("huangpu_maps")
    written = lc.write_outputs(huangpu_result, work / "out", report=True)
    pages = {p.name: p for p in written if p.suffix == ".html"}
    assert sorted(pages) == ["huangpu.html", "huangpu_gaps.html"]
    rendered = {}
    for name, page in pages.items():
        rendered[name] = render(page, work, dom_script=_CHOOSE_NURSERY)
        rendered[name]["html"] = page.read_text(encoding="utf-8")
        rendered[name]["size"] = page.stat().st_size
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(rendered["huangpu.html"]["screenshot"], SCREENSHOTS / "huangpu_map.png")
    shutil.copyfile(rendered["huangpu_gaps.html"]["screenshot"], SCREENSHOTS / "huangpu_gaps_map.png")
    return rendered


def test_every_map_renders_with_no_request(huangpu_maps):
    for name, rendered in huangpu_maps.items():
        assert html_out.external_urls(rendered["html"]) == [], name
        assert rendered["requests"] == [], name
        assert "leaflet-container" in rendered["dom"], name
        assert not re.search(r"<img[^>]*leaflet-tile", rendered["dom"])  # no tiles offline
        assert rendered["size"] < 3_000_000, name


def test_coverage_map_draws_every_compound_in_its_status(huangpu_maps, huangpu_result):
    compounds = huangpu_result.compounds
    on_network = (compounds["access_status"] == "ok").to_numpy()
    complete = compounds["complete"].to_numpy(bool)
    near = compounds["complete_near_miss"].to_numpy(bool)
    expected = {
        labels.COVERED_COLOUR: int((on_network & complete).sum()),
        labels.NEAR_MISS_COLOUR: int((on_network & near).sum()),
        labels.UNCOVERED_COLOUR: int((on_network & ~complete & ~near).sum()),
        labels.OFF_NETWORK_COLOUR: int((~on_network).sum()),
    }
    fills = svg_fills(huangpu_maps["huangpu.html"]["dom"])
    assert len(fills) == len(compounds)
    assert {colour: fills.count(colour) for colour in expected} == expected
    dom = huangpu_maps["huangpu.html"]["dom"]
    assert dom.count('class="leaflet-marker-icon lc-facility') == len(huangpu_result.facilities)
    # The coverage panel shows the run's own figures.
    whole = huangpu_result.coverage.set_index(["area", "category"]).loc[("(all)", "complete")]
    assert f"{100 * whole['population_share']:.1f}%" in dom  # 25.1%


def test_gap_map_opens_on_the_gaps(huangpu_maps, huangpu_result):
    dom = huangpu_maps["huangpu_gaps.html"]["dom"]
    checked = re.findall(r'<label><span><input type="radio" class="leaflet-control-layers-selector"'
                         r' name="[^"]*"( checked="checked")?><span> (.*?)</span>', dom)
    assert [name for flag, name in checked if flag] == ["完整生活圈 / Complete life circle"]
    assert re.search(r'<input type="radio" name="lc-mode" value="graded" checked', dom)
    # The complete life circle's service area is drawn from the start.
    areas = re.findall(r'<path[^>]*fill="(#[0-9a-f]{6})"', dom[dom.find("leaflet-lcAreas-pane"):])
    assert "#2b6cb0" in areas
    # Compounds by graded class: covered ones muted, gaps by how many categories are missing.
    compounds = huangpu_result.compounds
    missing = (~compounds["nursery_covered"]).astype(int) + (~compounds["culture_covered"]).astype(int)
    codes = np.select(
        [compounds["access_status"] != "ok", compounds["complete"], compounds["complete_near_miss"],
         missing == 1],
        ["x", "1", "n", "m"], "M",
    )
    colours = {"x": labels.OFF_NETWORK_COLOUR, "1": labels.MUTED_COLOUR, "n": labels.NEAR_MISS_COLOUR,
               "m": labels.COMPLETE_CLASSES["m"][2], "M": labels.COMPLETE_CLASSES["M"][2]}
    fills = svg_fills(dom)
    drawn = {colours[code]: fills.count(colours[code]) for code in colours}
    assert drawn == {colours[code]: count for code, count in class_counts(codes).items()}


def test_choosing_a_category_regrades_compounds_and_popups_explain(huangpu_maps, huangpu_result):
    dom = huangpu_maps["huangpu_gaps.html"]["scripted"]
    assert 'data-done="yes"' in dom
    compounds = huangpu_result.compounds
    distance = compounds["nursery_dist_m"].to_numpy(float)
    codes = np.select(
        [compounds["access_status"] != "ok", compounds["nursery_covered"],
         compounds["nursery_near_miss"], np.isnan(distance), distance <= 450, distance <= 600],
        ["x", "1", "n", "u", "a", "b"], "c",
    )
    colours = {code: labels.GRADE_CLASSES[code][2] for code in labels.GRADE_CLASSES}
    colours["1"] = labels.MUTED_COLOUR
    fills = svg_fills(dom)
    expected = {colours[code]: count for code, count in class_counts(codes).items()}
    assert {colour: fills.count(colour) for colour in expected} == expected
    assert expected[labels.NEAR_MISS_COLOUR] > 50 and expected[colours["c"]] > 50
    popup = re.search(r'class="leaflet-popup-content".*?</table></div>', dom, re.S).group(0)
    assert "西凌新邨" in popup and "<td>310</td>" in popup
    assert "临界（略超阈值） / near miss (just beyond): 300–330 m, 4–4.4 min" in popup
    # The legend follows the chosen view.
    assert "幼儿园 / Kindergarten (300 m ≈ 4 min)" in dom[dom.find("lc-view-legend"):]


def test_screenshots_show_the_maps(huangpu_maps):
    for name, shot in (("huangpu.html", "huangpu_map.png"), ("huangpu_gaps.html", "huangpu_gaps_map.png")):
        image = huangpu_maps[name]["screenshot"]
        assert Image.open(image).size == (1400, 900)
        assert near_pixels(image, labels.STREET_COLOUR, 12) > 3_000, "streets drawn"
        assert (SCREENSHOTS / shot).is_file()
    run_shot = huangpu_maps["huangpu.html"]["screenshot"]
    assert near_pixels(run_shot, labels.COVERED_COLOUR) > 1_000
    assert near_pixels(run_shot, labels.UNCOVERED_COLOUR) > 3_000


# --------------------------------------------------------------------------------------------
# Hostile names: payloads in every text field never run
# --------------------------------------------------------------------------------------------

#: Hovers and opens every tooltip and popup, and clicks every control input (so that every
#: layer, view and legend is drawn), then records that it finished.
_EXERCISE = """
function poke() {
  MAP.eachLayer(function (layer) {
    try { if (layer.getTooltip && layer.getTooltip()) { layer.openTooltip(); } } catch (e) {}
    try { if (layer.getPopup && layer.getPopup()) { layer.openPopup(); } } catch (e) {}
    try { layer.fire("mouseover"); } catch (e) {}
  });
}
poke();
var inputs = document.querySelectorAll("input, summary, tr[data-view]");
for (var i = 0; i < inputs.length; i++) { try { inputs[i].click(); poke(); } catch (e) {} }
document.documentElement.setAttribute("data-exercised", "yes");
"""


def exercised_dom(page: Path, work: Path) -> str:
    """The DOM of ``page`` after every tooltip, popup and control was opened in Chromium."""
    dom = chromium(with_script(page, _EXERCISE, "exercised"), work, "--dump-dom")
    assert 'data-exercised="yes"' in dom, "the exerciser script did not run to its end"
    return dom


@pytest.fixture(scope="module")
def hostile_maps(tmp_path_factory) -> dict[str, Path]:
    """Every HTML map `lifecircle report` writes, for a study with payloads in every field."""
    require_chromium()
    import lifecircle as lc

    from ._hostile import write_hostile_study

    folder = tmp_path_factory.mktemp("hostile")
    profile = write_hostile_study(folder / "study")
    result = lc.run(profile, progress=False)
    written = lc.write_outputs(result, folder / "out", report=True)
    return {p.name: p for p in written if p.suffix == ".html"}


def test_hostile_names_never_run_script(hostile_maps, tmp_path):
    from ._hostile import MARK

    assert sorted(hostile_maps) == ["reportstudy.html", "reportstudy_gaps.html"]
    with ThreadPoolExecutor(2) as pool:
        doms = dict(zip(hostile_maps, pool.map(lambda p: exercised_dom(p, tmp_path),
                                                hostile_maps.values()), strict=True))
    for name, dom in doms.items():
        ran = re.findall(MARK + r'="([^"]*)"', dom)
        assert not ran, f"payloads ran in {name}: {sorted(set(ran[0].split()))}"
        # The names are shown as text, not dropped: the escaped payloads are visible.
        for field in ("title", "label", "nursery", "compounds", "jiedao", "credit"):
            assert f"{field}:img" in dom, (name, field)
        assert "&lt;img src=x onerror=" in dom and "{{7*7}}" in dom, name
