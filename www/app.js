// The page: picking images, options, the queue, progress, the result. Everything heavy runs in
// the worker behind engine.js; this module only moves data between it and the DOM, so the main
// thread stays free while a job runs.
//
// The queue keeps what it has made. Each image keeps its result and the settings it was made
// with; "Upscale" runs the images that have no result yet, those still being checked included
// (none is left out of a batch), with the settings as they are when each one starts; an image
// too large for the settings runs again once they change. A finished image runs again only
// when asked ("Run again with these settings", per image or for all), and Cancel stops the
// image that is running, nothing else: a finished image's result is never lost to a change of
// settings or a cancel. A number that is not valid is said at its field, and Upscale waits.
//
// A person may bring their own model (the Model settings): it is read in the worker, kept in this
// browser (own-models.js) and, while it is in use, runs on every image instead of upres's models;
// a result made with another model than the one in use is out of date like one made with other
// settings.

import { Upres } from './engine.js';
import {
  DPI,
  describePrint,
  enlargement,
  formatSupport,
  isDpi,
  isPrintSide,
  isSide,
  largestScale,
  MAX_PRINT,
  MAX_SIDE,
  outputName,
  PAPERS,
  printPixels,
} from './job.js';
import { describeError, unsupportedBrowser } from './messages.js';
import { describeSettings, hasQuality, loadOptions, pageJob, saveOptions } from './options.js';
import { forgetModel, keepModel, listModels, modelFiles, storedFiles } from './own-models.js';
import './compare.js';

/** The page's element with this id: any kind, as index.html makes it (inputs, a canvas, a progress bar…). */
const $ = (id) => /** @type {any} */ (document.getElementById(id));
const form = $('options');
/** `?workers=N` in the page's address sets how many workers compute tiles on the CPU (tests and
 *  benchmarks compare counts); an invalid one is said, and the default used. */
const upres = (() => {
  const workers = new URLSearchParams(location.search).get('workers');
  try {
    return new Upres({ workers: workers === null ? undefined : Number(workers) });
  } catch (error) {
    showMessage(`Ignoring ?workers=${workers} in the address: ${error.message}.`);
    return new Upres();
  }
})();
/**
 * Every image added, in queue order: { file, li, originalUrl, status, note, info, transparent,
 * result, made }. `status` is checking, ready (no result yet), queued, working, done, failed,
 * invalid or refused (too large for the settings in `refusedKey`); `made` is the settings the
 * result was made with ({ key, label, format }).
 */
const items = [];
/** The page's state besides the queue: everything the handlers below change. */
const state = {
  /** The settings, as options.js keeps them. */
  options: loadOptions(),
  /** The size fields in use that hold no valid number, { name: what it takes, in words }: Upscale
   *  waits until they are fixed. */
  problems: {},
  /** What this browser can write (job.js's formatSupport()); null until it is known. */
  formats: null,
  engineReady: false,
  /** The latest start of the engine, `{ done }` (a promise): a change of backend starts it again. */
  engineStart: null,
  /** The image being upscaled and the controller that cancels it; null between images. */
  running: null,
  /** Whether the queue is being worked through (until no image is queued). */
  working: false,
  /** The image whose result the comparison shows. */
  shown: null,
  /** Whether the CPU module and the model cards are downloaded: a model can be read from then. */
  loaded: false,
  /** The person's own models, kept (own-models.js) or, where this browser keeps none, for this
   *  visit: { id, files, card, info, date, entry (what the engine read, once read this visit) }. */
  ownModels: [],
  /** The own model in use, or null for upres's models. */
  model: null,
  /** Whether a model is being read or put in use. */
  modelBusy: false,
};

function showMessage(text) {
  $('message').textContent = text ?? '';
  $('message').hidden = !text;
}

/** Says `text` to screen readers (a polite live region): results and failures. */
function announce(text) {
  $('announce').textContent = text;
}

const formatBytes = (n) =>
  n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KB` : `${(n / (1 << 20)).toFixed(1)} MB`;
const formatTime = (ms) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

// ---- Options -------------------------------------------------------------------------------

/** A job and the own model that runs it (none: upres's), as a key to compare results' settings
 *  with. */
const settingsKey = (job, model = state.model) => JSON.stringify({ job, model: model?.id ?? null });

/** The job the current options ask for, as settingsKey() writes it. */
const currentKey = () => settingsKey(pageJob(state.options));

/** The settings in words, with the own model when one runs. */
const describeAll = (settings, model = state.model) =>
  [describeSettings(settings), model && `your model ${model.info.name}`].filter(Boolean).join(' · ');

/** The papers of job.js in the print size menu, before "Custom size": paper, then photo prints. */
function listPapers() {
  const select = form.elements.paper;
  for (const [kind, label] of [
    ['paper', 'Paper'],
    ['photo', 'Photo prints'],
  ]) {
    const group = Object.assign(document.createElement('optgroup'), { label });
    for (const [key, paper] of Object.entries(PAPERS).filter(([, p]) => p.kind === kind)) {
      const size = paper.kind === 'photo' ? '' : ` (${paper.width}×${paper.height} ${paper.unit})`;
      group.append(new Option(`${paper.name}${size}`, key));
    }
    select.insertBefore(group, select.lastElementChild);
  }
}

/**
 * Shows the options in the form, with what follows from them: the quality where the format has
 * one, the custom print size when it is chosen, the print's size in pixels. `editing`, the field
 * being typed in, keeps what it shows (a half-typed "8." is not yet a number); it is tidied when
 * the person leaves it.
 */
function showOptions(editing = null) {
  for (const [name, value] of Object.entries(state.options)) {
    const field = form.elements[name];
    // What the person typed stays until they fix it, marked, never replaced by another number.
    if (field === editing || name in state.problems) continue;
    if (field instanceof RadioNodeList) field.value = value;
    else if (field) field.value = String(value);
  }
  const lossy = hasQuality(state.options);
  $('quality-value').textContent = String(state.options.quality);
  form.elements.quality.disabled = !lossy;
  $('quality-note').textContent = lossy
    ? 'Higher keeps more detail and makes larger files.'
    : 'Only JPEG and lossy WebP have a quality: PNG and lossless WebP keep every pixel as it is.';

  $('print-custom').hidden = state.options.paper !== 'custom';
  const { print } = pageJob({ ...state.options, size: 'print' }).target;
  const [width, height] = printPixels(print);
  $('print-note').textContent =
    `${describePrint(print)} is ${width}×${height} pixels, turned to match each image; ` +
    'the file says to print it at that size.';
  for (const name of Object.keys(NUMBERS)) {
    if (name in state.problems) form.elements[name].setAttribute('aria-invalid', 'true');
    else form.elements[name].removeAttribute('aria-invalid');
  }
  $('size-problem').textContent = Object.values(state.problems).join(' ');
  $('size-problem').hidden = Object.keys(state.problems).length === 0;
  $('metadata-note').textContent = {
    'no-location':
      'The colour profile, camera, date, copyright and DPI go with each image; where a photo was taken (GPS) does not.',
    all: 'Everything goes with each image, including where a photo was taken (GPS).',
    color: 'Only what changes how the image looks and prints: its colour profile and DPI.',
    none: 'Nothing from the original: no colour profile, camera details or location (a print size still sets the DPI).',
  }[state.options.metadata];
}

/** Says which formats this browser cannot write, and why; lossy WebP is offered only where the
 *  browser has a WebP encoder. */
function showFormats() {
  const lossyWebP = form.elements.format.querySelector('option[value="webp-lossy"]');
  lossyWebP.disabled = !state.formats.webp.lossy;
  if (lossyWebP.disabled) lossyWebP.textContent = 'WebP (lossy): not in this browser';
  const reasons = [
    !state.formats.webp.lossy && `Lossy WebP: ${state.formats.webp.reason}.`,
    `${state.formats.avif.reason}.`,
  ];
  $('format-note').textContent = reasons.filter(Boolean).join(' ');
}

/** The form's values; a number field that holds no number (empty, or not one) reads NaN, and
 *  "12.5" reads 12.5, for the checks to refuse rather than round. */
function readOptions() {
  const value = (name) => form.elements[name].value;
  const number = (name) => (value(name).trim() === '' ? Number.NaN : Number(value(name)));
  return {
    size: value('size'),
    scale: number('scale'),
    longEdge: number('longEdge'),
    width: number('width'),
    height: number('height'),
    fit: value('fit'),
    paper: value('paper'),
    printWidth: number('printWidth'),
    printHeight: number('printHeight'),
    printUnit: value('printUnit'),
    dpi: number('dpi'),
    printFit: value('printFit'),
    format: value('format'),
    quality: number('quality'),
    input: value('input'),
    metadata: value('metadata'),
    look: value('look'),
    backend: value('backend'),
  };
}

const pixels = `a whole number of pixels from 1 to ${MAX_SIDE}`;
/** The number fields of the sizes: whether a value is valid (given the other options), and what
 *  the field takes, in words. */
const NUMBERS = {
  longEdge: { valid: isSide, says: () => `Long edge: enter ${pixels}.` },
  width: { valid: isSide, says: () => `Width: enter ${pixels}.` },
  height: { valid: isSide, says: () => `Height: enter ${pixels}.` },
  printWidth: {
    valid: (v, o) => isPrintSide(v, o.printUnit),
    says: (o) =>
      `Print width: enter more than 0 and at most ${Math.floor(MAX_PRINT[o.printUnit] * 10) / 10} ${o.printUnit}.`,
  },
  printHeight: {
    valid: (v, o) => isPrintSide(v, o.printUnit),
    says: (o) =>
      `Print height: enter more than 0 and at most ${Math.floor(MAX_PRINT[o.printUnit] * 10) / 10} ${o.printUnit}.`,
  },
  dpi: { valid: isDpi, says: () => `DPI: enter a whole number from ${DPI.min} to ${DPI.max}.` },
};

/** Whether the number field `name` matters to the size `o` asks for: a custom print size's
 *  sides only when the paper is "Custom size". */
const inUse = (name, o) =>
  SIZE_KIND[name] === o.size && (!['printWidth', 'printHeight'].includes(name) || o.paper === 'custom');

/** Which kind of size each size field belongs to: typing in one selects its kind. */
const SIZE_KIND = {
  scale: 'scale',
  longEdge: 'longEdge',
  width: 'box',
  height: 'box',
  fit: 'box',
  paper: 'print',
  printWidth: 'print',
  printHeight: 'print',
  printUnit: 'print',
  dpi: 'print',
  printFit: 'print',
};

form.addEventListener('input', (event) => {
  // The model's file picker is no setting the form keeps.
  if (event.target === $('model-files')) return;
  const backendBefore = state.options.backend;
  const read = readOptions();
  read.size = SIZE_KIND[event.target.name] ?? read.size;
  // An invalid number is said and kept out of the options, which hold the last valid one: a
  // size not in use takes it back, one in use stops Upscale until it is fixed.
  state.problems = {};
  for (const [name, { valid, says }] of Object.entries(NUMBERS)) {
    if (valid(read[name], read)) continue;
    if (inUse(name, read)) state.problems[name] = says(read);
    read[name] = state.options[name];
  }
  saveOptions(read);
  state.options = loadOptions();
  showOptions(event.target);
  if (state.options.backend !== backendBefore) startEngine();
  // Which results the new settings make out of date, which warnings apply.
  for (const item of items) render(item);
  updateButtons();
});
// A field left half-typed ("8.") shows the number in use; one left invalid stays as it is.
form.addEventListener('change', (event) => {
  if (event.target !== $('model-files')) showOptions();
});
form.addEventListener('submit', (event) => event.preventDefault());

/** The options' warning: JPEG cannot keep the transparency of an image in the queue. */
function showAlphaWarning() {
  const transparent = items.filter((item) => item.transparent);
  const warning = $('alpha-warning');
  warning.hidden = state.options.format !== 'jpeg' || transparent.length === 0;
  if (warning.hidden) return;
  const which = transparent.length === 1 ? `“${transparent[0].file.name}” has` : `${transparent.length} images have`;
  warning.textContent =
    `${which} transparent areas. JPEG cannot keep transparency: they will be flattened onto white. ` +
    'Choose PNG or WebP to keep it.';
}

// ---- Input ---------------------------------------------------------------------------------

function addFiles(files) {
  for (const file of files) {
    const li = document.createElement('li');
    li.tabIndex = -1;
    const item = {
      file,
      li,
      originalUrl: URL.createObjectURL(file),
      status: 'checking',
      note: 'Checking…',
      info: null,
      transparent: null,
      result: null,
      made: null,
    };
    li.addEventListener('click', (event) => {
      if (item.result && !(/** @type {Element} */ (event.target).closest('button, a'))) showResult(item);
    });
    items.push(item);
    $('queue').append(li);
    render(item);
    upres.inspect(new AbortController().signal, file).then(
      async (info) => {
        if (item.removed) return;
        item.info = info;
        item.transparent = await hasTransparency(file, info);
        // A queued image stays queued: Upscale took it in while it was being checked.
        if (item.status === 'checking') Object.assign(item, { status: 'ready', note: '' });
        render(item);
        updateButtons();
      },
      (error) => {
        // A running image fails with this same error, and says so itself.
        if (item.removed || item.status === 'working') return;
        Object.assign(item, { status: 'invalid', note: describeError(error), error: true });
        render(item);
        announce(`${file.name}: ${item.note}`);
        updateButtons();
      },
    );
  }
  updateButtons();
}

/**
 * Whether the image has any pixel that is not fully opaque; null when this browser cannot decode
 * it (upres can: TIFF), so that nothing is claimed. Large images are checked at about 16
 * megapixels, where a transparent area still shows.
 */
async function hasTransparency(file, { width, height }) {
  try {
    const bitmap = await createImageBitmap(file, { premultiplyAlpha: 'none' });
    const scale = Math.min(1, Math.sqrt(16e6 / (width * height)));
    const canvas = new OffscreenCanvas(
      Math.max(1, Math.round(bitmap.width * scale)),
      Math.max(1, Math.round(bitmap.height * scale)),
    );
    const context = canvas.getContext('2d', { willReadFrequently: true });
    context.imageSmoothingQuality = 'high';
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 3; i < data.length; i += 4) if (data[i] < 255) return true;
    return false;
  } catch {
    return null;
  }
}

/** Whether a finished image was made with other settings than the current ones. */
const isStale = (item) => item.status === 'done' && item.made.key !== currentKey();

const NO_MODEL = 'the size asked for is no larger than the image, so no model sharpens it.';

/** What the models did to the picture, in words: the person's `own` model, or the route's
 *  "compression-aware" model smooths JPEG blocks; no model ran when the size asked for is no
 *  larger than the image (the route names the model it would have used all the same). */
function plainRoute({ route, models }, own) {
  if (models.length === 0) return `Only resized: ${NO_MODEL}`;
  if (own) return `Enlarged by your own model, ${own.info.name}.`;
  if (/^enhanced look/.test(route))
    return 'Enlarged by the enhanced model: noise, blur and JPEG blocks taken out, edges made crisp.';
  if (/compression-aware/.test(route))
    return 'Enlarged by the model for compressed photos: it smooths JPEG blocks away rather than sharpening them.';
  if (/clean model/.test(route))
    return 'Enlarged by the model for clean images: it sharpens the edges and textures it can see.';
  return 'Enlarged by the network, which sharpens the edges and textures it can see.';
}

/** Redraws an image's line in the queue: what it is, what happened, what can be done with it. */
function render(item) {
  const { file, info, li, status, note, result, made } = item;
  const active = li.contains(document.activeElement) ? document.activeElement : null;
  const focused = active && (active.localName === 'button' ? active.classList[0] : '');
  li.dataset.status = status;
  li.replaceChildren();
  const element = (tag, className, text) =>
    Object.assign(document.createElement(tag), { className, textContent: text });

  const format = info?.mime.replace('image/', '').toUpperCase();
  const facts = [format, info && `${info.width}×${info.height}`, formatBytes(file.size)].filter(Boolean).join(' · ');
  const line = element('div', 'line', '');
  line.append(element('strong', 'name', file.name), ` ${facts}`);
  if (note) line.append(element('span', item.error ? 'note error' : 'note', ` — ${note}`));
  li.append(line);

  if (result) {
    // What was done to the picture, in plain words; which model ran and why, in the engine's
    // precise terms, one click away; what the file carries; the settings it was made with.
    li.append(element('small', 'plain', plainRoute(result, made.model)));
    const more = element('details', 'more', '');
    more.append(element('summary', '', 'Details'), element('small', 'route', result.route));
    if (made.model) more.append(element('small', 'model-card', describeCard(made.model.info)));
    li.append(more);
    li.append(element('small', 'metadata', `Metadata kept: ${result.metadata.replace(/^no metadata/, 'none')}.`));
    const now = isStale(item) ? `; the settings are now ${describeAll(state.options)}` : '';
    li.append(element('small', 'made', `Made with ${made.label}${now}.`));
  }
  if (
    info &&
    !['done', 'invalid', 'refused'].includes(status) &&
    enlargement(pageJob(state.options).target, info) <= 1
  ) {
    li.append(element('small', 'warning', `These settings make it smaller, not larger: ${NO_MODEL}`));
  }
  if (status === 'refused' && isWaiting(item)) {
    li.append(element('small', 'retry', 'The settings have changed since: Upscale tries it again with these.'));
  }
  const jpeg = status === 'done' ? made.format === 'jpeg' : state.options.format === 'jpeg';
  if (item.transparent && jpeg && !['invalid', 'refused'].includes(status)) {
    li.append(
      element(
        'small',
        'warning',
        status === 'done'
          ? 'Its transparent areas were flattened onto white: JPEG cannot keep transparency.'
          : 'It has transparent areas: as a JPEG they will be flattened onto white.',
      ),
    );
  }

  const actions = element('div', 'item-actions', '');
  const button = (className, text, label, onClick) => {
    const b = element('button', className, text);
    b.type = 'button';
    b.setAttribute('aria-label', `${text}: ${file.name}`);
    if (label) b.title = label;
    b.addEventListener('click', onClick);
    actions.append(b);
  };
  if (result && status !== 'working') {
    button('show', 'Show result', null, () => reveal(item, true));
    const download = Object.assign(element('a', 'download', 'Download'), { href: result.url, download: result.name });
    download.setAttribute('aria-label', `Download ${result.name}`);
    actions.append(download);
  }
  if (isStale(item)) {
    const rerun = () => {
      Object.assign(item, { status: 'queued', note: 'Waiting to run again…' });
      render(item);
      runQueue();
    };
    button('rerun', 'Run again with these settings', describeAll(state.options), rerun);
    actions.lastChild.disabled = !state.engineReady || Object.keys(state.problems).length > 0;
  }
  button('remove', 'Remove', null, () => remove(item));
  li.append(actions);

  // A button that went away with the redraw leaves the focus on the line, not lost.
  if (active) ((focused && li.querySelector(`button.${focused}`)) || li).focus();
}

/** Removes an image from the queue, cancelling it first if it runs. */
function remove(item) {
  const index = items.indexOf(item);
  if (index < 0) return;
  const hadFocus = item.li.contains(document.activeElement);
  item.removed = true;
  if (state.running?.item === item) state.running.controller.abort();
  items.splice(index, 1);
  item.li.remove();
  if (state.shown === item) {
    state.shown = null;
    $('result').hidden = true;
  }
  URL.revokeObjectURL(item.originalUrl);
  if (item.result) URL.revokeObjectURL(item.result.url);
  if (hadFocus) (items[index] ?? items[index - 1])?.li.querySelector('button.remove').focus() ?? $('files').focus();
  updateButtons();
}

/** Model files, by their names: among images, they go to the Model settings. */
const MODEL_FILE = /\.(pth|pt|safetensors|param|bin)$/i;

/** Images to the queue, model files to the Model settings. */
function takeFiles(files) {
  const all = [...files];
  const models = all.filter((file) => MODEL_FILE.test(file.name));
  if (models.length > 0) importOwnModel(models);
  addFiles(all.filter((file) => !MODEL_FILE.test(file.name)));
}

$('files').addEventListener('change', (event) => {
  takeFiles(event.target.files);
  event.target.value = '';
});
/** Where a drag is: the Model settings take every file dropped on them, the rest of the page
 *  images (and model files, sent on to the Model settings). */
const dropZone = (event) =>
  event.target instanceof Element && event.target.closest('#model') ? $('model') : $('drop');
for (const type of ['dragenter', 'dragover']) {
  document.addEventListener(type, (event) => {
    event.preventDefault();
    const zone = dropZone(event);
    zone.classList.add('over');
    (zone === $('drop') ? $('model') : $('drop')).classList.remove('over');
  });
}
document.addEventListener('dragleave', () => {
  $('drop').classList.remove('over');
  $('model').classList.remove('over');
});
document.addEventListener('drop', (event) => {
  event.preventDefault();
  $('drop').classList.remove('over');
  $('model').classList.remove('over');
  const files = [...event.dataTransfer.files];
  if (files.length === 0) return;
  if (dropZone(event) === $('model')) importOwnModel(files);
  else takeFiles(files);
});
document.addEventListener('paste', (event) => {
  const files = [...event.clipboardData.files];
  if (files.length > 0) takeFiles(files);
});
if (/^(Mac|iPhone|iPad)/.test(navigator.platform)) $('paste-key').textContent = '⌘V';

// ---- Model ---------------------------------------------------------------------------------

const formatCount = (n) => n.toLocaleString('en');

/** An own model's card in words: what the Details of its results say. */
const describeCard = ({ name, architecture, parameters, macs, format, sha256 }) =>
  `Your model ${name}: ${architecture}; ${formatCount(parameters)} parameters; ` +
  `${formatCount(macs)} multiply-adds per input pixel; read from ${format}, SHA-256 of the file ${sha256}.`;

/** Shows the model in use, the person's own models and what can be done with them now. */
function showModels() {
  const { model } = state;
  $('model-current').textContent = model ? `your model ${model.info.name} (×${model.info.scale})` : 'upres (automatic)';
  $('model-note').textContent = model
    ? `It runs on every image, whatever Look and Image type say; sizes other than ×${model.info.scale} are made from what it makes, resized.`
    : 'upres chooses which of its own models suits each image.';
  // Switching restarts the engine: never under a running image, nor before the module is here.
  const locked = !state.loaded || state.working || state.modelBusy;
  $('model-choose').disabled = locked;
  $('model-default').hidden = !model;
  $('model-default').disabled = locked;
  const list = $('own-models');
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const refocus = focused && {
    id: focused.closest('li').dataset.id,
    className: focused.localName === 'button' ? focused.className : null,
  };
  list.hidden = state.ownModels.length === 0;
  list.replaceChildren(
    ...state.ownModels.map((own) => {
      const li = document.createElement('li');
      li.tabIndex = -1;
      li.dataset.id = String(own.id);
      const { name, scale, parameters } = own.info;
      const size = formatBytes(own.files.reduce((sum, file) => sum + file.bytes.byteLength, 0));
      const line = document.createElement('div');
      line.append(
        Object.assign(document.createElement('strong'), { className: 'name', textContent: name }),
        ` ×${scale} · ${size} · ${formatCount(parameters)} parameters`,
        own === model ? ' · in use' : '',
        own.kept === false ? ' · kept for this visit only: this browser does not store it' : '',
      );
      const actions = Object.assign(document.createElement('div'), { className: 'item-actions' });
      const button = (className, text, onClick) => {
        const b = Object.assign(document.createElement('button'), { type: 'button', className, textContent: text });
        b.setAttribute('aria-label', `${text}: ${name}`);
        b.disabled = locked || (className === 'use' && own === model);
        b.addEventListener('click', onClick);
        return b;
      };
      actions.append(
        button('use', 'Use', () => useOwnModel(own)),
        button('remove', 'Remove', () => removeOwnModel(own)),
      );
      li.append(line, actions);
      return li;
    }),
  );
  if (refocus) {
    const li = list.querySelector(`li[data-id="${refocus.id}"]`);
    const button = refocus.className && li?.querySelector(`button.${refocus.className}`);
    // A button that is disabled now leaves the focus on its line, not lost.
    (button && !button.disabled ? button : (li ?? $('model-choose'))).focus();
  }
}

function showModelProblem(text) {
  $('model-problem').textContent = text ?? '';
  $('model-problem').hidden = !text;
}

/** Does `work` with the model controls locked, saying `doing` meanwhile and any failure at the
 *  Model settings; resolves to whether it succeeded. */
async function modelTask(doing, work) {
  showModelProblem(null);
  if (!state.loaded) {
    showModelProblem('Your model can be read once the upscaler has downloaded.');
    return false;
  }
  if (state.working) {
    showModelProblem('The model can change once the images being upscaled are done.');
    return false;
  }
  state.modelBusy = true;
  $('model-status').textContent = doing;
  showModels();
  try {
    await work();
    return true;
  } catch (error) {
    showModelProblem(describeError(error));
    return false;
  } finally {
    state.modelBusy = false;
    $('model-status').textContent = '';
    showModels();
  }
}

/** Reads the model in `files`, keeps it in this browser and puts it in use; the same file again
 *  is not listed twice. */
async function importOwnModel(files) {
  const names = files.map((file) => file.name).join(' and ');
  let model = null;
  const read = await modelTask(`Reading ${names}…`, async () => {
    const entry = await upres.importModel(new AbortController().signal, files);
    const { weights, card, ...info } = entry;
    model = state.ownModels.find((own) => own.info.sha256 === info.sha256 && own.info.format === info.format);
    if (!model) {
      const record = { files: await storedFiles(files), card, info, date: new Date() };
      // Where this browser keeps nothing (a sandboxed frame, some private windows), the model
      // still works for this visit.
      model = await keepModel(record).catch(() => ({ ...record, id: `visit-${Date.now()}`, kept: false }));
      state.ownModels = [...state.ownModels, model];
    }
    model.entry = entry;
  });
  if (read) await useOwnModel(model);
}

/** Puts `model` in use (read again from its kept files the first time this visit), or upres's
 *  own models when it is null, and starts the engine with it. */
async function useOwnModel(model) {
  const used = await modelTask(
    model ? `Starting your model ${model.info.name}…` : 'Starting upres’s models…',
    async () => {
      if (model) model.entry ??= await upres.importModel(new AbortController().signal, modelFiles(model));
      upres.useModels(model?.entry ?? null);
      state.model = model;
    },
  );
  if (!used) return;
  // Which results the change makes out of date.
  for (const item of items) render(item);
  await startEngine();
}

/** Forgets one of the person's models; when it is in use, upres's models take over. */
async function removeOwnModel(model) {
  if (state.model === model) await useOwnModel(null);
  if (state.model === model) return;
  await modelTask(`Removing ${model.info.name}…`, async () => {
    if (model.kept !== false) await forgetModel(model.id);
    state.ownModels = state.ownModels.filter((own) => own !== model);
  });
}

$('model-choose').addEventListener('click', () => $('model-files').click());
$('model-files').addEventListener('change', (event) => {
  const files = [...event.target.files];
  event.target.value = '';
  if (files.length > 0) importOwnModel(files);
});
$('model-default').addEventListener('click', () => useOwnModel(null));

// ---- Jobs ----------------------------------------------------------------------------------

/** Whether Upscale runs the image: it has no result yet (it may still be being checked), or it
 *  was too large for other settings than these. */
const isWaiting = (item) =>
  ['checking', 'ready', 'failed'].includes(item.status) ||
  (item.status === 'refused' && item.refusedKey !== currentKey());

function updateButtons() {
  const blocked = Object.keys(state.problems).length > 0;
  $('start').disabled = !state.engineReady || blocked || !items.some(isWaiting);
  $('start-note').textContent = blocked ? 'Upscale waits for a valid size (see Size).' : '';
  $('cancel').disabled = state.running === null;
  $('cancel-all').hidden = !items.some((item) => item.status === 'queued');
  $('rerun-all').hidden = !items.some(isStale);
  $('rerun-all').disabled = !state.engineReady || blocked;
  $('clear-finished').hidden = !items.some((item) => item.status === 'done');
  $('download-all').disabled = !items.some((item) => item.result);
  form.elements.backend.disabled = state.working;
  showAlphaWarning();
  showModels();
}

$('start').addEventListener('click', () => {
  for (const item of items.filter(isWaiting)) {
    Object.assign(item, { status: 'queued', note: 'Waiting…', error: false });
    render(item);
  }
  runQueue();
});

$('rerun-all').addEventListener('click', () => {
  for (const item of items.filter(isStale)) {
    Object.assign(item, { status: 'queued', note: 'Waiting to run again…' });
    render(item);
  }
  runQueue();
});

$('cancel').addEventListener('click', () => state.running?.controller.abort());

$('cancel-all').addEventListener('click', () => {
  for (const item of items.filter(({ status }) => status === 'queued')) {
    const unfinished = { status: item.info ? 'ready' : 'checking', note: 'Cancelled' };
    Object.assign(item, item.result ? { status: 'done', note: item.result.summary } : unfinished);
    render(item);
  }
  state.running?.controller.abort();
  updateButtons();
});

$('clear-finished').addEventListener('click', () => {
  for (const item of items.filter(({ status }) => status === 'done')) remove(item);
  if (document.activeElement === document.body || $('clear-finished').hidden) $('files').focus();
});

/** Upscales the queued images one after the other, until none is left; then shows the last
 *  result. Images queued meanwhile join in. */
async function runQueue() {
  updateButtons();
  if (state.working) return;
  state.working = true;
  showMessage(null);
  let last = null;
  const next = () => items.find(({ status }) => status === 'queued');
  for (let item = next(); item; item = next()) {
    if (await upscale(item)) last = item;
  }
  state.working = false;
  $('job').hidden = true;
  updateButtons();
  if (last && !last.removed) reveal(last);
}

/** Upscales one image with the current settings; resolves to whether it made a result. */
async function upscale(item) {
  const settings = state.options;
  const { model } = state;
  const job = pageJob(settings);
  const controller = new AbortController();
  const earlier = item.result;
  state.running = { item, controller };
  Object.assign(item, { status: 'working', note: earlier ? 'Running again…' : 'Upscaling…', error: false });
  render(item);
  $('job').hidden = false;
  $('job-progress').value = 0;
  $('job-status').textContent = `Starting ${item.file.name}…`;
  updateButtons();
  const preview = startPreview();
  const started = performance.now();
  try {
    const result = await upres.upscale(controller.signal, item.file, job, (report) => {
      if (report.restart) return preview.reset();
      const elapsed = performance.now() - started;
      const left = (elapsed / report.done) * (report.total - report.done);
      $('job-progress').value = report.done / report.total;
      $('job-status').textContent =
        `Tile ${report.done}/${report.total} · ${formatTime(elapsed)} elapsed · about ${formatTime(left)} left`;
      preview.draw(report);
    });
    if (item.removed) return false;
    if (earlier) URL.revokeObjectURL(earlier.url);
    item.result = { ...result, url: URL.createObjectURL(result.blob), name: outputName(item.file.name, result) };
    item.made = {
      key: settingsKey(job, model),
      label: describeAll(settings, model),
      format: settings.format,
      model,
    };
    const size = `${result.width}×${result.height}`;
    item.result.summary = `done in ${formatTime(performance.now() - started)}: ${size}, ${formatBytes(result.blob.size)}`;
    Object.assign(item, { status: 'done', note: item.result.summary, error: false });
    render(item);
    showResult(item);
    announce(`${item.file.name} is done: ${size} pixels.`);
    return true;
  } catch (error) {
    if (item.removed) return false;
    if (controller.signal.aborted) {
      Object.assign(
        item,
        earlier
          ? { status: 'done', note: `Cancelled; the earlier result is kept (${earlier.summary})` }
          : { status: 'ready', note: 'Cancelled' },
      );
    } else {
      const message = describeError(error);
      // Too large: what would fit, and another try once the settings change.
      const fits = error.kind === 'limits' ? fittingScale(item.info) : '';
      const said = fits ? `${message}. ${fits}` : message;
      if (earlier)
        Object.assign(item, {
          status: 'done',
          note: `${message}. The earlier result is kept (${earlier.summary})`,
          error: true,
        });
      else if (error.kind === 'limits')
        Object.assign(item, { status: 'refused', refusedKey: settingsKey(job, model), note: said, error: true });
      else Object.assign(item, { status: error.kind === 'decode' ? 'invalid' : 'failed', note: message, error: true });
      announce(`${item.file.name} could not be upscaled. ${said}`);
    }
    render(item);
    return false;
  } finally {
    state.running = null;
    updateButtons();
  }
}

/** The largest scale at which an image of `info`'s size is within the engine's output limit, in
 *  words ("3× fits: 15360×9600 pixels."). */
function fittingScale(info) {
  if (!info) return '';
  const fits = largestScale(info);
  return fits ? `${fits}× fits: ${info.width * fits}×${info.height * fits} pixels.` : '';
}

/** The live preview: the current pass's output, drawn tile by tile at most 1024 pixels wide. */
function startPreview() {
  const canvas = $('preview');
  const context = canvas.getContext('2d');
  let size = '';
  let scale = 1;
  const reset = () => {
    size = '';
    context.clearRect(0, 0, canvas.width, canvas.height);
  };
  reset();
  return {
    reset,
    async draw({ width, height, x, y, regionWidth, regionHeight, pixels }) {
      if (size !== `${width}x${height}`) {
        size = `${width}x${height}`;
        scale = Math.min(1, 1024 / Math.max(width, height));
        canvas.width = Math.max(1, Math.round(width * scale));
        canvas.height = Math.max(1, Math.round(height * scale));
      }
      const bitmap = await createImageBitmap(new ImageData(pixels, regionWidth, regionHeight));
      context.drawImage(bitmap, x * scale, y * scale, regionWidth * scale, regionHeight * scale);
      bitmap.close();
    },
  };
}

function showResult(item) {
  const { result } = item;
  state.shown = item;
  $('result').hidden = false;
  $('result-title').textContent = `Result: ${item.file.name}`;
  const compare = $('compare');
  compare.setAttribute('before', item.originalUrl);
  compare.setAttribute('after', result.url);
  $('result-info').textContent =
    `${item.file.name} → ${result.width}×${result.height} px, ${formatBytes(result.blob.size)}`;
  Object.assign($('download'), { href: result.url, download: result.name, textContent: `Download ${result.name}` });
}

/**
 * Shows an image's result, scrolled into view (the result is below the fold on a phone) and
 * focused; unless the person is busy elsewhere on the page when a job ends (`asked` false): then
 * their focus and scroll position are left alone.
 */
async function reveal(item, asked = false) {
  showResult(item);
  const active = document.activeElement;
  const idle =
    !active || active === document.body || active.matches(':disabled') || active.closest('.actions, #queue') !== null;
  if (!asked && !idle) return;
  $('result-title').focus({ preventScroll: true });
  // Scrolled once the picture has its size, which decides where the page can scroll to.
  await $('compare').loaded();
  if (state.shown === item) $('result').scrollIntoView({ block: 'start' });
}

$('download-all').addEventListener('click', async () => {
  // Loaded the first time it is used: nothing else needs it.
  const { zipSync } = await import('./vendor/fflate.js');
  const entries = {};
  for (const { result } of items.filter((item) => item.result)) {
    let name = result.name;
    for (let n = 2; name in entries; n++) name = result.name.replace(/(\.[^.]+)$/, ` (${n})$1`);
    // Already compressed images: stored, not deflated again.
    entries[name] = [new Uint8Array(await result.blob.arrayBuffer()), { level: 0 }];
  }
  const url = URL.createObjectURL(new Blob([zipSync(entries)], { type: 'application/zip' }));
  Object.assign(document.createElement('a'), { href: url, download: 'upres.zip' }).click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
});

// ---- Start-up ------------------------------------------------------------------------------

upres.addEventListener('backend', (/** @type {CustomEvent} */ { detail }) => {
  // In plain words in the main view; the adapter and the reason under "Details".
  const where = detail.backend === 'cpu' ? 'the CPU (WebAssembly)' : detail.description;
  const workers = detail.workers > 1 ? `; ${detail.workers} workers compute tiles at once` : '';
  $('backend-status').textContent = `Running on ${where}: ${detail.reason}${workers}.`;
  $('backend-summary').textContent =
    detail.backend === 'webgpu'
      ? detail.adapter?.fallback
        ? 'Runs on a software stand-in for a graphics card (slow).'
        : 'Runs on this computer’s graphics card.'
      : /WebGPU failed/.test(detail.reason)
        ? 'Runs on this computer’s processor: the graphics card failed.'
        : 'Runs on this computer’s processor.';
  document.body.dataset.backend = detail.backend;
});

/** Starts the engine on the chosen backend; resolves once the latest start has ended, when a
 *  change of backend started another meanwhile. */
function startEngine() {
  const start = {};
  start.done = startEngineAs(start);
  state.engineStart = start;
  return start.done;
}

async function startEngineAs(start) {
  state.engineReady = false;
  updateButtons();
  delete document.body.dataset.backend;
  $('backend-status').textContent = 'Starting…';
  $('backend-summary').textContent = 'Starting…';
  try {
    await upres.start(new AbortController().signal, state.options.backend);
    // Replaced by a start on another backend: that one says how it went.
    if (state.engineStart !== start) return state.engineStart.done;
    state.engineReady = true;
    $('load-status').textContent = 'Ready.';
  } catch (error) {
    if (state.engineStart !== start) return state.engineStart.done;
    $('backend-status').textContent = '';
    $('backend-summary').textContent = '';
    const why = `The upscaler could not start: ${error.message}`;
    // With a person's own model, said where they can go back to upres's.
    if (state.model) showModelProblem(`${why.replace(/\.$/, '')}. “Use upres’s models” goes back to upres’s own.`);
    else showMessage(why);
  }
  for (const item of items) render(item);
  updateButtons();
}

/** Lets the service worker take control before the big downloads, so that it caches them. */
async function offlineReady() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register(new URL('./sw.js', import.meta.url), {
      scope: new URL('./', import.meta.url).href,
    });
  } catch {
    return; // Not a secure context, or blocked: everything works, only not offline.
  }
  if (navigator.serviceWorker.controller) return;
  await Promise.race([
    new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true })),
    new Promise((resolve) => setTimeout(resolve, 5000)),
  ]);
}

async function main() {
  listPapers();
  showOptions();
  updateButtons();
  listModels().then(
    (kept) => {
      state.ownModels = [...kept, ...state.ownModels];
      showModels();
    },
    () => {}, // No storage here: models chosen now are kept for this visit (importOwnModel).
  );
  state.formats = await formatSupport();
  showFormats();
  if (state.options.format === 'webp-lossy' && !state.formats.webp.lossy) {
    // Remembered from a browser that could: lossless WebP is the nearest this one can write.
    saveOptions({ ...state.options, format: 'webp' });
    state.options = loadOptions();
    showOptions();
  }
  const problem = unsupportedBrowser();
  if (problem) {
    $('loading').hidden = true;
    $('backend-status').textContent = '';
    $('backend-summary').textContent = '';
    return showMessage(problem);
  }
  await offlineReady();
  let models;
  try {
    models = await upres.load(new AbortController().signal, ({ loaded, total }) => {
      $('load-progress').value = total ? loaded / total : 0;
      $('load-status').textContent = `Downloading the upscaler: ${formatBytes(loaded)} of ${formatBytes(total)}`;
    });
    $('models-status').textContent = describeModels(models, 'each downloaded when an image first needs it');
    $('load-status').textContent = 'Starting the upscaler…';
    $('loading').dataset.state = 'done';
    state.loaded = true;
  } catch (error) {
    $('load-status').textContent = '';
    return showMessage(`The upscaler could not be downloaded: ${error.message}`);
  }
  await startEngine();
  // The other models in the background, for the service worker to keep: a later visit may be
  // offline. One that fails is said by the job that needs it, if one does.
  upres.prefetch(new AbortController().signal).then(
    () => {
      $('models-status').textContent = describeModels(models, 'all downloaded');
    },
    () => {},
  );
}

/** The models in the Details, each scale once (it may have a clean and a compression-aware
 *  model), and how many are downloaded. */
function describeModels(models, downloaded) {
  const scales = [...new Set(models.map((m) => `×${m.scale}`))];
  return `${plural(models.length, 'model', 'models')} for ${scales.join(', ')} (${downloaded}): ${models.map((m) => m.name).join(', ')}.`;
}

main();
