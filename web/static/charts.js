// Draw every canvas[data-chart] with Chart.js from the JSON in its data-source element:
// {labels: [...], percent: bool, datasets: [{label, data: [number|null]}]}. Rates come as
// fractions and are shown as percentages. The figures' table stays in the page (closed once
// the chart is drawn) for screen readers and for anyone who prefers numbers.
(function () {
  'use strict';
  if (typeof Chart === 'undefined') return;
  var palette = ['#0b69a3', '#b54708', '#067647', '#b42318', '#6938ef', '#c11574', '#475467',
                 '#0e9384', '#ca8504', '#2e90fa'];
  var locale = document.documentElement.lang || undefined;

  function percentLabel(value) {
    return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 })
      .format(value / 100);
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.source);
    if (!source) return;
    var spec = JSON.parse(source.textContent);
    var percent = canvas.dataset.percent === 'true';
    var kind = canvas.dataset.chart || 'line';
    var datasets = spec.datasets.map(function (dataset, index) {
      var color = palette[index % palette.length];
      return {
        label: dataset.label,
        data: dataset.data.map(function (value) {
          return value === null ? null : (percent ? Math.round(value * 10000) / 100 : value);
        }),
        borderColor: color,
        backgroundColor: kind === 'bar' ? color : color + '33',
        pointStyle: ['circle', 'rect', 'triangle', 'rectRot', 'star', 'crossRot'][index % 6],
        pointRadius: 4,
        spanGaps: false,
        tension: 0
      };
    });
    var axis = { beginAtZero: true, ticks: {} };
    if (percent) {
      axis.suggestedMax = 100;
      axis.ticks.callback = function (value) { return percentLabel(value); };
    } else {
      axis.ticks.precision = 0;
    }
    new Chart(canvas, {
      type: kind,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        locale: locale,
        animation: false,  // figures, not a show: draw them at once (and for screenshots)
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        scales: { y: axis },
        plugins: {
          legend: { position: 'bottom' },
          tooltip: {
            callbacks: percent ? {
              label: function (context) {
                return context.dataset.label + ': ' +
                  (context.parsed.y === null ? '—' : percentLabel(context.parsed.y));
              }
            } : {}
          }
        }
      }
    });
    canvas.dataset.rendered = 'true';
    var figure = canvas.closest('figure');
    var table = figure && figure.querySelector('details.chart-data');
    if (table) table.open = false;
  }

  document.querySelectorAll('canvas[data-chart]').forEach(function (canvas) {
    try {
      draw(canvas);
    } catch (err) {
      // The table below the canvas still holds every figure.
      if (window.console) console.error(err);
    }
  });
})();
