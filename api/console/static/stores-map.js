// The stores map: markers for the stores of the JSON in #store-map-data, drawn by the vendored
// Leaflet. Tiles come from the tile server named in the data; when they cannot be loaded the
// markers stay on a blank background. On the store form, a click on the map fills in the
// latitude and longitude fields.
(function () {
  "use strict";

  function start() {
    var element = document.getElementById("store-map");
    var source = document.getElementById("store-map-data");
    if (!element || !source || !window.L) {
      return;
    }
    var data = JSON.parse(source.textContent);
    var map = L.map(element, { worldCopyJump: true });
    L.tileLayer(data.tiles, {
      maxZoom: 19,
      attribution: "&copy; OpenStreetMap contributors"
    }).addTo(map);

    var points = data.stores.map(function (store) { return [store.lat, store.lon]; });

    var latitude = document.getElementById("latitude");
    var longitude = document.getElementById("longitude");
    var chosen = null;
    function choose(lat, lon) {
      if (chosen) {
        chosen.setLatLng([lat, lon]);
      } else {
        chosen = L.circleMarker([lat, lon], { radius: 8 }).addTo(map);
      }
    }
    if (latitude && longitude && latitude.value !== "" && longitude.value !== "" &&
        isFinite(Number(latitude.value)) && isFinite(Number(longitude.value))) {
      choose(Number(latitude.value), Number(longitude.value));
      map.setView([Number(latitude.value), Number(longitude.value)], 14);
    } else if (points.length === 1) {
      map.setView(points[0], 14);
    } else if (points.length > 1) {
      map.fitBounds(points, { padding: [24, 24] });
    } else {
      map.setView([20, 0], 1);
    }

    // After the view is set: a marker gets its element only once the map has a view.
    data.stores.forEach(function (store) {
      var marker = L.marker([store.lat, store.lon], { title: store.name, alt: store.code });
      marker.bindPopup(document.createTextNode(store.code + " · " + store.name));
      marker.addTo(map);
      marker.getElement().setAttribute("data-store-marker", store.code);
    });

    if (data.editing && latitude && longitude) {
      map.on("click", function (event) {
        var point = event.latlng.wrap();
        latitude.value = point.lat.toFixed(6);
        longitude.value = point.lng.toFixed(6);
        choose(point.lat, point.lng);
      });
    }
    element.setAttribute("data-ready", String(data.stores.length));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
