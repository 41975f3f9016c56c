// Writes BENCHMARKS.md and bench/chart.svg from the measured results in bench/results/, so that no
// number in them is typed by hand:
//   browser.json      scripts/bench-browser.mjs (upres and UpscalerJS in Chromium)
//   quality-x2.json   `upres eval --outputs …` on Set5 and Set14 (ours, bicubic, Lanczos3, peers)
//   quality-x4.json
//   native.json       `./build.sh bench`, i.e. `upres bench --json …` (the native CLI)
//   batch.json        `./build.sh bench-batch` (catalog throughput)
//   encoders.json     `./build.sh bench-encoders` (output formats: bytes, encode time, PSNR); its
//                     table also goes into README.md between <!-- formats:begin/end -->
//   encoder-build.json scripts/encoder-build-cost.mjs (what the native encoders add to a cold build)
//   browser.json's `workers`  `./build.sh bench-workers` (tile workers, and one worker's profile
//                     beside the native CLI's on one thread)
//
//   node scripts/benchmarks-md.mjs [RESULTS_DIR [OUT_DIR]]   (default: bench/results, and BENCHMARKS.md
//                                                           and bench/chart.svg in this folder)

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? 'bench/results';
const outDir = process.argv[3] ?? '.';
const read = (name) => {
  const file = join(dir, name);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
};
const readRows = (name) => {
  const file = join(dir, name);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : [];
};

const browser = read('browser.json');
const native = read('native.json');
const batch = read('batch.json');
const encoders = read('encoders.json');
const encoderBuild = read('encoder-build.json');
const teacher = read('teacher.json');
const quality = [...readRows('quality-x2.json'), ...readRows('quality-x4.json')];
if (!browser && !native && quality.length === 0) {
  console.error(`benchmarks-md: no results in ${dir}/: run ./build.sh bench-browser and ./build.sh bench`);
  process.exit(2);
}

// ---- Formatting ----------------------------------------------------------------------------

const ms = (v) =>
  v == null
    ? '—'
    : v >= 10_000
      ? `${(v / 1000).toFixed(1)} s`
      : v >= 1000
        ? `${(v / 1000).toFixed(2)} s`
        : `${v.toFixed(v < 10 ? 2 : 0)} ms`;
const sig = (v, digits = 3) => (v == null ? '—' : Number(v.toPrecision(digits)).toString());
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const times = (ratio) => `${sig(ratio, 2)}×`;
const thousands = (n) => n.toLocaleString('en-US');
/** A Markdown table; `align` has one letter per column, l (text) or r (numbers). */
const table = (header, align, rows) => [
  `| ${header.join(' | ')} |`,
  `|${[...align].map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`,
  ...rows.map((r) => `| ${r.join(' | ')} |`),
];
const titleCase = { upscalerjs: 'UpscalerJS', upres: 'upres' };
const tfName = { webgl: 'TF.js webgl', wasm: 'TF.js wasm', webgpu: 'TF.js webgpu' };
const caseName = (c) => (c.tool === 'upres' ? `upres ${c.backend}` : `${c.model} (${tfName[c.backend]})`);

// ---- Browser speed -------------------------------------------------------------------------

const cases = browser?.cases ?? [];
const ok = cases.filter((c) => c.status === 'ok');
const inputs = [...new Set(cases.map((c) => `${c.input}|${c.scale}`))]
  .map((k) => ({ input: k.split('|')[0], scale: Number(k.split('|')[1]) }))
  .sort((a, b) => a.scale - b.scale || Number.parseInt(a.input, 10) - Number.parseInt(b.input, 10));
const peers = [...new Set(cases.filter((c) => c.tool === 'upscalerjs').map((c) => c.model))];
const best = (list) => list.reduce((a, c) => (a && a.warm_median_ms <= c.warm_median_ms ? a : c), null);
const at = ({ input, scale }) => ok.filter((c) => c.input === input && c.scale === scale);
const side = (input) => `${Number.parseInt(input, 10)}²`;

function browserSection() {
  if (!browser) return ['## In the browser', '', '_Not measured yet: run `./build.sh bench-browser`._', ''];
  const crops = browser.input.crops.map((c) => `${c.size}² from (${c.x}, ${c.y})`).join(' and ');
  const lines = [
    '## In the browser',
    '',
    `Input: the centre of \`../shared/data/${browser.input.photo}\` (${browser.input.crops[0]?.photo}), cropped to ${crops}, as PNG.`,
    'Cold: a fresh browser imports the code, downloads the wasm module (upres) or TF.js with its backend',
    `(UpscalerJS) and the model, starts the backend and upscales once. Warm: the ${browser.protocol.warm}.`,
    'Both tools take the PNG already in memory and return an encoded PNG; upres works in its Web Worker, UpscalerJS on the',
    `page's main thread (its default). Every step has a ${browser.protocol.timeout_s} s limit. MP/s: megapixels of output per second, warm.`,
    'Downloads: what the cold start fetched, served uncompressed over loopback (so cold times are compilation and start-up,',
    'not the network), and in brackets what gzip -9 would send.',
    '',
    ...table(
      [
        'tool',
        'model',
        'backend',
        'input',
        'scale',
        'cold',
        'warm (median)',
        'runs',
        'output MP/s',
        'downloaded (gzip)',
      ],
      'lllllrrrrr',
      cases.map((c) => [
        titleCase[c.tool],
        c.model,
        c.backend,
        side(c.input),
        `×${c.scale}`,
        c.status === 'ok' ? ms(c.cold_ms) : `**${c.status}**${c.cold_ms ? ` (cold ${ms(c.cold_ms)})` : ''}`,
        c.status === 'ok' ? ms(c.warm_median_ms) : '—',
        c.status === 'ok' ? String(c.warm_runs) : '—',
        c.status === 'ok' ? sig(c.output_mp_per_s) : '—',
        c.downloaded_bytes
          ? `${mib(c.downloaded_bytes)}${c.downloaded_gzip_bytes ? ` (${mib(c.downloaded_gzip_bytes)})` : ''}`
          : '—',
      ]),
    ),
    '',
  ];
  const failures = cases.filter((c) => c.status !== 'ok');
  if (failures.length) {
    lines.push('What did not run, and why (the error as the page reported it):', '');
    const grouped = new Map();
    for (const c of failures) {
      const key = `${caseName(c)}: ${c.error}`;
      grouped.set(key, [...(grouped.get(key) ?? []), `${side(c.input)} ×${c.scale}`]);
    }
    for (const [key, where] of grouped) lines.push(`- ${key} (${where.join(', ')})`);
    if (failures.some((c) => /requestAdapterInfo/.test(c.error))) {
      lines.push(
        '',
        '  TF.js 4.11, the version UpscalerJS 1.0 requires (`~4.11.0`), calls `GPUAdapter.requestAdapterInfo()`, which current',
        '  Chromium no longer has (it became the `adapter.info` attribute); its WebGPU backend cannot start in this browser.',
      );
    }
    if (failures.some((c) => /greater than WebGL maximum/.test(c.error))) {
      lines.push(
        '',
        '  UpscalerJS upscales the whole image in one pass unless given a `patchSize`; the texture that pass needs exceeds',
        "  this WebGL implementation's maximum texture size. The default is what is measured here.",
      );
    }
    lines.push('');
  }
  lines.push(...ratioSection());
  return lines;
}

/** upres / UpscalerJS: times, so below 1 means upres takes less time. */
function ratioSection() {
  if (peers.length === 0 || !ok.some((c) => c.tool === 'upres')) return [];
  const lines = [
    '### upres / UpscalerJS',
    '',
    'Time ratios (upres ÷ peer; below 1 = upres is faster). "Best" is each tool\'s fastest backend for that case; "CPU" compares the',
    'two WebAssembly CPU backends (upres cpu, TF.js wasm), "GPU API" upres on WebGPU with TF.js on its best of WebGL and WebGPU.',
    '',
  ];
  const rows = [];
  for (const where of inputs) {
    const here = at(where);
    const upresBest = best(here.filter((c) => c.tool === 'upres'));
    for (const model of peers) {
      const peerCases = here.filter((c) => c.model === model);
      const peerBest = best(peerCases);
      const pair = (a, b) =>
        a && b ? `${times(a.warm_median_ms / b.warm_median_ms)} (cold ${times(a.cold_ms / b.cold_ms)})` : '—';
      const cpu = pair(
        here.find((c) => c.tool === 'upres' && c.backend === 'cpu'),
        peerCases.find((c) => c.backend === 'wasm'),
      );
      const gpu = pair(
        here.find((c) => c.tool === 'upres' && c.backend === 'webgpu'),
        best(peerCases.filter((c) => c.backend !== 'wasm')),
      );
      rows.push([
        `${side(where.input)} ×${where.scale}`,
        model,
        upresBest ? `${ms(upresBest.warm_median_ms)} (${upresBest.backend})` : 'did not run',
        peerBest ? `${ms(peerBest.warm_median_ms)} (${peerBest.backend})` : 'did not run',
        pair(upresBest, peerBest),
        cpu,
        gpu,
      ]);
    }
  }
  lines.push(
    ...table(
      ['case', 'peer', 'upres warm', 'peer warm', 'best / best', 'CPU / CPU', 'GPU API / GPU API'],
      'llrrrrr',
      rows,
    ),
    '',
  );
  return lines;
}

// ---- Native speed --------------------------------------------------------------------------

function nativeSection() {
  if (!native) {
    return [
      '## Native (`upres bench`)',
      '',
      '_Not measured yet: `./build.sh bench` writes bench/results/native.json._',
      '',
    ];
  }
  const lines = [
    '## Native (`upres bench`)',
    '',
    `Input: the centre of \`${native.image ?? 'its photo'}\`; ${native.machine.threads ? `the CPU on ${native.machine.threads} threads; ` : ''}` +
      'cold = loading the models onto the backend and the first run (kernel compilation on wgpu), warm = the median of the runs after it.',
    '',
    ...table(
      ['method', 'backend', 'input', 'scale', 'cold', 'warm (median)', 'runs', 'output MP/s', 'peak RSS'],
      'llllrrrrr',
      native.runs.map((r) => [
        r.method,
        r.backend,
        side(r.input),
        `×${r.scale}`,
        ms(r.cold_ms),
        ms(r.warm_median_ms),
        String(r.warm_runs),
        sig(r.output_mp_per_s),
        r.peak_rss_mib == null ? '—' : `${r.peak_rss_mib.toFixed(0)} MiB`,
      ]),
    ),
    '',
  ];
  if (browser && native.image && !native.image.endsWith(browser.input.photo)) {
    lines.push(
      `Note: the native inputs come from \`${native.image}\`, the browser's from \`${browser.input.photo}\`; the timings do not depend on the content.`,
      '',
    );
  }
  return lines;
}

// ---- The same network on upres's engine and on ncnn ------------------------------------------

function teacherSection() {
  if (!teacher) return [];
  const two = teacher.runs.filter((r) => r.threads === 2);
  const worst = two.reduce((a, r) => (a && a.ratio >= r.ratio ? a : r), null);
  return [
    "## upres's engine against ncnn",
    '',
    `The shared teacher (\`${teacher.teacher}\`, Real-ESRGAN's compact model, 64 channels × 32 layers) as its ncnn files, ` +
      `run by upres's CPU engine (\`upres bench --model\`, imported as the page imports a model) and by ${teacher.ncnn}, ` +
      'the engine Upscayl runs it on, taking turns on the same crop of the same photo (`./build.sh bench-teacher`); warm = the median of the runs after the first.',
    '',
    ...table(
      ['input', 'scale', 'threads', 'upres warm', 'ncnn warm', 'upres ÷ ncnn'],
      'lrrrrr',
      teacher.runs.map((r) => [
        side(r.input),
        `×${r.scale}`,
        String(r.threads),
        ms(r.upres_warm_median_ms),
        ms(r.ncnn_warm_median_ms),
        times(r.ratio),
      ]),
    ),
    '',
    ...(worst
      ? [
          `On ${worst.threads} threads upres takes ${times(worst.ratio)} ncnn's time at ${side(worst.input)} ×${worst.scale} ` +
            `(${ms(worst.upres_warm_median_ms)} against ${ms(worst.ncnn_warm_median_ms)}).`,
          '',
        ]
      : []),
  ];
}

// ---- The whole machine in the browser ------------------------------------------------------

function workersSection() {
  const workers = browser?.workers;
  if (!workers) return [];
  const timedCases = workers.cases.filter((c) => c.status === 'ok');
  // Which model a case ran: upres's own, or a person's own model imported as the page does.
  const modelOf = (c) => c.model?.name ?? '—';
  const own = timedCases.filter((c) => c.model?.parameters);
  const lines = [
    '## The whole machine in the browser (`./build.sh bench-workers`)',
    '',
    `upres on the CPU in Chromium with 1 to ${Math.max(...workers.cases.map((c) => c.workers))} workers computing the tiles of one image ` +
      "(one worker: the upscaler's own; more: that many tile workers, each its own instance of the module, the upscaler's worker " +
      `stitching), on ${browser.machine.cores} cores; warm, median of 3–7 runs after a cold one, each count in a fresh browser; ` +
      `timed ${workers.date.slice(0, 10)} (\`www/pkg/upres_bg.wasm\` sha256 ${workers.wasm_sha256.slice(0, 12)}). ` +
      'Memory: the most WebAssembly memory one worker used.',
    '',
    ...table(
      ['input', 'scale', 'model', 'workers', 'warm (median)', 'runs', 'against 1 worker', 'memory per worker'],
      'lllrrrrr',
      workers.cases.map((c) => {
        const one = timedCases.find(
          (o) => o.workers === 1 && o.input === c.input && o.scale === c.scale && modelOf(o) === modelOf(c),
        );
        return c.status !== 'ok'
          ? [side(c.input), `×${c.scale}`, modelOf(c), String(c.workers), `**${c.status}**`, '—', '—', '—']
          : [
              side(c.input),
              `×${c.scale}`,
              modelOf(c),
              String(c.workers),
              ms(c.warm_median_ms),
              String(c.warm_runs),
              one ? `${(one.warm_median_ms / c.warm_median_ms).toFixed(2)}×` : '—',
              `${c.memory_per_worker_mib.toFixed(0)} MiB`,
            ];
      }),
    ),
    '',
    // One sentence, for the most workers the own model ran on.
    ...own.flatMap((c) => {
      if (c.workers !== Math.max(...own.map((o) => o.workers))) return [];
      const ours = timedCases.find(
        (o) => !o.model?.parameters && o.workers === c.workers && o.input === c.input && o.scale === c.scale,
      );
      return [
        `Own model: \`${c.model.name}\` (${c.model.format}; ${c.model.architecture}, ` +
          `${c.model.parameters.toLocaleString('en')} parameters, ${c.model.macs.toLocaleString('en')} multiply-adds per ` +
          'input pixel), imported in the page as "Use my own model…" imports it and run by the same workers' +
          (ours
            ? `: ${ms(c.warm_median_ms)} on ${c.workers} workers for ${side(c.input)} ×${c.scale}, ` +
              `${(c.warm_median_ms / ours.warm_median_ms).toFixed(1)}× the time of upres's \`${modelOf(ours)}\` ` +
              `(${ms(ours.warm_median_ms)}), ${c.memory_per_worker_mib.toFixed(0)} against ` +
              `${ours.memory_per_worker_mib.toFixed(0)} MiB per worker.`
            : '.'),
        '',
      ];
    }),
  ];
  if (workers.profiles.length) {
    const stages = workers.profiles[0].stages.map(([name]) => name);
    const nativeOf = (p) => workers.native?.profiles.find((n) => n.input === p.input && n.scale === p.scale)?.profile;
    const unprofiled = (p) =>
      timedCases.find((c) => c.workers === 1 && c.input === p.input && c.scale === p.scale)?.warm_median_ms;
    const stage = (list, name) => list.find(([n]) => n === name)?.[1];
    const rows = [];
    const slower = workers.profiles
      .filter((p) => unprofiled(p) && p.totalMs > 1.1 * unprofiled(p))
      .map((p) => `${side(p.input)} ×${p.scale} (${ms(p.totalMs)} against ${ms(unprofiled(p))})`);
    for (const p of workers.profiles) {
      const plain = unprofiled(p);
      rows.push([
        `${side(p.input)} ×${p.scale}`,
        'browser, one worker',
        ms(plain),
        ms(p.totalMs),
        ...stages.map((n) => ms(stage(p.stages, n))),
        sig(p.networkGflops),
        sig(p.jobGflops),
        plain ? sig((p.gflop / plain) * 1e3) : '—',
      ]);
      const n = nativeOf(p);
      if (n) {
        rows.push([
          `${side(p.input)} ×${p.scale}`,
          'native CLI, one thread',
          '—',
          ms(n.total_ms),
          ...stages.map((name) => ms(stage(n.stages, name))),
          sig(n.network_gflops),
          sig(n.job_gflops),
          '—',
        ]);
      }
    }
    lines.push(
      "Where one job's time goes on one worker (`Upres.profile`: the engine reads a clock around each stage and each network " +
        'operation of a PNG-to-PNG job; the run of median length of 3, after warm runs) beside the native CLI on one thread ' +
        '(`RAYON_NUM_THREADS=1 upres bench --profile`), same machine. GFLOP/s: 2 × multiply-accumulates × input pixels ÷ time, ' +
        "of the network's operations alone and of the whole job (profiled, and unprofiled: the same job's warm median from the " +
        `table above).${
          slower.length
            ? ` Reading the clock around every operation slowed ${slower.join(' and ')} in the worker, ` +
              "the difference falling on the convolutions; there the profiled network GFLOP/s are a lower bound, the other stages' times as they are."
            : ''
        }`,
      '',
      ...table(
        [
          'case',
          'where',
          'unprofiled',
          'profiled total',
          ...stages,
          'network GFLOP/s',
          'job GFLOP/s',
          'job GFLOP/s unprofiled',
        ],
        `ll${'r'.repeat(stages.length + 5)}`,
        rows,
      ),
      '',
    );
  }
  return lines;
}

// ---- Catalog throughput --------------------------------------------------------------------

function batchSection() {
  if (!batch) return [];
  const [one, two] = [1, 2].map((jobs) => batch.runs.find((r) => r.jobs === jobs));
  const first = batch.runs[0];
  const lines = [
    '## Catalog throughput (`./build.sh bench-batch`)',
    '',
    `A folder of ${first.images} JPEG photos with long edges of ${first.input_long_edges[0]}–${first.input_long_edges[1]} px (the shared photos, ` +
      `cropped and resized by upres itself), each upscaled to a long edge of ${first.output_long_edge} px ` +
      '(`upres upscale catalog -o out --long-edge 2000`, JPEG out): the smallest sufficient model, then Lanczos3 down. ' +
      `${batch.machine.cores} cores (${batch.machine.cpu}); the CPU backend spreads each image over every core.`,
    '',
    ...table(
      ['run', 'images', 'time', 'images / minute', 'models'],
      'lrrrl',
      batch.runs.map((r) => [
        r.jobs === 1 ? 'one file at a time' : `\`--jobs ${r.jobs}\``,
        String(r.images),
        ms(r.seconds * 1000),
        sig(r.images_per_minute),
        r.models.join(', '),
      ]),
    ),
    '',
  ];
  if (one && two)
    lines.push(
      `\`--jobs 2\` is ${times(two.images_per_minute / one.images_per_minute)} as fast as one file at a time on this machine.`,
      '',
    );
  return lines;
}

// ---- Output formats ------------------------------------------------------------------------

/** The format table: the README's and BENCHMARKS.md's. */
function encodersTable() {
  const png = encoders.formats.find((f) => f.format === 'PNG');
  return [
    `A ${encoders.width}×${encoders.height} upscale (the bench photo's centre ×4), written in each format; encode time the median of ` +
      `a few runs on ${encoders.machine.cores} cores (${encoders.machine.cpu}); PSNR-Y against the lossless file, both as Chromium decodes them.`,
    '',
    ...table(
      ['format', 'quality', 'encoder', 'bytes', 'of PNG', 'encode', 'PSNR-Y'],
      'lrlrrrr',
      encoders.formats.map((f) => [
        f.format,
        f.quality == null ? 'lossless' : `${f.quality}${f.speed == null ? '' : `, speed ${f.speed}`}`,
        f.encoder,
        thousands(f.bytes),
        `${((100 * f.bytes) / png.bytes).toFixed(1)} %`,
        ms(f.encode_ms),
        f.psnr_y == null ? '∞' : `${f.psnr_y.toFixed(2)} dB`,
      ]),
    ),
    ...(encoderBuild
      ? [
          '',
          `What each encoder costs: the CLI's cold build grows by ${encoderBuild.lossy_webp_seconds} s of compiling for lossy WebP ` +
            `(libwebp, C) and ${encoderBuild.avif_seconds} s for AVIF (rav1e and ravif), on one core (${encoderBuild.profile}); ` +
            "the web app's download by nothing: its lossy WebP is the browser's own encoder, and it does not offer AVIF.",
        ]
      : []),
  ];
}

function encodersSection() {
  if (!encoders) return [];
  return ['## Output formats (`./build.sh bench-encoders`)', '', ...encodersTable(), ''];
}

// ---- Quality -------------------------------------------------------------------------------

const sets = [...new Set(quality.map((r) => r.set))];
const scales = [...new Set(quality.map((r) => r.scale))].sort();
const row = (set, scale, method) => quality.find((r) => r.set === set && r.scale === scale && r.method === method);
const upresMethod = (scale) => quality.find((r) => r.scale === scale && r.method.startsWith('upres'))?.method;
const models = browser?.models ?? {};
const parameters = (method, scale) => (models[method] ?? models[`${method}-x${scale}`])?.parameters;

function qualitySection() {
  if (quality.length === 0)
    return [
      '## Quality',
      '',
      '_Not measured yet: `./build.sh bench-browser` scores every method with `upres eval --outputs`._',
      '',
    ];
  const lines = [
    '## Quality',
    '',
    'PSNR and SSIM on Y by our own metric code (`upres eval --outputs`): MATLAB bicubic LR files, HR modcropped, the border',
    "shaved by the scale (`../shared/data/README.md`). The peers' images come from the browser run (backend below), saved as",
    'PNG and read back, so they are scored exactly like ours.',
    '',
  ];
  for (const scale of scales) {
    const methods = [...new Set(quality.filter((r) => r.scale === scale).map((r) => r.method))];
    lines.push(`### ×${scale}`, '');
    lines.push(
      ...table(
        ['method', 'parameters', ...sets.flatMap((s) => [`${s} PSNR (dB)`, `${s} SSIM`])],
        `lr${'rr'.repeat(sets.length)}`,
        methods.map((m) => [
          m,
          parameters(m, scale) ? thousands(parameters(m, scale)) : '—',
          ...sets.flatMap((s) => [row(s, scale, m)?.psnr.toFixed(2) ?? '—', row(s, scale, m)?.ssim.toFixed(4) ?? '—']),
        ]),
      ),
      '',
    );
  }
  const belowBicubic = new Map();
  for (const r of quality.filter((x) => !x.method.startsWith('upres') && !['bicubic', 'lanczos3'].includes(x.method))) {
    const bicubic = row(r.set, r.scale, 'bicubic');
    if (bicubic && r.psnr <= bicubic.psnr) {
      belowBicubic.set(r.method, [
        ...(belowBicubic.get(r.method) ?? []),
        `${r.set} ×${r.scale} (${r.psnr.toFixed(2)} against ${bicubic.psnr.toFixed(2)} dB)`,
      ]);
    }
  }
  for (const [method, where] of belowBicubic) {
    lines.push(
      `- ${method} scores at or below bicubic on ${where.join(', ')}. This protocol measures the inversion of MATLAB's bicubic ` +
        'downscaling; a model trained for another degradation gains little on it, whatever it does to real photos.',
    );
  }
  if (belowBicubic.size) lines.push('');
  const made = Object.entries(browser?.quality ?? {});
  if (made.length) {
    lines.push('Peer outputs:', '');
    for (const [model, q] of made) {
      const backend = q.backend ? `TF.js ${q.backend} (its fastest backend above)` : 'no backend';
      const problems = [...(q.size_mismatches ?? []), ...(q.errors ?? []), ...(q.error ? [q.error] : [])];
      lines.push(
        `- ${model}: ${q.images ?? 0} images on ${backend}; ${problems.length ? problems.join('; ') : 'every output has the size of its modcropped HR'}.`,
      );
    }
    lines.push('');
  }
  return lines;
}

// ---- Summary -------------------------------------------------------------------------------

const range = (values, format) => {
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  return format(lo) === format(hi) ? format(lo) : `${format(lo)}–${format(hi)}`;
};
const signed = (v) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(2)} dB`;

/**
 * "**`title`** (1.2×–3×): 256² ×4: 8.05 s against 517 ms; …. The adapter is `adapters`, `software`"
 * for `[gpu, cpu]` runs where the GPU was the slower; `software` (why, when the adapter emulates a
 * GPU) or false.
 */
const slowerThanCpu = (title, pairs, adapters, software) =>
  `**${title}** (${range(
    pairs.map(([g, c]) => g.warm_median_ms / c.warm_median_ms),
    (v) => `${sig(v, 2)}×`,
  )}): ` +
  pairs
    .map(([g, c]) => `${side(g.input)} ×${g.scale}: ${ms(g.warm_median_ms)} against ${ms(c.warm_median_ms)}`)
    .join('; ') +
  `. The adapter is ${adapters}${software ? `, ${software}` : '.'}`;

function summarySection() {
  const lines = ['## Summary', ''];
  for (const model of peers) {
    const ratios = [];
    for (const where of inputs) {
      const here = at(where);
      const [u, p] = [best(here.filter((c) => c.tool === 'upres')), best(here.filter((c) => c.model === model))];
      if (u && p) ratios.push({ warm: p.warm_median_ms / u.warm_median_ms, cold: p.cold_ms / u.cold_ms });
    }
    const parts = [];
    if (ratios.length) {
      const speed = (v) => `${sig(v, 2)}×`;
      parts.push(
        `warm, upres is ${range(
          ratios.map((r) => r.warm),
          speed,
        )} as fast (peer time ÷ upres time, each on its fastest backend, ${ratios.length} of ${inputs.length} cases in which both finished); cold, ${range(
          ratios.map((r) => r.cold),
          speed,
        )}`,
      );
    } else {
      parts.push('no case finished for both tools');
    }
    const deltas = scales
      .flatMap((scale) => sets.map((set) => [set, scale, row(set, scale, upresMethod(scale)), row(set, scale, model)]))
      .filter(([, , u, p]) => u && p)
      .map(([set, scale, u, p]) => `${signed(u.psnr - p.psnr)} on ${set} ×${scale}`);
    if (deltas.length) parts.push(`PSNR, upres minus ${model}: ${deltas.join(', ')}`);
    const sizes = scales
      .map((scale) => [parameters(model, scale), parameters(upresMethod(scale), scale)])
      .filter(([a, b]) => a && b);
    if (sizes.length)
      parts.push(
        `${model} has ${range(
          sizes.map(([a, b]) => a / b),
          (v) => `${sig(v, 2)}×`,
        )} upres's parameters`,
      );
    lines.push(`- **upres against ${model}:** ${parts.join('; ')}.`);
  }
  for (const scale of scales) {
    const ours = upresMethod(scale);
    const gains = sets
      .map((set) => [set, row(set, scale, ours), row(set, scale, 'bicubic')])
      .filter(([, u, b]) => u && b);
    if (gains.length)
      lines.push(
        `- **${ours} against bicubic:** ${gains.map(([set, u, b]) => `${signed(u.psnr - b.psnr)} on ${set}`).join(', ')} (×${scale}).`,
      );
  }
  if (lines.length === 2) return [];
  lines.push('');
  return lines;
}

// ---- Where upres is slower or worse --------------------------------------------------------

function honestSection() {
  const lines = ['## Where upres is slower or worse, and why', ''];
  const say = (text) => lines.push(`- ${text}`);

  for (const scale of scales) {
    const ours = upresMethod(scale);
    for (const set of sets) {
      const mine = row(set, scale, ours);
      if (!mine) continue;
      for (const other of quality.filter(
        (r) => r.set === set && r.scale === scale && r.method !== ours && r.psnr > mine.psnr,
      )) {
        const p = [parameters(other.method, scale), parameters(ours, scale)];
        const size =
          p[0] && p[1]
            ? ` with ${times(p[0] / p[1])} the parameters (${thousands(p[0])} against ${thousands(p[1])})`
            : '';
        say(
          `**Quality, ${set} ×${scale}:** ${other.method} scores ${other.psnr.toFixed(2)} dB, ${(other.psnr - mine.psnr).toFixed(2)} dB above ${ours} (${mine.psnr.toFixed(2)} dB)${size}. ` +
            (p[0] > p[1]
              ? 'A network that much larger sees more context per pixel and models more texture; upres is sized to download and run fast on a CPU, and pays for it here.'
              : 'This is a fixed filter, not a larger model: upres should not lose to it, and needs more training.'),
        );
      }
    }
  }

  // Peers faster than upres's fastest backend, warm or cold: one line per peer and backend.
  const slower = new Map();
  const add = (key, text) => slower.set(key, [...(slower.get(key) ?? []), text]);
  for (const where of inputs) {
    const here = at(where);
    const u = best(here.filter((c) => c.tool === 'upres'));
    if (!u) continue;
    const label = `${side(where.input)} ×${where.scale}`;
    for (const c of here.filter((x) => x.tool !== 'upres' && x.warm_median_ms < u.warm_median_ms)) {
      add(
        `**Warm speed:** ${caseName(c)} is faster than upres (${u.backend})`,
        `${label}: ${ms(c.warm_median_ms)} against ${ms(u.warm_median_ms)}`,
      );
    }
    const coldest = here
      .filter((c) => c.tool === 'upres')
      .reduce((a, c) => (a && a.cold_ms <= c.cold_ms ? a : c), null);
    for (const c of here.filter((x) => x.tool !== 'upres' && x.cold_ms < coldest.cold_ms)) {
      add(
        `**Cold start:** ${caseName(c)} is ready and done sooner than upres (${coldest.backend})`,
        `${label}: ${ms(c.cold_ms)} against ${ms(coldest.cold_ms)}, having downloaded ${mib(c.downloaded_bytes)} against ${mib(coldest.downloaded_bytes)}`,
      );
    }
  }
  for (const [head, items] of slower) {
    const why = head.startsWith('**Cold')
      ? ' Most of what upres downloads is its WebAssembly module, which the browser must compile before the first tile.'
      : '';
    say(`${head}: ${items.join('; ')}.${why}`);
  }

  const heavier = ok
    .filter((c) => c.tool === 'upres' && c.downloaded_gzip_bytes)
    .flatMap((u) =>
      ok.filter(
        (p) =>
          p.tool !== 'upres' &&
          p.input === u.input &&
          p.scale === u.scale &&
          p.downloaded_gzip_bytes &&
          p.downloaded_gzip_bytes < u.downloaded_gzip_bytes,
      ),
    );
  if (heavier.length) {
    const upresBytes = ok
      .filter((c) => c.tool === 'upres' && c.downloaded_gzip_bytes)
      .map((c) => c.downloaded_gzip_bytes);
    const bytesOn = (backend) =>
      ok
        .filter((c) => c.tool === 'upres' && c.backend === backend && c.downloaded_gzip_bytes)
        .map((c) => c.downloaded_gzip_bytes);
    const peerBytes = heavier.map((c) => c.downloaded_gzip_bytes);
    const sooner = heavier.every((p) =>
      ok.some((u) => u.tool === 'upres' && u.input === p.input && u.scale === p.scale && u.cold_ms < p.cold_ms),
    );
    say(
      `**Download size:** a cold upres fetches ${range(upresBytes, mib)} gzipped, the peers ${range(peerBytes, mib)} (TF.js, its backend and the model). ` +
        `On the CPU upres fetches ${range(bytesOn('cpu'), mib)}: its CPU module and the models the job needs; on WebGPU ` +
        `${range(bytesOn('webgpu'), mib)}, the WebGPU module (both of burn's backends) besides` +
        (sooner
          ? '; over loopback upres still finishes its cold run first, but on a slow connection the first image waits for those extra megabytes.'
          : '.') +
        ' The service worker keeps them for later visits.',
    );
  }

  const gpu = ok
    .filter((c) => c.tool === 'upres' && c.backend === 'webgpu')
    .map((g) => [
      g,
      ok.find((c) => c.tool === 'upres' && c.backend === 'cpu' && c.input === g.input && c.scale === g.scale),
    ])
    .filter(([g, cpu]) => cpu && g.warm_median_ms > cpu.warm_median_ms);
  if (gpu.length) {
    const adapters = [...new Set(gpu.map(([g]) => g.adapter))].join(', ');
    const software = gpu.every(([g]) => /fallback/.test(g.adapter ?? ''));
    say(
      slowerThanCpu(
        'upres on WebGPU is slower than on its CPU backend',
        gpu,
        adapters,
        software &&
          'which emulates a GPU on the CPU; that is why upres picks its CPU backend by itself when the only adapter is a fallback one.',
      ),
    );
  }

  if (native) {
    const slowGpu = native.runs
      .filter((r) => r.backend.startsWith('wgpu'))
      .map((g) => [
        g,
        native.runs.find(
          (c) => c.method === g.method && c.input === g.input && c.scale === g.scale && /^cpu/i.test(c.backend),
        ),
      ])
      .filter(([g, c]) => c && g.warm_median_ms > c.warm_median_ms);
    if (slowGpu.length) {
      const software = slowGpu.every(([g]) => softwareAdapter(g.backend));
      say(
        slowerThanCpu(
          'The native wgpu backend is slower than the native CPU one',
          slowGpu,
          [...new Set(slowGpu.map(([g]) => g.backend.replace(/^wgpu: /, '')))].join(', '),
          software &&
            'a software rasteriser on the same CPU; the CLI also picks its CPU backend by itself when the only adapter is a software one.',
        ),
      );
    }
    const pairs = ok
      .filter((x) => x.tool === 'upres' && x.backend === 'cpu')
      .map((c) => [
        c,
        native.runs.find(
          (r) => r.method === c.model && r.input === c.input && r.scale === c.scale && /^cpu/i.test(r.backend),
        ),
      ])
      .filter(([c, n]) => n && c.warm_median_ms > n.warm_median_ms);
    if (pairs.length) {
      say(
        `**The browser is slower than the CLI** (${range(
          pairs.map(([c, n]) => c.warm_median_ms / n.warm_median_ms),
          (v) => `${sig(v, 2)}×`,
        )}, same model, CPU): ` +
          pairs
            .map(([c, n]) => `${side(c.input)} ×${c.scale}: ${ms(c.warm_median_ms)} against ${ms(n.warm_median_ms)}`)
            .join('; ') +
          `. WebAssembly in the worker runs on one thread with 128-bit SIMD${native.machine.threads ? `; the CLI on ${native.machine.threads} threads` : ''} with the host's full SIMD.`,
      );
    }
  }
  if (browser && !browser.machine.gpu) {
    say(
      `**No GPU was measured:** the browser found no hardware GPU, so every WebGPU and WebGL number here comes from ${browser.browser.webgpu_adapter?.fallback ? `${browser.browser.webgpu_adapter.architecture || 'a software adapter'} (WebGPU)` : 'no WebGPU adapter'} and ${browser.browser.webgl_renderer ?? 'no WebGL'}, software on the CPU; they say nothing about either tool on a real GPU.`,
    );
  }
  if (lines.length === 2)
    lines.push('_Nothing: on every measured case upres is at least as fast and scores at least as well._');
  lines.push('');
  return lines;
}

/** A wgpu adapter that runs on the CPU (as `upres bench` names it: lavapipe reports device type Cpu). */
const softwareAdapter = (backend) => /llvmpipe|lavapipe|swiftshader|\bCpu\)/i.test(backend);

// ---- The chart -----------------------------------------------------------------------------

/** Output MP/s (log) against Set5 ×4 PSNR, 256² input: each tool on each backend that ran. */
function chart() {
  const scale = 4;
  const input = '256x256';
  const points = [];
  const psnr = (method) => row('set5', scale, method)?.psnr;
  for (const c of ok.filter((x) => x.input === input && x.scale === scale)) {
    const y = psnr(c.tool === 'upres' ? upresMethod(scale) : c.model);
    if (y != null)
      points.push({
        x: c.output_mp_per_s,
        y,
        label: `${c.tool === 'upres' ? `upres · browser ${c.backend}` : `${c.model} · TF.js ${c.backend}`}${c.backend.startsWith('web') && !browser.machine.gpu ? ' (software)' : ''}`,
        kind: c.tool === 'upres' ? 'upres' : 'peer',
      });
  }
  for (const r of native?.runs.filter((x) => x.input === input && x.scale === scale) ?? []) {
    const method = r.method.startsWith('upres') ? upresMethod(scale) : r.method;
    const y = psnr(method);
    const backend = `${r.backend.split(/[ :(]/)[0]}${softwareAdapter(r.backend) ? ' (software)' : ''}`;
    if (y != null)
      points.push({
        x: r.output_mp_per_s,
        y,
        label: `${r.method.startsWith('upres') ? 'upres' : r.method} · native ${backend}`,
        kind: r.method.startsWith('upres') ? 'upres' : 'baseline',
      });
  }
  if (points.length === 0) return null;

  const [W, H] = [760, 460];
  const m = { left: 64, right: 24, top: 48, bottom: 56 };
  const xs = points.map((p) => Math.log10(p.x));
  const [x0, x1] = [Math.floor(Math.min(...xs)), Math.ceil(Math.max(...xs) + 1e-9)];
  const ys = points.map((p) => p.y);
  const [y0, y1] = [Math.floor(Math.min(...ys) * 2 - 1) / 2, Math.ceil(Math.max(...ys) * 2 + 1) / 2];
  const px = (v) => m.left + ((Math.log10(v) - x0) / Math.max(x1 - x0, 1)) * (W - m.left - m.right);
  const py = (v) => H - m.bottom - ((v - y0) / (y1 - y0)) * (H - m.top - m.bottom);
  const colour = { upres: '#0a7d55', peer: '#c2410c', baseline: '#6b7280' };
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">Speed against quality: ${side(input)} input ×${scale} (speed), Set5 ×${scale} (PSNR-Y)</text>`,
    `<text x="${W / 2}" y="36" text-anchor="middle" fill="#555">${esc(browser ? `Chromium ${browser.browser.version}, ${browser.machine.cpu}, ${browser.machine.cores} cores; ${browser.machine.gpu ?? 'no GPU (WebGPU and WebGL in software)'}` : '')}</text>`,
  ];
  for (let e = x0; e <= x1; e++) {
    for (const k of [1, 2, 5]) {
      const v = k * 10 ** e;
      if (Math.log10(v) > x1 + 1e-9) continue;
      const x = px(v);
      out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${H - m.bottom}" stroke="${k === 1 ? '#ccc' : '#eee'}"/>`);
      if (k === 1 || x1 - x0 <= 2)
        out.push(`<text x="${x}" y="${H - m.bottom + 16}" text-anchor="middle">${sig(v, 1)}</text>`);
    }
  }
  for (let v = y0; v <= y1 + 1e-9; v += 0.5) {
    const y = py(v);
    out.push(
      `<line x1="${m.left}" y1="${y}" x2="${W - m.right}" y2="${y}" stroke="#eee"/>`,
      `<text x="${m.left - 6}" y="${y + 4}" text-anchor="end">${v.toFixed(1)}</text>`,
    );
  }
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${W - m.left - m.right}" height="${H - m.top - m.bottom}" fill="none" stroke="#888"/>`,
    `<text x="${(W + m.left - m.right) / 2}" y="${H - 14}" text-anchor="middle">output megapixels per second, warm (log scale; right is faster)</text>`,
    `<text transform="translate(16 ${(H + m.top - m.bottom) / 2}) rotate(-90)" text-anchor="middle">Set5 ×${scale} PSNR-Y (dB; up is better)</text>`,
  );
  // Each label takes the first of eight places around its point that overlaps no label placed
  // before it, no point and not the frame (text width estimated at 6.6 px a character).
  const taken = points.map((p) => ({ x0: px(p.x) - 6, x1: px(p.x) + 6, y0: py(p.y) - 6, y1: py(p.y) + 6 }));
  const overlaps = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
  const inside = (box) => box.x0 > m.left && box.x1 < W - m.right && box.y0 > m.top && box.y1 < H - m.bottom;
  for (const p of [...points].sort((a, b) => a.x - b.x)) {
    const [x, y] = [px(p.x), py(p.y)];
    const width = p.label.length * 6.6;
    const places = [
      [8, -8],
      [8, 16],
      [-8, -8],
      [-8, 16],
      [8, -22],
      [8, 30],
      [-8, -22],
      [-8, 30],
    ].map(([dx, dy]) => {
      const box = {
        x0: dx > 0 ? x + dx : x + dx - width,
        x1: dx > 0 ? x + dx + width : x + dx,
        y0: y + dy - 11,
        y1: y + dy + 3,
      };
      return { dx, dy, box };
    });
    const place = places.find(({ box }) => inside(box) && !taken.some((t) => overlaps(t, box))) ?? places[0];
    taken.push(place.box);
    out.push(
      `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="5" fill="${colour[p.kind]}"/>`,
      `<text x="${(x + place.dx).toFixed(1)}" y="${(y + place.dy).toFixed(1)}" text-anchor="${place.dx > 0 ? 'start' : 'end'}" fill="${colour[p.kind]}">${esc(p.label)}</text>`,
    );
  }
  out.push('</svg>', '');
  return out.join('\n');
}

// ---- The document --------------------------------------------------------------------------

function machineSection() {
  const lines = ['## Machine', ''];
  if (browser) {
    const b = browser.browser;
    const gpu = b.webgpu_adapter
      ? `${b.webgpu_adapter.vendor} ${b.webgpu_adapter.architecture}${b.webgpu_adapter.fallback ? ' (a software fallback adapter)' : ''}`
      : 'none';
    lines.push(
      `- CPU: ${browser.machine.cpu}, ${browser.machine.cores} cores, ${browser.machine.memory_gib} GiB; ${browser.machine.os}.`,
      `- GPU: ${browser.machine.gpu ?? 'none (this run had no GPU machine); the WebGPU adapter and WebGL renderer below are software, running on the CPU'}.`,
      `- Browser: ${b.name} ${b.version}, flags \`${b.flags.join(' ')}\`; not cross-origin isolated, so TF.js's wasm backend runs on one thread, like upres's.`,
      `- WebGPU adapter: ${gpu}. WebGL renderer: ${b.webgl_renderer ?? 'none'}.`,
      `- Browser results: ${browser.date.slice(0, 10)}${browser.protocol.paused?.length ? `; ${browser.protocol.paused.length} training run(s) on this machine were paused (SIGSTOP) while timing` : ''}.`,
    );
    // Cases kept from an earlier run (bench-browser.mjs re-times only the tools it is given).
    const earlier = cases.filter((c) => c.timed_at && c.timed_at < browser.date);
    if (earlier.length) {
      const names = [...new Set(earlier.map((c) => (c.tool === 'upres' ? 'upres' : c.model)))];
      const days = [...new Set(earlier.map((c) => c.timed_at.slice(0, 10)))];
      lines.push(
        `- The ${names.join(' and ')} cases were timed in an earlier run (${days.join(', ')}), on the same machine and browser; the others in this one.`,
      );
    }
    const noisy = cases.filter((c) => c.compilers_running);
    if (noisy.length)
      lines.push(
        `- **Compilers were running during ${noisy.length} case(s)** (${noisy.map((c) => `${caseName(c)} ${side(c.input)} ×${c.scale}`).join(', ')}): those timings share the CPU.`,
      );
    const builds = [...new Set(cases.map((c) => c.wasm_sha256).filter(Boolean))];
    if (builds.length > 1)
      lines.push(
        `- **The web app was rebuilt during the run**: upres cases ran ${builds.length} different wasm modules (${builds.map((b) => b.slice(0, 12)).join(', ')}).`,
      );
    else if (builds.length)
      lines.push(`- upres web build: \`www/pkg/upres_bg.wasm\` sha256 ${builds[0].slice(0, 12)}.`);
  }
  if (native) {
    lines.push(
      `- Native results: ${new Date(native.unix_time * 1000).toISOString().slice(0, 10)}, ${native.machine.cpu}, ${native.machine.cores} cores, ` +
        `${native.machine.os}; \`upres\` built with the ${native.machine.build}.`,
    );
  }
  const peerModels = Object.values(models).filter((m) => m.package);
  if (peerModels.length) {
    lines.push(
      `- Peers: UpscalerJS ${[...new Set(peerModels.map((m) => m.package))].join(', ')}; ` +
        peerModels.map((m) => `${m.name} ${m.architecture}, ${thousands(m.parameters)} parameters`).join('; ') +
        '.',
    );
  }
  const ours = Object.values(models).filter((m) => !m.package);
  if (ours.length) {
    // The weights timed and those scored can differ when a model was retrained in between; the
    // network's shape, hence its speed, is the same.
    const timed = (m) => [
      ...new Set(cases.filter((c) => c.model === m.name && c.model_sha256).map((c) => c.model_sha256)),
    ];
    const scored = browser.scored_models ?? {};
    lines.push(
      `- upres: ${ours
        .map((m) => {
          const t = timed(m).length ? timed(m) : [m.sha256];
          const q = scored[m.name]?.sha256;
          const hashes =
            q && !(t.length === 1 && t[0] === q)
              ? `timed with sha256 ${t.map((h) => h.slice(0, 12)).join(', ')}, scored with ${q.slice(0, 12)}`
              : `sha256 ${t.map((h) => h.slice(0, 12)).join(', ')}`;
          return `${m.name} ${m.architecture}, ${thousands(m.parameters)} parameters (${hashes})`;
        })
        .join('; ')}.`,
    );
  }
  lines.push('');
  return lines;
}

const svg = chart();
if (svg) {
  mkdirSync(join(outDir, 'bench'), { recursive: true });
  writeFileSync(join(outDir, 'bench', 'chart.svg'), svg);
}
const document = [
  '# Benchmarks',
  '',
  'Generated by `./build.sh benchmarks` (`scripts/benchmarks-md.mjs`) from the JSON in `bench/results/`: do not edit by hand.',
  '`./build.sh bench-browser` measures the browser and scores the peers; `./build.sh bench` the native CLI.',
  'upres is compared with [UpscalerJS](https://upscalerjs.com) (ESRGAN slim and medium on TF.js), the in-browser upscaler',
  'that publishes its models on npm, run in the same browser session on the same inputs.',
  '',
  ...machineSection(),
  ...summarySection(),
  ...(svg ? ['![Speed against Set5 ×4 PSNR](bench/chart.svg)', ''] : []),
  ...honestSection(),
  ...browserSection(),
  ...nativeSection(),
  ...teacherSection(),
  ...workersSection(),
  ...batchSection(),
  ...encodersSection(),
  ...qualitySection(),
].join('\n');
writeFileSync(join(outDir, 'BENCHMARKS.md'), document);
console.log(`wrote BENCHMARKS.md${svg ? ' and bench/chart.svg' : ''}`);
// The README's format table, replaced between its markers: numbers are never typed.
const readmePath = join(outDir, 'README.md');
const marked = /(<!-- formats:begin -->\n)[\s\S]*?(<!-- formats:end -->)/;
if (encoders && existsSync(readmePath) && marked.test(readFileSync(readmePath, 'utf8'))) {
  writeFileSync(readmePath, readFileSync(readmePath, 'utf8').replace(marked, `$1${encodersTable().join('\n')}\n$2`));
  console.log('wrote the format table into README.md');
}
