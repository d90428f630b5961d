// Keep the results dashboard current while a test runs: poll live.json, update the
// figures in place, and redraw the plots when new votes or a new MOS table arrive.
(function () {
  "use strict";
  var root = document.getElementById("results-live");
  if (!root) { return; }
  var url = root.getAttribute("data-live-url");
  var lastVote = root.getAttribute("data-last-vote") || "";
  var mosAt = root.getAttribute("data-mos-at") || "";

  function redraw(kind) {
    root.querySelectorAll('img[data-refresh="' + kind + '"]').forEach(function (img) {
      img.src = img.src.split("?")[0] + "?v=" + Date.now();
    });
  }

  // A timestamp from live.json (ISO 8601, UTC) as the page first showed it.
  function readable(value) {
    var when = new Date(value);
    if (isNaN(when.getTime())) { return value; }
    return when.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        root.querySelectorAll("[data-live]").forEach(function (el) {
          var value = data[el.getAttribute("data-live")];
          if (value === undefined) { return; }
          if (value === null) { el.textContent = el.getAttribute("data-format") === "datetime" ? "none yet" : "n/a"; return; }
          el.textContent = el.getAttribute("data-format") === "datetime" ? readable(value) : value;
        });
        if ((data.last_vote_at || "") !== lastVote) { lastVote = data.last_vote_at || ""; redraw("votes"); }
        if ((data.mos_computed_at || "") !== mosAt) { mosAt = data.mos_computed_at || ""; redraw("mos"); }
      })
      .catch(function () { /* try again at the next tick */ })
      .finally(function () { setTimeout(poll, 15000); });
  }
  setTimeout(poll, 15000);
})();
