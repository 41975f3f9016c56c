// The page's behaviour around a job: cancelling, bad files, a responsive main thread, the
// network it uses, offline use, GPU failure, options, which model runs on which input, downloads;
// the queue keeping finished work, the comparison, plain words and transparency; accessibility
// (axe-core) and what it looks like on a desktop, a phone and in the dark.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { unzipSync } from 'fflate';
import * as h from './harness.mjs';

let env;
const photo = (width, height) => h.encodePng(width, height, h.testImage(width, height));

before(async () => {
  env = await h.start();
});
after(() => env?.close());

const app = (t, options) => h.openAppFor(t, env, options);

test('cancel stops within one tile, and the next job succeeds', async (t) => {
  const { page } = await app(t);
  await h.addFile(page, 'big.png', photo(512, 384)); // 4 × 3 tiles on the CPU
  await h.setScale(page, 4);
  await page.click('#start');
  await page.waitForFunction(() => /^Tile [2-9]\//.test(document.querySelector('#job-status').textContent));
  // The tile shown when the click arrives, read in the page: tiles go on finishing during the
  // round trips between reading the status from here and the click landing.
  await page.evaluate(() => {
    const status = document.querySelector('#job-status');
    const record = () => {
      document.body.dataset.statusAtCancel = status.textContent;
    };
    document.querySelector('#cancel').addEventListener('click', record, { capture: true, once: true });
  });
  await page.click('#cancel');
  const atCancel = Number((await page.getAttribute('body', 'data-status-at-cancel')).match(/^Tile (\d+)/)[1]);
  await page.waitForFunction(() => document.querySelector('#queue li').textContent.includes('Cancelled'), null, {
    timeout: 30_000,
  });
  const last = (await page.textContent('#job-status')).match(/^Tile (\d+)\/(\d+)/);
  assert.ok(Number(last[1]) <= atCancel + 1, `stopped at tile ${last[1]} after a cancel at tile ${atCancel}`);
  assert.ok(Number(last[1]) < Number(last[2]), 'the job was cut short');
  assert.equal(await page.getAttribute('#queue li', 'data-status'), 'ready');

  await h.addFile(page, 'small.png', photo(64, 48));
  await h.setScale(page, 2);
  await page.click('#start');
  assert.equal((await h.settled(page, 0)).status, 'done');
  assert.equal((await h.settled(page, 1)).status, 'done');
});

test('bad files say what is wrong, and the page keeps working', async (t) => {
  const { page } = await app(t);
  const good = photo(40, 30);
  // A valid header and signature, then garbage where the compressed pixels should be.
  const corrupt = Buffer.concat([
    good.subarray(0, 33),
    Buffer.from([0, 0, 0, 40]),
    Buffer.from('IDAT'),
    Buffer.alloc(44, 0x5a),
  ]);
  const oversized = h.encodePng(4, 4, h.testImage(4, 4), { width: 50_000, height: 50_000 });

  const cases = [
    ['corrupt.png', corrupt, /Can’t read this file: truncated or corrupt PNG data/],
    [
      'huge.png',
      oversized,
      /Too large: the input would be 50000×50000 = 2500\.0 megapixels, over the limit of 40\.0 megapixels/,
    ],
    ['notes.png', Buffer.from('just some text, not an image'), /Can’t read this file: not an image/],
    ['icon.png', Buffer.from('00000100010010100000010020006804000016000000', 'hex'), /Unsupported image/],
  ];
  for (const [name, bytes, message] of cases) {
    const item = await h.addFile(page, name, bytes);
    assert.equal(await item.getAttribute('data-status'), 'invalid', name);
    assert.match(await item.textContent(), message);
  }
  await h.addFile(page, 'good.png', good);
  await h.setScale(page, 2);
  const result = await h.upscaleAndDownload(page, cases.length);
  assert.equal(result.name, 'good@2x.png');
});

test('the main thread keeps ticking while a job runs', async (t) => {
  const { page } = await app(t);
  await h.addFile(page, 'photo.png', photo(256, 256));
  await h.setScale(page, 4);
  await page.evaluate(() => {
    window.gaps = [];
    let last = performance.now();
    window.ticker = setInterval(() => {
      const now = performance.now();
      window.gaps.push(now - last);
      last = now;
    }, 10);
  });
  await page.click('#start');
  await h.settled(page, 0);
  const gaps = await page.evaluate(() => {
    clearInterval(window.ticker);
    return window.gaps;
  });
  const worst = Math.max(...gaps);
  t.diagnostic(`${gaps.length} ticks, longest gap ${worst.toFixed(0)} ms`);
  assert.ok(gaps.length > 20, 'the job ran long enough to measure');
  assert.ok(worst < 200, `a ${worst.toFixed(0)} ms gap on the main thread`);
});

/** Resolves once the page has every model, which it downloads in the background once it is
 *  ready. */
const allModels = (page) =>
  page.waitForFunction(() => /\(all downloaded\)/.test(document.querySelector('#models-status').textContent));

test('every request is to its own origin, and none reaches the network once every model is downloaded', async (t) => {
  const { page, context, requests } = await app(t);
  await allModels(page);
  // From here on the worker may still ask for a model, which the service worker has.
  const network = [];
  context.on('response', (response) => response.fromServiceWorker() || network.push(response.url()));
  await h.addFile(page, 'photo.png', photo(96, 64));
  await h.addFile(page, 'photo.jpg', await h.jpegInPage(page, 96, 64, 0.5), 'image/jpeg');
  await h.setScale(page, 4);
  await h.upscaleAndDownload(page, 1);
  const foreign = requests.filter((url) => !url.startsWith(env.origin) && !url.startsWith(`blob:${env.origin}`));
  assert.deepEqual(foreign, []);
  assert.ok(
    requests.some((url) => url.endsWith('.bpk')),
    'the models came over the network log',
  );
  assert.deepEqual(
    network.filter((url) => !url.startsWith('blob:')),
    [],
  );
});

test('before the page is ready it downloads the CPU module and the default model only; the other models follow, and the WebGPU build never comes on the CPU', async (t) => {
  const context = await env.browser.newContext({ serviceWorkers: 'block' });
  t.after(() => context.close());
  // Each module and model download, and whether the page had said it was ready when it began.
  const downloads = [];
  await context.route(/\.(wasm|bpk)$/, async (route) => {
    const [page] = context.pages();
    const ready = await page.evaluate(() => document.querySelector('#load-status').textContent === 'Ready.');
    downloads.push({ file: new URL(route.request().url()).pathname.slice(h.PREFIX.length), ready });
    await route.continue();
  });
  const { page, requests } = await h.openApp(env, { context });
  await allModels(page);
  await h.addFile(page, 'photo.png', photo(64, 48));
  await h.setScale(page, 2);
  await h.upscaleAndDownload(page, 0);

  const index = JSON.parse(readFileSync('www/models/index.json', 'utf8'));
  const weights = (entry) => `models/${JSON.parse(readFileSync(`www/models/${entry.card}`, 'utf8')).weights}`;
  const first = weights(index.find((entry) => entry.scale === 4 && entry.input === 'clean'));
  t.diagnostic(downloads.map(({ file, ready }) => `${file}${ready ? '' : ' (before ready)'}`).join(', '));
  assert.deepEqual(
    downloads
      .filter(({ ready }) => !ready)
      .map(({ file }) => file)
      .sort(),
    [first, 'pkg/upres_bg.wasm'],
  );
  // The job's own request for the ×2 model too: this context has no service worker to keep it.
  const later = new Set(downloads.filter(({ ready }) => ready).map(({ file }) => file));
  assert.deepEqual(
    [...later].sort(),
    index
      .map(weights)
      .filter((file) => file !== first)
      .sort(),
  );
  assert.deepEqual(
    requests.filter((url) => url.includes('/pkg/webgpu/')),
    [],
    'nothing of the WebGPU build',
  );
});

test('a change of backend while the engine starts replaces that start quietly, and the models follow once it runs', async (t) => {
  const context = await env.browser.newContext({ serviceWorkers: 'block' });
  t.after(() => context.close());
  const page = await context.newPage();
  const prefetched = [];
  await context.route(/\.bpk$/, async (route) => {
    prefetched.push(await page.evaluate(() => document.querySelector('#load-status').textContent));
    await route.continue();
  });
  // The upscaler's first worker comes slowly: its start is still under way when the backend changes.
  let workers = 0;
  await context.route(
    (url) => url.pathname.endsWith('/worker.js'),
    async (route) => {
      if (workers++ === 0) await new Promise((resolve) => setTimeout(resolve, 3000));
      await route.continue();
    },
  );
  await page.goto(env.url);
  await page.waitForSelector('#loading[data-state="done"]', { timeout: 120_000 });
  await page.selectOption('select[name="backend"]', 'cpu');
  await page.waitForFunction(() => document.body.dataset.backend === 'cpu', null, { timeout: 120_000 });
  await allModels(page);
  assert.equal(await page.textContent('#load-status'), 'Ready.');
  assert.equal(await page.isHidden('#message'), true, `the page says: ${await page.textContent('#message')}`);
  // The default model before the page was ready; every other one after.
  assert.deepEqual(
    prefetched.slice(1).filter((status) => status !== 'Ready.'),
    [],
  );
});

test('a second visit works offline, for PNGs and JPEGs alike', async (t) => {
  const { page, context } = await app(t);
  await page.waitForFunction(
    async () => (await navigator.serviceWorker.getRegistration())?.active && navigator.serviceWorker.controller,
  );
  // Every model in the offline cache: the page fetches the ones no job has needed in the background.
  await allModels(page);
  const models = JSON.parse(readFileSync('www/models/index.json', 'utf8')).length;
  await page.waitForFunction(async (count) => {
    const cached = await Promise.all((await caches.keys()).map(async (name) => (await caches.open(name)).keys()));
    return cached.flat().filter((request) => request.url.endsWith('.bpk')).length === count;
  }, models);
  await context.setOffline(true);
  await page.reload();
  await page.waitForSelector('#loading[data-state="done"]', { timeout: 60_000 });
  await h.chooseBackend(page, 'cpu');
  await h.addFile(page, 'photo.png', photo(48, 32));
  await h.addFile(page, 'photo.jpg', await h.jpegInPage(page, 48, 32, 0.5), 'image/jpeg');
  await h.setScale(page, 2);
  await page.click('#start');
  for (const index of [0, 1]) assert.equal((await h.settled(page, index)).status, 'done');
  assert.match(await page.locator('#queue li').nth(1).locator('.route').textContent(), /compression-aware/);
});

// Faults injected into every worker's WebGPU device when it first reads a result back, mid-job.
const GPU_FAULTS = {
  // A driver reset or a crashed GPU process.
  'device lost': 'device.destroy();',
  // An allocation the GPU cannot satisfy: WebGPU reports it as an uncaptured GPUOutOfMemoryError.
  'allocation error': `device.dispatchEvent(new GPUUncapturedErrorEvent('uncapturederror',
    { error: new GPUOutOfMemoryError('injected by the test') }));`,
};

for (const [fault, inject] of Object.entries(GPU_FAULTS)) {
  test(`a GPU ${fault} is retried with smaller tiles, then the CPU finishes the job with the same result`, async (t) => {
    const bytes = photo(96, 64);
    const reference = await (async () => {
      const { page } = await app(t);
      await h.addFile(page, 'photo.png', bytes);
      await h.setScale(page, 2);
      return h.upscaleAndDownload(page, 0);
    })();

    const context = await env.browser.newContext({ serviceWorkers: 'block' });
    await context.route('**/worker.js', async (route) => {
      const response = await route.fetch();
      const sabotage = `
        const requestDevice = GPUAdapter.prototype.requestDevice;
        GPUAdapter.prototype.requestDevice = async function (...args) {
          const device = await requestDevice.apply(this, args);
          const mapAsync = GPUBuffer.prototype.mapAsync;
          GPUBuffer.prototype.mapAsync = function (...a) { ${inject} return mapAsync.apply(this, a); };
          return device;
        };\n`;
      await route.fulfill({ response, body: sabotage + (await response.text()) });
    });
    const { page } = await app(t, { context, backend: 'webgpu' });
    // Every backend the page announces from here on, in order.
    await page.evaluate(() => {
      window.announced = [];
      const status = document.querySelector('#backend-status');
      new MutationObserver(() => window.announced.push(status.textContent)).observe(status, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    await h.addFile(page, 'photo.png', bytes);
    await h.setScale(page, 2);
    const result = await h.upscaleAndDownload(page, 0);
    const announced = await page.evaluate(() => window.announced.filter((text) => text.startsWith('Running on')));
    t.diagnostic(announced.join(' | '));
    assert.match(announced.at(-1), /WebGPU failed even with 64-pixel tiles/);
    assert.ok(
      announced.some((text) => /retried with 128-pixel tiles/.test(text)),
      'a retry with 128-pixel tiles',
    );
    assert.ok(
      announced.some((text) => /retried with 64-pixel tiles/.test(text)),
      'a retry with 64-pixel tiles',
    );
    assert.equal(await page.evaluate(() => document.body.dataset.backend), 'cpu');
    assert.equal(result.name, reference.name);
    assert.ok(result.bytes.equals(reference.bytes), 'the same file as a job that ran on the CPU from the start');
  });
}

test('with a hardware GPU, auto times it against the CPU once per adapter and build, and runs the faster', async (t) => {
  // SwiftShader, declared a hardware adapter: WebGPU is then a candidate, timed on a test job.
  const context = await env.browser.newContext({ serviceWorkers: 'block' });
  t.after(() => context.close());
  await context.route('**/worker.js', async (route) => {
    const response = await route.fetch();
    const hardware = "Object.defineProperty(GPUAdapterInfo.prototype, 'isFallbackAdapter', { get: () => false });\n";
    await route.fulfill({ response, body: hardware + (await response.text()) });
  });
  const { page } = await h.openApp(env, { context, backend: 'auto' });
  const measured = await page.textContent('#backend-status');
  t.diagnostic(measured);
  const figures =
    /measured just now: WebGPU ([\d.]+ m?s), the CPU ([\d.]+ m?s) \(1 worker\) for a 128×128 test image at 4×; the (GPU|CPU) is faster/;
  assert.match(measured, figures);
  // SwiftShader emulates the GPU on this same CPU: far slower than burn's CPU backend.
  assert.equal(await page.evaluate(() => document.body.dataset.backend), 'cpu');
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('upres-backend-measured')));
  const [entry] = Object.values(stored.byAdapter);
  assert.ok(entry.cpuMs > 0 && entry.webgpuMs > entry.cpuMs, JSON.stringify(entry));

  // The next visit takes the figures it stored: nothing is timed again.
  await page.reload();
  await page.waitForSelector('#loading[data-state="done"]', { timeout: 120_000 });
  const again = await h.chooseBackend(page, 'auto');
  assert.match(again, /measured here before: WebGPU .* the CPU is faster/);
  assert.equal(await page.evaluate(() => document.body.dataset.backend), 'cpu');
  // The user can still choose the GPU.
  await h.chooseBackend(page, 'webgpu');
  await h.addFile(page, 'photo.png', photo(48, 32));
  await h.setScale(page, 2);
  assert.equal((await h.upscaleAndDownload(page, 0)).name, 'photo@2x.png');
});

test('target sizes, formats and remembered options', async (t) => {
  const { page } = await app(t);
  await page.check('input[name="size"][value="longEdge"]');
  await page.fill('input[name="longEdge"]', '500');
  await page.selectOption('select[name="format"]', 'jpeg');
  await page.fill('input[name="quality"]', '70');
  await h.addFile(page, 'photo.png', photo(200, 150));
  const result = await h.upscaleAndDownload(page, 0);
  assert.equal(result.name, 'photo@500px.jpg');
  assert.deepEqual([...result.bytes.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  assert.match(await page.textContent('#result-info'), /500×375 px/);

  await page.reload();
  await page.waitForSelector('#loading[data-state="done"]');
  assert.equal(await page.inputValue('select[name="format"]'), 'jpeg');
  assert.equal(await page.inputValue('input[name="quality"]'), '70');
  assert.equal(await page.inputValue('input[name="longEdge"]'), '500');
  assert.ok(await page.isChecked('input[name="size"][value="longEdge"]'));

  await page.check('input[name="size"][value="box"]');
  await page.fill('input[name="width"]', '300');
  await page.fill('input[name="height"]', '300');
  await page.selectOption('select[name="fit"]', 'cover');
  await page.selectOption('select[name="format"]', 'png');
  await h.chooseBackend(page, 'cpu');
  await h.addFile(page, 'photo.png', photo(200, 150));
  const boxed = await h.upscaleAndDownload(page, 0);
  assert.equal(boxed.name, 'photo@300x300.png');
  const image = h.decodePng(boxed.bytes);
  assert.deepEqual([image.width, image.height], [300, 300]);
});

test('a JPEG goes to the compression-aware model, a PNG to the clean one, and the Input choice overrides both', async (t) => {
  const { page } = await app(t);
  const route = (index) => page.locator('#queue li').nth(index).locator('.route').textContent();
  assert.equal(await page.inputValue('select[name="input"]'), 'auto');
  await h.addFile(page, 'photo.jpg', await h.jpegInPage(page, 64, 48, 0.5), 'image/jpeg');
  await h.addFile(page, 'logo.png', photo(64, 48));
  await h.setScale(page, 4);
  await page.click('#start');
  assert.equal((await h.settled(page, 0)).status, 'done');
  assert.equal((await h.settled(page, 1)).status, 'done');
  const jpeg = await route(0);
  t.diagnostic(`${jpeg} | ${await route(1)}`);
  assert.match(jpeg, /JPEG quality ≈ 50\b/);
  assert.match(jpeg, /compression-aware/);
  assert.match(await route(1), /PNG: clean model/);

  // A new choice applies to new images; finished ones run again with it only when asked.
  await page.selectOption('select[name="input"]', 'clean');
  assert.ok(await page.isDisabled('#start'), 'nothing new to upscale');
  await page.click('#rerun-all');
  await page.waitForSelector('#job', { state: 'hidden', timeout: 300_000 });
  for (const index of [0, 1]) {
    assert.equal((await h.settled(page, index)).status, 'done');
    assert.match(await route(index), /clean model, as chosen/);
  }

  await page.reload();
  await page.waitForSelector('#loading[data-state="done"]');
  assert.equal(await page.inputValue('select[name="input"]'), 'clean', 'the choice is remembered');
});

test('Look: Enhanced runs the enhanced model where the scale has one, says so, and is remembered', async (t) => {
  const { page } = await app(t);
  const route = (index) => page.locator('#queue li').nth(index).locator('.route').textContent();
  assert.equal(await page.inputValue('select[name="look"]'), 'faithful');
  await page.selectOption('select[name="look"]', 'enhanced');
  await h.addFile(page, 'photo.png', photo(64, 48));
  await h.setScale(page, 4);
  await page.click('#start');
  assert.equal((await h.settled(page, 0)).status, 'done');
  const enhanced = await route(0);
  t.diagnostic(enhanced);
  assert.match(enhanced, /^enhanced look/);
  assert.match(await page.locator('#queue li').nth(0).textContent(), /Enlarged by the enhanced model/);

  // ×2 has no enhanced model: the faithful one runs, and the line says why.
  await h.setScale(page, 2);
  await page.click('#rerun-all');
  await page.waitForSelector('#job', { state: 'hidden', timeout: 300_000 });
  assert.match(await route(0), /no enhanced model for this scale, so the faithful one/);

  await page.reload();
  await page.waitForSelector('#loading[data-state="done"]');
  assert.equal(await page.inputValue('select[name="look"]'), 'enhanced', 'the choice is remembered');
});

test('drop, paste, download all, and a screenshot of the result', async (t) => {
  const { page } = await app(t);
  const bytes = [...photo(120, 90)];
  for (const event of ['drop', 'paste']) {
    await page.evaluate(
      ([type, data]) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(data)], `${type}.png`, { type: 'image/png' }));
        const init = type === 'drop' ? { dataTransfer: transfer } : { clipboardData: transfer };
        document.dispatchEvent(type === 'drop' ? new DragEvent('drop', init) : new ClipboardEvent('paste', init));
      },
      [event, bytes],
    );
  }
  await page.waitForFunction(
    () => [...document.querySelectorAll('#queue li')].map((li) => li.dataset.status).join() === 'ready,ready',
  );
  await h.setScale(page, 4);
  await page.click('#start');
  await h.settled(page, 0);
  await h.settled(page, 1);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-all')]);
  assert.equal(download.suggestedFilename(), 'upres.zip');
  const entries = unzipSync(new Uint8Array(readFileSync(await download.path())));
  assert.deepEqual(Object.keys(entries).sort(), ['drop@4x.png', 'paste@4x.png']);
  assert.equal(h.decodePng(Buffer.from(entries['drop@4x.png'])).width, 480);

  await page.locator('#compare').scrollIntoViewIfNeeded();
  h.artifact('result.png', await page.screenshot({ fullPage: true }));
});

// ---- The queue keeps finished work ---------------------------------------------------------

/** Records every data-status that queue entry `index` is given from now on (window.statuses). */
async function watchStatuses(page, index) {
  await page.evaluate((i) => {
    const li = document.querySelectorAll('#queue li')[i];
    window.statuses = [];
    new MutationObserver(() => window.statuses.push(li.dataset.status)).observe(li, {
      attributes: true,
      attributeFilter: ['data-status'],
    });
  }, index);
  return async () => [...new Set(await page.evaluate(() => window.statuses))];
}

test('new settings apply to new images: a finished one keeps its result until it is run again on request; remove, clear, download all', async (t) => {
  const { page } = await app(t);
  const first = page.locator('#queue li').nth(0);
  await h.addFile(page, 'first.png', photo(64, 48));
  await h.setScale(page, 2);
  await page.click('#start');
  assert.match((await h.settled(page, 0)).text, /128×96/);
  const statuses = await watchStatuses(page, 0);

  await h.setScale(page, 4);
  assert.ok(await page.isDisabled('#start'), 'nothing new to upscale');
  assert.equal(await first.locator('.made').textContent(), 'Made with 2× · PNG; the settings are now 4× · PNG.');
  await h.addFile(page, 'second.png', photo(40, 30));
  await page.click('#start');
  assert.match((await h.settled(page, 1)).text, /160×120/);
  await page.waitForSelector('#job', { state: 'hidden' });
  assert.deepEqual(await statuses(), ['done'], 'the finished image did not run again');
  assert.match(await first.textContent(), /128×96/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-all')]);
  const entries = unzipSync(new Uint8Array(readFileSync(await download.path())));
  assert.deepEqual(Object.keys(entries).sort(), ['first@2x.png', 'second@4x.png'], 'each as it was made');

  // Running again is a choice, here for the one image.
  await first.locator('button.rerun').click();
  await page.waitForFunction(() => {
    const li = document.querySelector('#queue li');
    return li.dataset.status === 'done' && /256×192/.test(li.textContent);
  });
  assert.equal(await first.locator('.made').textContent(), 'Made with 4× · PNG.');
  assert.equal(await first.locator('button.rerun').count(), 0, 'up to date: nothing to run again');
  assert.equal(await page.locator('#queue li').nth(1).locator('button.rerun').count(), 0);

  await page.locator('#queue li').nth(1).locator('button.remove').click();
  assert.deepEqual(await page.$$eval('#queue li .name', (names) => names.map((n) => n.textContent)), ['first.png']);
  await h.addFile(page, 'third.png', photo(40, 30));
  await page.click('#clear-finished');
  assert.deepEqual(
    await page.$$eval('#queue li .name', (names) => names.map((n) => n.textContent)),
    ['third.png'],
    'only what is not finished is left',
  );
  assert.ok(await page.isHidden('#result'), 'a removed image’s result is no longer shown');
  assert.ok(await page.isDisabled('#download-all'));
});

test('cancel stops the running image only: a finished image keeps its result, and the next image starts', async (t) => {
  const { page } = await app(t);
  const finished = page.locator('#queue li').nth(0);
  await h.addFile(page, 'finished.png', photo(256, 192)); // 2 × 2 tiles on the CPU
  await h.setScale(page, 2);
  await page.click('#start');
  assert.match((await h.settled(page, 0)).text, /512×384/);
  const statuses = await watchStatuses(page, 0);

  // A new image, cancelled mid-way: the finished one is not touched.
  await h.setScale(page, 4);
  await h.addFile(page, 'new.png', photo(384, 192)); // 3 × 2 tiles
  await page.click('#start');
  await page.waitForFunction(() => /^Tile [1-9]\//.test(document.querySelector('#job-status').textContent));
  await page.click('#cancel');
  await page.waitForSelector('#job', { state: 'hidden' });
  assert.equal(await page.locator('#queue li').nth(1).getAttribute('data-status'), 'ready');
  assert.match(await page.locator('#queue li').nth(1).textContent(), /Cancelled/);
  assert.deepEqual(await statuses(), ['done']);
  assert.match(await finished.textContent(), /512×384/);

  // The finished image run again, the new one queued behind it; a cancel ends the re-run only.
  await finished.locator('button.rerun').click();
  await page.click('#start');
  await page.waitForFunction(
    () =>
      document.querySelector('#queue li').dataset.status === 'working' &&
      /^Tile [1-9]\//.test(document.querySelector('#job-status').textContent),
  );
  await page.click('#cancel');
  assert.equal((await h.settled(page, 1)).status, 'done', 'the new image ran after the cancel');
  assert.match(await page.locator('#queue li').nth(1).textContent(), /1536×768/);
  assert.equal(await finished.getAttribute('data-status'), 'done');
  assert.match(await finished.textContent(), /Cancelled; the earlier result is kept \(done in \d+:\d\d: 512×384/);
  assert.equal(await finished.locator('.made').textContent(), 'Made with 2× · PNG; the settings are now 4× · PNG.');
  await finished.locator('button.show').click();
  assert.match(await page.textContent('#result-info'), /finished\.png → 512×384 px/);
});

// ---- The comparison ------------------------------------------------------------------------

test('100 % opens centred on the split; zoomed, a drag pans and the handle moves the split (mouse, touch, keys); transparency shows as a checkerboard', async (t) => {
  const context = await env.browser.newContext({
    serviceWorkers: 'block',
    viewport: { width: 1100, height: 1000 },
    hasTouch: true,
  });
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(env.url);
  await page.waitForFunction(() => customElements.get('before-after'));
  // A 2000 px result, transparent on its right half, beside its 500 px original.
  await page.evaluate(async () => {
    const image = async (width, height, painted) => {
      const canvas = new OffscreenCanvas(width, height);
      const context = canvas.getContext('2d');
      for (let x = 0; x < painted * width; x += width / 20) {
        context.fillStyle = `hsl(${(x * 360) / width} 70% 45%)`;
        context.fillRect(x, 0, width / 20, height);
      }
      return URL.createObjectURL(await canvas.convertToBlob({ type: 'image/png' }));
    };
    document.getElementById('result').hidden = false;
    const compare = document.getElementById('compare');
    compare.setAttribute('before', await image(500, 375, 1));
    compare.setAttribute('after', await image(2000, 1500, 0.5));
    await compare.shadowRoot.querySelector('img.after').decode();
  });
  const look = () =>
    page.evaluate(() => {
      const root = document.getElementById('compare').shadowRoot;
      const frame = root.querySelector('.frame');
      const box = frame.getBoundingClientRect();
      const handle = root.querySelector('.handle').getBoundingClientRect();
      return {
        left: frame.scrollLeft,
        top: frame.scrollTop,
        width: frame.clientWidth,
        height: frame.clientHeight,
        split: document.getElementById('compare').split,
        handle: handle.left + handle.width / 2 - box.left,
        stage: root.querySelector('.stage').offsetWidth,
      };
    });
  await page.click('#compare .zoom');
  const zoomed = await look();
  t.diagnostic(JSON.stringify(zoomed));
  assert.equal(zoomed.stage, 2000);
  assert.ok(
    Math.abs(zoomed.left + zoomed.width / 2 - 1000) <= 1,
    `scrolled to ${zoomed.left}: the split at 1000 px is off centre`,
  );
  assert.ok(Math.abs(zoomed.top + zoomed.height / 2 - 750) <= 1, `scrolled down ${zoomed.top}`);
  assert.ok(Math.abs(zoomed.handle - zoomed.width / 2) <= 2, `the handle is at ${zoomed.handle} of ${zoomed.width} px`);

  // Mouse: a drag on the picture pans it and leaves the split where it is.
  const frame = await page.locator('#compare .frame').boundingBox();
  const [cx, cy] = [frame.x + frame.width / 2, frame.y + frame.height / 2];
  await page.mouse.move(cx - 100, cy + 100);
  await page.mouse.down();
  await page.mouse.move(cx - 300, cy + 40, { steps: 5 });
  await page.mouse.up();
  const panned = await look();
  assert.equal(panned.split, 50);
  assert.deepEqual([panned.left - zoomed.left, panned.top - zoomed.top], [200, 60]);

  // The handle's grip moves the split: 100 px of 2000.
  const grip = await page.locator('#compare .grip').boundingBox();
  await page.mouse.move(grip.x + grip.width / 2, grip.y + grip.height / 2);
  await page.mouse.down();
  await page.mouse.move(grip.x + grip.width / 2 + 100, grip.y + grip.height / 2, { steps: 5 });
  await page.mouse.up();
  const moved = await look();
  assert.ok(Math.abs(moved.split - 55) < 0.1, `split at ${moved.split} %`);
  assert.equal(moved.left, panned.left, 'moving the split does not pan');

  // Touch: a swipe on the picture pans it.
  const cdp = await context.newCDPSession(page);
  const touch = (type, x, y) =>
    cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x, y }] });
  await touch('touchStart', cx - 200, cy);
  for (let step = 1; step <= 5; step++) await touch('touchMove', cx - 200 + 30 * step, cy - 10 * step);
  await touch('touchEnd');
  const swiped = await look();
  assert.deepEqual([swiped.left - moved.left, swiped.top - moved.top, swiped.split], [-150, 50, moved.split]);
  h.artifact('compare-zoomed.png', await page.locator('#compare').screenshot());

  // Keys: the slider moves the split (kept in view), the focused picture pans.
  await page.focus('#compare input[type="range"]');
  await page.keyboard.press('End');
  const end = await look();
  assert.equal(end.split, 100);
  assert.equal(end.left, 2000 - end.width, 'scrolled to keep the split in view');
  await page.focus('#compare .frame');
  await page.keyboard.press('ArrowLeft');
  await page.waitForFunction(
    (left) => document.getElementById('compare').shadowRoot.querySelector('.frame').scrollLeft < left,
    end.left,
  );

  const style = await page.evaluate(() => {
    const root = document.getElementById('compare').shadowRoot;
    return {
      stage: getComputedStyle(root.querySelector('.stage')).backgroundImage,
      before: root.querySelector('img.before').style.clipPath,
    };
  });
  assert.match(style.stage, /conic-gradient/, 'a checkerboard behind the pictures');
  assert.match(
    style.before,
    /^inset\(0(px)? 0%/,
    'the original only on its side of the split, never behind the result',
  );
});

// ---- Plain words, transparency -------------------------------------------------------------

test('plain words in the main view, the technical ones under Details; a transparent image warns before JPEG flattens it', async (t) => {
  const { page } = await app(t);
  await h.chooseBackend(page, 'auto');
  await page.waitForFunction(() => document.querySelector('#load-status').textContent === 'Ready.');
  const main = await page.locator('main').innerText();
  assert.match(main, /Runs on this computer’s processor\./);
  assert.doesNotMatch(main, /swiftshader|Lanczos|models for|×2, ×3/i);
  await page.click('#details summary');
  const details = await page.locator('#details').innerText();
  t.diagnostic(details.replace(/\n+/g, ' | '));
  assert.match(details, /Running on the CPU \(WebAssembly\): the only WebGPU adapter is a software one/);
  const models = JSON.parse(readFileSync('www/models/index.json', 'utf8')).length;
  assert.match(
    details,
    new RegExp(`${models} models for ×2, ×3, ×4 \\((each downloaded when an image first needs it|all downloaded)\\)`),
  );
  assert.match(details, /Lanczos3/);
  assert.match(details, /alpha channel \(transparency\) with bicubic/);

  assert.equal(await page.inputValue('select[name="format"]'), 'png');
  assert.ok(await page.isDisabled('input[name="quality"]'));
  assert.match(await page.textContent('#quality-note'), /Only JPEG and lossy WebP have a quality/);
  const logo = await page.evaluate(async () => {
    const canvas = new OffscreenCanvas(48, 32);
    const context = canvas.getContext('2d');
    context.fillStyle = '#3b6fd8';
    context.beginPath();
    context.arc(24, 16, 12, 0, 2 * Math.PI);
    context.fill();
    return [...new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer())];
  });
  const transparent = await h.addFile(page, 'logo.png', Buffer.from(logo));
  const opaque = await h.addFile(page, 'photo.png', photo(48, 32));
  assert.ok(await page.isHidden('#alpha-warning'), 'PNG keeps transparency: no warning');
  await page.selectOption('select[name="format"]', 'jpeg');
  assert.ok(await page.isVisible('#alpha-warning'));
  assert.equal(
    await page.textContent('#alpha-warning'),
    '“logo.png” has transparent areas. JPEG cannot keep transparency: they will be flattened onto white. Choose PNG or WebP to keep it.',
  );
  assert.match(await transparent.locator('.warning').textContent(), /as a JPEG they will be flattened onto white/);
  assert.equal(await opaque.locator('.warning').count(), 0);
  h.artifact('transparency-warning.png', await page.screenshot({ fullPage: true }));
  await h.setScale(page, 2);
  await page.click('#start');
  await h.settled(page, 0);
  assert.match(await transparent.locator('.warning').textContent(), /were flattened onto white/);
  await page.selectOption('select[name="format"]', 'webp');
  assert.ok(await page.isHidden('#alpha-warning'));
});

// ---- Accessibility and looks ---------------------------------------------------------------

const LOOKS = {
  desktop: { viewport: { width: 1100, height: 1000 } },
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  dark: { viewport: { width: 1100, height: 1000 }, colorScheme: 'dark' },
};

for (const [look, options] of Object.entries(LOOKS)) {
  test(`${look}: axe-core finds nothing serious, the result is scrolled to and focused, failures are announced; a screenshot`, async (t) => {
    const context = await env.browser.newContext({ serviceWorkers: 'block', ...options });
    t.after(() => context.close());
    const failed = [];
    context.on(
      'response',
      (response) => response.status() >= 400 && failed.push(`${response.status()} ${response.url()}`),
    );
    const { page, errors } = await h.openApp(env, { context });

    await h.addFile(page, 'notes.png', Buffer.from('just some text, not an image'));
    assert.match(await page.textContent('#announce'), /^notes\.png: Can’t read this file: not an image/);
    await h.addFile(page, 'photo.png', photo(120, 90));
    await h.setScale(page, 2);
    await page.click('#start');
    assert.equal((await h.settled(page, 1)).status, 'done');
    await page.waitForSelector('#job', { state: 'hidden' });
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'result-title', 'the result has the focus');
    // In view: all of it, or from its top when it is taller than the view.
    const inView = () => {
      const { top, bottom } = document.getElementById('result').getBoundingClientRect();
      return top >= -1 && (bottom <= innerHeight + 1 || top <= 1);
    };
    await page.waitForFunction(inView, null, { timeout: 5000 }).catch(() => {});
    const result = await page.locator('#result').boundingBox();
    assert.ok(
      await page.evaluate(inView),
      `the result is at ${result.y}–${result.y + result.height} px in a ${options.viewport.height} px view`,
    );
    assert.match(await page.textContent('#announce'), /^photo\.png is done: 240×180 pixels\.$/);

    if (look === 'phone') {
      assert.doesNotMatch(
        await page.locator('#drop').innerText(),
        /Ctrl|drop/,
        'no keyboard or drag hints on a touch screen',
      );
      const small = await page.$$eval('button, input, select, summary', (controls) =>
        controls
          .filter((c) => c.checkVisibility() && c.type !== 'file')
          .map((c) => ({ what: c.name || c.id || c.className || c.textContent, box: c.getBoundingClientRect() }))
          .filter(({ box }) => box.width < 24 || box.height < 24)
          .map(({ what, box }) => `${what}: ${box.width}×${box.height}`),
      );
      assert.deepEqual(small, [], 'controls under 24 px');
    }
    // A phone's screen as it is when the job ends, and from the top (a full-page capture would
    // drop the touch emulation); the others whole.
    if (look === 'phone') {
      h.artifact('page-phone.png', await page.screenshot());
      await page.evaluate(() => scrollTo(0, 0));
      h.artifact('page-phone-top.png', await page.screenshot());
    } else {
      h.artifact(`page-${look}.png`, await page.screenshot({ fullPage: true }));
    }
    await page.click('#details summary');
    const violations = await h.axeViolations(page);
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
    assert.deepEqual(failed, [], 'no request failed (the favicon included)');
    assert.deepEqual(errors, []);
  });
}
