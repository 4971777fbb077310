// textmine 분석 작업 공간: the run page's trajectories (model switch without a reload), the topic page's
// relevance slider (LDAvis' λ) and share chart.  Data comes from <script type="application/json"> blocks
// the server wrote; nothing is fetched from elsewhere.
(function () {
  "use strict";
  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf"];
  function phaseShapes(periods, phases) {
    return (phases || []).map(function (p, i) {
      var a = periods.indexOf(String(p.start)), b = periods.indexOf(String(p.end));
      if (a < 0 || b < 0) { return null; }
      return {type: "rect", xref: "x", yref: "paper", x0: a - 0.5, x1: b + 0.5, y0: 0, y1: 1, layer: "below",
              line: {width: 0}, fillcolor: i % 2 ? "rgba(0,0,0,0.06)" : "rgba(0,0,0,0.0)"};
    }).filter(Boolean);
  }
  function band(x, lo, hi, color, group) {
    return {x: x.concat(x.slice().reverse()), y: hi.concat(lo.slice().reverse()), fill: "toself",
            fillcolor: color.replace("rgb", "rgba").replace(")", ",0.12)"), line: {width: 0}, hoverinfo: "skip",
            showlegend: false, legendgroup: group, type: "scatter"};
  }
  function hexToRgb(hex) {
    var n = parseInt(hex.slice(1), 16);
    return "rgb(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + ")";
  }
  var CONFIG = {displaylogo: false, responsive: true};
  var FONT = {family: "Noto Sans KR, Noto Sans CJK KR, Malgun Gothic, Apple SD Gothic Neo, NanumGothic, sans-serif"};

  function drawTrajectories(all, model) {
    var el = document.getElementById("traj-chart");
    var m = all[model];
    if (!el || !m || !window.Plotly) { return; }
    var traces = [];
    m.topics.forEach(function (t, i) {
      var color = hexToRgb(COLORS[i % COLORS.length]), group = "t" + t.topic;
      if (t.lo.every(function (v) { return v !== null; }) && t.hi.every(function (v) { return v !== null; })) {
        traces.push(band(m.periods, t.lo, t.hi, color, group));
      }
      traces.push({x: m.periods, y: t.share, name: t.topic + " " + t.label, mode: "lines+markers", type: "scatter",
                   line: {color: color}, legendgroup: group,
                   hovertemplate: "%{x}: %{y:.1%}<extra>" + (t.topic + " " + t.label).replace(/</g, "&lt;") + "</extra>"});
    });
    window.Plotly.react(el, traces, {
      title: {text: m.name + " 토픽 비중 추이"}, margin: {t: 40, r: 10}, height: 460, font: FONT,
      xaxis: {type: "category", title: {text: "기간"}}, yaxis: {tickformat: ".0%", title: {text: "비중"}},
      shapes: phaseShapes(m.periods, m.phases), legend: {orientation: "v"}
    }, CONFIG);
    el.setAttribute("data-model", model);
  }

  var traj = data("traj-data");
  if (traj) {
    var chart = document.getElementById("traj-chart");
    drawTrajectories(traj, chart.getAttribute("data-model"));
    document.querySelectorAll("#model-switch a").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        var model = a.getAttribute("data-model");
        drawTrajectories(traj, model);
        document.querySelectorAll("#model-switch a").forEach(function (b) { b.classList.toggle("on", b === a); });
        document.querySelectorAll(".topics[data-model]").forEach(function (d) {
          d.hidden = d.getAttribute("data-model") !== model;
        });
        history.replaceState(null, "", "?model=" + encodeURIComponent(model));
      });
    });
  }

  var terms = data("terms-data");
  if (terms) {
    var slider = document.getElementById("lambda"), out = document.getElementById("lambda-value");
    var list = document.getElementById("term-list");
    var render = function () {
      var lam = parseFloat(slider.value);
      out.textContent = lam.toFixed(2);
      var ranked = terms.terms.map(function (t) {
        return {term: t.term, p: t.p, score: lam * t.logp + (1 - lam) * t.lift};
      }).sort(function (a, b) { return b.score - a.score || (a.term < b.term ? -1 : 1); }).slice(0, terms.shown);
      list.textContent = "";
      ranked.forEach(function (t) {
        var li = document.createElement("li");
        li.textContent = t.term;
        var small = document.createElement("span");
        small.className = "muted";
        small.textContent = " " + (t.p * 100).toFixed(2) + "%";
        li.appendChild(small);
        list.appendChild(li);
      });
    };
    slider.addEventListener("input", render);
    render();
  }

  var share = data("share-data");
  if (share && window.Plotly) {
    var color = hexToRgb(COLORS[0]);
    var tr = [];
    if (share.lo.every(function (v) { return v !== null; }) && share.hi.every(function (v) { return v !== null; })) {
      tr.push(band(share.periods, share.lo, share.hi, color, "s"));
    }
    tr.push({x: share.periods, y: share.share, mode: "lines+markers", type: "scatter", line: {color: color},
             name: "비중", hovertemplate: "%{x}: %{y:.1%}<extra></extra>"});
    window.Plotly.newPlot("share-chart", tr, {
      margin: {t: 20, r: 10}, height: 320, showlegend: false, font: FONT, xaxis: {type: "category", title: {text: "기간"}},
      yaxis: {tickformat: ".0%", title: {text: "비중"}}, shapes: phaseShapes(share.periods, share.phases)
    }, CONFIG);
  }
  var net = data("network-data");
  if (net && window.Plotly) {
    var ex = [], ey = [];
    net.edges.forEach(function (e) { ex.push(e.a[0], e.b[0], null); ey.push(e.a[1], e.b[1], null); });
    var maxf = Math.max.apply(null, net.nodes.map(function (n) { return n.frequency || 1; }));
    window.Plotly.newPlot("network-chart", [
      {x: ex, y: ey, mode: "lines", type: "scatter", line: {width: 0.6, color: "#bbb"}, hoverinfo: "skip"},
      {x: net.nodes.map(function (n) { return n.x; }), y: net.nodes.map(function (n) { return n.y; }),
       text: net.nodes.map(function (n) { return n.term; }), mode: "markers+text", type: "scatter",
       textposition: "top center",
       marker: {size: net.nodes.map(function (n) { return 8 + 30 * Math.sqrt((n.frequency || 1) / maxf); }),
                color: net.nodes.map(function (n) { return COLORS[(n.block || 0) % COLORS.length]; }),
                line: {width: 0.5, color: "#fff"}},
       customdata: net.nodes.map(function (n) { return [n.frequency, n.block]; }),
       hovertemplate: "%{text}<br>빈도 %{customdata[0]} · 블록 %{customdata[1]}<extra></extra>"}
    ], {height: 640, showlegend: false, margin: {t: 10, l: 10, r: 10, b: 10}, font: FONT,
        xaxis: {visible: false}, yaxis: {visible: false, scaleanchor: "x"}, hovermode: "closest"}, CONFIG);
  }
})();
