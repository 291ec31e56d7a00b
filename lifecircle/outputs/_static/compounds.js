// lifecircle: compounds drawn from one GeoJSON object, one Leaflet layer per category.
// lcCompounds(data, meta) returns {data, layer(j)}: layer j colours every compound by its status
// in category j (the j-th character of properties.s; the last one is the complete life circle).
// Every string from the data goes through esc() before it reaches the page.
function lcCompounds(data, meta) {
    var colours = meta.colours;
    function esc(v) {
        return String(v).replace(/[&<>"']/g, function (ch) {
            return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch];
        });
    }
    function num(v, digits) {
        if (v === null || v === undefined) { return "—"; }
        return Number(v).toLocaleString("zh-CN", {maximumFractionDigits: digits});
    }
    function style(f, j) {
        var colour = colours[f.properties.s.charAt(j)];
        if (f.geometry.type === "Point") {
            return {color: "#ffffff", weight: 0.8, opacity: 1, fillColor: colour, fillOpacity: 0.85};
        }
        return {color: colour, weight: 1, opacity: 0.9, fillColor: colour, fillOpacity: 0.55};
    }
    function popup(p, j) {
        var L_ = meta.labels;
        var h = '<div class="lc-popup"><div class="lc-popup-name">' + esc(p.n) + '</div>';
        h += '<table class="lc-popup-facts">';
        h += '<tr><th>' + L_.id + '</th><td>' + esc(p.i) + '</td></tr>';
        if (p.d) { h += '<tr><th>' + L_.sub_district + '</th><td>' + esc(p.d) + '</td></tr>'; }
        h += '<tr><th>' + L_.households + '</th><td>' + num(p.h, 0) + '</td></tr>';
        h += '<tr><th>' + L_.population + '</th><td>' + num(p.p, 0) + '</td></tr>';
        h += '<tr><th>' + L_.access + '</th><td>' + esc(meta.access[p.a] || p.a) +
             ' (' + num(p.m, 0) + ' m)</td></tr>';
        h += '</table><table class="lc-popup-cats"><tr>';
        for (var k = 0; k < L_.columns.length; k++) { h += '<th>' + L_.columns[k] + '</th>'; }
        h += '</tr>';
        for (var i = 0; i < meta.categories.length; i++) {
            var c = p.c[i], s = p.s.charAt(i);
            h += '<tr class="lc-s' + s + (i === j ? ' lc-current' : '') + '">' +
                 '<td>' + meta.categories[i] + '</td>' +
                 '<td>' + meta.status[s] + '</td>' +
                 '<td>' + num(c[0], 0) + '</td><td>' + num(c[1], 1) + '</td>' +
                 '<td>' + num(c[2], 0) + '</td>' +
                 '<td>' + (c[3] === null ? '—' : esc(c[3])) + '</td></tr>';
        }
        var s = p.s.charAt(meta.categories.length);
        h += '<tr class="lc-s' + s + (j === meta.categories.length ? ' lc-current' : '') +
             '"><td>' + L_.complete + '</td><td colspan="5">' + meta.status[s] + '</td></tr>';
        return h + '</table></div>';
    }
    return {
        data: data,
        layer: function (j) {
            return L.geoJson(data, {
                pointToLayer: function (f, latlng) {
                    return L.circleMarker(latlng, {radius: f.properties.r});
                },
                style: function (f) { return style(f, j); },
                onEachFeature: function (f, layer) {
                    layer.bindTooltip(esc(f.properties.n), {sticky: true});
                    // Pan popups clear of the expanded layer control (top right).
                    layer.bindPopup(function () { return popup(f.properties, j); },
                                    {maxWidth: 560, autoPanPaddingTopLeft: [50, 300]});
                }
            });
        }
    };
}
