/*
 * The national view's map (drawn on the server by api/japan_map.py, fixed: nothing here moves it).
 * Tapping a region (its circle or its name) shows that region's panel beside or under the map, with
 * its figures and a link to its page, and marks its links; without this script a tap opens the
 * region's page.
 */
(function () {
  "use strict";

  const map = document.getElementById("japan-map");
  if (!map) return;
  const hint = document.getElementById("map-hint");
  const panels = document.querySelectorAll(".map-panel");

  function show(code) {
    let shown = null;
    panels.forEach((panel) => {
      panel.hidden = panel.dataset.region !== code;
      if (!panel.hidden) shown = panel;
    });
    map.querySelectorAll(".map-region").forEach((region) => {
      region.classList.toggle("selected", region.dataset.region === code);
    });
    map.querySelectorAll(".map-links path").forEach((path) => {
      path.classList.toggle("related", path.dataset.pair.split("-").indexOf(code) >= 0);
    });
    if (hint) hint.hidden = shown !== null;
    if (shown) shown.focus();
  }

  map.addEventListener("click", (event) => {
    const region = event.target.closest(".map-region");
    if (!region) return;
    event.preventDefault();
    show(region.dataset.region);
  });
  map.dataset.ready = "true";
})();
