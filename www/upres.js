// upres for other people's pages: the one file a store's admin page loads.
//
//   <script type="module" src="/static/upres/upres.js"></script>
//   <upres-upscaler for="product-photo" long-edge="2000"></upres-upscaler>
//
// Loading it defines <upres-upscaler> (upres-element.js) and exports the JavaScript API
// (api.js): upscale(input, options), preload(options) and capabilities(options). Everything else
// (worker, WebAssembly, models) is found relative to this file, so www/ may be hosted under any
// path of the page's origin. README.md, "Embed in your store", lists the options.

export { capabilities, preload, upscale } from './api.js';

import './upres-element.js';
