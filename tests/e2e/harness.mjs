// What the browser tests share: the built www/ served under a sub-path (as a storefront would),
// Debian's chromium driven by playwright-core (never a downloaded browser), generated PNG
// fixtures and JPEGs that the page's canvas encodes, a small PNG reader and PSNR for comparing
// results, and the native CLI.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_FLAGS } from '../../scripts/chromium.mjs';
import { serve } from '../../scripts/serve.mjs';

export const ARTIFACTS = 'test-artifacts';
export const PREFIX = '/shop/tools/upres/';

/** Serves www/ and launches a headless chromium with WebGPU enabled; `close()` ends both. */
export async function start() {
  const server = await serve({ root: 'www', prefix: PREFIX });
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The request-log test counts on Chromium's own traffic being off (CHROMIUM_FLAGS).
    args: [...CHROMIUM_FLAGS, '--disable-quic'],
  });
  return {
    origin,
    url: `${origin}${PREFIX}`,
    browser,
    async close() {
      await browser.close();
      await new Promise((done) => server.close(done));
    },
  };
}

/** openApp() for one test `t`, whose end closes the browser context. */
export async function openAppFor(t, env, options) {
  const opened = await openApp(env, options);
  t.after(() => opened.context.close());
  return opened;
}

/**
 * Opens the app in a fresh context; resolves once the models are loaded and a backend runs.
 * `requests` collects every URL the page, its workers and its service worker ask for. `workers`
 * goes into the page's address (`?workers=N`: how many workers compute tiles on the CPU).
 */
export async function openApp(env, { backend = 'cpu', serviceWorkers = 'allow', context, workers } = {}) {
  context ??= await env.browser.newContext({ serviceWorkers, viewport: { width: 1100, height: 1000 } });
  const requests = [];
  context.on('request', (request) => requests.push(request.url()));
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));
  await page.goto(workers === undefined ? env.url : `${env.url}?workers=${workers}`);
  await page.waitForSelector('#loading[data-state="done"]', { timeout: 120_000 });
  await chooseBackend(page, backend);
  return { context, page, requests, errors };
}

/**
 * Counts the tile workers (www/tiles.js) that the upscalers' workers in `context` start and, given
 * `sabotage` (module code), runs it in each tile worker before tile-worker.js; resolves to a
 * function that says how many have started so far. Call it before the page loads. The tile
 * workers are a worker's own workers, whose requests Chromium 156 no longer shows Playwright, so
 * this reaches them from the upscaler's worker (worker.js), whose requests it still routes: a
 * prelude there wraps the Worker constructor (inTileWorkers) and reports each start in that
 * worker's console. Nothing in www/ knows of it. What a browser shows of workers changes between
 * versions, so `t`'s output names the browser.
 */
export async function watchTileWorkers(t, context, sabotage = null) {
  const browser = context.browser();
  t.diagnostic(`browser: ${browser.browserType().name()} ${browser.version()}`);
  let started = 0;
  context.on('console', (message) => {
    if (message.text() === TILE_WORKER_STARTED) started++;
  });
  await context.route(
    (url) => url.pathname.endsWith('/worker.js'),
    async (route) => {
      const response = await route.fetch();
      const prelude = `(${inTileWorkers})(${JSON.stringify(TILE_WORKER_STARTED)}, ${JSON.stringify(sabotage)});\n`;
      await route.fulfill({ response, body: prelude + (await response.text()) });
    },
  );
  return () => started;
}

const TILE_WORKER_STARTED = 'upres test: a tile worker started';

/** Runs in worker.js, before its own code: each tile worker it starts logs `started` and, with
 *  `sabotage`, starts from a module that imports the sabotage, then tile-worker.js. */
function inTileWorkers(started, sabotage) {
  const module = (source) => URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const first = sabotage && module(sabotage);
  self.Worker = class extends self.Worker {
    constructor(url, options) {
      const tile = new URL(url, location.href).pathname.endsWith('/tile-worker.js');
      super(tile && first ? module(`import '${first}'; import '${url}';`) : url, options);
      if (tile) console.debug(started);
    }
  };
}

/** Selects a backend and waits until it runs; returns the status line. */
export async function chooseBackend(page, backend) {
  if ((await page.inputValue('select[name="backend"]')) !== backend) {
    await page.selectOption('select[name="backend"]', backend);
  }
  await page.waitForFunction(
    (want) => document.body.dataset.backend === want || (want === 'auto' && document.body.dataset.backend),
    backend,
    { timeout: 120_000 },
  );
  return page.textContent('#backend-status');
}

/** Adds a file through the file picker; resolves to its queue entry once it is checked. */
export async function addFile(page, name, buffer, mimeType = 'image/png') {
  const count = await page.locator('#queue li').count();
  await page.setInputFiles('#files', { name, mimeType, buffer });
  const item = page.locator('#queue li').nth(count);
  await page.waitForFunction((i) => document.querySelectorAll('#queue li')[i]?.dataset.status !== 'checking', count);
  return item;
}

export async function setScale(page, scale) {
  await page.check('input[name="size"][value="scale"]');
  await page.selectOption('select[name="scale"]', String(scale));
}

/** Waits until queue entry `index` has a result or an error; returns its status and text. */
export async function settled(page, index, timeout = 300_000) {
  await page.waitForFunction(
    (i) => ['done', 'failed', 'invalid'].includes(document.querySelectorAll('#queue li')[i]?.dataset.status),
    index,
    { timeout },
  );
  const item = page.locator('#queue li').nth(index);
  return { status: await item.getAttribute('data-status'), text: await item.textContent() };
}

/** Runs the queue for entry `index` and downloads its result: { name, bytes, milliseconds }. */
export async function upscaleAndDownload(page, index) {
  const started = Date.now();
  await page.click('#start');
  const { status, text } = await settled(page, index);
  if (status !== 'done') throw new Error(`the job ended ${status}: ${text}`);
  const milliseconds = Date.now() - started;
  const download = await downloadResult(page);
  return { name: download.suggestedFilename(), bytes: readFileSync(await download.path()), milliseconds };
}

/**
 * Clicks the result's Download link as a person would. In two full CI runs (Chromium 156) one
 * such click, after a job whose tile worker had closed itself, started no download, and it never
 * happened when that test ran alone or in this machine's full runs: then what the page showed is
 * written to stderr and the link is clicked once more, from the page's own script.
 */
async function downloadResult(page) {
  const clicked = page.waitForEvent('download', { timeout: 15_000 });
  try {
    await page.click('#download');
    return await clicked;
  } catch (error) {
    clicked.catch(() => {});
    const state = await page.evaluate(() => {
      const link = document.querySelector('#download');
      const box = link.getBoundingClientRect();
      const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
      const where = (e) => e && `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}`;
      return {
        href: link.href,
        name: link.download,
        box: [box.x, box.y, box.width, box.height],
        hit: where(hit),
        scrollY,
        innerHeight,
        focus: where(document.activeElement),
      };
    });
    console.error(
      `no download 15 s after clicking #download (${error.message.split('\n')[0]}); the page: ${JSON.stringify(state)}`,
    );
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.$eval('#download', (link) => link.click()),
    ]);
    return download;
  }
}

// ---- Images --------------------------------------------------------------------------------

/** A deterministic photo-like test image: gradients, edges, fine texture (RGB, row-major). */
export function testImage(width, height) {
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const stripes = (Math.floor(x / 3) + Math.floor(y / 5)) % 2 === 0 ? 40 : 0;
      rgb[i] = Math.floor((x * 255) / width);
      rgb[i + 1] = Math.min(255, Math.floor(((y * 255) / height) * 0.7 + stripes));
      rgb[i + 2] = Math.floor(128 + 100 * Math.sin(x * 0.3) * Math.cos(y * 0.2));
    }
  }
  return rgb;
}

/**
 * testImage() as a JPEG that `page`'s canvas encodes at `quality` (0–1, as canvas.toBlob takes
 * it). Chromium's encoder is libjpeg-turbo with the IJG tables, so 0.5 is IJG quality 50.
 */
export async function jpegInPage(page, width, height, quality) {
  const bytes = await page.evaluate(
    async ({ width, height, rgb, quality }) => {
      const rgba = new Uint8ClampedArray(width * height * 4);
      for (let i = 0; i < width * height; i++) rgba.set([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255], 4 * i);
      const canvas = Object.assign(document.createElement('canvas'), { width, height });
      canvas.getContext('2d').putImageData(new ImageData(rgba, width, height), 0, 0);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));
      return [...new Uint8Array(await blob.arrayBuffer())];
    },
    { width, height, rgb: [...testImage(width, height)], quality },
  );
  return Buffer.from(bytes);
}

function chunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

const SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);

/** An 8-bit RGB PNG. `declared` overrides the size written in the header (for hostile files). */
export function encodePng(width, height, rgb, declared = { width, height }) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(declared.width, 0);
  header.writeUInt32BE(declared.height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) rgb.copy(raw, y * (width * 3 + 1) + 1, y * width * 3, (y + 1) * width * 3);
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Reads an 8-bit RGB or RGBA, non-interlaced PNG (what upres writes) into RGB. */
export function decodePng(bytes) {
  if (!bytes.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG');
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const data = [];
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      if (body[8] !== 8 || body[12] !== 0) throw new Error('only 8-bit non-interlaced PNGs');
      channels = { 2: 3, 6: 4 }[body[9]];
      if (!channels) throw new Error(`PNG colour type ${body[9]} not supported here`);
    } else if (type === 'IDAT') {
      data.push(body);
    }
    offset += length + 12;
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      const paeth = () => {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      };
      const predictor = [0, a, b, (a + b) >> 1, paeth()][filter];
      pixels[y * stride + x] = (raw[y * (stride + 1) + 1 + x] + predictor) & 255;
    }
  }
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) pixels.copy(rgb, i * 3, i * channels, i * channels + 3);
  return { width, height, rgb };
}

/** PSNR in dB between two same-sized 8-bit images (Infinity when identical). */
export function psnr(a, b) {
  if (a.width !== b.width || a.height !== b.height)
    throw new Error(`sizes differ: ${a.width}×${a.height} vs ${b.width}×${b.height}`);
  let sum = 0;
  for (let i = 0; i < a.rgb.length; i++) sum += (a.rgb[i] - b.rgb[i]) ** 2;
  const mse = sum / a.rgb.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

// ---- Models --------------------------------------------------------------------------------

/**
 * A Compact (SRVGGNetCompact) model ×`scale` as `.safetensors`, the shape a person's own models
 * have: a 3×3 convolution from RGB to `width` features and a PReLU, `depth` × [convolution
 * `width`→`width`, PReLU], a last convolution to 3·scale² channels. The weights are small and
 * pseudo-random but the last layer's are zero, so the network adds nothing to its residual: the
 * output is the input upsampled by nearest neighbour, which no model of upres's makes.
 */
export function compactModel({ scale, width = 4, depth = 1 }) {
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return (seed / 2 ** 31 - 0.5) * 0.2;
  };
  const tensors = [];
  const convolution = (index, inputs, outputs, last = false) => {
    const values = (count) => Float32Array.from({ length: count }, () => (last ? 0 : random()));
    tensors.push([`body.${index}.weight`, [outputs, inputs, 3, 3], values(outputs * inputs * 9)]);
    tensors.push([`body.${index}.bias`, [outputs], values(outputs)]);
    if (!last) tensors.push([`body.${index + 1}.weight`, [outputs], new Float32Array(outputs).fill(0.25)]);
  };
  convolution(0, 3, width);
  for (let layer = 1; layer <= depth; layer++) convolution(2 * layer, width, width);
  convolution(2 * (depth + 1), width, 3 * scale * scale, true);
  const header = {};
  let offset = 0;
  for (const [name, shape, values] of tensors) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + values.byteLength] };
    offset += values.byteLength;
  }
  // Padded with spaces to 8 bytes, as the format's own writer does.
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, Buffer.from(json), ...tensors.map(([, , values]) => Buffer.from(values.buffer))]);
}

/** compactModel()'s parameters: weights, biases and PReLU slopes. */
export const compactParameters = ({ scale, width = 4, depth = 1 }) =>
  (27 + 2) * width + depth * (9 * width + 2) * width + (9 * width + 1) * 3 * scale * scale;

/** An image (as decodePng() reads it) upsampled `scale`× by nearest neighbour. */
export function nearest({ width, height, rgb }, scale) {
  const out = Buffer.alloc(width * height * scale * scale * 3);
  for (let y = 0; y < height * scale; y++) {
    for (let x = 0; x < width * scale; x++) {
      const from = (Math.floor(y / scale) * width + Math.floor(x / scale)) * 3;
      rgb.copy(out, (y * width * scale + x) * 3, from, from + 3);
    }
  }
  return { width: width * scale, height: height * scale, rgb: out };
}

// ---- The native CLI ------------------------------------------------------------------------

/**
 * Upscales `png` with the native CLI on the CPU backend and the shipped model for `scale` that
 * the page runs on a PNG: the clean one (cards that name no `input` are clean).
 */
export function nativeUpscale(png, scale) {
  const dir = mkdtempSync(join(tmpdir(), 'upres-e2e-'));
  writeFileSync(join(dir, 'fixture.png'), png);
  const index = JSON.parse(readFileSync('www/models/index.json', 'utf8'));
  const card = index
    .map((m) => m.card)
    .find((name) => {
      const { config, input = 'clean' } = JSON.parse(readFileSync(join('www/models', name), 'utf8'));
      return config.scale === scale && input === 'clean';
    });
  // The CLI that ./build.sh test's native tests built (the ci profile, Cargo.toml).
  const binary = join(process.env.CARGO_TARGET_DIR ?? 'target', 'ci', 'upres');
  execFileSync(
    binary,
    [
      'upscale',
      join(dir, 'fixture.png'),
      '-o',
      join(dir, 'out'),
      '--scale',
      String(scale),
      '--backend',
      'cpu',
      '--model',
      join('www/models', card),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const [output] = readdirSync(join(dir, 'out'));
  return decodePng(readFileSync(join(dir, 'out', output)));
}

// ---- Accessibility -------------------------------------------------------------------------

/** axe-core from node_modules (a dev dependency: it is injected by the tests, never shipped). */
const AXE = readFileSync('node_modules/axe-core/axe.min.js', 'utf8');

/**
 * axe-core's serious and critical violations on `page` as it is now, the WCAG 2.2 target size
 * (24 px) included: [{ id, impact, help, nodes }] (empty when there are none). Injected through
 * the DevTools protocol, which the page's Content-Security-Policy does not govern.
 */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const { violations } = await window.axe.run(document, {
      rules: { 'target-size': { enabled: true } },
      resultTypes: ['violations'],
    });
    return violations.map(({ id, impact, help, nodes }) => ({
      id,
      impact,
      help,
      nodes: nodes.map((node) => `${node.target.join(' ')}: ${node.failureSummary}`),
    }));
  });
  return violations.filter((violation) => ['serious', 'critical'].includes(violation.impact));
}

export function artifact(name, bytes) {
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, name), bytes);
}
