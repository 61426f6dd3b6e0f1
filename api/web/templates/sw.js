/* Relay lookup: keeps the lookup pages' files, the last referral pathway viewed and the area a
   committee saved on this device, so that the pages still answer without a network. Served from
   /lookup/sw.js with scope /lookup.

   Pages are fetched from the network first. When a saved copy answers the page asked for, the
   network has TIMEOUT_MS to answer (a stalled 2G link or a server that hangs must not keep a
   volunteer waiting); then, or when the network fails, the saved copy is shown, marked as offline
   (data-offline="1" on <html> shows a banner). The saved area is kept by the page's script
   (lookup.js) in the AREA cache: its directory (/lookup/area/<id>/offline.json), its pathway
   and its lookup page, which lookup.js fills with results from the directory. Only public
   directory data is kept: never a referral or anything of a person. */
"use strict";

const VERSION = "__VERSION__";
const SHELL = "relay-lookup-shell-" + VERSION;
const PATHWAY = "relay-lookup-pathway";
const LAST = "/lookup/pathway/last";
const AREA = "relay-lookup-area";
const AREA_PAGE = "/lookup/area/saved/page";
const AREA_PATHWAY = "/lookup/area/saved/pathway";
const TIMEOUT_MS = 3000;
const SHELL_FILES = __SHELL__;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(SHELL).then((cache) => cache.addAll(SHELL_FILES)).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(
          keys
            .filter((key) => key.startsWith("relay-lookup-shell-") && key !== SHELL)
            .map((key) => caches.delete(key))
        )
      )
      .then(() => self.clients.claim())
  );
});

/* Keep this pathway page as the one saved copy (the last viewed). */
async function keep(url, response) {
  const cache = await caches.open(PATHWAY);
  for (const request of await cache.keys()) {
    await cache.delete(request);
  }
  await cache.put(url, response.clone());
  await cache.put(LAST, response);
}

async function match(name, key) {
  return (await caches.open(name)).match(key, { ignoreVary: true });
}

/* The saved copy that answers this navigation, and whether it answers it well enough not to
   wait for a slow network (the page asked for, or the saved area's lookup page, which answers
   any search of the area on the phone); else a stand-in shown only when the network fails
   (the last pathway viewed, the saved area's pathway). */
async function saved(request, url) {
  if (url.pathname === "/lookup/pathway") {
    const asked = (await match(PATHWAY, request)) || (await match(AREA, request));
    if (asked) return { copy: asked, timely: true };
    return { copy: (await match(PATHWAY, LAST)) || (await match(AREA, AREA_PATHWAY)) };
  }
  if (url.pathname === "/lookup") {
    const page = await match(AREA, AREA_PAGE);
    if (page) return { copy: page, timely: true };
  }
  return { copy: (await match(PATHWAY, LAST)) || (await match(AREA, AREA_PATHWAY)) };
}

async function offline(found) {
  if (!found) {
    return new Response(
      '<!doctype html><html><head><meta charset="utf-8">' +
        '<meta name="viewport" content="width=device-width, initial-scale=1">' +
        "<title>Relay</title></head><body><p>Offline. Hors ligne. अफलाइन। Tsy misy tambajotra. " +
        "គ្មានអ៊ីនធឺណិត។</p></body></html>",
      { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } }
    );
  }
  const text = (await found.text()).replace('data-offline="0"', 'data-offline="1"');
  return new Response(text, { headers: { "Content-Type": "text/html; charset=utf-8" } });
}

/* The network's answer, or a failure after TIMEOUT_MS when a saved copy answers instead. */
function network(request, timely) {
  const asked = fetch(request);
  if (!timely) return asked;
  return Promise.race([
    asked,
    new Promise((resolve, reject) => setTimeout(() => reject(new Error("timeout")), TIMEOUT_MS)),
  ]);
}

async function navigate(event, request, url) {
  const found = await saved(request, url);
  try {
    const response = await network(request, found.timely);
    if (response.ok && url.pathname === "/lookup/pathway") {
      event.waitUntil(keep(url.href, response.clone()));
    }
    return response;
  } catch (error) {
    return offline(found.copy);
  }
}

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "keep-pathway" && typeof data.url === "string") {
    const url = new URL(data.url, self.location.origin);
    if (url.origin === self.location.origin && url.pathname === "/lookup/pathway") {
      event.waitUntil(
        fetch(url, { credentials: "omit" })
          .then((response) => (response.ok ? keep(url.href, response) : null))
          .then(() => event.source && event.source.postMessage({ type: "pathway-kept" }))
          .catch(() => null)
      );
    }
  }
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/lookup/static/")) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
    return;
  }
  if (request.mode === "navigate" && (url.pathname === "/lookup" || url.pathname.startsWith("/lookup/"))) {
    event.respondWith(navigate(event, request, url));
  }
});
