/* The Results tab's plot of a comparison test: each pair's DMOS or CMOS with its 95% CI
   (DCR, CCR), or each version's Bradley-Terry strength with its 95% bootstrap CI, best
   first within each work (pairwise). Hovering a point names it; the table beside the
   chart holds the same figures. Chart.js is served from our own static files. */
(function () {
  "use strict";
  const source = document.getElementById("comparison-points");
  const canvas = document.getElementById("comparison-chart");
  if (!source || !canvas || !window.Chart) return;
  const data = JSON.parse(source.textContent);
  const tooltip = document.getElementById("comparison-tooltip");
  const palette = ["#1f4e9c", "#d9822b", "#2e8540", "#b0306a", "#6b4fbb", "#8a6d1f", "#17808a", "#c0392b"];
  const fixed = (v, d) => (v === null || v === undefined ? "–" : v.toFixed(d));
  // An axis label is a point's name, cut short; the tooltip and the table give it whole.
  const short = (name) => (name.length > 22 ? `${name.slice(0, 21)}…` : name);

  let points = [];
  let yTitle = "";
  if (data.method === "pairwise") {
    yTitle = "Bradley-Terry strength (log, centred)";
    data.groups.forEach((group, g) => {
      group.versions.forEach((v) => {
        points.push({
          x: points.length + 1 + g, y: v.strength, low: v.low, high: v.high, colour: palette[g % palette.length],
          tick: short(v.name),
          label: `${group.work} #${v.rank} ${v.name}: strength ${fixed(v.strength, 2)} ` +
            `(95% CI ${fixed(v.low, 2)} … ${fixed(v.high, 2)}), ${v.wins} wins of ${v.comparisons}` +
            (v.rank === 1 ? `; P(top is best) ${fixed(group.p_top_best, 2)}` : ""),
        });
      });
    });
  } else {
    yTitle = data.method === "dcr" ? "DMOS (DCR 1–5)" : "CMOS (processed against reference, −3…+3)";
    points = data.pairs
      .slice()
      .sort((a, b) => a.mean - b.mean)
      .map((p, i) => ({
        x: i + 1, y: p.mean, low: p.ci === null ? null : p.mean - p.ci, high: p.ci === null ? null : p.mean + p.ci,
        colour: palette[0], tick: short(p.name),
        label: `${p.name}: ${fixed(p.mean, 3)} (95% CI ± ${fixed(p.ci, 3)}, n = ${p.n})`,
      }));
  }
  if (!points.length) return;
  const ticks = new Map(points.map((p) => [p.x, p.tick]));
  // DMOS and CMOS on their scale: a CI wider than the scale (few votes yet) is cut at its
  // ends rather than squashing every point into the middle of the chart.
  const scale = { dcr: [1, 5], ccr: [-3, 3] }[data.method];
  const yRange = scale ? { min: scale[0] - 0.25, max: scale[1] + 0.25 } : {};

  const chart = new window.Chart(canvas, {
    data: {
      datasets: [
        {
          type: "scatter", label: "estimate", data: points.map((p) => ({ x: p.x, y: p.y })),
          backgroundColor: points.map((p) => p.colour), pointRadius: 5, pointHoverRadius: 8,
        },
        {
          type: "bar", label: "95% CI", ci: true,
          data: points.filter((p) => p.low !== null).map((p) => ({ x: p.x, y: [p.low, p.high] })),
          backgroundColor: points.filter((p) => p.low !== null).map((p) => p.colour + "55"),
          borderWidth: 0, barThickness: 3, grouped: false,
        },
      ],
    },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      interaction: { mode: "nearest", intersect: false, axis: "x" },
      scales: {
        // A tick under every point, named; Chart.js skips some when they would overlap.
        x: { type: "linear", min: 0, max: points[points.length - 1].x + 1,
             afterBuildTicks: (axis) => { axis.ticks = points.map((p) => ({ value: p.x })); },
             ticks: { autoSkip: true, maxRotation: 60, callback: (value) => ticks.get(value) || "" },
             title: { display: true, text: data.method === "pairwise" ? "Versions, best first within each work" : "Pairs, sorted" } },
        y: Object.assign({ title: { display: true, text: yTitle } }, yRange),
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          filter: (item) => !chart.data.datasets[item.datasetIndex].ci,
          callbacks: { label: (item) => points[item.dataIndex].label },
        },
      },
      onHover: (event, elements) => {
        const hit = elements.find((e) => !chart.data.datasets[e.datasetIndex].ci);
        tooltip.textContent = hit ? points[hit.index].label : "";
      },
    },
  });
  canvas.chart = chart;
  // Pairwise: which colour is which work.
  if (data.method === "pairwise" && data.groups.length > 1) {
    const legend = document.createElement("ul");
    legend.className = "work-legend";
    data.groups.forEach((group, g) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = palette[g % palette.length];
      item.append(swatch, document.createTextNode(` ${group.work}`));
      legend.append(item);
    });
    canvas.parentElement.after(legend);
  }
})();
