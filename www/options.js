// The page's options, remembered (localStorage): a job as job.js defines it, plus the page's own
// choices on top, which kind of size is in use and the backend. Anything missing or invalid in
// storage falls back to its default, so a stale or edited entry never breaks the page.

import { DEFAULTS as JOB_DEFAULTS, FITS, FORMATS, INPUTS, SCALES, isQuality, isSide, jobOptions } from './job.js';

const DEFAULTS = Object.freeze({
  ...JOB_DEFAULTS,
  size: 'scale', // 'scale' | 'longEdge' | 'box': which of the sizes below applies
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
  return {
    size: oneOf(o.size, ['scale', 'longEdge', 'box'], DEFAULTS.size),
    scale: oneOf(o.scale, SCALES, DEFAULTS.scale),
    longEdge: valid(o.longEdge, isSide, DEFAULTS.longEdge),
    width: valid(o.width, isSide, DEFAULTS.width),
    height: valid(o.height, isSide, DEFAULTS.height),
    fit: oneOf(o.fit, FITS, DEFAULTS.fit),
    format: oneOf(o.format, FORMATS, DEFAULTS.format),
    quality: valid(o.quality, isQuality, DEFAULTS.quality),
    input: oneOf(o.input, INPUTS, DEFAULTS.input),
    backend: oneOf(o.backend, ['auto', 'webgpu', 'cpu'], DEFAULTS.backend),
  };
}

/** The worker's job for the page's options: the size of the chosen kind, and the quality for
 *  JPEG only (PNG and WebP output are lossless). */
export function pageJob(o) {
  const size = {
    scale: { scale: o.scale },
    longEdge: { target: { longEdge: o.longEdge } },
    box: { target: { width: o.width, height: o.height, fit: o.fit } },
  }[o.size];
  return jobOptions({ ...size, format: o.format, ...(o.format === 'jpeg' && { quality: o.quality }), input: o.input });
}

/** The options in a few words, as the queue shows which settings made a result: "4× · PNG",
 *  "long edge 2000 px · JPEG 90", "1920×1080 px, fill and crop · WebP · clean model". */
export function describeSettings(o) {
  const size = {
    scale: `${o.scale}×`,
    longEdge: `long edge ${o.longEdge} px`,
    box: `${o.width}×${o.height} px, ${o.fit === 'cover' ? 'fill and crop' : 'fit inside'}`,
  }[o.size];
  const format = { png: 'PNG', jpeg: `JPEG ${o.quality}`, webp: 'WebP' }[o.format];
  const input = { auto: '', clean: 'clean model', compressed: 'compression-aware model' }[o.input];
  return [size, format, input].filter(Boolean).join(' · ');
}
