/* closeloop: the admins' Open311 keys page (/admin/open311): web/static/open311.js.
 *
 * closeloop.js sends the "issue a key" form to the API and shows refusals; this shows the
 * new key from the answer in the page's live region, so it is announced, in the page's
 * language (the sentences come from the region's data attributes). The key exists only in
 * this answer: the page says so, and it is gone once the page is left.
 */
(function () {
  "use strict";

  var box = document.getElementById("open311-new-key");
  if (!box) return;

  document.addEventListener("submit", function (event) {
    if (event.target && event.target.id === "open311-issue") box.replaceChildren();
  });

  document.addEventListener("closeloop:done", function (event) {
    if (!event.target || event.target.id !== "open311-issue") return;
    var data = event.detail || {};
    if (!data.key) return;
    var label = document.createElement("p");
    label.textContent = box.dataset.label.split("{name}").join(data.name || "");
    var key = document.createElement("code");
    key.className = "new-key";
    key.dataset.newKey = "";
    key.textContent = data.key;
    var once = document.createElement("p");
    once.className = "hint";
    once.textContent = box.dataset.once;
    box.replaceChildren(label, key, once);
  });
})();
