// The page: picking images, options, the job queue, progress, the result. Everything heavy runs
// in the worker behind engine.js; this module only moves data between it and the DOM, so the main
// thread stays free while a job runs.

import { Upres } from './engine.js';
import { outputName } from './job.js';
import { describeError, unsupportedBrowser } from './messages.js';
import { loadOptions, pageJob, saveOptions } from './options.js';
import { zipSync } from './vendor/fflate.js';
import './compare.js';

const $ = (id) => document.getElementById(id);
const form = $('options');
const upres = new Upres();
/** Every image added: { file, li, status, info, result, resultKey, originalUrl }. */
const items = [];
let options = loadOptions();
let engineReady = false;
/** Aborts the batch in progress. */
let batch = null;

function showMessage(text) {
  $('message').textContent = text ?? '';
  $('message').hidden = !text;
}

const formatBytes = (n) => (n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KB` : `${(n / (1 << 20)).toFixed(1)} MB`);
const formatTime = (ms) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

// ---- Options -------------------------------------------------------------------------------

function showOptions() {
  for (const [name, value] of Object.entries(options)) {
    const field = form.elements[name];
    if (field instanceof RadioNodeList) field.value = value;
    else if (field) field.value = String(value);
  }
  $('quality-value').textContent = String(options.quality);
  form.elements.quality.disabled = options.format !== 'jpeg';
  form.elements.quality.title = options.format === 'jpeg' ? '' : 'PNG and WebP output are lossless';
}

function readOptions() {
  const value = (name) => form.elements[name].value;
  const number = (name) => Number.parseInt(value(name), 10);
  return {
    size: value('size'), scale: number('scale'), longEdge: number('longEdge'), width: number('width'),
    height: number('height'), fit: value('fit'), format: value('format'), quality: number('quality'), input: value('input'),
    backend: value('backend'),
  };
}

form.addEventListener('input', (event) => {
  const backendBefore = options.backend;
  saveOptions(readOptions());
  options = loadOptions();
  // Typing a size selects the kind of size it belongs to.
  const kind = { scale: 'scale', longEdge: 'longEdge', width: 'box', height: 'box', fit: 'box' }[event.target.name];
  if (kind && options.size !== kind) {
    saveOptions({ ...options, size: kind });
    options = loadOptions();
  }
  showOptions();
  if (options.backend !== backendBefore) startEngine();
  updateButtons();
});
form.addEventListener('submit', (event) => event.preventDefault());

// ---- Input ---------------------------------------------------------------------------------

function addFiles(files) {
  for (const file of files) {
    const li = document.createElement('li');
    const item = { file, li, status: 'checking', info: null, result: null, resultKey: null, originalUrl: URL.createObjectURL(file) };
    li.addEventListener('click', () => item.result && showResult(item));
    items.push(item);
    $('queue').append(li);
    render(item, 'Checking…');
    upres.inspect(new AbortController().signal, file).then(
      (info) => {
        item.info = info;
        render(item, '', 'ready');
      },
      (error) => render(item, describeError(error), 'invalid'),
    );
  }
  updateButtons();
}

function render(item, note, status = item.status) {
  item.status = status;
  const { file, info, li } = item;
  li.dataset.status = status;
  li.replaceChildren();
  const name = Object.assign(document.createElement('strong'), { textContent: file.name });
  const format = info?.mime.replace('image/', '').toUpperCase();
  const facts = [format, info && `${info.width}×${info.height}`, formatBytes(file.size)].filter(Boolean).join(' · ');
  li.append(name, ` ${facts}`);
  if (note) li.append(Object.assign(document.createElement('span'), { className: 'note', textContent: ` — ${note}` }));
  // Which model made the result, and why: under the line that reports it.
  if (status === 'done') li.append(Object.assign(document.createElement('small'), { className: 'route', textContent: item.result.route }));
  updateButtons();
}

$('files').addEventListener('change', (event) => {
  addFiles(event.target.files);
  event.target.value = '';
});
for (const type of ['dragenter', 'dragover']) {
  document.addEventListener(type, (event) => {
    event.preventDefault();
    $('drop').classList.add('over');
  });
}
document.addEventListener('dragleave', () => $('drop').classList.remove('over'));
document.addEventListener('drop', (event) => {
  event.preventDefault();
  $('drop').classList.remove('over');
  addFiles(event.dataTransfer.files);
});
document.addEventListener('paste', (event) => {
  const files = [...event.clipboardData.files];
  if (files.length > 0) addFiles(files);
});

// ---- Jobs ----------------------------------------------------------------------------------

/** Items that need a (new) result for the current options. */
const pending = () => items.filter((item) => ['ready', 'failed', 'done'].includes(item.status) && item.resultKey !== JSON.stringify(pageJob(options)));

function updateButtons() {
  $('start').disabled = !engineReady || batch !== null || pending().length === 0;
  $('cancel').disabled = batch === null;
  $('download-all').disabled = batch !== null || !items.some((item) => item.result);
  form.elements.backend.disabled = batch !== null;
}

$('start').addEventListener('click', async () => {
  batch = new AbortController();
  showMessage(null);
  updateButtons();
  for (const item of pending()) {
    if (batch.signal.aborted) break;
    await upscale(item, batch.signal);
  }
  batch = null;
  $('job').hidden = true;
  updateButtons();
});

$('cancel').addEventListener('click', () => batch?.abort());

async function upscale(item, signal) {
  const job = pageJob(options);
  render(item, 'Upscaling…', 'working');
  $('job').hidden = false;
  const preview = startPreview();
  const started = performance.now();
  try {
    const result = await upres.upscale(signal, item.file, job, (report) => {
      if (report.restart) return preview.reset();
      const elapsed = performance.now() - started;
      const left = (elapsed / report.done) * (report.total - report.done);
      $('job-progress').value = report.done / report.total;
      $('job-status').textContent = `Tile ${report.done}/${report.total} · ${formatTime(elapsed)} elapsed · about ${formatTime(left)} left`;
      preview.draw(report);
    });
    if (item.result) URL.revokeObjectURL(item.result.url);
    item.result = { ...result, url: URL.createObjectURL(result.blob), name: outputName(item.file.name, result) };
    item.resultKey = JSON.stringify(job);
    render(item, `done in ${formatTime(performance.now() - started)}: ${result.width}×${result.height}, ${formatBytes(result.blob.size)}`, 'done');
    showResult(item);
  } catch (error) {
    if (signal.aborted) render(item, 'Cancelled', item.result ? 'done' : 'ready');
    else render(item, describeError(error), error.kind === 'limits' || error.kind === 'decode' ? 'invalid' : 'failed');
  }
}

/** The live preview: the current pass's output, drawn tile by tile at most 1024 pixels wide. */
function startPreview() {
  const canvas = $('preview');
  const context = canvas.getContext('2d');
  let size = '';
  let scale = 1;
  const reset = () => {
    size = '';
    context.clearRect(0, 0, canvas.width, canvas.height);
  };
  reset();
  return {
    reset,
    async draw({ width, height, x, y, regionWidth, regionHeight, pixels }) {
      if (size !== `${width}x${height}`) {
        size = `${width}x${height}`;
        scale = Math.min(1, 1024 / Math.max(width, height));
        canvas.width = Math.max(1, Math.round(width * scale));
        canvas.height = Math.max(1, Math.round(height * scale));
      }
      const bitmap = await createImageBitmap(new ImageData(pixels, regionWidth, regionHeight));
      context.drawImage(bitmap, x * scale, y * scale, regionWidth * scale, regionHeight * scale);
      bitmap.close();
    },
  };
}

function showResult(item) {
  const { result } = item;
  $('result').hidden = false;
  const compare = $('compare');
  compare.setAttribute('before', item.originalUrl);
  compare.setAttribute('after', result.url);
  $('result-info').textContent = `${item.file.name} → ${result.width}×${result.height} px, ${formatBytes(result.blob.size)}`;
  Object.assign($('download'), { href: result.url, download: result.name, textContent: `Download ${result.name}` });
}

$('download-all').addEventListener('click', async () => {
  const entries = {};
  for (const { result } of items.filter((item) => item.result)) {
    let name = result.name;
    for (let n = 2; name in entries; n++) name = result.name.replace(/(\.[^.]+)$/, ` (${n})$1`);
    // Already compressed images: stored, not deflated again.
    entries[name] = [new Uint8Array(await result.blob.arrayBuffer()), { level: 0 }];
  }
  const url = URL.createObjectURL(new Blob([zipSync(entries)], { type: 'application/zip' }));
  Object.assign(document.createElement('a'), { href: url, download: 'upres.zip' }).click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
});

// ---- Start-up ------------------------------------------------------------------------------

upres.addEventListener('backend', ({ detail }) => {
  const where = detail.backend === 'cpu' ? 'the CPU (WebAssembly)' : detail.description;
  $('backend-status').textContent = `Running on ${where}: ${detail.reason}.`;
  document.body.dataset.backend = detail.backend;
});

async function startEngine() {
  engineReady = false;
  updateButtons();
  delete document.body.dataset.backend;
  $('backend-status').textContent = 'Starting…';
  try {
    await upres.start(new AbortController().signal, options.backend);
    engineReady = true;
  } catch (error) {
    $('backend-status').textContent = '';
    showMessage(`The upscaler could not start: ${error.message}`);
  }
  updateButtons();
}

/** Lets the service worker take control before the big downloads, so that it caches them. */
async function offlineReady() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register(new URL('./sw.js', import.meta.url), { scope: new URL('./', import.meta.url).href });
  } catch {
    return; // Not a secure context, or blocked: everything works, only not offline.
  }
  if (navigator.serviceWorker.controller) return;
  await Promise.race([
    new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true })),
    new Promise((resolve) => setTimeout(resolve, 5000)),
  ]);
}

async function main() {
  showOptions();
  updateButtons();
  const problem = unsupportedBrowser();
  if (problem) {
    $('loading').hidden = true;
    $('backend-status').textContent = '';
    return showMessage(problem);
  }
  await offlineReady();
  try {
    const models = await upres.load(new AbortController().signal, ({ loaded, total }) => {
      $('load-progress').value = total ? loaded / total : 0;
      $('load-status').textContent = `Downloading the upscaler: ${formatBytes(loaded)} of ${formatBytes(total)}`;
    });
    // Each scale once, though it may have a clean and a compression-aware model.
    const scales = [...new Set(models.map((m) => `×${m.scale}`))];
    $('load-status').textContent = `Ready: ${scales.join(', ')} models loaded.`;
    $('loading').dataset.state = 'done';
  } catch (error) {
    $('load-status').textContent = '';
    return showMessage(`The upscaler could not be downloaded: ${error.message}`);
  }
  await startEngine();
}

main();
