/* closeloop: the street-office operations' forms (the handler's tasks, the request page,
 * the board). Loaded after closeloop.js by the pages that have such forms.
 *
 * A date-time field (input[type=datetime-local][data-zone]) holds a local time of the
 * pages' zone (China Standard Time); the API wants an ISO date-time with its offset. Just
 * before closeloop.js reads a form to send it, each such field is swapped for a hidden
 * twin holding "YYYY-MM-DDTHH:MM:SS+08:00" (an empty field is left out, so that the API
 * says it is missing, or leaves an optional one unset); right after, the field is back as
 * it was, so that a refusal is shown next to it and what was typed stays.
 */
(function () {
  "use strict";

  function iso(value, zone) {
    // "2025-11-22T14:05" or "2025-11-22T14:05:30" (the field's seconds are optional)
    return (value.length === 16 ? value + ":00" : value) + zone;
  }

  var restores = [];

  function restore() {
    while (restores.length) restores.pop()();
  }

  // capture phase: before closeloop.js's own submit handler (bubble phase) collects the form
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.api || form.dataset.busy) return;
    restore();
    form.querySelectorAll("input[data-zone]").forEach(function (field) {
      var name = field.name;
      if (!name || field.disabled) return;
      if (!field.value) {
        field.disabled = true;
        restores.push(function () { field.disabled = false; });
        return;
      }
      var twin = document.createElement("input");
      twin.type = "hidden";
      twin.name = name;
      twin.value = iso(field.value, field.dataset.zone);
      field.removeAttribute("name");
      field.after(twin);
      restores.push(function () {
        twin.remove();
        field.setAttribute("name", name);
      });
    });
    if (restores.length) setTimeout(restore, 0); // in case nobody sent the form
  }, true);

  // bubble phase on the window: after closeloop.js's handler on the document has read it
  window.addEventListener("submit", restore);
})();
