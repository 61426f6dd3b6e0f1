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

    /* Ticking a need searches at once when a place is known: the results part of the page
       alone is asked for (/lookup/results, the same query) and put in place, and the address
       bar shows the page's URL for it. Should that fail, the whole page is loaded. */
    var updated = document.getElementById("updated");
    var asked = 0;
    var inPlace = "fetch" in window && "DOMParser" in window && history.replaceState;

    var query = function () {
      var pairs = [];
      Array.prototype.forEach.call(form.elements, function (field) {
        if (!field.name || field.disabled || !field.value) return;
        if (field.type === "checkbox" && !field.checked) return;
        pairs.push(encodeURIComponent(field.name) + "=" + encodeURIComponent(field.value));
      });
      return pairs.join("&");
    };

    var show = function (html, search) {
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("results");
      var shown = document.getElementById("results");
      if (!fresh || !shown) throw new Error("no results");
      shown.parentNode.replaceChild(document.importNode(fresh, true), shown);
      history.replaceState(null, "", "/lookup?" + search);
      /* The language links keep the search, as the page's own do. */
      Array.prototype.forEach.call(document.querySelectorAll("a[hreflang]"), function (link) {
        link.href = "/lookup?" + search.replace(/(^|&)lang=[^&]*/, "$1lang=" + link.hreflang);
      });
      updated.textContent = "";
      var see = document.createElement("a");
      see.href = "#results";
      see.textContent = form.getAttribute("data-updated");
      updated.appendChild(see);
    };

    var refresh = function () {
      var search = query();
      var shown = document.getElementById("results");
      if (!inPlace || !shown) {
        form.submit();
        return;
      }
      asked += 1;
      var mine = asked;
      shown.setAttribute("aria-busy", "true");
      fetch("/lookup/results?" + search, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.text();
        })
        .then(function (html) {
          if (mine === asked) show(html, search);
        })
        .catch(function () {
          if (mine === asked) form.submit();
        });
    };

    Array.prototype.forEach.call(form.querySelectorAll("input[name=need]"), function (box) {
      box.addEventListener("change", function () {
        var place = latitude.value || lists.some(function (list) { return list.value; });
        if (place) refresh();
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

  /* Instant filtering of the results shown (the results may be put in place again). */
  document.addEventListener("input", function (event) {
    var filter = event.target;
    if (filter.id !== "filter") return;
    var words = filter.value.toLocaleLowerCase().trim();
    Array.prototype.forEach.call(document.querySelectorAll(".card"), function (card) {
      card.hidden = words !== "" && card.textContent.toLocaleLowerCase().indexOf(words) < 0;
    });
  });

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
