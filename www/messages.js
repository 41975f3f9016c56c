// What people read when upres cannot do what they asked: a title for each kind of error the
// engine reports (`error.kind`), and why a browser cannot run upres at all. The page, the API
// and the widget all show these, so a problem reads the same wherever it appears.

const ERROR_TITLES = {
  browser: 'Unsupported browser',
  download: 'Could not download the upscaler',
  decode: 'Can’t read this file',
  unsupported: 'Unsupported image',
  limits: 'Too large',
  parameter: 'Invalid option',
  encode: 'Could not write the result',
  model: 'Model problem',
  backend: 'The compute backend failed',
  crashed: 'The upscaler stopped unexpectedly',
};

export const describeError = (error) => `${ERROR_TITLES[error.kind] ?? 'Something went wrong'}: ${error.message}`;

// The smallest module that uses WebAssembly SIMD, which the CPU backend's kernels are built with.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

/** Why this browser cannot run upres at all, or null when it can. */
export function unsupportedBrowser() {
  const webgpu = 'gpu' in navigator;
  if (typeof WebAssembly !== 'object') {
    return (
      `This browser cannot run WebAssembly${webgpu ? '' : ' and has no WebGPU'}, so upres cannot work here. ` +
      'Use a current Chrome, Edge, Firefox or Safari, and check that WebAssembly is not disabled.'
    );
  }
  if (!WebAssembly.validate(SIMD_PROBE)) {
    return 'This browser’s WebAssembly lacks SIMD, which upres needs. Update the browser (Chrome 91, Firefox 89, Safari 16.4 or later).';
  }
  return null;
}
