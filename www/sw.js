// Offline support. The app shell (every file the page and the embed load, which the build
// lists in pkg/build.js) is cached when the service worker installs; the wasm modules and the
// models are cached the first time they are downloaded (the page waits for this worker to take
// control before it downloads anything, and once ready it fetches every model in the
// background), so a second visit works without a network. The cache is named after the build
// (pkg/build.js too), and each new build's worker deletes the caches of older ones. Only
// same-origin GET requests are touched.

importScripts('./pkg/build.js');

/** This worker's scope, with the build's version and app shell that pkg/build.js sets on it. */
const sw = /** @type {ServiceWorkerGlobalScope & { UPRES_BUILD: string, UPRES_SHELL: string[] }} */ (
  /** @type {unknown} */ (self)
);
const CACHE = `upres-${sw.UPRES_BUILD}`;

sw.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(sw.UPRES_SHELL))
      .then(() => sw.skipWaiting()),
  );
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(names.filter((n) => n.startsWith('upres-') && n !== CACHE).map((n) => caches.delete(n)));
      await sw.clients.claim();
    })(),
  );
});

sw.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || !request.url.startsWith(sw.registration.scope)) return;
  event.respondWith(cacheFirst(event));
});

async function cacheFirst(event) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(event.request, { ignoreSearch: true });
  if (cached) return cached;
  const response = await fetch(event.request);
  // Stored in the background: the page reads the download as it arrives (its progress bar).
  if (response.ok) event.waitUntil(cache.put(event.request, response.clone()));
  return response;
}
