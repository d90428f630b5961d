// Poll every job progress bar on the page until its job finishes.
(function () {
  "use strict";
  function poll(el) {
    var url = el.getAttribute("data-job-status-url");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (p) {
        el.querySelector("progress").value = p.percent;
        el.querySelector(".job-state").textContent = p.status;
        el.querySelector(".job-count").textContent =
          p.done + "/" + p.total + (p.failed ? " (" + p.failed + " failed)" : "");
        el.querySelector(".job-message").textContent = p.message || "";
        if (p.finished) {
          if (el.getAttribute("data-reload-on-finish")) { window.location.reload(); }
          return;
        }
        setTimeout(function () { poll(el); }, 1500);
      })
      .catch(function () { setTimeout(function () { poll(el); }, 5000); });
  }
  document.querySelectorAll("[data-job-status-url]").forEach(function (el) {
    if (el.querySelector(".job-state").textContent.match(/pending|running/)) { poll(el); }
  });
})();
