// upres on other people's pages (www/upres.js): the demo product form, what it does when
// upscaling fails, a host page with hostile CSS, two widgets at once, the JavaScript API, which
// model runs on which input, abort, and self-hosted models. Host pages live at their own path,
// not beside upres.js, as a store's admin pages would.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as h from './harness.mjs';

let env;
const photo = (width, height) => h.encodePng(width, height, h.testImage(width, height));
const UPRES = `${h.PREFIX}upres.js`;
const HOST_PATH = '/admin/products/7/edit';

before(async () => {
  env = await h.start();
});
after(() => env?.close());

/** A fresh context whose every request is logged, and a page in it. */
async function browse(t) {
  const context = await env.browser.newContext({ serviceWorkers: 'block' });
  t.after(() => context.close());
  const requests = [];
  context.on('request', (request) => requests.push(new URL(request.url()).pathname));
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));
  const workers = [];
  page.on('worker', (worker) => workers.push(worker.url()));
  return { context, page, requests, errors, workers };
}

/** A store's admin page at HOST_PATH with `html` as its body; with `countTileWorkers`, also
 *  `tileWorkers()`, how many tile workers its upscalers have started (harness.watchTileWorkers). */
async function hostPage(t, html, { countTileWorkers = false } = {}) {
  const opened = await browse(t);
  if (countTileWorkers) opened.tileWorkers = await h.watchTileWorkers(t, opened.context);
  await opened.context.route(`${env.origin}${HOST_PATH}`, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><html lang="en"><head><meta charset="utf-8"></head><body>${html}</body></html>`,
    }),
  );
  await opened.page.goto(`${env.origin}${HOST_PATH}`);
  return opened;
}

/**
 * Starts listening for the widget's next `upres-done` or `upres-error`; the function it resolves
 * to waits for that event's { width, height, name, type } or { error }.
 */
async function watch(page, selector) {
  await page.evaluate((selector) => {
    const widget = document.querySelector(selector);
    widget.outcome = new Promise((resolve) => {
      widget.addEventListener(
        'upres-done',
        ({ detail }) =>
          resolve({ width: detail.width, height: detail.height, name: detail.blob.name, type: detail.blob.type }),
        { once: true },
      );
      widget.addEventListener('upres-error', ({ detail }) => resolve({ error: detail.message }), { once: true });
    });
  }, selector);
  return () => page.evaluate((selector) => document.querySelector(selector).outcome, selector);
}

const status = (page, selector = 'upres-upscaler') => page.locator(`${selector} .status`).textContent();

/** The parts of a multipart/form-data body: { name, filename, type, bytes }. */
function formParts(contentType, body) {
  const boundary = Buffer.from(`--${contentType.match(/boundary=(.+)$/)[1]}`);
  const parts = [];
  for (let start = body.indexOf(boundary) + boundary.length; ; ) {
    const end = body.indexOf(boundary, start);
    if (end < 0) return parts;
    const part = body.subarray(start + 2, end - 2); // between the CRLFs around the boundaries
    const split = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, split).toString('utf8');
    parts.push({
      name: headers.match(/ name="([^"]*)"/)[1],
      filename: headers.match(/ filename="([^"]*)"/)?.[1],
      type: headers.match(/^Content-Type: (.+)$/im)?.[1],
      bytes: part.subarray(split + 4),
    });
    start = end + boundary.length;
  }
}

/** Width and height from a JPEG's frame header. */
function jpegSize(bytes) {
  assert.deepEqual([...bytes.subarray(0, 2)], [0xff, 0xd8], 'a JPEG file');
  for (let at = 2; at + 9 < bytes.length; at += 2 + bytes.readUInt16BE(at + 2)) {
    const marker = bytes[at + 1];
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return { width: bytes.readUInt16BE(at + 7), height: bytes.readUInt16BE(at + 5) };
    }
  }
  throw new Error('no JPEG frame header');
}

test('the demo product form sends the upscaled 2000 px photo, never the original', async (t) => {
  const { page, requests, errors } = await browse(t);
  const posts = [];
  await page.route('**/embed-demo.html', (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    posts.push(route.request());
    return route.fulfill({ contentType: 'text/html', body: '<p>Saved.</p>' });
  });
  // The WebAssembly download waits until the early save below has been tried.
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  await page.route('**/upres_bg.wasm', async (route) => {
    await held;
    await route.continue();
  });
  await page.goto(`${env.url}embed-demo.html`);
  assert.match(await status(page), /upscaled to 2000 px on the long edge in this browser before it sends them/);

  const result = await watch(page, 'upres-upscaler');
  await page.evaluate(() => {
    window.stages = [];
    document.addEventListener('upres-progress', ({ detail }) => window.stages.push(detail.stage));
  });
  const started = Date.now();
  await page.setInputFiles('#product-photo', { name: 'apron.png', mimeType: 'image/png', buffer: photo(500, 375) });

  // Saved too early: the browser refuses the form (the photo is still the small original).
  await page.click('button[type="submit"]');
  assert.match(await page.$eval('#product-photo', (input) => input.validationMessage), /still being upscaled/);
  release();
  assert.deepEqual(await result(), { width: 2000, height: 1500, name: 'apron@2000px.jpg', type: 'image/jpeg' });
  t.diagnostic(`file chosen to upscaled file in the form (cold, wasm download included): ${Date.now() - started} ms`);
  const stages = await page.evaluate(() => window.stages);
  assert.ok(stages.includes('download') && stages.at(-1) === 'upscale', `progress stages: ${[...new Set(stages)]}`);
  assert.equal(posts.length, 0, 'nothing was sent before the photo was ready');
  assert.match(
    await status(page),
    /Upscaled to 2000×1500 px \(PNG: clean model\): the form will send apron@2000px\.jpg/,
  );

  await Promise.all([page.waitForURL('**/embed-demo.html'), page.click('button[type="submit"]')]);
  assert.equal(posts.length, 1);
  const parts = formParts(await posts[0].headerValue('content-type'), posts[0].postDataBuffer());
  assert.deepEqual(
    parts.map((p) => p.name),
    ['title', 'price', 'photo'],
    'the form’s own fields, and only those',
  );
  assert.equal(parts[0].bytes.toString(), 'Linen apron, sage');
  const sent = parts[2];
  assert.equal(sent.filename, 'apron@2000px.jpg');
  assert.equal(sent.type, 'image/jpeg');
  assert.deepEqual(jpegSize(sent.bytes), { width: 2000, height: 1500 });
  assert.equal(requests.filter((path) => path.endsWith('upres_bg.wasm')).length, 1);
  assert.deepEqual(errors, []);
});

test('a failed upscale leaves the input invalid until another image or, for an image, “Use the original”; the status names each stage; axe-core finds nothing serious', async (t) => {
  const { page, errors } = await browse(t);
  await page.goto(`${env.url}embed-demo.html`);
  await page.evaluate(() => {
    const status = document.querySelector('upres-upscaler').shadowRoot.querySelector('.status');
    window.statuses = [];
    new MutationObserver(() => window.statuses.push(status.textContent)).observe(status, {
      childList: true,
      characterData: true,
      subtree: true,
    });
    window.stages = [];
    document.addEventListener('upres-progress', ({ detail }) =>
      window.stages.push(`${detail.stage} ${detail.done}/${detail.total}`),
    );
  });
  const validity = () => page.$eval('#product-photo', (input) => input.validationMessage);
  const formIsValid = () => page.$eval('form', (form) => form.checkValidity());
  const notAnImage = (name) => ({ name, mimeType: 'image/png', buffer: Buffer.from('just some text, not an image') });

  let outcome = await watch(page, 'upres-upscaler');
  await page.setInputFiles('#product-photo', notAnImage('notes.png'));
  assert.match((await outcome()).error, /not an image/);
  assert.match(
    await validity(),
    /^This file cannot be used as an image: Can’t read this file: not an image\b.*\. Choose an image file\.$/,
  );
  assert.equal(await formIsValid(), false, 'the form refuses to send a file that is not an image');
  assert.ok(await page.isHidden('upres-upscaler button.original'), 'text is never offered as the original');

  // Each stage said as it is: never "100 %" while the engine starts.
  const statuses = await page.evaluate(() => window.statuses);
  t.diagnostic([...new Set(statuses.map((text) => text.replace(/\d+ %/, 'n %')))].join(' | '));
  const first = (pattern) => statuses.findIndex((text) => pattern.test(text));
  const [download, starting, upscaling] = [
    /^Downloading the upscaler: \d+ %$/,
    /^Starting the upscaler…$/,
    /^Upscaling…$/,
  ].map(first);
  assert.ok(download >= 0 && download < starting && starting < upscaling, statuses.join(' | '));
  assert.deepEqual(
    statuses.slice(starting).filter((text) => /Downloading/.test(text)),
    [],
  );
  assert.match(statuses.at(-1), /^Can’t read this file: not an image/);
  const stages = await page.evaluate(() => window.stages);
  assert.ok(stages.includes('start 0/1') && stages.indexOf('start 0/1') < stages.indexOf('start 1/1'), stages.join());

  const violations = await h.axeViolations(page);
  assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
  h.artifact('embed-failed.png', await page.screenshot({ fullPage: true }));

  // An image that cannot be upscaled (its header says 8000×6000, over the input limit) may go as
  // it is.
  outcome = await watch(page, 'upres-upscaler');
  const poster = h.encodePng(4, 4, h.testImage(4, 4), { width: 8000, height: 6000 });
  await page.setInputFiles('#product-photo', { name: 'poster.png', mimeType: 'image/png', buffer: poster });
  assert.match((await outcome()).error, /over the limit/);
  assert.match(
    await validity(),
    /^This image could not be upscaled: Too large: .*\. Choose another image, or choose “Use the original” to send it as it is\.$/,
  );
  assert.equal(await formIsValid(), false, 'the form refuses to send the small original');
  await page.click('upres-upscaler button.original');
  assert.equal(await validity(), '');
  assert.equal(await formIsValid(), true);
  assert.equal(await status(page), 'The form will send the original: poster.png.');
  assert.ok(await page.isHidden('upres-upscaler button.original'));

  // Another failure refuses the form again; a good image then goes through.
  outcome = await watch(page, 'upres-upscaler');
  await page.setInputFiles('#product-photo', notAnImage('broken.png'));
  assert.match((await outcome()).error, /not an image/);
  assert.match(await validity(), /^This file cannot be used as an image/);
  await page.evaluate(() => {
    window.statuses = [];
  });
  outcome = await watch(page, 'upres-upscaler');
  await page.setInputFiles('#product-photo', { name: 'apron.png', mimeType: 'image/png', buffer: photo(500, 375) });
  assert.deepEqual(await outcome(), { width: 2000, height: 1500, name: 'apron@2000px.jpg', type: 'image/jpeg' });
  assert.equal(await validity(), '');
  assert.ok(await page.isHidden('upres-upscaler button.original'));
  const warm = await page.evaluate(() => window.statuses);
  assert.ok(
    warm.some((text) => /^Upscaling: \d+ of \d+ tiles$/.test(text)),
    warm.join(' | '),
  );
  assert.deepEqual(
    warm.filter((text) => /Downloading|Starting/.test(text)),
    [],
    'the engine already runs',
  );
  assert.deepEqual(await page.$eval('#product-photo', (input) => [...input.files].map((file) => file.name)), [
    'apron@2000px.jpg',
  ]);
  assert.deepEqual(errors, []);
});

test('hostile page CSS neither breaks the widget nor is changed by it', async (t) => {
  const { page, errors } = await hostPage(
    t,
    `
    <style>
      * { all: unset; }
      html { font-size: 90px; }
      body { font-size: 3em; line-height: 4; letter-spacing: .5em; color: magenta; }
      upres-upscaler { font-size: 120px; line-height: 6; text-transform: uppercase; word-spacing: 2em; }
      button, p, div, span, progress, input { font-size: 150px !important; padding: 60px !important; border: 40px solid red !important; }
    </style>
    <p id="text">Product description</p>
    <button id="button" type="button">Host button</button>
    <upres-upscaler scale="2"></upres-upscaler>`,
  );
  const look = () =>
    page.evaluate(() => ({
      styles: ['#text', '#button'].map((selector) => {
        const style = getComputedStyle(document.querySelector(selector));
        return Object.fromEntries([...style].map((name) => [name, style.getPropertyValue(name)]));
      }),
      sheets: document.styleSheets.length + document.adoptedStyleSheets.length,
    }));
  const before = await look();
  await page.addScriptTag({ type: 'module', url: UPRES });
  await page.waitForFunction(() => customElements.get('upres-upscaler'));
  assert.deepEqual(await look(), before, 'the page looks exactly as before the widget arrived');

  const widget = await page.locator('upres-upscaler .widget').evaluate((root) => {
    const button = root.querySelector('button');
    const style = getComputedStyle(button);
    return {
      height: root.getBoundingClientRect().height,
      button: {
        fontSize: style.fontSize,
        textTransform: style.textTransform,
        letterSpacing: style.letterSpacing,
        width: button.getBoundingClientRect().width,
      },
      status: getComputedStyle(root.querySelector('.status')).fontSize,
    };
  });
  t.diagnostic(JSON.stringify(widget));
  assert.ok(widget.height < 150, `the widget is ${widget.height} px tall`);
  assert.deepEqual(
    { ...widget.button, width: undefined },
    { fontSize: '14px', textTransform: 'none', letterSpacing: 'normal', width: undefined },
  );
  assert.ok(widget.button.width > 60 && widget.button.width < 200, `the button is ${widget.button.width} px wide`);
  assert.equal(widget.status, '13px');

  const result = await watch(page, 'upres-upscaler');
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('upres-upscaler button')]);
  await chooser.setFiles({ name: 'mug.png', mimeType: 'image/png', buffer: photo(60, 40) });
  assert.deepEqual(await result(), { width: 120, height: 80, name: 'mug@2x.png', type: 'image/png' });
  assert.deepEqual(errors, []);
});

test('two widgets on one page share one worker and one download of the wasm and of each model', async (t) => {
  const { page, requests, errors, workers } = await hostPage(
    t,
    `
    <script type="module" src="${UPRES}"></script>
    <upres-upscaler id="gallery" scale="2"></upres-upscaler>
    <upres-upscaler id="thumbnail" long-edge="150"></upres-upscaler>`,
  );
  await page.waitForFunction(() => customElements.get('upres-upscaler'));
  assert.deepEqual(
    requests.filter((path) => /\.(wasm|bpk)$/.test(path)),
    [],
    'nothing is downloaded before it is needed',
  );

  const results = [await watch(page, '#gallery'), await watch(page, '#thumbnail')];
  // One image through the widget's file picker, the other dropped on it, at the same moment.
  await page.evaluate(
    ([front, side]) => {
      const file = (name, bytes) => new File([new Uint8Array(bytes)], name, { type: 'image/png' });
      const picker = document.querySelector('#gallery').shadowRoot.querySelector('input[type="file"]');
      const picked = new DataTransfer();
      picked.items.add(file('front.png', front));
      picker.files = picked.files;
      picker.dispatchEvent(new Event('change'));
      const dropped = new DataTransfer();
      dropped.items.add(file('side.png', side));
      const zone = document.querySelector('#thumbnail').shadowRoot.querySelector('.widget');
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dropped, bubbles: true, cancelable: true }));
    },
    [[...photo(64, 48)], [...photo(60, 40)]],
  );
  assert.deepEqual(await Promise.all(results.map((outcome) => outcome())), [
    { width: 128, height: 96, name: 'front@2x.png', type: 'image/png' },
    { width: 150, height: 100, name: 'side@150px.png', type: 'image/png' },
  ]);
  // The default ×4 model with the module, then the clean ×2 and ×3 that the two images need.
  const index = JSON.parse(readFileSync('www/models/index.json', 'utf8'));
  const needed = [4, 2, 3].map((scale) =>
    index.find((entry) => entry.scale === scale && entry.input === 'clean').card.replace(/\.json$/, '.bpk'),
  );
  const models = requests.filter((path) => path.endsWith('.bpk'));
  const upscalers = workers.filter((url) => /\/worker\.js$/.test(url));
  t.diagnostic(`model requests: ${models.join(', ')}; workers: ${workers.join(', ')}`);
  assert.deepEqual(models.map((path) => path.split('/').pop()).sort(), needed.sort(), 'each model needed, once');
  assert.equal(requests.filter((path) => path.endsWith('upres_bg.wasm')).length, 1);
  assert.equal(requests.filter((path) => path.endsWith('models/index.json')).length, 1);
  assert.equal(upscalers.length, 1);
  assert.deepEqual(errors, []);
});

test('a bound widget follows its input through re-renders, takes several files, and never leaves the form blocked', async (t) => {
  const { page, errors } = await hostPage(
    t,
    `
    <script type="module" src="${UPRES}"></script>
    <form>
      <input type="file" id="photos" name="photos" accept="image/*" multiple>
      <upres-upscaler id="bound" for="photos" scale="2"></upres-upscaler>
      <upres-upscaler id="typo" for="photso"></upres-upscaler>
    </form>`,
  );
  await page.waitForFunction(() => customElements.get('upres-upscaler'));
  assert.equal(
    await status(page, '#typo'),
    'Invalid option: for="photso" should name an <input type="file"> on this page, but there is no element with id "photso"',
  );

  // A framework re-renders the form: the input the widget first saw is gone.
  await page.evaluate(() => {
    const old = document.getElementById('photos');
    old.replaceWith(old.cloneNode());
  });
  await page.setInputFiles('#photos', [
    { name: 'front.png', mimeType: 'image/png', buffer: photo(40, 30) },
    { name: 'back.png', mimeType: 'image/png', buffer: photo(30, 40) },
  ]);
  await page.waitForFunction(() =>
    /form will send/.test(document.querySelector('#bound').shadowRoot.querySelector('.status').textContent),
  );
  assert.equal(
    await status(page, '#bound'),
    'Upscaled to 80×60 px (PNG: clean model), 60×80 px (PNG: clean model): the form will send front@2x.png, back@2x.png.',
  );
  assert.deepEqual(await page.$eval('#photos', (input) => [...input.files].map((file) => file.name)), [
    'front@2x.png',
    'back@2x.png',
  ]);

  // Removed mid-job, the widget must not leave the input refusing the form.
  const validity = await page.evaluate(async () => {
    const input = document.getElementById('photos');
    const transfer = new DataTransfer();
    transfer.items.add(input.files[0]);
    input.files = transfer.files;
    input.dispatchEvent(new Event('change', { bubbles: true }));
    const during = input.validationMessage;
    document.getElementById('bound').remove();
    await new Promise((resolve) => setTimeout(resolve, 100));
    return { during, after: input.validationMessage };
  });
  assert.deepEqual(validity, { during: 'This image is still being upscaled: save again once it is done.', after: '' });
  assert.deepEqual(errors, []);
});

test('upscale() takes a File, Blob, ImageBitmap or ImageData; capabilities() and preload()', async (t) => {
  const { page, requests, errors } = await hostPage(t, '<p>Product images</p>');
  const png = [...photo(45, 30)];
  const outcome = await page.evaluate(
    async ({ url, png }) => {
      const upres = await import(url);
      const size = async (blob) => {
        const bitmap = await createImageBitmap(blob);
        return [bitmap.width, bitmap.height];
      };
      const failure = (promise) =>
        promise.then(
          () => 'resolved',
          (error) => `${error.name} (${error.kind}): ${error.message}`,
        );
      const before = await upres.capabilities();

      // A progress callback that throws is reported, and fails neither its own call nor the
      // download that preload() shares with it.
      const [preloaded, despiteBrokenProgress] = await Promise.all([
        upres.preload(),
        upres.upscale(new ImageData(8, 8), {
          scale: 2,
          onProgress: () => {
            throw new Error('a broken progress bar');
          },
        }),
      ]);
      const closed = await createImageBitmap(new ImageData(8, 8));
      closed.close();
      const reports = [];
      const pixels = new ImageData(
        new Uint8ClampedArray(30 * 20 * 4).fill(255).map((_, i) => [200, 100, 50, 128][i % 4]),
        30,
        20,
      );
      const fromImageData = await upres.upscale(pixels, { scale: 2, onProgress: (report) => reports.push(report) });
      const bitmap = await createImageBitmap(new ImageData(40, 30));
      const fromBitmap = await upres.upscale(bitmap, { target: { width: 100, height: 100, fit: 'cover' } });
      const blob = new Blob([new Uint8Array(png)], { type: 'image/png' });
      const fromBlob = await upres.upscale(blob, { target: { longEdge: 90 }, format: 'jpeg', quality: 80 });
      const fromFile = await upres.upscale(new File([blob], 'shoe.png'), { scale: 3, format: 'image/webp' });
      const centre = new OffscreenCanvas(1, 1).getContext('2d');
      centre.drawImage(await createImageBitmap(fromImageData), -30, -20);
      return {
        before,
        preloaded,
        despiteBrokenProgress: await size(despiteBrokenProgress),
        imageData: {
          size: await size(fromImageData),
          type: fromImageData.type,
          pixel: [...centre.getImageData(0, 0, 1, 1).data],
          reports,
        },
        bitmap: await size(fromBitmap),
        blob: { size: await size(fromBlob), type: fromBlob.type, isFile: fromBlob instanceof File },
        file: { size: await size(fromFile), type: fromFile.type, name: fromFile.name },
        errors: await Promise.all([
          failure(upres.upscale(blob, { scale: 5 })),
          failure(upres.upscale(blob, { longEdge: 2000 })),
          failure(upres.upscale(blob, { format: 'jpeg', quality: 0.9 })),
          failure(upres.upscale(blob, { quality: 90 })),
          failure(upres.upscale(blob, { scale: 2, target: { longEdge: 2000 } })),
          failure(upres.upscale('photo.png', { scale: 2 })),
          failure(upres.upscale(closed, { scale: 2 })),
          failure(upres.upscale(new Blob(['not an image']), { scale: 2 })),
        ]),
      };
    },
    { url: UPRES, png },
  );
  t.diagnostic(JSON.stringify(outcome.before));
  assert.equal(outcome.before.backend, 'cpu');
  assert.equal(outcome.before.started, false);
  assert.match(outcome.before.reason, /the only WebGPU adapter is a software one/);
  assert.equal(outcome.before.adapter.fallback, true);
  assert.deepEqual(outcome.preloaded, { ...outcome.before, started: true });

  assert.deepEqual(outcome.imageData.size, [60, 40]);
  assert.equal(outcome.imageData.type, 'image/png');
  const [r, g, b, a] = outcome.imageData.pixel;
  assert.equal(a, 128, 'alpha is kept');
  // A flat colour stays that colour (premultiplied alpha in the canvas rounds it a little).
  assert.ok(
    Math.abs(r - 200) <= 3 && Math.abs(g - 100) <= 3 && Math.abs(b - 50) <= 3,
    `centre pixel ${outcome.imageData.pixel}`,
  );
  const last = outcome.imageData.reports.at(-1);
  assert.deepEqual(last, { stage: 'upscale', done: last.total, total: last.total });

  assert.deepEqual(outcome.bitmap, [100, 100]);
  assert.deepEqual(outcome.blob, { size: [90, 60], type: 'image/jpeg', isFile: false });
  assert.deepEqual(outcome.file, { size: [135, 90], type: 'image/webp', name: 'shoe@3x.webp' });
  const expected = [
    /^RangeError \(parameter\): scale must be 2, 3, 4 or 8, not 5$/,
    /^TypeError \(parameter\): upscale\(\) has no option "longEdge" .*; did you mean target: \{ longEdge: … \}\?$/,
    /^RangeError \(parameter\): quality must be a whole number from 1 to 100 \(a percentage, unlike the 0–1 of canvas\.toBlob\), not 0\.9$/,
    /^TypeError \(parameter\): quality applies to JPEG and WebP \(which it makes lossy\) only; png output is lossless$/,
    /^TypeError \(parameter\): give either scale or target, not both$/,
    /^TypeError \(parameter\): upscale\(\) takes a File, Blob, ImageBitmap or ImageData, not "photo\.png"/,
    /^TypeError \(parameter\): the ImageBitmap has been closed/,
    /^Error \(decode\): not an image/,
  ];
  assert.equal(outcome.errors.length, expected.length);
  for (const [i, error] of outcome.errors.entries()) assert.match(error, expected[i]);
  assert.deepEqual(outcome.despiteBrokenProgress, [16, 16]);
  assert.ok(errors.length > 0, 'the throwing callback was reported');
  assert.deepEqual(new Set(errors.map((error) => error.message)), new Set(['a broken progress bar']));
  assert.equal(requests.filter((path) => path.endsWith('upres_bg.wasm')).length, 1);
});

test('a JPEG goes to the compression-aware model and a PNG to the clean one, unless input says otherwise', async (t) => {
  const { page, errors } = await hostPage(
    t,
    `
    <script type="module" src="${UPRES}"></script>
    <upres-upscaler id="auto" scale="4"></upres-upscaler>
    <upres-upscaler id="clean" scale="4" input="clean"></upres-upscaler>
    <upres-upscaler id="typo" input="jpeg"></upres-upscaler>`,
  );
  await page.waitForFunction(() => customElements.get('upres-upscaler'));
  assert.equal(
    await status(page, '#typo'),
    'Invalid option: input must be "auto", "clean" or "compressed", not "jpeg"',
  );
  const jpeg = [...(await h.jpegInPage(page, 64, 48, 0.5))];
  const png = [...photo(64, 48)];

  // The API: upscaleImage() (what upscale() and the widget run) says which model ran and why.
  const api = await page.evaluate(
    async ({ url, jpeg, png }) => {
      const { upscale, upscaleImage } = await import(url);
      const blob = (bytes) => new Blob([new Uint8Array(bytes)]);
      const route = async (bytes, input) => (await upscaleImage(blob(bytes), { scale: 4, input })).route;
      return {
        jpeg: await route(jpeg),
        png: await route(png),
        jpegAsClean: await route(jpeg, 'clean'),
        pngAsCompressed: await route(png, 'compressed'),
        typo: await upscale(blob(png), { input: 'jpeg' }).then(
          () => 'resolved',
          (error) => `${error.name} (${error.kind}): ${error.message}`,
        ),
      };
    },
    { url: `${h.PREFIX}api.js`, jpeg, png },
  );
  t.diagnostic(JSON.stringify(api));
  assert.match(api.jpeg, /JPEG quality ≈ 50\b/);
  assert.match(api.jpeg, /compression-aware/);
  assert.match(api.png, /PNG: clean model/);
  assert.match(api.jpegAsClean, /clean model, as chosen/);
  assert.match(api.pngAsCompressed, /compression-aware model, as chosen/);
  assert.equal(api.typo, 'RangeError (parameter): input must be "auto", "clean" or "compressed", not "jpeg"');

  // The widgets, each given the JPEG through its own file picker: upres-done carries the route,
  // and the status shows it beside the size.
  const routes = (await throughPickers(page, ['auto', 'clean'], jpeg, 'photo.jpg', 'image/jpeg')).map(
    ({ route, error }) => route ?? `failed: ${error}`,
  );
  t.diagnostic(routes.join(' | '));
  assert.match(routes[0], /JPEG quality ≈ 50\b/);
  assert.match(routes[0], /compression-aware/);
  assert.equal(routes[1], 'clean model, as chosen');
  assert.equal(await status(page, '#auto'), `Upscaled to 256×192 px (${routes[0]}).`);
  assert.equal(await status(page, '#clean'), 'Upscaled to 256×192 px (clean model, as chosen).');
  assert.deepEqual(errors, []);
});

test('workers: the API and the widget spread tiles over that many workers, with the same result as one; a wrong count is refused', async (t) => {
  const { page, errors, tileWorkers } = await hostPage(
    t,
    `
    <script type="module" src="${UPRES}"></script>
    <upres-upscaler id="two" scale="2" workers="2"></upres-upscaler>
    <upres-upscaler id="none" scale="2" workers="0"></upres-upscaler>`,
    { countTileWorkers: true },
  );
  await page.waitForFunction(() => customElements.get('upres-upscaler'));
  const png = [...photo(300, 200)]; // 3 × 2 tiles
  const outcome = await page.evaluate(
    async ({ url, png }) => {
      const { upscale } = await import(url);
      const bytes = async (blob) => [...new Uint8Array(await blob.arrayBuffer())];
      const one = await bytes(await upscale(new Blob([new Uint8Array(png)]), { scale: 2, workers: 1 }));
      const wrong = await upscale(new Blob([new Uint8Array(png)]), { scale: 2, workers: 0 }).then(
        () => 'resolved',
        (error) => `${error.name} (${error.kind}): ${error.message}`,
      );
      return { one, wrong };
    },
    { url: UPRES, png },
  );
  assert.equal(tileWorkers(), 0, 'one worker: every tile in the upscaler’s own');
  assert.equal(outcome.wrong, 'RangeError (parameter): workers must be a whole number from 1 to 64, not 0');

  // The widgets, each given the photo through its own file picker.
  const results = (await throughPickers(page, ['two', 'none'], png, 'photo.png', 'image/png')).map(
    ({ bytes, error }) => bytes ?? error,
  );
  assert.equal(tileWorkers(), 2, 'two tile workers for workers="2"');
  assert.ok(Buffer.from(results[0]).equals(Buffer.from(outcome.one)), 'the same file as one worker made');
  assert.equal(results[1], 'workers must be a whole number from 1 to 64, not 0');
  assert.equal(await status(page, '#none'), 'Invalid option: workers must be a whole number from 1 to 64, not 0.');
  assert.deepEqual(errors, []);
});

test('aborting rejects with an AbortError at once, and the shared engine keeps working', async (t) => {
  const { page, requests, errors } = await hostPage(t, '<p>Product images</p>');
  const outcome = await page.evaluate(
    async ({ url, small, large }) => {
      const upres = await import(url);
      const blob = (bytes) => new Blob([new Uint8Array(bytes)], { type: 'image/png' });
      const outcome = (promise) =>
        promise.then(
          () => 'resolved',
          (error) => error.name,
        );

      const early = new AbortController();
      early.abort();
      const alreadyAborted = await outcome(upres.upscale(blob(small), { scale: 2, signal: early.signal }));

      // Abandoned while the wasm module downloads: this call ends, the download goes on.
      const loading = new AbortController();
      const duringDownload = await outcome(
        upres.upscale(blob(small), {
          scale: 2,
          signal: loading.signal,
          onProgress: ({ stage }) => stage === 'download' && loading.abort(),
        }),
      );

      const job = new AbortController();
      let abortedAt = 0;
      let lastTile = 0;
      let abortedTime = 0;
      const duringJob = await outcome(
        upres.upscale(blob(large), {
          scale: 4,
          signal: job.signal,
          onProgress: ({ stage, done }) => {
            if (stage !== 'upscale') return;
            lastTile = done;
            if (done === 2) {
              abortedAt = done;
              abortedTime = performance.now();
              job.abort();
            }
          },
        }),
      );
      const rejectedAfter = performance.now() - abortedTime;
      const next = await upres.upscale(blob(small), { scale: 2 });
      return { alreadyAborted, duringDownload, duringJob, abortedAt, lastTile, rejectedAfter, next: next.size > 0 };
    },
    { url: UPRES, small: [...photo(48, 32)], large: [...photo(512, 384)] },
  );
  t.diagnostic(
    `aborted at tile ${outcome.abortedAt}, last tile reported ${outcome.lastTile}, rejected ${outcome.rejectedAfter.toFixed(0)} ms after abort()`,
  );
  assert.equal(outcome.alreadyAborted, 'AbortError');
  assert.equal(outcome.duringDownload, 'AbortError');
  assert.equal(outcome.duringJob, 'AbortError');
  assert.ok(
    outcome.lastTile <= outcome.abortedAt + 1,
    `tiles went on to ${outcome.lastTile} after an abort at ${outcome.abortedAt}`,
  );
  assert.ok(outcome.next, 'the next job succeeds');
  assert.equal(
    requests.filter((path) => path.endsWith('upres_bg.wasm')).length,
    1,
    'the abandoned download was not started again',
  );
  assert.deepEqual(errors, []);
});

test('modelBaseUrl loads the models from where the store hosts them; a model that is not there fails the job that needs it', async (t) => {
  const { page, context, requests, errors } = await hostPage(t, '<p>Product images</p>');
  // Every model but the compression-aware ×2 one.
  await context.route(`${env.origin}/cdn/upres-models/*`, (route) => {
    const name = new URL(route.request().url()).pathname.split('/').pop();
    return name === 'upres-x2-jpeg.bpk'
      ? route.fulfill({ status: 404 })
      : route.fulfill({ body: readFileSync(join('www/models', name)) });
  });
  const jpeg = [...(await h.jpegInPage(page, 40, 30, 0.5))];
  const outcome = await page.evaluate(
    async ({ url, jpeg }) => {
      const upres = await import(url);
      const failure = (error) => `${error.kind}: ${error.message}`;
      const missing = await upres.preload({ modelBaseUrl: '/no/such/models' }).then(() => 'resolved', failure);
      const result = await upres.upscale(new ImageData(20, 10), { scale: 2, modelBaseUrl: '/cdn/upres-models/' });
      const bitmap = await createImageBitmap(result);
      const missingModel = await upres
        .upscale(new Blob([new Uint8Array(jpeg)]), { scale: 2, modelBaseUrl: '/cdn/upres-models/' })
        .then(() => 'resolved', failure);
      return { missing, size: [bitmap.width, bitmap.height], missingModel };
    },
    { url: UPRES, jpeg },
  );
  assert.equal(outcome.missing, 'download: could not download /no/such/models/index.json (HTTP 404)');
  assert.deepEqual(outcome.size, [40, 20]);
  assert.equal(outcome.missingModel, 'download: could not download /cdn/upres-models/upres-x2-jpeg.bpk (HTTP 404)');
  const models = requests.filter((path) => /\.(bpk|json)$/.test(path));
  t.diagnostic(models.join(', '));
  assert.ok(
    models.includes('/cdn/upres-models/index.json') &&
      models.some((path) => /^\/cdn\/upres-models\/.*\.bpk$/.test(path)),
  );
  assert.deepEqual(
    models.filter((path) => path.startsWith(h.PREFIX)),
    [],
    'nothing from the default models folder',
  );
  assert.deepEqual(errors, []);
});

/**
 * Gives `bytes` (a file `name` of `type`) to each widget of `ids` through its own file picker;
 * resolves to what each one finished with: `{ route, bytes }` from upres-done (the file's bytes
 * as an array), or `{ error }` (the message) from upres-error.
 */
function throughPickers(page, ids, bytes, name, type) {
  return page.evaluate(
    ({ ids, bytes, name, type }) =>
      Promise.all(
        ids.map(
          (id) =>
            new Promise((resolve) => {
              const widget = document.getElementById(id);
              widget.addEventListener(
                'upres-done',
                async ({ detail }) => {
                  resolve({ route: detail.route, bytes: [...new Uint8Array(await detail.blob.arrayBuffer())] });
                },
                { once: true },
              );
              widget.addEventListener('upres-error', ({ detail }) => resolve({ error: detail.message }), {
                once: true,
              });
              const picker = widget.shadowRoot.querySelector('input[type="file"]');
              const transfer = new DataTransfer();
              transfer.items.add(new File([new Uint8Array(bytes)], name, { type }));
              picker.files = transfer.files;
              picker.dispatchEvent(new Event('change'));
            }),
        ),
      ),
    { ids, bytes, name, type },
  );
}

test('model: upscale() and the widget run a model of the page’s own (a File, a URL, an ncnn pair), and refuse what is no model', async (t) => {
  const { page, context, requests, errors } = await hostPage(
    t,
    `
    <script type="module" src="${UPRES}"></script>
    <upres-upscaler id="own" scale="2" model="/cdn/models/tiny-x2.safetensors"></upres-upscaler>
    <upres-upscaler id="empty" scale="2" model=""></upres-upscaler>`,
  );
  const model = h.compactModel({ scale: 2 });
  await context.route(`${env.origin}/cdn/models/*`, (route) =>
    new URL(route.request().url()).pathname.endsWith('/tiny-x2.safetensors')
      ? route.fulfill({ body: model })
      : route.fulfill({ status: 404 }),
  );
  await page.waitForFunction(() => customElements.get('upres-upscaler'));
  assert.match(
    await status(page, '#empty'),
    /^Invalid option: model must be a URL, a Blob or File, or an ncnn model’s \{ param, bin \}, not ""$/,
  );
  const png = photo(64, 48);
  const outcome = await page.evaluate(
    async ({ url, png, model }) => {
      const upres = await import(url);
      const blob = new Blob([new Uint8Array(png)], { type: 'image/png' });
      const file = new File([new Uint8Array(model)], 'tiny-x2.safetensors');
      const size = async (result) => {
        const bitmap = await createImageBitmap(result);
        return [bitmap.width, bitmap.height];
      };
      const failure = (promise) =>
        promise.then(
          () => 'resolved',
          (error) => `${error.name} (${error.kind}): ${error.message}`,
        );
      const fromFile = await upres.upscale(blob, { scale: 2, model: file });
      const fromUrl = await upres.upscale(blob, { scale: 2, model: '/cdn/models/tiny-x2.safetensors' });
      return {
        fromFile: { size: await size(fromFile), bytes: [...new Uint8Array(await fromFile.arrayBuffer())] },
        fromUrl: [...new Uint8Array(await fromUrl.arrayBuffer())],
        errors: await Promise.all([
          failure(upres.upscale(blob, { scale: 2, model: 42 })),
          failure(upres.upscale(blob, { scale: 2, model: { param: file } })),
          failure(upres.upscale(blob, { scale: 2, model: { param: file, bin: file, graph: file } })),
          failure(upres.upscale(blob, { scale: 2, model: new File(['rm -rf ~'], 'evil.pth') })),
          failure(upres.upscale(blob, { scale: 2, model: { param: new Blob(['7767517\n']), bin: new Blob([]) } })),
          failure(upres.upscale(blob, { scale: 2, model: '/cdn/models/missing.pth' })),
        ]),
      };
    },
    { url: UPRES, png: [...png], model: [...model] },
  );
  const result = h.decodePng(Buffer.from(outcome.fromFile.bytes));
  assert.deepEqual(outcome.fromFile.size, [128, 96]);
  assert.ok(h.psnr(result, h.nearest(h.decodePng(png), 2)) >= 45, 'the model’s own output');
  assert.ok(Buffer.from(outcome.fromUrl).equals(Buffer.from(outcome.fromFile.bytes)), 'the same model from its URL');
  const expected = [
    /^TypeError \(parameter\): model must be a URL, a Blob or File, or an ncnn model’s \{ param, bin \}, not 42$/,
    /^TypeError \(parameter\): model\.bin must be a URL, a Blob or File, not undefined$/,
    /^TypeError \(parameter\): model has no part "graph": an ncnn model is \{ param, bin \}$/,
    /^Error \(model\): evil\.pth is not a model file upres reads/,
    /^Error \(model\): /,
    /^Error \(download\): could not download \/cdn\/models\/missing\.pth \(HTTP 404\)$/,
  ];
  t.diagnostic(outcome.errors.join('\n'));
  assert.equal(outcome.errors.length, expected.length);
  for (const [i, error] of outcome.errors.entries()) assert.match(error, expected[i]);

  const [widget] = await throughPickers(page, ['own'], [...png], 'photo.png', 'image/png');
  assert.equal(widget.route, 'your own model');
  assert.ok(Buffer.from(widget.bytes).equals(Buffer.from(outcome.fromFile.bytes)), 'the widget ran the same model');
  assert.equal(await status(page, '#own'), 'Upscaled to 128×96 px (your own model).');
  assert.equal(requests.filter((path) => path === '/cdn/models/tiny-x2.safetensors').length, 1, 'fetched once');
  assert.deepEqual(errors, []);
});
