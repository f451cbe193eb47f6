// The report page's behaviour: charts (Chart.js, embedded above this script), hover values,
// click to seek the player, and a playhead that follows it. Everything else is static HTML.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const player = document.getElementById("player");
  const tip = document.getElementById("tip");
  const duration = data.duration || 0;

  function seek(t) {
    if (!Number.isFinite(t)) return;
    window.lastSeek = t;
    if (!player) return;
    player.currentTime = Math.max(0, t);
    showTime(t);
  }

  function showTime(t) {
    const label = document.getElementById("player-time");
    if (label) label.textContent = t.toFixed(2) + " s";
    if (!duration) return;
    for (const head of document.querySelectorAll(".playhead")) {
      head.style.display = "block";
      head.style.left = Math.min(100, (t / duration) * 100) + "%";
    }
    for (const chart of window.reportCharts || []) chart.draw();
  }

  // One listener for every element that stands for a moment of the video.
  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-t]");
    if (target) seek(Number(target.dataset.t));
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.matches("figure[data-t]")) {
      seek(Number(event.target.dataset.t));
    }
  });
  document.addEventListener("mouseover", (event) => {
    const target = event.target.closest("[data-tip]");
    if (!target) { tip.hidden = true; return; }
    tip.textContent = target.dataset.tip;
    tip.hidden = false;
  });
  document.addEventListener("mousemove", (event) => {
    if (tip.hidden) return;
    const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    tip.style.left = x + "px";
    tip.style.top = (event.clientY + 16) + "px";
  });

  if (player) {
    player.addEventListener("timeupdate", () => showTime(player.currentTime));
    player.addEventListener("seeked", () => showTime(player.currentTime));
    player.addEventListener("error", () => {
      // Not reachable (e.g. the page was moved away from the video): say so, keep the rest.
      player.hidden = true;
      document.getElementById("player-note").hidden = false;
    });
  }

  // Draws the player's position as a vertical line on every chart.
  const playheadPlugin = {
    id: "playhead",
    afterDatasetsDraw(chart) {
      const t = player ? player.currentTime : window.lastSeek;
      if (!Number.isFinite(t) || (!t && !window.lastSeek)) return;
      const x = chart.scales.x.getPixelForValue(t);
      const area = chart.chartArea;
      if (x < area.left || x > area.right) return;
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#ef4444";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(x, area.top);
      ctx.lineTo(x, area.bottom);
      ctx.stroke();
      ctx.restore();
    },
  };

  function buildChart(spec) {
    const canvas = document.querySelector("#" + spec.id + " canvas");
    if (!canvas) return null;
    const bar = spec.type === "bar";
    const halfWindow = bar ? (spec.window_s || 1) / 2 : 0;
    const scales = {
      x: { type: "linear", min: 0, max: duration || undefined, offset: false,
           title: { display: true, text: "seconds" } },
      y: { title: { display: true, text: spec.y_title }, beginAtZero: bar },
    };
    if (spec.series.some((s) => s.axis === "y1")) {
      scales.y1 = { position: "right", grid: { drawOnChartArea: false },
                    title: { display: true, text: spec.y1_title || "" } };
    }
    return new Chart(canvas, {
      type: bar ? "bar" : "line",
      data: {
        datasets: spec.series.map((s) => ({
          label: s.label,
          data: s.points.map(([x, y]) => ({ x: x + halfWindow, y })),
          yAxisID: s.axis,
          stepped: s.step ? "before" : false,
          spanGaps: false,
          pointRadius: 0,
          borderWidth: 1.5,
          barPercentage: 0.9,
          categoryPercentage: 1,
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        plugins: {
          legend: { labels: { boxWidth: 12, font: { size: 11 } } },
          tooltip: {
            callbacks: {
              title: (items) => items.length
                ? (bar ? (items[0].parsed.x - halfWindow).toFixed(0) + "–"
                         + (items[0].parsed.x + halfWindow).toFixed(0) + " s"
                       : items[0].parsed.x.toFixed(2) + " s")
                : "",
            },
          },
        },
        scales,
        onClick: (event, elements, chart) => {
          const t = chart.scales.x.getValueForPixel(event.x);
          seek(bar ? Math.floor(t / (2 * halfWindow)) * 2 * halfWindow : t);
        },
      },
      plugins: [playheadPlugin],
    });
  }

  window.reportCharts = [];
  if (typeof Chart === "undefined") {
    for (const box of document.querySelectorAll(".canvas-box")) {
      box.textContent = "Charts unavailable: the embedded chart library did not load.";
    }
  } else {
    for (const spec of data.charts) {
      if (spec.series.length) {
        const chart = buildChart(spec);
        if (chart) window.reportCharts.push(chart);
      }
    }
  }
  document.body.dataset.ready = "true";
})();
