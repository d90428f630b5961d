// While a run trains, redraw its loss curves every few seconds (jobs.js updates the bar).
(function () {
  "use strict";
  var job = document.querySelector("[data-job-status-url]");
  var plots = document.querySelectorAll("img[data-live-plot]");
  if (!job || !plots.length) { return; }
  var lastEpoch = null;
  function poll() {
    fetch(job.getAttribute("data-job-status-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (p) {
        var epoch = p.detail ? String(p.detail.fold) + ":" + String(p.detail.epoch) : null;
        if (epoch !== lastEpoch) {
          lastEpoch = epoch;
          plots.forEach(function (img) { img.src = img.src.split("?")[0] + "?t=" + Date.now(); });
        }
        if (!p.finished) { setTimeout(poll, 5000); }
      })
      .catch(function () { setTimeout(poll, 15000); });
  }
  if (job.querySelector(".job-state").textContent.match(/pending|running/)) { poll(); }
})();
