// What the native lossy encoders cost the cold build: a throwaway crate depending on exactly the
// encoders' crates (the versions in Cargo.lock) is built from scratch on one core with cargo's
// timings, and each crate's compile time is charged to the encoder that brings it in (the crates
// `lossy-encoders` adds to upres's tree: `cargo tree` with and without the feature). JSON out.
//   node scripts/encoder-build-cost.mjs   (from the repository root; takes a few minutes)
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const tree = (features) =>
  new Set(
    execFileSync('cargo', ['tree', '-e', 'normal,build', '--prefix', 'none', '-f', '{p}', ...features], {
      encoding: 'utf8',
    })
      .split('\n')
      .map((line) => line.split(' ')[0])
      .filter(Boolean),
  );
const without = tree(['--no-default-features', '--features', 'cli,cpu,wgpu,train']);
const added = [...tree([])].filter((name) => !without.has(name));
const locked = (name) =>
  readFileSync('Cargo.lock', 'utf8').match(new RegExp(`name = "${name}"\\nversion = "([^"]+)"`))[1];

const work = mkdtempSync(join(tmpdir(), 'upres-encoders-'));
try {
  mkdirSync(join(work, 'src'));
  writeFileSync(join(work, 'src', 'main.rs'), 'fn main() {}\n');
  writeFileSync(
    join(work, 'Cargo.toml'),
    [
      '[package]',
      'name = "encoder-build-cost"',
      'version = "0.0.0"',
      'edition = "2024"',
      '',
      '[dependencies]',
      `image = { version = "=${locked('image')}", default-features = false, features = ["avif"] }`,
      `webp = { version = "=${locked('webp')}", default-features = false }`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(work, 'Cargo.lock'), readFileSync('Cargo.lock'));
  const started = Date.now();
  execFileSync('cargo', ['build', '--release', '-j1', '--timings'], {
    cwd: work,
    stdio: 'inherit',
    env: { ...process.env, CARGO_TARGET_DIR: join(work, 'target') },
  });
  const wall = (Date.now() - started) / 1000;
  const timings = join(work, 'target', 'cargo-timings');
  const html = readFileSync(
    join(
      timings,
      readdirSync(timings).find((f) => f.startsWith('cargo-timing-2')),
    ),
    'utf8',
  );
  const units = JSON.parse(html.match(/const UNIT_DATA = (\[[\s\S]*?\]);\n/)[1]);
  // libwebp is C, built by the cc crate; everything else `lossy-encoders` adds is the AVIF chain.
  const webpCrates = new Set(['webp', 'libwebp-sys', 'cc', 'jobserver', 'shlex', 'find-msvc-tools', 'glob']);
  const cost = { webp: 0, avif: 0 };
  for (const unit of units) {
    if (!added.includes(unit.name)) continue;
    cost[webpCrates.has(unit.name) ? 'webp' : 'avif'] += unit.duration;
  }
  const round = (s) => Math.round(s * 10) / 10;
  console.log(
    JSON.stringify(
      {
        unix_time: Math.round(Date.now() / 1000),
        profile: 'release, one job (-j1), cold',
        whole_throwaway_build_seconds: round(wall),
        lossy_webp_seconds: round(cost.webp),
        avif_seconds: round(cost.avif),
        crates_added: added.sort(),
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(resolve(work), { recursive: true, force: true });
}
