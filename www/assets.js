// What the upscaler downloads before it can run: the WebAssembly module and every model that a
// models folder's index.json lists, with byte progress, each model's weights checked against
// the SHA-256 in its card before anything runs them (Rust checks again). The service worker
// (sw.js) caches these downloads as they happen, so a second visit fetches nothing. The wasm
// module's URL is relative to this module, so www/ can be hosted under any path.

/**
 * Downloads the wasm module and the models listed in `modelsUrl`/index.json (a folder URL);
 * `onProgress` gets `{ loaded, total }` in bytes as they arrive. Resolves to `{ wasm, models }`,
 * each model `{ card (its JSON text), weights, scale, name }`.
 */
export async function downloadAssets(modelsUrl, signal, onProgress) {
  const index = await (await get(new URL('index.json', modelsUrl), signal)).json();
  const cards = await Promise.all(
    index.map(async (entry) => {
      const url = new URL(entry.card, modelsUrl);
      const text = await (await get(url, signal)).text();
      return { text, card: JSON.parse(text), url, bytes: entry.bytes };
    }),
  );
  const downloads = [
    { url: new URL('./pkg/upres_bg.wasm', import.meta.url), bytes: 0 },
    ...cards.map(({ card, url, bytes }) => ({ url: new URL(card.weights, url), bytes })),
  ];
  const loaded = downloads.map(() => 0);
  const report = () => onProgress({
    loaded: loaded.reduce((a, b) => a + b, 0),
    total: downloads.reduce((sum, d, i) => sum + Math.max(d.bytes, loaded[i]), 0),
  });
  const [wasm, ...weights] = await Promise.all(
    downloads.map((download, i) => fetchBytes(download.url, signal, (n, expected) => {
      loaded[i] = n;
      download.bytes = expected || download.bytes;
      report();
    })),
  );
  const models = await Promise.all(
    cards.map(async ({ text, card }, i) => {
      await verify(card, weights[i]);
      return { card: text, weights: weights[i], scale: card.config.scale, name: card.name };
    }),
  );
  return { wasm, models };
}

async function get(url, signal) {
  const response = await fetch(url, { signal }).catch((error) => {
    if (signal.aborted) throw error;
    // Offline, or a host that refuses (CORS, CSP): the browser says which in the console only.
    throw Object.assign(new Error(`could not download ${url.pathname}: ${error.message}`), { kind: 'download' });
  });
  if (!response.ok) {
    throw Object.assign(new Error(`could not download ${url.pathname} (HTTP ${response.status})`), { kind: 'download' });
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
  for (const reader = response.body.getReader(); ;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onBytes(received, expected);
  }
  const bytes = new Uint8Array(received);
  chunks.reduce((offset, chunk) => (bytes.set(chunk, offset), offset + chunk.length), 0);
  return bytes;
}

/** Refuses weights whose SHA-256 differs from the card's. */
async function verify(card, weights) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', weights));
  const actual = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  if (actual !== card.sha256) {
    throw Object.assign(new Error(`the ×${card.config.scale} model (${card.name}) failed its integrity check: ` +
      `its card says SHA-256 ${card.sha256}, the download has ${actual}. Reload the page to download it again.`), { kind: 'model' });
  }
}
