// How the browser tests and the browser benchmark start Debian's Chromium: headless, with
// WebGPU (SwiftShader, a software adapter, where there is no GPU), and with none of Chromium's
// own network traffic, so that every request a page makes is the page's.

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
