/* Relay lookup: improvements for browsers with JavaScript. Every page works without it. */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.remove("no-js");
  root.classList.add("js");

  var offline = root.getAttribute("data-offline") === "1";
  var TIMEOUT_MS = 3000;

  /* The area saved on this phone (sw.js serves its pages when the network is gone): its
     directory, kept under DIRECTORY in the AREA cache, read once per page. */
  var AREA = "relay-lookup-area";
  var DIRECTORY = "/lookup/area/saved/directory";
  var keeping = "serviceWorker" in navigator && "caches" in window && "fetch" in window;
  var loaded = null;
  var savedDirectory = function () {
    if (!keeping) return Promise.resolve(null);
    if (!loaded) {
      loaded = caches.open(AREA)
        .then(function (cache) { return cache.match(DIRECTORY); })
        .then(function (response) { return response ? response.json() : null; })
        .then(function (saved) { return saved && saved.format === 1 ? saved : null; })
        .catch(function () { return null; });
    }
    return loaded;
  };

  /* Keep an area: its directory, its pathway and its lookup page, all or nothing. */
  var keepArea = function (area, language) {
    var place = "lang=" + encodeURIComponent(language) + "&area=" + encodeURIComponent(area);
    var urls = [
      "/lookup/area/" + encodeURIComponent(area) + "/offline.json?lang=" + encodeURIComponent(language),
      "/lookup/pathway?" + place,
      "/lookup?" + place,
    ];
    return Promise.all(urls.map(function (url) {
      return fetch(url, { credentials: "omit", cache: "no-cache" }).then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response;
      });
    })).then(function (responses) {
      return caches.delete(AREA).then(function () { return caches.open(AREA); }).then(function (cache) {
        return Promise.all([
          cache.put(DIRECTORY, responses[0]),
          cache.put(urls[1], responses[1].clone()),
          cache.put("/lookup/area/saved/pathway", responses[1]),
          cache.put("/lookup/area/saved/page", responses[2]),
        ]);
      });
    }).then(function () {
      loaded = null;
      return savedDirectory();
    });
  };

  var fill = function (message, values) {
    return message.replace(/\{(\w+)\}/g, function (whole, name) {
      return name in values ? values[name] : whole;
    });
  };
  var numerals = function (text, digits) {
    return text.replace(/[0-9]/g, function (digit) { return digits.charAt(Number(digit)); });
  };

  var panel = document.getElementById("saved-area");
  if (panel && keeping) {
    var panelStatus = document.getElementById("saved-status");
    var keepButton = document.getElementById("keep-area");
    var forgetButton = document.getElementById("forget-area");
    var here = panel.getAttribute("data-area");
    var say = function (state, text) {
      panel.setAttribute("data-state", state);
      panelStatus.textContent = text;
    };
    var showSaved = function (saved) {
      forgetButton.hidden = !saved;
      if (!saved) return;
      var name = saved.areas.filter(function (area) { return area.id === saved.area; })[0].name;
      var text = fill(panel.getAttribute("data-kept"), {
        area: name,
        date: numerals(saved.made.slice(0, 10), panel.getAttribute("data-digits")),
      });
      if (!saved.complete) text += " " + fill(panel.getAttribute("data-partial"), { area: name });
      say("saved", text);
    };
    keepButton.hidden = offline || !here;
    panel.hidden = false;
    keepButton.addEventListener("click", function () {
      say("saving", panel.getAttribute("data-keeping"));
      keepButton.disabled = true;
      keepArea(here, panel.getAttribute("data-lang"))
        .then(showSaved, function () { say("failed", panel.getAttribute("data-failed")); })
        .then(function () { keepButton.disabled = false; });
    });
    forgetButton.addEventListener("click", function () {
      caches.delete(AREA).then(function () {
        loaded = null;
        forgetButton.hidden = true;
        say("forgotten", panel.getAttribute("data-forgotten"));
      });
    });
    savedDirectory().then(function (saved) {
      showSaved(saved);
      /* Online, a copy older than a day is made again (the same area, in its language). */
      var age = saved ? Date.now() - Date.parse(saved.made) : 0;
      if (saved && !offline && !(age < 86400000)) {
        keepArea(saved.area, saved.language).then(showSaved, function () { /* kept as it was */ });
      }
    });
  }

  /* The results of a search, found in the saved area on this phone: the nearest services of
     each need by distance from the area's point or the position given (haversine), written
     as the page's own cards (card.html). A confidential place ranks at the point of the area
     it is listed in and shows no distance; a covering service ranks first where it covers. */
  var metres = function (from, to) {
    var radians = Math.PI / 180;
    var dLat = (to.latitude - from.latitude) * radians;
    var dLon = (to.longitude - from.longitude) * radians;
    var h = Math.pow(Math.sin(dLat / 2), 2) + Math.cos(from.latitude * radians) *
      Math.cos(to.latitude * radians) * Math.pow(Math.sin(dLon / 2), 2);
    return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
  };

  var parse = function (search) {
    var asked = { area: [], need: [], lat: "", lon: "" };
    search.replace(/^\?/, "").split("&").forEach(function (pair) {
      var parts = pair.split("=");
      var name, value;
      try {
        name = decodeURIComponent(parts[0] || "");
        value = decodeURIComponent((parts[1] || "").replace(/\+/g, " ")).trim();
      } catch (error) {
        return; /* not a parameter the page wrote */
      }
      if (!value) return;
      if (name === "area" || name === "need") asked[name].push(value);
      if (name === "lat" || name === "lon") asked[name] = value;
    });
    return asked;
  };

  var answer = function (saved, asked) {
    var areas = {};
    saved.areas.forEach(function (area) { areas[area.id] = area; });
    var searchable = saved.areas.filter(function (area) { return area.searchable; });
    var latitude = parseFloat(asked.lat.replace(",", "."));
    var longitude = parseFloat(asked.lon.replace(",", "."));
    var origin = null;
    if (isFinite(latitude) && isFinite(longitude)) {
      origin = { latitude: latitude, longitude: longitude, point: true };
      /* Covering services are those of the saved area nearest to the position. */
      origin.covered = searchable.slice().sort(function (a, b) {
        return metres(origin, a) - metres(origin, b);
      })[0].id;
    } else {
      var chosen = asked.area.filter(function (id) { return areas[id] && areas[id].searchable; });
      if (!chosen.length) return asked.area.length ? { missing: areas[saved.area].name } : null;
      origin = areas[chosen[chosen.length - 1]];
      origin.covered = origin.id;
    }
    var words = saved.words;
    var groups = asked.need.filter(function (need) { return need in words.needs; }).map(function (need) {
      var found = [];
      saved.services.forEach(function (service) {
        if (service.needs.indexOf(need) < 0) return;
        var distance;
        if (service.covers) {
          if (service.covers.indexOf(origin.covered) < 0) return;
          distance = 0;
        } else if (service.latitude !== undefined) {
          distance = metres(origin, service);
        } else if (areas[service.listed_in]) {
          distance = metres(origin, areas[service.listed_in]);
        } else {
          return;
        }
        if (distance <= words.reach_m) found.push({ service: service, distance: distance });
      });
      found.sort(function (a, b) {
        return a.distance - b.distance || Boolean(b.service.covers) - Boolean(a.service.covers) ||
          (a.service.id < b.service.id ? -1 : a.service.id > b.service.id ? 1 : 0);
      });
      return { need: need, found: found.slice(0, words.per_need) };
    });
    /* The national lines that apply: those of the country of the area searched from. */
    var country = (areas[origin.covered] || {}).country;
    return { origin: origin, groups: groups, country: country };
  };

  /* A need no saved service within reach meets: the country's national lines for it, as
     card.html's national() lays them out. */
  var nationalLines = function (saved, found, need, section) {
    var lines = (saved.lines || []).filter(function (line) {
      return found.country && line.country === found.country && line.needs.indexOf(need) >= 0;
    });
    if (!lines.length) return;
    section.appendChild(element("p", "national-hint", saved.words["directory.national_lines"]));
    var list = section.appendChild(element("ul", "national-lines"));
    lines.forEach(function (line) {
      var item = list.appendChild(element("li", "national-line"));
      item.setAttribute("data-kind", line.kind);
      item.appendChild(element("span", "kind", line.label));
      item.appendChild(document.createTextNode(": "));
      item.appendChild(element("span", "name", line.name));
      item.appendChild(document.createTextNode(" "));
      var call = item.appendChild(element("a", "contact call", line.number));
      call.href = "tel:" + line.tel;
    });
  };

  var element = function (tag, name, text) {
    var made = document.createElement(tag);
    if (name) made.className = name;
    if (text !== undefined) made.textContent = text;
    return made;
  };

  var distanceWords = function (words, distance) {
    var digits = words["number.digits"];
    if (distance < 1000) {
      var rounded = String(Math.max(10, Math.round(distance / 10) * 10));
      return fill(words["result.distance_m"], { distance: numerals(rounded, digits) });
    }
    var kilometres = (distance / 1000).toFixed(distance < 100000 ? 1 : 0);
    return fill(words["result.distance_km"], {
      distance: numerals(kilometres.replace(".", words["number.decimal_mark"]), digits),
    });
  };

  var LINKS = /^(tel:|sms:|geo:|https:\/\/wa\.me\/)/;
  var card = function (words, item) {
    var service = item.service;
    var covering = Boolean(service.covers);
    var li = element("li", "card");
    li.setAttribute("data-service", service.id);
    li.appendChild(element("h4", "name", service.name));
    if (service.organization) li.appendChild(element("p", "organization", service.organization));
    var facts = li.appendChild(element("p", "facts"));
    if (service.latitude !== undefined) {
      facts.appendChild(element("span", "distance", distanceWords(words, item.distance)));
    }
    if (covering) li.appendChild(element("p", "covering", words["result.covering"]));
    if (service.confidential) li.appendChild(element("p", "confidential", words["result.confidential"]));
    var contacts = li.appendChild(element("p", "contacts"));
    service.links.forEach(function (link) {
      if (!LINKS.test(link[1])) return;
      var anchor = contacts.appendChild(element("a", "contact " + link[0], link[2]));
      anchor.href = link[1];
      contacts.appendChild(document.createTextNode(" "));
    });
    (service.faxes || []).forEach(function (fax) { li.appendChild(element("p", "fax", fax)); });
    if (service.address) li.appendChild(element("p", "address", service.address));
    if (service.area) li.appendChild(element("p", "area", service.area));
    var details = li.appendChild(element("dl", "details"));
    details.appendChild(element("dt", "", words["result.hours"]));
    details.appendChild(element("dd", "", service.hours));
    details.appendChild(element("dt", "", words["result.who"]));
    details.appendChild(element("dd", "", service.who));
    if (service.alert) li.appendChild(element("p", "alert", service.alert));
    if (service.checked) li.appendChild(element("p", "checked", service.checked));
    li.appendChild(element("p", "referrals", service.referrals));
    if (service.description) li.appendChild(element("p", "description", service.description));
    return li;
  };

  /* Put the saved area's answer in the page's results (as results.html lays them out). */
  var showAnswer = function (saved, search) {
    var results = document.getElementById("results");
    var found = answer(saved, parse(search));
    if (!results || !found) return false;
    var words = saved.words;
    Array.prototype.slice.call(results.querySelectorAll(".need-group, .hint, .missing"))
      .forEach(function (old) { old.parentNode.removeChild(old); });
    var origin = results.querySelector(".origin");
    var before = origin || results.querySelector(".pathway-link");
    if (found.missing) {
      results.insertBefore(
        element("p", "hint missing", fill(words["offline.not_saved"], { area: found.missing })),
        before
      );
      return true;
    }
    if (!found.groups.length) {
      results.insertBefore(element("p", "hint", words["results.choose_need"]), before);
    }
    found.groups.forEach(function (group) {
      var section = element("section", "need-group");
      section.setAttribute("data-need", group.need);
      section.appendChild(element("h3", "", words.needs[group.need]));
      if (group.found.length) {
        var list = section.appendChild(element("ol", "cards"));
        group.found.forEach(function (item) { list.appendChild(card(words, item)); });
      } else {
        section.appendChild(element("p", "none", words["results.none"]));
        nationalLines(saved, found, group.need, section);
      }
      results.insertBefore(section, before);
    });
    if (origin) {
      origin.textContent = found.origin.point
        ? fill(words["results.from_point"], { latitude: parse(search).lat, longitude: parse(search).lon })
        : fill(words["results.from_area"], { area: found.origin.name });
    }
    return true;
  };

  var form = document.getElementById("lookup");
  if (form) {
    var lists = Array.prototype.slice.call(form.querySelectorAll("select.area"));
    var latitude = form.querySelector("#lat");
    var longitude = form.querySelector("#lon");
    var status = document.getElementById("locate-status");

    /* Choosing an area searches at once; the lists after it no longer apply, nor a position. */
    lists.forEach(function (list, index) {
      list.addEventListener("change", function () {
        lists.slice(index + 1).forEach(function (later) {
          later.value = "";
          /* Offline, the lists inside another area cannot be had: set aside. */
          if (offline) later.disabled = true;
        });
        latitude.value = "";
        longitude.value = "";
        send();
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

    var announce = function () {
      updated.textContent = "";
      var see = document.createElement("a");
      see.href = "#results";
      see.textContent = form.getAttribute("data-updated");
      updated.appendChild(see);
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
      root.setAttribute("data-offline", "0");
      announce();
    };

    /* The answer of the area saved on this phone, in place of the server's. */
    var fromSaved = function (search, quietly) {
      return savedDirectory().then(function (saved) {
        if (!saved || !showAnswer(saved, search)) throw new Error("not saved");
        history.replaceState(null, "", "/lookup?" + search);
        root.setAttribute("data-offline", "1");
        if (!quietly) announce();
      });
    };

    /* A search: offline, in the saved area; online, the whole page. */
    var send = function () {
      if (offline && inPlace) {
        fromSaved(query()).catch(function () { form.submit(); });
      } else {
        form.submit();
      }
    };
    form.addEventListener("submit", function (event) {
      if (!offline || !inPlace) return;
      event.preventDefault();
      send();
    });

    var refresh = function () {
      var search = query();
      var shown = document.getElementById("results");
      if (!inPlace || !shown) {
        form.submit();
        return;
      }
      if (offline) {
        send();
        return;
      }
      asked += 1;
      var mine = asked;
      shown.setAttribute("aria-busy", "true");
      /* With an area saved, the server has as long as the service worker gives it for a
         page: then the saved area answers. */
      savedDirectory()
        .then(function (saved) {
          var answered = fetch("/lookup/results?" + search, { credentials: "same-origin" });
          if (!saved) return answered;
          return Promise.race([answered, new Promise(function (resolve, reject) {
            setTimeout(function () { reject(new Error("timeout")); }, TIMEOUT_MS);
          })]);
        })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.text();
        })
        .then(function (html) {
          if (mine === asked) show(html, search);
        })
        .catch(function () {
          if (mine !== asked) return;
          fromSaved(search).catch(function () { form.submit(); });
        })
        .then(function () { shown.removeAttribute("aria-busy"); });
    };

    Array.prototype.forEach.call(form.querySelectorAll("input[name=need]"), function (box) {
      box.addEventListener("change", function () {
        var place = latitude.value || lists.some(function (list) { return list.value; });
        if (place) refresh();
      });
    });

    /* A lookup page served by the service worker from the saved area: the form shows the
       search asked for, and the saved area answers it. */
    if (offline && inPlace) {
      var asking = parse(location.search);
      Array.prototype.forEach.call(form.querySelectorAll("input[name=need]"), function (box) {
        box.checked = asking.need.indexOf(box.value) >= 0;
      });
      latitude.value = asking.lat;
      longitude.value = asking.lon;
      lists.forEach(function (list) {
        asking.area.forEach(function (id) {
          if (list.querySelector('option[value="' + id.replace(/[^0-9a-f-]/gi, "") + '"]')) list.value = id;
        });
      });
      if (location.search) fromSaved(location.search.replace(/^\?/, ""), true).catch(function () {});
    }

    var locate = document.getElementById("locate");
    if (locate && "geolocation" in navigator) {
      locate.addEventListener("click", function () {
        status.textContent = form.getAttribute("data-locating");
        navigator.geolocation.getCurrentPosition(
          function (position) {
            latitude.value = position.coords.latitude.toFixed(5);
            longitude.value = position.coords.longitude.toFixed(5);
            lists.forEach(function (list) { list.value = ""; });
            send();
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
