/* The Results tab's MOS plot to explore: every stimulus sorted by MOS with its 95% CI,
   coloured by cluster, filtered by cluster or MOS group. Hovering (or focusing the chart
   and using the arrow keys) shows a stimulus's track, MOS, CI, n and cluster; clicking
   plays it. Chart.js is served from our own static files. */
(function () {
  "use strict";
  const source = document.getElementById("mos-points");
  const canvas = document.getElementById("mos-chart");
  if (!source || !canvas || !window.Chart) return;
  const points = JSON.parse(source.textContent);
  const tooltip = document.getElementById("mos-tooltip");
  const audio = document.getElementById("mos-audio");
  const clusterSelect = document.getElementById("mos-cluster");
  const groupSelect = document.getElementById("mos-group");
  const count = document.getElementById("mos-count");
  const palette = ["#1f4e9c", "#d9822b", "#2e8540", "#b0306a", "#6b4fbb", "#8a6d1f", "#17808a", "#c0392b"];
  const clusterName = (c) => (c === null || c === undefined ? "none" : String(c));
  const colour = (c) => (c === null || c === undefined ? "#888" : palette[c % palette.length]);

  const clusters = [...new Set(points.map((p) => p.cluster))].sort((a, b) => (a ?? -1) - (b ?? -1));
  for (const c of clusters) clusterSelect.add(new Option(`cluster ${clusterName(c)}`, clusterName(c)));
  const groups = [...new Set(points.map((p) => p.group).filter(Boolean))].sort((a, b) =>
    a.localeCompare(b, undefined, { numeric: true }));
  for (const g of groups) groupSelect.add(new Option(g, g));
  if (!groups.length) groupSelect.disabled = true;

  function describe(p) {
    const ci = p.ci === null ? "no CI" : `95% CI ± ${p.ci.toFixed(3)}`;
    const n = p.n === null ? "" : `, n = ${p.n}`;
    const group = p.group ? `, ${p.group}` : "";
    return `${p.name}: MOS ${p.mos.toFixed(3)} (${ci}${n}), cluster ${clusterName(p.cluster)}${group}`;
  }

  function shown() {
    const c = clusterSelect.value, g = groupSelect.value;
    const kept = points
      .filter((p) => (c === "" || clusterName(p.cluster) === c) && (g === "" || p.group === g))
      .sort((a, b) => a.mos - b.mos);
    kept.forEach((p, i) => { p.rank = i + 1; });
    return kept;
  }

  function datasets(kept) {
    const out = [];
    for (const c of clusters) {
      const mine = kept.filter((p) => p.cluster === c);
      if (!mine.length) continue;
      out.push({
        type: "scatter", label: `cluster ${clusterName(c)}`, points: mine,
        data: mine.map((p) => ({ x: p.rank, y: p.mos })),
        backgroundColor: colour(c), borderColor: colour(c), pointRadius: 4, pointHoverRadius: 7,
      });
      out.push({
        type: "bar", label: `cluster ${clusterName(c)} CI`, points: mine, ci: true,
        data: mine.filter((p) => p.ci !== null).map((p) => ({ x: p.rank, y: [p.mos - p.ci, p.mos + p.ci] })),
        backgroundColor: colour(c) + "55", borderWidth: 0, barThickness: 2, grouped: false,
      });
    }
    return out;
  }

  function yRange(kept) {
    let low = 1, high = 5;
    for (const p of kept) {
      const ci = p.ci || 0;
      low = Math.min(low, p.mos - ci);
      high = Math.max(high, p.mos + ci);
    }
    return { min: Math.floor((low - 0.05) * 10) / 10, max: Math.ceil((high + 0.05) * 10) / 10 };
  }

  function pointAt(element) {
    if (!element) return null;
    const set = chart.data.datasets[element.datasetIndex];
    if (set.ci) {
      const withCi = set.points.filter((p) => p.ci !== null);
      return withCi[element.index] || null;
    }
    return set.points[element.index] || null;
  }

  function show(p) { tooltip.textContent = p ? describe(p) : ""; }

  function play(p) {
    if (!p || !p.audio) { tooltip.textContent = p ? `${describe(p)}. No audio to play.` : ""; return; }
    audio.src = p.audio;
    audio.play().catch(() => {});
    tooltip.textContent = `Playing ${describe(p)}`;
  }

  let kept = shown();
  const range = yRange(kept);
  const chart = new window.Chart(canvas, {
    data: { datasets: datasets(kept) },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: true,
      interaction: { mode: "nearest", intersect: false, axis: "x" },
      scales: {
        x: { type: "linear", min: 0, max: kept.length + 1, title: { display: true, text: "Stimuli sorted by MOS" }, ticks: { precision: 0 } },
        y: { min: range.min, max: range.max, title: { display: true, text: "MOS (ACR 1–5)" } },
      },
      plugins: {
        legend: { labels: { filter: (item) => !item.text.endsWith(" CI") } },
        tooltip: {
          filter: (item) => !chart.data.datasets[item.datasetIndex].ci,
          callbacks: { label: (item) => describe(chart.data.datasets[item.datasetIndex].points[item.dataIndex]) },
        },
      },
      onHover: (event, elements) => { show(pointAt(elements.find((e) => !chart.data.datasets[e.datasetIndex].ci) || elements[0])); },
      onClick: (event, elements) => { play(pointAt(elements.find((e) => !chart.data.datasets[e.datasetIndex].ci) || elements[0])); },
    },
  });
  canvas.chart = chart;

  function update() {
    kept = shown();
    const r = yRange(kept);
    chart.data.datasets = datasets(kept);
    chart.options.scales.x.max = kept.length + 1;
    chart.options.scales.y.min = r.min;
    chart.options.scales.y.max = r.max;
    chart.update();
    count.textContent = `${kept.length} of ${points.length} stimuli`;
  }
  clusterSelect.addEventListener("change", update);
  groupSelect.addEventListener("change", update);
  count.textContent = `${kept.length} of ${points.length} stimuli`;

  // Keyboard: the chart takes focus; arrows walk the sorted stimuli, Enter plays one.
  let cursor = -1;
  canvas.tabIndex = 0;
  canvas.addEventListener("keydown", (event) => {
    if (!kept.length) return;
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      cursor = Math.max(0, Math.min(kept.length - 1, cursor + (event.key === "ArrowRight" ? 1 : -1)));
      show(kept[cursor]);
      event.preventDefault();
    } else if ((event.key === "Enter" || event.key === " ") && cursor >= 0) {
      play(kept[cursor]);
      event.preventDefault();
    }
  });
})();
