// The page's options, remembered (localStorage): a job as job.js defines it, plus the page's own
// choices on top: which kind of size is in use, the print size as the page asks for it (a named
// paper or a custom size), lossless or lossy WebP, and the backend. Anything missing or invalid
// in storage falls back to its default, so a stale or edited entry never breaks the page.

import {
  describePrint,
  FITS,
  INPUTS,
  isDpi,
  isPrintSide,
  isQuality,
  isSide,
  DEFAULTS as JOB_DEFAULTS,
  jobOptions,
  LOOKS,
  METADATA,
  PAPERS,
  SCALES,
} from './job.js';

/** The page's output choices: job.js's formats, with WebP twice, lossless or lossy (at the
 *  quality, by the browser's own encoder). */
export const OUTPUTS = ['png', 'jpeg', 'webp', 'webp-lossy'];
/** A custom print size's units (the named papers may be in millimetres). */
export const CUSTOM_UNITS = ['in', 'cm'];

const DEFAULTS = Object.freeze({
  ...JOB_DEFAULTS,
  size: 'scale', // 'scale' | 'longEdge' | 'box' | 'print': which of the sizes below applies
  paper: JOB_DEFAULTS.paper, // a key of PAPERS, or 'custom' for the size below
  printWidth: 8,
  printHeight: 10,
  printUnit: 'in',
  printFit: 'contain',
  backend: 'auto', // 'auto' | 'webgpu' | 'cpu'
});

const KEY = 'upres.options';

/** The remembered options, with anything missing or invalid replaced by its default. */
export function loadOptions(storage = localStorage) {
  let saved = {};
  try {
    saved = JSON.parse(storage.getItem(KEY)) ?? {};
  } catch {
    // Unreadable storage (or none): start from the defaults.
  }
  return sanitize({ ...DEFAULTS, ...saved });
}

export function saveOptions(options, storage = localStorage) {
  try {
    storage.setItem(KEY, JSON.stringify(sanitize(options)));
  } catch {
    // Storage full or disabled: the options simply are not remembered.
  }
}

function sanitize(o) {
  const valid = (v, ok, fallback) => (ok(v) ? v : fallback);
  const oneOf = (v, allowed, fallback) => (allowed.includes(v) ? v : fallback);
  const printUnit = oneOf(o.printUnit, CUSTOM_UNITS, DEFAULTS.printUnit);
  // A size remembered in the other unit would be another size: both go back to the default.
  const custom =
    isPrintSide(o.printWidth, printUnit) && isPrintSide(o.printHeight, printUnit)
      ? { printWidth: o.printWidth, printHeight: o.printHeight, printUnit }
      : { printWidth: DEFAULTS.printWidth, printHeight: DEFAULTS.printHeight, printUnit: DEFAULTS.printUnit };
  return {
    size: oneOf(o.size, ['scale', 'longEdge', 'box', 'print'], DEFAULTS.size),
    scale: oneOf(o.scale, SCALES, DEFAULTS.scale),
    longEdge: valid(o.longEdge, isSide, DEFAULTS.longEdge),
    width: valid(o.width, isSide, DEFAULTS.width),
    height: valid(o.height, isSide, DEFAULTS.height),
    fit: oneOf(o.fit, FITS, DEFAULTS.fit),
    paper: oneOf(o.paper, [...Object.keys(PAPERS), 'custom'], DEFAULTS.paper),
    ...custom,
    dpi: valid(o.dpi, isDpi, DEFAULTS.dpi),
    printFit: oneOf(o.printFit, FITS, DEFAULTS.printFit),
    format: oneOf(o.format, OUTPUTS, DEFAULTS.format),
    quality: valid(o.quality, isQuality, DEFAULTS.quality),
    input: oneOf(o.input, INPUTS, DEFAULTS.input),
    look: oneOf(o.look, LOOKS, DEFAULTS.look),
    metadata: oneOf(o.metadata, METADATA, DEFAULTS.metadata),
    backend: oneOf(o.backend, ['auto', 'webgpu', 'cpu'], DEFAULTS.backend),
  };
}

/** Whether the options' format takes the quality: JPEG and lossy WebP. */
export const hasQuality = (o) => o.format === 'jpeg' || o.format === 'webp-lossy';

/** The print size the options ask for, as job.js takes it. */
const printOf = (o) =>
  o.paper === 'custom'
    ? { width: o.printWidth, height: o.printHeight, unit: o.printUnit, dpi: o.dpi, fit: o.printFit }
    : { paper: o.paper, dpi: o.dpi, fit: o.printFit };

/** The worker's job for the page's options: the size of the chosen kind, and the quality for
 *  JPEG and lossy WebP only (PNG and lossless WebP keep every pixel). */
export function pageJob(o) {
  const size = {
    scale: { scale: o.scale },
    longEdge: { target: { longEdge: o.longEdge } },
    box: { target: { width: o.width, height: o.height, fit: o.fit } },
    print: { target: { print: printOf(o) } },
  }[o.size];
  const format = o.format === 'webp-lossy' ? 'webp' : o.format;
  return jobOptions({
    ...size,
    format,
    ...(hasQuality(o) && { quality: o.quality }),
    input: o.input,
    metadata: o.metadata,
    look: o.look,
  });
}

/** The options in a few words, as the queue shows which settings made a result: "4× · PNG",
 *  "long edge 2000 px · JPEG 90", "1920×1080 px, fill and crop · WebP 80 · clean model",
 *  "A4 at 300 DPI · PNG · no metadata". */
export function describeSettings(o) {
  const size = {
    scale: `${o.scale}×`,
    longEdge: `long edge ${o.longEdge} px`,
    box: `${o.width}×${o.height} px, ${o.fit === 'cover' ? 'fill and crop' : 'fit inside'}`,
    print: () => describePrint(pageJob(o).target.print),
  }[o.size];
  const format = { png: 'PNG', jpeg: `JPEG ${o.quality}`, webp: 'WebP lossless', 'webp-lossy': `WebP ${o.quality}` }[
    o.format
  ];
  const input = { auto: '', clean: 'clean model', compressed: 'compression-aware model' }[o.input];
  const look = { faithful: '', enhanced: 'enhanced' }[o.look];
  const metadata = {
    'no-location': '',
    all: 'all metadata, location too',
    color: 'colour profile and DPI only',
    none: 'no metadata',
  }[o.metadata];
  return [typeof size === 'function' ? size() : size, format, look, input, metadata].filter(Boolean).join(' · ');
}
