// <before-after before="URL" after="URL">: the original and the result stacked at the same
// size, a slider (or a drag on the picture) revealing one or the other. "100 %" shows the result
// pixel for pixel, scrollable, with the original stretched to match; "Fit" shows it whole.
// Styles are a constructed stylesheet, which the page's Content-Security-Policy allows.

const sheet = new CSSStyleSheet();
sheet.replaceSync(`
  :host { display: block; }
  .frame { overflow: auto; max-height: 70vh; border: 1px solid var(--line, #ccc); background: #8884; }
  .stage { position: relative; margin: auto; touch-action: none; cursor: ew-resize; }
  img { position: absolute; inset: 0; width: 100%; height: 100%; user-select: none; -webkit-user-drag: none; }
  .handle { position: absolute; top: 0; bottom: 0; width: 2px; background: #fff; box-shadow: 0 0 0 1px #0008; pointer-events: none; }
  .label { position: absolute; top: .4em; padding: .1em .4em; font: 12px system-ui, sans-serif; color: #fff; background: #0009; border-radius: 3px; }
  .label.before { left: .4em; } .label.after { right: .4em; }
  .controls { display: flex; gap: .75em; align-items: center; margin-top: .5em; }
  input { flex: 1; }
`);

class BeforeAfter extends HTMLElement {
  static observedAttributes = ['before', 'after'];
  #split = 50;
  #actual = false;
  #parts;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [sheet];
    root.innerHTML = `
      <div class="frame"><div class="stage">
        <img class="before" alt="Original" draggable="false">
        <img class="after" alt="Upscaled" draggable="false">
        <div class="handle"></div>
        <span class="label before">Before</span><span class="label after">After</span>
      </div></div>
      <div class="controls">
        <input type="range" min="0" max="100" step="0.1" value="50" aria-label="Split between before and after">
        <button type="button" class="zoom">100 %</button>
      </div>`;
    const $ = (selector) => root.querySelector(selector);
    this.#parts = { frame: $('.frame'), stage: $('.stage'), before: $('img.before'), after: $('img.after'), handle: $('.handle'), range: $('input'), zoom: $('.zoom') };
    const { stage, range, zoom, after } = this.#parts;
    range.addEventListener('input', () => this.#setSplit(Number(range.value)));
    zoom.addEventListener('click', () => this.#setActual(!this.#actual));
    after.addEventListener('load', () => this.#layout());
    stage.addEventListener('pointerdown', (event) => {
      stage.setPointerCapture(event.pointerId);
      this.#drag(event);
    });
    stage.addEventListener('pointermove', (event) => {
      if (stage.hasPointerCapture(event.pointerId)) this.#drag(event);
    });
    new ResizeObserver(() => this.#layout()).observe(this);
  }

  attributeChangedCallback(name, _old, value) {
    this.#parts[name].src = value ?? '';
  }

  /** Whether the result is shown at 100 % (one image pixel per CSS pixel). */
  get actualSize() {
    return this.#actual;
  }

  #drag(event) {
    const box = this.#parts.stage.getBoundingClientRect();
    this.#setSplit(((event.clientX - box.left) / box.width) * 100);
  }

  #setSplit(percent) {
    this.#split = Math.min(100, Math.max(0, percent));
    this.#parts.range.value = String(this.#split);
    this.#parts.after.style.clipPath = `inset(0 0 0 ${this.#split}%)`;
    this.#parts.handle.style.left = `${this.#split}%`;
  }

  #setActual(actual) {
    this.#actual = actual;
    this.#parts.zoom.textContent = actual ? 'Fit' : '100 %';
    this.#layout();
  }

  #layout() {
    const { stage, after, frame } = this.#parts;
    const width = after.naturalWidth || 1;
    const height = after.naturalHeight || 1;
    const scale = this.#actual ? 1 : Math.min(1, frame.clientWidth / width, (innerHeight * 0.7) / height);
    stage.style.width = `${Math.round(width * scale)}px`;
    stage.style.height = `${Math.round(height * scale)}px`;
    this.#setSplit(this.#split);
  }
}

customElements.define('before-after', BeforeAfter);
