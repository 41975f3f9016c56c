// The page as a new user meets it: no image left out of a batch, no dead end after a refusal,
// no number quietly replaced, no text sent as a product photo, the main action in reach on a
// phone and a download on every finished image.

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

/** Chooses `count` copies of a `width`×`height` JPEG (stripes on a gradient, made by the page's
 *  canvas) through the file picker, as one choice: `${prefix}-1.jpg`, `${prefix}-2.jpg`, … */
async function chooseJpegs(page, count, width, height, prefix = 'photo') {
  await page.evaluate(async ({ count, width, height, prefix }) => {
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d');
    const gradient = context.createLinearGradient(0, 0, width, height);
    gradient.addColorStop(0, '#2a6');
    gradient.addColorStop(1, '#c52');
    context.fillStyle = gradient;
    context.fillRect(0, 0, width, height);
    context.fillStyle = '#fff';
    for (let x = 0; x < width; x += 64) context.fillRect(x, 0, 8, height);
    const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.85 });
    const transfer = new DataTransfer();
    for (let i = 1; i <= count; i++) transfer.items.add(new File([blob], `${prefix}-${i}.jpg`, { type: 'image/jpeg' }));
    const input = document.getElementById('files');
    input.files = transfer.files;
    input.dispatchEvent(new Event('change', { bubbles: true }));
  }, { count, width, height, prefix });
}

const statuses = (page) => page.$$eval('#queue li', (lis) => lis.map((li) => li.dataset.status));

/** Waits until nothing is being checked, waits or runs. */
async function batchOver(page) {
  await page.waitForFunction(() => document.getElementById('job').hidden &&
    [...document.querySelectorAll('#queue li')].every((li) => !['checking', 'queued', 'working'].includes(li.dataset.status)),
  null, { timeout: 600_000 });
}

test('eight large photos, Upscale clicked while they are still being checked: all eight are made and zipped', async (t) => {
  const { page } = await app(t);
  await page.check('input[name="size"][value="longEdge"]');
  await page.fill('input[name="longEdge"]', '1280');
  const chosen = Date.now();
  await chooseJpegs(page, 8, 5120, 3200);
  await page.waitForSelector('#start:enabled');
  const checking = (await statuses(page)).filter((status) => status === 'checking').length;
  t.diagnostic(`Upscale enabled ${Date.now() - chosen} ms after the choice, with ${checking} of 8 still being checked`);
  await page.click('#start');
  await batchOver(page);
  const texts = await page.$$eval('#queue li', (lis) => lis.map((li) => li.textContent));
  assert.deepEqual(await statuses(page), Array(8).fill('done'), texts.join('\n'));
  for (const text of texts) assert.match(text, /1280×800/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-all')]);
  const entries = unzipSync(new Uint8Array(readFileSync(await download.path())));
  assert.deepEqual(Object.keys(entries).sort(), Array.from({ length: 8 }, (_, i) => `photo-${i + 1}@1280px.png`).sort());
});

test('an image too large at 4× names the scale that fits, and runs once the scale changes', async (t) => {
  const { page } = await app(t);
  await h.setScale(page, 4);
  await chooseJpegs(page, 1, 4000, 3200, 'poster');
  await page.waitForFunction(() => document.querySelector('#queue li')?.dataset.status === 'ready');
  await page.click('#start');
  await batchOver(page);
  const item = page.locator('#queue li').nth(0);
  assert.equal(await item.getAttribute('data-status'), 'refused');
  assert.match(await item.textContent(),
    /Too large: the output would be 16000×12800 = 204\.8 megapixels, over the limit of 200\.0 megapixels\. 3× fits: 12000×9600 pixels\./);
  assert.ok(await page.isDisabled('#start'), 'the same settings would be refused again');

  await h.setScale(page, 2);
  assert.ok(await page.isEnabled('#start'), 'new settings make it runnable');
  assert.match(await item.textContent(), /The settings have changed since: Upscale tries it again with these\./);
  await page.click('#start');
  // It runs: the network's first tile is done. A 2× of 12.8 megapixels takes long: cancelled.
  await page.waitForFunction(() => /^Tile [1-9]\d*\//.test(document.querySelector('#job-status').textContent), null, { timeout: 120_000 });
  assert.equal(await item.getAttribute('data-status'), 'working');
  await page.click('#cancel');
  await batchOver(page);
  assert.equal(await item.getAttribute('data-status'), 'ready');

  // Back at 4×, it is refused again, and says so when Upscale is clicked.
  await h.setScale(page, 4);
  await page.click('#start');
  await batchOver(page);
  assert.equal(await item.getAttribute('data-status'), 'refused');
});
