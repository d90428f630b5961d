// The live raters view: poll raters.json and redraw the table's rows in place.
(function () {
  "use strict";
  var table = document.getElementById("raters-live");
  if (!table) { return; }
  var body = table.querySelector("tbody");
  var updated = document.getElementById("raters-updated");
  var url = table.getAttribute("data-url");
  var interval = parseInt(table.getAttribute("data-interval"), 10) || 5000;

  function cell(row, text, className) {
    var td = row.insertCell();
    td.textContent = text;
    if (className) { td.className = className; }
    return td;
  }

  function render(rows) {
    body.replaceChildren();
    if (!rows.length) {
      var empty = body.insertRow();
      empty.className = "empty";
      var td = cell(empty, "Nobody has taken a session yet.", "muted");
      td.colSpan = 8;
      return;
    }
    rows.forEach(function (r) {
      var row = body.insertRow();
      row.setAttribute("data-assignment", r.assignment);
      cell(row, r.assignment, "num");
      cell(row, r.rater);
      cell(row, (r.platform_assignment || "") + (r.platform_batch ? " / " + r.platform_batch : ""));
      cell(row, r.session, "num");
      cell(row, r.status === "active" ? r.stage : r.status, "stage");
      cell(row, r.minutes, "num");
      cell(row, r.seen_s + " s ago", "num");
      var verdict = cell(row, "", "verdict");
      if (r.verdict) {
        var span = document.createElement("span");
        span.className = r.verdict === "valid" ? "ok" : "error";
        span.textContent = r.verdict;
        verdict.appendChild(span);
        if (r.reasons.length) { verdict.appendChild(document.createTextNode(" (" + r.reasons.join(", ") + ")")); }
      } else {
        var wait = document.createElement("span");
        wait.className = "muted";
        wait.textContent = "not yet";
        verdict.appendChild(wait);
      }
    });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        render(data.rows);
        updated.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
      })
      .catch(function () { /* try again at the next tick */ })
      .finally(function () { setTimeout(poll, interval); });
  }
  setTimeout(poll, interval);
})();
