/* closeloop: the dispatch queue's waiting times (/dispatch): web/static/dispatch.js.
 *
 * Each [data-waiting-since] shows how long a request has waited for dispatch; the server
 * renders it, and this ticks it every second between the list's reloads, in the page's
 * language (the time.* strings closeloop.js also uses).
 */
(function () {
  "use strict";

  var body = document.body;
  var STRINGS = JSON.parse((document.getElementById("cl-strings") || {}).textContent || "{}");
  var ZH = (body.dataset.lang || "zh-CN") === "zh-CN";
  var SKEW = (Date.parse(body.dataset.now) || Date.now()) - Date.now(); // server - browser

  function t(key) {
    return Object.prototype.hasOwnProperty.call(STRINGS, key) ? STRINGS[key] : key;
  }

  function duration(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), sec = s % 60;
    var parts = d ? [[d, "d"], [h, "h"]] : h ? [[h, "h"], [m, "m"]] : m ? [[m, "m"], [sec, "s"]] : [[sec, "s"]];
    return parts.map(function (p) { return p[0] + t("time." + p[1]); }).join(ZH ? "" : " ");
  }

  function tick() {
    var at = Date.now() + SKEW;
    document.querySelectorAll("[data-waiting-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.waitingSince);
      if (isNaN(since)) return;
      var text = duration((at - since) / 1000);
      if (el.textContent !== text) el.textContent = text;
    });
  }

  tick();
  setInterval(tick, 1000);
})();
