// lifecircle: compounds drawn from one GeoJSON object, one lazily built layer per view.
// View j colours every compound by the j-th character of properties.s, its class in category j
// (the last view is the complete life circle), in the current colouring: "status" (covered,
// near miss, not covered, off network) or "graded" (walking time relative to the threshold).
// Every string from the data goes through lcEsc() before it reaches the page.
function lcEsc(v) {
    return String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g, function (ch) {
        return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch];
    });
}

function lcNum(v, digits) {
    if (v === null || v === undefined) { return "—"; }
    return Number(v).toLocaleString("zh-CN", {maximumFractionDigits: digits});
}

function lcCompounds(data, meta) {
    // Per view and colouring: class code -> colour; per view: class code -> label.
    var colours = [], labels = [];
    meta.views.forEach(function (view) {
        var c = {status: {}, graded: {}}, l = {};
        ["status", "graded"].forEach(function (mode) {
            view[mode].forEach(function (row) {
                for (var i = 0; i < row.codes.length; i++) {
                    c[mode][row.codes.charAt(i)] = row.colour;
                    if (mode === "graded") { l[row.codes.charAt(i)] = row.label; }
                }
            });
        });
        colours.push(c);
        labels.push(l);
    });
    var state = {mode: meta.mode, layers: []};
    var renderer = meta.canvas ? L.canvas({padding: 0.3}) : undefined;

    function muted(code) { return meta.gaps && code === "1"; }

    function style(f, j) {
        var code = f.properties.s.charAt(j);
        var colour = colours[j][state.mode][code];
        if (f.geometry.type === "Point") {
            if (muted(code)) {
                return {radius: 2.5, stroke: false, fillColor: meta.muted, fillOpacity: 0.7};
            }
            return {radius: f.properties.r, stroke: true, color: "#3a3a3a", weight: 0.6,
                    opacity: 0.9, fillColor: colour, fillOpacity: 0.9};
        }
        return {color: colour, weight: 1, opacity: 0.9, fillColor: muted(code) ? meta.muted : colour,
                fillOpacity: muted(code) ? 0.25 : 0.55};
    }

    function tooltip(p, j) {
        return '<b>' + lcEsc(p.n) + '</b><br>' + lcEsc(labels[j][p.s.charAt(j)]);
    }

    function popup(p, j) {
        var L_ = meta.labels, n = meta.views.length - 1;
        var h = '<div class="lc-popup"><div class="lc-popup-name">' + lcEsc(p.n) + '</div>';
        h += '<table class="lc-popup-facts">';
        h += '<tr><th>' + lcEsc(L_.id) + '</th><td>' + lcEsc(p.i) + '</td></tr>';
        if (p.d) {
            h += '<tr><th>' + lcEsc(L_.sub_district) + '</th><td>' + lcEsc(p.d) + '</td></tr>';
        }
        h += '<tr><th>' + lcEsc(L_.households) + '</th><td>' + lcNum(p.h, 0) + '</td></tr>';
        h += '<tr><th>' + lcEsc(L_.population) + '</th><td>' + lcNum(p.p, 0) + '</td></tr>';
        h += '<tr><th>' + lcEsc(L_.access) + '</th><td>' + lcEsc(L_.access_codes[p.a] || p.a) +
             ' (' + lcNum(p.m, 0) + ' m)</td></tr>';
        h += '</table><table class="lc-popup-cats"><tr>';
        for (var k = 0; k < L_.columns.length; k++) { h += '<th>' + lcEsc(L_.columns[k]) + '</th>'; }
        h += '</tr>';
        for (var i = 0; i < n; i++) {
            var c = p.c[i], s = p.s.charAt(i);
            h += '<tr class="' + (i === j ? 'lc-current' : '') + '">' +
                 '<td>' + lcEsc(meta.views[i].label) + '</td>' +
                 '<td><span class="lc-dot" style="background:' + colours[i].graded[s] + '"></span>' +
                 lcEsc(labels[i][s]) + '</td>' +
                 '<td>' + lcNum(c[0], 0) + '</td><td>' + lcNum(c[1], 1) + '</td>' +
                 '<td>' + lcNum(c[2], 0) + '</td>' +
                 '<td>' + (c[3] === null ? '—' : lcEsc(c[3])) + '</td></tr>';
        }
        var last = p.s.charAt(n);
        h += '<tr class="' + (j === n ? 'lc-current' : '') + '"><td>' + lcEsc(L_.complete) +
             '</td><td colspan="5"><span class="lc-dot" style="background:' +
             colours[n].graded[last] + '"></span>' + lcEsc(labels[n][last]) + '</td></tr>';
        return h + '</table></div>';
    }

    // Built on first display: a city's compounds times every view would be slow to build at once.
    var LazyGeoJSON = L.GeoJSON.extend({
        onAdd: function (map) {
            if (!this._lcFilled) {
                this._lcFilled = true;
                var j = this._lcView;
                // Covered (muted in gap maps) first, so that gaps are drawn on top.
                var features = data.features.slice().sort(function (a, b) {
                    return (a.properties.s.charAt(j) !== "1") - (b.properties.s.charAt(j) !== "1");
                });
                this.addData({type: "FeatureCollection", features: features});
            }
            L.GeoJSON.prototype.onAdd.call(this, map);
        }
    });

    function layer(j) {
        var l = new LazyGeoJSON(null, {
            pointToLayer: function (f, latlng) {
                return L.circleMarker(latlng, {renderer: renderer});
            },
            style: function (f) { return style(f, j); },
            onEachFeature: function (f, feature) {
                feature.bindTooltip(function () { return tooltip(f.properties, j); }, {sticky: true});
                // Pan popups clear of the title and coverage panel (top left).
                feature.bindPopup(function () { return popup(f.properties, j); },
                                  {maxWidth: 600, autoPanPaddingTopLeft: [330, 60]});
            }
        });
        l._lcView = j;
        state.layers.push(l);
        return l;
    }

    function setMode(mode) {
        state.mode = mode;
        state.layers.forEach(function (l) {
            if (l._lcFilled) { l.setStyle(function (f) { return style(f, l._lcView); }); }
        });
    }

    return {data: data, meta: meta, layer: layer, setMode: setMode,
            mode: function () { return state.mode; }};
}
