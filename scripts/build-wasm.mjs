#!/usr/bin/env node
// Compile the wasm kernel backend (src/kernels/wasm/assembly/*.ts, AssemblyScript) to
// build/wasm/kernels.wasm: SIMD128 on, -O3, stub runtime (no GC: the JS side manages a
// scratch region in linear memory itself), memory exported. Never downloads anything.
// Without the assemblyscript devDependency (a consumer install), it skips with one line and
// the shipped build/wasm/kernels.wasm is used.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, 'src/kernels/wasm/assembly/index.ts');
const outDir = path.join(root, 'build/wasm');
const outFile = path.join(outDir, 'kernels.wasm');

let asc;
try {
  asc = await import('assemblyscript/asc');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
  const shipped = fs.existsSync(outFile) ? 'using the shipped build/wasm/kernels.wasm' : 'no build/wasm/kernels.wasm either: the wasm backend is unavailable';
  console.log(`build-wasm: assemblyscript is not installed; skipping the wasm build (${shipped}).`);
  process.exit(0);
}

fs.mkdirSync(outDir, { recursive: true });
const tmp = `${outFile}.${process.pid}.tmp`;
const args = [
  path.relative(root, entry),
  '--outFile', path.relative(root, tmp),
  '--optimizeLevel', '3', '--shrinkLevel', '0',
  '--runtime', 'stub',
  '--enable', 'simd',
  '--noAssert',
  '--baseDir', root,
];
const { error } = await asc.main(args, { stdout: process.stdout, stderr: process.stderr });
if (error) {
  fs.rmSync(tmp, { force: true });
  console.error(`build-wasm: compilation failed: ${error.message}`);
  process.exit(1);
}
fs.renameSync(tmp, outFile);
console.log(`build-wasm: wrote ${path.relative(root, outFile)} (${fs.statSync(outFile).size} bytes)`);
