// The inference worker. It owns the WebAssembly instance and one Engine (models on a backend),
// and answers the calls that bridge.js sends: `probe`, `start`, `inspect`, `upscale`. Heavy work
// never touches the page's main thread.
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
    return engine.upscale(bytes, JSON.stringify(options), (report) => {
      progress(report, [report.pixels.buffer]);
      return running.cancelled;
    });
  },
};

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
