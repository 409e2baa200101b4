// Draws the patient timeline's three charts from the JSON in #timeline-data.
// Dates go on a linear axis in milliseconds (Chart.js needs no date adapter
// that way) and are printed back as ISO dates. The tables beside each chart
// hold the same numbers for screen readers and print.
(function () {
  "use strict";
  var source = document.getElementById("timeline-data");
  if (!source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var COLOURS = ["#0d6efd", "#6f42c1", "#198754", "#fd7e14", "#20c997", "#d63384"];

  function day(iso) { return Date.parse(iso + "T00:00:00Z"); }
  // "5 Oct 2026", as the tables print dates; UTC because the points are UTC midnights.
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function isoLabel(ms) {
    var d = new Date(ms);
    return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] + " " + d.getUTCFullYear();
  }
  function points(list) { return list.map(function (p) { return { x: day(p.x), y: p.y }; }); }
  var timeAxis = {
    type: "linear",
    ticks: { callback: isoLabel, maxRotation: 0, autoSkipPadding: 16 },
  };
  function tooltipTitle(items) { return items.length ? isoLabel(items[0].parsed.x) : ""; }
  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options);
    config.options.plugins = Object.assign({ tooltip: { callbacks: { title: tooltipTitle } } }, config.options.plugins);
    new Chart(canvas, config);
  }

  draw("chart-dose", {
    type: "line",
    data: {
      datasets: data.dose.datasets.map(function (set, i) {
        return { label: set.label, data: points(set.points), stepped: true, borderColor: COLOURS[i % COLOURS.length], backgroundColor: COLOURS[i % COLOURS.length] };
      }),
    },
    options: { scales: { x: timeAxis, y: { beginAtZero: true, title: { display: true, text: "dose per day" } } } },
  });

  var hasAshworth = data.scores.datasets.some(function (set) { return set.axis === "ashworth"; });
  var hasPain = data.scores.datasets.some(function (set) { return set.axis === "pain"; });
  draw("chart-scores", {
    type: "line",
    data: {
      datasets: data.scores.datasets.map(function (set) {
        var colour = set.axis === "pain" ? "#dc3545" : "#6f42c1";
        return { label: set.label, data: points(set.points), yAxisID: set.axis, borderColor: colour, backgroundColor: colour };
      }),
    },
    options: {
      scales: {
        x: timeAxis,
        pain: { display: hasPain || !hasAshworth, position: "left", min: 0, max: 10, title: { display: true, text: "NRS" } },
        ashworth: { display: hasAshworth, position: hasPain ? "right" : "left", min: 0, max: 4, grid: { drawOnChartArea: !hasPain }, title: { display: true, text: "Ashworth" } },
      },
    },
  });

  var threshold = data.discrepancy.threshold;
  draw("chart-discrepancy", {
    type: "bar",
    data: {
      datasets: [{
        label: "actual − expected (mL)",
        data: points(data.discrepancy.points),
        backgroundColor: data.discrepancy.points.map(function (p) { return p.flagged ? "#ffc107" : "#6c757d"; }),
        barThickness: 8,
      }],
    },
    options: {
      plugins: { legend: { display: false } },
      scales: {
        x: timeAxis,
        y: { suggestedMin: -threshold * 1.5, suggestedMax: threshold * 1.5, title: { display: true, text: "mL (flag beyond ±" + threshold + ")" } },
      },
    },
  });
})();
