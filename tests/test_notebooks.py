"""The walk-through notebooks run top to bottom on the real Huangpu data, in the venv's Python."""

from __future__ import annotations

import html
import json
import re
import sys

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from .conftest import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _kernel_manager(folder):
    """A kernel running this interpreter (the venv's), whatever kernelspecs the user has."""
    spec = folder / "kernels" / "lifecircle-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "lifecircle tests", "language": "python"}),
        encoding="utf-8",
    )
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
    return KernelManager(kernel_name="lifecircle-test", kernel_spec_manager=specs)


def execute(name, parameters, workdir):
    """Run a notebook with its ``parameters`` cell replaced; return the executed notebook."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        f"{name} is stored with outputs: regenerate it with notebooks/make_notebooks.py"
    )
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1 and notebook.cells.index(cells[0]) <= 2
    cells[0].source = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    client = NotebookClient(
        notebook,
        km=_kernel_manager(workdir),
        timeout=180,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()  # raises CellExecutionError with the traceback when a cell fails
    return notebook


def tagged_output(notebook, tag):
    """All text of the outputs of the cell tagged ``tag`` (plain, HTML and streams)."""
    cell = next(c for c in notebook.cells if tag in c.metadata.get("tags", []))
    assert not [o for o in cell.outputs if o.output_type == "error"]
    texts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            texts.append(output.text)
        for mime in ("text/plain", "text/html"):
            texts.append(output.get("data", {}).get(mime, ""))
    return "\n".join(texts), cell


def assert_inline_map_renders_offline(output: str, work, name: str) -> None:
    """The notebook's inline map (its text/html output) draws in Chromium with no request."""
    from lifecircle.outputs import html as html_out
    from lifecircle.outputs import labels

    from ._map_inputs import embedded_compounds
    from .test_browser import CHROMIUM, chromium, near_pixels, page_requests, svg_fills

    output = output[output.find("<iframe") :]  # text/html only (not the text/plain repr)
    frame = re.search(r'<iframe srcdoc="([^"]*)"', output)
    assert frame, "the map cell must display an iframe holding the whole map"
    inner = html.unescape(frame.group(1))
    assert html_out.external_urls(inner) == []
    if not CHROMIUM.is_file():
        return  # the page itself is checked above; test_browser reports the missing browser
    work.mkdir(parents=True)
    # The framed page draws every compound.
    (work / "inner.html").write_text(inner, encoding="utf-8")
    dom = chromium(work / "inner.html", work, "--dump-dom")
    n_compounds = len(embedded_compounds(inner)[0]["n"])
    assert len(svg_fills(dom)) == n_compounds > 1000
    # As Jupyter shows it, the output inside a notebook page: no request, and the frame shows
    # the map (a screenshot of a 1 MB frame is retried once: headless timing under load).
    page = work / f"{name}.html"
    page.write_text(f"<!DOCTYPE html><html><body>{output}</body></html>", encoding="utf-8")
    for attempt in range(2):
        shot = work / f"shot{attempt}.png"
        chromium(page, work, f"--log-net-log={work / 'net.json'}", f"--screenshot={shot}")
        assert page_requests(work / "net.json") == []
        if near_pixels(shot, labels.STREET_COLOUR, 12) > 1_000:
            break
    else:
        pytest.fail(f"the notebook frame stayed blank: {shot}")


@pytest.fixture(scope="module")
def huangpu_report(huangpu_result):
    import lifecircle as lc

    return lc.indicator_report(huangpu_result)


def test_coverage_notebook(shared_data, huangpu_result, huangpu_report, tmp_path):
    notebook = execute(
        "01_coverage.ipynb", {"PROFILE": "huangpu", "SHARED_DATA": str(shared_data)}, tmp_path
    )
    indicators, _ = tagged_output(notebook, "indicators")
    assert "幼儿园、影剧院" in indicators  # the complete life circle names its categories
    expected = huangpu_report.indicators.set_index("key")
    for key in ("life_circle_population", "culture_per_100k"):
        assert expected.loc[key, "measured"] in indicators
    assert indicators.count("not measured: no elderly_care layer") >= 2
    by_district, _ = tagged_output(notebook, "by_sub_district")
    assert "nursery_compound_share" in by_district and "culture_per_100k" in by_district
    outputs = "\n".join(
        o.get("data", {}).get("text/html", "") + o.get("data", {}).get("text/plain", "")
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    # result.coverage shows the whole-area nursery row with the run's own compound count.
    assert "nursery" in outputs and f"{len(huangpu_result.compounds)}" in outputs
    fmap, _ = tagged_output(notebook, "map")
    assert_inline_map_renders_offline(fmap, tmp_path / "inline_coverage", "huangpu_coverage")


def test_gaps_notebook(shared_data, huangpu_result, tmp_path):
    out = tmp_path / "pngs"
    notebook = execute(
        "02_gaps.ipynb",
        {"PROFILE": "huangpu", "SHARED_DATA": str(shared_data), "OUT_DIR": str(out)},
        tmp_path,
    )
    areas, _ = tagged_output(notebook, "service_areas")
    assert "nursery" in areas and "culture" in areas
    layers, _ = tagged_output(notebook, "gap_layers")
    uncovered = int((~huangpu_result.compounds["nursery_covered"]).sum())
    assert "uncovered_nursery" in layers and str(uncovered) in layers
    table, _ = tagged_output(notebook, "uncovered_population")
    assert "uncovered_population" in table
    _, static = tagged_output(notebook, "static_map")
    assert any("image/png" in o.get("data", {}) for o in static.outputs)
    png = out / "huangpu_nursery_gaps.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fmap, _ = tagged_output(notebook, "map")
    assert_inline_map_renders_offline(fmap, tmp_path / "inline_gaps", "huangpu_gaps")
