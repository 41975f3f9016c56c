// The page's behaviour around a job: cancelling, bad files, a responsive main thread, the
// network it uses, offline use, GPU failure, options, which model runs on which input, downloads,
// and what it looks like.

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

async function app(t, options) {
  const opened = await h.openApp(env, options);
  t.after(() => opened.context.close());
  return opened;
}

test('cancel stops within one tile, and the next job succeeds', async (t) => {
  const { page } = await app(t);
  await h.addFile(page, 'big.png', photo(512, 384)); // 4 × 3 tiles on the CPU
  await h.setScale(page, 4);
  await page.click('#start');
  await page.waitForFunction(() => /^Tile [2-9]\//.test(document.querySelector('#job-status').textContent));
  const atCancel = Number((await page.textContent('#job-status')).match(/^Tile (\d+)/)[1]);
  await page.click('#cancel');
  await page.waitForFunction(() => document.querySelector('#queue li').textContent.includes('Cancelled'), null, { timeout: 30_000 });
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
  const corrupt = Buffer.concat([good.subarray(0, 33), Buffer.from([0, 0, 0, 40]), Buffer.from('IDAT'), Buffer.alloc(44, 0x5a)]);
  const oversized = h.encodePng(4, 4, h.testImage(4, 4), { width: 50_000, height: 50_000 });

  const cases = [
    ['corrupt.png', corrupt, /Can’t read this file: truncated or corrupt PNG data/],
    ['huge.png', oversized, /Too large: the input would be 50000×50000 = 2500\.0 megapixels, over the limit of 40\.0 megapixels/],
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
  const gaps = await page.evaluate(() => (clearInterval(window.ticker), window.gaps));
  const worst = Math.max(...gaps);
  t.diagnostic(`${gaps.length} ticks, longest gap ${worst.toFixed(0)} ms`);
  assert.ok(gaps.length > 20, 'the job ran long enough to measure');
  assert.ok(worst < 200, `a ${worst.toFixed(0)} ms gap on the main thread`);
});

test('every request is to its own origin, and none once the model is loaded', async (t) => {
  const { page, requests } = await app(t);
  const loaded = requests.length;
  await h.addFile(page, 'photo.png', photo(96, 64));
  await h.setScale(page, 4);
  await h.upscaleAndDownload(page, 0);
  const foreign = requests.filter((url) => !url.startsWith(env.origin) && !url.startsWith(`blob:${env.origin}`));
  assert.deepEqual(foreign, []);
  assert.ok(requests.some((url) => url.endsWith('.bpk')), 'the model came over the network log');
  assert.deepEqual(requests.slice(loaded).filter((url) => !url.startsWith('blob:')), []);
});

test('a second visit works offline', async (t) => {
  const { page, context } = await app(t);
  await page.waitForFunction(async () => (await navigator.serviceWorker.getRegistration())?.active && navigator.serviceWorker.controller);
  await context.setOffline(true);
  await page.reload();
  await page.waitForSelector('#loading[data-state="done"]', { timeout: 60_000 });
  await h.chooseBackend(page, 'cpu');
  await h.addFile(page, 'photo.png', photo(48, 32));
  await h.setScale(page, 2);
  assert.equal((await h.upscaleAndDownload(page, 0)).name, 'photo@2x.png');
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
      new MutationObserver(() => window.announced.push(status.textContent)).observe(status, { childList: true, characterData: true, subtree: true });
    });
    await h.addFile(page, 'photo.png', bytes);
    await h.setScale(page, 2);
    const result = await h.upscaleAndDownload(page, 0);
    const announced = await page.evaluate(() => window.announced.filter((text) => text.startsWith('Running on')));
    t.diagnostic(announced.join(' | '));
    assert.match(announced.at(-1), /WebGPU failed even with 64-pixel tiles/);
    assert.ok(announced.some((text) => /retried with 128-pixel tiles/.test(text)), 'a retry with 128-pixel tiles');
    assert.ok(announced.some((text) => /retried with 64-pixel tiles/.test(text)), 'a retry with 64-pixel tiles');
    assert.equal(await page.evaluate(() => document.body.dataset.backend), 'cpu');
    assert.equal(result.name, reference.name);
    assert.ok(result.bytes.equals(reference.bytes), 'the same file as a job that ran on the CPU from the start');
  });
}

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

  // A new choice makes both results stale: the batch runs them again.
  await page.selectOption('select[name="input"]', 'clean');
  await page.click('#start');
  await page.waitForSelector('#job', { state: 'hidden', timeout: 300_000 });
  for (const index of [0, 1]) {
    assert.equal((await h.settled(page, index)).status, 'done');
    assert.match(await route(index), /clean model, as chosen/);
  }

  await page.reload();
  await page.waitForSelector('#loading[data-state="done"]');
  assert.equal(await page.inputValue('select[name="input"]'), 'clean', 'the choice is remembered');
});

test('drop, paste, download all, and a screenshot of the result', async (t) => {
  const { page } = await app(t);
  const bytes = [...photo(120, 90)];
  for (const event of ['drop', 'paste']) {
    await page.evaluate(([type, data]) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(data)], `${type}.png`, { type: 'image/png' }));
      const init = type === 'drop' ? { dataTransfer: transfer } : { clipboardData: transfer };
      document.dispatchEvent(type === 'drop' ? new DragEvent('drop', init) : new ClipboardEvent('paste', init));
    }, [event, bytes]);
  }
  await page.waitForFunction(() => [...document.querySelectorAll('#queue li')].map((li) => li.dataset.status).join() === 'ready,ready');
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
