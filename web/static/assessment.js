/* closeloop: the assessment page (/assessment): web/static/assessment.js.
 *
 * Sorts the workers' table by a column: each column header holds a button (reached with
 * Tab, pressed with Enter or Space); the header says how the table is sorted (aria-sort)
 * and the page's live region announces it. Each row carries its sort values
 * (data-sort-<column>). The order is kept when the table is reloaded after an adjustment.
 */
(function () {
  "use strict";

  var holder = document.getElementById("assessment-table");
  if (!holder) return;
  var current = null; // {key, dir}

  // a row's sort value for a column; null when it has none (it goes last either way)
  function value(row, key, text) {
    var raw = row.getAttribute("data-sort-" + key) || "";
    if (raw === "") return null;
    return text ? raw : parseFloat(raw);
  }

  function compare(a, b, key, text, dir) {
    var x = value(a, key, text), y = value(b, key, text);
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
    var order = text ? String(x).localeCompare(String(y), document.documentElement.lang) : x - y;
    return dir === "asc" ? order : -order;
  }

  function apply(key, dir, announce) {
    var table = holder.querySelector("table[data-sortable]");
    if (!table) return;
    var button = table.querySelector('button.sort[data-sort="' + key + '"]');
    if (!button) return;
    var text = button.dataset.kind === "text";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      // ties keep the ranking's order (the unranked by name)
      return compare(a, b, key, text, dir) || compare(a, b, "rank", false, "asc") ||
        compare(a, b, "name", true, "asc");
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("thead th").forEach(function (th) { th.removeAttribute("aria-sort"); });
    button.closest("th").setAttribute("aria-sort", dir === "asc" ? "ascending" : "descending");
    current = { key: key, dir: dir };
    if (announce) {
      var box = document.getElementById("announcer");
      var words = dir === "asc" ? table.dataset.sortedAsc : table.dataset.sortedDesc;
      if (box && words) box.textContent = words.split("{column}").join(button.textContent.trim());
    }
  }

  holder.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.sort");
    if (!button) return;
    var key = button.dataset.sort;
    var th = button.closest("th");
    var now = th.getAttribute("aria-sort");
    var dir;
    if (now === "ascending") dir = "desc";
    else if (now === "descending") dir = "asc";
    else dir = button.dataset.first === "asc" ? "asc" : "desc"; // best first
    apply(key, dir, true);
  });

  holder.addEventListener("closeloop:refreshed", function () {
    if (current) apply(current.key, current.dir, false);
  });
})();
