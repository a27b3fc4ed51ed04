/**
 * `node dist/bench/soak-pool.js`: the soak of `soak.ts` read through the engine's own counters
 * as well as the JS heap, for the methods that differentiate twice every step (issue 15: users
 * of AdaHessian and Sophia elsewhere see memory grow step after step, graphs kept alive for
 * double backward). Each optimizer runs in its own process through the CLI's path (`runOne`);
 * at every curve point after the warm-up it records the heap after a full GC and the pool's
 * figures (`memory()`: live buffers the run's carried scope holds, pooled buffers, fresh
 * allocations). Flat means: live buffers constant, pooled buffers bounded, no fresh allocations
 * per step, heap slope within noise. Options: --steps=10000 --problem=mlp-spirals
 * --optimizers=adahessian,sophia-h,sophia-g --seed=0 --warmup=0.1.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { memory } from '../tensor/memory.js';
import { runOne } from './runner.js';
import { slope } from './soak.js';
import { table } from './util.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export interface PoolSample {
  step: number;
  /** JS heap after a full GC, MiB. */
  heap: number;
  liveBuffers: number;
  liveBytes: number;
  pooledBuffers: number;
  pooledBytes: number;
  poolMisses: number;
}

export interface PoolSoakResult {
  optimizer: string;
  steps: number;
  seconds: number;
  samples: PoolSample[];
  /** Least-squares slope of the heap over the samples, MiB per 1,000 steps. */
  heapPer1000: number;
  /** Fresh buffers per 1,000 steps between the first and last sample. */
  missesPer1000: number;
  finalLoss: number;
}

/** One optimizer for `steps` steps on `problem`, sampled at the runner's curve points from the warm-up on. */
export function poolSoakRun(problem: string, optimizer: string, steps: number, options: { seed?: number; warmupSteps?: number } = {}): PoolSoakResult {
  const warmup = options.warmupSteps ?? Math.round(steps / 10);
  const samples: PoolSample[] = [];
  const t0 = Date.now();
  const { record } = runOne(problem, optimizer, options.seed ?? 0, { steps }, {
    onPoint: (p) => {
      if (p.step < warmup) return;
      gc();
      const m = memory();
      samples.push({ step: p.step, heap: process.memoryUsage().heapUsed / 2 ** 20, liveBuffers: m.liveBuffers, liveBytes: m.liveBytes, pooledBuffers: m.pooledBuffers, pooledBytes: m.pooledBytes, poolMisses: m.poolMisses });
    },
  });
  const first = samples[0];
  const last = samples[samples.length - 1];
  return {
    optimizer,
    steps: record.final.step,
    seconds: (Date.now() - t0) / 1000,
    samples,
    heapPer1000: slope(samples.map((s) => s.step / 1000), samples.map((s) => s.heap)),
    missesPer1000: first !== undefined && last !== undefined && last.step > first.step ? (1000 * (last.poolMisses - first.poolMisses)) / (last.step - first.step) : NaN,
    finalLoss: record.final.trainLoss,
  };
}

function main(argv: readonly string[]): void {
  const arg = (name: string, fallback: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
  const steps = Number(arg('steps', '10000'));
  if (!Number.isInteger(steps) || steps < 10) throw new RangeError(`--steps must be an integer >= 10, got '${arg('steps', '')}'`);
  const warmupFraction = Number(arg('warmup', '0.1'));
  if (!(warmupFraction >= 0 && warmupFraction < 1)) throw new RangeError(`--warmup must be a fraction in [0, 1), got '${arg('warmup', '')}'`);
  const problem = arg('problem', 'mlp-spirals');
  const seed = Number(arg('seed', '0'));
  const child = arg('child', '');
  if (child !== '') {
    console.log(JSON.stringify(poolSoakRun(problem, child, steps, { seed, warmupSteps: Math.round(steps * warmupFraction) })));
    return;
  }
  console.log(`soak-pool: ${steps} steps per optimizer on ${problem} (seed ${seed}); heap after a full GC and the pool's counters at each curve point past step ${Math.round(steps * warmupFraction)}`);
  const rows: (string | number)[][] = [];
  for (const o of arg('optimizers', 'adahessian,sophia-h,sophia-g').split(',')) {
    const c = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...argv, `--child=${o}`], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (c.status !== 0) throw new Error(`soak of ${o} failed: ${c.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const r = JSON.parse(c.stdout.trim().split('\n').pop() as string) as PoolSoakResult;
    const a = r.samples[0];
    const b = r.samples[r.samples.length - 1];
    const span = (f: (s: PoolSample) => number, digits = 0) => (a === undefined || b === undefined ? '' : `${f(a).toFixed(digits)} → ${f(b).toFixed(digits)}`);
    rows.push([o, r.steps, r.seconds.toFixed(0), r.samples.length, span((s) => s.heap, 2), r.heapPer1000.toFixed(3), span((s) => s.liveBuffers), span((s) => s.liveBytes / 1024, 1), span((s) => s.pooledBuffers), r.missesPer1000.toFixed(2), r.finalLoss.toPrecision(3)]);
  }
  console.log(table(['optimizer', 'steps', 's', 'samples', 'heap MiB', 'heap MiB/1k', 'live buffers', 'live KiB', 'pooled buffers', 'fresh buffers/1k', 'final loss'], rows));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
