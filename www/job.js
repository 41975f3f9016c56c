// The job vocabulary, stated once: what an upscaling job can ask for (a scale or a target size,
// an output format, what kind of image the input is), the defaults and limits, the JSON that
// the worker's engine reads (src/job.rs), and how a result is named. The page (options.js,
// app.js), the public API (api.js) and the widget (upres-element.js) all build their jobs here,
// so they cannot disagree; options are checked with errors of kind "parameter" that name them.

export const SCALES = [2, 3, 4, 8];
/** Output formats; PNG and WebP are lossless. */
export const FORMATS = ['png', 'jpeg', 'webp'];
/** How a target box is met: the whole image inside it, or the box filled and the rest cropped. */
export const FITS = ['contain', 'cover'];
/** Which models suit the input: "auto" lets the engine read a JPEG's compression; the others
 *  say it (compressed: photos and JPEGs; clean: PNG and other lossless images). */
export const INPUTS = ['auto', 'clean', 'compressed'];

export const DEFAULTS = Object.freeze({
  scale: 4,
  longEdge: 2000,
  width: 1920,
  height: 1080,
  fit: 'contain',
  format: 'png',
  quality: 90, // JPEG only
  input: 'auto',
});

/** The most pixels a side may have: no output format stores more (JPEG's limit). */
const MAX_SIDE = 65535;
const QUALITY = { min: 1, max: 100 };

export const isSide = (value) => Number.isInteger(value) && value >= 1 && value <= MAX_SIDE;
export const isQuality = (value) => Number.isInteger(value) && value >= QUALITY.min && value <= QUALITY.max;

/** The options jobOptions() reads, and those of a target. */
export const JOB_OPTIONS = ['scale', 'target', 'format', 'quality', 'input'];
const TARGET_OPTIONS = ['longEdge', 'width', 'height', 'fit'];

/**
 * The worker's job options (the JSON that src/web.rs reads) for `{ scale | target, format,
 * quality, input }` as upscale() takes them, or an error naming the option. Other keys are
 * the caller's to refuse (checkKeys).
 */
export function jobOptions({ scale, target, format, quality, input }) {
  if (scale !== undefined && target !== undefined) throw invalid('give either scale or target, not both', TypeError);

  const name = formatName(format ?? DEFAULTS.format);
  const job = { target: target === undefined ? { scale: scaleFactor(scale ?? DEFAULTS.scale) } : targetSize(target), format: name };
  if (quality !== undefined) {
    if (name !== 'jpeg') throw invalid(`quality applies to JPEG only; ${name} output is lossless`, TypeError);
    if (!isQuality(quality)) {
      const hint = quality > 0 && quality < 1 ? ' (a percentage, unlike the 0–1 of canvas.toBlob)' : '';
      throw invalid(`quality must be a whole number from ${QUALITY.min} to ${QUALITY.max}${hint}, not ${describe(quality)}`);
    }
    job.quality = quality;
  }
  job.input = oneOf('input', input ?? DEFAULTS.input, INPUTS);
  return job;
}

/** `photo.jpeg` upscaled 4× to PNG is `photo@4x.png` (label and extension from the result). */
export function outputName(fileName, { label, extension }) {
  const dot = fileName.lastIndexOf('.');
  const stem = dot > 0 ? fileName.slice(0, dot) : fileName;
  return `${stem}@${label}.${extension}`;
}

function scaleFactor(scale) {
  if (!SCALES.includes(scale)) throw invalid(`scale must be ${alternatives(SCALES)}, not ${describe(scale)}`);
  return scale;
}

function targetSize(target) {
  if (typeof target !== 'object' || target === null) {
    throw invalid(`target must be { longEdge } or { width, height, fit }, not ${describe(target)}`, TypeError);
  }
  checkKeys(target, TARGET_OPTIONS, 'target');
  const { longEdge, width, height, fit = DEFAULTS.fit } = target;
  if (longEdge !== undefined) {
    if (width !== undefined || height !== undefined) throw invalid('target takes either longEdge or width and height, not both', TypeError);
    return { longEdge: pixels('target.longEdge', longEdge) };
  }
  if (width === undefined || height === undefined) {
    throw invalid('target needs longEdge, or both width and height: e.g. { longEdge: 2000 } or { width: 1200, height: 800, fit: "cover" }', TypeError);
  }
  oneOf('target.fit', fit, FITS);
  return { box: { width: pixels('target.width', width), height: pixels('target.height', height), fit } };
}

function pixels(name, value) {
  if (!isSide(value)) throw invalid(`${name} must be a whole number of pixels from 1 to ${MAX_SIDE}, not ${describe(value)}`);
  return value;
}

/** "png", "jpeg" or "webp"; also takes "jpg" and MIME types such as "image/jpeg". */
function formatName(format) {
  const name = typeof format === 'string' ? format.toLowerCase().replace(/^image\//, '').replace(/^jpg$/, 'jpeg') : format;
  return oneOf('format', name, FORMATS, format);
}

/** `value` when `allowed` has it; else an error quoting what was given (`given`). */
function oneOf(name, value, allowed, given = value) {
  if (!allowed.includes(value)) throw invalid(`${name} must be ${alternatives(allowed)}, not ${describe(given)}`);
  return value;
}

/** `2, 3, 4 or 8`; strings quoted: `"contain" or "cover"`. */
function alternatives(values) {
  const quoted = values.map((value) => (typeof value === 'string' ? JSON.stringify(value) : String(value)));
  return `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}

/** Refuses unknown option names: a misplaced `longEdge` would otherwise be silently ignored. */
export function checkKeys(object, known, where) {
  if (typeof object !== 'object' || object === null) throw invalid(`${where} options must be an object, not ${describe(object)}`, TypeError);
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const hint = TARGET_OPTIONS.includes(key) && where === 'upscale()' ? `; did you mean target: { ${key}: … }?` : '';
    throw invalid(`${where} has no option "${key}" (it takes ${known.join(', ')})${hint}`, TypeError);
  }
}

/** An error of kind "parameter", like the engine's own for options it refuses. */
export function invalid(message, Type = RangeError) {
  return Object.assign(new Type(message), { kind: 'parameter' });
}

/** How an error message quotes a value it refuses. */
export function describe(value) {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return String(value);
  const type = value.constructor?.name ?? 'Object';
  return `${/^[AEIOU]/.test(type) ? 'an' : 'a'} ${type}`;
}
