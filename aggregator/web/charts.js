/* Small SVG charts for the doanket dashboard (no library, no network).
 * DkCharts.hbars(el, items, fmt): horizontal bars, items = [{label, value, note}].
 * DkCharts.months(el, months, series): grouped monthly columns, series = [{key, label, color, fmt}]
 * each scaled to its own maximum (activities and money have different units). */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";

  function node(tag, attrs, text) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function empty(el, msg) {
    el.innerHTML = "";
    var d = document.createElement("div");
    d.className = "empty";
    d.textContent = msg || "Chưa có số liệu trong kỳ này";
    el.appendChild(d);
  }

  var PALETTE = ["#0b4f8a", "#a3161a", "#2f8a3a", "#d08a00", "#6a3d9a", "#1b8a8a", "#7a5c3a"];

  function hbars(el, items, fmt) {
    var max = 0;
    items.forEach(function (it) { if (it.value > max) { max = it.value; } });
    if (max <= 0) { empty(el); return; }
    var rowH = 30, labelW = 210, valueW = 130, W = 640, H = items.length * rowH + 6;
    var svg = node("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
    items.forEach(function (it, i) {
      var y = i * rowH + 4;
      var w = Math.max(1, Math.round((W - labelW - valueW - 10) * it.value / max));
      svg.appendChild(node("text", { x: labelW - 8, y: y + 17, "text-anchor": "end",
        "font-size": 13, fill: "#1d2733" }, it.label));
      var bar = node("rect", { x: labelW, y: y + 3, width: it.value > 0 ? w : 0, height: rowH - 10,
        fill: PALETTE[i % PALETTE.length], rx: 2 });
      var title = node("title", {}, it.label + ": " + fmt(it.value));
      bar.appendChild(title);
      svg.appendChild(bar);
      svg.appendChild(node("text", { x: labelW + (it.value > 0 ? w : 0) + 6, y: y + 17,
        "font-size": 13, fill: "#1d2733" }, fmt(it.value) + (it.note ? " " + it.note : "")));
    });
    el.innerHTML = "";
    el.appendChild(svg);
  }

  function months(el, data, series) {
    var any = false;
    series.forEach(function (s) {
      s.max = 0;
      data.forEach(function (m) { if (m[s.key] > s.max) { s.max = m[s.key]; } });
      if (s.max > 0) { any = true; }
    });
    if (!any || data.length === 0) { empty(el); return; }
    var W = 1200, H = 250, top = 14, bottom = 34, left = 10, right = 10;
    var plotH = H - top - bottom, slot = (W - left - right) / data.length;
    var barW = Math.min(28, (slot - 8) / series.length);
    var svg = node("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
    svg.appendChild(node("line", { x1: left, x2: W - right, y1: top + plotH, y2: top + plotH,
      stroke: "#9aa7b5" }));
    data.forEach(function (m, i) {
      var x0 = left + i * slot + (slot - barW * series.length) / 2;
      series.forEach(function (s, k) {
        var v = m[s.key] || 0;
        var h = s.max > 0 ? Math.round(plotH * v / s.max) : 0;
        var r = node("rect", { x: x0 + k * barW, y: top + plotH - h, width: barW - 2, height: h,
          fill: s.color });
        r.appendChild(node("title", {}, s.label + " " + m.label + ": " + s.fmt(v)));
        svg.appendChild(r);
      });
      svg.appendChild(node("text", { x: left + i * slot + slot / 2, y: H - 12,
        "text-anchor": "middle", "font-size": 13, fill: "#1d2733" }, m.label));
    });
    el.innerHTML = "";
    el.appendChild(svg);
    var legend = document.createElement("div");
    legend.className = "legend";
    series.forEach(function (s) {
      var i = document.createElement("i");
      i.style.background = s.color;
      legend.appendChild(i);
      legend.appendChild(document.createTextNode(s.label + " (cao nhất " + s.fmt(s.max) + ")"));
    });
    el.appendChild(legend);
  }

  window.DkCharts = { hbars: hbars, months: months };
})();
