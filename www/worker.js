// The inference worker. It owns the WebAssembly instance and one Engine (models on a backend),
// and answers the calls that bridge.js sends: `probe`, `start`, `importModel`, `inspect`,
// `upscale`, and for tests and benchmarks `tileWorkers` and `profile`. Heavy work never touches
// the page's main thread; lossy WebP, which the wasm module cannot write, is encoded here too, by
// the browser's own encoder (an OffscreenCanvas).
//
// The backend is chosen here because only here is the WebGPU adapter visible: a software
// adapter (SwiftShader, `isFallbackAdapter`) is slower than burn's CPU backend on WebAssembly,
// so it is used only when the page forces WebGPU; a hardware one is timed against the CPU once
// (see start()). Two builds of the module exist: the page always downloads the CPU one (burn's
// CPU backend alone, a third of the size), and this worker fetches the WebGPU one (both
// backends) only when WebGPU is chosen. On the CPU, the tiles of a job run in a pool of tile
// workers (tiles.js), one per spare core.
//
// Models arrive as cards; a model's weights are downloaded the first time a job needs them
// (the page hands over the default model's, which it downloaded with the module, and the weights
// of a person's own model, which importModel read from their file).

import { download } from './assets.js';
import initCpu, * as cpu from './pkg/upres.js';
import { TilePool } from './tiles.js';

/** The module in use (the CPU build's or the WebGPU build's), its instance's memory, its Engine,
 *  and on the CPU the tile workers (null when every tile runs here). */
let upres = null;
let memory = null;
let engine = null;
let pool = null;
/** Each model of the running engine by name: { card (JSON text), url (of its weights; none for a
 *  person's own model), weights (bytes, or null until a job needs them) }. */
const models = new Map();
/** The CPU build, compiled once (the tile workers instantiate the same module); null until used. */
let cpuModule = null;
/** The call in progress, and what the page's cancel aborts (checked after every tile). */
let running = { id: 0, cancel: new AbortController() };

const methods = {
  /** The backend `start` would choose, and why, without the wasm module or the models. */
  async probe({ preference }) {
    const { backend, reason, adapter } = await chooseBackend(preference);
    return { backend, reason, adapter };
  },

  /**
   * Starts an engine for the models (`{ name, card, url, weights }`, weights null where not yet
   * downloaded) on the backend chosen; `wasm` is the CPU module's bytes, `tiles` the tile size
   * per backend, `workers` how many workers compute tiles on the CPU (undefined: one per spare
   * core, as memory allows). Where a hardware GPU could run it, the faster of it and the CPU
   * runs: `measured` holds what earlier starts with this build measured, by adapter (the page
   * keeps it); an adapter not in it is measured now, and the result returned as `measurement`.
   */
  async start({ wasm, models: list, preference, tiles, workers, measured }) {
    // Only this start's models: the engine's cards decide what runs, and a person's own model
    // among them runs alone.
    models.clear();
    for (const model of list) models.set(model.name, model);
    const cards = list.map(({ card }) => card);
    let choice = await chooseBackend(preference);
    engine?.free();
    engine = null;
    pool?.close();
    pool = null;
    const setup = { wasm, cards, tiles, workers };
    let measurement = null;
    if (choice.measure) {
      const known = measured?.[choice.description];
      measurement = known ?? { ...(await measure(choice, setup)), adapter: choice.description };
      choice = { ...choice, ...measuredChoice(measurement, known ? 'measured here before' : 'measured just now') };
    }
    let reason = choice.reason;
    if (choice.backend === 'webgpu') {
      try {
        await startWebgpu(choice, setup);
      } catch (error) {
        if (error.name !== 'backend') throw error;
        reason = `${error.message}; using the CPU instead`;
      }
    }
    if (!engine) await startCpu(reason, setup);
    return {
      backend: engine.backend,
      description: engine.description,
      reason: engine.reason,
      adapter: choice.adapter,
      workers: pool?.size ?? 1,
      measurement,
    };
  },

  /**
   * Reads a person's model file (`bytes`; an ncnn model's .param, with its .bin as `weights`),
   * refusing anything else, saying why; resolves to `{ name, card, weights, scale, parameters,
   * macs, architecture, sha256, format }`, the model as start() takes it and what to show of it.
   * `wasm` is the CPU module's bytes, for a worker that has no engine yet.
   */
  async importModel({ wasm, name, bytes, weights }) {
    if (!upres) await initCpuBuild(wasm);
    return upres.importModel(name, bytes, weights);
  },

  inspect({ bytes }) {
    return upres.inspect(bytes);
  },

  async upscale({ bytes, options }, progress, cancel) {
    if (!engine) throw Object.assign(new Error('the upscaler has not started'), { name: 'backend' });
    // The engine calls a failed download a model problem; the page says it as what it is.
    let failedDownload = null;
    const weights = (name) =>
      modelWeights(name, cancel).catch((error) => {
        failedDownload = error;
        throw error;
      });
    let result;
    try {
      result = await engine.upscale(
        bytes,
        JSON.stringify(options),
        (report) => {
          progress(report, [report.pixels.buffer]);
          return cancel.aborted;
        },
        weights,
        tileRunner(cancel),
        inFlight(),
      );
    } catch (error) {
      // Tiles dropped by the cancel fail the job before the engine checks for it.
      if (cancel.aborted) throw Object.assign(new Error('cancelled'), { name: 'cancelled' });
      throw failedDownload ?? error;
    }
    // Lossy WebP: the pixels, for this browser's encoder, and the metadata to put in its file.
    const { pixels, pending, ...rest } = result;
    if (!pending) return result;
    try {
      return { ...rest, bytes: await browserWebP(pixels, rest.width, rest.height, options.quality, pending) };
    } finally {
      pending.free();
    }
  },

  /** `{ workers, busy, memory, engineMemory }`: TilePool.status() (all 0 when tiles run here),
   *  and this worker's own wasm memory in bytes. */
  tileWorkers() {
    return { ...(pool?.status() ?? { workers: 0, busy: 0, memory: 0 }), engineMemory: memory.buffer.byteLength };
  },

  /** Where a job's time goes, every tile here on one thread (Engine.profile); no result. */
  profile({ bytes, options }, _progress, cancel) {
    return engine.profile(bytes, JSON.stringify(options), (name) => modelWeights(name, cancel));
  },
};

/** Makes the CPU build the module in use (compiled and instantiated once); resolves to the
 *  compiled module. */
async function initCpuBuild(wasm) {
  cpuModule ??= WebAssembly.compile(wasm);
  const module = await cpuModule;
  ({ memory } = await initCpu({ module_or_path: module }));
  upres = cpu;
  return module;
}

/** Starts `engine` on WebGPU: the WebGPU build of the module. */
async function startWebgpu(choice, { cards, tiles }) {
  ({ upres, memory } = await webgpuModule());
  engine = await upres.Engine.start('webgpu', choice.description, choice.reason, cards, tiles.webgpu);
}

/** Starts `engine` on the CPU (the CPU build, compiled once: the tile workers instantiate the
 *  same module), with `pool` when more than one worker computes tiles. */
async function startCpu(reason, { wasm, cards, tiles, workers }) {
  const module = await initCpuBuild(wasm);
  engine = await upres.Engine.start('cpu', '', reason, cards, tiles.cpu);
  const size = workers ?? defaultWorkers();
  // A browser without workers inside workers runs every tile here.
  pool = size > 1 && typeof Worker === 'function' ? new TilePool(module, size, models) : null;
}

/**
 * Times the same small job on WebGPU and on the CPU's workers, each warm (the second of two
 * runs): one CPU tile's width of 4× input per tile worker, so that every worker has a tile, with
 * the default model. Resolves to `{ webgpuMs, cpuMs, workers, input, webgpuError }` (webgpuMs
 * null when WebGPU failed, and webgpuError why); the engine is left stopped.
 */
async function measure(choice, setup) {
  const side = setup.tiles.cpu;
  await startCpu(choice.reason, setup);
  const workers = pool?.size ?? 1;
  const bytes = await testImage(side * workers, side);
  const job = JSON.stringify({ target: { scale: 4 }, format: 'png', input: 'clean', metadata: 'none' });
  const time = async () => {
    const never = new AbortController().signal;
    const once = () =>
      engine.upscale(
        bytes,
        job,
        () => false,
        (name) => modelWeights(name, never),
        tileRunner(never),
        inFlight(),
      );
    await once();
    const started = performance.now();
    await once();
    return performance.now() - started;
  };
  const cpuMs = await time();
  engine.free();
  engine = null;
  pool?.close();
  pool = null;
  let webgpuMs = null;
  let webgpuError = null;
  try {
    await startWebgpu(choice, setup);
    webgpuMs = await time();
  } catch (error) {
    // A trap breaks the WebGPU build's instance only; the CPU build's runs the jobs.
    webgpuError = error.message.split('\n')[0];
  }
  engine?.free();
  engine = null;
  return { webgpuMs, cpuMs, workers, input: `${side * workers}×${side}`, webgpuError };
}

/** The backend a measurement picks, and why, with both figures. */
function measuredChoice({ webgpuMs, cpuMs, workers, input, webgpuError }, how) {
  const cpu = `the CPU ${ms(cpuMs)} (${workers} worker${workers > 1 ? 's' : ''})`;
  if (webgpuMs == null)
    return { backend: 'cpu', reason: `${how}: WebGPU failed (${webgpuError}), ${cpu} for a ${input} test image at 4×` };
  const backend = webgpuMs < cpuMs ? 'webgpu' : 'cpu';
  return {
    backend,
    reason: `${how}: WebGPU ${ms(webgpuMs)}, ${cpu} for a ${input} test image at 4×; the ${backend === 'webgpu' ? 'GPU' : 'CPU'} is faster`,
  };
}

/** A `width`×`height` PNG with detail everywhere (the timing does not depend on the picture). */
async function testImage(width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d');
  const pixels = context.createImageData(width, height);
  for (let i = 0; i < pixels.data.length; i += 4) {
    const pixel = i / 4;
    pixels.data.set([(pixel * 7) % 251, (pixel * 13) % 241, (pixel * 29) % 239, 255], i);
  }
  context.putImageData(pixels, 0, 0);
  return new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
}

const ms = (value) => (value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`);

/** What the engine calls to run a tile in the pool (null when every tile runs here). */
const tileRunner = (signal) =>
  pool && ((name, input, width, height, outside) => pool.run(name, input, width, height, outside, signal));

/** Tiles the engine keeps running at once: one per tile worker and one more, waiting in the
 *  pool's queue, so that a worker that finishes starts its next tile at once instead of waiting
 *  for this thread to stitch and show the last one (Cancel drops it there). */
const inFlight = () => (pool ? pool.size + 1 : 1);

/** The WebGPU build, fetched the first time this worker runs on WebGPU; a failed download is
 *  a backend failure, which the CPU takes over. */
async function webgpuModule() {
  try {
    const module = await import('./pkg/webgpu/upres.js');
    const { memory } = await module.default();
    return { upres: module, memory };
  } catch (error) {
    throw Object.assign(new Error(`the WebGPU module could not be loaded (${error.message})`), { name: 'backend' });
  }
}

/** A model's weights: the page's, or downloaded from beside its card the first time a job needs
 *  them (the engine checks them against the card's SHA-256). */
async function modelWeights(name, signal) {
  const model = models.get(name);
  model.weights ??= await download(new URL(model.url), signal);
  return model.weights;
}

/**
 * What one tile worker needs, in MiB: its instance's wasm memory (memory.buffer.byteLength, which
 * TilePool.status() reports) reached 14.25 MiB (14,942,208 bytes) in Chromium over 4×, 3×, 2× and
 * 8× jobs of a 512×384 photo with 128-pixel tiles; rounded up for the worker's own JavaScript.
 */
const TILE_WORKER_MIB = 16;

/**
 * Tile workers for the CPU: one per core beyond this worker's, but no more than a quarter of the
 * device's memory holds (navigator.deviceMemory, in GiB, where the browser tells it).
 */
function defaultWorkers() {
  const cores = (navigator.hardwareConcurrency ?? 2) - 1;
  const { deviceMemory } = /** @type {WorkerNavigator & { deviceMemory?: number }} */ (navigator);
  const memory = deviceMemory ? Math.floor((deviceMemory * 1024) / 4 / TILE_WORKER_MIB) : Infinity;
  return Math.max(1, Math.min(cores, memory));
}

/** WebP's largest side. */
const WEBP_MAX_SIDE = 16383;

/**
 * The pixels as a lossy WebP from this browser's own encoder (`quality` 1–100), with the job's
 * colour profile, EXIF and XMP put in by `pending` (a PendingWebP). A browser without a WebP
 * encoder hands back a PNG instead: that is refused, never passed on under WebP's name.
 */
async function browserWebP(pixels, width, height, quality, pending) {
  if (width > WEBP_MAX_SIDE || height > WEBP_MAX_SIDE) {
    throw Object.assign(
      new Error(
        `lossy WebP cannot store a ${width}×${height} image (at most ${WEBP_MAX_SIDE} pixels a side); choose PNG`,
      ),
      { name: 'encode' },
    );
  }
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext('2d').putImageData(new ImageData(pixels, width, height), 0, 0);
  const blob = await canvas.convertToBlob({ type: 'image/webp', quality: quality / 100 });
  if (blob.type !== 'image/webp') {
    throw Object.assign(
      new Error(
        `this browser cannot encode lossy WebP (its encoder wrote ${blob.type || 'nothing'}): ` +
          'choose WebP without a quality (lossless), JPEG or PNG',
      ),
      { name: 'unsupported' },
    );
  }
  // finish() keeps only the job's metadata: the browser's own (Chromium tags every WebP with its
  // sRGB profile) is dropped.
  return pending.finish(new Uint8Array(await blob.arrayBuffer()));
}

/** WebGPU when a hardware adapter exists (or the page insists), else the CPU; and why. `adapter`
 *  describes the WebGPU adapter, or is null when there is none. */
async function chooseBackend(preference) {
  // Asked for even when the CPU is chosen: the page reports the adapter either way.
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  const info = adapter ? describeAdapter(adapter) : null;
  const cpu = (reason) => ({ backend: 'cpu', description: '', reason, adapter: info });
  if (preference === 'cpu') return cpu('you chose the CPU');
  if (!navigator.gpu) return cpu('this browser has no WebGPU');
  if (!adapter) return cpu('WebGPU is present but offers no adapter');
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
  const description = `WebGPU: ${name}${info.fallback ? ' (software)' : ''}`;
  if (preference === 'webgpu') return { backend: 'webgpu', description, reason: 'you chose WebGPU', adapter: info };
  if (info.fallback) return cpu(`the only WebGPU adapter is a software one (${name}), slower than the CPU backend`);
  // A hardware GPU is not always faster than every core of the CPU: start() measures both.
  return { backend: 'webgpu', description, reason: 'a hardware GPU is available', adapter: info, measure: true };
}

/** GPUAdapterInfo as plain data, which can be posted to the page. */
function describeAdapter(adapter) {
  const info = adapter.info ?? {};
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    fallback: info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false,
  };
}

/** A trap leaves the instance unusable: say why, and let the bridge replace this worker. */
function crashed(error) {
  let panic = null;
  try {
    panic = upres?.lastPanic();
  } catch {
    // The instance may be too broken even for that.
  }
  postMessage({ type: 'crashed', message: panic ?? String(error?.message ?? error) });
}

self.addEventListener('error', (event) => {
  event.preventDefault();
  crashed(event.error ?? event.message);
});
self.addEventListener('unhandledrejection', (event) => {
  event.preventDefault();
  crashed(event.reason);
});

self.addEventListener('message', async (/** @type {MessageEvent} */ { data }) => {
  if (data.type === 'cancel') {
    if (data.id === running.id) running.cancel.abort();
    return;
  }
  const { id, method, args } = data;
  running = { id, cancel: new AbortController() };
  const progress = (value, transfer) => postMessage({ type: 'progress', id, value }, transfer);
  try {
    const value = await methods[method](args, progress, running.cancel.signal);
    postMessage({ type: 'result', id, value }, value?.bytes ? [value.bytes.buffer] : []);
  } catch (error) {
    if (error instanceof WebAssembly.RuntimeError) return crashed(error);
    // The engine's errors say whose fault they were by their name; ours (a download) by kind.
    postMessage({ type: 'error', id, error: { kind: error.kind ?? error.name, message: error.message } });
  }
});
