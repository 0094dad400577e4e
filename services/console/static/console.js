// The console's only script (no inline script: the CSP forbids it). Maps zoom and pan, and a
// click on a map that picks a place fills the form's latitude and longitude.
"use strict";
(function () {
  function setup(svg) {
    var box = svg.viewBox.baseVal;
    var home = [box.x, box.y, box.width, box.height];
    var tools = svg.parentNode.querySelector(".map-tools");
    function zoom(f, cx, cy) {
      var w = box.width * f, h = box.height * f;
      if (w > home[2] * 1.01 || w < home[2] / 40) { return; }
      cx = cx === undefined ? box.x + box.width / 2 : cx;
      cy = cy === undefined ? box.y + box.height / 2 : cy;
      box.x = cx - (cx - box.x) * f; box.y = cy - (cy - box.y) * f;
      box.width = w; box.height = h;
    }
    function point(ev) {
      var p = svg.createSVGPoint(); p.x = ev.clientX; p.y = ev.clientY;
      return p.matrixTransform(svg.getScreenCTM().inverse());
    }
    if (tools) {
      tools.hidden = false;
      tools.addEventListener("click", function (ev) {
        var what = ev.target.getAttribute("data-zoom");
        if (what === "in") { zoom(0.5); }
        if (what === "out") { zoom(2); }
        if (what === "reset") { box.x = home[0]; box.y = home[1]; box.width = home[2]; box.height = home[3]; }
      });
    }
    svg.addEventListener("wheel", function (ev) {
      if (!ev.ctrlKey && !ev.metaKey) { return; }  // plain wheel scrolls the page
      ev.preventDefault();
      var p = point(ev);
      zoom(ev.deltaY < 0 ? 0.8 : 1.25, p.x, p.y);
    }, { passive: false });
    var drag = null;
    svg.addEventListener("pointerdown", function (ev) { drag = { x: ev.clientX, y: ev.clientY, moved: false }; });
    svg.addEventListener("pointermove", function (ev) {
      if (!drag) { return; }
      var k = box.width / svg.getBoundingClientRect().width;
      var dx = (ev.clientX - drag.x) * k, dy = (ev.clientY - drag.y) * k;
      if (Math.abs(dx) + Math.abs(dy) > 2 * k) { drag.moved = true; }
      box.x -= dx; box.y -= dy; drag.x = ev.clientX; drag.y = ev.clientY;
    });
    svg.addEventListener("pointerup", function (ev) {
      var moved = drag && drag.moved; drag = null;
      if (moved || !svg.classList.contains("pick")) { return; }
      var p = point(ev);
      var d = svg.dataset;
      var lat = parseFloat(d.lat1) - (p.y - parseFloat(d.pad)) / parseFloat(d.scale);
      var lng = parseFloat(d.lng0) + (p.x - parseFloat(d.pad)) / (parseFloat(d.k) * parseFloat(d.scale));
      var form = svg.closest("form");
      form.querySelector("[name=latitude]").value = lat.toFixed(6);
      form.querySelector("[name=longitude]").value = lng.toFixed(6);
      var dot = svg.querySelector("#picked");
      dot.setAttribute("cx", p.x); dot.setAttribute("cy", p.y);
    });
  }
  function moveDot(form) {
    var svg = form.querySelector("svg.map.pick");
    if (!svg) { return; }
    var lat = parseFloat(form.querySelector("[name=latitude]").value);
    var lng = parseFloat(form.querySelector("[name=longitude]").value);
    if (isNaN(lat) || isNaN(lng)) { return; }
    var d = svg.dataset, dot = svg.querySelector("#picked");
    dot.setAttribute("cx", parseFloat(d.pad) + (lng - parseFloat(d.lng0)) * parseFloat(d.k) * parseFloat(d.scale));
    dot.setAttribute("cy", parseFloat(d.pad) + (parseFloat(d.lat1) - lat) * parseFloat(d.scale));
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("svg.map").forEach(setup);
    document.querySelectorAll("form").forEach(function (form) {
      moveDot(form);
      form.addEventListener("change", function () { moveDot(form); });
    });
  });
})();
