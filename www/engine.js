// The upscaler as a page sees it: the app (app.js) and the embeddable API (api.js) both drive
// one of these. It downloads the WebAssembly module and the models (with progress, each model
// checked against the SHA-256 in its card), starts the worker's engine on the backend the user
// prefers, and runs jobs. When the GPU fails mid-job (device lost, out of memory, a WebGPU error
// that aborts the wasm instance) the job is retried in a fresh worker with smaller tiles, then on
// the CPU, so that it still completes; each change of backend is announced with a "backend"
// event. Every URL is relative to this module, so www/ can be hosted under any path.

import { WorkerBridge } from './bridge.js';

/** Tile interiors in input pixels. Small CPU tiles keep Cancel and the live preview prompt; the
 *  GPU is faster with larger ones and halves them after a failure, down to the minimum. */
const TILES = { webgpu: 256, cpu: 128 };
const MIN_GPU_TILE = 64;

/** What each kind of engine error (`error.kind`) means, for people. */
const ERROR_TITLES = {
  browser: 'Unsupported browser',
  download: 'Could not download the upscaler',
  decode: 'Can’t read this file',
  unsupported: 'Unsupported image',
  limits: 'Too large',
  parameter: 'Invalid option',
  encode: 'Could not write the result',
  model: 'Model problem',
  backend: 'The compute backend failed',
  crashed: 'The upscaler stopped unexpectedly',
};

export const describeError = (error) => `${ERROR_TITLES[error.kind] ?? 'Something went wrong'}: ${error.message}`;

// The smallest module that uses WebAssembly SIMD, which the CPU backend's kernels are built with.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** Why this browser cannot run upres at all, or null when it can. */
export function unsupportedBrowser() {
  const webgpu = 'gpu' in navigator;
  if (typeof WebAssembly !== 'object') {
    return `This browser cannot run WebAssembly${webgpu ? '' : ' and has no WebGPU'}, so upres cannot work here. ` +
      'Use a current Chrome, Edge, Firefox or Safari, and check that WebAssembly is not disabled.';
  }
  if (!WebAssembly.validate(SIMD_PROBE)) {
    return 'This browser’s WebAssembly lacks SIMD, which upres needs. Update the browser (Chrome 91, Firefox 89, Safari 16.4 or later).';
  }
  return null;
}

export class Upres extends EventTarget {
  #bridge = new WorkerBridge(new URL('./worker.js', import.meta.url));
  /** The folder with index.json and the model cards. */
  #models;
  #assets = null;
  #preference = 'auto';
  #gpuTile = TILES.webgpu;
  #gpuFailure = null;
  #engine = null;
  /** What the running engine reported when it started; null until then. */
  #running = null;
  #requestStart;
  /** Resolves once the page has asked for a backend: no engine starts before that. */
  #startRequested = new Promise((resolve) => { this.#requestStart = resolve; });

  /** `models`: the URL of the folder that holds index.json and the model cards (default: the
   *  models/ folder beside this module). */
  constructor({ models = new URL('./models/', import.meta.url) } = {}) {
    super();
    this.#models = models;
  }

  /**
   * Downloads the wasm module and every model listed in the models folder's index.json.
   * `onProgress` gets `{ loaded, total }` in bytes as they arrive.
   */
  async load(signal, onProgress) {
    const index = await (await get(new URL('index.json', this.#models), signal)).json();
    const cards = await Promise.all(
      index.map(async (entry) => {
        const url = new URL(entry.card, this.#models);
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
    this.#assets = { wasm, models };
    return models.map(({ name, scale }) => ({ name, scale }));
  }

  /** Starts (or restarts) the engine; `preference` is "auto", "webgpu" or "cpu". */
  async start(signal, preference = this.#preference) {
    this.#preference = preference;
    this.#gpuTile = TILES.webgpu;
    this.#gpuFailure = null;
    this.#engine = null;
    this.#running = null;
    this.#bridge.restart('the backend was changed');
    this.#requestStart();
    return this.#ready(signal);
  }

  /**
   * `{ backend, reason, adapter, started }`: the backend the engine runs on (`started`), or the
   * one it would start on, and why; `adapter` is the WebGPU adapter's `{ vendor, architecture,
   * device, description, fallback }`, or null without one. Needs neither the wasm module nor
   * the models.
   */
  async capabilities(signal) {
    for (let attempt = 1; ; attempt++) {
      if (this.#running) {
        const { backend, reason, adapter } = this.#running;
        return { backend, reason, adapter, started: true };
      }
      try {
        const preference = this.#gpuFailure ? 'cpu' : this.#preference;
        return { ...(await this.#bridge.call(signal, 'probe', { preference })), started: false };
      } catch (error) {
        // The engine started (and replaced the worker) while it looked: look again.
        if (error.kind !== 'crashed' || attempt === 3) throw error;
      }
    }
  }

  /** Size and format of an image file, or an error saying exactly what is wrong with it. */
  async inspect(signal, file) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.#call(signal, 'inspect', { bytes })).value;
      } catch (error) {
        // The worker was replaced (a change of backend) while it looked: look again.
        if (error.kind !== 'crashed' || attempt === 3) throw error;
      }
    }
  }

  /**
   * Upscales `file` with `options` (see options.js); resolves to `{ blob, width, height, label,
   * extension }`. `onProgress` gets the worker's tile reports, and `{ restart: true }` when a
   * GPU failure makes the job start over.
   */
  async upscale(signal, file, options, onProgress) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    for (;;) {
      try {
        const { value } = await this.#call(signal, 'upscale', { bytes, options }, { onProgress });
        return { ...value, blob: new Blob([value.bytes], { type: value.mime }) };
      } catch (error) {
        if (error.engine?.backend !== 'webgpu' || !['backend', 'crashed'].includes(error.kind)) throw error;
        this.#degrade(error);
        onProgress({ restart: true });
      }
    }
  }

  /** A call to the worker's engine; its errors carry the engine they happened on. */
  async #call(signal, method, args, options) {
    const engine = await this.#ready(signal);
    try {
      return { value: await this.#bridge.call(signal, method, args, options), engine };
    } catch (error) {
      // A crashed worker has been replaced by one with no engine yet.
      if (error.kind === 'crashed') {
        this.#engine = null;
        this.#running = null;
      }
      throw Object.assign(error, { engine });
    }
  }

  /** After a GPU failure: a fresh worker (a lost device is never usable again) with half the
   *  tile size, or the CPU once tiles are as small as they go. */
  #degrade(error) {
    if (this.#gpuTile > MIN_GPU_TILE) {
      this.#gpuTile /= 2;
    } else {
      // The first line says what happened; the rest is the backend's chain of causes.
      const cause = error.message.split('\n')[0];
      this.#gpuFailure = `WebGPU failed even with ${MIN_GPU_TILE}-pixel tiles (${cause}); using the CPU`;
    }
    this.#engine = null;
    this.#running = null;
    this.#bridge.restart('restarting after a GPU failure');
  }

  async #ready(signal) {
    await this.#startRequested;
    if (!this.#assets) throw new Error('load() must finish before the upscaler starts');
    if (!this.#engine) {
      const engine = this.#bridge
        .call(signal, 'start', {
          wasm: this.#assets.wasm,
          models: this.#assets.models.map(({ card, weights }) => ({ card, weights })),
          preference: this.#gpuFailure ? 'cpu' : this.#preference,
          tiles: { ...TILES, webgpu: this.#gpuTile },
        })
        .then((info) => {
          if (this.#gpuFailure) info.reason = this.#gpuFailure;
          else if (this.#gpuTile < TILES.webgpu) info.reason += `; retried with ${this.#gpuTile}-pixel tiles after a GPU failure`;
          // Unless a restart replaced this engine while it started.
          if (this.#engine === engine) this.#running = info;
          this.dispatchEvent(new CustomEvent('backend', { detail: info }));
          return info;
        });
      engine.catch(() => {
        if (this.#engine === engine) this.#engine = null;
      });
      this.#engine = engine;
    }
    return this.#engine;
  }
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
