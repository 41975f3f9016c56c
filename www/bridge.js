// The page's one line to the inference worker, after Squoosh's worker bridge: the worker starts
// on first use, calls wait in a queue and run one at a time, and every call takes an AbortSignal.
// Aborting a queued call drops it at once; aborting the running one asks the worker to stop,
// which it does between two tiles. A worker that crashes (a WebAssembly trap, usually a GPU
// failure) is ended; its calls are rejected with an error of kind "crashed" and the next call
// starts a fresh worker.

export class WorkerBridge {
  #url;
  #worker = null;
  #queue = [];
  #running = null;
  #nextId = 1;

  constructor(url) {
    this.#url = url;
  }

  /**
   * Runs `method(args)` in the worker. `onProgress` receives each progress value the method
   * reports; `transfer` lists buffers to move rather than copy.
   */
  call(signal, method, args, { onProgress = () => {}, transfer = [] } = {}) {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const call = { id: this.#nextId++, method, args, transfer, onProgress, resolve, reject, signal };
      call.onAbort = () => {
        if (call === this.#running) {
          this.#worker.postMessage({ type: 'cancel', id: call.id });
        } else {
          this.#queue = this.#queue.filter((queued) => queued !== call);
          reject(signal.reason);
        }
      };
      signal.addEventListener('abort', call.onAbort, { once: true });
      this.#queue.push(call);
      this.#next();
    });
  }

  /** Ends the worker now; pending calls fail with kind "crashed" and the next call starts afresh. */
  restart(message = 'the worker was restarted') {
    this.#worker?.terminate();
    this.#worker = null;
    const error = Object.assign(new Error(message), { kind: 'crashed' });
    for (const call of [this.#running, ...this.#queue].filter(Boolean)) this.#settle(call, () => call.reject(error));
    this.#queue = [];
    this.#running = null;
  }

  #next() {
    if (this.#running || this.#queue.length === 0) return;
    const call = this.#queue.shift();
    this.#running = call;
    this.#start().postMessage({ type: 'call', id: call.id, method: call.method, args: call.args }, call.transfer);
  }

  #start() {
    if (!this.#worker) {
      this.#worker = new Worker(this.#url, { type: 'module', name: 'upres' });
      this.#worker.addEventListener('message', ({ data }) => this.#receive(data));
      // A script that fails to load, or an exception nothing in the worker caught.
      this.#worker.addEventListener('error', (event) => {
        event.preventDefault();
        this.restart(`the worker failed: ${event.message || 'it could not start'}`);
      });
    }
    return this.#worker;
  }

  #receive(message) {
    if (message.type === 'crashed') return this.restart(message.message);
    const call = this.#running;
    if (!call || call.id !== message.id) return;
    if (message.type === 'progress') return call.onProgress(message.value);
    this.#settle(call, () =>
      message.type === 'result'
        ? call.resolve(message.value)
        : call.reject(
            message.error.kind === 'cancelled' && call.signal.aborted
              ? call.signal.reason
              : Object.assign(new Error(message.error.message), { kind: message.error.kind }),
          ),
    );
    this.#running = null;
    this.#next();
  }

  #settle(call, settle) {
    call.signal.removeEventListener('abort', call.onAbort);
    settle();
  }
}
