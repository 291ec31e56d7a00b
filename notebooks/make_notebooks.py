"""Write the walk-through notebooks (no outputs stored): ``python notebooks/make_notebooks.py``.

The notebooks are generated so that they stay valid JSON, carry no outputs and share one
parameter cell (tagged ``parameters``: papermill and the tests replace it).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

PARAMETERS = '''\
# Parameters (参数). A built-in profile name ("huangpu", "changning") or the path to your own
# YAML profile (see README "Your own data").
PROFILE = "huangpu"
# Folder of the offline real data used by the huangpu profile (../shared/data). None: use
# $LIFECIRCLE_SHARED_DATA or the profile's default.
SHARED_DATA = None'''

SETUP = '''\
import os
from pathlib import Path

# Work from the repository root, like the command line: data/ and maps/ resolve there.
if Path.cwd().name == "notebooks" and (Path.cwd().parent / "pyproject.toml").is_file():
    os.chdir("..")
if SHARED_DATA is not None:
    os.environ["LIFECIRCLE_SHARED_DATA"] = str(SHARED_DATA)

import pandas as pd

import lifecircle as lc
from lifecircle.outputs import static_map
from lifecircle.outputs.map_inputs import result_layers

pd.set_option("display.max_colwidth", 160)
pd.set_option("display.width", 200)'''

RUN = '''\
result = lc.run(profile, progress=False)
print(f"{len(result.compounds):,} compounds, {len(result.facilities):,} facilities "
      f"(study area and its {profile.max_threshold_m:.0f} m buffer)")
for note in result.notes:
    print("note:", note)'''


def _metadata(title: str) -> dict:
    return {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "title": title,
    }


def _parameters() -> nbformat.NotebookNode:
    return new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})


def coverage_notebook() -> nbformat.NotebookNode:
    """01_coverage: profile → run → coverage and targets → indicator report → map."""
    cells = [
        new_markdown_cell(
            "# 01 · 15分钟社区生活圈覆盖率 / Coverage of the 15-minute community life circle\n\n"
            "This notebook runs one study profile and shows how many residential compounds "
            "(小区) and residents reach each kind of facility within its walking threshold, the "
            "complete life circle (完整生活圈), the plan's indicators (规划指标) and an interactive "
            "map.\n\nSet the parameters in the next cell, then run all cells."
        ),
        _parameters(),
        new_markdown_cell(
            "Setup: work from the repository root and import lifecircle (`lc`)."
        ),
        new_code_cell(SETUP),
        new_markdown_cell(
            "## 1. Profile (研究配置)\n\nThe profile names the study area (研究范围), the walking "
            "network, the facility categories (设施类别) with their walking thresholds (步行阈值, "
            "each citing its source, e.g. GB 50180-2018) and the compounds."
        ),
        new_code_cell(
            "profile = lc.load_profile(PROFILE)\n"
            "print(profile.title)\n"
            "pd.DataFrame(\n"
            "    [\n"
            "        {\n"
            '            "category": key,\n'
            '            "label": str(category.label),\n'
            '            "threshold_m": category.threshold_m,\n'
            '            "minutes": round(category.threshold_m / profile.walking_speed_m_per_min, 1),\n'
            '            "source": category.threshold_source,\n'
            "        }\n"
            "        for key, category in profile.categories.items()\n"
            "    ]\n"
            ")"
        ),
        new_markdown_cell(
            "## 2. Run (运行分析)\n\nLoad the walking network (步行路网) and the layers, snap every "
            "compound and facility to the nearest street, and compute the walking distance from "
            "each compound to the nearest facility of each category. Nothing is written to disk "
            "here (`lc.write_outputs(result)` would save the run)."
        ),
        new_code_cell(RUN),
        new_markdown_cell(
            "## 3. Coverage (覆盖率) and targets (目标)\n\n`compound_share` counts compounds, "
            "`population_share` residents (households × persons per household when only "
            "households are known). Compounds not on the walking network (`n_flagged`) stay in "
            "the denominators and count as not covered."
        ),
        new_code_cell("result.coverage"),
        new_code_cell("result.targets"),
        new_markdown_cell(
            "## 4. Indicator report (规划指标)\n\nThe plan's indicators: life-circle coverage "
            "(基本覆盖全区), inclusive childcare points in every sub-district (普惠性托育点), "
            "cultural venues per 100,000 residents, elderly care (养老) and emergency shelters "
            "(应急避难场所). An indicator whose facility layer the profile lacks is reported as "
            "*not measured*."
        ),
        new_code_cell(
            "report = lc.indicator_report(result)\n"
            'report.indicators[["indicator_zh", "indicator_en", "target", "measured", "met", "note"]]',
            metadata={"tags": ["indicators"]},
        ),
        new_code_cell(
            "# Coverage per sub-district (街道/镇) and for the whole area, with facility counts.\n"
            "report.by_sub_district",
            metadata={"tags": ["by_sub_district"]},
        ),
        new_markdown_cell(
            "## 5. Map (地图)\n\nGreen: covered, yellow: near miss (just beyond the threshold), "
            "red: not covered, grey: not on the walking network. Choose the complete life "
            "circle or one category in the layer list (top right), or click a row of the "
            "coverage table; switch to *walking time, graded* to see how far beyond the "
            "threshold each compound is; click a compound for its distances.\n\n"
            "The map works without internet (it draws the streets itself). With internet, "
            "`lc.coverage_map(result, tiles=\"osm\")` adds OpenStreetMap tiles "
            "(`tiles=\"amap\"`: AMap/高德, with every layer shifted to GCJ-02 to match). "
            "`fmap.save(\"map.html\")` writes the same self-contained page."
        ),
        new_code_cell("fmap = lc.coverage_map(result)\nfmap", metadata={"tags": ["map"]}),
    ]
    return new_notebook(cells=cells, metadata=_metadata("01 coverage"))


def gaps_notebook() -> nbformat.NotebookNode:
    """02_gaps: run → service areas → uncovered compounds → gap map → static PNG."""
    parameters = _parameters()
    parameters.source += (
        "\n# Folder for the static PNG map. None: lifecircle's maps/ folder.\nOUT_DIR = None"
    )
    cells = [
        new_markdown_cell(
            "# 02 · 生活圈缺口 / Gaps in the life circle\n\n"
            "Where are the gaps? This notebook draws the walking service area (步行服务范围) of "
            "each facility category, lists the compounds (小区) beyond the threshold per "
            "category and sub-district (街道/镇), and maps them.\n\nSet the parameters in the "
            "next cell, then run all cells."
        ),
        parameters,
        new_markdown_cell("Setup: work from the repository root and import lifecircle (`lc`)."),
        new_code_cell(SETUP + "\nfrom IPython.display import Image, display\n\nfrom lifecircle.analysis import gaps"),
        new_markdown_cell("## 1. Run (运行分析)\n\nThe same run as in notebook 01."),
        new_code_cell("profile = lc.load_profile(PROFILE)\n" + RUN),
        new_markdown_cell(
            "## 2. Service areas (步行服务范围)\n\nThe streets reachable within each category's "
            "threshold from its nearest facility (partial streets included), widened by a 40 m "
            "access band. The polygons are for maps and areas; coverage itself comes from the "
            "walking distances."
        ),
        new_code_cell(
            "service_areas = gaps.result_service_areas(result)\n"
            'service_areas.drop(columns="geometry")',
            metadata={"tags": ["service_areas"]},
        ),
        new_markdown_cell(
            "## 3. Uncovered compounds (未覆盖小区)\n\nPer category, the compounds beyond the "
            "threshold, largest first, with the reason (`gap_reason`): too far "
            "(`beyond_threshold`), no facility reachable, or not on the walking network "
            "(`island`, `beyond_snap_limit`: check their location). Where compounds are "
            "polygons, `gap_land_<category>` layers hold the residential land outside the "
            "service area."
        ),
        new_code_cell(
            "layers = gaps.gap_layers(result, service_areas)\n"
            "pd.Series({name: len(layer) for name, layer in layers.items()}, name=\"features\")",
            metadata={"tags": ["gap_layers"]},
        ),
        new_code_cell(
            "first = next(iter(profile.categories))\n"
            'columns = ["name", "sub_district", "households", "population", "dist_m", "minutes", '
            '"gap_reason"]\n'
            'layers[f"uncovered_{first}"][columns].head(10)'
        ),
        new_markdown_cell(
            "Uncovered compounds and residents per sub-district (街道/镇) and category "
            "(`(all)` is the whole study area)."
        ),
        new_code_cell(
            "gaps.uncovered_population(result)", metadata={"tags": ["uncovered_population"]}
        ),
        new_markdown_cell(
            "## 4. Gap map (缺口地图)\n\nThe map opens on what is missing: compounds beyond the "
            "threshold, coloured by how far beyond (near miss, up to 1.5×, 1.5–2×, over 2× the "
            "threshold), the walking service area of the chosen category and, where compounds "
            "are polygons, residential land outside it. Covered compounds are small pale dots. "
            "It works without internet."
        ),
        new_code_cell(
            'fmap = lc.coverage_map(result, view="gaps", service_areas=service_areas, '
            "gap_layers=layers)\n"
            "fmap",
            metadata={"tags": ["map"]},
        ),
        new_markdown_cell(
            "## 5. Static map (静态地图)\n\nA print-ready PNG for documents (A4 at 300 dpi, north "
            "arrow, scale bar, Chinese-first title and legend): the first category's compounds "
            "graded by walking time, its facilities and service area over the street network. "
            "`static_map.Page(\"A3\", \"landscape\")` gives other paper. "
            "`lc.write_report_bundle(result)` writes one per category and the complete life "
            "circle together with the report (and, with sub-districts, a ranking chart of "
            "uncovered residents)."
        ),
        new_code_cell(
            "out_dir = Path(OUT_DIR) if OUT_DIR is not None else lc.settings.maps_folder\n"
            "map_layers = result_layers(result, service_areas=service_areas)\n"
            "png = static_map.static_map(\n"
            '    map_layers, first, out_dir / f"{profile.name}_{first}_gaps.png"\n'
            ")\n"
            'print("written:", png)\n'
            "display(Image(filename=str(png), width=600))",
            metadata={"tags": ["static_map"]},
        ),
    ]
    return new_notebook(cells=cells, metadata=_metadata("02 gaps"))


def main() -> None:
    """Write both notebooks next to this script."""
    for name, notebook in (("01_coverage", coverage_notebook()), ("02_gaps", gaps_notebook())):
        # Stable cell ids: regenerating an unchanged notebook gives the same file.
        for number, cell in enumerate(notebook.cells):
            cell.id = f"{name[:2]}-{number:02d}"
        nbformat.validate(notebook)
        nbformat.write(notebook, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
