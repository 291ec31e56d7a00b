// lifecircle: packed context layers (streets, water, areas), facilities, and the map's panels.
// Geometry arrives packed in Google's encoded-polyline format (see lifecircle/outputs/_packed.py).
// Every string from the data goes through lcEsc() (compounds.js) before it reaches the page.
var lcState = {compounds: null, follow: [], views: []};

var lcUnpack = (function () {
    function numbers(text, signed) {
        var out = [], value = 0, shift = 0;
        for (var i = 0; i < text.length; i++) {
            var b = text.charCodeAt(i) - 63;
            value |= (b & 31) << shift;
            shift += 5;
            if (b < 0x20) {
                out.push(signed ? ((value & 1) ? ~(value >> 1) : (value >> 1)) : value);
                value = 0;
                shift = 0;
            }
        }
        return out;
    }
    function rings(packed) {
        var d = numbers(packed.p, true), counts = numbers(packed.n, false);
        var out = [], lat = 0, lon = 0, k = 0;
        for (var r = 0; r < counts.length; r++) {
            var ring = new Array(counts[r]);
            for (var v = 0; v < counts[r]; v++, k += 2) {
                lat += d[k];
                lon += d[k + 1];
                ring[v] = [lat * 1e-5, lon * 1e-5];
            }
            out.push(ring);
        }
        return out;
    }
    function polygons(packed) {
        var all = rings(packed), perPolygon = numbers(packed.k, false);
        var perFeature = numbers(packed.f, false), features = [], r = 0, q = 0;
        for (var f = 0; f < perFeature.length; f++) {
            var polys = [];
            for (var p = 0; p < perFeature[f]; p++, q++) {
                polys.push(all.slice(r, r + perPolygon[q]));
                r += perPolygon[q];
            }
            features.push(polys);
        }
        return features;
    }
    return {numbers: numbers, lines: rings, polygons: polygons};
})();

// Light lines (streets, rivers) on a canvas: thousands of lines stay fast and are not clickable.
function lcLines(packed, style) {
    return L.polyline(lcUnpack.lines(packed), L.extend(
        {interactive: false, renderer: L.canvas({pane: style.pane || "overlayPane"})}, style));
}

// Polygons, one Leaflet polygon per feature; props[i].tip (text) becomes a label or tooltip,
// props[i].popup ([[label, share, share], ...]) a popup table of coverage.
function lcAreas(packed, props, style, options) {
    options = options || {};
    var group = L.featureGroup();
    lcUnpack.polygons(packed).forEach(function (polys, i) {
        if (!polys.length) { return; }
        var p = props[i] || {};
        var shape = L.polygon(polys, L.extend({}, style, p.style || {}));
        if (p.tip) {
            shape.bindTooltip(lcEsc(p.tip), options.labels ?
                {permanent: true, direction: "center", className: "lc-label"} : {sticky: true});
        }
        if (p.popup) { shape.bindPopup(lcAreaPopup(p.tip, p.popup, options.headers)); }
        group.addLayer(shape);
    });
    return group;
}

function lcPercent(v) {
    return v === null || v === undefined ? "—" : (100 * v).toFixed(1) + "%";
}

function lcAreaPopup(name, rows, headers) {
    var h = '<div class="lc-popup"><div class="lc-popup-name">' + lcEsc(name) + '</div>' +
            '<table class="lc-popup-cats"><tr>';
    headers.forEach(function (t) { h += '<th>' + lcEsc(t) + '</th>'; });
    h += '</tr>';
    rows.forEach(function (r) {
        h += '<tr><td>' + lcEsc(r[0]) + '</td><td>' + lcPercent(r[1]) + '</td><td>' +
             lcPercent(r[2]) + '</td></tr>';
    });
    return h + '</table></div>';
}

// Facilities of one category: small diamonds (compounds are circles), white when not on the
// walking network.
function lcFacilities(data, meta) {
    return L.geoJson(data, {
        pointToLayer: function (f, latlng) {
            var colour = f.properties.ok ? meta.colour : "#ffffff";
            return L.marker(latlng, {pane: "lcFacilities", keyboard: false, icon: L.divIcon({
                className: "lc-facility", iconSize: [12, 12],
                html: '<span style="background:' + colour + '"></span>'})});
        },
        onEachFeature: function (f, layer) {
            var p = f.properties;
            layer.bindTooltip(lcEsc(p.n), {sticky: true});
            layer.bindPopup(function () {
                var L_ = meta.labels;
                return '<div class="lc-popup"><div class="lc-popup-name">' + lcEsc(p.n) +
                    '</div><table class="lc-popup-facts">' +
                    '<tr><th>' + lcEsc(L_.category) + '</th><td>' + lcEsc(meta.category) +
                    '</td></tr><tr><th>' + lcEsc(L_.snap) + '</th><td>' + lcNum(p.m, 0) +
                    ' m</td></tr><tr><th>' + lcEsc(L_.access) + '</th><td>' +
                    lcEsc(L_.access_codes[p.a] || p.a) + '</td></tr></table></div>';
            });
        }
    });
}

// Layers that follow the chosen compound view (service area, uncovered land): parts[j] is
// shown inside group while view j is chosen.
function lcFollow(group, parts) {
    lcState.follow.push({group: group, parts: parts});
}

function lcShowView(index) {
    lcState.follow.forEach(function (f) {
        f.group.clearLayers();
        if (f.parts[index]) { f.group.addLayer(f.parts[index]); }
    });
    if (lcState.legend) { lcState.legend(index); }
}

function lcControl(map, position, className, html) {
    var control = L.control({position: position});
    control.onAdd = function () {
        var div = L.DomUtil.create("div", className);
        div.innerHTML = html;  // built and escaped in Python
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
    };
    return control.addTo(map);
}

// The map's panels: title and coverage (top left), colouring switch (top right), legend
// (bottom left); wiring between the compound views (base layers), the legend and follow layers.
function lcMapUi(map, config, baseLayers) {
    var compounds = lcState.compounds, current = config.view;
    L.control.zoom({position: "bottomright"}).addTo(map);
    var head = lcControl(map, "topleft", "lc-panel lc-head", config.head).getContainer();
    var legend = lcControl(map, "bottomleft", "lc-panel lc-legend", config.legend).getContainer();
    var viewBox = legend.querySelector(".lc-view-legend");
    var offlineNote = legend.querySelector(".lc-offline");
    if (offlineNote) { offlineNote.style.display = config.offline ? "" : "none"; }
    map.attributionControl.addAttribution(config.attribution);  // escaped in Python

    function drawLegend(index) {
        var view = compounds.meta.views[index], mode = compounds.mode();
        var h = '<div class="lc-view-title">' + lcEsc(view.label) + '</div>';
        view[mode].forEach(function (row) {
            h += '<div class="lc-row"><span class="lc-swatch" style="background:' + row.colour +
                 '"></span>' + lcEsc(row.label) + '</div>';
        });
        if (compounds.meta.gaps) { h += '<div class="lc-note">' + lcEsc(config.mutedNote) + '</div>'; }
        viewBox.innerHTML = h;
        head.querySelectorAll("tr[data-view]").forEach(function (tr) {
            tr.classList.toggle("lc-current", Number(tr.getAttribute("data-view")) === index);
        });
    }
    lcState.legend = function (index) { current = index; drawLegend(index); };

    function choose(index) {
        baseLayers.forEach(function (layer, i) {
            if (i !== index && map.hasLayer(layer)) { map.removeLayer(layer); }
        });
        if (!map.hasLayer(baseLayers[index])) { map.addLayer(baseLayers[index]); }
        lcShowView(index);
    }
    map.on("baselayerchange", function (e) {
        var index = baseLayers.indexOf(e.layer);
        if (index >= 0) { lcShowView(index); }
    });
    head.querySelectorAll("tr[data-view]").forEach(function (tr) {
        tr.addEventListener("click", function () { choose(Number(tr.getAttribute("data-view"))); });
    });

    var switcher = lcControl(map, "topright", "lc-panel lc-mode", config.modes).getContainer();
    switcher.querySelectorAll("input").forEach(function (input) {
        input.checked = input.value === compounds.mode();
        input.addEventListener("change", function () {
            compounds.setMode(input.value);
            drawLegend(current);
        });
    });
    lcShowView(current);
    // A map built while its frame had no size yet (a notebook's iframe) fits itself once shown.
    window.addEventListener("load", function () {
        map.invalidateSize();
        map.fitBounds(config.bounds);
    });
}
