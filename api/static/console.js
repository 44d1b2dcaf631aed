// The staff console's small helpers (no framework): copy buttons, confirmation of irreversible
// actions, and live refresh of parts of a page that ask for it (data-refresh="<url>" every N s).
"use strict";
(function () {
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) return;
    field.select();
    if (navigator.clipboard) navigator.clipboard.writeText(field.value).catch(function () {});
  });
  document.addEventListener("submit", function (event) {
    const form = event.target;
    const question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
  document.querySelectorAll("[data-refresh]").forEach(function (element) {
    const url = element.getAttribute("data-refresh");
    const seconds = Math.max(2, Number(element.getAttribute("data-refresh-seconds") || 5));
    window.setInterval(function () {
      if (document.hidden) return;
      // Not while someone is typing in it or has a form in it open (e.g. a revocation note).
      if (element.contains(document.activeElement) || element.querySelector("details[open]")) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) return;
          const parsed = new DOMParser().parseFromString(html, "text/html");
          const fresh = parsed.getElementById(element.id);
          if (fresh) element.replaceWith(fresh), (element = document.getElementById(fresh.id));
        })
        .catch(function () {});
    }, seconds * 1000);
  });
})();
