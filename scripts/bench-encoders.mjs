// The JSON of `./build.sh bench-encoders`: each output format's bytes, encode time and quality on
// an upscaled photo. `upres bench-encoders` wrote the files and timed the CLI's encoders; here
// Chromium decodes every file as a visitor's browser would (AVIF included, which the CLI cannot
// read back) and each is scored against the lossless reference (PSNR on BT.601 luma, the
// evaluation protocol's Y, no border shaved). Chromium's own WebP encoder, which the web app
// uses for lossy WebP, is timed and scored the same way.
//   node scripts/bench-encoders.mjs DIR   (DIR holds encoders.json and the files)
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_FLAGS } from './chromium.mjs';

const dir = process.argv[2];
const report = JSON.parse(readFileSync(join(dir, 'encoders.json'), 'utf8'));
const base64 = (file) => readFileSync(join(dir, file)).toString('base64');

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
try {
  const page = await browser.newPage();
  await page.setContent('<!doctype html><title>encoders</title>');
  // Helpers in the page: decode to RGBA without colour conversion, and PSNR-Y of two decodings.
  await page.evaluate(() => {
    const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const pixels = async (blob) => {
      const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext('2d');
      context.drawImage(bitmap, 0, 0);
      return context.getImageData(0, 0, bitmap.width, bitmap.height).data;
    };
    const luma = (d, i) => (65.481 * d[i] + 128.553 * d[i + 1] + 24.966 * d[i + 2]) / 255 + 16;
    const psnr = (a, b) => {
      let sum = 0;
      for (let i = 0; i < a.length; i += 4) sum += (luma(a, i) - luma(b, i)) ** 2;
      return 10 * Math.log10((255 * 255) / (sum / (a.length / 4)));
    };
    window.bench = {
      async load(b64, type) {
        window.reference = await pixels(new Blob([bytes(b64)], { type }));
        window.referenceBlob = new Blob([bytes(b64)], { type });
      },
      async score(b64, type) {
        return psnr(window.reference, await pixels(new Blob([bytes(b64)], { type })));
      },
      /** The browser's WebP encoder on the reference: median time of `runs`, bytes, PSNR-Y. */
      async browserWebp(quality, runs) {
        const bitmap = await createImageBitmap(window.referenceBlob, { colorSpaceConversion: 'none' });
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        canvas.getContext('2d').drawImage(bitmap, 0, 0);
        const times = [];
        let blob;
        for (let i = 0; i < runs; i++) {
          const started = performance.now();
          blob = await canvas.convertToBlob({ type: 'image/webp', quality: quality / 100 });
          times.push(performance.now() - started);
        }
        if (blob.type !== 'image/webp') return null;
        times.sort((a, b) => a - b);
        return {
          bytes: blob.size,
          encode_ms: times[Math.floor(times.length / 2)],
          psnr_y: psnr(window.reference, await pixels(blob)),
        };
      },
    };
  });
  const mime = { PNG: 'image/png', JPEG: 'image/jpeg', AVIF: 'image/avif' };
  const type = (format) => mime[format] ?? 'image/webp';
  await page.evaluate(([b64]) => window.bench.load(b64, 'image/png'), [base64(report.reference)]);
  for (const entry of report.formats) {
    entry.encoder = 'upres CLI';
    entry.psnr_y =
      entry.quality == null
        ? null
        : await page.evaluate(([b64, t]) => window.bench.score(b64, t), [base64(entry.file), type(entry.format)]);
  }
  const webp = await page.evaluate(() => window.bench.browserWebp(80, 3));
  if (webp)
    report.formats.push({
      format: 'lossy WebP',
      quality: 80,
      speed: null,
      encoder: `Chromium ${browser.version()} (the web app)`,
      file: null,
      ...webp,
    });
} finally {
  await browser.close();
}
const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length };
console.log(JSON.stringify({ unix_time: Math.round(Date.now() / 1000), machine, ...report }, null, 2));
