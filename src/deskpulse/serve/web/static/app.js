/* deskpulse dashboard: charts (bundled plotly.min.js), drill-down clicks, sortable tables,
   breach countdowns and the 30 s auto-refresh of the agents page. No framework, no CDN. */
(function () {
  "use strict";

  var loadedAt = Date.now();
  var sortState = {};

  function each(root, selector, fn) {
    Array.prototype.forEach.call(root.querySelectorAll(selector), fn);
  }

  /* --- charts ------------------------------------------------------------------------------ */
  function drillTarget(point) {
    if (!point) { return null; }
    var url = point.customdata;
    if (Array.isArray(url)) { url = url[0]; }
    if (typeof url !== "string") { return null; }
    return (url.indexOf("/ui/") === 0 || url.charAt(0) === "#") ? url : null;
  }

  function initCharts(root) {
    each(root, ".chart[data-chart]", function (el) {
      var spec = document.getElementById("fig-" + el.getAttribute("data-chart"));
      if (!spec) { return; }
      if (typeof window.Plotly === "undefined") {
        el.innerHTML = "<p class=\"chart-loading\">Charts are unavailable (plotly.min.js is not installed on the server).</p>";
        return;
      }
      var fig = JSON.parse(spec.textContent);
      fig.layout.dragmode = false;
      el.innerHTML = "";
      window.Plotly.newPlot(el, fig.data, fig.layout, {
        displaylogo: false, responsive: true, displayModeBar: false, scrollZoom: false
      }).then(function () {
        el.setAttribute("data-rendered", "1");
      });
      el.on("plotly_click", function (ev) {
        var url = drillTarget(ev && ev.points && ev.points[0]);
        if (url) { window.location.assign(url); }
      });
    });
  }

  function purgeCharts(root) {
    if (typeof window.Plotly === "undefined") { return; }
    each(root, ".chart[data-rendered]", function (el) { window.Plotly.purge(el); });
  }

  /* --- sortable tables ------------------------------------------------------------------------ */
  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) { return numeric ? null : ""; }
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (!numeric) { return raw.toLowerCase(); }
    if (raw === "") { return null; }
    var n = parseFloat(raw);
    return isNaN(n) ? null : n;
  }

  function sortTable(table, index, dir) {
    var th = table.tHead.rows[0].cells[index];
    var numeric = th.getAttribute("data-type") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }   /* empty values last, whatever the direction */
      if (y === null) { return -1; }
      var c = x < y ? -1 : (x > y ? 1 : 0);
      return dir === "asc" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    each(table.tHead, "th", function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === "asc" ? "ascending" : "descending");
    var key = table.getAttribute("data-table");
    if (key) { sortState[key] = { index: index, dir: dir }; }
  }

  function initTables(root) {
    each(root, "table.sortable", function (table) {
      if (!table.tHead || !table.tBodies.length) { return; }
      each(table.tHead, "th", function (th, index) {
        var button = th.querySelector("button.sort");
        if (!button) { return; }
        button.addEventListener("click", function () {
          var current = th.getAttribute("aria-sort");
          var numeric = th.getAttribute("data-type") === "num";
          var dir = current === "descending" ? "asc" : (current === "ascending" ? "desc" : (numeric ? "desc" : "asc"));
          sortTable(table, index, dir);
        });
      });
      var key = table.getAttribute("data-table");
      if (key && sortState[key]) {
        sortTable(table, sortState[key].index, sortState[key].dir);
      } else if (table.hasAttribute("data-sort-default")) {
        sortTable(table, parseInt(table.getAttribute("data-sort-default"), 10), table.getAttribute("data-sort-dir") || "asc");
      }
    });
  }

  /* --- breach countdowns --------------------------------------------------------------------- */
  function fmtSpan(ms) {
    var m = Math.floor(ms / 60000);
    if (m < 60) { return m + "m " + String(Math.floor(ms / 1000) % 60).padStart(2, "0") + "s"; }
    var h = Math.floor(m / 60);
    if (h < 48) { return h + "h " + String(m % 60).padStart(2, "0") + "m"; }
    return (h / 24).toFixed(1) + " d";
  }

  function tickCountdowns() {
    each(document, ".countdown[data-due]", function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      var asOf = Date.parse(el.getAttribute("data-asof"));
      if (isNaN(due) || isNaN(asOf)) { return; }
      var left = due - (asOf + (Date.now() - loadedAt));
      el.textContent = left < 0 ? "overdue " + fmtSpan(-left) : fmtSpan(left);
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 3600000);
      el.title = "wall-clock time to the due instant, counted from the build's as_of";
    });
  }

  /* --- auto-refresh ------------------------------------------------------------------------ */
  function initRefresh() {
    var region = document.getElementById("refresh-region");
    if (!region || !region.hasAttribute("data-refresh")) { return; }
    var seconds = parseInt(region.getAttribute("data-refresh"), 10) || 30;
    var pause = document.querySelector("[data-refresh-pause]");
    var stamp = document.querySelector("[data-updated]");
    var bar = document.querySelector("[data-refresh-control]");
    var busy = false;
    window.setInterval(function () {
      if (busy || document.hidden || (pause && pause.checked)) { return; }
      busy = true;
      if (bar) { bar.classList.add("refreshing"); }
      window.fetch(window.location.href, { credentials: "same-origin", headers: { "X-Refresh": "1" } })
        .then(function (resp) {
          if (!resp.ok || resp.redirected) { throw new Error("refresh answered " + resp.status); }
          return resp.text();
        })
        .then(function (text) {
          var doc = new DOMParser().parseFromString(text, "text/html");
          var fresh = doc.getElementById("refresh-region");
          if (!fresh) { throw new Error("no refresh region"); }
          purgeCharts(region);
          region.innerHTML = fresh.innerHTML;
          initAll(region);
          if (stamp) { stamp.textContent = new Date().toLocaleTimeString(); }
          region.setAttribute("data-refreshed", String((parseInt(region.getAttribute("data-refreshed"), 10) || 0) + 1));
        })
        .catch(function (err) {
          if (stamp) { stamp.textContent = "failed (" + err.message + "), retrying"; }
        })
        .then(function () {
          busy = false;
          if (bar) { bar.classList.remove("refreshing"); }
        });
    }, seconds * 1000);
  }

  /* --- forms --------------------------------------------------------------------------------- */
  function initForms(root) {
    each(root, "select[data-autosubmit]", function (select) {
      select.addEventListener("change", function () { if (select.form) { select.form.submit(); } });
    });
  }

  /* forms that delete something ask first (no inline script: the CSP forbids it) */
  function initConfirms(root) {
    each(root, "form[data-confirm]", function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { ev.preventDefault(); }
      });
    });
  }

  function initAll(root) {
    initConfirms(root);
    initCharts(root);
    initTables(root);
    initForms(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    initAll(document);
    initRefresh();
    tickCountdowns();
    window.setInterval(tickCountdowns, 1000);
  });
}());
