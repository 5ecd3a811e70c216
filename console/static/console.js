// bootsrv console: live refresh. Each element with data-refresh is
// replaced, every data-every milliseconds, by what its URL answers, while
// the tab is visible. Nothing else runs here.
"use strict";
document.querySelectorAll("[data-refresh]").forEach(function (el) {
  var every = Number(el.dataset.every) || 2000;
  function tick() {
    if (document.hidden) {
      setTimeout(tick, every);
      return;
    }
    fetch(el.dataset.refresh, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.text();
      })
      .then(function (html) {
        el.innerHTML = html;
        el.removeAttribute("data-stale");
      })
      .catch(function () {
        el.setAttribute("data-stale", "");
      })
      .finally(function () {
        setTimeout(tick, every);
      });
  }
  setTimeout(tick, every);
});
