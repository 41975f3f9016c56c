// The browser benchmark: upres's worker path against UpscalerJS (ESRGAN slim and medium on
// TF.js), in one headless Chromium session, on the same photo crops. `./build.sh bench-browser`
// runs it; BENCHMARKS.md is generated from what it writes (scripts/benchmarks-md.mjs).
//
//   node scripts/bench-browser.mjs [--upres BINARY] [--only speed|quality|score|workers] [--tools upres,esrgan-slim,…]
//       [--backends cpu,webgpu,webgl,wasm] [--sizes 256,512] [--scales 2,4] [--photo NAME.jpg]
//       [--workers 1,2] [--timeout-s 180] [--out bench/results/browser.json] [--data ../shared/data]
//       [--teacher ../shared/teachers/realesr-general-x4v3]
//
// Tools left out of --tools keep their speed cases from the last report (each case says when it
// was timed): `--only speed --tools upres` times upres again after a model change.
//
// Speed: each case is a fresh browser (nothing cached or compiled). Cold = import the
// code, download the wasm module or TF.js and the model, start the backend, upscale once; warm =
// the median of at least 3 more runs in the same page. Every step has a time limit: a case that
// passes it is recorded as timed out, and the browser is replaced so that it cannot keep the CPU
// busy during the next case. A backend that fails to start is recorded with its error message.
// During the timed runs, processes matching BENCH_PAUSE (default: a running `upres train`) are
// stopped (SIGSTOP), also those started meanwhile, and always continued afterwards; before each
// case the run waits for compilers (cargo, rustc, wasm-opt) and browser tests to finish.
//
// Workers (`--only workers`, which keeps everything else from the last report): upres on the CPU
// with 1, 2, … tile workers (`--workers`, default one to the number of cores), each count in a
// fresh browser, warm as above, with the most WebAssembly memory one worker used; then where one
// worker's time goes (the engine's profile of a job: decode, tile copies, each kind of network
// operation, stitching, encode) beside the native CLI's on one thread (`upres bench --profile`,
// run by this script with RAYON_NUM_THREADS=1 when --upres is given). Beside upres's own model, the
// same counts run a person's own model on the smallest input ×4: the shared teacher (Real-ESRGAN
// compact, an ncnn .param/.bin; --teacher or $UPRES_TEACHER), imported as the page imports it.
//
// Quality (not timed): each UpscalerJS model upscales the Set5 and Set14 LR files on its fastest
// working backend; the PNGs go to bench/out/<model>/<set>/X<scale>/<image>.png, which
// `upres eval --outputs` scores with our own metric code (with --upres, this script runs it and
// writes bench/results/quality-x<scale>.json). `--only score` scores the outputs already there
// again, e.g. after a new model, without the browser.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_FLAGS } from './chromium.mjs';

/** The upres backends (engine.js preferences) and TF.js backends that are measured. */
const UPRES_BACKENDS = ['cpu', 'webgpu'];
const TFJS_BACKENDS = ['webgl', 'wasm', 'webgpu'];
const PEERS = ['esrgan-slim', 'esrgan-medium'];
const SETS = ['set5', 'set14'];
/** Served from node_modules: TF.js, UpscalerJS and its models; nothing else. */
const NPM_PACKAGES = ['@tensorflow/', '@upscalerjs/', 'upscaler/'];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bpk': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
};

const options = parseArgs(process.argv.slice(2));
const data = resolve(options.data);
const inputsDir = 'bench/out/inputs';

// ---- Arguments -----------------------------------------------------------------------------

function parseArgs(args) {
  const o = {
    upres: null,
    only: null,
    tools: ['upres', ...PEERS],
    backends: [...new Set([...UPRES_BACKENDS, ...TFJS_BACKENDS])],
    sizes: [256, 512],
    scales: [2, 4],
    workers: Array.from(os.cpus(), (_, i) => i + 1),
    photo: 'path.jpg',
    timeoutS: 180,
    out: 'bench/results/browser.json',
    data: process.env.UPRES_DATA ?? '../shared/data',
    teacher: process.env.UPRES_TEACHER ?? '../shared/teachers/realesr-general-x4v3',
  };
  const list = (value) => value.split(',').filter(Boolean);
  const numbers = (name, value) =>
    list(value).map((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0)
        fail(`${name} takes whole numbers separated by commas, not ${JSON.stringify(value)}`);
      return n;
    });
  for (let i = 0; i < args.length; i += 2) {
    const [name, value] = [args[i], args[i + 1]];
    if (value === undefined) fail(`${name} needs a value`);
    switch (name) {
      case '--upres':
        o.upres = value;
        break;
      case '--only':
        if (!['speed', 'quality', 'score', 'workers'].includes(value))
          fail(`--only takes speed, quality, score or workers, not ${JSON.stringify(value)}`);
        o.only = value;
        break;
      case '--tools':
        o.tools = list(value);
        break;
      case '--backends':
        o.backends = list(value);
        break;
      case '--sizes':
        o.sizes = numbers(name, value);
        break;
      case '--scales':
        o.scales = numbers(name, value);
        break;
      case '--workers':
        o.workers = numbers(name, value);
        break;
      case '--photo':
        o.photo = value;
        break;
      case '--timeout-s':
        [o.timeoutS] = numbers(name, value);
        break;
      case '--out':
        o.out = value;
        break;
      case '--data':
        o.data = value;
        break;
      case '--teacher':
        o.teacher = value;
        break;
      default:
        fail(`unknown option ${name}; see the comment at the top of scripts/bench-browser.mjs`);
    }
  }
  for (const tool of o.tools)
    if (tool !== 'upres' && !PEERS.includes(tool)) fail(`unknown tool ${tool} (upres, ${PEERS.join(', ')})`);
  for (const scale of o.scales)
    if (![2, 4].includes(scale)) fail(`scale ${scale}: the UpscalerJS ESRGAN models compared here are ×2 and ×4`);
  return o;
}

function fail(message) {
  console.error(`bench-browser: ${message}`);
  process.exit(2);
}

// ---- The server ----------------------------------------------------------------------------

/**
 * One loopback origin for everything, as a storefront would serve it: /www/ (the built app),
 * /bench/ (the bench page), /npm/ (the peers, from node_modules), /inputs/ (the crops), /data/
 * (the evaluation and training images) and /teacher/ (the own model that the workers pass
 * imports). Records the files it sends, for the cold runs.
 */
function startServer() {
  const mounts = [
    ['/www/', resolve('www')],
    ['/bench/', resolve('bench')],
    ['/npm/', resolve('node_modules')],
    ['/inputs/', resolve(inputsDir)],
    ['/data/', data],
    ['/teacher/', resolve(options.teacher)],
  ];
  /** The files sent since the last reset: what a cold start downloads. */
  const counter = { files: new Map() };
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
    const mount = mounts.find(([prefix]) => path.startsWith(prefix));
    if (!mount) return send(response, 404, `not found: ${path}`);
    const relative = path.slice(mount[0].length);
    if (mount[0] === '/npm/' && !NPM_PACKAGES.some((p) => relative.startsWith(p)))
      return send(response, 403, 'not a benchmarked package');
    const file = join(mount[1], relative);
    if (!file.startsWith(mount[1] + sep)) return send(response, 403, 'forbidden');
    const info = statSync(file, { throwIfNoEntry: false });
    if (!info?.isFile()) return send(response, 404, `not found: ${path}`);
    counter.files.set(file, info.size);
    response.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': info.size,
      'Cache-Control': 'no-cache',
    });
    createReadStream(file).pipe(response);
  });
  return new Promise((done, failed) => {
    server.once('error', failed);
    server.listen(0, '127.0.0.1', () =>
      done({
        server,
        counter,
        origin: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`,
      }),
    );
  });
}

function send(response, status, text) {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  response.end(text);
}

// ---- The machine ---------------------------------------------------------------------------

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const release = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  return {
    cpu: cpuinfo.match(/^model name\s*:\s*(.*)$/m)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    os: `${release.match(/^PRETTY_NAME="?(.*?)"?$/m)?.[1] ?? os.type()} (${os.type()} ${os.release()})`,
  };
}

/** Processes to stop while timing: BENCH_PAUSE is a `pgrep -f` pattern. */
function pauseable() {
  const pattern = process.env.BENCH_PAUSE ?? 'upres[-a-z]* train';
  if (!pattern) return [];
  try {
    return (
      execFileSync('pgrep', ['-af', pattern], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => ({ pid: Number(line.split(' ')[0]), command: line.slice(line.indexOf(' ') + 1) }))
        // Not this process, nor a shell whose command line merely mentions the pattern.
        .filter(({ pid, command }) => pid !== process.pid && !/^(\S*\/)?(ba|da|z)?sh$/.test(command.split(' ')[0]))
    );
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

function signal(processes, name) {
  for (const { pid } of processes) {
    try {
      process.kill(pid, name);
    } catch (error) {
      if (error.code !== 'ESRCH') throw error; // it ended meanwhile
    }
  }
}

/** What compiles or tests now (cargo, rustc, a web build's wasm-opt or wasm-bindgen, the
 *  browser tests): command lines. */
function compilers() {
  try {
    return execFileSync('pgrep', ['-af', 'cargo (build|test|run)|rustc |wasm-opt|wasm-bindgen |node --test'], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .filter(Boolean)
      .filter((line) => !/^(\S*\/)?(ba|da|z)?sh$/.test(line.split(' ')[1]))
      .map((line) => line.slice(0, 120));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** Seconds this run may still spend waiting for compilers (BENCH_WAIT_BUILDS_S, default 30 min). */
let waitBudget = Number(process.env.BENCH_WAIT_BUILDS_S ?? 1800);

/**
 * Waits until nothing compiles, within what is left of the budget: other people's builds on
 * this machine would share its cores with the timed runs. Returns what was still compiling
 * when the budget ran out (recorded with the case), or null.
 */
async function waitForBuilds() {
  let reported = false;
  for (;;) {
    const running = compilers();
    if (running.length === 0) return null;
    if (waitBudget <= 0) return running;
    if (!reported) console.log(`\nwaiting for compilers to finish before timing:\n  ${running.join('\n  ')}`);
    reported = true;
    await sleep(15_000);
    waitBudget -= 15;
  }
}

// ---- The browser ---------------------------------------------------------------------------

/**
 * A fresh Chromium for every page: a closed page's GPU process may still be executing the work it
 * queued (SwiftShader runs it on the same CPU), and a new profile has no shader or code cache.
 */
class Browser {
  #browser = null;

  async page() {
    await this.kill();
    this.#browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    const context = await this.#browser.newContext();
    const page = await context.newPage();
    const log = [];
    page.on('console', (message) => ['error', 'warning'].includes(message.type()) && log.push(message.text()));
    page.on('pageerror', (error) => log.push(error.message));
    await page.goto(`${origin}/bench/index.html`);
    await page.waitForFunction(() => window.bench);
    return { page, log };
  }

  async version() {
    this.#browser ??= await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    return this.#browser.version();
  }

  /** Ends the whole browser: after a time-out, a page may still be computing. */
  async kill() {
    const browser = this.#browser;
    this.#browser = null;
    await Promise.race([browser?.close(), sleep(15_000)]);
  }

  async close() {
    await this.kill();
  }
}

class TimedOut extends Error {}

/** `page.evaluate(fn, arg)`, or TimedOut after `seconds`. */
async function evaluate(page, fn, arg, seconds, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new TimedOut(`${what} timed out after ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([page.evaluate(fn, arg), limit]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- Speed ---------------------------------------------------------------------------------

/** Centre crops of the photo, written once so that every case reads the same PNG bytes. */
async function makeInputs(browser) {
  mkdirSync(inputsDir, { recursive: true });
  const { page } = await browser.page();
  const crops = [];
  try {
    for (const size of options.sizes) {
      const crop = await page.evaluate(
        ([url, s]) => window.bench.crop(url, s),
        [`/data/train/photos/${options.photo}`, size],
      );
      const name = `${options.photo.replace(/\.[^.]+$/, '')}-${size}.png`;
      writeFileSync(join(inputsDir, name), Buffer.from(crop.png, 'base64'));
      crops.push({ size, file: name, x: crop.x, y: crop.y, photo: `${crop.photo.width}x${crop.photo.height}` });
    }
  } finally {
    await browser.close();
  }
  return crops;
}

/** Which --tools entry a case belongs to. */
const toolOf = (c) => (c.tool === 'upres' ? 'upres' : c.model);

/** The report's order (scale, size, tool, backend), for any mix of fresh and kept cases. */
function caseOrder(c) {
  const backends = c.tool === 'upres' ? UPRES_BACKENDS : TFJS_BACKENDS;
  return [c.scale, Number(c.input.split('x')[0]), ['upres', ...PEERS].indexOf(toolOf(c)), backends.indexOf(c.backend)];
}
const byCaseOrder = (a, b) => {
  const [x, y] = [caseOrder(a), caseOrder(b)];
  const differing = x.findIndex((value, i) => value !== y[i]);
  return differing < 0 ? 0 : x[differing] - y[differing];
};

function cases() {
  const list = [];
  for (const scale of options.scales) {
    for (const size of options.sizes) {
      if (options.tools.includes('upres')) {
        for (const backend of UPRES_BACKENDS.filter((b) => options.backends.includes(b)))
          list.push({ tool: 'upres', model: null, backend, size, scale });
      }
      for (const model of PEERS.filter((m) => options.tools.includes(m))) {
        for (const backend of TFJS_BACKENDS.filter((b) => options.backends.includes(b)))
          list.push({ tool: 'upscalerjs', model, backend, size, scale });
      }
    }
  }
  return list;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const round = (value, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** Warm runs: at least 3; up to 7 while they take less than 30 s together. */
const WARM_MIN = 3;
const WARM_MAX = 7;
const WARM_BUDGET_MS = 30_000;

/**
 * A case that cannot finish in time because a smaller one of the same tool, model and backend
 * (no larger input, no larger scale) already timed out: its reason, else null. Running it would
 * only spend the time limit again.
 */
function hopeless(spec, results) {
  const smaller = results.find(
    (r) =>
      r.status === 'timed out' &&
      r.tool === spec.tool &&
      r.backend === spec.backend &&
      (spec.tool === 'upres' || r.model === spec.model) &&
      Number.parseInt(r.input, 10) <= spec.size &&
      r.scale <= spec.scale,
  );
  return smaller
    ? `not run: the smaller ${smaller.input} ×${smaller.scale} case timed out after ${options.timeoutS} s`
    : null;
}

async function runCase(browser, spec, crops, devices, results) {
  const crop = crops.find((c) => c.size === spec.size);
  const input = `/inputs/${crop.file}`;
  const result = {
    tool: spec.tool,
    model: spec.model ?? upresModel(spec.scale).name,
    // The key of this case's weights in the report's `models`.
    weights: spec.model ? `${spec.model}-x${spec.scale}` : upresModel(spec.scale).name,
    backend: spec.backend,
    adapter: null,
    input: `${spec.size}x${spec.size}`,
    scale: spec.scale,
    status: 'ok',
    timed_at: new Date().toISOString(),
  };
  const label = `${result.tool} ${result.model} ${result.backend} ${result.input} ×${result.scale}`;
  const skip = hopeless(spec, results);
  if (skip) {
    console.log(`${label}: ${skip}`);
    return Object.assign(result, { status: 'timed out', error: skip, adapter: adapterName(spec, null, devices) });
  }
  if (compilers().length) resume(); // the paused training may go on while others compile
  const building = await waitForBuilds();
  if (building) result.compilers_running = building;
  pause();
  result.load_avg_1m = round(os.loadavg()[0], 2);
  if (spec.tool === 'upres') {
    // www/ may be rebuilt while the run goes on: say which module and weights each case timed.
    result.wasm_sha256 = sha256('www/pkg/upres_bg.wasm');
    result.model_sha256 = upresModel(spec.scale).sha256;
  }
  process.stdout.write(`${label}: `);
  const { page, log } = await browser.page();
  counter.files.clear();
  let step = 'cold run';
  try {
    const cold =
      spec.tool === 'upres'
        ? await evaluate(
            page,
            (a) => window.bench.upresCold(a),
            { input, scale: spec.scale, backend: spec.backend },
            options.timeoutS,
            step,
          )
        : await evaluate(
            page,
            (a) => window.bench.peerCold(a),
            { input, scale: spec.scale, backend: spec.backend, model: spec.model },
            options.timeoutS,
            step,
          );
    const expected = spec.size * spec.scale;
    if (cold.width !== expected || cold.height !== expected) {
      throw new Error(`the output is ${cold.width}×${cold.height}, not ${expected}×${expected}`);
    }
    Object.assign(result, {
      adapter: adapterName(spec, cold, devices),
      output: `${cold.width}x${cold.height}`,
      cold_ms: round(cold.cold_ms),
      load_ms: round(cold.load_ms),
      first_run_ms: round(cold.ms),
      ...downloaded(counter.files),
    });
    const warm = [];
    for (let i = 0; i < WARM_MAX && (i < WARM_MIN || warm.reduce((a, b) => a + b, 0) < WARM_BUDGET_MS); i++) {
      step = `warm run ${i + 1}`;
      warm.push((await evaluate(page, () => window.bench.again(), null, options.timeoutS, step)).ms);
    }
    Object.assign(result, {
      warm_median_ms: round(median(warm)),
      warm_runs: warm.length,
      warm_ms: warm.map((ms) => round(ms)),
      output_mp_per_s: round((expected * expected) / 1e6 / (median(warm) / 1000), 3),
    });
    console.log(
      `cold ${result.cold_ms} ms, warm ${result.warm_median_ms} ms (${warm.length} runs), ${result.output_mp_per_s} MP/s`,
    );
  } catch (error) {
    const timedOut = error instanceof TimedOut;
    result.status = timedOut ? 'timed out' : 'failed';
    // The page's own message, without Playwright's "page.evaluate: " wrapper and stack.
    result.error = error.message
      .replace(/^page\.evaluate: (Error: )?/, '')
      .split('\n    at ')[0]
      .trim();
    if (!timedOut && log.length) result.console = [...new Set(log.map((line) => line.split('\n')[0]))].slice(0, 5);
    result.adapter ??= adapterName(spec, null, devices);
    console.log(`${result.status} (${step}): ${result.error.split('\n')[0]}`);
  }
  await browser.close();
  return result;
}

/** The device a case ran on, in words: the WebGPU adapter, the WebGL renderer, or the CPU. */
function adapterName(spec, cold, devices) {
  if (spec.backend === 'webgpu') {
    const a = cold?.adapter ?? devices.webgpu;
    if (!a) return 'no WebGPU adapter';
    return `${[a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || 'unnamed adapter'}${a.fallback ? ' (software fallback adapter)' : ''}`;
  }
  if (spec.backend === 'webgl') return devices.webgl ?? 'no WebGL2';
  return 'CPU (WebAssembly SIMD, one thread)';
}

const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

const gzipSizes = new Map();
/** Bytes a cold start fetched (the input excepted), as served and as gzip -9 would send them. */
function downloaded(files) {
  let raw = 0;
  let gzip = 0;
  for (const [file, size] of files) {
    if (file.startsWith(resolve(inputsDir))) continue;
    if (!gzipSizes.has(file)) gzipSizes.set(file, gzipSync(readFileSync(file), { level: 9 }).length);
    raw += size;
    gzip += gzipSizes.get(file);
  }
  return { downloaded_bytes: raw, downloaded_gzip_bytes: gzip };
}

/** The model card that www/ serves for `scale`. */
function upresModel(scale) {
  const index = JSON.parse(readFileSync('www/models/index.json', 'utf8'));
  const entry = index.find((m) => m.scale === scale && m.input === 'clean');
  if (!entry) throw new Error(`www/models has no ×${scale} model: build the web app (./build.sh)`);
  const card = JSON.parse(readFileSync(join('www/models', entry.card), 'utf8'));
  return {
    name: card.name,
    card: join('www/models', entry.card),
    sha256: card.sha256,
    architecture: `${card.config.channels} channels × ${card.config.blocks} hidden layers`,
    parameters: card.parameters,
    macs_per_input_pixel: card.macs_per_input_pixel,
    bytes: entry.bytes,
  };
}

/** A TF.js layers model's parameter count and weight bytes, from its model.json. */
function peerModel(model, scale) {
  const dir = join('node_modules', '@upscalerjs', model, 'models', `x${scale}`);
  const manifest = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const weights = manifest.weightsManifest.flatMap((group) => group.weights);
  const parameters = weights.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1), 0);
  const bytes = manifest.weightsManifest
    .flatMap((g) => g.paths)
    .reduce((sum, p) => sum + statSync(join(dir, p)).size, 0);
  const version = JSON.parse(readFileSync(join('node_modules', '@upscalerjs', model, 'package.json'), 'utf8')).version;
  // The definition's meta holds the RDN shape (D blocks of C layers, G and G0 channels).
  const source = readFileSync(
    join('node_modules', '@upscalerjs', model, 'dist', 'esm', 'models', model, 'src', 'getModelDefinition.js'),
    'utf8',
  );
  const meta = (key) => source.match(new RegExp(`\\b${key}: (\\d+)`))?.[1];
  const architecture = meta('D') ? `RDN (D ${meta('D')}, C ${meta('C')}, G ${meta('G')}, G0 ${meta('G0')})` : 'RDN';
  return { name: `${model}-x${scale}`, package: `@upscalerjs/${model}@${version}`, architecture, parameters, bytes };
}

// ---- Quality -------------------------------------------------------------------------------

/** The fastest backend each peer ran on (warm MP/s, mean over its cases); null if none ran. */
function fastestBackends(results) {
  const choice = {};
  for (const model of PEERS.filter((m) => options.tools.includes(m))) {
    /** @type {Record<string, number[]>} */
    const speeds = {};
    for (const r of results.filter((x) => x.model === model && x.status === 'ok')) {
      speeds[r.backend] ??= [];
      speeds[r.backend].push(r.output_mp_per_s);
    }
    const ranked = Object.entries(speeds)
      .map(([backend, v]) => ({ backend, speed: v.reduce((a, c) => a + c, 0) / v.length }))
      .sort((a, b) => b.speed - a.speed);
    choice[model] = ranked[0]?.backend ?? null;
  }
  return choice;
}

function pngSize(file) {
  const header = readFileSync(file).subarray(16, 24);
  return { width: header.readUInt32BE(0), height: header.readUInt32BE(4) };
}

/** Each peer's Set5/Set14 outputs on its fastest backend; returns what was made and any size mismatch. */
async function qualityPass(browser, backends) {
  const summary = {};
  for (const [model, backend] of Object.entries(backends)) {
    if (!backend) {
      summary[model] = { backend: null, complete: false, error: 'it ran on no backend in the speed cases' };
      continue;
    }
    const entry = { backend, complete: true, images: 0, size_mismatches: [], errors: [] };
    summary[model] = entry;
    // Never score a mix of this run's outputs and an older run's.
    rmSync(join('bench', 'out', model), { recursive: true, force: true });
    for (const scale of options.scales) {
      for (const set of SETS) {
        const lrDir = join(data, 'eval', `${set}_lr_matlab`, `X${scale}`);
        const outDir = join('bench', 'out', model, set, `X${scale}`);
        mkdirSync(outDir, { recursive: true });
        const { page } = await browser.page();
        try {
          await evaluate(
            page,
            (a) => window.bench.peerQualityStart(a),
            { model, scale, backend },
            options.timeoutS,
            'model start',
          );
          for (const name of readdirSync(lrDir)
            .filter((n) => n.endsWith('.png'))
            .sort()) {
            const output = await evaluate(
              page,
              (url) => window.bench.peerQualityImage(url),
              `/data/eval/${set}_lr_matlab/X${scale}/${name}`,
              options.timeoutS * 2,
              `${set} ${name}`,
            );
            writeFileSync(join(outDir, name), Buffer.from(output.png, 'base64'));
            entry.images++;
            // The protocol's HR: the original cropped to a multiple of the scale.
            const hr = pngSize(join(data, 'eval', set, name));
            const want = { width: hr.width - (hr.width % scale), height: hr.height - (hr.height % scale) };
            if (output.width !== want.width || output.height !== want.height) {
              entry.size_mismatches.push(
                `${set} ×${scale} ${name}: ${output.width}×${output.height}, HR ${want.width}×${want.height}`,
              );
            }
          }
          console.log(`quality: ${model} (${backend}) ${set} ×${scale} written to ${outDir}`);
        } catch (error) {
          entry.complete = false;
          entry.errors.push(`${set} ×${scale}: ${error.message.split('\n')[0]}`);
          console.log(`quality: ${model} (${backend}) ${set} ×${scale} failed: ${error.message.split('\n')[0]}`);
        }
        await browser.close();
      }
    }
  }
  return summary;
}

/** Scores ours, bicubic, Lanczos3 and each complete peer with `upres eval --outputs`; returns
 *  the upres model cards it scored (their weights may differ from those timed earlier). */
function score(binary, peers) {
  const help = execFileSync(binary, ['eval', '--help'], { encoding: 'utf8' });
  if (!help.includes('--outputs')) {
    throw new Error(
      `${binary} has no \`eval --outputs NAME=DIR\`, which scores the peers' images: rebuild it from a tree that has it`,
    );
  }
  const scored = {};
  for (const scale of options.scales) {
    const model = upresModel(scale);
    scored[model.name] = { card: model.card, sha256: model.sha256 };
    const outputs = Object.entries(peers)
      .filter(([, p]) => p.complete)
      .flatMap(([model]) => ['--outputs', `${model}=${join('bench', 'out', model)}`]);
    const json = join('bench', 'results', `quality-x${scale}.json`);
    execFileSync(
      binary,
      [
        'eval',
        '--backend',
        'cpu',
        '--scale',
        String(scale),
        '--model',
        model.card,
        '--data',
        ...SETS.map((s) => join(data, 'eval', s)),
        ...outputs,
        '--json',
        json,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    console.log(`wrote ${json}`);
  }
  return scored;
}

// ---- Workers -------------------------------------------------------------------------------

/** The own model the workers pass runs beside upres's: the teacher's ncnn files as [URL on the
 *  bench server, file name that names the model] pairs; null, saying so, when they are not there. */
function teacherFiles() {
  const files = ['model.param', 'model.bin'];
  const missing = files.filter((f) => !existsSync(join(options.teacher, f)));
  const name = basename(resolve(options.teacher));
  if (!missing.length) return files.map((f) => [`/teacher/${f}`, `${name}${extname(f)}`]);
  console.log(`no own-model cases: ${missing.join(' and ')} not in ${options.teacher} (--teacher DIR)`);
  return null;
}

/** Warm runs of one upres CPU case with `workers` tile workers, in a fresh browser; `model`: the
 *  URLs of a person's own model to run instead of upres's (see teacherFiles()). */
async function workersCase(browser, crop, scale, workers, model = null) {
  const result = {
    input: `${crop.size}x${crop.size}`,
    scale,
    workers,
    model: null,
    status: 'ok',
    timed_at: new Date().toISOString(),
  };
  if (compilers().length) resume();
  const building = await waitForBuilds();
  if (building) result.compilers_running = building;
  pause();
  result.load_avg_1m = round(os.loadavg()[0], 2);
  process.stdout.write(
    `upres cpu ${result.input} ×${scale}, ${workers} worker${workers > 1 ? 's' : ''}${model ? ', own model' : ''}: `,
  );
  const { page } = await browser.page();
  try {
    const spec = { input: `/inputs/${crop.file}`, scale, backend: 'cpu', workers, model };
    const cold = await evaluate(page, (a) => window.bench.upresCold(a), spec, options.timeoutS, 'cold run');
    // Which model ran: upres's own (by name) or the imported one (its card's figures).
    result.model = cold.own ?? { name: cold.ran.join(' + ') };
    const warm = [];
    for (let i = 0; i < WARM_MAX && (i < WARM_MIN || warm.reduce((a, b) => a + b, 0) < WARM_BUDGET_MS); i++) {
      warm.push((await evaluate(page, () => window.bench.again(), null, options.timeoutS, `warm run ${i + 1}`)).ms);
    }
    const memory = await evaluate(page, () => window.bench.workerMemory(), null, options.timeoutS, 'memory');
    Object.assign(result, {
      warm_median_ms: round(median(warm)),
      warm_runs: warm.length,
      warm_ms: warm.map((ms) => round(ms)),
      memory_per_worker_mib: round(memory / 2 ** 20),
    });
    console.log(
      `warm ${result.warm_median_ms} ms (${warm.length} runs), ${result.memory_per_worker_mib} MiB per worker`,
    );
  } catch (error) {
    result.status = error instanceof TimedOut ? 'timed out' : 'failed';
    result.error = error.message
      .replace(/^page\.evaluate: (Error: )?/, '')
      .split('\n    at ')[0]
      .trim();
    console.log(`${result.status}: ${result.error}`);
  }
  await browser.close();
  return result;
}

/** One worker's profile of each case: the run of median length of WARM_MIN, after a cold run
 *  and WARM_MIN warm ones (the browser compiles hot code again, optimised, as it runs). */
async function profileCase(browser, crop, scale) {
  pause();
  const { page } = await browser.page();
  try {
    await evaluate(
      page,
      (a) => window.bench.upresCold(a),
      { input: `/inputs/${crop.file}`, scale, backend: 'cpu', workers: 1 },
      options.timeoutS,
      'cold run',
    );
    for (let i = 0; i < WARM_MIN; i++)
      await evaluate(page, () => window.bench.again(), null, options.timeoutS, `warm run ${i + 1}`);
    const runs = [];
    for (let i = 0; i < WARM_MIN; i++)
      runs.push(await evaluate(page, () => window.bench.profile(), null, options.timeoutS, 'profile'));
    runs.sort((a, b) => a.totalMs - b.totalMs);
    const profile = runs[runs.length >> 1];
    console.log(
      `profile ${crop.size}² ×${scale}: ${round(profile.totalMs)} ms, network ${round(profile.networkGflops, 2)} GFLOP/s`,
    );
    return { input: `${crop.size}x${crop.size}`, scale, runs: WARM_MIN, ...profile };
  } finally {
    await browser.close();
  }
}

/** The native CLI's profile of the same crops on one thread, or null without --upres. */
function nativeProfile() {
  if (!options.upres) return null;
  const json = join('bench', 'out', 'profile-native.json');
  mkdirSync(dirname(json), { recursive: true });
  pause();
  execFileSync(
    options.upres,
    [
      'bench',
      '--profile',
      '--backend',
      'cpu',
      '--image',
      join(data, 'train', 'photos', options.photo),
      '--sizes',
      options.sizes.join(','),
      '--scales',
      options.scales.join(','),
      '--json',
      json,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, RAYON_NUM_THREADS: '1' } },
  );
  return JSON.parse(readFileSync(json, 'utf8'));
}

async function workersPass(browser, crops) {
  paused = [];
  try {
    const cases = [];
    const profiles = [];
    const teacher = options.scales.includes(4) ? teacherFiles() : null;
    for (const scale of options.scales) {
      for (const crop of crops) {
        for (const workers of options.workers) cases.push(await workersCase(browser, crop, scale, workers));
        // The teacher is a ×4 model with 23× upres's arithmetic: the smallest input is enough.
        if (teacher && scale === 4 && crop.size === Math.min(...options.sizes)) {
          for (const workers of options.workers) cases.push(await workersCase(browser, crop, scale, workers, teacher));
        }
        profiles.push(await profileCase(browser, crop, scale));
      }
    }
    return {
      date: new Date().toISOString(),
      wasm_sha256: sha256('www/pkg/upres_bg.wasm'),
      cases,
      profiles,
      native: nativeProfile(),
    };
  } finally {
    resume();
    paused = null;
  }
}

// ---- Main ----------------------------------------------------------------------------------

const { server, counter, origin } = await startServer();
const browser = new Browser();
const previous = existsSync(options.out) ? JSON.parse(readFileSync(options.out, 'utf8')) : null;
/** Processes stopped while timing; null when not timing. */
let paused = null;
const resume = () => signal(paused ?? [], 'SIGCONT');
/** Stops whatever matches BENCH_PAUSE (again, after a resume; also a training run started
 *  meanwhile). */
function pause() {
  if (!paused) return;
  const known = new Set(paused.map(({ pid }) => pid));
  const fresh = pauseable().filter(({ pid }) => !known.has(pid));
  if (fresh.length)
    console.log(
      `\npausing while timing: ${fresh.map(({ pid, command }) => `${pid} (${command.slice(0, 60)})`).join(', ')}`,
    );
  paused.push(...fresh);
  signal(paused, 'SIGSTOP');
}
// Whatever ends this process, the paused processes must go on.
process.on('exit', resume);
for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(name, () => {
    resume();
    process.exit(130);
  });
}

/** Writes the report as it stands (after every case), so a run cut short keeps what it measured. */
function save(report) {
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(`${options.out}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
  renameSync(`${options.out}.tmp`, options.out);
}

/** `--only score`: the outputs already in bench/out scored again, the browser left alone. */
function rescore() {
  if (!options.upres) fail('--only score needs --upres BINARY (the upres that runs `eval --outputs`)');
  if (!previous?.quality) fail(`--only score needs the quality pass recorded in ${options.out}; run it first`);
  previous.scored_models = score(options.upres, previous.quality);
  save(previous);
}

try {
  if (options.only === 'score') {
    rescore();
    process.exit(0);
  }
  const report = {
    generated_by: 'scripts/bench-browser.mjs',
    date: new Date().toISOString(),
    machine: machine(),
    browser: { name: 'Chromium (headless)', version: await browser.version(), flags: CHROMIUM_FLAGS },
  };
  const { page } = await browser.page();
  const devices = await page.evaluate(() => window.bench.devices());
  await browser.close();
  Object.assign(report.browser, {
    user_agent: devices.userAgent,
    webgpu_adapter: devices.webgpu,
    webgl_renderer: devices.webgl,
    cross_origin_isolated: devices.crossOriginIsolated,
  });
  // A GPU is what the browser can reach: a WebGPU adapter that is not a software fallback, or
  // else a WebGL renderer that is not a CPU rasteriser. null: every GPU number is software.
  const hardware =
    devices.webgpu && !devices.webgpu.fallback
      ? [devices.webgpu.vendor, devices.webgpu.architecture, devices.webgpu.description].filter(Boolean).join(' ')
      : devices.webgl && !/swiftshader|llvmpipe|software/i.test(devices.webgl)
        ? devices.webgl
        : null;
  report.machine.gpu = hardware;

  const crops = await makeInputs(browser);
  report.input = { photo: `train/photos/${options.photo}`, crops };
  report.models = Object.fromEntries([
    ...options.scales.map((s) => upresModel(s)).map((m) => [m.name, m]),
    ...PEERS.filter((m) => options.tools.includes(m))
      .flatMap((m) => options.scales.map((s) => peerModel(m, s)))
      .map((m) => [m.name, m]),
  ]);
  report.protocol = {
    cold: 'fresh browser; import the code, download the wasm module (upres) or TF.js and its backend (UpscalerJS) and the model(s), start the backend, upscale once; input: PNG bytes in memory, output: an encoded PNG',
    warm: `median of ${WARM_MIN}–${WARM_MAX} further runs in the same page`,
    timeout_s: options.timeoutS,
  };

  if (options.only === 'workers') {
    if (!previous?.cases) fail(`--only workers keeps the speed cases in ${options.out}: run the speed cases first`);
    const { date, protocol, input, models, cases, quality, scored_models } = previous;
    Object.assign(report, { date, protocol, input, models, cases, quality, scored_models });
    report.workers = await workersPass(browser, crops);
    save(report);
    console.log(`wrote ${options.out}`);
  } else {
    report.workers = previous?.workers;
    if (options.only === 'speed') {
      // Kept from the last run (also in the partial reports saved after each case).
      report.quality = previous?.quality;
      report.scored_models = previous?.scored_models;
    }
    if (options.only !== 'quality') {
      // Speed: every case, timed, with the training paused.
      paused = [];
      // The tools left out of --tools keep their cases from the last report, so that one tool can be
      // timed again after a change (a new model) without the others' half hour.
      const kept = (previous?.cases ?? []).filter((c) => !options.tools.includes(toolOf(c)));
      const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
      if (
        kept.length &&
        !(same(previous.browser.version, report.browser.version) && same(previous.machine, report.machine))
      ) {
        fail(`${options.out} was timed on another machine or browser: time every tool again (leave out --tools)`);
      }
      for (const c of kept) {
        c.timed_at ??= previous.date;
        report.models[c.weights] ??= previous.models[c.weights];
      }
      try {
        report.cases = [...kept];
        for (const spec of cases()) {
          report.cases.push(await runCase(browser, spec, crops, devices, report.cases));
          report.cases.sort(byCaseOrder);
          report.protocol.paused = paused.map(({ command }) => command.slice(0, 120));
          save(report);
        }
      } finally {
        resume();
        paused = null;
      }
    } else {
      if (!previous?.cases)
        fail(`--only ${options.only} needs the speed cases in ${options.out}; run the speed cases first`);
      Object.assign(report, {
        date: previous.date,
        protocol: previous.protocol,
        input: previous.input,
        models: previous.models,
        cases: previous.cases,
      });
    }

    if (options.only !== 'speed') {
      report.quality = await qualityPass(browser, fastestBackends(report.cases));
      report.scored_models = null;
    }
    save(report);
    console.log(`wrote ${options.out}`);
    if (options.only !== 'speed' && options.upres) {
      report.scored_models = score(options.upres, report.quality);
      save(report);
    }
  }
} finally {
  resume();
  await browser.kill();
  server.close();
}
