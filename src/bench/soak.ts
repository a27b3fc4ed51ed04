/**
 * `npm run bench:soak`: long runs of every registered optimizer through the CLI's path
 * (`runOne`, the table's hyper-parameters), with resident memory (RSS) and the JS heap sampled
 * after a full GC at each curve point, and the growth per 1,000 steps fitted by least squares
 * over the samples after a warm-up (target: none beyond noise), and the change from the first
 * sample to the last and the spread of all samples after the warm-up (issue 11's target: within
 * ±5%); RSS is split into V8's committed heap, external memory (typed arrays) and the rest (the C
 * heap), to tell V8's sizing from a leak of ours, and the band of what the process's objects
 * hold (V8's used heap after the GC plus external memory) is reported beside RSS's. Options:
 * --steps=20000 --problem=mlp-spirals --optimizers=a,b --seed=0 --warmup=0.1 (fraction of the
 * steps) --node-flags='--max-semi-space-size=2 --single-threaded' (V8 flags for the child
 * processes: these two fix the young generation's size and keep V8's compiler and collector on
 * the main thread, whose transient memory is most of RSS's swing on a small model).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { OPTIMIZERS } from '../optim/registry.js';
import { runOne } from './runner.js';
import { table } from './util.js';
import { kernels } from '../kernels/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export interface MemorySample {
  step: number;
  /** MiB after a full GC. */
  rss: number;
  heap: number;
  /** Native and typed-array memory outside the JS heap, MiB. */
  external: number;
  /** What V8 has committed for its heap (its sizing, not what is live), MiB. */
  heapTotal: number;
  /** RSS that is neither V8's heap nor external memory: the C heap (malloc), code, stacks; MiB. */
  other: number;
  /**
   * RSS after the C heap returned its free pages too (native backend: malloc_trim), MiB: what
   * the process holds, without the free pages glibc caches (up to its 64 MiB trim threshold,
   * see addon.cc). Equal to rss where the backend cannot return pages.
   */
  held: number;
}

export interface SoakResult {
  optimizer: string;
  steps: number;
  stopped: string;
  seconds: number;
  samples: MemorySample[];
  /** Least-squares slopes over the samples after the warm-up, MiB per 1,000 steps. */
  rssPer1000: number;
  heapPer1000: number;
  externalPer1000: number;
  /** Spread of RSS over the samples after the warm-up: max / min - 1, in percent (issue 11: within ±5%, so 10). */
  rssBandPercent: number;
  /** The same spread of `held`. */
  heldBandPercent: number;
  /** The same spread of V8's used heap plus external memory: what the process's objects hold. */
  ownBandPercent: number;
  finalLoss: number;
}

function sample(step: number): MemorySample {
  gc();
  const m = process.memoryUsage();
  // arrayBuffers is part of external (Node's docs), so external alone counts typed arrays once.
  const mib = (b: number) => b / 2 ** 20;
  const held = kernels().releaseFreeMemory?.() === true ? process.memoryUsage().rss : m.rss;
  return { step, rss: mib(m.rss), heap: mib(m.heapUsed), external: mib(m.external), heapTotal: mib(m.heapTotal), other: mib(m.rss - m.heapTotal - m.external), held: mib(held) };
}

/** Slope of y over x by least squares (NaN with fewer than two distinct x). */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : NaN;
}

/** max / min - 1 of positive values, in percent (NaN when empty). */
export function band(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  return 100 * (Math.max(...values) / Math.min(...values) - 1);
}

/**
 * One optimizer for `steps` steps on `problem`; memory is sampled at the runner's curve points
 * (spaced geometrically, about 16 per decade of steps) from the warm-up on.
 */
export function soakRun(problem: string, optimizer: string, steps: number, options: { seed?: number; warmupSteps?: number } = {}): SoakResult {
  const warmup = options.warmupSteps ?? Math.round(steps / 10);
  const samples: MemorySample[] = [];
  const t0 = Date.now();
  const { record } = runOne(problem, optimizer, options.seed ?? 0, { steps }, {
    onPoint: (p) => { if (p.step >= warmup) samples.push(sample(p.step)); },
  });
  const xs = samples.map((s) => s.step / 1000);
  return {
    optimizer,
    steps: record.final.step,
    stopped: record.final.stopped,
    seconds: (Date.now() - t0) / 1000,
    samples,
    rssPer1000: slope(xs, samples.map((s) => s.rss)),
    heapPer1000: slope(xs, samples.map((s) => s.heap)),
    externalPer1000: slope(xs, samples.map((s) => s.external)),
    rssBandPercent: band(samples.map((s) => s.rss)),
    heldBandPercent: band(samples.map((s) => s.held)),
    ownBandPercent: band(samples.map((s) => s.heap + s.external)),
    finalLoss: record.final.trainLoss,
  };
}

/** min–max of V8's used heap plus external memory over the samples, MiB. */
function ownRange(samples: readonly MemorySample[]): string {
  const own = samples.map((m) => m.heap + m.external);
  return own.length === 0 ? '' : `${Math.min(...own).toFixed(1)}–${Math.max(...own).toFixed(1)}`;
}

function main(argv: readonly string[]): void {
  const arg = (name: string, fallback: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
  const steps = Number(arg('steps', '20000'));
  if (!Number.isInteger(steps) || steps < 10) throw new RangeError(`--steps must be an integer >= 10, got '${arg('steps', '')}'`);
  const warmupFraction = Number(arg('warmup', '0.1'));
  if (!(warmupFraction >= 0 && warmupFraction < 1)) throw new RangeError(`--warmup must be a fraction in [0, 1), got '${arg('warmup', '')}'`);
  const problem = arg('problem', 'mlp-spirals');
  const optimizers = arg('optimizers', [...OPTIMIZERS.keys()].join(',')).split(',');
  const seed = Number(arg('seed', '0'));
  const nodeFlags = arg('node-flags', '').split(/\s+/).filter((f) => f !== '');
  for (const f of nodeFlags) if (!f.startsWith('--')) throw new RangeError(`--node-flags takes V8/Node flags starting with --, got '${f}'`);
  if (arg('child', '') === '') console.log(`soak: ${steps} steps per optimizer on ${problem} (seed ${seed}); memory after a full GC at each curve point past step ${Math.round(steps * warmupFraction)}${nodeFlags.length > 0 ? `; children run with ${nodeFlags.join(' ')}` : ''}`);
  const child = arg('child', '');
  if (child !== '') {
    // One optimizer per process, so each starts from the same baseline and its RSS is its own.
    console.log(JSON.stringify(soakRun(problem, child, steps, { seed, warmupSteps: Math.round(steps * warmupFraction) })));
    return;
  }
  const rows: (string | number)[][] = [];
  for (const o of optimizers) {
    const c = spawnSync(process.execPath, [...nodeFlags, fileURLToPath(import.meta.url), ...argv, `--child=${o}`], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (c.status !== 0) throw new Error(`soak of ${o} failed: ${c.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const r = JSON.parse(c.stdout.trim().split('\n').pop() as string) as SoakResult;
    const first = r.samples[0];
    const last = r.samples[r.samples.length - 1];
    const change = first !== undefined && last !== undefined ? `${(100 * (last.rss / first.rss - 1)).toFixed(1)}%` : '';
    const span = (f: (m: MemorySample) => number) => (first !== undefined && last !== undefined ? `${f(first).toFixed(1)} → ${f(last).toFixed(1)}` : '');
    const heldChange = first !== undefined && last !== undefined ? `${(100 * (last.held / first.held - 1)).toFixed(1)}%` : '';
    const row = [o, r.steps, r.stopped, r.seconds.toFixed(0), r.samples.length, span((m) => m.rss), change, r.rssBandPercent.toFixed(1),
      span((m) => m.held), heldChange, r.heldBandPercent.toFixed(1), `${ownRange(r.samples)} (${r.ownBandPercent.toFixed(1)}%)`, r.rssPer1000.toFixed(3), span((m) => m.heapTotal), r.heapPer1000.toFixed(3), span((m) => m.external), span((m) => m.other), r.finalLoss.toPrecision(3)];
    rows.push(row);
    console.log(row.join('  '));
  }
  console.log(`\n${table(['optimizer', 'steps', 'stopped', 's', 'samples', 'RSS MiB', 'RSS change', 'RSS band %', 'held MiB', 'held change', 'held band %', 'heap used + external MiB (band)', 'RSS MiB/1k', 'V8 heap committed MiB', 'heap used MiB/1k', 'external MiB', 'C heap etc. MiB', 'final loss'], rows)}`);
  console.log('RSS band: max/min - 1 over the samples after the warm-up (issue 11: flat within ±5%). held: RSS once the C heap also returned its free pages (malloc_trim), i.e. without what glibc caches. heap used + external: what the process\'s objects hold after the GC. C heap etc.: RSS - V8 committed heap - external.');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
