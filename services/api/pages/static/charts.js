/* Draws each table marked data-chart with the vendored Chart.js. The table stays: it is the chart's text. */
(function () {
  "use strict";
  if (typeof Chart === "undefined") { return; }
  var COLOURS = ["#1d5f8c", "#c0692f", "#25683f", "#6b4c9a"];

  function valueOf(cell) {
    if (!cell || !cell.hasAttribute("data-value") || cell.getAttribute("data-value") === "") { return null; }
    return Number(cell.getAttribute("data-value"));
  }

  function percent(value) { return Math.round(value * 1000) / 10 + "%"; }

  function draw(table) {
    var kind = table.getAttribute("data-chart");
    var headings = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var rows = Array.prototype.slice.call(table.tBodies[0].rows).filter(function (row) { return row.cells.length > 1; });
    var labels = rows.map(function (row) { return row.cells[0].textContent.trim(); });
    if (kind !== "hbar" && labels.length && labels[labels.length - 1] === "All") {
      labels.pop(); rows.pop();  // the total row is in the table, not in the chart
    }
    var axes = {};
    var datasets = [];
    headings.forEach(function (heading, column) {
      if (heading.getAttribute("data-series") !== "true") { return; }
      var axis = heading.getAttribute("data-axis") || "count";
      axes[axis] = true;
      var colour = COLOURS[datasets.length % COLOURS.length];
      datasets.push({
        type: kind === "line" ? "line" : "bar",
        label: heading.textContent.trim(),
        data: rows.map(function (row) { return valueOf(row.cells[column]); }),
        backgroundColor: colour, borderColor: colour, yAxisID: axis, xAxisID: axis,
        spanGaps: false, pointRadius: 3, tension: 0
      });
    });
    var reference = table.getAttribute("data-reference");
    if (reference !== null) {
      datasets.push({
        type: "line", label: table.getAttribute("data-reference-label"),
        data: labels.map(function () { return Number(reference); }),
        borderColor: "#1d2430", borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, yAxisID: "rate", xAxisID: "rate"
      });
      axes.rate = true;
    }
    var horizontal = kind === "hbar";
    var scales = {};
    var names = Object.keys(axes);
    names.forEach(function (axis, index) {
      var scale = { type: "linear", axis: horizontal ? "x" : "y", beginAtZero: true, position: horizontal ? (index ? "top" : "bottom") : (index ? "right" : "left") };
      if (axis === "rate") { scale.suggestedMax = 0.5; scale.ticks = { callback: percent }; }
      if (axis === "count") { scale.ticks = { precision: 0 }; }
      if (index) { scale.grid = { drawOnChartArea: false }; }
      scales[axis] = scale;
    });
    datasets.forEach(function (set) {
      if (horizontal) { delete set.yAxisID; } else { delete set.xAxisID; }
    });
    var box = document.createElement("div");
    box.className = "chart-box";
    var canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    var caption = table.caption ? table.caption.textContent.trim() : "Chart";
    canvas.setAttribute("aria-label", caption + ": chart of the table that follows");
    box.appendChild(canvas);
    table.parentNode.insertBefore(box, table);
    new Chart(canvas, {
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        scales: scales,
        plugins: {
          legend: { display: datasets.length > 1, labels: { boxWidth: 14 } },
          tooltip: {
            callbacks: {
              label: function (context) {
                var value = horizontal ? context.parsed.x : context.parsed.y;
                var axis = context.dataset.yAxisID || context.dataset.xAxisID;
                if (value === null || value === undefined) { return context.dataset.label + ": suppressed or none"; }
                return context.dataset.label + ": " + (axis === "rate" ? percent(value) : value);
              }
            }
          }
        }
      }
    });
  }

  document.querySelectorAll("table[data-chart]").forEach(draw);
})();
