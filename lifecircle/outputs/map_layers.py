"""Folium elements of the interactive map; their JavaScript lives in ``_static``.

Each element renders one call into ``_static/compounds.js`` or ``_static/layers.js`` with its
data as JSON (:func:`lifecircle.outputs.map_data.to_js`).

Two traps are closed here. branca re-parses every element's rendered output as a Jinja
template, so data containing ``{{ … }}`` would be evaluated as Python expressions while the map
is written: our elements (:class:`Verbatim`) insert their output as it is. And Leaflet inserts
layer-control names as markup, so :func:`layer_group` escapes them (braces included, since
folium's layer control is still re-parsed).
"""

from __future__ import annotations

import html

import folium
from branca.element import Element, MacroElement
from folium.template import Template

from .html import RawHTML, static_text
from .map_data import to_js


class Verbatim(MacroElement):
    """A MacroElement whose rendered parts are inserted as they are, never re-templated."""

    def render(self, **kwargs) -> None:
        """Render the ``header``, ``html`` and ``script`` macros once, into the figure."""
        figure = self.get_root()
        macros = self._template.module.__dict__
        for part in ("header", "html", "script"):
            macro = macros.get(part)
            if macro is not None:
                getattr(figure, part).add_child(
                    RawHTML(str(macro(self, kwargs))), name=self.get_name()
                )
        for element in self._children.values():
            element.render(**kwargs)


def number_elements(element: Element, prefix: str = "", width: int = 4) -> None:
    """Give ``element`` and everything below it sequential ids (breadth first): the same map
    renders to the same HTML.

    Must run before the first render: folium keys some render-time children by element names.
    """
    queue, counter = [element], 0
    while queue:
        item = queue.pop(0)
        item._id = f"{prefix}{counter:0{width}d}"
        counter += 1
        queue.extend(item._children.values())


def safe_markup(text: str) -> str:
    """Plain text as markup for folium templates: HTML-escaped, braces as entities."""
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;")


class MapLibrary(Verbatim):
    """The map's CSS and JavaScript, once per page, and the page-wide state object."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        <script>{{ this.js }}</script>
        {% endmacro %}
        """
    )

    def __init__(self, css_variables: dict[str, str]) -> None:
        super().__init__()
        self._name = "LcLibrary"
        variables = "; ".join(f"--lc-{k}: {v}" for k, v in css_variables.items())
        self.css = f":root {{ {variables}; }}\n" + static_text("map.css")
        self.js = static_text("compounds.js") + "\n" + static_text("layers.js")


class CompoundData(Verbatim):
    """All compounds as one GeoJSON object (``lcState.compounds``)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lcState.compounds = lcCompounds({{ this.data_js }}, {{ this.meta_js }});
        {% endmacro %}
        """
    )

    def __init__(self, data: dict, meta: dict) -> None:
        super().__init__()
        self._name = "LcCompounds"
        self.data_js = to_js(data)
        self.meta_js = to_js(meta)


class CompoundView(Verbatim):
    """The compounds coloured for view ``index``; child of a base-layer group."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lcState.compounds.layer({{ this.index }}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, index: int) -> None:
        super().__init__()
        self._name = "LcCompoundView"
        self.index = index


class PackedLines(Verbatim):
    """Light lines (streets, rivers) from a packed layer; child of a group."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lcLines({{ this.packed_js }}, {{ this.style_js }}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, packed: dict, style: dict) -> None:
        super().__init__()
        self._name = "LcLines"
        self.packed_js = to_js(packed)
        self.style_js = to_js(style)


class PackedAreas(Verbatim):
    """Polygons from a packed layer, with per-feature labels or popups; child of a group."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lcAreas({{ this.packed_js }}, {{ this.props_js }}, {{ this.style_js }},
                {{ this.options_js }}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, packed: dict, props: list[dict], style: dict, options: dict) -> None:
        super().__init__()
        self._name = "LcAreas"
        self.packed_js = to_js(packed)
        self.props_js = to_js(props)
        self.style_js = to_js(style)
        self.options_js = to_js(options)


class FollowAreas(Verbatim):
    """Areas that follow the chosen compound view: part ``j`` shows while view ``j`` is chosen.

    ``parts`` holds, per view, a packed layer and its style, or None.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lcFollow({{ this._parent.get_name() }}, {{ this.parts_js }}.map(function (part) {
            return part ? lcAreas(part.packed, [], part.style, {}) : null;
        }));
        {% endmacro %}
        """
    )

    def __init__(self, parts: list[dict | None]) -> None:
        super().__init__()
        self._name = "LcFollow"
        self.parts_js = to_js(parts)


class Facilities(Verbatim):
    """Facilities of one category; child of an overlay group."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lcFacilities({{ this.data_js }}, {{ this.meta_js }}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, data: dict, meta: dict) -> None:
        super().__init__()
        self._name = "LcFacilities"
        self.data_js = to_js(data)
        self.meta_js = to_js(meta)


class MapUi(Verbatim):
    """Panels (title and coverage, legend, colouring switch) and their wiring; added last."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lcMapUi({{ this._parent.get_name() }}, {{ this.config_js }}, [{{ this.base_names }}]);
        {% endmacro %}
        """
    )

    def __init__(self, config: dict, base_layers: list[folium.FeatureGroup]) -> None:
        super().__init__()
        self._name = "LcMapUi"
        self.config = config
        #: Whether the page has no background tiles (set while saving self-contained).
        self.offline = bool(config.get("offline", True))
        self._base_layers = base_layers

    def render(self, **kwargs) -> None:
        """Render with the base layers' final names (ids are renumbered after building)."""
        self.base_names = ", ".join(layer.get_name() for layer in self._base_layers)
        self.config_js = to_js({**self.config, "offline": self.offline})
        super().render(**kwargs)


def layer_group(name: str, *, overlay: bool = True, show: bool = True) -> folium.FeatureGroup:
    """A layer-control entry; ``name`` is plain text (escaped here: Leaflet inserts markup)."""
    return folium.FeatureGroup(name=safe_markup(name), overlay=overlay, show=show)
