// What the user can choose, its defaults, and how it is remembered (localStorage) and turned
// into a job for the worker. The output's name comes from the worker's result: `photo@4x.png`.

export const DEFAULTS = Object.freeze({
  size: 'scale', // 'scale' | 'longEdge' | 'box'
  scale: 4,
  longEdge: 2000,
  width: 1920,
  height: 1080,
  fit: 'contain', // 'contain' | 'cover'
  format: 'png', // 'png' | 'jpeg' | 'webp'
  quality: 90,
  backend: 'auto', // 'auto' | 'webgpu' | 'cpu'
});

const KEY = 'upres.options';
export const SCALES = [2, 3, 4, 8];

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
  const whole = (v, min, max, fallback) => (Number.isInteger(v) && v >= min && v <= max ? v : fallback);
  const oneOf = (v, allowed, fallback) => (allowed.includes(v) ? v : fallback);
  return {
    size: oneOf(o.size, ['scale', 'longEdge', 'box'], DEFAULTS.size),
    scale: oneOf(o.scale, SCALES, DEFAULTS.scale),
    longEdge: whole(o.longEdge, 1, 65535, DEFAULTS.longEdge),
    width: whole(o.width, 1, 65535, DEFAULTS.width),
    height: whole(o.height, 1, 65535, DEFAULTS.height),
    fit: oneOf(o.fit, ['contain', 'cover'], DEFAULTS.fit),
    format: oneOf(o.format, ['png', 'jpeg', 'webp'], DEFAULTS.format),
    quality: whole(o.quality, 1, 100, DEFAULTS.quality),
    backend: oneOf(o.backend, ['auto', 'webgpu', 'cpu'], DEFAULTS.backend),
  };
}

/** The worker's job options (the JSON that src/web.rs reads). */
export function jobOptions(o) {
  const target = {
    scale: { scale: o.scale },
    longEdge: { longEdge: o.longEdge },
    box: { box: { width: o.width, height: o.height, fit: o.fit } },
  }[o.size];
  // Quality applies to JPEG only: PNG and WebP output are lossless.
  return o.format === 'jpeg' ? { target, format: o.format, quality: o.quality } : { target, format: o.format };
}

/** `photo.jpeg` upscaled 4× to PNG is `photo@4x.png`. */
export function outputName(fileName, { label, extension }) {
  const dot = fileName.lastIndexOf('.');
  const stem = dot > 0 ? fileName.slice(0, dot) : fileName;
  return `${stem}@${label}.${extension}`;
}
