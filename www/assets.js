// What the upscaler downloads before it can run, and the downloads after: the CPU build of the
// WebAssembly module, every model card that a models folder's index.json lists, and the default
// model's weights (×4, for clean images: what the page's default settings run first). Every
// other model's weights are downloaded by the worker the first time a job needs them, or ahead
// of that by prefetch(); the engine checks each against the SHA-256 in its card. The service
// worker (sw.js) caches these downloads as they happen, so a second visit fetches nothing. The
// wasm module's URL is relative to this module, so www/ can be hosted under any path.

/**
 * Downloads the CPU module, the cards of the models in `modelsUrl`/index.json (a folder URL) and
 * the default model's weights; `onProgress` gets `{ loaded, total }` in bytes as they arrive.
 * Resolves to `{ wasm, models }`, each model `{ name, scale, card (its JSON text), url (of its
 * weights), weights (the bytes for the default model, else null) }`.
 */
export async function downloadAssets(modelsUrl, signal, onProgress) {
  const index = await (await get(new URL('index.json', modelsUrl), signal)).json();
  // The same choice as the size report's first-load row (scripts/web-assets.mjs).
  const preferred = index.find((entry) => entry.scale === 4 && entry.input === 'clean') ?? index[0];
  const models = await Promise.all(
    index.map(async (entry) => {
      const cardUrl = new URL(entry.card, modelsUrl);
      const card = await (await get(cardUrl, signal)).text();
      const { name, weights, config } = JSON.parse(card);
      return {
        name,
        scale: config.scale,
        card,
        url: new URL(weights, cardUrl).href,
        weights: null,
        bytes: entry.bytes,
        preferred: entry === preferred,
      };
    }),
  );
  const first = models.find((model) => model.preferred);
  const downloads = [
    { url: new URL('./pkg/upres_bg.wasm', import.meta.url), bytes: 0 },
    { url: new URL(first.url), bytes: first.bytes },
  ];
  const loaded = downloads.map(() => 0);
  const report = () =>
    onProgress({
      loaded: loaded.reduce((a, b) => a + b, 0),
      total: downloads.reduce((sum, d, i) => sum + Math.max(d.bytes, loaded[i]), 0),
    });
  const [wasm, weights] = await Promise.all(
    downloads.map((download, i) =>
      fetchBytes(download.url, signal, (n, expected) => {
        loaded[i] = n;
        download.bytes = expected || download.bytes;
        report();
      }),
    ),
  );
  first.weights = weights;
  return { wasm, models: models.map(({ name, scale, card, url, weights }) => ({ name, scale, card, url, weights })) };
}

/** One file's bytes; a failure is an error of kind "download" that names it. */
export async function download(url, signal) {
  return new Uint8Array(await (await get(url, signal)).arrayBuffer());
}

/**
 * Downloads `urls` (model weights no job has needed yet) at low priority, so that the service
 * worker has them for an offline visit; resolves once every one has arrived.
 */
export async function prefetch(urls, signal) {
  await Promise.all(urls.map(async (url) => (await get(new URL(url), signal, { priority: 'low' })).arrayBuffer()));
}

async function get(url, signal, options = {}) {
  const response = await fetch(url, { signal, ...options }).catch((error) => {
    if (signal?.aborted) throw error;
    // Offline, or a host that refuses (CORS, CSP): the browser says which in the console only.
    throw Object.assign(new Error(`could not download ${url.pathname}: ${error.message}`), { kind: 'download' });
  });
  if (!response.ok) {
    throw Object.assign(new Error(`could not download ${url.pathname} (HTTP ${response.status})`), {
      kind: 'download',
    });
  }
  return response;
}

/** The body as bytes, reporting how many have arrived and how many are expected. */
async function fetchBytes(url, signal, onBytes) {
  const response = await get(url, signal);
  // The compressed length when the server compresses: then only a lower bound.
  const expected = Number(response.headers.get('Content-Length')) || 0;
  const chunks = [];
  let received = 0;
  onBytes(received, expected);
  for (const reader = response.body.getReader(); ; ) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onBytes(received, expected);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
