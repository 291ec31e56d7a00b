// lifecircle: compounds drawn from one set of columns (see map_data.compound_data), one lazily
// built layer per view. View j colours every compound by the j-th character of its class codes
// (s[i]; the last view is the complete life circle), in the current colouring: "status"
// (covered, near miss, not covered, off network) or "graded" (walking time relative to the
// threshold). Every string from the data goes through lcEsc() before it reaches the page.
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

    var n = data.n.length, last = meta.views.length - 1;
    var points = null, shapes = null;
    function geometry() {  // unpacked on first display
        if (points === null) {
            var d = lcUnpack.numbers(data.g.points, true), lat = 0, lon = 0;
            points = new Array(n);
            for (var i = 0; i < n; i++) {
                lat += d[2 * i];
                lon += d[2 * i + 1];
                points[i] = [lat * 1e-5, lon * 1e-5];
            }
            shapes = data.g.polygons ? lcUnpack.polygons(data.g.polygons) : [];
        }
    }

    function muted(code) { return meta.gaps && code === "1"; }

    function style(i, j, shape) {
        var code = data.s[i].charAt(j);
        var colour = colours[j][state.mode][code];
        if (!shape) {
            if (muted(code)) {
                return {radius: 2.5, stroke: false, fillColor: meta.muted, fillOpacity: 0.7};
            }
            return {radius: data.r[i], stroke: true, color: "#3a3a3a", weight: 0.6,
                    opacity: 0.9, fillColor: colour, fillOpacity: 0.9};
        }
        return {color: colour, weight: 1, opacity: 0.9, fillColor: muted(code) ? meta.muted : colour,
                fillOpacity: muted(code) ? 0.25 : 0.55};
    }

    function tooltip(i, j) {
        return '<b>' + lcEsc(data.n[i]) + '</b><br>' + lcEsc(labels[j][data.s[i].charAt(j)]);
    }

    function popup(i, j) {
        var L_ = meta.labels, s = data.s[i], access = data.ak[data.a[i]];
        var h = '<div class="lc-popup"><div class="lc-popup-name">' + lcEsc(data.n[i]) + '</div>';
        h += '<table class="lc-popup-facts">';
        h += '<tr><th>' + lcEsc(L_.id) + '</th><td>' + lcEsc(data.i[i]) + '</td></tr>';
        if (data.d[i] >= 0) {
            h += '<tr><th>' + lcEsc(L_.sub_district) + '</th><td>' + lcEsc(data.dn[data.d[i]]) +
                 '</td></tr>';
        }
        h += '<tr><th>' + lcEsc(L_.households) + '</th><td>' + lcNum(data.h[i], 0) + '</td></tr>';
        h += '<tr><th>' + lcEsc(L_.population) + '</th><td>' + lcNum(data.p[i], 0) + '</td></tr>';
        h += '<tr><th>' + lcEsc(L_.access) + '</th><td>' + lcEsc(L_.access_codes[access] || access) +
             ' (' + lcNum(data.m[i], 0) + ' m)</td></tr>';
        h += '</table><table class="lc-popup-cats"><tr>';
        for (var k = 0; k < L_.columns.length; k++) { h += '<th>' + lcEsc(L_.columns[k]) + '</th>'; }
        h += '</tr>';
        for (var c = 0; c < last; c++) {
            var col = data.c[c], code = s.charAt(c), f = col.f[i];
            h += '<tr class="' + (c === j ? 'lc-current' : '') + '">' +
                 '<td>' + lcEsc(meta.views[c].label) + '</td>' +
                 '<td><span class="lc-dot" style="background:' + colours[c].graded[code] + '"></span>' +
                 lcEsc(labels[c][code]) + '</td>' +
                 '<td>' + lcNum(col.d[i], 0) + '</td><td>' + lcNum(col.t[i], 1) + '</td>' +
                 '<td>' + lcNum(col.k[i], 0) + '</td>' +
                 '<td>' + (f < 0 ? '—' : lcEsc(col.fn[f])) + '</td></tr>';
        }
        var end = s.charAt(last);
        h += '<tr class="' + (j === last ? 'lc-current' : '') + '"><td>' + lcEsc(L_.complete) +
             '</td><td colspan="5"><span class="lc-dot" style="background:' +
             colours[last].graded[end] + '"></span>' + lcEsc(labels[last][end]) + '</td></tr>';
        return h + '</table></div>';
    }

    function marker(i, j) {
        var shape = shapes.length && shapes[i] && shapes[i].length ? shapes[i] : null;
        var m = shape ? L.polygon(shape, style(i, j, true))
                      : L.circleMarker(points[i], L.extend({renderer: renderer}, style(i, j, false)));
        m.lcIndex = i;
        m.lcId = data.i[i];
        m.bindTooltip(function () { return tooltip(i, j); }, {sticky: true});
        // Pan popups clear of the title and coverage panel (top left).
        m.bindPopup(function () { return popup(i, j); },
                    {maxWidth: 600, autoPanPaddingTopLeft: [330, 60]});
        return m;
    }

    // Built on first display: a city's compounds times every view would be slow to build at once.
    var LazyGroup = L.FeatureGroup.extend({
        onAdd: function (map) {
            if (!this._lcFilled) {
                this._lcFilled = true;
                geometry();
                var j = this._lcView, order = [];
                for (var i = 0; i < n; i++) { order.push(i); }
                // Covered (muted in gap maps) first, so that gaps are drawn on top.
                order.sort(function (a, b) {
                    return (data.s[a].charAt(j) !== "1") - (data.s[b].charAt(j) !== "1") || a - b;
                });
                for (var k = 0; k < n; k++) { this.addLayer(marker(order[k], j)); }
            }
            L.FeatureGroup.prototype.onAdd.call(this, map);
        }
    });

    function layer(j) {
        var l = new LazyGroup();
        l._lcView = j;
        state.layers.push(l);
        return l;
    }

    function setMode(mode) {
        state.mode = mode;
        state.layers.forEach(function (l) {
            if (!l._lcFilled) { return; }
            l.eachLayer(function (m) {
                m.setStyle(style(m.lcIndex, l._lcView, !(m instanceof L.CircleMarker)));
            });
        });
    }

    return {data: data, meta: meta, layer: layer, setMode: setMode,
            mode: function () { return state.mode; }};
}
