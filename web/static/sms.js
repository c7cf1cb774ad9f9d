/* closeloop: the admins' SMS page (/admin/sms): web/static/sms.js.
 *
 * closeloop.js sends the "send test" form to the API and shows refusals; this shows the
 * answer ({ok, status, error}) in the page's live region, so it is announced, in the
 * page's language (the sentences come from the region's data attributes).
 */
(function () {
  "use strict";

  var box = document.getElementById("sms-test-result");
  if (!box) return;

  function show(text, ok) {
    var p = document.createElement("p");
    p.className = ok ? "result" : "field-error";
    p.dataset.ok = ok ? "true" : "false";
    p.textContent = text;
    box.replaceChildren(p);
  }

  document.addEventListener("submit", function (event) {
    if (event.target && event.target.id === "sms-test") box.replaceChildren();
  });

  document.addEventListener("closeloop:done", function (event) {
    if (!event.target || event.target.id !== "sms-test") return;
    var data = event.detail || {};
    if (data.ok) {
      show(box.dataset.sent, true);
      return;
    }
    var text = box.dataset.failed.split("{error}").join(data.error || "");
    if (data.status) text += " " + box.dataset.status.split("{status}").join(String(data.status));
    show(text, false);
  });
})();
