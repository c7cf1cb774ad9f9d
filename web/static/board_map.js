/* The board's map of requests with a place (Leaflet, served from /static/vendor/leaflet).

   The points come from the table under the map (#board-map-list, rendered by the server
   and reloaded live), so the map and its text alternative always show the same requests.
   Each marker is a keyboard-reachable button (Tab; Enter opens its popup) named in words,
   its state shown by a shape as well as a colour (board_map.css) and its popup linking to
   the request's page.

   Tiles come only from the server named in CLOSELOOP_MAP_TILES (the page's data-tiles).
   Without one, or when a tile fails to load, the map draws its own ground instead: a
   latitude/longitude grid and the box around the points, so they still sit where they are
   relative to each other, and nothing is fetched from elsewhere. */
(function () {
  "use strict";

  var STRINGS = {};
  try {
    STRINGS = JSON.parse((document.getElementById("cl-strings") || {}).textContent || "{}");
  } catch (e) { /* no strings: the keys show */ }

  function t(key, params) {
    var text = Object.prototype.hasOwnProperty.call(STRINGS, key) ? STRINGS[key] : key;
    Object.keys(params || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(params[name]));
    });
    return text;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  //: The graticule's steps, in degrees: the finest with at most MAX_LINES lines a side.
  var STEPS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30];
  var MAX_LINES = 24;

  function stepFor(span) {
    for (var i = 0; i < STEPS.length; i++) {
      if (span / STEPS[i] <= MAX_LINES) return STEPS[i];
    }
    return STEPS[STEPS.length - 1];
  }

  function decimals(step) {
    var text = String(step);
    return text.indexOf(".") < 0 ? 0 : text.length - text.indexOf(".") - 1;
  }

  function readPoints(list) {
    var rows = list ? list.querySelectorAll("tr[data-point]") : [];
    var points = [];
    Array.prototype.forEach.call(rows, function (row) {
      var lat = parseFloat(row.dataset.lat), lng = parseFloat(row.dataset.long);
      if (!isFinite(lat) || !isFinite(lng)) return;
      var link = row.querySelector("[data-point-link]");
      var status = row.querySelector("[data-point-status]");
      var grid = row.querySelector("[data-point-grid]");
      points.push({
        id: row.dataset.id,
        lat: lat,
        lng: lng,
        status: row.dataset.status,
        overdue: row.hasAttribute("data-overdue"),
        href: link ? link.getAttribute("href") : "/requests/" + row.dataset.id,
        title: link ? link.textContent.trim() : row.dataset.id,
        statusLabel: status ? status.textContent.trim() : row.dataset.status,
        grid: grid ? grid.textContent.trim() : "",
      });
    });
    return points;
  }

  function start() {
    var box = document.getElementById("board-map");
    var list = document.getElementById("board-map-list");
    var note = document.querySelector("[data-map-note]");
    if (!box || !window.L) return;
    var L = window.L;
    box.hidden = false;

    var map = L.map(box, {
      keyboard: true,
      zoomControl: true,
      attributionControl: true,
      worldCopyJump: false,
      maxZoom: 19,
    });
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    // Leaflet makes the container focusable; the region keeps its label
    box.setAttribute("aria-label", t("map.region"));

    var markers = L.layerGroup().addTo(map);
    var ground = L.layerGroup();  // the graticule and the points' box, when drawn
    var tiles = null;
    var plain = false;
    var pointsBox = null;

    function say(key) {
      if (!note) return;
      var step = stepFor(spanOf(map.getBounds()));
      note.textContent = t(key, { step: step });
    }

    function spanOf(bounds) {
      return Math.max(bounds.getNorth() - bounds.getSouth(), bounds.getEast() - bounds.getWest());
    }

    function drawGround() {
      if (!plain) return;
      ground.clearLayers();
      var view = map.getBounds();
      var step = stepFor(spanOf(view));
      var digits = decimals(step);
      var south = Math.max(-90, Math.floor(view.getSouth() / step) * step);
      var north = Math.min(90, Math.ceil(view.getNorth() / step) * step);
      var west = Math.floor(view.getWest() / step) * step;
      var east = Math.ceil(view.getEast() / step) * step;
      var line = { color: "#8a96a3", weight: 1, interactive: false, className: "map-graticule" };
      var k, v;
      for (k = 0, v = south; v <= north + step / 2; k++, v = south + k * step) {
        ground.addLayer(L.polyline([[v, west], [v, east]], line));
        addLabel([v, view.getWest()], v.toFixed(digits) + "°", [-2, 6]);
      }
      for (k = 0, v = west; v <= east + step / 2; k++, v = west + k * step) {
        ground.addLayer(L.polyline([[south, v], [north, v]], line));
        addLabel([view.getSouth(), v], v.toFixed(digits) + "°", [2, 16]);
      }
      if (pointsBox) {
        ground.addLayer(L.rectangle(pointsBox.pad(0.05), {
          color: "#1f2328", weight: 2, dashArray: "6 4", fill: false, interactive: false,
          className: "map-points-box",
        }));
      }
      say(tiles === null && !box.dataset.tiles ? "map.no_tiles" : "map.tile_error");
    }

    // the grid's degrees are for the eye: the table under the map gives each place in words
    function addLabel(at, text, anchor) {
      var mark = label(at, text, anchor);
      ground.addLayer(mark);
      var el = mark.getElement();
      if (el) el.setAttribute("aria-hidden", "true");
    }

    function label(at, text, anchor) {
      return L.marker(at, {
        interactive: false,
        keyboard: false,
        icon: L.divIcon({
          className: "map-graticule-label",
          html: escapeHtml(text),
          iconSize: null,
          iconAnchor: anchor,
        }),
      });
    }

    function toPlain() {
      if (plain) return;
      plain = true;
      if (tiles) { map.removeLayer(tiles); tiles = null; }
      box.dataset.ground = "plain";
      // the lines are drawn for the eye only (the overlay pane holds nothing else)
      map.getPane("overlayPane").setAttribute("aria-hidden", "true");
      ground.addTo(map);
      drawGround();
    }

    if (box.dataset.tiles) {
      tiles = L.tileLayer(box.dataset.tiles, {
        maxZoom: 19,
        attribution: box.dataset.attribution ? escapeHtml(box.dataset.attribution) : "",
        crossOrigin: false,
      });
      tiles.on("tileerror", function () { tiles.off(); toPlain(); say("map.tile_error"); });
      tiles.addTo(map);
      box.dataset.ground = "tiles";
    }
    map.on("moveend", drawGround);

    function draw() {
      var points = readPoints(list);
      markers.clearLayers();
      box.dataset.markers = String(points.length);
      if (!points.length) {
        pointsBox = null;
        box.hidden = true;  // the table's text says there is nothing to place
        if (note) note.textContent = "";
        return;
      }
      box.hidden = false;
      map.invalidateSize();
      // the view first: Leaflet adds a marker's element only once the map has one
      var bounds = L.latLngBounds(points.map(function (p) { return [p.lat, p.lng]; }));
      pointsBox = bounds;
      map.fitBounds(bounds.pad(0.15), { maxZoom: 16, animate: false });
      points.forEach(function (p) {
        var name = t("map.marker", {
          category: p.title,
          status: p.statusLabel,
          overdue: p.overdue ? t("map.marker_overdue") : "",
          grid: p.grid,
        });
        var marker = L.marker([p.lat, p.lng], {
          keyboard: true,
          title: name,
          riseOnHover: true,
          icon: L.divIcon({
            className: "map-pin st-" + p.status + (p.overdue ? " overdue" : ""),
            html: '<span class="pin-shape"></span>' + (p.overdue ? '<span class="pin-flag">!</span>' : ""),
            iconSize: [22, 22],
            iconAnchor: [11, 11],
            popupAnchor: [0, -12],
          }),
        });
        var popup = document.createElement("div");
        popup.className = "map-popup";
        var strong = document.createElement("strong");
        strong.textContent = p.title;
        var facts = document.createElement("p");
        facts.textContent = p.statusLabel + (p.overdue ? t("map.marker_overdue") : "") + " · " + p.grid;
        var link = document.createElement("a");
        link.href = p.href;
        link.textContent = t("map.open_request");
        link.setAttribute("data-popup-link", "");
        popup.append(strong, facts, link);
        marker.bindPopup(popup);
        marker.on("popupopen", function () { link.focus(); });
        marker.addTo(markers);
        var icon = marker.getElement();
        if (icon) {
          icon.setAttribute("aria-label", name);
          icon.dataset.requestId = p.id;
          icon.dataset.status = p.status;
        }
      });
      if (!tiles) toPlain();
      drawGround();
    }

    draw();
    if (list) {
      list.addEventListener("closeloop:refreshed", draw);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
