#!/usr/bin/env node
// Serves the built browser demo (web/dist/, from `npm run build:web`) on 127.0.0.1 only.
// Usage: node scripts/serve-web.mjs [--port N] [--dir DIR]   (default port 5173; 0 picks a free one)
// `serveStatic` is also what the browser test uses.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml',
  '.bin': 'application/octet-stream', '.ico': 'image/x-icon',
};

/** Serve `dir` on 127.0.0.1:`port`; resolves to the server once listening (its URL in `.url`). */
export function serveStatic(dir, port = 5173) {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      let file = normalize(join(root, path));
      // Nothing outside the served folder, whatever the path says.
      if (file !== root && !file.startsWith(root + sep)) {
        res.writeHead(403).end('forbidden');
        return;
      }
      if ((await stat(file).catch(() => null))?.isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      server.url = `http://127.0.0.1:${server.address().port}/`;
      ok(server);
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
  const dir = opt('--dir', fileURLToPath(new URL('../web/dist/', import.meta.url)));
  const port = Number(opt('--port', process.env.PORT ?? 5173));
  if (!(await stat(join(dir, 'index.html')).catch(() => null))) {
    console.error(`serve-web: ${join(dir, 'index.html')} is missing; build the demo first with npm run build:web`);
    process.exit(1);
  }
  const server = await serveStatic(dir, port);
  console.log(`hessian demo: ${server.url}index.html#landscapes (Ctrl-C stops)`);
}
