// A static file server for www/, bound to the loopback interface: `./build.sh serve` and the
// browser tests both use it. It serves the folder under any path prefix, because storefronts host
// the app under their own path and nothing in www/ may assume the site root.
//
//   node scripts/serve.mjs DIR [PORT] [PREFIX]

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bpk': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Starts serving `root` at `prefix` (ends with '/'); resolves to the server once it listens. */
export function serve({ root, port = 0, prefix = '/' }) {
  const base = resolve(root);
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
    if (!path.startsWith(prefix)) return send(response, 404, 'not found');
    const relative = path.slice(prefix.length) || 'index.html';
    const file = join(base, relative.endsWith('/') ? `${relative}index.html` : relative);
    if (file !== base && !file.startsWith(base + sep)) return send(response, 403, 'forbidden');
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) return send(response, 404, 'not found');
    response.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': info.size,
      // Always revalidate: the service worker, not the HTTP cache, is what keeps the app offline.
      'Cache-Control': 'no-cache',
    });
    createReadStream(file).pipe(response);
  });
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => done(server));
  });
}

function send(response, status, text) {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  response.end(text);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [root = 'www', port = '8080', prefix = '/'] = process.argv.slice(2);
  const server = await serve({ root, port: Number(port), prefix });
  console.log(`serving ${root}/ at http://127.0.0.1:${server.address().port}${prefix} (Ctrl-C stops)`);
}
