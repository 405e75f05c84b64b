// The console's own script (no build step): live regions follow the engine by asking for
// themselves every second (htmx, hx-trigger="every 1s"), except while the operator types in
// one of their forms, which a refresh would wipe out.
(function () {
  "use strict";
  function typing(region) {
    if (region.querySelector("form[data-dirty]")) return true;
    var active = document.activeElement;
    return !!active && region.contains(active) && active.matches("input, textarea, select");
  }
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    if (elt && elt.id === "live" && typing(elt)) evt.preventDefault();
  });
  document.addEventListener("input", function (evt) {
    var form = evt.target.closest && evt.target.closest("form.action");
    if (form) form.dataset.dirty = "1";
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.detail.elt;
    if (!form || !form.matches || !form.matches("form.action")) return;
    // Refused: the form keeps what was typed so that it can be put right.
    if (evt.detail.xhr && evt.detail.xhr.responseText.indexOf('class="error"') >= 0) return;
    delete form.dataset.dirty;
    if (document.activeElement && form.contains(document.activeElement)) document.activeElement.blur();
  });
})();
