"""A hand-built study whose every text field carries script payloads (for the browser tests).

Each payload, if it ever ran, would set ``data-pwned`` on the page's root element; the browser
test dumps the DOM after hovering, opening popups and clicking every control, and looks for it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from ._report_study import write_study

MARK = "data-pwned"
#: Templates: ``{field}`` names the text field, so a failure says which one let script run.
_SET = "var d=document.documentElement;d.setAttribute('data-pwned',(d.getAttribute('data-pwned')||'')+' {field}:%s')"
PAYLOADS = (
    '<img src=x onerror="' + _SET % "img" + '">',
    '"><script>' + _SET % "quote" + "</script>",
    "</script><script>" + _SET % "close" + "</script>",
    '<svg onload="' + _SET % "svg" + '">',
    "</title></style></textarea><script>" + _SET % "title" + "</script>",
    "'-alert(1)-'{{7*7}}",
)


def hostile(text: str, field: str) -> str:
    """``text`` followed by every payload, tagged with ``field``."""
    return text + "".join(p.replace("{field}", field) for p in PAYLOADS)


def _poison_csv(path: Path, column: str = "name") -> None:
    frame = pd.read_csv(path)
    frame[column] = [hostile(str(v), path.stem) for v in frame[column]]
    frame.to_csv(path, index=False)


def _poison_geojson_names(path: Path) -> None:
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    for feature in data["features"]:
        feature["properties"]["name"] = hostile(str(feature["properties"]["name"]), path.stem)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def write_hostile_study(folder: Path, *, polygons: bool = True) -> Path:
    """The report study of ``_report_study`` with payloads in every text field."""
    folder.mkdir(parents=True, exist_ok=True)
    profile_path = write_study(folder, polygons=polygons)
    for name in ("nursery", "culture", "elderly", "shelter", "compounds"):
        _poison_csv(folder / f"{name}.csv")
    for name in ("compounds", "jiedao", "area"):
        _poison_geojson_names(folder / f"{name}.geojson")
    profile = yaml.safe_load(profile_path.read_text(encoding="utf-8"))
    profile["title"] = {"zh": hostile("报告测试区", "title"), "en": hostile("Report", "title")}
    for category in profile["categories"].values():
        category["label"] = {k: hostile(v, "label") for k, v in category["label"].items()}
        category["threshold_source"] = hostile(category["threshold_source"], "source")
        category["source"]["credit"] = hostile("credit", "credit")
    profile["compounds"]["source"]["credit"] = hostile("compound credit", "credit")
    for target in profile["targets"]:
        target["label"] = {"zh": hostile("目标", "target"), "en": hostile("target", "target")}
    profile_path.write_text(
        yaml.safe_dump(profile, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return profile_path
