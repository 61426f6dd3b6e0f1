/* Relay lookup: improvements for browsers with JavaScript. Every page works without it. */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.remove("no-js");
  root.classList.add("js");

  var form = document.getElementById("lookup");
  if (form) {
    var lists = Array.prototype.slice.call(form.querySelectorAll("select.area"));
    var latitude = form.querySelector("#lat");
    var longitude = form.querySelector("#lon");
    var status = document.getElementById("locate-status");

    /* Choosing an area searches at once; the lists after it no longer apply, nor a position. */
    lists.forEach(function (list, index) {
      list.addEventListener("change", function () {
        lists.slice(index + 1).forEach(function (later) { later.value = ""; });
        latitude.value = "";
        longitude.value = "";
        form.submit();
      });
    });

    /* Ticking a need searches at once when a place is known. */
    Array.prototype.forEach.call(form.querySelectorAll("input[name=need]"), function (box) {
      box.addEventListener("change", function () {
        var place = latitude.value || lists.some(function (list) { return list.value; });
        if (place) form.submit();
      });
    });

    var locate = document.getElementById("locate");
    if (locate && "geolocation" in navigator) {
      locate.addEventListener("click", function () {
        status.textContent = form.getAttribute("data-locating");
        navigator.geolocation.getCurrentPosition(
          function (position) {
            latitude.value = position.coords.latitude.toFixed(5);
            longitude.value = position.coords.longitude.toFixed(5);
            lists.forEach(function (list) { list.value = ""; });
            form.submit();
          },
          function () { status.textContent = form.getAttribute("data-locate-failed"); },
          { enableHighAccuracy: false, timeout: 15000, maximumAge: 600000 }
        );
      });
    } else if (locate) {
      locate.hidden = true;
    }
  }

  /* Instant filtering of the results shown. */
  var filter = document.getElementById("filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var words = filter.value.toLocaleLowerCase().trim();
      Array.prototype.forEach.call(document.querySelectorAll(".card"), function (card) {
        card.hidden = words !== "" && card.textContent.toLocaleLowerCase().indexOf(words) < 0;
      });
    });
  }

  var print = document.getElementById("print");
  if (print) {
    print.addEventListener("click", function () { window.print(); });
  }

  /* The offline copy: the service worker keeps the last referral pathway viewed. */
  if ("serviceWorker" in navigator && root.getAttribute("data-offline") === "0") {
    navigator.serviceWorker
      .register("/lookup/sw.js", { scope: "/lookup" })
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function (registration) {
        if (location.pathname === "/lookup/pathway" && registration.active) {
          registration.active.postMessage({ type: "keep-pathway", url: location.href });
        }
      })
      .catch(function () { /* no offline copy; the page works as it is */ });
  }
})();
