"""Self-contained HTML: render a folium map with Leaflet inlined and no external requests.

``save_map(..., self_contained=True)`` writes an HTML file that works with no internet: Leaflet
1.9.4 is inlined from ``lifecircle/outputs/_static`` and no background tiles are used.
"""

from __future__ import annotations

import base64
import functools
import re
import warnings
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, Figure

from .._atomic import write_text
from ..errors import LifecircleError, LifecircleWarning

_CDN_HINT = "save it with self_contained=False, or remove the plugin"


class RawHTML(Element):
    """Markup inserted verbatim (no Jinja: inlined libraries may contain template syntax)."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self._markup = markup

    def render(self, **kwargs: Any) -> str:
        return self._markup


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------

_URL_PATTERNS = (
    re.compile(
        r"<(?:script|img|iframe|source|audio|video|embed)\b[^>]*?\bsrc\s*=\s*[\"']?([^\"'\s>]+)",
        re.I,
    ),
    re.compile(r"<link\b[^>]*?\bhref\s*=\s*[\"']?([^\"'\s>]+)", re.I),
    re.compile(r"url\(\s*[\"']?([^\"')\s]+)", re.I),
    re.compile(r"@import\s+[\"']([^\"']+)", re.I),
    re.compile(r"tileLayer\(\s*[\"']([^\"']+)", re.I),
)


def external_urls(html_text: str) -> list[str]:
    """Internet resources an HTML page would load: scripts, stylesheets, images, tiles.

    Parameters
    ----------
    html_text : str
        The HTML document.

    Returns
    -------
    list of str
        ``http(s)://`` and protocol-relative (``//host``) URLs in ``<script src>``,
        ``<link href>``, ``<img src>`` (and other media), CSS ``url()``/``@import`` and Leaflet
        tile-layer templates, in document order without repeats. Links (``<a href>``) are not
        resources and are not listed. Empty for a self-contained map.
    """
    found: dict[str, int] = {}
    for pattern in _URL_PATTERNS:
        for match in pattern.finditer(html_text):
            url = match.group(1)
            if re.match(r"(?:https?:)?//", url, re.I):
                found.setdefault(url, match.start())
    return sorted(found, key=found.__getitem__)


@functools.cache
def static_text(name: str) -> str:
    """A text file of the package's ``_static`` folder (JavaScript, CSS)."""
    return (resources.files("lifecircle.outputs") / "_static" / name).read_text(encoding="utf-8")


@functools.cache
def _inline_leaflet() -> tuple[str, str]:
    """Leaflet's CSS (its two control icons as data URIs) and JavaScript, ready to inline."""
    css = static_text("leaflet.css")
    for image in ("layers-2x.png", "layers.png"):
        data = (resources.files("lifecircle.outputs") / "_static" / image).read_bytes()
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        css = css.replace(f"url(images/{image})", f"url({uri})")
    js = static_text("leaflet.js").replace("</script", "<\\/script")
    # The source map is not shipped: drop the comment that points browsers to it.
    js = re.sub(r"//# sourceMappingURL=\S+\s*$", "", js)
    return css, js


def _render_html(fmap: folium.Map, *, self_contained: bool) -> str:
    """Render the map into a fresh Figure (no stale parts of earlier renders)."""
    old_parent = fmap._parent
    old_children = fmap._children
    instance_assets = {k: vars(fmap)[k] for k in ("default_js", "default_css") if k in vars(fmap)}
    # Elements with an `offline` flag (the legend) say so in self-contained files.
    legends = [c for c in old_children.values() if hasattr(c, "offline")]
    legend_offline = [legend.offline for legend in legends]
    title = getattr(old_parent, "title", None) if isinstance(old_parent, Figure) else None
    figure = Figure(title=title)
    try:
        if self_contained:
            fmap._children = OrderedDict(
                (k, v)
                for k, v in old_children.items()
                if not isinstance(v, folium.raster_layers.TileLayer)
            )
            fmap.default_js, fmap.default_css = [], []
            css, js = _inline_leaflet()
            figure.header.add_child(RawHTML(f"<style>{css}</style>"), name="leaflet_css")
            figure.header.add_child(RawHTML(f"<script>{js}</script>"), name="leaflet")
            for legend in legends:
                legend.offline = True
        figure.add_child(fmap, name=fmap.get_name())
        rendered = figure.render()
    finally:
        fmap._parent = old_parent
        fmap._children = old_children
        for key in ("default_js", "default_css"):
            if key in instance_assets:
                setattr(fmap, key, instance_assets[key])
            elif key in vars(fmap):
                delattr(fmap, key)
        for legend, offline in zip(legends, legend_offline, strict=True):
            legend.offline = offline
    if self_contained:
        leftover = external_urls(rendered)
        if leftover:
            raise LifecircleError(
                f"the map needs files from the internet ({', '.join(leftover[:3])}), probably "
                f"from a folium plugin added to it, so it cannot be self-contained: {_CDN_HINT}"
            )
        body = rendered[rendered.find("</head>") :]
        if re.search(r"\$\(|jQuery|L\.AwesomeMarkers", body):
            warnings.warn(
                "the map uses folium features that need jQuery or Font Awesome (e.g. folium.Popup "
                "with HTML, or icon markers), which self-contained maps leave out: they will not "
                f"work offline; {_CDN_HINT}",
                LifecircleWarning,
                stacklevel=3,
            )
    return rendered


def save_map(fmap: folium.Map, path: str | Path, *, self_contained: bool = False) -> Path:
    """Write a map to an HTML file, atomically.

    Parameters
    ----------
    fmap : folium.Map
        From :func:`coverage_map` (any folium map works).
    path : str or Path
        Destination ``.html`` file; its folder is created when missing.
    self_contained : bool
        Inline Leaflet and drop background tiles, so that the file works with no internet (and
        can be e-mailed). Otherwise Leaflet and the tiles load from the internet when viewed.

    Returns
    -------
    Path
        ``path``. The map is rendered fully before anything is written; the file is replaced
        in one step, so a failure leaves any previous file untouched.

    Raises
    ------
    LifecircleError
        With ``self_contained=True``, when the map uses a plugin that loads files from the
        internet.
    """
    rendered = _render_html(fmap, self_contained=self_contained)
    return write_text(path, rendered)
