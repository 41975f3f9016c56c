// The JSON of `./build.sh bench-batch`: what the catalog held and how fast each run went.
//   node scripts/bench-batch.mjs WORK_DIR JOBS:MS ...   (WORK_DIR holds report-JOBS.jsonl)
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

const [work, ...timings] = process.argv.slice(2);
const runs = timings.map((timing) => {
  const [jobs, ms] = timing.split(':').map(Number);
  const lines = readFileSync(join(work, `report-${jobs}.jsonl`), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const done = lines.filter((l) => l.status === 'done');
  if (done.length !== lines.length)
    throw new Error(`--jobs ${jobs}: ${lines.length - done.length} of ${lines.length} files not done`);
  return {
    jobs,
    images: done.length,
    seconds: ms / 1000,
    images_per_minute: (done.length * 60_000) / ms,
    models: [...new Set(done.map((l) => l.model))].sort(),
    input_long_edges: [
      Math.min(...done.map((l) => Math.max(l.input_width, l.input_height))),
      Math.max(...done.map((l) => Math.max(l.input_width, l.input_height))),
    ],
    output_long_edge: Math.max(...done.map((l) => Math.max(l.output_width, l.output_height))),
  };
});
const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length };
console.log(JSON.stringify({ unix_time: Math.round(Date.now() / 1000), machine, runs }, null, 2));
