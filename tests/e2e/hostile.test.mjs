// The hostile corpus of tests/hostile.rs through the page: every file either shows its size and
// is upscaled, or says what is wrong with it, and the page keeps working throughout. The files
// and the expected outcomes come from the Rust test itself (it writes them where
// UPRES_CORPUS_DIR says, after checking them natively), so the two can never drift apart.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as h from './harness.mjs';

/** How the page titles each kind of error the corpus expects (messages.js), before the detail. */
const TITLES = { decode: 'Can’t read this file', unsupported: 'Unsupported image', limits: 'Too large' };

let env;
before(async () => {
  env = await h.start();
});
after(() => env?.close());

function corpus() {
  const dir = mkdtempSync(join(tmpdir(), 'upres-hostile-'));
  execFileSync(
    process.env.CARGO ?? 'cargo',
    // The profile and the clippy wrapper of ./build.sh test, whose build this reuses.
    [
      'test',
      '--profile',
      'ci',
      '--test',
      'hostile',
      '--',
      '--exact',
      'every_hostile_file_gives_an_image_or_a_specific_error',
    ],
    { env: { ...process.env, UPRES_CORPUS_DIR: dir }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  return manifest.map((entry) => ({ ...entry, bytes: readFileSync(join(dir, entry.file)) }));
}

test('every hostile file shows its size or what is wrong with it, and the page keeps working', async (t) => {
  const cases = corpus();
  const opened = await h.openApp(env);
  t.after(() => opened.context.close());
  const { page, errors } = opened;

  // Every file is checked and every failure reported, rather than stopping at the first.
  const failures = [];
  const expect = (ok, message) => ok || failures.push(message);
  const images = [];
  for (const [index, entry] of cases.entries()) {
    const item = await h.addFile(page, entry.file, entry.bytes);
    const [status, text] = [await item.getAttribute('data-status'), await item.textContent()];
    if (entry.kind) {
      const title = TITLES[entry.kind];
      expect(
        status === 'invalid' && text.includes(`${title}: `) && text.includes(entry.says),
        `${entry.file} should say “${title}: …${entry.says}…”, not “${text}”`,
      );
      expect(
        !text.toLowerCase().includes(`${title}: ${title}`.toLowerCase()),
        `${entry.file}: the title said twice: ${text}`,
      );
    } else {
      expect(
        status === 'ready' && text.includes(`${entry.width}×${entry.height}`),
        `${entry.file} should be ready, ${entry.width}×${entry.height}: ${text}`,
      );
      images.push({ ...entry, index });
    }
  }
  t.diagnostic(
    `${cases.length} files: ${images.length} images, ${cases.length - images.length} refused with a message`,
  );

  // Every file that is an image is upscaled, in one batch, past all those that are not.
  await h.setScale(page, 2);
  await page.click('#start');
  for (const entry of images) {
    const { status, text } = await h.settled(page, entry.index);
    expect(
      status === 'done' && text.includes(`${2 * entry.width}×${2 * entry.height}`),
      `${entry.file} at 2×: ${text}`,
    );
  }
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} files`);
  assert.deepEqual(errors, [], 'no uncaught errors on the page');
});
