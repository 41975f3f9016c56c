// The embeddable JavaScript API behind upres.js: upscale(), preload() and capabilities(). What a
// job can ask for, and the errors for what it cannot, come from job.js, as they do for the page
// and the widget.
//
// A page gets one shared engine (one worker, one download of the wasm module and of each model,
// one backend) however many calls and <upres-upscaler> widgets use it; jobs queue in its worker
// and run one at a time. Nothing is downloaded until preload() or the first upscale(), and then
// only the CPU module, the model cards and the default model: the other models when a job needs
// them. Each call's AbortSignal stops that call only: a download that other calls wait for
// carries on. A call with a `model` of its own (a Compact model file: a URL, a Blob or File, or
// an ncnn model's { param, bin }) runs it instead of upres's models, in an engine of its own.

import { download } from './assets.js';
import { Upres } from './engine.js';
import {
  checkKeys,
  describe,
  formatSupport,
  invalid,
  isLossyWebP,
  JOB_OPTIONS,
  jobOptions,
  outputName,
} from './job.js';
import { unsupportedBrowser } from './messages.js';

/** What every call takes besides a job: where the models are, how many workers compute tiles on
 *  the CPU (for tests and benchmarks), and a model of the caller's own to run instead of upres's;
 *  calls that differ in any of them get engines of their own. */
const ENGINE_OPTIONS = ['modelBaseUrl', 'workers', 'model'];
const OPTIONS = [...JOB_OPTIONS, 'signal', 'onProgress', ...ENGINE_OPTIONS];

/** Shared engines by the URL of their models folder, their workers and their own model:
 *  normally just the one. */
const engines = new Map();
/** A number for each Blob given as a model, which tells engines apart: the same Blob shares one. */
const blobIds = new WeakMap();
let blobsSeen = 0;

/**
 * Upscales `input` (a File, Blob, ImageBitmap or ImageData); resolves to the encoded result, a
 * File named like `photo@2000px.jpg` when the input was a File, else a Blob. `model`, a Compact
 * model of the caller's own (a URL, fetched; a Blob or File, read; an ncnn model's
 * `{ param, bin }`, each either), runs instead of upres's models, on every input.
 */
export async function upscale(input, options = {}) {
  return (await upscaleImage(input, options)).blob;
}

/**
 * upscale(), resolving to `{ blob, width, height, route, metadata }`: what the widget reports.
 * `route` says which model ran and why, e.g. "JPEG quality ≈ 72: compression-aware model";
 * `metadata` what the file carries besides pixels, e.g. "colour profile, EXIF, 300 DPI".
 */
export async function upscaleImage(input, options = {}) {
  checkKeys(options, OPTIONS, 'upscale()');
  const job = jobOptions(options);
  // Checked before anything is read or downloaded, as the job is.
  ownModel(options.model);
  const { signal, onProgress } = callbacks(options);
  signal.throwIfAborted();
  if (isLossyWebP(job)) {
    // Said before anything is downloaded: lossy WebP is the browser's encoder's work.
    const { webp } = await formatSupport();
    if (!webp.lossy)
      throw Object.assign(
        new Error(`lossy WebP is not available: ${webp.reason}; leave out quality for lossless WebP`),
        { kind: 'unsupported' },
      );
  }
  const image = await encodedImage(input);
  signal.throwIfAborted();
  const engine = await startedEngine(options, signal, onProgress);
  const result = await engine.upscale(signal, image, job, (report) => {
    // A GPU failure restarts the job ({ restart: true }); its next tile starts the count again.
    if (!report.restart) onProgress({ stage: 'upscale', done: report.done, total: report.total });
  });
  const blob =
    input instanceof File
      ? new File([result.blob], outputName(input.name, result), { type: result.blob.type })
      : result.blob;
  return { blob, width: result.width, height: result.height, route: result.route, metadata: result.metadata };
}

/**
 * Downloads the CPU module, the model cards and the default model, and starts the engine, so
 * that the first upscale() starts at once; resolves to what capabilities() says once it runs.
 * Takes `signal`, `onProgress`, `modelBaseUrl`, `workers` and `model` like upscale().
 */
export async function preload(options = {}) {
  checkKeys(options, ['signal', 'onProgress', ...ENGINE_OPTIONS], 'preload()');
  const { signal, onProgress } = callbacks(options);
  const engine = await startedEngine(options, signal, onProgress);
  return { ...(await engine.capabilities(signal)), formats: await formatSupport() };
}

/**
 * `{ backend, reason, adapter, started, formats }`: "webgpu" or "cpu" (null when this browser
 * cannot run upres at all) and why; the WebGPU adapter's `{ vendor, architecture, device,
 * description, fallback }`, or null; whether the engine already runs (else `backend` is the one
 * it would start on); and which output formats this browser can have, `{ png, jpeg, webp, avif }`
 * each `{ lossless, lossy }` with a `reason` where one is missing (lossy WebP needs the browser's
 * WebP encoder; AVIF is the command line's alone). Downloads neither the wasm module nor the
 * models.
 */
export async function capabilities(options = {}) {
  checkKeys(options, ['signal', ...ENGINE_OPTIONS], 'capabilities()');
  const { signal } = callbacks(options);
  const formats = await formatSupport();
  const problem = unsupportedBrowser();
  if (problem) return { backend: null, reason: problem, adapter: null, started: false, formats };
  return { ...(await sharedEngine(options).engine.capabilities(signal)), formats };
}

// ---- The shared engine ---------------------------------------------------------------------

/** @param {{ modelBaseUrl?: string | URL, workers?: number, model?: unknown }} options */
function sharedEngine({ modelBaseUrl, workers, model }) {
  const own = ownModel(model);
  // Relative to the page, as a fetch() would be; a folder, so that cards resolve inside it.
  const models =
    modelBaseUrl === undefined ? new URL('./models/', import.meta.url) : new URL(modelBaseUrl, document.baseURI);
  if (!models.pathname.endsWith('/')) models.pathname += '/';
  const key = `${models.href} ${workers} ${own?.key ?? ''}`;
  if (!engines.has(key))
    engines.set(key, {
      engine: new Upres({ models, workers }),
      own,
      listeners: new Set(),
      started: null,
      starting: false,
    });
  return engines.get(key);
}

/**
 * The shared engine once it runs, telling `onProgress` each stage on the way that this call
 * waits for: `download` (bytes), then `start` (0 of 1 while the engine compiles the wasm module
 * and starts, 1 of 1 once it runs; the 1 of 1 comes even when it already ran).
 */
async function startedEngine(options, signal, onProgress) {
  const problem = unsupportedBrowser();
  if (problem) throw Object.assign(new Error(problem), { kind: 'browser' });
  const shared = sharedEngine(options);
  shared.listeners.add(onProgress);
  try {
    shared.started ??= start(shared);
    if (shared.starting) onProgress({ stage: 'start', done: 0, total: 1 });
    const engine = await abortable(shared.started, signal);
    onProgress({ stage: 'start', done: 1, total: 1 });
    return engine;
  } finally {
    shared.listeners.delete(onProgress);
  }
}

function start(shared) {
  // Not any one caller's signal: the others wait for the same download.
  const signal = new AbortController().signal;
  const tell = (progress) => {
    for (const listener of shared.listeners) listener(progress);
  };
  const started = (async () => {
    await shared.engine.load(signal, ({ loaded, total }) => tell({ stage: 'download', done: loaded, total }));
    shared.starting = true;
    tell({ stage: 'start', done: 0, total: 1 });
    try {
      if (shared.own) {
        const files = await Promise.all(shared.own.files.map((file) => file(signal)));
        shared.engine.useModels(await shared.engine.importModel(signal, files));
      }
      await shared.engine.start(signal, 'auto');
    } finally {
      shared.starting = false;
    }
    return shared.engine;
  })();
  // A failed download or start is tried again by the next call.
  started.catch(() => {
    if (shared.started === started) shared.started = null;
  });
  return started;
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function abortable(promise, signal) {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

// ---- Input ---------------------------------------------------------------------------------

/** The image as an encoded file, which is what the engine reads (PNG for decoded pixels). */
async function encodedImage(input) {
  if (input instanceof Blob) return input;
  const bitmap = typeof ImageBitmap === 'function' && input instanceof ImageBitmap;
  if (!bitmap && !(input instanceof ImageData)) {
    throw invalid(
      `upscale() takes a File, Blob, ImageBitmap or ImageData, not ${describe(input)}; ` +
        'for an <img>, <canvas> or video frame, pass createImageBitmap(it)',
      TypeError,
    );
  }
  if (input.width === 0) throw invalid('the ImageBitmap has been closed: it has no pixels left to upscale', TypeError);
  const canvas = new OffscreenCanvas(input.width, input.height);
  // An sRGB canvas, which is what the engine assumes: other colour spaces are converted.
  if (input instanceof ImageData) canvas.getContext('2d').putImageData(input, 0, 0);
  else canvas.getContext('2d').drawImage(input, 0, 0);
  return canvas.convertToBlob({ type: 'image/png' });
}

// ---- Options -------------------------------------------------------------------------------

/**
 * The caller's own model, checked: `{ key, files }`, what tells its engine apart and how to get
 * each of its files (a function of an AbortSignal that resolves to a File), or null for upres's
 * models. `model` is a URL (a string, relative to the page, or a URL), a Blob or File, or an
 * ncnn model's `{ param, bin }`, each of those.
 */
export function ownModel(model) {
  if (model === undefined) return null;
  const isPair = typeof model === 'object' && model !== null && !(model instanceof Blob) && !(model instanceof URL);
  if (!isPair) {
    const { key, file } = modelPart(model, 'model', '', 'a URL, a Blob or File, or an ncnn model’s { param, bin }');
    return { key, files: [file] };
  }
  const extra = Object.keys(model).find((key) => !['param', 'bin'].includes(key));
  if (extra !== undefined) throw invalid(`model has no part "${extra}": an ncnn model is { param, bin }`, TypeError);
  const parts = [
    modelPart(model.param, 'model.param', '.param', 'a URL, a Blob or File'),
    modelPart(model.bin, 'model.bin', '.bin', 'a URL, a Blob or File'),
  ];
  return { key: parts.map((part) => part.key).join(' '), files: parts.map((part) => part.file) };
}

/**
 * One file of a model: a URL (fetched when the engine starts) or a Blob (read then), named for
 * the engine, which tells an ncnn model's two files apart by their `extension`.
 */
function modelPart(value, what, extension, kinds) {
  const named = (name) => (name.toLowerCase().endsWith(extension) ? name : `${name}${extension}`);
  if (value instanceof Blob) {
    if (!blobIds.has(value)) blobIds.set(value, ++blobsSeen);
    const name = named(value instanceof File ? value.name : 'model');
    return { key: `blob:${blobIds.get(value)}`, file: async () => new File([value], name) };
  }
  let url = null;
  if ((typeof value === 'string' && value.trim() !== '') || value instanceof URL) {
    try {
      url = new URL(value, document.baseURI);
    } catch {
      // Said below, as any other value that is no model.
    }
  }
  if (!url) throw invalid(`${what} must be ${kinds}, not ${describe(value)}`, TypeError);
  const name = named(fileName(url));
  return { key: url.href, file: async (signal) => new File([await download(url, signal)], name) };
}

/** The last part of a URL's path, as the file's name ("model" where it has none). */
function fileName(url) {
  const last = url.pathname.split('/').pop();
  try {
    return decodeURIComponent(last) || 'model';
  } catch {
    return last; // Not percent-encoding after all.
  }
}

/** The caller's signal (or one that never aborts) and progress callback, checked. A callback
 *  that throws is reported, not allowed to fail a download that other calls share.
 *  @param {{ signal?: AbortSignal, onProgress?: (progress: object) => void }} options */
function callbacks({ signal = new AbortController().signal, onProgress = () => {} }) {
  if (!(signal instanceof AbortSignal))
    throw invalid(`signal must be an AbortSignal, not ${describe(signal)}`, TypeError);
  if (typeof onProgress !== 'function')
    throw invalid(`onProgress must be a function, not ${describe(onProgress)}`, TypeError);
  const report = (progress) => {
    try {
      onProgress(progress);
    } catch (error) {
      reportError(error);
    }
  };
  return { signal, onProgress: report };
}
