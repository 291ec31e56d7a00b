"""Fonts for PNG maps and charts: find one with Chinese glyphs, or warn once and use English."""

from __future__ import annotations

import functools
import shutil
import subprocess
import warnings

from ..errors import LifecircleWarning

_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Arial Unicode MS",
)
_cjk_warned = False


@functools.cache
def cjk_font() -> str | None:
    """Name of an installed font family with Chinese glyphs, or None."""
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in available:
            return family
    # Fonts installed after matplotlib built its cache: ask fontconfig and register the file.
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        listing = subprocess.run(
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted({line.split(":")[0].strip() for line in listing.splitlines() if line.strip()})
    files.sort(key=lambda f: ("Sans" not in f, "Bold" in f, f))  # regular sans first
    for file in files:
        try:
            font_manager.fontManager.addfont(file)
            return font_manager.FontProperties(fname=file).get_name()
        except (OSError, RuntimeError, ValueError):
            continue
    return None


def cjk_family() -> str | None:
    """The CJK font family to use, or None (English-only labels, warned about once)."""
    global _cjk_warned
    family = cjk_font()
    if family is None and not _cjk_warned:
        _cjk_warned = True
        warnings.warn(
            "no font with Chinese characters found (install fonts-noto-cjk or fonts-wqy-microhei): "
            "static maps use English-only labels",
            LifecircleWarning,
            stacklevel=3,
        )
    return family


@functools.cache
def has_bold(family: str | None) -> bool:
    """Whether an installed font of ``family`` has a bold face (WenQuanYi Micro Hei has none)."""
    if family is None:
        return True
    from matplotlib import font_manager

    return any(
        f.name == family and _weight(f.weight) >= 600 for f in font_manager.fontManager.ttflist
    )


def _weight(value: int | str) -> int:
    named = {"normal": 400, "regular": 400, "medium": 500, "semibold": 600, "bold": 700,
             "heavy": 800, "black": 900}
    return int(value) if str(value).isdigit() else named.get(str(value).lower(), 400)
