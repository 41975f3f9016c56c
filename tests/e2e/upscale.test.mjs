// The browser's results against the native CLI's, on each backend: same input, same model,
// same output size, and pixels that agree (PSNR ≥ 45 dB; they differ only by float rounding).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as h from './harness.mjs';

const SIZE = 256;
let env;

before(async () => {
  env = await h.start();
});
after(() => env?.close());

for (const backend of ['cpu', 'webgpu']) {
  describe(`the ${backend} backend`, () => {
    for (const scale of [2, 4]) {
      test(`${SIZE}² at ${scale}× has the right size and matches the native CLI`, async (t) => {
        const started = Date.now();
        const app = await h.openApp(env, { backend });
        t.after(() => app.context.close());
        t.diagnostic(`cold start to a running ${backend} backend: ${Date.now() - started} ms`);
        const status = await app.page.textContent('#backend-status');
        assert.match(
          status,
          backend === 'cpu'
            ? /Running on the CPU \(WebAssembly\): you chose the CPU/
            : /Running on WebGPU: .*you chose WebGPU/,
        );

        const png = h.encodePng(SIZE, SIZE, h.testImage(SIZE, SIZE));
        await h.addFile(app.page, 'fixture.png', png);
        await h.setScale(app.page, scale);
        const result = await h.upscaleAndDownload(app.page, 0);
        assert.equal(result.name, `fixture@${scale}x.png`);

        const browser = h.decodePng(result.bytes);
        assert.deepEqual([browser.width, browser.height], [SIZE * scale, SIZE * scale]);
        const db = h.psnr(browser, h.nativeUpscale(png, scale));
        t.diagnostic(
          `${backend} ${SIZE}² ×${scale}: ${result.milliseconds} ms in the browser; PSNR against native ${db.toFixed(1)} dB`,
        );
        assert.ok(db >= 45, `PSNR ${db.toFixed(2)} dB between the browser and the native CLI`);
        assert.deepEqual(app.errors, []);
      });
    }
  });
}
