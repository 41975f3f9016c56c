// <before-after before="URL" after="URL">: the original and the result stacked at the same
// size, a split between them: the original on its left, the result on its right. "Fit" shows
// the whole picture, where a drag anywhere moves the split. "100 %" shows the result pixel for
// pixel (the original stretched to match), opening centred on the split; there a drag on the
// picture pans it and a drag on the handle moves the split. The slider below moves the split
// from the keyboard; the focused picture pans with the arrow keys. Transparent pixels show as a
// checkerboard. Styles are a constructed stylesheet, which the page's Content-Security-Policy
// allows.

const sheet = new CSSStyleSheet();
sheet.replaceSync(`
  :host { display: block; }
  .frame {
    position: relative; overflow: auto; max-height: 70vh; border: 1px solid var(--line, #8c959f); background: #8882;
    overscroll-behavior: contain;
  }
  .frame:focus-visible { outline: 2px solid var(--accent, #3b6fd8); outline-offset: 2px; }
  /* Fit: vertical swipes still scroll the page on a touch screen, sideways ones move the split. */
  .stage {
    position: relative; overflow: hidden; margin: auto; touch-action: pan-y; cursor: ew-resize;
    background: repeating-conic-gradient(#c8c8c8 0 25%, #fff 0 50%) 0 0 / 16px 16px;
  }
  .stage.zoomed { touch-action: none; cursor: grab; }
  .stage.panning { cursor: grabbing; }
  img { position: absolute; inset: 0; width: 100%; height: 100%; user-select: none; -webkit-user-drag: none; }
  .handle { position: absolute; top: 0; bottom: 0; width: 2px; margin-left: -1px; background: #fff; box-shadow: 0 0 0 1px #0008; pointer-events: none; }
  .grip {
    position: absolute; left: 0; width: 36px; height: 36px; margin: -18px 0 0 -18px; border-radius: 50%;
    background: #fff; box-shadow: 0 0 0 1px #0008, 0 1px 4px #0006; cursor: ew-resize; touch-action: none;
    display: grid; place-items: center; color: #1f2328; font: 700 16px/1 system-ui, sans-serif;
  }
  /* The labels sit on the view, not on the picture: at 100 % they stay in sight as it pans (the
     right one clear of the scroll bar). */
  .view { position: relative; }
  .label { position: absolute; top: .4em; padding: .1em .4em; font: 12px system-ui, sans-serif; color: #fff; background: #000b; border-radius: 3px; pointer-events: none; }
  .label.before { left: .4em; } .label.after { right: 1.4em; }
  .controls { display: flex; gap: .75em; align-items: center; margin-top: .5em; }
  input { flex: 1; min-height: 24px; accent-color: var(--accent, #3b6fd8); }
  button {
    font: inherit; min-height: 36px; padding: .3em .9em; border-radius: .4em; cursor: pointer;
    border: 1px solid var(--line, #8c959f); background: var(--panel, #f6f8fa); color: inherit;
  }
  button:focus-visible, input:focus-visible { outline: 2px solid var(--accent, #3b6fd8); outline-offset: 2px; }
`);

class BeforeAfter extends HTMLElement {
  static observedAttributes = ['before', 'after'];
  #split = 50;
  #actual = false;
  #parts;
  /** The drag in progress: { mode: 'split' | 'pan', x, y, left, top }, or null. */
  #drag = null;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [sheet];
    root.innerHTML = `
      <div class="view"><div class="frame" tabindex="0" role="group" aria-label="Before and after; scroll to see all of it at 100 %"><div class="stage">
        <img class="before" alt="Original" draggable="false">
        <img class="after" alt="Upscaled" draggable="false">
        <div class="handle"></div>
        <div class="grip" aria-hidden="true">↔</div>
      </div></div>
      <span class="label before" aria-hidden="true">Before</span><span class="label after" aria-hidden="true">After</span></div>
      <div class="controls">
        <input type="range" min="0" max="100" step="1" value="50" aria-label="Split between before and after">
        <button type="button" class="zoom">100 %</button>
      </div>`;
    const $ = (selector) => root.querySelector(selector);
    this.#parts = {
      frame: $('.frame'),
      stage: $('.stage'),
      before: $('img.before'),
      after: $('img.after'),
      handle: $('.handle'),
      grip: $('.grip'),
      range: $('input'),
      zoom: $('.zoom'),
    };
    const { frame, stage, range, zoom, after } = this.#parts;
    range.addEventListener('input', () => {
      this.#setSplit(Number(range.value));
      this.#keepSplitInView();
    });
    zoom.addEventListener('click', () => this.#setActual(!this.#actual));
    after.addEventListener('load', () => this.#layout(true));
    frame.addEventListener('scroll', () => this.#placeGrip());
    stage.addEventListener('pointerdown', (event) => this.#startDrag(event));
    stage.addEventListener('pointermove', (event) => this.#moveDrag(event));
    for (const type of ['pointerup', 'pointercancel', 'lostpointercapture'])
      stage.addEventListener(type, () => this.#endDrag());
    new ResizeObserver(() => this.#layout()).observe(this);
  }

  attributeChangedCallback(name, _old, value) {
    this.#parts[name].src = value ?? '';
  }

  /** Whether the result is shown at 100 % (one image pixel per CSS pixel). */
  get actualSize() {
    return this.#actual;
  }

  /** Resolves once the result is decoded and laid out (or failed to load): its final size. */
  async loaded() {
    await this.#parts.after.decode().catch(() => {});
    this.#layout();
  }

  /** Where the split is, in percent of the width from the left. */
  get split() {
    return this.#split;
  }

  #startDrag(event) {
    if (event.pointerType === 'mouse' && event.button !== 0) return;
    const { stage, frame, grip } = this.#parts;
    // Zoomed, the picture pans and only the handle moves the split.
    const mode = !this.#actual || event.target === grip ? 'split' : 'pan';
    this.#drag = { mode, x: event.clientX, y: event.clientY, left: frame.scrollLeft, top: frame.scrollTop };
    stage.setPointerCapture(event.pointerId);
    stage.classList.toggle('panning', mode === 'pan');
    event.preventDefault();
    // So that the arrow keys pan from here on.
    if (this.#actual) frame.focus({ preventScroll: true });
    if (mode === 'split') this.#splitAt(event);
  }

  #moveDrag(event) {
    if (!this.#drag || !this.#parts.stage.hasPointerCapture(event.pointerId)) return;
    const { mode, x, y, left, top } = this.#drag;
    if (mode === 'split') return this.#splitAt(event);
    this.#parts.frame.scrollLeft = left - (event.clientX - x);
    this.#parts.frame.scrollTop = top - (event.clientY - y);
  }

  #endDrag() {
    this.#drag = null;
    this.#parts.stage.classList.remove('panning');
  }

  #splitAt(event) {
    const box = this.#parts.stage.getBoundingClientRect();
    this.#setSplit(((event.clientX - box.left) / box.width) * 100);
  }

  #setSplit(percent) {
    const { range, before, after, handle, grip } = this.#parts;
    this.#split = Math.min(100, Math.max(0, percent));
    range.value = String(this.#split);
    // Each image only on its own side: a transparent pixel of the result must not show the
    // original through it.
    before.style.clipPath = `inset(0 ${100 - this.#split}% 0 0)`;
    after.style.clipPath = `inset(0 0 0 ${this.#split}%)`;
    handle.style.left = `${this.#split}%`;
    grip.style.left = `${this.#split}%`;
  }

  /** Zoomed, a split moved from the keyboard is scrolled into view when it leaves it. */
  #keepSplitInView() {
    const { frame, stage } = this.#parts;
    if (!this.#actual) return;
    const x = (this.#split / 100) * stage.offsetWidth + stage.offsetLeft;
    if (x < frame.scrollLeft || x > frame.scrollLeft + frame.clientWidth) frame.scrollLeft = x - frame.clientWidth / 2;
  }

  #setActual(actual) {
    this.#actual = actual;
    this.#parts.zoom.textContent = actual ? 'Fit' : '100 %';
    this.#parts.zoom.setAttribute('aria-pressed', String(actual));
    this.#layout(true);
  }

  /** Sizes the picture; `centre`: and, at 100 %, scrolls it so that the split is in the middle. */
  #layout(centre = false) {
    const { stage, after, frame } = this.#parts;
    const width = after.naturalWidth || 1;
    const height = after.naturalHeight || 1;
    const scale = this.#actual ? 1 : Math.min(1, frame.clientWidth / width, (innerHeight * 0.7) / height);
    stage.style.width = `${Math.round(width * scale)}px`;
    stage.style.height = `${Math.round(height * scale)}px`;
    stage.classList.toggle('zoomed', this.#actual);
    this.#setSplit(this.#split);
    if (centre && this.#actual) {
      frame.scrollLeft = (this.#split / 100) * stage.offsetWidth + stage.offsetLeft - frame.clientWidth / 2;
      frame.scrollTop = (stage.offsetHeight - frame.clientHeight) / 2;
    }
    this.#placeGrip();
  }

  /** The handle's grip halfway down the part of the picture in view. */
  #placeGrip() {
    const { frame, stage, grip } = this.#parts;
    const visible = Math.min(frame.clientHeight, stage.offsetHeight);
    grip.style.top = `${frame.scrollTop + visible / 2}px`;
  }
}

customElements.define('before-after', BeforeAfter);
