// The in-page half of the browser benchmark (scripts/bench-browser.mjs is the other). Each case
// runs in a fresh browser context, so "cold" really is cold: nothing compiled, cached or
// downloaded before it. The driver calls one function per step and times out from outside, so a
// peer that hangs costs one case, not the run.
//
// Both tools get the same PNG bytes already in memory (the user has picked the file) and must
// hand back an encoded PNG: upres through its worker (www/engine.js, the engine that the public
// upscale() and the app drive), UpscalerJS through its default path (an image URL in, a base64
// PNG out, on the page's main thread, which is how that library runs).

/** Where the bench server mounts node_modules: only the packages below are served. */
const NPM = '/npm/';
const TFJS = {
  core: '@tensorflow/tfjs/dist/tf.min.js',
  wasm: '@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js',
  webgpu: '@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js',
};
/** UpscalerJS's UMD builds; upscaler.min.js needs its default model's global to exist. */
const UPSCALER = ['@upscalerjs/default-model/dist/umd/index.min.js', 'upscaler/dist/browser/umd/upscaler.min.js'];
const PEERS = {
  'esrgan-slim': { package: '@upscalerjs/esrgan-slim', global: (scale) => `ESRGANSlim${scale}x` },
  'esrgan-medium': { package: '@upscalerjs/esrgan-medium', global: (scale) => `ESRGANMedium${scale}x` },
};

/** The case running in this page: `run()` upscales the input once more. */
let session = null;
/** TF.js reports a backend that fails to start with console.warn / console.error only. */
const consoleLines = [];
for (const level of ['warn', 'error']) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    consoleLines.push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(' '));
    original(...args);
  };
}

/** The centre `size`×`size` crop of the photo at `url`, as PNG bytes (base64) and where it was cut. */
async function crop(url, size) {
  const bitmap = await createImageBitmap(await fetchBlob(url));
  if (bitmap.width < size || bitmap.height < size) {
    throw new Error(`${url} is ${bitmap.width}×${bitmap.height}, smaller than the ${size}×${size} crop`);
  }
  const x = Math.floor((bitmap.width - size) / 2);
  const y = Math.floor((bitmap.height - size) / 2);
  const canvas = new OffscreenCanvas(size, size);
  canvas.getContext('2d').drawImage(bitmap, x, y, size, size, 0, 0, size, size);
  const png = await canvas.convertToBlob({ type: 'image/png' });
  return { png: await base64(png), photo: { width: bitmap.width, height: bitmap.height }, x, y };
}

/** What the page's WebGPU adapter and WebGL renderer are, for the report. */
async function devices() {
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  const info = adapter?.info;
  const gl = document.createElement('canvas').getContext('webgl2');
  const debug = gl?.getExtension('WEBGL_debug_renderer_info');
  return {
    webgpu: info
      ? {
          vendor: info.vendor,
          architecture: info.architecture,
          device: info.device,
          description: info.description,
          fallback: info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false,
        }
      : null,
    webgl: gl ? gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER) : null,
    crossOriginIsolated,
    userAgent: navigator.userAgent,
  };
}

// ---- upres ---------------------------------------------------------------------------------

/**
 * Cold: import the engine, download the wasm module and the models, start `backend`, upscale
 * once. `workers`: how many workers compute the tiles on the CPU (default: the engine's choice).
 * `model`: a person's own model's files as [URL, file name] pairs (a .pth, a .safetensors, or an
 * ncnn .param and .bin), imported as the page's "Use my own model…" does and run instead of
 * upres's models.
 */
async function upresCold({ input, scale, backend, workers, model }) {
  const image = await fetchBlob(input);
  const signal = new AbortController().signal;
  const started = performance.now();
  const [{ Upres }, { jobOptions }] = await Promise.all([import('../www/engine.js'), import('../www/job.js')]);
  const upres = new Upres({ workers });
  // A GPU failure makes the engine retry with smaller tiles, then on the CPU; a case that
  // silently changed backend would be timed under the wrong name.
  const changes = [];
  upres.addEventListener('backend', ({ detail }) => changes.push(detail));
  const models = await upres.load(signal, () => {});
  let own = null;
  if (model) {
    const files = await Promise.all(model.map(async ([url, name]) => new File([await fetchBlob(url)], name)));
    own = await upres.importModel(signal, files);
    upres.useModels(own);
  }
  const info = await upres.start(signal, backend);
  const loaded = performance.now();
  const job = jobOptions({ scale, format: 'png' });
  const run = async () => {
    const before = performance.now();
    const result = await upres.upscale(signal, image, job, () => {});
    const ms = performance.now() - before;
    const last = changes.at(-1);
    if (last.backend !== backend || changes.length > 1) {
      throw new Error(`upres left ${backend} during the run (now ${last.backend}: ${last.reason})`);
    }
    return { ms, width: result.width, height: result.height, bytes: result.blob.size, ran: result.models };
  };
  const first = await run();
  session = { run, upres, image, job, signal };
  return {
    ...first,
    cold_ms: performance.now() - started,
    load_ms: loaded - started,
    backend: info.backend,
    description: info.description,
    reason: info.reason,
    adapter: info.adapter,
    models,
    own: own && {
      name: own.name,
      format: own.format,
      architecture: own.architecture,
      parameters: own.parameters,
      macs: own.macs,
      sha256: own.sha256,
    },
  };
}

/** The most WebAssembly memory one worker of the running upres case has used, in bytes: a tile
 *  worker's, or with one worker the upscaler's own. */
async function workerMemory() {
  const { workers, memory, engineMemory } = await session.upres.tileWorkers(session.signal);
  return workers > 0 ? memory : engineMemory;
}

/** Where one more job's time goes, in the running upres case's worker (see Upres.profile). */
async function profile() {
  return session.upres.profile(session.signal, session.image, session.job);
}

// ---- UpscalerJS ----------------------------------------------------------------------------

/** TF.js on `backend` and an Upscaler with `model` (×`scale`), its weights from the local copy. */
async function peerStart({ model, scale, backend }) {
  const peer = PEERS[model];
  if (!peer) throw new Error(`unknown UpscalerJS model ${model} (known: ${Object.keys(PEERS).join(', ')})`);
  await script(TFJS.core);
  if (backend === 'wasm') {
    await script(TFJS.wasm);
    // Never the CDN that tfjs-backend-wasm would otherwise fetch its binaries from.
    globalThis.tf.wasm.setWasmPaths(`${NPM}@tensorflow/tfjs-backend-wasm/dist/`);
  } else if (backend === 'webgpu') {
    await script(TFJS.webgpu);
  }
  const from = consoleLines.length;
  const ok = await globalThis.tf.setBackend(backend).catch((error) => {
    consoleLines.push(error.message);
    return false;
  });
  if (!ok || globalThis.tf.getBackend() !== backend) {
    const why = consoleLines.slice(from).join('; ') || 'TF.js gave no reason';
    throw new Error(`TF.js could not start its ${backend} backend: ${why}`);
  }
  await globalThis.tf.ready();
  for (const file of [...UPSCALER, `${peer.package}/dist/umd/models/${model}/src/x${scale}/index.min.js`])
    await script(file);
  const definition = globalThis[peer.global(scale)];
  // The definition names the weights only as a CDN path; `path` makes UpscalerJS load these.
  const upscaler = new globalThis.Upscaler({
    model: { ...definition, path: `${NPM}${peer.package}/models/x${scale}/model.json` },
  });
  await upscaler.getModel();
  await upscaler.ready;
  return { upscaler, tfBackend: globalThis.tf.getBackend() };
}

/** Cold: load TF.js, its backend, UpscalerJS and the model, then upscale once. */
async function peerCold({ model, scale, backend, input }) {
  const image = await fetchBlob(input);
  const url = URL.createObjectURL(image);
  const started = performance.now();
  const { upscaler } = await peerStart({ model, scale, backend });
  const loaded = performance.now();
  const run = async () => {
    const before = performance.now();
    const src = await upscaler.upscale(url);
    return { ms: performance.now() - before, src };
  };
  const first = await run();
  const cold = performance.now() - started;
  const output = await imageSize(first.src);
  session = {
    run: async () => {
      const { ms, src } = await run();
      return { ms, bytes: src.length };
    },
  };
  return { ms: first.ms, ...output, cold_ms: cold, load_ms: loaded - started, backend: globalThis.tf.getBackend() };
}

/** For the quality pass (not timed): starts the model once, then upscales each image given. */
async function peerQualityStart({ model, scale, backend }) {
  const { upscaler, tfBackend } = await peerStart({ model, scale, backend });
  session = { upscaler };
  return { backend: tfBackend };
}

/** One LR image through the started model: the output PNG (base64) and its size. */
async function peerQualityImage(url) {
  const src = await session.upscaler.upscale(url);
  return { ...(await imageSize(src)), png: src.slice(src.indexOf(',') + 1) };
}

// ---- Plumbing ------------------------------------------------------------------------------

/** One more timed run of the case this page started. */
async function again() {
  if (!session?.run) throw new Error('no case has started in this page');
  return session.run();
}

async function fetchBlob(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not fetch ${url} (HTTP ${response.status})`);
  return response.blob();
}

/** Loads a classic (UMD) script; UpscalerJS and TF.js publish globals, not importable modules. */
function script(path) {
  return new Promise((resolve, reject) => {
    const element = document.createElement('script');
    element.src = NPM + path;
    element.onload = resolve;
    element.onerror = () => reject(new Error(`could not load ${element.src}`));
    document.head.append(element);
  });
}

async function imageSize(src) {
  const image = new Image();
  image.src = src;
  await image.decode();
  return { width: image.naturalWidth, height: image.naturalHeight };
}

async function base64(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

window.bench = { crop, devices, upresCold, peerCold, peerQualityStart, peerQualityImage, again, workerMemory, profile };
