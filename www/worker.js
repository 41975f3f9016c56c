// The inference worker. It owns the WebAssembly instance and one Engine (models on a backend),
// and answers the calls that bridge.js sends: `probe`, `start`, `inspect`, `upscale`. Heavy work
// never touches the page's main thread; lossy WebP, which the wasm module cannot write, is
// encoded here too, by the browser's own encoder (an OffscreenCanvas).
//
// The backend is chosen here because only here is the WebGPU adapter visible: a software
// adapter (SwiftShader, `isFallbackAdapter`) is slower than burn's CPU backend on WebAssembly,
// so it is used only when the page forces WebGPU.

import init, { Engine, inspect, lastPanic } from './pkg/upres.js';

let engine = null;
/** The call in progress and whether the page asked it to stop (checked after every tile). */
const running = { id: 0, cancelled: false };

const methods = {
  /** The backend `start` would choose, and why, without the wasm module or the models. */
  async probe({ preference }) {
    const { backend, reason, adapter } = await chooseBackend(preference);
    return { backend, reason, adapter };
  },

  /** Instantiates the wasm module (bytes from the page) and loads the models onto a backend. */
  async start({ wasm, models, preference, tiles }) {
    await init({ module_or_path: wasm });
    engine?.free();
    engine = null;
    const choice = await chooseBackend(preference);
    try {
      engine = await Engine.start(choice.backend, choice.description, choice.reason, models, tiles[choice.backend]);
    } catch (error) {
      if (choice.backend !== 'webgpu' || error.name !== 'backend') throw error;
      const reason = `${error.message}; using the CPU instead`;
      engine = await Engine.start('cpu', '', reason, models, tiles.cpu);
    }
    return {
      backend: engine.backend,
      description: engine.description,
      reason: engine.reason,
      adapter: choice.adapter,
    };
  },

  inspect({ bytes }) {
    return inspect(bytes);
  },

  async upscale({ bytes, options }, progress) {
    if (!engine) throw Object.assign(new Error('the upscaler has not started'), { name: 'backend' });
    const result = await engine.upscale(bytes, JSON.stringify(options), (report) => {
      progress(report, [report.pixels.buffer]);
      return running.cancelled;
    });
    // Lossy WebP: the pixels, for this browser's encoder, and the metadata to put in its file.
    const { pixels, pending, ...rest } = result;
    if (!pending) return result;
    try {
      return { ...rest, bytes: await browserWebP(pixels, rest.width, rest.height, options.quality, pending) };
    } finally {
      pending.free();
    }
  },
};

/** WebP's largest side. */
const WEBP_MAX_SIDE = 16383;

/**
 * The pixels as a lossy WebP from this browser's own encoder (`quality` 1–100), with the job's
 * colour profile, EXIF and XMP put in by `pending` (a PendingWebP). A browser without a WebP
 * encoder hands back a PNG instead: that is refused, never passed on under WebP's name.
 */
async function browserWebP(pixels, width, height, quality, pending) {
  if (width > WEBP_MAX_SIDE || height > WEBP_MAX_SIDE) {
    throw Object.assign(new Error(`lossy WebP cannot store a ${width}×${height} image (at most ${WEBP_MAX_SIDE} pixels a side); choose PNG`), { name: 'encode' });
  }
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext('2d').putImageData(new ImageData(pixels, width, height), 0, 0);
  const blob = await canvas.convertToBlob({ type: 'image/webp', quality: quality / 100 });
  if (blob.type !== 'image/webp') {
    throw Object.assign(new Error(`this browser cannot encode lossy WebP (its encoder wrote ${blob.type || 'nothing'}): ` +
      'choose WebP without a quality (lossless), JPEG or PNG'), { name: 'unsupported' });
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
  return { backend: 'webgpu', description, reason: 'a hardware GPU is available', adapter: info };
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
    panic = lastPanic();
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

self.addEventListener('message', async ({ data }) => {
  if (data.type === 'cancel') {
    if (data.id === running.id) running.cancelled = true;
    return;
  }
  const { id, method, args } = data;
  Object.assign(running, { id, cancelled: false });
  const progress = (value, transfer) => postMessage({ type: 'progress', id, value }, transfer);
  try {
    const value = await methods[method](args, progress);
    postMessage({ type: 'result', id, value }, value?.bytes ? [value.bytes.buffer] : []);
  } catch (error) {
    if (error instanceof WebAssembly.RuntimeError) return crashed(error);
    postMessage({ type: 'error', id, error: { kind: error.name, message: error.message } });
  }
});
