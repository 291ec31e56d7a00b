"""Self-contained HTML: render a folium map with Leaflet inlined and no external requests.

Every map lifecircle writes or displays inlines Leaflet 1.9.4 (from ``lifecircle/outputs/_static``)
instead of loading it from a CDN; the only thing an online map fetches is its background tiles.
``save_map(..., self_contained=True)`` (the default) also drops tiles, so the file works with no
internet at all. :class:`InlineMap` does the same for notebooks: folium's own inline display
loads Leaflet from CDNs and stays blank offline, while an :class:`InlineMap` embeds the
self-contained page in an ``<iframe srcdoc>``.
"""

from __future__ import annotations

import base64
import functools
import html
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

_CDN_HINT = "remove the plugin, or use folium's own fmap.save() (which loads Leaflet from CDNs)"


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


def render_html(fmap: folium.Map, *, self_contained: bool = True) -> str:
    """Render a map into one HTML page with Leaflet inlined.

    Parameters
    ----------
    fmap : folium.Map
        Any folium map; it is rendered into a fresh Figure and left as it was.
    self_contained : bool, default True
        Also drop background tiles (elements with an ``offline`` flag, such as the legend, say
        so), so that the page makes no request at all; False keeps the map's tiles.

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    LifecircleError
        With ``self_contained=True``, when the map uses a plugin that loads files from the
        internet.
    """
    old_parent = fmap._parent
    old_children = fmap._children
    instance_assets = {k: vars(fmap)[k] for k in ("default_js", "default_css") if k in vars(fmap)}
    flagged = _offline_flagged(fmap)
    flags = [element.offline for element in flagged]
    title = getattr(old_parent, "title", None) if isinstance(old_parent, Figure) else None
    title = getattr(fmap, "page_title", title)
    figure = Figure(title=html.escape(title) if title else None)
    try:
        if self_contained:
            fmap._children = OrderedDict(
                (k, v)
                for k, v in old_children.items()
                if not isinstance(v, folium.raster_layers.TileLayer)
            )
            for element in flagged:
                element.offline = True
        fmap.default_js, fmap.default_css = [], []
        css, js = _inline_leaflet()
        figure.header.add_child(RawHTML(f"<style>{css}</style>"), name="leaflet_css")
        figure.header.add_child(RawHTML(f"<script>{js}</script>"), name="leaflet")
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
        for element, flag in zip(flagged, flags, strict=True):
            element.offline = flag
    _check_offline(rendered, self_contained)
    return rendered


def _offline_flagged(fmap: folium.Map) -> list[Element]:
    """Elements (any depth) with an ``offline`` flag: they say when tiles were left out."""
    found, queue = [], list(fmap._children.values())
    while queue:
        element = queue.pop(0)
        if hasattr(element, "offline"):
            found.append(element)
        queue.extend(element._children.values())
    return found


def _check_offline(rendered: str, self_contained: bool) -> None:
    leftover = external_urls(rendered)
    if self_contained and leftover:
        raise LifecircleError(
            f"the map needs files from the internet ({', '.join(leftover[:3])}), probably "
            f"from a folium plugin added to it, so it cannot be self-contained: {_CDN_HINT}"
        )
    body = rendered[rendered.find("</head>") :]
    if re.search(r"\$\(|jQuery|L\.AwesomeMarkers", body):
        warnings.warn(
            "the map uses folium features that need jQuery or Font Awesome (e.g. folium.Popup "
            "with HTML, or icon markers), which lifecircle's maps leave out: they will not "
            f"work; {_CDN_HINT}",
            LifecircleWarning,
            stacklevel=3,
        )


def save_map(fmap: folium.Map, path: str | Path, *, self_contained: bool = True) -> Path:
    """Write a map to an HTML file, atomically, with Leaflet inlined.

    Parameters
    ----------
    fmap : folium.Map
        From :func:`lifecircle.outputs.web_map.coverage_map` (any folium map works).
    path : str or Path
        Destination ``.html`` file; its folder is created when missing.
    self_contained : bool, default True
        Drop background tiles too, so that the file works with no internet (and can be
        e-mailed). False keeps the map's tiles, which load from the internet when viewed.

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
    rendered = render_html(fmap, self_contained=self_contained)
    return write_text(path, rendered)


def has_tiles(fmap: folium.Map) -> bool:
    """Whether a map draws background tiles (which need internet)."""
    return any(isinstance(c, folium.raster_layers.TileLayer) for c in fmap._children.values())


class InlineMap(folium.Map):
    """A folium map that needs no internet in notebooks or when saved.

    Displayed in Jupyter, it embeds its own self-contained page (Leaflet inlined) in an
    ``<iframe srcdoc>``; ``save()`` writes the same page. Background tiles, when the map has
    any, are the only thing it loads from the internet.
    """

    #: Height of the notebook frame.
    frame_height = "640px"

    def to_html(self) -> str:
        """The map as one HTML page (tiles kept when the map has them)."""
        return render_html(self, self_contained=not has_tiles(self))

    def _repr_html_(self, **kwargs: Any) -> str:
        page = html.escape(self.to_html(), quote=True)
        return (
            f'<iframe srcdoc="{page}" style="width:100%;height:{self.frame_height};border:none" '
            'sandbox="allow-scripts allow-popups"></iframe>'
        )

    def save(self, outfile: str | Path, close_file: bool = True, **kwargs: Any) -> None:
        """Write the map as in :func:`save_map` (tiles kept when the map has them)."""
        save_map(self, outfile, self_contained=not has_tiles(self))
