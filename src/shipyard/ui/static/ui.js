// Shipyard dashboard: small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Framed reports grow to their content's height.
  function fit(frame) {
    try {
      var doc = frame.contentDocument;
      if (doc && doc.documentElement) {
        frame.style.height = (doc.documentElement.scrollHeight + 24) + "px";
        if (!frame.dataset.anchors) {
          // The frame is as tall as its content: its own anchors scroll this page instead.
          frame.dataset.anchors = "1";
          doc.addEventListener("click", function (event) {
            var a = event.target.closest && event.target.closest("a[href^='#']");
            if (!a) return;
            var target = doc.getElementById(decodeURIComponent(a.getAttribute("href").slice(1)));
            if (!target) return;
            event.preventDefault();
            var top = frame.getBoundingClientRect().top + target.getBoundingClientRect().top + window.scrollY;
            window.scrollTo({ top: top - 12, behavior: "smooth" });
          });
        }
      }
    } catch (e) { /* another origin: keep the default height */ }
  }
  document.querySelectorAll("iframe.report").forEach(function (frame) {
    frame.addEventListener("load", function () {
      fit(frame);
      setTimeout(function () { fit(frame); }, 300);
    });
    // It may have loaded before this script ran.
    try {
      if (frame.contentDocument && frame.contentDocument.readyState === "complete") fit(frame);
    } catch (e) { /* not readable */ }
  });
  window.addEventListener("resize", function () {
    document.querySelectorAll("iframe.report").forEach(fit);
  });

  // Filters apply as soon as a choice changes.
  document.querySelectorAll("form.filters select.auto").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // The compare button says how many runs are ticked and waits for two.
  document.querySelectorAll("form.compare-form").forEach(function (form) {
    var button = form.querySelector(".compare-button");
    if (!button) return;
    var label = button.textContent;
    function update() {
      var n = form.querySelectorAll("input[name=runs]:checked").length;
      button.disabled = n < 2;
      button.textContent = n ? label + " (" + n + ")" : label;
    }
    form.addEventListener("change", update);
    update();
  });
})();
