// What the scripts' pages put on `window` for their page.evaluate() calls: bench/bench.js's
// entry points, and bench-encoders.mjs's reference image (its pixels and its file).
interface Window {
  // biome-ignore lint/suspicious/noExplicitAny: each page puts its own functions here (bench/bench.js's, bench-encoders.mjs's)
  bench: any;
  reference: Uint8ClampedArray;
  referenceBlob: Blob;
}
