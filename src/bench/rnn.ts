/**
 * `npm run bench:rnn`: the pathological long-term tasks (Hochreiter & Schmidhuber 1997, as in
 * Martens & Sutskever 2011) at T = 30 and 50: Hessian-free with structural damping, K-FAC with
 * recurrent blocks, Adam and SGD with momentum, 3 seeds each; per run solved or not (< 1% wrong
 * on 10,000 fresh sequences), steps and CPU seconds to solve; then the longest T each method
 * solved within the budget (bench/rnn-bench.ts).
 * Options: --budget=180 (CPU seconds of optimizer steps per run) --seeds=3 --seq-lengths=30,50
 * --tasks=addition,... --methods=hessian-free,kfac,adam,momentum --size=small --out=FILE.json
 */
import { writeFileSync } from 'node:fs';
import { info } from '../info.js';
import type { RnnDataSize } from './rnn-problems.js';
import { formatRnnReport, formatRnnRun, runRnnBench } from './rnn-bench.js';

const argv = process.argv.slice(2);
const known = new Set(['budget', 'seeds', 'seq-lengths', 'lengths', 'tasks', 'methods', 'optimizers', 'size', 'out']);
for (const a of argv) {
  const k = /^--([a-z-]+)=/.exec(a)?.[1];
  if (k === undefined || !known.has(k)) throw new RangeError(`bench:rnn: unknown argument '${a}'; use --${[...known].join('=, --')}=`);
}
const get = (k: string) => argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter((s) => s !== ''));
const num = (name: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new RangeError(`bench:rnn: --${name} must be a number, got '${v}'`);
  return n;
};

const i = info();
const out = get('out');
console.log(`backend ${i.backend} (${i.threads} threads)`);
const report = runRnnBench({
  budgetSeconds: num('budget', get('budget')),
  seeds: num('seeds', get('seeds')),
  seqLengths: list(get('seq-lengths') ?? get('lengths'))?.map((t) => num('seq-lengths', t) as number),
  tasks: list(get('tasks')),
  methods: list(get('methods') ?? get('optimizers')),
  size: get('size') as RnnDataSize | undefined,
  onRun: (r) => console.log(formatRnnRun(r)),
});
console.log('');
console.log(formatRnnReport(report));
if (out !== undefined) writeFileSync(out, JSON.stringify(report, null, 1));
