/**
 * `npm run bench:lbfgs`: per Moré–Garbow–Hillstrom problem, iterations and objective
 * evaluations of our L-BFGS (and L-BFGS-B without bounds) against SciPy's L-BFGS-B in the same
 * run (Debian's python3-scipy, when installed), with the ratio. SciPy evaluates our own
 * implementation of each function through a small evaluation server, so both minimize exactly
 * the same function. Target: no more evaluations than SciPy in aggregate.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MGH_PROBLEMS } from '../data/mgh.js';
import { minimize } from '../optim/minimize/minimize.js';
import { table } from './util.js';

interface PeerRow { id: string; nit: number; nfev: number; fun: number; success: boolean }

function scipyPeer(ids: string[]): Map<string, PeerRow> | string {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import scipy'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'python3-scipy is not installed (apt-get install python3-scipy)';
  const script = fileURLToPath(new URL('../../src/bench/peers/scipy-lbfgsb.py', import.meta.url));
  const server = fileURLToPath(new URL('./mgh-eval.js', import.meta.url));
  const r = spawnSync('/usr/bin/python3', [script, server, ...ids], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) return `SciPy peer failed: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`;
  const rows = JSON.parse(r.stdout.trim().split('\n').pop() as string) as PeerRow[];
  return new Map(rows.map((row) => [row.id, row]));
}

const ids = MGH_PROBLEMS.map((p) => p.id);
const peer = scipyPeer(ids);
const rows: (string | number)[][] = [];
let ours = 0;
let oursB = 0;
let theirs = 0;
for (const p of MGH_PROBLEMS) {
  const a = minimize(p.f, p.x0, { method: 'lbfgs' });
  const b = minimize(p.f, p.x0, { method: 'lbfgsb' });
  const s = typeof peer === 'string' ? undefined : peer.get(p.id);
  ours += a.nfev;
  oursB += b.nfev;
  theirs += s?.nfev ?? 0;
  rows.push([p.id, p.n, a.nit, a.nfev, a.fun.toExponential(3), b.nit, b.nfev, s?.nit ?? '-', s?.nfev ?? '-', s ? s.fun.toExponential(3) : '-', s ? (a.nfev / s.nfev).toFixed(2) : '-', p.fStar.toExponential(3)]);
}
console.log(table(['problem', 'n', 'lbfgs it', 'lbfgs ev', 'lbfgs f', 'lbfgsb it', 'lbfgsb ev', 'scipy it', 'scipy ev', 'scipy f', 'ev ratio', 'f*'], rows));
if (typeof peer === 'string') console.log(`SciPy peer skipped: ${peer}`);
else console.log(`aggregate evaluations: lbfgs ${ours}, lbfgsb ${oursB}, SciPy L-BFGS-B ${theirs} (ratio ${(ours / theirs).toFixed(3)}, ${(oursB / theirs).toFixed(3)})`);
