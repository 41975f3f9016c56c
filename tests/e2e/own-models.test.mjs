// A person's own model on the page (the Model settings): chosen by the file picker or dropped,
// listed, run alone on every image, kept in IndexedDB across reloads and removed; files that are
// no model refused there in plain words; and the shared teacher (an ncnn model of the size
// people bring) timed on the CPU's tile workers.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as h from './harness.mjs';

let env;
const photo = (width, height) => h.encodePng(width, height, h.testImage(width, height));
const TINY = { scale: 2 };
const tiny = h.compactModel(TINY);

before(async () => {
  env = await h.start();
});
after(() => env?.close());

/** Waits until `name` (×`scale`) is the model in use and the engine runs it. */
async function inUse(page, name, scale) {
  await page.waitForFunction(
    (current) =>
      document.getElementById('model-current').textContent === current &&
      document.getElementById('model-status').textContent === '' &&
      document.body.dataset.backend,
    name ? `your model ${name} (×${scale})` : 'upres (automatic)',
    { timeout: 120_000 },
  );
}

/** Waits until the Model settings are idle again; resolves to what they say went wrong. */
async function modelProblem(page) {
  await page.waitForFunction(() => !document.getElementById('model-problem').hidden, null, { timeout: 60_000 });
  await page.waitForFunction(() => document.getElementById('model-status').textContent === '');
  return page.textContent('#model-problem');
}

const listed = (page) => page.$$eval('#own-models li', (lis) => lis.map((li) => li.querySelector('div').textContent));

test('your own model: chosen by the file picker, listed, run alone on an image (its details name it), kept across an offline reload, then removed', async (t) => {
  const { page, context, errors } = await h.openAppFor(t, env);
  assert.equal(await page.textContent('#model-current'), 'upres (automatic)');
  assert.equal(
    await page.textContent('#model-privacy'),
    'Your model stays on this device: it is read here and never uploaded.',
  );
  await h.setScale(page, 2);
  await page.setInputFiles('#model-files', { name: 'tiny-x2.safetensors', mimeType: '', buffer: tiny });
  await inUse(page, 'tiny-x2', 2);
  const parameters = h.compactParameters(TINY).toLocaleString('en');
  assert.deepEqual(await listed(page), [
    `tiny-x2 ×2 · ${(tiny.length / 1024).toFixed(1)} KB · ${parameters} parameters · in use`,
  ]);

  const original = photo(64, 48);
  await h.addFile(page, 'photo.png', original);
  const { name, bytes } = await h.upscaleAndDownload(page, 0);
  assert.equal(name, 'photo@2x.png');
  const result = h.decodePng(bytes);
  assert.deepEqual([result.width, result.height], [128, 96]);
  // Only this model's output is the nearest-neighbour upsampling (its last layer is zero).
  const nearness = h.psnr(result, h.nearest(h.decodePng(original), 2));
  t.diagnostic(`PSNR against nearest neighbour: ${nearness} dB`);
  assert.ok(nearness >= 45, `${nearness} dB from what the model computes`);
  const item = page.locator('#queue li').nth(0);
  assert.equal(await item.locator('.plain').innerText(), 'Enlarged by your own model, tiny-x2.');
  await item.locator('.more summary').click();
  assert.equal(await item.locator('.route').innerText(), 'your own model');
  const sha256 = createHash('sha256').update(tiny).digest('hex');
  assert.match(
    await item.locator('.model-card').innerText(),
    new RegExp(
      `^Your model tiny-x2: Compact.*; ${parameters} parameters; [\\d,]+ multiply-adds per input pixel; read from safetensors, SHA-256 of the file ${sha256}\\.$`,
    ),
  );

  // Back to upres's models: the result was made with another model, and says so.
  await page.click('#model-default');
  await inUse(page, null);
  assert.match(
    await item.locator('.made').innerText(),
    /^Made with 2× · PNG · your model tiny-x2; the settings are now 2× · PNG\.$/,
  );
  assert.ok(await item.locator('button.rerun').isVisible());

  // The next visit offline: the page from the service worker's cache, the model from IndexedDB.
  await page.waitForFunction(
    async () => (await navigator.serviceWorker.getRegistration())?.active && navigator.serviceWorker.controller,
  );
  await context.setOffline(true);
  await page.reload();
  await page.waitForSelector('#loading[data-state="done"]');
  await h.chooseBackend(page, 'cpu');
  await page.waitForSelector('#own-models li');
  assert.deepEqual(await listed(page), [
    `tiny-x2 ×2 · ${(tiny.length / 1024).toFixed(1)} KB · ${parameters} parameters`,
  ]);
  assert.equal(await page.textContent('#model-current'), 'upres (automatic)', 'upres’s models after a reload');
  await page.click('button[aria-label="Use: tiny-x2"]');
  await inUse(page, 'tiny-x2', 2);
  await h.addFile(page, 'photo.png', original);
  const again = h.decodePng((await h.upscaleAndDownload(page, 0)).bytes);
  assert.ok(h.psnr(again, result) === Infinity, 'the kept model makes the same file');

  await page.click('button[aria-label="Remove: tiny-x2"]');
  await inUse(page, null);
  await page.waitForFunction(() => document.getElementById('own-models').hidden);
  await page.reload();
  await page.waitForSelector('#loading[data-state="done"]');
  await h.chooseBackend(page, 'cpu');
  assert.deepEqual(await listed(page), [], 'gone after a reload');
  assert.deepEqual(errors, []);
});

test('files that are no model are refused at the Model settings in plain words, nothing is listed; a model dropped there or among images goes there', async (t) => {
  const { page, errors } = await h.openAppFor(t, env);
  const databases = () => page.evaluate(async () => (await indexedDB.databases()).map(({ name }) => name));
  assert.deepEqual(await databases(), [], 'a visitor who brings no model gets no database');
  const attempts = [
    [{ name: 'evil.pth', mimeType: 'text/plain', buffer: Buffer.from('import os\nos.system("rm -rf ~")\n') }],
    [{ name: 'model.bin', mimeType: '', buffer: Buffer.alloc(4096, 1) }],
    [{ name: 'model.param', mimeType: '', buffer: Buffer.from('7767517\n3 3\n') }],
    [
      { name: 'a.safetensors', mimeType: '', buffer: tiny },
      { name: 'b.safetensors', mimeType: '', buffer: tiny },
    ],
  ];
  const expected = [
    /^Model problem: evil\.pth is not a model file upres reads: upres reads Compact \(SRVGGNetCompact\) models as \.pth, \.safetensors or ncnn \.param \+ \.bin/,
    /^Model problem: model\.bin is not a model file upres reads: it looks like the weights half of an ncnn model: choose its \.param file with it/,
    /^Model problem: model\.param is an ncnn model's graph: choose it together with its \.bin file$/,
    /^Model problem: choose one model file, or an ncnn model's \.param and \.bin together, not a\.safetensors, b\.safetensors$/,
  ];
  for (const [i, files] of attempts.entries()) {
    await page.setInputFiles('#model-files', files);
    assert.match(await modelProblem(page), expected[i]);
    assert.deepEqual(await listed(page), []);
    assert.equal(await page.textContent('#model-current'), 'upres (automatic)');
  }

  // A model file chosen with the images goes to the Model settings, not to the queue.
  await page.setInputFiles('#files', [
    { name: 'evil.pth', mimeType: '', buffer: Buffer.from('not a model') },
    { name: 'photo.png', mimeType: 'image/png', buffer: photo(32, 24) },
  ]);
  assert.match(await modelProblem(page), /^Model problem: evil\.pth is not a model file upres reads/);
  assert.deepEqual(await page.$$eval('#queue li .name', (names) => names.map((name) => name.textContent)), [
    'photo.png',
  ]);

  // Dropped on the Model settings: read and listed.
  const transfer = await page.evaluateHandle(
    (bytes) => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(bytes)], 'dropped-x2.safetensors'));
      return data;
    },
    [...tiny],
  );
  await page.dispatchEvent('#model', 'drop', { dataTransfer: transfer });
  await inUse(page, 'dropped-x2', 2);
  assert.deepEqual(await databases(), ['upres']);
  assert.ok(await page.isHidden('#model-problem'), 'the last refusal is cleared');
  assert.equal((await listed(page)).length, 1);
  const violations = await h.axeViolations(page);
  assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
  assert.deepEqual(errors, []);
});

/** The shared teacher (`../shared/teachers/realesr-general-x4v3`, or `$UPRES_TEACHER`); null, with
 *  the test skipped, where it is missing, except in CI, where that fails (tests/common/mod.rs). */
function sharedTeacher(t) {
  const dir = process.env.UPRES_TEACHER ?? join('..', 'shared', 'teachers', 'realesr-general-x4v3');
  if (['model.param', 'model.bin'].every((file) => existsSync(join(dir, file)))) return dir;
  const missing = `the teacher model is not at ${dir} (with model.param and model.bin); set UPRES_TEACHER`;
  if (process.env.CI === 'true') assert.fail(missing);
  t.skip(missing);
  return null;
}

test('the shared teacher, an ncnn model chosen by the file picker, upscales a 256×256 image ×4 on 2 tile workers: time and memory', async (t) => {
  const dir = sharedTeacher(t);
  if (!dir) return;
  const param = readFileSync(join(dir, 'model.param'));
  const bin = readFileSync(join(dir, 'model.bin'));
  const { page, errors } = await h.openAppFor(t, env, { workers: 2 });
  await h.setScale(page, 4);
  // The .bin first: the order does not matter.
  await page.setInputFiles('#model-files', [
    { name: 'model.bin', mimeType: '', buffer: bin },
    { name: 'model.param', mimeType: '', buffer: param },
  ]);
  await inUse(page, 'model', 4);
  const [line] = await listed(page);
  t.diagnostic(line);
  assert.match(line, /^model ×4 · 2\.3 MB · [\d,]+ parameters · in use$/);
  await h.addFile(page, 'photo.png', photo(256, 256));
  const { bytes, milliseconds } = await h.upscaleAndDownload(page, 0);
  const result = h.decodePng(bytes);
  assert.deepEqual([result.width, result.height], [1024, 1024]);
  assert.match(await page.textContent('#backend-status'), /; 2 workers compute tiles at once\.$/);

  // The same job through engine.js, whose tileWorkers() reports the tile workers' memory.
  const measured = await page.evaluate(
    async ({ param, bin, png }) => {
      const { Upres } = await import('./engine.js');
      const upres = new Upres({ workers: 2 });
      const never = new AbortController().signal;
      await upres.load(never, () => {});
      const files = [new File([new Uint8Array(param)], 'model.param'), new File([new Uint8Array(bin)], 'model.bin')];
      upres.useModels(await upres.importModel(never, files));
      await upres.start(never, 'cpu');
      const job = { target: { scale: 4 }, format: 'png', input: 'auto', metadata: 'none' };
      const started = performance.now();
      const result = await upres.upscale(never, new Blob([new Uint8Array(png)]), job, () => {});
      return {
        ms: Math.round(performance.now() - started),
        size: [result.width, result.height],
        models: result.models,
        ...(await upres.tileWorkers(never)),
        cores: navigator.hardwareConcurrency,
      };
    },
    { param: [...param], bin: [...bin], png: [...photo(256, 256)] },
  );
  assert.deepEqual(measured.size, [1024, 1024]);
  assert.deepEqual(measured.models, ['model']);
  const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;
  // One line to collect: the page's time from Upscale to the download, the engine's for the job.
  t.diagnostic(
    `upres-measure own-model-teacher ${JSON.stringify({
      input: '256x256',
      scale: 4,
      workers: measured.workers,
      cores: measured.cores,
      pageMs: milliseconds,
      engineMs: measured.ms,
      tileWorkerMiB: mib(measured.memory),
      engineWorkerMiB: mib(measured.engineMemory),
    })}`,
  );
  assert.equal(measured.workers, 2);
  assert.deepEqual(errors, []);
});
