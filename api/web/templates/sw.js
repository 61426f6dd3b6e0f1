/* Relay lookup: keeps the lookup pages' files and the last referral pathway viewed on this
   device, so that the pathway still shows without a network. Served from /lookup/sw.js with
   scope /lookup. Pages are fetched from the network first; only when that fails is the saved
   copy shown, marked as offline (data-offline="1" on <html> shows a banner). */
"use strict";

const VERSION = "__VERSION__";
const SHELL = "relay-lookup-shell-" + VERSION;
const PATHWAY = "relay-lookup-pathway";
const LAST = "/lookup/pathway/last";
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

async function offline(request) {
  const cache = await caches.open(PATHWAY);
  const saved = (await cache.match(request, { ignoreVary: true })) || (await cache.match(LAST));
  if (!saved) {
    return new Response(
      '<!doctype html><html><head><meta charset="utf-8">' +
        '<meta name="viewport" content="width=device-width, initial-scale=1">' +
        "<title>Relay</title></head><body><p>Offline. Hors ligne. अफलाइन। Tsy misy tambajotra. " +
        "គ្មានអ៊ីនធឺណិត។</p></body></html>",
      { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } }
    );
  }
  const text = (await saved.text()).replace('data-offline="0"', 'data-offline="1"');
  return new Response(text, { headers: { "Content-Type": "text/html; charset=utf-8" } });
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
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok && url.pathname === "/lookup/pathway") {
            event.waitUntil(keep(url.href, response.clone()));
          }
          return response;
        })
        .catch(() => offline(request))
    );
  }
});
