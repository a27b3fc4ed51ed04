#!/usr/bin/env node
// Build the native kernel backend (src/kernels/native/*.cc) into build/native/hessian.node with
// the machine's C++ compiler ($CXX, else g++) against the N-API headers of the npm package
// `node-api-headers`. No node-gyp, nothing downloaded. The GEMM micro-kernels and the vectorized
// elementwise math are compiled once per instruction set (AVX-512, AVX2+FMA, scalar) in separate
// translation units, each only when the compiler accepts its flags; the addon picks one at load
// time for the CPU it runs on.
//
// Never fails an install: without a compiler, or when compilation fails, it prints exactly one
// line and exits 0 (the wasm backend is then used). HESSIAN_SKIP_NATIVE=1 skips the build.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = path.join(root, 'src/kernels/native');
const outDir = path.join(root, 'build/native');
const objDir = path.join(outDir, 'obj');
const outFile = path.join(outDir, 'hessian.node');
const cxx = process.env.CXX || 'g++';

function giveUp(reason) {
  fs.rmSync(outFile, { force: true }); // never leave a stale addon behind a failed build
  console.log(`hessian: native kernels not built (${reason}); the wasm backend will be used`);
  process.exit(0);
}

if (process.env.HESSIAN_SKIP_NATIVE === '1') giveUp('HESSIAN_SKIP_NATIVE=1');
if (process.platform === 'win32') giveUp('Windows is not supported by this build script');

const probe = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) giveUp(`${cxx} not found`);

let napiInclude;
try {
  const pkg = createRequire(import.meta.url).resolve('node-api-headers/package.json');
  napiInclude = path.join(path.dirname(pkg), 'include');
  if (!fs.existsSync(path.join(napiInclude, 'node_api.h'))) throw new Error('no node_api.h');
} catch {
  giveUp('the node-api-headers package is missing');
}

const base = ['-O3', '-std=c++17', '-fPIC', '-pthread', '-fvisibility=hidden', '-DNAPI_VERSION=8', `-I${napiInclude}`, `-I${srcDir}`];
const gemmFlags = ['-ffp-contract=fast'];
const isaFlags = {
  avx512: ['-mavx512f', '-mavx512vl', '-mavx512dq', '-mfma'],
  avx2: ['-mavx2', '-mfma'],
};

/** Does the compiler accept these flags (and the intrinsics behind them)? */
function accepts(flags, code) {
  const r = spawnSync(cxx, ['-x', 'c++', '-std=c++17', ...flags, '-c', '-o', os.devNull, '-'], { input: code, encoding: 'utf8' });
  return !r.error && r.status === 0;
}

const x86 = process.arch === 'x64' || process.arch === 'ia32';
const isas = [];
if (x86 && accepts(isaFlags.avx512, '#include <immintrin.h>\n__m512 f(__m512 a) { return _mm512_fmadd_ps(a, a, a); }\n')) isas.push('avx512');
if (x86 && accepts(isaFlags.avx2, '#include <immintrin.h>\n__m256 f(__m256 a) { return _mm256_fmadd_ps(a, a, a); }\n')) isas.push('avx2');
const have = isas.map((i) => `-DHESSIAN_HAVE_${i.toUpperCase()}`);

const units = [
  { src: 'addon.cc', flags: [] },
  { src: 'elementwise.cc', flags: have },
  { src: 'pool.cc', flags: [] },
  { src: 'linalg.cc', flags: ['-ffp-contract=off'] }, // same IEEE operations as ts/linalg.ts
  { src: 'eigh_dc.cc', flags: [] },
  { src: 'gemm_dispatch.cc', flags: have },
  { src: 'gemm_scalar.cc', flags: gemmFlags },
  ...isas.map((i) => ({ src: `gemm_${i}.cc`, flags: [...gemmFlags, ...isaFlags[i]] })),
  { src: 'vmath_dispatch.cc', flags: have },
  ...isas.map((i) => ({ src: `vmath_${i}.cc`, flags: [...gemmFlags, ...isaFlags[i]] })),
];

fs.mkdirSync(objDir, { recursive: true });

function run(args) {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(cxx, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      resolve({ ok: false, err: String(e) });
      return;
    }
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => resolve({ ok: false, err: String(e) }));
    child.on('close', (code) => resolve({ ok: code === 0, err }));
  });
}

/** First line of compiler output that says "error", for the one-line message. */
function firstError(text) {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.find((l) => /error/i.test(l)) ?? lines[0] ?? 'unknown error').slice(0, 200);
}

const jobs = Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
const queue = units.slice();
const failures = [];
async function worker() {
  for (let u = queue.shift(); u !== undefined; u = queue.shift()) {
    const obj = path.join(objDir, u.src.replace(/\.cc$/, '.o'));
    const r = await run([...base, ...u.flags, '-c', path.join(srcDir, u.src), '-o', obj]);
    if (!r.ok) failures.push(`${cxx} failed on ${u.src}: ${firstError(r.err)}`);
  }
}
await Promise.all(Array.from({ length: Math.min(jobs, units.length) }, worker));
if (failures.length > 0) giveUp(failures[0]);

const tmp = `${outFile}.${process.pid}.tmp`;
const link = ['-shared', '-pthread', ...units.map((u) => path.join(objDir, u.src.replace(/\.cc$/, '.o'))), '-o', tmp];
if (process.platform === 'darwin') link.push('-undefined', 'dynamic_lookup');
const linked = await run(link);
if (!linked.ok) {
  fs.rmSync(tmp, { force: true });
  giveUp(`linking failed: ${firstError(linked.err)}`);
}
fs.renameSync(tmp, outFile);
fs.rmSync(objDir, { recursive: true, force: true });
console.log(`hessian: native kernels built (${[...isas, 'scalar'].join(', ')}) -> ${path.relative(root, outFile)}`);
