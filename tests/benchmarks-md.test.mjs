// BENCHMARKS.md is generated (scripts/benchmarks-md.mjs): the committed document must be exactly
// what the committed results give, and the generator must compute ratios and say where upres
// loses rather than leave it out.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

/** Runs the generator on `results` into a fresh folder; returns the document and the chart. */
function generate(t, results) {
  const out = mkdtempSync(join(tmpdir(), 'upres-benchmarks-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  execFileSync(process.execPath, ['scripts/benchmarks-md.mjs', results, out], { stdio: 'pipe' });
  return {
    markdown: readFileSync(join(out, 'BENCHMARKS.md'), 'utf8'),
    svg: readFileSync(join(out, 'bench', 'chart.svg'), 'utf8'),
  };
}

test('the committed BENCHMARKS.md and chart are what the committed results give', (t) => {
  const { markdown, svg } = generate(t, 'bench/results');
  assert.equal(
    markdown,
    readFileSync('BENCHMARKS.md', 'utf8'),
    'BENCHMARKS.md differs from its results: run ./build.sh benchmarks',
  );
  assert.equal(
    svg,
    readFileSync('bench/chart.svg', 'utf8'),
    'bench/chart.svg differs from its results: run ./build.sh benchmarks',
  );
});

test("the README's format table is what the committed encoder results give", (t) => {
  const out = mkdtempSync(join(tmpdir(), 'upres-readme-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const readme = readFileSync('README.md', 'utf8');
  const emptied = readme.replace(/(<!-- formats:begin -->\n)[\s\S]*?(<!-- formats:end -->)/, '$1$2');
  assert.notEqual(emptied, readme, 'the README has a filled format table');
  writeFileSync(join(out, 'README.md'), emptied);
  execFileSync(process.execPath, ['scripts/benchmarks-md.mjs', 'bench/results', out], { stdio: 'pipe' });
  assert.equal(
    readFileSync(join(out, 'README.md'), 'utf8'),
    readme,
    'README.md differs from bench/results/encoders.json: run ./build.sh benchmarks',
  );
});

test('ratios are computed from the cases, and a faster or better peer is reported', (t) => {
  const results = mkdtempSync(join(tmpdir(), 'upres-results-'));
  t.after(() => rmSync(results, { recursive: true, force: true }));
  const run = (tool, model, backend, cold, warm) => ({
    tool,
    model,
    backend,
    input: '256x256',
    scale: 4,
    status: 'ok',
    adapter: 'CPU',
    cold_ms: cold,
    warm_median_ms: warm,
    warm_runs: 3,
    output_mp_per_s: 1.048576 / (warm / 1000),
    downloaded_bytes: 3 * 2 ** 20,
    downloaded_gzip_bytes: 2 ** 20,
  });
  const browser = {
    date: '2026-01-02T03:04:05.000Z',
    machine: { cpu: 'Test CPU', cores: 2, memory_gib: 8, os: 'TestOS', gpu: 'Test GPU' },
    browser: {
      name: 'Chromium (headless)',
      version: '1.0',
      flags: [],
      webgpu_adapter: null,
      webgl_renderer: 'Test GPU',
    },
    protocol: { warm: 'median of 3–7 further runs in the same page', timeout_s: 180 },
    input: { photo: 'train/photos/test.jpg', crops: [{ size: 256, x: 1, y: 2, photo: '400x300' }] },
    models: {
      'upres-x4': {
        name: 'upres-x4',
        sha256: 'a'.repeat(64),
        architecture: '16 channels × 4 hidden layers',
        parameters: 1000,
      },
      'peer-x4': { name: 'peer-x4', package: '@test/peer@1.0.0', architecture: 'RDN', parameters: 50000 },
    },
    cases: [
      run('upres', 'upres-x4', 'cpu', 2000, 500),
      run('upscalerjs', 'peer', 'wasm', 4000, 1000),
      run('upscalerjs', 'peer', 'webgl', 3000, 250),
    ],
  };
  // The peer's cases were kept from an earlier run; upres was timed again.
  browser.cases[0].timed_at = '2026-01-02T03:05:00.000Z';
  for (const c of browser.cases.slice(1)) c.timed_at = '2025-12-31T23:00:00.000Z';
  writeFileSync(join(results, 'browser.json'), JSON.stringify(browser));
  const score = (method, psnr) => ({ method, set: 'set5', scale: 4, psnr, ssim: 0.8 });
  writeFileSync(
    join(results, 'quality-x4.json'),
    JSON.stringify([score('bicubic', 28), score('upres-x4', 30), score('peer', 31)]),
  );

  const { markdown, svg } = generate(t, results);
  // 500 ms against 1000 ms on the CPU backends; against the peer's best (webgl, 250 ms): 2×.
  assert.match(
    markdown,
    /\| 256² ×4 \| peer \| 500 ms \(cpu\) \| 250 ms \(webgl\) \| 2× \(cold 0\.67×\) \| 0\.5× \(cold 0\.5×\) \| — \|/,
  );
  assert.match(
    markdown,
    /\*\*Warm speed:\*\* peer \(TF\.js webgl\) is faster than upres \(cpu\): 256² ×4: 250 ms against 500 ms/,
  );
  assert.match(
    markdown,
    /\*\*Quality, set5 ×4:\*\* peer scores 31\.00 dB, 1\.00 dB above upres-x4 \(30\.00 dB\) with 50× the parameters/,
  );
  assert.match(markdown, /\*\*upres-x4 against bicubic:\*\* \+2\.00 dB on set5/);
  assert.match(markdown, /The peer cases were timed in an earlier run \(2025-12-31\)/);
  // Every measured point is on the chart: upres, and the peer on both backends.
  assert.equal((svg.match(/<circle /g) ?? []).length, 3);
});
