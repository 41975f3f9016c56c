// The upscaler as a page sees it: the app (app.js) and the embeddable API (api.js) both drive
// one of these. It has assets.js download the CPU module, the model cards and the default model
// (the worker downloads other models when a job needs them; prefetch() fetches them ahead),
// starts the worker's engine on the backend the user prefers, and runs jobs. When the GPU fails
// mid-job (device lost, out of memory, a WebGPU error that aborts the wasm instance) the job is
// retried in a fresh worker with smaller tiles, then on the CPU, so that it still completes;
// each change of backend is announced with a "backend" event. A person's own model (a Compact
// model file they bring: importModel()) replaces upres's models while it is in use (useModels()).
// Every URL is relative to this module, so www/ can be hosted under any path.

import { downloadAssets, prefetch } from './assets.js';
import { WorkerBridge } from './bridge.js';
import { describe, invalid } from './job.js';

/** Tile interiors in input pixels. Small CPU tiles keep Cancel and the live preview prompt; the
 *  GPU is faster with larger ones and halves them after a failure, down to the minimum. */
const TILES = { webgpu: 256, cpu: 128 };
const MIN_GPU_TILE = 64;
/** The localStorage entry for what starts measured (see #measured). */
const MEASURED = 'upres-backend-measured';
/** The most workers `workers` may ask for. */
const MAX_WORKERS = 64;

export class Upres extends EventTarget {
  #bridge = new WorkerBridge(new URL('./worker.js', import.meta.url));
  /** The folder with index.json and the model cards. */
  #models;
  /** How many workers compute a CPU job's tiles; undefined: the worker decides. */
  #workers;
  #assets = null;
  /** The first hex digits of the CPU module's SHA-256: which build measured. */
  #build = null;
  #preference = 'auto';
  #gpuTile = TILES.webgpu;
  #gpuFailure = null;
  #engine = null;
  /** The person's own model that runs instead of upres's models (importModel()'s entry), or null. */
  #own = null;
  /** What the running engine reported when it started; null until then. */
  #running = null;
  #requestStart;
  /** Resolves once the page has asked for a backend: no engine starts before that. */
  #startRequested = new Promise((resolve) => {
    this.#requestStart = resolve;
  });

  /**
   * `models`: the URL of the folder that holds index.json and the model cards (default: the
   * models/ folder beside this module). `workers`: how many workers compute a job's tiles on the
   * CPU, 1 to run them all in the upscaler's own worker (default: one per core beyond that
   * worker's, as memory allows); for tests and benchmarks.
   * @param {{ models?: URL, workers?: number }} [options]
   */
  constructor({ models = new URL('./models/', import.meta.url), workers } = {}) {
    super();
    if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1 && workers <= MAX_WORKERS)) {
      throw invalid(`workers must be a whole number from 1 to ${MAX_WORKERS}, not ${describe(workers)}`);
    }
    this.#models = models;
    this.#workers = workers;
  }

  /**
   * Downloads the CPU module, the cards of the models that the models folder's index.json lists
   * and the default model's weights. `onProgress` gets `{ loaded, total }` in bytes as they
   * arrive. Resolves to the models, `{ name, scale }`.
   */
  async load(signal, onProgress) {
    this.#assets = await downloadAssets(this.#models, signal, onProgress);
    return this.#assets.models.map(({ name, scale }) => ({ name, scale }));
  }

  /** Downloads, at low priority, the weights of the models that load() left for later, so that
   *  the service worker has every model for an offline visit. */
  async prefetch(signal) {
    await prefetch(
      this.#assets.models.filter((model) => !model.weights).map((model) => model.url),
      signal,
    );
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
    return retryIfReplaced(async () => {
      if (this.#running) {
        const { backend, reason, adapter } = this.#running;
        return { backend, reason, adapter, started: true };
      }
      const preference = this.#gpuFailure ? 'cpu' : this.#preference;
      return { ...(await this.#bridge.call(signal, 'probe', { preference })), started: false };
    });
  }

  /**
   * Reads a person's own model: `files` (a FileList or an array of Files) is one model file
   * (`.pth`, `.safetensors`), or an ncnn model's `.param` and `.bin` in either order. Resolves to
   * `{ name, card, weights, scale, parameters, macs, architecture, sha256, format }`, which
   * useModels() takes; a file that is no model upres reads is refused with an error saying why.
   * Nothing runs it until then, and it goes nowhere: it is read in this browser's worker.
   */
  async importModel(signal, files) {
    if (!this.#assets) throw new Error('load() must finish before a model is imported');
    const { model, weights } = modelFiles([...files]);
    const bytes = new Uint8Array(await model.arrayBuffer());
    const args = {
      wasm: this.#assets.wasm,
      name: model.name,
      bytes,
      weights: weights && new Uint8Array(await weights.arrayBuffer()),
    };
    return retryIfReplaced(() => this.#bridge.call(signal, 'importModel', args));
  }

  /**
   * Runs `entry` (what importModel() resolved to) instead of upres's models, or upres's own
   * models again when it is null. A change starts the engine again with them, in the same worker,
   * for the calls made from now on: a job already under way finishes with the models it began
   * with.
   */
  useModels(entry) {
    if (entry === this.#own) return;
    this.#own = entry;
    this.#engine = null;
    this.#running = null;
  }

  /** Size and format of an image file, or an error saying exactly what is wrong with it. */
  async inspect(signal, file) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    return retryIfReplaced(async () => (await this.#call(signal, 'inspect', { bytes })).value);
  }

  /**
   * Upscales `file` with `options` (the JSON of job.js's jobOptions()); resolves to `{ blob,
   * width, height, label, extension, route, models, metadata }`: `route` says in words which
   * models ran and why, `models` names them, `metadata` says what the file carries besides the
   * pixels ("colour profile, EXIF, 300 DPI") and what was left out. `onProgress` gets the worker's tile reports, and `{ restart:
   * true }` when a GPU failure makes the job start over.
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

  /** `{ workers, busy, memory, engineMemory }`: how many tile workers run, how many of them are
   *  computing a tile, and the most wasm memory one has used, in bytes (all 0 when tiles run in
   *  the upscaler's own worker); and that worker's own wasm memory. For tests and benchmarks. */
  async tileWorkers(signal) {
    return (await this.#call(signal, 'tileWorkers', {})).value;
  }

  /** Where one job's time goes, with every tile in the upscaler's own worker: `{ stages: [[name,
   *  ms], …], totalMs, gflop, networkGflops, jobGflops }` (see src/profile.rs). For benchmarks. */
  async profile(signal, file, options) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    return (await this.#call(signal, 'profile', { bytes, options })).value;
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

  /** What earlier starts with this build measured, by WebGPU adapter (worker.js start()): kept
   *  in localStorage, so that a hardware GPU is timed against the CPU once per adapter and
   *  build, not on every visit. */
  async #measured() {
    // A new module or model may change either figure. Hashed once: the module never changes.
    if (!this.#build) {
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', this.#assets.wasm));
      this.#build = Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
    }
    return this.#stored();
  }

  /** The stored figures by adapter for this build; none when there are none, or no storage (a
   *  sandboxed frame), or an entry that is not ours. */
  #stored() {
    try {
      const stored = JSON.parse(localStorage.getItem(MEASURED));
      return stored?.build === this.#build ? stored.byAdapter : {};
    } catch {
      return {};
    }
  }

  #remember(measurement) {
    const byAdapter = { ...this.#stored(), [measurement.adapter]: measurement };
    try {
      localStorage.setItem(MEASURED, JSON.stringify({ build: this.#build, byAdapter }));
    } catch {
      // Without storage the next visit measures again.
    }
  }

  async #ready(signal) {
    await this.#startRequested;
    if (!this.#assets) throw new Error('load() must finish before the upscaler starts');
    if (!this.#engine) {
      const engine = this.#measured()
        .then((measured) =>
          this.#bridge.call(signal, 'start', {
            wasm: this.#assets.wasm,
            models: this.#own
              ? [{ name: this.#own.name, card: this.#own.card, weights: this.#own.weights }]
              : this.#assets.models,
            preference: this.#gpuFailure ? 'cpu' : this.#preference,
            tiles: { ...TILES, webgpu: this.#gpuTile },
            workers: this.#workers,
            measured,
          }),
        )
        .then((info) => {
          if (info.measurement) this.#remember(info.measurement);
          if (this.#gpuFailure) info.reason = this.#gpuFailure;
          else if (this.#gpuTile < TILES.webgpu)
            info.reason += `; retried with ${this.#gpuTile}-pixel tiles after a GPU failure`;
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

/**
 * The model among a person's chosen `files`, and an ncnn model's weights (null for the other
 * formats): one file, or a .param with its .bin. Which format a file holds is for the engine to
 * tell from its bytes, so a lone .bin goes there: it may be a PyTorch file (pytorch_model.bin),
 * and the engine says so when it is an ncnn model's weights without their graph.
 */
function modelFiles(files) {
  const named = (extension) => files.filter((file) => file.name.toLowerCase().endsWith(extension));
  const [param] = named('.param');
  const [bin] = named('.bin');
  if (files.length === 1) {
    if (param) throw modelProblem(`${param.name} is an ncnn model's graph: choose it together with its .bin file`);
    return { model: files[0], weights: null };
  }
  if (files.length === 2 && param && bin) return { model: param, weights: bin };
  throw modelProblem(
    files.length === 0
      ? 'no model file was chosen'
      : `choose one model file, or an ncnn model's .param and .bin together, not ${files.map((file) => file.name).join(', ')}`,
  );
}

const modelProblem = (message) => Object.assign(new Error(message), { kind: 'model' });

/**
 * `look()`, tried again (three times in all) when the worker was replaced while it ran: a change
 * of backend restarts the worker. Only for calls that are safe to repeat, which a look at a file
 * or at the backend is.
 */
async function retryIfReplaced(look) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await look();
    } catch (error) {
      if (error.kind !== 'crashed' || attempt === 3) throw error;
    }
  }
}
