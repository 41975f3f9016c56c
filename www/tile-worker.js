// A tile worker (see tiles.js): the network alone, on burn's CPU backend, one tile at a time, for
// the upscaler's worker, which plans, stitches and encodes. It instantiates the module that
// worker compiled, and loads each model from the weights that come with its first tile.

import init, { lastPanic, TileNet } from './pkg/upres.js';

/** Resolves to { net, memory } once the instance runs. */
let started = null;

self.addEventListener('message', (/** @type {MessageEvent} */ { data }) => {
  if (data.type === 'start') started = start(data);
  else if (data.type === 'tile') tile(data);
});

async function start({ module, lock }) {
  const { memory } = await init({ module_or_path: module });
  // Held until this worker ends: its release is how the pool learns that it stopped.
  if (lock) {
    await new Promise((/** @type {(value?: unknown) => void} */ held) =>
      navigator.locks.request(lock, () => {
        held();
        return new Promise(() => {});
      }),
    );
    postMessage({ type: 'holding' });
  }
  return { net: new TileNet(), memory };
}

// A panic inside the network traps in a microtask of the engine's, past tile()'s catch.
self.addEventListener('error', (event) => {
  event.preventDefault();
  postMessage({ type: 'failed', message: panicMessage() ?? event.message });
});

async function tile({ name, input, width, height, outside, model }) {
  try {
    const { net, memory } = await started;
    if (model) net.load(model.card, model.weights);
    const output = await net.run(name, input, width, height, outside);
    postMessage({ type: 'done', output, memory: memory.buffer.byteLength }, [output.buffer]);
  } catch (error) {
    postMessage({ type: 'failed', message: panicMessage() ?? `${error.name}: ${error.message}` });
  }
}

/** What a panic said, when one aborted the instance (a trap leaves only "unreachable"). */
function panicMessage() {
  try {
    return lastPanic();
  } catch {
    return null; // No instance, or one too broken even for that.
  }
}
