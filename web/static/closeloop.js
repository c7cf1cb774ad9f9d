/* closeloop pages: forms that call the JSON API, live updates, countdowns.
 *
 * No framework and no build: the pages are rendered on the server; this script
 *  - sends each form[data-api] to the JSON API and shows the server's refusal (its
 *    `detail`: a string, or FastAPI's list of validation errors) next to the field or the
 *    button, never clearing what was typed;
 *  - reloads the parts of a page marked data-src after an action and whenever the server
 *    says (server-sent events from /api/v1/stream) that the read models moved, carrying
 *    over what people are typing, open <details> and focus;
 *  - ticks countdowns and urgency colours every second.
 */
(function () {
  "use strict";

  var body = document.body;
  var STRINGS = JSON.parse(document.getElementById("cl-strings").textContent || "{}");
  var LANG = body.dataset.lang || "zh-CN";
  var ZH = LANG === "zh-CN";
  var WEB_HEADER = body.dataset.webHeader || "X-Closeloop-Web";
  var SKEW = (Date.parse(body.dataset.now) || Date.now()) - Date.now(); // server - browser
  var WARN_SHARE = 0.75;

  function t(key, values) {
    var text = Object.prototype.hasOwnProperty.call(STRINGS, key) ? STRINGS[key] : key;
    if (values) {
      Object.keys(values).forEach(function (name) {
        text = text.split("{" + name + "}").join(String(values[name]));
      });
    }
    return text;
  }

  function now() {
    return Date.now() + SKEW;
  }

  function sel(value) {
    return window.CSS && CSS.escape ? CSS.escape(value) : value.replace(/["\\]/g, "\\$&");
  }

  // ---- countdowns and urgency ---------------------------------------------------

  function duration(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), sec = s % 60;
    var parts = d ? [[d, "d"], [h, "h"]] : h ? [[h, "h"], [m, "m"]] : m ? [[m, "m"], [sec, "s"]] : [[sec, "s"]];
    return parts.map(function (p) { return p[0] + t("time." + p[1]); }).join(ZH ? "" : " ");
  }

  function urgency(el, at) {
    var start = Date.parse(el.dataset.start), end = Date.parse(el.dataset.deadline);
    if (el.dataset.overdue === "1" || at >= end) return "late";
    var total = end - start;
    if (!(total > 0)) return "late";
    return at - start >= WARN_SHARE * total ? "warn" : "ok";
  }

  function tick() {
    var at = now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      if (el.dataset.open !== "1") return;
      var left = (Date.parse(el.dataset.deadline) - at) / 1000;
      var text = left >= 0 ? t("time.left", { t: duration(left) }) : t("time.overdue", { t: duration(-left) });
      el.querySelectorAll("[data-countdown]").forEach(function (c) {
        if (c.closest("[data-deadline]") === el && c.textContent !== text) c.textContent = text;
      });
      var level = "urg-" + urgency(el, at);
      if (!el.classList.contains(level)) {
        el.classList.remove("urg-ok", "urg-warn", "urg-late", "urg-none");
        el.classList.add(level);
      }
    });
  }

  // ---- talking to the API -------------------------------------------------------

  function call(method, url, options) {
    options = options || {};
    var headers = { Accept: "application/json" };
    var payload;
    if (!options.anonymous) headers[WEB_HEADER] = "1";
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(options.json);
    } else if (options.multipart) {
      payload = options.multipart; // FormData: the browser sets the boundary
    } else if (options.form) {
      payload = new URLSearchParams(options.form);
    }
    return fetch(url, {
      method: method,
      headers: headers,
      body: payload,
      credentials: options.anonymous ? "omit" : "same-origin",
    }).then(
      function (resp) {
        return resp.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
          return { ok: resp.ok, status: resp.status, data: data };
        });
      },
      function () {
        return { ok: false, status: 0, data: { detail: t("error.network") } };
      }
    );
  }

  function loginUrl() {
    return "/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  // Signed out (the session ran out): say so and offer the log-in page in a new tab, so
  // that nothing typed on this page is lost; after logging in there, this page works again.
  function signedOut() {
    if (document.getElementById("signed-out")) return;
    var bar = document.createElement("p");
    bar.id = "signed-out";
    bar.className = "signed-out";
    bar.setAttribute("role", "alert");
    bar.textContent = t("error.signed_out") + " ";
    var a = document.createElement("a");
    a.href = loginUrl();
    a.target = "_blank";
    a.rel = "opener";
    a.textContent = t("nav.login");
    bar.appendChild(a);
    document.body.prepend(bar);
  }

  function setPath(target, path, value) {
    for (var i = 0; i < path.length - 1; i++) {
      if (typeof target[path[i]] !== "object" || target[path[i]] === null) target[path[i]] = {};
      target = target[path[i]];
    }
    target[path[path.length - 1]] = value;
  }

  function collect(form) {
    var out = {}, lists = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.matches(":disabled") || el.type === "submit" || el.type === "button") return;
      if (el.type === "file") return; // photos are uploaded first (uploadPhotos)
      // check boxes of one name: the list of the values ticked (empty when none is)
      if (el.dataset.type === "list") {
        if (!lists[el.name]) setPath(out, el.name.split("."), (lists[el.name] = []));
        if (el.checked) lists[el.name].push(el.value);
        return;
      }
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      var value = el.value;
      if (el.dataset.type === "bool") value = value === "true";
      // a number (degrees): left out when blank, sent as typed when it is not a number
      if (el.dataset.type === "number") {
        if (!value.trim()) return;
        value = isFinite(Number(value)) ? Number(value) : value;
      }
      // optional text: left out when blank
      if (el.dataset.type === "optional" && !value.trim()) return;
      // a list of dates: one a line (or separated by spaces or commas)
      if (el.dataset.type === "dates") value = value.split(/[\s,，、;；]+/).filter(Boolean);
      setPath(out, el.name.split("."), value);
    });
    return out;
  }

  // ---- showing refusals ---------------------------------------------------------

  function statusText(code) {
    var key = "error." + code;
    var text = t(key);
    return text === key ? t("error.other") : text;
  }

  function fieldMessage(item) {
    var ctx = item.ctx || {};
    switch (item.type) {
      case "missing": return t("field.missing");
      case "string_too_short":
        return ctx.min_length > 1 ? t("field.too_short_n", { n: ctx.min_length }) : t("field.too_short");
      case "string_too_long": return t("field.too_long", { n: ctx.max_length });
      case "string_pattern_mismatch": return t("field.pattern");
      case "enum": case "literal_error": case "bool_parsing": case "bool_type":
        return t("field.choose");
      case "control_character": return t("field.control", { found: ctx.found });
      case "review_answer_missing": return t("field.review_answer_missing");
      case "date_out_of_range":
        return t("field.date_out_of_range", { earliest: ctx.earliest, latest: ctx.latest });
      case "date_type": case "date_parsing": case "date_from_datetime_parsing":
      case "date_from_datetime_inexact":
        return t("field.date", { value: item.input });
      default:
        return String(item.msg || "").replace(/^Value error, /, "");
    }
  }

  // A field (or the button) names the refusal shown for it with aria-describedby.
  var errorIds = 0;
  function describe(el, slot) {
    if (!slot.id) slot.id = "cl-error-" + ++errorIds;
    var ids = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    if (ids.indexOf(slot.id) < 0) ids.push(slot.id);
    el.setAttribute("aria-describedby", ids.join(" "));
  }

  function undescribe(root) {
    root.querySelectorAll("[aria-describedby]").forEach(function (el) {
      var ids = el.getAttribute("aria-describedby").split(/\s+/).filter(function (id) {
        return id && id.indexOf("cl-error-") !== 0;
      });
      if (ids.length) el.setAttribute("aria-describedby", ids.join(" "));
      else el.removeAttribute("aria-describedby");
    });
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (slot) {
      slot.textContent = "";
      slot.hidden = true;
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    undescribe(form);
  }

  function say(slot, text) {
    slot.textContent = slot.textContent ? slot.textContent + " " + text : text;
    slot.hidden = false;
  }

  function headline(code, detail) {
    var head = statusText(code) + (ZH ? "（" + code + "）" : " (" + code + ")");
    return detail ? head + (ZH ? "：" : ": ") + detail : head;
  }

  // The API's reason in the page's language: by its stable code when the page knows the
  // code (reason.<code>), else the API's English sentence.
  function reasonText(data) {
    var key = "reason." + data.code;
    var text = t(key, data.params);
    return text === key ? (data.detail ? String(data.detail) : "") : text;
  }

  // Show `text` next to the field named `key`; false when the form has no such field.
  function markField(form, key, text) {
    var slot = key ? form.querySelector('[data-error-for="' + sel(key) + '"]') : null;
    if (!slot) return false;
    say(slot, text);
    form.querySelectorAll('[name="' + sel(key) + '"]').forEach(function (el) {
      el.setAttribute("aria-invalid", "true");
      describe(el, slot);
    });
    return true;
  }

  // A refusal ({detail, code[, field, params]}) shown next to the field it concerns, and
  // its status as a headline by the button; the next success clears both (clearErrors).
  function showRefusal(form, code, data) {
    data = data || {};
    var detail = data.detail;
    var general = form.querySelector('[data-error-for=""]');
    var rest = [];
    if (Array.isArray(detail)) {
      detail.forEach(function (item) {
        var loc = (item.loc || []).slice();
        if (loc.length && (loc[0] === "body" || loc[0] === "query")) loc.shift();
        var key = loc.join(".");
        // an item of a list (holidays.3) is shown at the list's field
        if (key && !form.querySelector('[name="' + sel(key) + '"]')) {
          var list = key.replace(/(\.\d+)+$/, "");
          if (form.querySelector('[name="' + sel(list) + '"]')) key = list;
        }
        var field = key ? form.querySelector('[name="' + sel(key) + '"]') : null;
        var text = field && field.tagName === "SELECT" ? t("field.choose") : fieldMessage(item);
        if (!markField(form, key, text)) rest.push(key ? key + ": " + text : text);
      });
    } else {
      var text = reasonText(data);
      var params = data.params || {};
      var fields = Array.isArray(params.missing) ? params.missing : data.field ? [data.field] : [];
      var placed = fields.filter(function (key) { return markField(form, key, text); });
      // 503: the translated headline already says the workflow service is down
      if (!placed.length && text && code !== 503) rest.push(text);
    }
    if (general) say(general, headline(code, rest.join("; ")));
    var button = form.querySelector("[type=submit]");
    if (general && !general.hidden && button) describe(button, general);
    var first = form.querySelector('[data-error-for]:not([hidden])');
    if (first && first.scrollIntoView) first.scrollIntoView({ block: "nearest" });
  }

  // ---- after an action ----------------------------------------------------------

  var toastTimer = null;
  function toast(text) {
    var box = document.getElementById("toast");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, 5000);
  }

  function resetTwins(form) {
    form.reset();
    clearErrors(form);
    if (form.dataset.key) {
      document.querySelectorAll('[data-key="' + sel(form.dataset.key) + '"]').forEach(function (f) {
        if (f !== form && f.reset) { f.reset(); clearErrors(f); }
      });
    }
  }

  function refreshTargets(selector) {
    (selector || "").split(",").forEach(function (s) {
      s = s.trim();
      if (!s) return;
      document.querySelectorAll(s).forEach(function (el) { refresh(el); });
    });
  }

  function showFiled(form, data) {
    var box = form.parentElement.querySelector("[data-result]");
    var link = location.origin + data.track_url;
    if (box) {
      var resident = form.dataset.anonymous !== undefined;
      var p = document.createElement("p");
      p.className = "filed";
      p.textContent = resident ? t("resident.filed") : t("file.filed");
      var p2 = document.createElement("p");
      p2.textContent = resident ? t("resident.track_link") : t("file.track_link");
      var a = document.createElement("a");
      a.href = link;
      a.textContent = link;
      a.setAttribute("data-track-link", "");
      p2.appendChild(a);
      box.replaceChildren(p, p2);
      if (resident) {
        var p3 = document.createElement("p");
        p3.className = "hint";
        p3.textContent = t("resident.keep_link");
        box.appendChild(p3);
      }
      box.hidden = false;
      if (box.scrollIntoView) box.scrollIntoView({ block: "nearest" });
    }
  }

  // A revealed contact replaces the masked one until the part is next redrawn.
  function showContact(form, data) {
    var box = form.closest("[data-contact]");
    var shown = box && box.querySelector("[data-resident]");
    if (!shown || !data || !data.resident) return;
    var name = document.createElement("span");
    name.className = "name";
    name.textContent = data.resident.name + " ";
    var tel = document.createElement("a");
    tel.className = "tel";
    tel.href = "tel:" + data.resident.phone;
    tel.textContent = data.resident.phone;
    shown.replaceChildren(name, tel);
    box.dataset.contact = "revealed";
    var details = form.closest("details");
    if (details) details.open = false;
    toast(t("request.revealed"));
    tel.focus();
  }

  function lastReview(data) {
    var entries = (data && data.timeline) || [];
    for (var i = entries.length - 1; i >= 0; i--) if (entries[i].type === "Reviewed") return entries[i];
    return null;
  }

  function showOutcome(form, data) {
    var review = lastReview(data);
    var outcome = review ? review.outcome : "";
    var list = document.getElementById("outcomes");
    var text = (form.dataset.title || "") + (ZH ? "：" : ": ") + t("outcome." + outcome);
    if (outcome === "attempt" && review) text += " (" + review.attempts + "/3)";
    if (list) {
      var li = document.createElement("li");
      li.className = "outcome outcome-" + outcome;
      li.dataset.outcome = outcome;
      li.dataset.id = data.id;
      li.textContent = text;
      list.prepend(li);
    }
    toast(text);
  }

  // The resident's own review: its result (the form names the words) above the request,
  // which is then reloaded (the form gone).
  function showSelfReview(form, data) {
    var review = lastReview(data);
    var outcome = review && review.outcome ? review.outcome : data && data.status === "closed" ? "closed" : "reopened";
    var text = outcome === "closed" ? form.dataset.resultClosed : form.dataset.resultReopened;
    var box = document.getElementById("review-result");
    if (box) {
      box.hidden = false;
      box.className = "result review-result outcome-" + outcome;
      box.dataset.outcome = outcome;
      box.textContent = text || "";
      if (box.scrollIntoView) box.scrollIntoView({ block: "nearest" });
    }
    toast(text || "");
  }

  // A form whose fields the API answers with (a profile): what it stored, in the spelling
  // it stored, becomes the form's value to reset to.
  function showSaved(form, data) {
    form.querySelectorAll("input[name]").forEach(function (input) {
      if (data && Object.prototype.hasOwnProperty.call(data, input.name)) {
        input.defaultValue = data[input.name] === null ? "" : String(data[input.name]);
      }
    });
    if (form.dataset.savedText) toast(form.dataset.savedText);
  }

  var SUCCESS = {
    "self-review": showSelfReview,
    saved: showSaved,
    login: function (form, data) { location.assign((data && data.redirect) || "/"); },
    refresh: function (form) {
      if (form.dataset.done) toast(t(form.dataset.done));
    },
    filed: function (form, data) { showFiled(form, data); },
    review: function (form, data) { showOutcome(form, data); },
    reveal: function (form, data) { showContact(form, data); },
  };

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
    event.preventDefault();
    if (form.dataset.busy) return;
    clearErrors(form);
    var button = event.submitter || form.querySelector("[type=submit]");
    if (form.contains(document.activeElement)) form.dataset.hadFocus = "1";
    form.dataset.busy = "1";
    if (button) button.disabled = true;
    var asForm = form.dataset.encoding === "form";
    var anonymous = form.dataset.anonymous !== undefined;
    uploadPhotos(form, anonymous).then(function (uploaded) {
      if (uploaded.refused) return uploaded.refused;
      var body = asForm ? undefined : collect(form);
      if (body && uploaded.field) body[uploaded.field] = uploaded.ids;
      return call(form.dataset.method || "POST", form.dataset.api, {
        json: body,
        form: asForm ? new FormData(form) : undefined,
        anonymous: anonymous,
      });
    }).then(function (res) {
      delete form.dataset.busy;
      if (button) button.disabled = false;
      if (!res.ok) {
        delete form.dataset.hadFocus;
        if (res.status === 401 && form.dataset.success !== "login" && form.dataset.anonymous === undefined) {
          signedOut();
        }
        showRefusal(form, res.status, res.data);
        return;
      }
      var done = SUCCESS[form.dataset.success] || SUCCESS.refresh;
      done(form, res.data);
      // a page's own script may show the answer too (e.g. sms.js)
      form.dispatchEvent(new CustomEvent("closeloop:done", { bubbles: true, detail: res.data }));
      if (form.dataset.success !== "login") resetTwins(form);
      refreshTargets(form.dataset.refresh);
    });
  });

  // ---- photos: each file uploaded first (POST /api/v1/photos), then named by its id --

  var MAX_PHOTOS = 4;

  // {field, ids} of the form's photo input (field null: it has none), or {refused: res}
  // for the first refusal, which is then shown next to that input.
  function uploadPhotos(form, anonymous) {
    var input = form.querySelector('input[type="file"][data-type="photos"]');
    var files = input && input.files ? Array.prototype.slice.call(input.files) : [];
    if (!input) return Promise.resolve({ field: null, ids: [] });
    if (files.length > MAX_PHOTOS) {
      return Promise.resolve({
        refused: { ok: false, status: 422, data: { code: "too_many_photos", field: input.name, params: { max: MAX_PHOTOS } } },
      });
    }
    var ids = [];
    var next = Promise.resolve(null);
    files.forEach(function (file) {
      next = next.then(function (refused) {
        if (refused) return refused;
        var body = new FormData();
        body.append("file", file, file.name);
        return call("POST", "/api/v1/photos", { multipart: body, anonymous: anonymous }).then(function (res) {
          if (!res.ok) {
            if (res.data && res.data.field === "file") res.data.field = input.name;
            return res;
          }
          ids.push(res.data.id);
          return null;
        });
      });
    });
    return next.then(function (refused) {
      return refused ? { refused: refused } : { field: input.name, ids: ids };
    });
  }

  // ---- reloading parts of a page, keeping what people type ----------------------

  function carryOver(oldRoot, fresh) {
    oldRoot.querySelectorAll("[data-key]").forEach(function (old) {
      var twin = fresh.querySelector('[data-key="' + sel(old.dataset.key) + '"]');
      if (!twin) return;
      if (old.tagName === "DETAILS") twin.open = old.open;
      old.querySelectorAll("input, textarea, select").forEach(function (input) {
        if (!input.name || input.type === "hidden") return;
        var matches = twin.querySelectorAll('[name="' + sel(input.name) + '"]');
        if (input.type === "radio" || input.type === "checkbox") {
          matches.forEach(function (m) { if (m.value === input.value) m.checked = input.checked; });
        } else if (matches.length) {
          matches[0].value = input.value;
          if (input.getAttribute("aria-invalid")) {
            matches[0].setAttribute("aria-invalid", "true");
            var slotFor = twin.querySelector('[data-error-for="' + sel(input.name) + '"]');
            if (slotFor) describe(matches[0], slotFor);
          }
        }
      });
      old.querySelectorAll("[data-error-for]").forEach(function (slot) {
        if (!slot.textContent) return;
        var same = twin.querySelector('[data-error-for="' + sel(slot.dataset.errorFor) + '"]');
        if (same) {
          same.textContent = slot.textContent;
          same.hidden = false;
          var submit = same.dataset.errorFor === "" && same.closest("form");
          submit = submit && submit.querySelector("[type=submit]");
          if (submit) describe(submit, same);
        }
      });
    });
  }

  // New requests arriving live in a list (data-announce) are announced politely.
  function announceArrivals(el, fresh) {
    if (el.dataset.announce === undefined) return;
    var before = {};
    el.querySelectorAll("[data-id]").forEach(function (item) { before[item.dataset.id] = true; });
    var n = 0;
    fresh.querySelectorAll("[data-id]").forEach(function (item) { if (!before[item.dataset.id]) n++; });
    var box = document.getElementById("announcer");
    if (n && box) box.textContent = t("live.arrived", { n: n });
  }

  function swap(el, html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    var fresh = tpl.content;
    announceArrivals(el, fresh);
    carryOver(el, fresh);
    var active = document.activeElement, focusKey = null, focusName = null, start = null, end = null;
    if (active && el.contains(active) && active.name) {
      var holder = active.closest("[data-key]");
      if (holder) {
        focusKey = holder.dataset.key;
        focusName = active.name;
        try { start = active.selectionStart; end = active.selectionEnd; } catch (e) { /* no caret */ }
      }
    }
    var lost = active && active !== body && el.contains(active) ? active : null;
    // a form sent from the keyboard or a click loses focus while its button is disabled
    lost = lost || el.querySelector("form[data-had-focus][data-focus-after]");
    el.replaceChildren(fresh);
    if (focusKey) {
      var h = el.querySelector('[data-key="' + sel(focusKey) + '"]');
      var f = h && h.querySelector('[name="' + sel(focusName) + '"]');
      if (f) {
        f.focus();
        try { if (start !== null) f.setSelectionRange(start, end); } catch (e) { /* no caret */ }
      }
    }
    if (lost && (!document.activeElement || document.activeElement === body)) keepFocus(el, lost);
    prepare(el);
    tick();
    el.dispatchEvent(new CustomEvent("closeloop:refreshed", { bubbles: true }));
  }

  // The focused element (or the form sent from it) went with the old content: focus its twin
  // (same id) when there is one, else the first of its form's data-focus-after selectors
  // found, rather than leave the focus to the page.
  function keepFocus(el, lost) {
    var twin = lost.id ? document.getElementById(lost.id) : null;
    if (twin && el.contains(twin)) { twin.focus(); return; }
    var form = lost.closest("[data-focus-after]");
    var choices = form ? form.dataset.focusAfter.split(",") : [];
    for (var i = 0; i < choices.length; i++) {
      var target = choices[i].trim() && document.querySelector(choices[i].trim());
      if (target) { target.focus(); return; }
    }
  }

  var inflight = new WeakMap();
  function refresh(el) {
    if (!el.dataset.src) return Promise.resolve();
    if (el.querySelector("form[data-busy]")) {
      // an action is on its way; it reloads this part itself when it is done
      return new Promise(function (resolve) { setTimeout(function () { refresh(el).then(resolve); }, 300); });
    }
    var generation = (inflight.get(el) || 0) + 1;
    inflight.set(el, generation);
    var url = el.dataset.src + (el.dataset.query || "");
    return fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" }).then(
      function (resp) {
        if (resp.status === 401) { signedOut(); return; }
        if (!resp.ok) return;
        return resp.text().then(function (html) {
          if (inflight.get(el) !== generation) return; // only the latest answer counts
          // an action was sent while this was read: swapping now would leave its answer (a
          // refusal) to a form no longer on the page; read again once it is answered
          if (el.querySelector("form[data-busy]")) return refresh(el);
          swap(el, html);
        });
      },
      function () { /* offline for a moment: the next event reloads it */ }
    );
  }

  // ---- live updates -------------------------------------------------------------

  function setLive(on) {
    document.querySelectorAll("[data-live-badge]").forEach(function (badge) {
      badge.classList.toggle("on", on);
      badge.title = on ? t("live.on") : t("live.off");
      var text = badge.querySelector(".live-text");
      if (text) text.textContent = on ? t("live.on") : t("live.off");
    });
  }

  // ---- the inbox's unread count in the navigation -------------------------------

  // The count shown in the navigation's inbox link ("Inbox (3)", its aria-label
  // "Inbox, 3 unread"); a rise is announced politely (#inbox-announcer), focus stays put.
  // The inbox page's list is read again unless the count came from that list itself.
  function setUnread(n, fromList) {
    var link = document.querySelector("[data-inbox-link]");
    if (!link || typeof n !== "number" || !(n >= 0)) return;
    var before = parseInt(link.dataset.unread || "0", 10);
    if (before === n) return;
    link.dataset.unread = String(n);
    var count = link.querySelector("[data-inbox-count]");
    if (count) count.textContent = n ? " (" + n + ")" : "";
    link.setAttribute("aria-label", n ? t("inbox.nav_label", { n: n }) : t("inbox.title"));
    var box = document.getElementById("inbox-announcer"); // its own: arrivals keep theirs
    if (n > before && box) box.textContent = t("inbox.announce", { n: n });
    if (!fromList) document.querySelectorAll("[data-inbox-live]").forEach(function (el) { refresh(el); });
  }

  document.addEventListener("closeloop:refreshed", function (event) {
    var list = event.target;
    if (!(list instanceof Element) || list.dataset.inboxLive === undefined) return;
    var bar = list.querySelector("[data-unread]");
    if (bar) setUnread(parseInt(bar.dataset.unread, 10), true);
  });

  function startLive() {
    // a staff page without live parts of its own still follows the stream for its inbox count
    var url = body.dataset.stream || (document.querySelector("[data-inbox-link]") ? "/api/v1/stream" : "");
    if (!url || !window.EventSource) return;
    var targets = body.dataset.liveTargets || "";
    var follow = body.dataset.follow || "";
    var pending = new Map(), last = new Map();
    function schedule(el) {
      // one reload per part at a time; parts with data-min-interval (the figures) at most
      // that often, the last change always included
      if (pending.has(el)) return;
      var gap = parseInt(el.dataset.minInterval || "0", 10);
      var wait = Math.max(150, (last.get(el) || 0) + gap - Date.now());
      pending.set(el, setTimeout(function () {
        pending.delete(el);
        last.set(el, Date.now());
        refresh(el);
      }, wait));
    }
    function soon() {
      targets.split(",").forEach(function (s) {
        if (s.trim()) document.querySelectorAll(s.trim()).forEach(schedule);
      });
    }
    var source = null, reopened = false;
    function open() {
      source = new EventSource(url);
      source.addEventListener("hello", function () {
        setLive(true);
        // a new stream (not the browser's own reconnection, which resumes where it
        // stopped) may have missed changes: read everything once
        if (reopened) { reopened = false; soon(); }
      });
      source.addEventListener("change", function (event) {
        setLive(true);
        var data = {};
        try { data = JSON.parse(event.data); } catch (e) { /* treat as "everything" */ }
        if (follow && Array.isArray(data.ids) && data.ids.indexOf(follow) < 0) return;
        soon();
      });
      source.addEventListener("inbox", function (event) {
        var data = {};
        try { data = JSON.parse(event.data); } catch (e) { return; }
        setUnread(data.unread, false);
      });
      source.onerror = function () {
        setLive(false);
        if (source.readyState === EventSource.CLOSED) {
          // refused (e.g. signed out): find out why, else try again in a while
          call("GET", "/api/v1/auth/me").then(function (res) {
            if (res.status === 401 && body.dataset.public === undefined) signedOut();
            reopened = true;
            setTimeout(open, 3000);
          });
        }
      };
    }
    open();
    window.addEventListener("pagehide", function () { if (source) source.close(); });
    // back to a page kept in the browser's memory: its data is old and its stream closed
    window.addEventListener("pageshow", function (event) { if (event.persisted) location.reload(); });
  }

  // ---- page furniture -----------------------------------------------------------

  function prepare(root) {
    // the review form: "not reached" needs no answers
    root.querySelectorAll("form.review").forEach(function (form) {
      var dims = form.querySelector("[data-dimensions]");
      function sync() {
        var chosen = form.querySelector('input[name="reached"]:checked');
        if (dims) dims.disabled = !!chosen && chosen.value === "false";
      }
      if (!form.dataset.prepared) {
        form.addEventListener("change", function (e) { if (e.target.name === "reached") sync(); });
        form.dataset.prepared = "1";
      }
      sync();
    });
  }

  function filtersChanged(form) {
    var params = new URLSearchParams(new FormData(form));
    var query = "?" + params.toString();
    history.replaceState(null, "", location.pathname + query);
    ["#board-list", "#figures"].forEach(function (s) {
      var el = document.querySelector(s);
      if (el) { el.dataset.query = query; refresh(el); }
    });
    document.querySelectorAll("a[data-csv]").forEach(function (a) { a.href = a.dataset.csv + query; });
    var sw = document.querySelector("[data-lang-switch]");
    if (sw) {
      var u = new URL(sw.href, location.href);
      params.forEach(function (v, k) { u.searchParams.set(k, v); });
      sw.href = u.pathname + u.search;
    }
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form[data-filters]");
    if (form) filtersChanged(form);
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.filters !== undefined) {
      event.preventDefault();
      filtersChanged(form);
    }
  });

  document.addEventListener("click", function (event) {
    var logout = event.target.closest && event.target.closest("[data-logout]");
    if (logout) {
      call("POST", "/web/session/logout").then(function () { location.assign("/login"); });
      return;
    }
    var row = event.target.closest && event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a, button, input, select, textarea, label, summary, details")) {
      location.assign(row.dataset.href);
    }
  });

  // On a phone the board's charts start folded away behind their toggle (the list first).
  if (window.matchMedia && window.matchMedia("(max-width: 719px)").matches) {
    document.querySelectorAll("details[data-charts]").forEach(function (d) { d.open = false; });
  }

  prepare(document);
  tick();
  setInterval(tick, 1000);
  startLive();
})();
