/**
 * `node dist/bench/families-pinn.js`: physics-informed problems (pinn-poisson-1d, pinn-heat-1d)
 * trained by Adam, L-BFGS and the Adam → L-BFGS hybrid, same run, same seeds, each under the
 * same wall-clock budget; the relative L2 error against the exact solution (Raissi et al. 2019's
 * metric) at a quarter, half and all of the budget, medians over seeds. Hyper-parameters are the
 * suite's table (bench/hyper.ts: full batch, Adam lr 1e-3, the switch after 200 steps).
 * Options: --budget=15s --seeds=2 --size=tiny|small|paper --problems=a,b --optimizers=x,y.
 */
import { info } from '../info.js';
import type { DataSize } from './problem-types.js';
import { parseBudget, runOne, type RunRecord } from './runner.js';
import { table } from './util.js';

/** The relative L2 error of the last curve point at or before `seconds` of optimizer time. */
export function relL2At(r: RunRecord, seconds: number): number | undefined {
  let v: number | undefined;
  for (const p of r.curve) if (p.seconds <= seconds && p.relL2 !== undefined) v = p.relL2;
  return v;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function main(argv: string[]): void {
  const get = (k: string) => argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
  const problems = get('problems')?.split(',') ?? ['pinn-poisson-1d', 'pinn-heat-1d'];
  const optimizers = get('optimizers')?.split(',') ?? ['adam', 'lbfgs', 'adam-lbfgs'];
  const budgetText = get('budget') ?? '15s';
  const budget = parseBudget(budgetText);
  if (budget.seconds === undefined) throw new RangeError(`families-pinn: --budget must be seconds (equal wall-clock), got '${budgetText}'`);
  const seeds = Number(get('seeds') ?? 2);
  if (!Number.isSafeInteger(seeds) || seeds < 1) throw new RangeError(`families-pinn: --seeds must be a positive integer, got ${get('seeds')}`);
  const size = (get('size') ?? 'small') as DataSize;
  if (!['tiny', 'small', 'paper'].includes(size)) throw new RangeError(`families-pinn: --size must be tiny, small or paper, got '${size}'`);
  const i = info();
  console.log(`backend ${i.backend} (${i.simd}, ${i.threads} threads); ${budgetText} of optimizer time per run; data size ${size}; seeds 0..${seeds - 1}`);
  const T = budget.seconds;
  const marks = [T / 4, T / 2, T];
  for (const problem of problems) {
    const rows: (string | number)[][] = [];
    for (const optimizer of optimizers) {
      const runs: RunRecord[] = [];
      for (let seed = 0; seed < seeds; seed++) {
        const { record } = runOne(problem, optimizer, seed, budget, { size });
        runs.push(record);
        console.log(`  ${optimizer} on ${problem} (seed ${seed}): ${record.final.step} steps in ${record.final.seconds.toFixed(1)} s, loss ${record.final.trainLoss.toPrecision(4)}, relL2 ${record.final.relL2?.toPrecision(3) ?? '-'}`);
      }
      const at = (t: number) => {
        const vs = runs.map((r) => relL2At(r, t)).filter((v): v is number => v !== undefined);
        return vs.length === runs.length ? median(vs).toExponential(2) : '-';
      };
      rows.push([optimizer, ...marks.map(at), median(runs.map((r) => r.final.trainLoss)).toExponential(2), median(runs.map((r) => r.final.step))]);
    }
    console.log(`\n${problem}: relative L2 error against the exact solution after equal optimizer time (medians over ${seeds} seeds)`);
    console.log(table(['optimizer', ...marks.map((t) => `relL2 @ ${t.toFixed(1)} s`), 'final loss', 'steps'], rows));
  }
}

main(process.argv.slice(2));
