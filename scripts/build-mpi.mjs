#!/usr/bin/env node
// Build the MPI binding (src/distributed/native/mpi.cc) into build/native/hessian-mpi.node with
// Open MPI's compiler wrapper ($MPICXX, else mpicxx) against the N-API headers of the npm
// package `node-api-headers`. A separate addon from the kernels, so that the kernels never link
// libmpi. Never fails an install: without mpicxx/mpi.h, or when compilation fails, it prints
// exactly one line and exits 0 (then `distributed.init()` reports size 1 and MPI tests skip).
// HESSIAN_SKIP_MPI=1 skips the build.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src/distributed/native/mpi.cc');
const outFile = path.join(root, 'build/native/hessian-mpi.node');
const mpicxx = process.env.MPICXX || 'mpicxx';

function skip(reason) {
  fs.rmSync(outFile, { force: true }); // never leave a stale binding behind
  console.log(`hessian: MPI binding not built (${reason}); distributed training is unavailable`);
  process.exit(0);
}

if (process.env.HESSIAN_SKIP_MPI === '1') skip('HESSIAN_SKIP_MPI=1');
if (process.platform === 'win32') skip('Windows is not supported by this build script');
const probe = spawnSync(mpicxx, ['--showme:version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) skip(`${mpicxx} not found; install Open MPI (openmpi-bin, libopenmpi-dev)`);

let napiInclude;
try {
  const pkg = createRequire(import.meta.url).resolve('node-api-headers/package.json');
  napiInclude = path.join(path.dirname(pkg), 'include');
  if (!fs.existsSync(path.join(napiInclude, 'node_api.h'))) throw new Error('no node_api.h');
} catch {
  skip('the node-api-headers package is missing');
}

fs.mkdirSync(path.dirname(outFile), { recursive: true });
const tmp = `${outFile}.${process.pid}.tmp`;
const args = ['-O2', '-std=c++17', '-fPIC', '-shared', '-fvisibility=hidden', '-DNAPI_VERSION=8', `-I${napiInclude}`, src, '-o', tmp, '-ldl'];
if (process.platform === 'darwin') args.push('-undefined', 'dynamic_lookup');
const r = spawnSync(mpicxx, args, { encoding: 'utf8' });
if (r.error || r.status !== 0) {
  fs.rmSync(tmp, { force: true });
  const lines = `${r.stderr ?? ''}${r.error ?? ''}`.split('\n').map((l) => l.trim()).filter(Boolean);
  skip(`${mpicxx} failed: ${(lines.find((l) => /error/i.test(l)) ?? lines[0] ?? 'unknown error').slice(0, 200)}`);
}
fs.renameSync(tmp, outFile);
console.log(`hessian: MPI binding built -> ${path.relative(root, outFile)}`);
