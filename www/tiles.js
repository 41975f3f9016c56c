// Tiles of a CPU job spread over tile workers (tile-worker.js), so that a job uses every core:
// the upscaler's own worker (worker.js) decodes, plans, stitches and encodes, and its engine
// hands each tile's network pass to TilePool.run(). The wasm module is compiled once, by that
// worker, and every tile worker instantiates the same WebAssembly.Module. A model's weights go
// to a tile worker with the first tile of that model it is given. Tiles wait in one queue for
// whichever worker is free.
//
// A tile worker that fails (a WebAssembly trap, an error nothing caught, or it stops without a
// word) is ended and its tile runs again in a fresh one, up to MAX_TRIES times: a trap leaves an
// instance unusable, but the tile itself is usually fine.

const MAX_TRIES = 3;

export class TilePool {
  #module;
  #size;
  #models;
  /** { thread (the Worker), task (the tile it runs, or null), models (names it has loaded),
   *  memory (bytes of wasm memory after its last tile) } */
  #workers = [];
  #queue = [];
  /** Tile workers started so far, to name each one (DevTools shows the names). */
  #started = 0;

  /**
   * `module`: the compiled CPU module; `size`: how many tile workers; `models`: a Map from model
   * name to `{ card (JSON text), weights }`, whose weights are there before any tile of that
   * model runs (the engine fetches them first).
   */
  constructor(module, size, models) {
    this.#module = module;
    this.#size = size;
    this.#models = models;
    while (this.#workers.length < size) this.#workers.push(this.#spawn());
  }

  get size() {
    return this.#size;
  }

  /** `{ workers, busy, memory }`: tile workers running, how many of them are computing a tile,
   *  and the most wasm memory one of them has used (bytes). */
  status() {
    return {
      workers: this.#workers.length,
      busy: this.#workers.filter((worker) => worker.task).length,
      memory: Math.max(0, ...this.#workers.map((worker) => worker.memory)),
    };
  }

  /** Ends every tile worker (the pool is not used again). */
  close() {
    for (const worker of this.#workers) worker.thread.terminate();
    this.#workers = [];
    this.#size = 0;
  }

  /**
   * The named model's output for one tile (its input planar RGB, `width`×`height`, context
   * included; `outside` the pixels of its border beyond the image, left, top, right, bottom), as a
   * Uint8Array of interleaved RGB (TileNet.run). Aborting `signal` drops the tile if it is still
   * waiting for a worker; a tile that a worker has started finishes, unheard.
   */
  run(name, input, width, height, outside, signal) {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const task = { name, input, width, height, outside, tries: 0 };
      const drop = () => {
        const queued = this.#queue.indexOf(task);
        if (queued < 0) return;
        this.#queue.splice(queued, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', drop, { once: true });
      const settled = () => signal.removeEventListener('abort', drop);
      task.resolve = (output) => {
        settled();
        resolve(output);
      };
      task.reject = (error) => {
        settled();
        reject(error);
      };
      this.#queue.push(task);
      this.#dispatch();
    });
  }

  /** Hands waiting tiles to free workers, starting workers where some have been lost. */
  #dispatch() {
    while (this.#queue.length > 0) {
      let worker = this.#workers.find((candidate) => !candidate.task);
      if (!worker) {
        // Replacements start here, when a tile needs one, never while the pool is idle: a tile
        // worker that cannot start at all then fails tiles, not an endless line of workers.
        if (this.#workers.length >= this.#size) return;
        worker = this.#spawn();
        this.#workers.push(worker);
      }
      const task = this.#queue.shift();
      task.tries++;
      worker.task = task;
      const { name, input, width, height, outside } = task;
      // The weights are copied, not moved: the next worker to load this model needs them too.
      const model = worker.models.has(name) ? null : this.#models.get(name);
      worker.models.add(name);
      worker.thread.postMessage({
        type: 'tile',
        name,
        input,
        width,
        height,
        outside,
        model: model && { card: model.card, weights: model.weights },
      });
    }
  }

  #spawn() {
    const thread = new Worker(new URL('./tile-worker.js', import.meta.url), {
      type: 'module',
      name: `upres tile ${++this.#started}`,
    });
    const worker = { thread, task: null, models: new Set(), memory: 0 };
    // A worker that stops (self.close(), or the browser ends it) fires no event here; the Web Lock
    // it holds for its lifetime is released then, which is what this waits for.
    const lock = `upres-tile-${crypto.randomUUID()}`;
    thread.addEventListener('message', ({ data }) => {
      if (data.type === 'holding') {
        navigator.locks.request(lock, () => this.#failed(worker, 'it stopped'));
      } else if (data.type === 'done') {
        const { task } = worker;
        Object.assign(worker, { task: null, memory: data.memory });
        task.resolve(data.output);
        this.#dispatch();
      } else if (data.type === 'failed') {
        this.#failed(worker, data.message);
      }
    });
    thread.addEventListener('error', (event) => {
      event.preventDefault();
      this.#failed(worker, event.message || 'it could not start');
    });
    thread.postMessage({ type: 'start', module: this.#module, lock: navigator.locks ? lock : null });
    return worker;
  }

  /** Ends a worker that failed; its tile goes back to the front of the queue, or fails the job
   *  once it has failed MAX_TRIES times. */
  #failed(worker, message) {
    const index = this.#workers.indexOf(worker);
    if (index < 0) return; // Already ended.
    this.#workers.splice(index, 1);
    worker.thread.terminate();
    const { task } = worker;
    if (task && task.tries >= MAX_TRIES) {
      // A panic's first line says what happened; the rest is where.
      task.reject(
        new Error(`a tile failed in ${MAX_TRIES} tile workers in a row (the last one: ${message.split('\n')[0]})`),
      );
    } else if (task) {
      this.#queue.unshift(task);
    }
    this.#dispatch();
  }
}
