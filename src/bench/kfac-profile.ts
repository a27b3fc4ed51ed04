/**
 * `npm run bench:kfac -- --profile`: where a K-FAC / EKFAC step's time goes, part by part, in
 * CPU time (user + system of this process, all threads: less sensitive to other processes on a
 * shared machine than wall time) and wall time, against an SGD step (one `valueAndGrad`) on the
 * same batches, in one process.
 *
 * The optimizer runs unchanged on an objective whose methods are timed (the gradient pass with
 * the statistics, a statistics pass of its own, the Gram matrix of the quadratic model, the value
 * at the new point); what is left of the step is the estimator (folding the factors, the
 * inverses), the preconditioning and tree arithmetic. Those are then timed alone on the
 * optimizer's final state: the preconditioning, one fold without inverses and one with.
 */
import type { PyTree } from '../autodiff/pytree.js';
import { closeScope, detachedScope, runInScope, sweepScope } from '../tensor/scope.js';
import { problemById } from './problems.js';
import { optimizerEntry } from '../optim/registry.js';
import type { Optimizer, OptimizerState } from '../optim/types.js';
import { preconditionTree, updateEstimator, type EstimatorState, type KfacStatistics } from '../curvature/kronecker-estimator.js';
import { Rng } from '../tensor/random.js';
import type { KfacObjective } from '../optim/kronecker/kfac-objective.js';
import { Parts, now, table } from './util.js';

/** The objective with its expensive methods timed (same object identity across one step). */
function timedObjective<P extends PyTree>(obj: KfacObjective<P>, parts: Parts): KfacObjective<P> {
  let requested = false;
  return {
    ...obj,
    valueAndGrad: (p) => parts.time(requested ? 'gradient + statistics' : 'gradient', () => { requested = false; return obj.valueAndGrad(p); }),
    requestKfacStatistics: (p, o) => { requested = true; obj.requestKfacStatistics?.(p, o); },
    kfacStatistics: (p, o) => {
      const t0 = now();
      const s = obj.kfacStatistics(p, o);
      if (s.fromGradientPass !== true) parts.add('statistics pass', t0);
      return s;
    },
    ggnGram: (p, vs) => parts.time('Gram (2x2 model)', () => obj.ggnGram(p, vs)),
    value: (p) => parts.time('value at new point', () => (obj.value as (q: P) => number)(p)),
    // modelFraction's sub-batch: its Gram is timed too.
    subsample: (fraction, seed) => timedObjective((obj.subsample as (f: number, s: number) => KfacObjective<P>)(fraction, seed), parts),
  };
}

export interface ProfileOptions {
  problems: readonly string[]; methods: readonly string[]; batches: readonly number[]; steps: number; warmup: number; size: 'tiny' | 'small' | 'paper'; seed: number;
  /** Options of K-FAC and EKFAC (default: their defaults). */
  options?: Record<string, unknown>;
}

/** Print, per problem and batch size, each method's step split into parts, in ms per step and as multiples of an SGD step. */
export function profileKfac(o: ProfileOptions): void {
  for (const problemId of o.problems) {
    for (const batch of o.batches) {
      const inst = problemById(problemId).build(o.seed, { size: o.size });
      const carried = detachedScope();
      const sgd = new Parts();
      // An SGD step's work: one gradient on each batch.
      for (let k = 0; k < o.warmup + o.steps; k++) {
        const obj = inst.batch(k, batch);
        if (k < o.warmup) runInScope(carried, () => obj.valueAndGrad(inst.params));
        else runInScope(carried, () => sgd.time('sgd step', () => obj.valueAndGrad(inst.params)));
        sweepScope(carried, []);
      }
      const sgdCpu = (sgd.cpu.get('sgd step') as number) / o.steps;
      const sgdWall = (sgd.wall.get('sgd step') as number) / o.steps;
      console.log(`\n${problemId}, batch ${batch}: SGD step ${sgdCpu.toFixed(1)} ms CPU, ${sgdWall.toFixed(1)} ms wall (mean of ${o.steps})`);
      for (const id of o.methods) {
        const parts = new Parts();
        const opt = optimizerEntry(id).create(id === 'kfac' || id === 'ekfac' ? o.options ?? {} : {}) as Optimizer<PyTree, PyTree>;
        let params = inst.params;
        let state = opt.init(params);
        for (let k = 0; k < o.warmup + o.steps; k++) {
          const measured = k >= o.warmup;
          const obj = timedObjective(inst.batch(k, batch) as KfacObjective<PyTree>, measured ? parts : new Parts());
          const res = runInScope(carried, () => (measured ? parts.time('whole step', () => opt.step(params, state, obj)) : opt.step(params, state, obj)));
          ({ params, state } = res);
          sweepScope(carried, [params, state, inst.params]);
        }
        // The estimator's parts alone, on the final state and one more batch's statistics; each
        // repetition in its own scope, so that its buffers go back to the pool as in a step.
        const inner = (state as OptimizerState<PyTree>).inner as { curvature: EstimatorState };
        const solo = new Parts();
        const obj = inst.batch(o.warmup + o.steps, batch) as KfacObjective<PyTree>;
        const reps = Math.max(1, Math.min(5, o.steps));
        const kron = inner.curvature.blocks.find((b) => b.kind !== 'diagonal') as { inverse: { method: string; damping?: number } | null } | undefined;
        const method = kron?.inverse?.method === 'eigen' ? 'eigen' : 'cholesky';
        // The λ the inverses were computed for (Cholesky): another λ would recompute them.
        const damping = kron?.inverse?.damping ?? 1e-3;
        const carriedInputs = runInScope(carried, () => {
          const [, g] = obj.valueAndGrad(params);
          // On the sub-batch K-FAC folds (statisticsFraction).
          const fraction = typeof o.options?.statisticsFraction === 'number' ? o.options.statisticsFraction : 1;
          const stats: KfacStatistics<PyTree> = obj.kfacStatistics(params, { mode: 'true', rng: new Rng(1), ...(fraction < 1 ? { subset: { fraction, seed: 1 } } : {}) });
          return { g, stats };
        });
        const { g, stats } = carriedInputs;
        const keepAlive = [params, state, inst.params, g, stats.diagonal, ...stats.layers.flatMap((l) => [l.a, ...l.g])];
        const rep = (part: string, f: () => unknown) => {
          runInScope(carried, () => solo.time(part, f));
          sweepScope(carried, keepAlive);
        };
        for (let r = 0; r < reps; r++) {
          rep('precondition', () => preconditionTree(inner.curvature, g, damping));
          rep('fold statistics', () => updateEstimator(inner.curvature, params, stats, { decay: 0.95, recomputeInverses: false, inverseMethod: method, damping }));
        }
        rep('fold + inverses', () => updateEstimator(inner.curvature, params, stats, { decay: 0.95, recomputeInverses: true, inverseMethod: method, damping }));
        sweepScope(carried, []);
        const per = (p: Parts, part: string, n: number) => [(p.cpu.get(part) ?? 0) / n, (p.wall.get(part) ?? 0) / n] as const;
        const rows: (string | number)[][] = [];
        const row = (name: string, [cpu, wall]: readonly [number, number], note = '') => rows.push([name, cpu.toFixed(1), wall.toFixed(1), (cpu / sgdCpu).toFixed(2), note]);
        const whole = per(parts, 'whole step', o.steps);
        let measuredCpu = 0;
        let measuredWall = 0;
        for (const part of ['gradient + statistics', 'gradient', 'statistics pass', 'Gram (2x2 model)', 'value at new point']) {
          if (!parts.calls.has(part)) continue;
          const v = per(parts, part, o.steps);
          measuredCpu += v[0];
          measuredWall += v[1];
          row(part, v, `${parts.calls.get(part)} calls`);
        }
        row('rest of the step', [whole[0] - measuredCpu, whole[1] - measuredWall], 'estimator, preconditioning, tree arithmetic');
        row('  precondition (alone)', per(solo, 'precondition', reps));
        row('  fold statistics (alone)', per(solo, 'fold statistics', reps));
        row('  fold + inverses (alone, once)', per(solo, 'fold + inverses', 1), `amortized over the inverse period`);
        row('whole step (mean)', whole);
        console.log(`${id}: ms per step (mean over ${o.steps} steps after ${o.warmup} warm-up); x SGD in CPU time`);
        console.log(table(['part', 'CPU ms', 'wall ms', 'x SGD', ''], rows));
      }
      closeScope(carried, undefined);
    }
  }
}

