// The job vocabulary, stated once: what an upscaling job can ask for (a scale, a target size or a
// print size, an output format and its quality, what kind of image the input is, which metadata
// the output keeps), the defaults and limits, which formats this browser can write, the JSON that
// the worker's engine reads (src/job.rs), and how a result is named. The page (options.js,
// app.js), the public API (api.js) and the widget (upres-element.js) all build their jobs here,
// so they cannot disagree; options are checked with errors of kind "parameter" that name them.
// The engine states the same vocabulary in Rust (src/job.rs, src/plan.rs, src/limits.rs):
// tests/suite/job.rs runs the same requests through both and fails where they differ.

export const SCALES = [2, 3, 4, 8];
/** Output formats. PNG is lossless; JPEG has a quality (default 90); WebP is lossless without a
 *  quality and lossy with one (then the browser's own WebP encoder writes it). */
export const FORMATS = ['png', 'jpeg', 'webp'];
/** The formats that take a quality. */
export const LOSSY_FORMATS = ['jpeg', 'webp'];
/** Formats that upres writes, but not in a browser, and why. */
export const UNAVAILABLE_FORMATS = Object.freeze({
  avif: 'AVIF is written by the upres command line; browsers have no AVIF encoder of their own, and ours would be a multi-megabyte download',
});
/** How a target box is met: the whole image inside it, or the box filled and the rest cropped. */
export const FITS = ['contain', 'cover'];
/** Which models suit the input: "auto" lets the engine read a JPEG's compression; the others
 *  say it (compressed: photos and JPEGs; clean: PNG and other lossless images). */
export const INPUTS = ['auto', 'clean', 'compressed'];
/** How the result looks: as close to the original as can be measured (noise and blur stay), or
 *  clean and crisp (models taught by a large model trained for real photos). */
export const LOOKS = ['faithful', 'enhanced'];
/** Which of the source's metadata the output keeps: everything but the place a photo was taken
 *  (GPS), everything, only what changes how it looks and prints (the colour profile and the
 *  density), or nothing (a print size still writes its density). */
export const METADATA = ['no-location', 'all', 'color', 'none'];
/** Units of a print size. */
export const PRINT_UNITS = ['in', 'cm', 'mm'];

/** Print sizes by name: the paper sizes the command line knows (ISO 216 in millimetres, US sizes
 *  in inches) and the usual photo prints. A print is turned to match the image, so each is given
 *  upright. */
export const PAPERS = Object.freeze({
  a3: { name: 'A3', width: 297, height: 420, unit: 'mm', kind: 'paper' },
  a4: { name: 'A4', width: 210, height: 297, unit: 'mm', kind: 'paper' },
  a5: { name: 'A5', width: 148, height: 210, unit: 'mm', kind: 'paper' },
  a6: { name: 'A6', width: 105, height: 148, unit: 'mm', kind: 'paper' },
  letter: { name: 'Letter', width: 8.5, height: 11, unit: 'in', kind: 'paper' },
  legal: { name: 'Legal', width: 8.5, height: 14, unit: 'in', kind: 'paper' },
  tabloid: { name: 'Tabloid', width: 11, height: 17, unit: 'in', kind: 'paper' },
  '4x6in': { name: '4×6 in', width: 4, height: 6, unit: 'in', kind: 'photo' },
  '5x7in': { name: '5×7 in', width: 5, height: 7, unit: 'in', kind: 'photo' },
  '8x10in': { name: '8×10 in', width: 8, height: 10, unit: 'in', kind: 'photo' },
});

export const DEFAULTS = Object.freeze({
  scale: 4,
  longEdge: 2000,
  width: 1920,
  height: 1080,
  fit: 'contain',
  paper: 'a4',
  dpi: 300,
  format: 'png',
  quality: 90, // JPEG's when none is given; the page's for lossy WebP too
  input: 'auto',
  metadata: 'no-location',
  look: 'faithful',
});

/** The most pixels a target side may have (src/plan.rs): JPEG's limit, the most every format but PNG stores. */
export const MAX_SIDE = 65535;
/** The largest result the engine makes, in pixels (src/limits.rs): the page names a scale that
 *  fits when an image is refused for size. */
export const MAX_OUTPUT_PIXELS = 200_000_000;
const QUALITY = { min: 1, max: 100 };
export const DPI = { min: 1, max: 10_000 };
/** The longest print side, in each unit: 10 m, as the engine allows. */
export const MAX_PRINT = { in: 10_000 / 25.4, cm: 1000, mm: 10_000 };

export const isSide = (value) => Number.isInteger(value) && value >= 1 && value <= MAX_SIDE;
export const isQuality = (value) => Number.isInteger(value) && value >= QUALITY.min && value <= QUALITY.max;
export const isDpi = (value) => Number.isInteger(value) && value >= DPI.min && value <= DPI.max;
/** A print side in `unit`: more than 0, at most 10 m. */
export const isPrintSide = (value, unit) => Number.isFinite(value) && value > 0 && value <= (MAX_PRINT[unit] ?? 0);

/** The options jobOptions() reads, and those of a target and of a print size. */
export const JOB_OPTIONS = ['scale', 'target', 'format', 'quality', 'input', 'metadata', 'look'];
const TARGET_OPTIONS = ['longEdge', 'width', 'height', 'fit', 'print'];
const PRINT_OPTIONS = ['paper', 'width', 'height', 'unit', 'dpi', 'fit'];

/**
 * The worker's job options (the JSON that src/web.rs reads) for `{ scale | target, format,
 * quality, input, metadata, look }` as upscale() takes them, or an error naming the option.
 * Other keys are the caller's to refuse (checkKeys).
 * @param {Record<string, any>} options
 */
export function jobOptions({ scale, target, format, quality, input, metadata, look }) {
  if (scale !== undefined && target !== undefined) throw invalid('give either scale or target, not both', TypeError);

  const name = formatName(format ?? DEFAULTS.format);
  const job = {
    target: target === undefined ? { scale: scaleFactor(scale ?? DEFAULTS.scale) } : targetSize(target),
    format: name,
  };
  if (quality !== undefined) {
    if (!LOSSY_FORMATS.includes(name))
      throw invalid(
        `quality applies to JPEG and WebP (which it makes lossy) only; ${name} output is lossless`,
        TypeError,
      );
    if (!isQuality(quality)) {
      const hint = quality > 0 && quality < 1 ? ' (a percentage, unlike the 0–1 of canvas.toBlob)' : '';
      throw invalid(
        `quality must be a whole number from ${QUALITY.min} to ${QUALITY.max}${hint}, not ${describe(quality)}`,
      );
    }
    job.quality = quality;
  }
  job.input = oneOf('input', input ?? DEFAULTS.input, INPUTS);
  job.metadata = oneOf('metadata', metadata ?? DEFAULTS.metadata, METADATA);
  job.look = oneOf('look', look ?? DEFAULTS.look, LOOKS);
  return job;
}

/** Whether a job (jobOptions()'s) asks for lossy WebP, which the browser's encoder writes. */
export const isLossyWebP = (job) => job.format === 'webp' && job.quality !== undefined;

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
    throw invalid(
      `target must be { longEdge }, { width, height, fit } or { print }, not ${describe(target)}`,
      TypeError,
    );
  }
  checkKeys(target, TARGET_OPTIONS, 'target');
  const { longEdge, width, height, fit = DEFAULTS.fit, print } = target;
  if (print !== undefined) {
    if (Object.keys(target).length > 1)
      throw invalid(
        'target takes print alone: its dpi and fit go inside it, e.g. { print: { paper: "A4", dpi: 300, fit: "cover" } }',
        TypeError,
      );
    return { print: printSize(print) };
  }
  if (longEdge !== undefined) {
    if (width !== undefined || height !== undefined)
      throw invalid('target takes either longEdge or width and height, not both', TypeError);
    return { longEdge: pixels('target.longEdge', longEdge) };
  }
  if (width === undefined || height === undefined) {
    throw invalid(
      'target needs longEdge, both width and height, or print: e.g. { longEdge: 2000 }, { width: 1200, height: 800, fit: "cover" } or { print: "A4@300" }',
      TypeError,
    );
  }
  oneOf('target.fit', fit, FITS);
  return { box: { width: pixels('target.width', width), height: pixels('target.height', height), fit } };
}

/**
 * A print size as the engine reads it, `{ width, height, unit, dpi, fit }`, from `{ paper, dpi,
 * fit }`, `{ width, height, unit, dpi, fit }` or a string as the command line takes it:
 * "A4@300", "8x10in@300", "20x25cm" (the density defaults to 300 DPI, the fit to contain).
 */
function printSize(print) {
  const given = typeof print === 'string' ? parsePrint(print) : print;
  if (typeof given !== 'object' || given === null) {
    throw invalid(
      `target.print must be { paper, dpi, fit }, { width, height, unit, dpi, fit } or a string such as "A4@300", not ${describe(print)}`,
      TypeError,
    );
  }
  checkKeys(given, PRINT_OPTIONS, 'target.print');
  const { paper, dpi = DEFAULTS.dpi, fit = DEFAULTS.fit } = given;
  let { width, height, unit } = given;
  if (paper !== undefined) {
    if (width !== undefined || height !== undefined || unit !== undefined) {
      throw invalid('target.print takes either paper or width, height and unit, not both', TypeError);
    }
    const found = paperNamed(paper);
    if (!found)
      throw invalid(
        `target.print.paper must be ${alternatives(Object.values(PAPERS).map((p) => p.name))}, not ${describe(paper)}`,
      );
    ({ width, height, unit } = found);
  } else if (width === undefined || height === undefined || unit === undefined) {
    throw invalid(
      'target.print needs a paper, or width, height and unit: e.g. { paper: "A4", dpi: 300 } or { width: 8, height: 10, unit: "in" }',
      TypeError,
    );
  }
  oneOf('target.print.unit', unit, PRINT_UNITS);
  for (const [name, value] of [
    ['width', width],
    ['height', height],
  ]) {
    if (!isPrintSide(value, unit)) {
      const most = Math.floor(MAX_PRINT[unit] * 10) / 10;
      throw invalid(
        `target.print.${name} must be more than 0 ${unit} and at most ${most} ${unit} (10 m), not ${describe(value)}`,
      );
    }
  }
  if (!isDpi(dpi))
    throw invalid(`target.print.dpi must be a whole number from ${DPI.min} to ${DPI.max}, not ${describe(dpi)}`);
  oneOf('target.print.fit', fit, FITS);
  return { width, height, unit, dpi, fit };
}

/** The paper of that name ("A4", "letter", "8x10in", "8×10 in"), or undefined. */
function paperNamed(name) {
  if (typeof name !== 'string') return undefined;
  const key = name.toLowerCase().replace(/×/g, 'x').replace(/\s+/g, '');
  return Object.hasOwn(PAPERS, key) ? PAPERS[key] : undefined;
}

/**
 * "A4@300", "8x10in@300", "8.5 x 11 in @ 300dpi", "210x297mm", as the command line reads them:
 * `{ paper, dpi }` or `{ width, height, unit, dpi }` (no dpi when none is written). `name` is the
 * option's, for the error.
 */
export function parsePrint(text, name = 'target.print') {
  const match =
    typeof text === 'string'
      ? /^\s*(?:(\d+(?:\.\d+)?)\s*[x×]\s*(\d+(?:\.\d+)?)\s*(in|cm|mm)|([a-z0-9]+))\s*(?:@\s*(\d+)\s*(?:dpi)?)?\s*$/i.exec(
          text,
        )
      : null;
  const dpi = match?.[5] === undefined ? {} : { dpi: Number(match[5]) };
  if (match?.[1] !== undefined)
    return { width: Number(match[1]), height: Number(match[2]), unit: match[3].toLowerCase(), ...dpi };
  if (match?.[4] !== undefined && paperNamed(match[4])) return { paper: match[4], ...dpi };
  throw invalid(
    `${name} must be WIDTHxHEIGHT with a unit (in, cm or mm) or a paper name ` +
      `(${Object.values(PAPERS)
        .filter((p) => p.kind === 'paper')
        .map((p) => p.name)
        .join(', ')}), then @DPI, ` +
      `e.g. "8x10in@300" or "A4@300", not ${describe(text)}`,
  );
}

/** The pixels a print size (engine form) makes, as the engine counts them: `[width, height]`
 *  upright, before they are turned to match the image. */
export function printPixels({ width, height, unit, dpi }) {
  const mm = { in: 25.4, cm: 10, mm: 1 }[unit];
  const pixels = (side) => Math.max(1, Math.round((Math.round(side * mm * 1000) * dpi) / 25_400));
  return [pixels(width), pixels(height)];
}

/** The largest scale at which an image of `width`×`height` is within the engine's output limit,
 *  or undefined; an 8× job's 4× pass is smaller than its result, so the result's size decides. */
export const largestScale = ({ width, height }) =>
  SCALES.filter((s) => width * s * height * s <= MAX_OUTPUT_PIXELS).at(-1);

/** How much `target` (jobOptions()'s) enlarges an image of `width`×`height`, as the engine's
 *  planner reckons it (src/plan.rs): 1 or less, and no model runs. */
export function enlargement(target, { width, height }) {
  if (target.scale) return target.scale;
  if (target.longEdge) return target.longEdge / Math.max(width, height);
  let { box } = target;
  if (target.print) {
    // The paper turned to the image's orientation.
    const [w, h] = printPixels(target.print);
    const turned = (width > height && w < h) || (width < height && w > h);
    box = { width: turned ? h : w, height: turned ? w : h, fit: target.print.fit };
  }
  const [x, y] = [box.width / width, box.height / height];
  return box.fit === 'cover' ? Math.max(x, y) : Math.min(x, y);
}

/** A print size in words: "A4 at 300 DPI", "20×25 cm at 300 DPI", and ", filled and cropped"
 *  for fit cover. */
export function describePrint({ width, height, unit, dpi, fit }) {
  const paper = Object.values(PAPERS).find((p) => p.unit === unit && p.width === width && p.height === height);
  const cover = fit === 'cover' ? ', filled and cropped' : '';
  return `${paper?.name ?? `${width}×${height} ${unit}`} at ${dpi} DPI${cover}`;
}

function pixels(name, value) {
  if (!isSide(value))
    throw invalid(`${name} must be a whole number of pixels from 1 to ${MAX_SIDE}, not ${describe(value)}`);
  return value;
}

/** "png", "jpeg" or "webp"; also takes "jpg" and MIME types such as "image/jpeg". A format that
 *  cannot be written in a browser (AVIF) is refused with the reason. */
function formatName(format) {
  const name =
    typeof format === 'string'
      ? format
          .toLowerCase()
          .replace(/^image\//, '')
          .replace(/^jpg$/, 'jpeg')
      : format;
  if (Object.hasOwn(UNAVAILABLE_FORMATS, name)) {
    throw invalid(
      `format ${describe(format)} cannot be written in a browser: ${UNAVAILABLE_FORMATS[name]}. Choose ${alternatives(FORMATS)}`,
    );
  }
  return oneOf('format', name, FORMATS, format);
}

// ---- What this browser can write -------------------------------------------------------------

let webpProbe = null;

/** Whether this browser's canvas encodes WebP (lossy WebP is its encoder's work): asked once. A
 *  browser without a WebP encoder (Safari) quietly writes a PNG instead. */
export function browserEncodesWebP() {
  webpProbe ??= (async () => {
    try {
      const canvas = new OffscreenCanvas(2, 2);
      canvas.getContext('2d'); // a canvas without a context has nothing to encode
      const blob = await canvas.convertToBlob({ type: 'image/webp', quality: 0.8 });
      return blob.type === 'image/webp';
    } catch {
      return false;
    }
  })();
  return webpProbe;
}

/**
 * What each output format can be in this browser: `{ png, jpeg, webp, avif }`, each `{ lossless,
 * lossy }` (booleans), with a `reason` where something is not available. Lossy WebP needs the
 * browser's WebP encoder; AVIF is the command line's alone.
 */
export async function formatSupport() {
  const webp = await browserEncodesWebP();
  return {
    png: { lossless: true, lossy: false },
    jpeg: { lossless: false, lossy: true },
    webp: webp
      ? { lossless: true, lossy: true }
      : {
          lossless: true,
          lossy: false,
          reason: 'this browser cannot encode WebP images, so WebP is lossless only here',
        },
    avif: { lossless: false, lossy: false, reason: UNAVAILABLE_FORMATS.avif },
  };
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
  if (typeof object !== 'object' || object === null)
    throw invalid(`${where} options must be an object, not ${describe(object)}`, TypeError);
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
