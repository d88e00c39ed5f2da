/* The pages' service worker: keeps their own files and an offline page; never keeps a page with data. */
"use strict";
var CACHE = "peoplelinks-pages-v1";
var KEPT = [
  "/app/offline",
  "/app/static/pages.css",
  "/app/static/follow-ups.js",
  "/app/static/charts.js",
  "/app/static/vendor/chart.js/chart.umd.min.js"
];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.addAll(KEPT); }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n !== CACHE; }).map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }  // entries are sent by the page itself, from its outbox
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate") {
    // Pages always come from the network (they hold records, kept nowhere); offline, the offline page.
    event.respondWith(fetch(request).catch(function () { return caches.match("/app/offline"); }));
    return;
  }
  if (url.pathname.indexOf("/app/static/") === 0) {
    event.respondWith(fetch(request).then(function (response) {
      var copy = response.clone();
      if (response.ok) { caches.open(CACHE).then(function (cache) { cache.put(request, copy); }); }
      return response;
    }).catch(function () { return caches.match(request); }));
  }
});
