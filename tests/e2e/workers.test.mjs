// Tile workers on the CPU (www/tiles.js): a job spread over several workers makes the same file
// as one that runs every tile in the upscaler's own worker; Cancel stops every worker within a
// tile; a tile worker that fails mid-job is replaced and its tile runs again, and a tile that
// keeps failing fails the job with a message that says so.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as h from './harness.mjs';

let env;
const photo = (width, height) => h.encodePng(width, height, h.testImage(width, height));

before(async () => {
  env = await h.start();
});
after(() => env?.close());

/** The file the app makes of `bytes` with `workers` workers (the queue's first and only image). */
async function upscaleWith(t, workers, name, bytes, mimeType, scale) {
  const { page, errors } = await h.openAppFor(t, env, { workers, serviceWorkers: 'block' });
  await h.addFile(page, name, bytes, mimeType);
  await h.setScale(page, scale);
  const result = await h.upscaleAndDownload(page, 0);
  assert.deepEqual(errors, []);
  return { ...result, page };
}

test('tiles spread over 3 workers make the same file as one worker, the JPEG models downloaded as the job needs them', async (t) => {
  const { page } = await h.openAppFor(t, env, { serviceWorkers: 'block' });
  // 8×: the compression-aware 4× model, then the 2× on 640×480 (5 × 4 tiles); neither is part of
  // the first download, so both reach the tile workers as their first tiles of each come.
  const jpeg = await h.jpegInPage(page, 160, 120, 0.5);
  const one = await upscaleWith(t, 1, 'photo.jpg', jpeg, 'image/jpeg', 8);
  const three = await upscaleWith(t, 3, 'photo.jpg', jpeg, 'image/jpeg', 8);
  t.diagnostic(
    `1 worker: ${one.milliseconds} ms; 3 workers: ${three.milliseconds} ms (on ${await page.evaluate(() => navigator.hardwareConcurrency)} cores)`,
  );
  assert.match(await three.page.textContent('#backend-status'), /; 3 workers compute tiles at once\.$/);
  assert.doesNotMatch(await one.page.textContent('#backend-status'), /workers/);
  assert.match(await three.page.locator('#queue li .route').textContent(), /compression-aware/);
  assert.equal(three.name, 'photo@8x.png');
  assert.ok(three.bytes.equals(one.bytes), 'byte for byte the file that one worker made');
});

test('cancel stops every tile worker within a tile, and the next job runs', async (t) => {
  const { page } = await h.openAppFor(t, env, { serviceWorkers: 'block' });
  const outcome = await page.evaluate(
    async ({ big, small }) => {
      const { Upres } = await import('./engine.js');
      const upres = new Upres({ workers: 2 });
      const never = new AbortController().signal;
      await upres.load(never, () => {});
      await upres.start(never, 'cpu');
      const png = (bytes) => new Blob([new Uint8Array(bytes)], { type: 'image/png' });
      const job = { target: { scale: 4 }, format: 'png', input: 'auto', metadata: 'none' };

      const cancel = new AbortController();
      const reports = [];
      let abortedAt = 0;
      const error = await upres
        .upscale(cancel.signal, png(big), job, ({ done }) => {
          reports.push({ done, at: performance.now() });
          if (done === 6) {
            abortedAt = performance.now();
            cancel.abort();
          }
        })
        .then(
          () => null,
          (e) => e.name,
        );
      const busy = [];
      for (let status; !status || status.busy > 0; ) {
        status = await upres.tileWorkers(never);
        busy.push({ busy: status.busy, after: performance.now() - abortedAt });
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const next = await upres.upscale(never, png(small), job, () => {});
      return {
        error,
        reports,
        abortedAt,
        busy,
        next: [next.width, next.height],
        status: await upres.tileWorkers(never),
      };
    },
    { big: [...photo(1024, 768)], small: [...photo(64, 48)] },
  );

  const { reports, abortedAt, busy } = outcome;
  // Two tiles finish per tile time: a report comes every half tile.
  const before = reports.filter(({ at }) => at <= abortedAt);
  const tile = (2 * (before.at(-1).at - before[0].at)) / (before.length - 1);
  const stopped = busy.at(-1).after;
  t.diagnostic(
    `a tile takes ${tile.toFixed(0)} ms; ${reports.length - before.length} report(s) after the cancel; no worker computing ${stopped.toFixed(0)} ms after it (${busy.map((b) => b.busy).join(' ')}); ${outcome.status.memory} bytes of wasm memory in a tile worker`,
  );
  assert.equal(outcome.error, 'AbortError');
  assert.ok(reports.length - before.length <= 1, `${reports.length - before.length} tiles reported after the cancel`);
  assert.ok(reports.at(-1).done < 48, 'the job was cut short');
  assert.ok(
    stopped < 1.5 * tile + 200,
    `a worker was still computing ${stopped.toFixed(0)} ms after the cancel (a tile takes ${tile.toFixed(0)} ms)`,
  );
  assert.deepEqual(outcome.next, [256, 192]);
  assert.equal(outcome.status.workers, 2);
  assert.ok(outcome.status.memory > 0, 'a tile worker reports its memory');
});

// Faults injected into the tile workers (harness.watchTileWorkers) when `which` of them gets its
// `nth` tile: its input cut short, which the network's shape check turns into a panic, a
// WebAssembly trap; or the worker closing itself, which no event reports.
const FAULTS = {
  'hitting a WebAssembly trap': 'event.data.input = event.data.input.subarray(1);',
  'closing itself': 'event.stopImmediatePropagation(); self.close();',
};

/** A context whose tile workers suffer `fault` where `which` (an expression) is true, on their
 *  `nth` tile; resolves to it and a function counting the tile workers started. */
async function sabotaged(t, fault, which, nth) {
  const context = await env.browser.newContext({ serviceWorkers: 'block' });
  t.after(() => context.close());
  const started = await h.watchTileWorkers(
    t,
    context,
    `
    let tiles = 0;
    self.addEventListener('message', (event) => {
      if (event.data.type === 'tile' && (${which}) && ++tiles === ${nth}) { ${fault} }
    });`,
  );
  return { context, started };
}

for (const [fault, inject] of Object.entries(FAULTS)) {
  test(`a tile worker ${fault} mid-job is replaced, and the job makes the same file as a clean run`, async (t) => {
    const bytes = photo(512, 384); // 4 × 3 tiles
    const clean = await upscaleWith(t, 1, 'photo.png', bytes, 'image/png', 4);
    const { context, started } = await sabotaged(t, inject, "self.name === 'upres tile 1'", 2);
    const { page, errors } = await h.openApp(env, { context, workers: 2 });
    await h.addFile(page, 'photo.png', bytes);
    await h.setScale(page, 4);
    const before = started();
    const result = await h.upscaleAndDownload(page, 0);
    assert.equal(started() - before, 1, 'one tile worker in place of the one that failed');
    assert.ok(result.bytes.equals(clean.bytes), 'byte for byte the file of a clean run');
    assert.deepEqual(errors, []);
  });
}

test('a tile that fails in every tile worker fails the job, saying so', async (t) => {
  const { context, started } = await sabotaged(t, FAULTS['hitting a WebAssembly trap'], 'true', 1);
  const { page } = await h.openApp(env, { context, workers: 2 });
  await h.addFile(page, 'photo.png', photo(256, 192));
  await h.setScale(page, 2);
  await page.click('#start');
  const { status, text } = await h.settled(page, 0);
  t.diagnostic(text);
  assert.equal(status, 'failed');
  assert.match(
    text,
    /The compute backend failed: a tile worker failed: a tile failed in 3 tile workers in a row \(the last one: .+\)/,
  );
  assert.ok(started() >= 3, `${started()} tile workers started`);
});
