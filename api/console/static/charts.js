// Draws the dashboard's charts from the JSON in <script id="chart-data">, one Chart.js chart
// per <canvas data-chart="KEY">. A file of its own: the page's CSP runs no inline script.
(function () {
  "use strict";
  var PALETTE = ["#2f6fdf", "#16794c", "#b42318", "#b54708", "#6941c6", "#0e7090"];

  function draw() {
    var source = document.getElementById("chart-data");
    if (!source || typeof Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var numbers = new Intl.NumberFormat(data.locale);
    // narrowSymbol: "¥", as the page writes it, not "CN¥".
    var money = new Intl.NumberFormat(data.locale, { style: "currency", currency: data.currency, currencyDisplay: "narrowSymbol" });
    var percent = new Intl.NumberFormat(data.locale, { style: "percent", maximumFractionDigits: 1 });
    var scale = Math.pow(10, data.moneyExponent);

    function format(unit, value) {
      if (value === null || value === undefined) { return "—"; }
      if (unit === "money") { return money.format(value / scale); }
      if (unit === "ratio") { return percent.format(value); }
      return numbers.format(value);
    }

    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var chart = data.charts[canvas.dataset.chart];
      if (!chart) { return; }
      new Chart(canvas, {
        type: chart.type,
        data: {
          labels: chart.labels,
          datasets: chart.lines.map(function (line, index) {
            var colour = PALETTE[index % PALETTE.length];
            return { label: line.label, data: line.values, yAxisID: line.axis, borderColor: colour, backgroundColor: colour, spanGaps: true, pointRadius: 0, tension: 0.2 };
          })
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          scales: {
            y: { beginAtZero: true, ticks: { callback: function (value) { return format(chart.unit, value); } } },
            y1: {
              display: chart.lines.some(function (line) { return line.axis === "y1"; }),
              position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
              ticks: { callback: function (value) { return format(chart.unit, value); } }
            }
          },
          plugins: {
            legend: { position: "bottom" },
            tooltip: { callbacks: { label: function (item) { return item.dataset.label + ": " + format(chart.unit, item.raw); } } }
          }
        }
      });
      canvas.dataset.drawn = "true";
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
