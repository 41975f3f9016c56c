// <upres-upscaler scale="4" | long-edge="2000" | print="A4@300" fit="cover" format="jpeg"
// quality="90" input="auto" metadata="no-location" look="enhanced" for="input-id">: a drop zone, a button and a
// progress bar that upscale an image in this browser, for pages that are not ours (a store's
// product form). The attributes are upscale()'s options (job.js), and each is also a property
// (`longEdge` for long-edge, `htmlFor` for for); `print` is a print size as the command line
// writes it ("8x10in@300", "A4@300"), `fit` how the image meets it; `quality` makes WebP lossy;
// `input` says which model suits the images: "auto" (a JPEG's compression decides),
// "compressed" (photos, JPEGs) or "clean" (PNG, lossless); `metadata` which of the original's
// metadata the result keeps ("no-location", "all", "color" or "none"); `look` how the result looks
// ("faithful", as close to the original as possible, or "enhanced", clean and crisp); `model` the
// URL of a Compact model file (.pth or .safetensors) to run instead of upres's models; `workers`
// how many workers compute tiles on the CPU (for tests and benchmarks). Bound to the page's own <input
// type="file"> (`for`), it upscales what is chosen there too and puts the result into that
// input, so the form's ordinary submit sends the upscaled file; until then the input reports
// itself invalid, so the form is not sent with the small original. When upscaling fails the
// input stays invalid, saying why, until another image is chosen or the person chooses "Use the
// original", which puts the original there and lets the form send it; a file that is not a
// readable image (text named .jpg, a truncated file) is never offered so: only another file
// lifts the refusal.
//
// Styles live in the shadow root: the page's selectors cannot reach in and ours cannot leak
// out. What is inherited through the shadow boundary (font, colour, spacing) is reset on the
// widget's root, in pixels rather than rem, which follows the page's root font size.
//
// Events (they bubble and cross shadow roots): `upres-progress` ({ stage, done, total }),
// `upres-done` ({ blob, width, height, route, metadata }: blob is a File named like
// `photo@2000px.jpg`, route says which model ran and why, metadata what the file carries besides
// the pixels) and `upres-error` ({ error, message }).

import { ownModel, upscaleImage } from './api.js';
import { describe, describePrint, FITS, invalid, jobOptions, parsePrint } from './job.js';
import { describeError } from './messages.js';

const sheet = new CSSStyleSheet();
sheet.replaceSync(`
  :host { display: block; }
  :host([hidden]) { display: none; }
  .widget {
    all: initial; box-sizing: border-box; display: flex; flex-direction: column; gap: 8px;
    max-width: 100%; padding: 12px 14px; border: 2px dashed #8c959f; border-radius: 8px;
    background: #f6f8fa; color: #1f2328; color-scheme: light;
    font: 400 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  }
  .widget.over { border-color: #3b6fd8; background: #e9effb; }
  .row { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px; }
  button {
    all: initial; font: inherit; font-weight: 600; padding: 6px 14px; border-radius: 6px;
    background: #3b6fd8; color: #fff; cursor: pointer;
  }
  button:focus-visible { outline: 2px solid #3b6fd8; outline-offset: 2px; }
  button.secondary { background: #fff; color: #2457c5; box-shadow: inset 0 0 0 1px #2457c5; }
  progress { display: block; width: 100%; height: 8px; }
  .status { margin: 0; font-size: 13px; color: #57606a; overflow-wrap: anywhere; }
  .status.error { color: #c62828; }
  [hidden] { display: none !important; }
`);

const WAIT = 'This image is still being upscaled: save again once it is done.';
const failed = (message) =>
  `This image could not be upscaled: ${message.replace(/\.$/, '')}. Choose another image, or choose ` +
  '“Use the original” to send it as it is.';
const unreadable = (message) =>
  `This file cannot be used as an image: ${message.replace(/\.$/, '')}. Choose an image file.`;

class UpresUpscaler extends HTMLElement {
  static observedAttributes = [
    'for',
    'scale',
    'long-edge',
    'print',
    'fit',
    'format',
    'quality',
    'input',
    'metadata',
    'look',
    'model',
    'workers',
  ];

  #widget;
  #picker;
  #progress;
  #status;
  #original;
  /** After a failure: the input it left invalid and the files that failed, which "Use the
   *  original" puts there. */
  #failure = null;
  /** The document (or shadow root) the widget is in, while it is in one. */
  #home = null;
  /** Aborts the job in progress: a newer image replaces it (choosing one never waits for the
   *  last), or the widget leaves the page. */
  #job = null;
  /** Listens on the whole document, in the capture phase: the bound input may be rendered after
   *  the widget, or replaced, and the page's own handlers may stop the event. */
  #onChange = ({ target }) => {
    if (target !== this.#boundInput(false)) return;
    if (target.files.length > 0) this.#run([...target.files]);
    else if (this.#failure) {
      // The failed image was taken out: nothing is left to refuse.
      this.#clearFailure();
      this.#showIdle();
    }
  };

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [sheet];
    root.innerHTML = `
      <div class="widget">
        <div class="row">
          <button type="button">Choose image</button>
          <span>or drop one here</span>
        </div>
        <input type="file" accept="image/*" hidden>
        <progress max="1" value="0" hidden aria-label="Upscaling progress"></progress>
        <p class="status" role="status" aria-live="polite"></p>
        <div class="row" hidden><button type="button" class="original secondary">Use the original</button></div>
      </div>`;
    const $ = (selector) => root.querySelector(selector);
    this.#widget = $('.widget');
    this.#picker = $('input');
    this.#progress = $('progress');
    this.#status = $('.status');
    this.#original = $('button.original');

    $('button').addEventListener('click', () => this.#picker.click());
    this.#original.addEventListener('click', () => this.#useOriginal());
    this.#picker.addEventListener('change', () => {
      const files = [...this.#picker.files];
      this.#picker.value = '';
      if (files.length > 0) this.#run(files);
    });
    for (const type of ['dragenter', 'dragover']) {
      this.#widget.addEventListener(type, (event) => {
        event.preventDefault();
        this.#widget.classList.add('over');
      });
    }
    this.#widget.addEventListener('dragleave', () => this.#widget.classList.remove('over'));
    this.#widget.addEventListener('drop', (event) => {
      event.preventDefault();
      this.#widget.classList.remove('over');
      const files = [...event.dataTransfer.files];
      if (files.length > 0) this.#run(this.#picker.multiple ? files : files.slice(0, 1));
    });
  }

  connectedCallback() {
    this.#home = this.getRootNode();
    this.#home.addEventListener('change', this.#onChange, true);
    this.#showIdle();
  }

  disconnectedCallback() {
    this.#job?.abort();
    // Without the widget, nothing could lift the failure's refusal.
    this.#clearFailure();
    this.#home.removeEventListener('change', this.#onChange, true);
    this.#home = null;
  }

  attributeChangedCallback() {
    if (this.isConnected && !this.#job) this.#showIdle();
  }

  /**
   * The <input type="file"> that `for` names, or null without `for`. Looked up each time, since
   * the page may render or replace it after the widget; when it names nothing usable, that is an
   * error (or null, when `strict` is false).
   */
  #boundInput(strict = true) {
    const id = this.getAttribute('for');
    if (id === null || !this.#home) return null;
    const input = this.#home.getElementById(id);
    if (input instanceof HTMLInputElement && input.type === 'file') return input;
    if (!strict) return null;
    const found = input
      ? `#${id} is a <${input.localName}${input.type ? ` type="${input.type}"` : ''}>`
      : `there is no element with id "${id}"`;
    throw Object.assign(new Error(`for="${id}" should name an <input type="file"> on this page, but ${found}`), {
      kind: 'parameter',
    });
  }

  /** The options the attributes ask for, as upscale() takes them. */
  #options() {
    // Numbers as numbers; anything else as written, for the error message to quote.
    const value = (name) => {
      const text = this.getAttribute(name);
      if (text === null) return undefined;
      return text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
    };
    const scale = value('scale');
    const longEdge = value('long-edge');
    const print = this.getAttribute('print');
    const fit = this.getAttribute('fit');
    const quality = value('quality');
    const workers = value('workers');
    if ([scale, longEdge, print ?? undefined].filter((size) => size !== undefined).length > 1) {
      throw invalid('<upres-upscaler> takes one of the scale, long-edge and print attributes, not several', TypeError);
    }
    if (fit !== null && print === null)
      throw invalid('fit applies to a print size: give a print attribute too', TypeError);
    if (fit !== null && !FITS.includes(fit)) throw invalid(`fit must be "contain" or "cover", not ${describe(fit)}`);
    return {
      ...(scale !== undefined && { scale }),
      ...(longEdge !== undefined && { target: { longEdge } }),
      ...(print !== null && { target: { print: { ...parsePrint(print, 'print'), ...(fit !== null && { fit }) } } }),
      ...(this.hasAttribute('format') && { format: this.getAttribute('format') }),
      ...(quality !== undefined && { quality }),
      ...(this.hasAttribute('input') && { input: this.getAttribute('input') }),
      ...(this.hasAttribute('metadata') && { metadata: this.getAttribute('metadata') }),
      ...(this.hasAttribute('look') && { look: this.getAttribute('look') }),
      ...(this.hasAttribute('model') && { model: this.getAttribute('model') }),
      ...(workers !== undefined && { workers }),
    };
  }

  /** What the widget will do, or what is wrong with its attributes. */
  #showIdle() {
    this.#progress.hidden = true;
    let job;
    let input;
    try {
      const options = this.#options();
      job = jobOptions(options);
      ownModel(options.model);
      input = this.#boundInput();
    } catch (error) {
      return this.#show(describeError(error), true);
    }
    this.#picker.multiple = input?.multiple ?? false;
    const { scale, longEdge, print } = job.target;
    const size = scale
      ? `${scale}×`
      : longEdge
        ? `to ${longEdge} px on the long edge`
        : `for printing ${describePrint(print)}`;
    this.#show(
      input
        ? `Images chosen for the form are upscaled ${size} in this browser before it sends them.`
        : `Images are upscaled ${size} in this browser: nothing is uploaded.`,
    );
  }

  #show(text, error = false) {
    this.#status.textContent = text;
    this.#status.classList.toggle('error', error);
  }

  async #run(files) {
    this.#job?.abort();
    this.#clearFailure();
    const job = new AbortController();
    this.#job = job;
    let input = null;
    const results = [];
    this.#progress.hidden = false;
    this.#progress.value = 0;
    try {
      const options = this.#options();
      input = this.#boundInput();
      input?.setCustomValidity(WAIT);
      for (const [index, file] of files.entries()) {
        const which = files.length > 1 ? ` image ${index + 1} of ${files.length}` : '';
        this.#show(`Getting ready to upscale${which}…`);
        const onProgress = (progress) => {
          if (job.signal.aborted) return;
          this.#showProgress(progress, which);
          this.#emit('upres-progress', progress);
        };
        results.push(await upscaleImage(file, { ...options, signal: job.signal, onProgress }));
      }
    } catch (error) {
      if (job.signal.aborted) return this.#abandon(job, input);
      this.#finish(null);
      this.#fail(input, files, error);
      return;
    }
    if (job.signal.aborted) return this.#abandon(job, input);
    if (input) {
      const transfer = new DataTransfer();
      for (const { blob } of results) transfer.items.add(blob);
      input.files = transfer.files;
    }
    this.#finish(input);
    // Each size with the model that made it, and why.
    const sizes = results.map(({ width, height, route }) => `${width}×${height} px (${route})`).join(', ');
    const names = results.map(({ blob }) => blob.name).join(', ');
    this.#show(input ? `Upscaled to ${sizes}: the form will send ${names}.` : `Upscaled to ${sizes}.`);
    for (const result of results) this.#emit('upres-done', result);
  }

  /** Each stage in words, as it is: the download, the engine starting, the tiles upscaled. */
  #showProgress({ stage, done, total }, which) {
    const progress = this.#progress;
    if (stage === 'start' && done < total) {
      // As long as it takes: no amount to show.
      progress.removeAttribute('value');
      return this.#show('Starting the upscaler…');
    }
    progress.value = total ? done / total : 0;
    if (stage === 'download') this.#show(`Downloading the upscaler: ${Math.floor(progress.value * 100)} %`);
    else if (stage === 'start') this.#show(`Upscaling${which}…`);
    else this.#show(`Upscaling${which}: ${done} of ${total} tiles`);
  }

  /** Upscaling failed: said in the widget, and by the bound input, which refuses the form until
   *  another image is chosen or, when the file is an image, the original is accepted. */
  #fail(input, files, error) {
    const message = describeError(error);
    // A file the engine cannot read as an image would reach the store as the product photo.
    const image = error.kind !== 'decode';
    if (input) {
      this.#failure = { input, files, image };
      input.setCustomValidity(image ? failed(message) : unreadable(message));
      this.#original.parentElement.hidden = !image;
    }
    const refused = !input
      ? ''
      : image
        ? ' The form will not send it: choose another image, or use the original as it is.'
        : ' The form will not send it: choose an image file.';
    this.#show(`${message.replace(/\.$/, '')}.${refused}`, true);
    this.#emit('upres-error', { error, message: error.message });
  }

  /** "Use the original": the files that failed go into the input as they are, and the form may
   *  send them. */
  #useOriginal() {
    if (!this.#failure?.image) return;
    const { input, files } = this.#failure;
    const inInput = [...input.files];
    if (inInput.length !== files.length || inInput.some((file, i) => file !== files[i])) {
      const transfer = new DataTransfer();
      for (const file of files) transfer.items.add(file);
      input.files = transfer.files;
    }
    const focused = this.shadowRoot.activeElement === this.#original;
    this.#clearFailure();
    this.#show(`The form will send the original: ${files.map((file) => file.name).join(', ')}.`);
    // The button is gone: the focus goes to the widget's other one, not to the page's top.
    if (focused) this.#widget.querySelector('button').focus();
  }

  #clearFailure() {
    this.#failure?.input.setCustomValidity('');
    this.#failure = null;
    this.#original.parentElement.hidden = true;
  }

  /** A job ended early, with nothing to report: by a newer image, whose job now owns the input,
   *  or by the widget's removal, which must not leave the form refusing to be sent. */
  #abandon(job, input) {
    if (job === this.#job) this.#finish(input);
  }

  #finish(input) {
    this.#job = null;
    input?.setCustomValidity('');
    this.#progress.hidden = true;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

// Each attribute as a property too, as HTML's own elements reflect theirs: strings, or null when
// the attribute is absent; setting null or undefined removes it.
const PROPERTIES = {
  htmlFor: 'for',
  scale: 'scale',
  longEdge: 'long-edge',
  print: 'print',
  fit: 'fit',
  format: 'format',
  quality: 'quality',
  input: 'input',
  metadata: 'metadata',
  look: 'look',
  model: 'model',
  workers: 'workers',
};
for (const [property, attribute] of Object.entries(PROPERTIES)) {
  Object.defineProperty(UpresUpscaler.prototype, property, {
    get() {
      return this.getAttribute(attribute);
    },
    set(value) {
      if (value === null || value === undefined) this.removeAttribute(attribute);
      else this.setAttribute(attribute, String(value));
    },
    configurable: true,
    enumerable: true,
  });
}

if (!customElements.get('upres-upscaler')) customElements.define('upres-upscaler', UpresUpscaler);
