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
  await page.evaluate(
    async ({ count, width, height, prefix }) => {
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
      for (let i = 1; i <= count; i++)
        transfer.items.add(new File([blob], `${prefix}-${i}.jpg`, { type: 'image/jpeg' }));
      const input = document.getElementById('files');
      input.files = transfer.files;
      input.dispatchEvent(new Event('change', { bubbles: true }));
    },
    { count, width, height, prefix },
  );
}

const statuses = (page) => page.$$eval('#queue li', (lis) => lis.map((li) => li.dataset.status));

/** Waits until nothing is being checked, waits or runs. */
async function batchOver(page) {
  await page.waitForFunction(
    () =>
      document.getElementById('job').hidden &&
      [...document.querySelectorAll('#queue li')].every(
        (li) => !['checking', 'queued', 'working'].includes(li.dataset.status),
      ),
    null,
    { timeout: 600_000 },
  );
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
  assert.deepEqual(
    Object.keys(entries).sort(),
    Array.from({ length: 8 }, (_, i) => `photo-${i + 1}@1280px.png`).sort(),
  );
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
  assert.match(
    await item.textContent(),
    /Too large: the output would be 16000×12800 = 204\.8 megapixels, over the limit of 200\.0 megapixels\. 3× fits: 12000×9600 pixels\./,
  );
  assert.ok(await page.isDisabled('#start'), 'the same settings would be refused again');

  await h.setScale(page, 2);
  assert.ok(await page.isEnabled('#start'), 'new settings make it runnable');
  assert.match(await item.textContent(), /The settings have changed since: Upscale tries it again with these\./);
  await page.click('#start');
  // It runs: the network's first tile is done. A 2× of 12.8 megapixels takes long: cancelled.
  await page.waitForFunction(() => /^Tile [1-9]\d*\//.test(document.querySelector('#job-status').textContent), null, {
    timeout: 120_000,
  });
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

test('an invalid long edge is marked and said, Upscale waits, and the last valid one is kept; a smaller one says no model runs', async (t) => {
  const { page } = await app(t);
  await h.addFile(page, 'photo.png', photo(400, 300));
  await page.check('input[name="size"][value="longEdge"]');
  await page.fill('input[name="longEdge"]', '1000');
  assert.ok(await page.isEnabled('#start'));
  assert.ok(await page.isHidden('#size-problem'));

  for (const typed of ['', '0', '99999', '12.5']) {
    await page.fill('input[name="longEdge"]', typed);
    await page.press('input[name="longEdge"]', 'Tab'); // leaving the field used to put 2000 back
    assert.equal(await page.inputValue('input[name="longEdge"]'), typed, 'what was typed stays to be fixed');
    assert.equal(await page.getAttribute('input[name="longEdge"]', 'aria-invalid'), 'true', typed);
    assert.equal(await page.textContent('#size-problem'), 'Long edge: enter a whole number of pixels from 1 to 65535.');
    assert.ok(await page.isDisabled('#start'), `no run with a long edge of “${typed}”`);
    assert.equal(await page.textContent('#start-note'), 'Upscale waits for a valid size (see Size).');
  }
  // Another kind of size does not wait for it, and takes back the last valid long edge.
  await h.setScale(page, 2);
  assert.ok(await page.isEnabled('#start'));
  assert.ok(await page.isHidden('#size-problem'));
  assert.equal(await page.inputValue('input[name="longEdge"]'), '1000');

  await page.fill('input[name="longEdge"]', '');
  await page.reload();
  await page.waitForSelector('#loading[data-state="done"]');
  assert.equal(await page.inputValue('input[name="longEdge"]'), '1000', 'the last valid long edge is remembered');
  await h.chooseBackend(page, 'cpu');

  // Smaller than the image: it is only resized, and says so before and after.
  const item = await h.addFile(page, 'photo.png', photo(400, 300));
  await page.fill('input[name="longEdge"]', '200');
  assert.match(
    await item.locator('.warning').textContent(),
    /^These settings make it smaller, not larger: the size asked for is no larger than the image, so no model sharpens it\.$/,
  );
  await page.click('#start');
  assert.equal((await h.settled(page, 0)).status, 'done');
  assert.match(await item.textContent(), /200×150/);
  assert.match(await item.locator('.plain').textContent(), /^Only resized: /);
});

test('the embed never offers a text file named .jpg as the original: the form stays blocked; axe-core finds nothing serious', async (t) => {
  const context = await env.browser.newContext({ serviceWorkers: 'block' });
  t.after(() => context.close());
  const page = await context.newPage();
  const posts = [];
  page.on('request', (request) => request.method() === 'POST' && posts.push(request.url()));
  await page.goto(`${env.url}embed-demo.html`);
  await page.evaluate(() => {
    window.failed = new Promise((resolve) =>
      document.addEventListener('upres-error', ({ detail }) => resolve(detail.message), { once: true }),
    );
  });
  await page.setInputFiles('#product-photo', {
    name: 'notes.jpg',
    mimeType: 'image/jpeg',
    buffer: Buffer.from('Order 12 aprons by Friday.\n'),
  });
  assert.match(await page.evaluate(() => window.failed), /not an image/);
  assert.ok(
    await page.isHidden('upres-upscaler button.original'),
    'no “Use the original” for a file that is not an image',
  );
  assert.match(
    await page.$eval('#product-photo', (input) => input.validationMessage),
    /^This file cannot be used as an image: .*Choose an image file\.$/,
  );
  assert.match(
    await page.locator('upres-upscaler .status').textContent(),
    /The form will not send it: choose an image file\.$/,
  );
  await page.click('button[type="submit"]');
  assert.equal(await page.$eval('form', (form) => form.checkValidity()), false);
  assert.deepEqual(posts, [], 'the form was not sent');
  const violations = await h.axeViolations(page);
  assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
});

const LAYOUTS = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1280, height: 900 } },
};

for (const [layout, options] of Object.entries(LAYOUTS)) {
  test(`${layout}: Upscale is in view once images are chosen, without scrolling; each finished image has a download; axe-core finds nothing serious; a screenshot`, async (t) => {
    const context = await env.browser.newContext({ serviceWorkers: 'block', ...options });
    t.after(() => context.close());
    const { page, errors } = await h.openApp(env, { context });
    await h.setScale(page, 2);
    await page.evaluate(() => scrollTo(0, 0));
    await page.setInputFiles('#files', [
      { name: 'shirt.png', mimeType: 'image/png', buffer: photo(120, 90) },
      { name: 'mug.png', mimeType: 'image/png', buffer: photo(90, 120) },
    ]);
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#queue li')].every((li) => li.dataset.status === 'ready'),
    );
    const seen = await page.evaluate(() => {
      const box = document.getElementById('start').getBoundingClientRect();
      const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
      return {
        scrollY,
        width: document.documentElement.scrollWidth,
        top: box.top,
        bottom: box.bottom,
        onTop: top?.id === 'start',
      };
    });
    t.diagnostic(JSON.stringify(seen));
    assert.equal(seen.scrollY, 0, 'nothing was scrolled');
    assert.ok(
      seen.width <= options.viewport.width,
      `the page is ${seen.width} px wide: a wider one moves the bar off screen`,
    );
    assert.ok(
      seen.top >= 0 && seen.bottom <= options.viewport.height,
      `Upscale at ${seen.top}–${seen.bottom} px in a ${options.viewport.height} px view`,
    );
    assert.ok(seen.onTop, 'nothing covers Upscale');
    assert.ok(await page.isHidden('#format-note'), 'why some formats are missing is one click away');
    h.artifact(`layout-${layout}-chosen.png`, await page.screenshot());

    await page.click('#start');
    await batchOver(page);
    assert.deepEqual(await statuses(page), ['done', 'done']);
    const mug = page.locator('#queue li').nth(1);
    const [download] = await Promise.all([page.waitForEvent('download'), mug.locator('a.download').click()]);
    assert.equal(download.suggestedFilename(), 'mug@2x.png');
    const image = h.decodePng(readFileSync(await download.path()));
    assert.deepEqual([image.width, image.height], [180, 240]);
    assert.equal(await mug.locator('a.download').getAttribute('aria-label'), 'Download mug@2x.png');
    h.artifact(`layout-${layout}-done.png`, await page.screenshot());
    const violations = await h.axeViolations(page);
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
    assert.deepEqual(errors, []);
  });
}

test('plain words first: what the model did to the picture, the precise terms one click away; a text file is “not an image” without jargon', async (t) => {
  const { page } = await app(t);
  await h.setScale(page, 2);
  const text = await h.addFile(page, 'notes.png', Buffer.from('just some text, not an image'));
  assert.match(
    await text.textContent(),
    /Can’t read this file: not an image: upres reads PNG, JPEG, WebP, BMP, GIF and TIFF files, and this is none of them/,
  );
  assert.doesNotMatch(await text.textContent(), /signature/);
  await h.addFile(page, 'photo.jpg', await h.jpegInPage(page, 64, 48, 0.5), 'image/jpeg');
  await page.click('#start');
  assert.equal((await h.settled(page, 1)).status, 'done');
  const item = page.locator('#queue li').nth(1);
  assert.equal(
    await item.locator('.plain').innerText(),
    'Enlarged by the model for compressed photos: it smooths JPEG blocks away rather than sharpening them.',
  );
  assert.doesNotMatch(
    await item.innerText(),
    /JPEG quality ≈|compression-aware/,
    'the precise terms are one click away',
  );
  await item.locator('.more summary').click();
  assert.match(await item.locator('.route').innerText(), /JPEG quality ≈ 50\b.*compression-aware/);
});

test('white letters on a transparent logo at 4× keep white edges: the colour under transparency does not draw a dark outline', async (t) => {
  const { page } = await app(t);
  // Canvas leaves every transparent pixel black (0, 0, 0, 0), as many exported logos are.
  const logo = await page.evaluate(async () => {
    const canvas = new OffscreenCanvas(120, 48);
    const context = canvas.getContext('2d');
    context.fillStyle = '#fff';
    context.font = 'bold 30px sans-serif';
    context.fillText('upres', 10, 36);
    return [...new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer())];
  });
  await h.setScale(page, 4);
  await h.addFile(page, 'logo.png', Buffer.from(logo));
  const { bytes } = await h.upscaleAndDownload(page, 0);
  // The darkest of the result's fully opaque pixels: white letters have no darker ones.
  const darkest = await page.evaluate(
    async (data) => {
      const bitmap = await createImageBitmap(new Blob([new Uint8Array(data)]), { premultiplyAlpha: 'none' });
      const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d');
      context.drawImage(bitmap, 0, 0);
      const pixels = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
      let min = 255;
      for (let i = 0; i < pixels.length; i += 4)
        if (pixels[i + 3] === 255) min = Math.min(min, pixels[i], pixels[i + 1], pixels[i + 2]);
      return min;
    },
    [...bytes],
  );
  t.diagnostic(`darkest opaque pixel: ${darkest}`);
  assert.ok(darkest >= 245, `an opaque pixel of the white letters is ${darkest} of 255: a dark outline`);
});
