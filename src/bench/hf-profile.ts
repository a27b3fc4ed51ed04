/**
 * `npm run bench:hf -- --profile`: where a Hessian-free step's time goes, part by part, in CPU
 * time (user + system of this process, all threads) and wall time, in one process.
 *
 * The optimizer runs with its bench row (bench/hyper.ts) on an objective whose methods are
 * timed: the gradient on the batch, and on the curvature sub-batch the diagonal preconditioner
 * (empirical Fisher), the linearization (first curvature product), each later curvature product
 * (one CG iteration's Gv), the trial losses. What is left of the step is CG's tree arithmetic,
 * the preconditioner's application and the state. For reference, on the same batches: one
 * gradient on the curvature sub-batch, so that a CG iteration's product can be compared with a
 * gradient of the same size (issue #13: ≤ 1.2×).
 */
import type { PyTree } from '../autodiff/pytree.js';
import { closeScope, detachedScope, runInScope, sweepScope } from '../tensor/scope.js';
import { problemById } from './problems.js';
import { optimizerEntry } from '../optim/registry.js';
import type { Objective, Optimizer } from '../optim/types.js';
import { hyperFor, mergeOptions, resolveBatchSize } from './hyper.js';
import { curvatureShareOf } from '../optim/krylov/hessian-free.js';
import { Parts, table } from './util.js';

/** The objective with its methods timed; `where` names the batch ('batch' or 'sub-batch'). */
function timed<P extends PyTree>(obj: Objective<P>, parts: Parts, where: string): Objective<P> {
  const out: Objective<P> = {
    ...obj,
    valueAndGrad: (p) => parts.time(`gradient (${where})`, () => obj.valueAndGrad(p)),
  };
  const value = obj.value;
  if (value) out.value = (p) => parts.time(`trial loss (${where})`, () => value.call(obj, p));
  const diag = obj.diagEmpiricalFisher;
  if (diag) out.diagEmpiricalFisher = (p) => parts.time(`preconditioner diag (${where})`, () => diag.call(obj, p));
  const make = obj.ggnOperator;
  if (make) {
    out.ggnOperator = (p) => {
      const op = parts.time(`linearize (${where})`, () => make.call(obj, p));
      return { apply: (v) => parts.time(`CG product Gv (${where})`, () => op.apply(v)), dispose: () => op.dispose() };
    };
  }
  const sub = obj.subsample;
  if (sub) out.subsample = (f, s) => timed(sub.call(obj, f, s), parts, 'sub-batch');
  return out;
}

export interface HfProfileOptions { problems: readonly string[]; steps: number; warmup: number; size: 'tiny' | 'small' | 'paper'; seed: number; options?: Record<string, unknown> }

export function profileHf(o: HfProfileOptions): void {
  for (const problemId of o.problems) {
    const problem = problemById(problemId);
    const inst = problem.build(o.seed, { size: o.size });
    const hyper = resolveBatchSize(hyperFor(problemId, problem.kind, 'hessian-free'), inst.trainSize);
    const options = mergeOptions(hyper.options, o.options);
    const batch = hyper.batchSize === 'full' ? inst.trainSize : hyper.batchSize;
    const carried = detachedScope();
    const parts = new Parts();
    const ref = new Parts();
    const opt = optimizerEntry('hessian-free').create(options) as Optimizer<PyTree, PyTree>;
    let params = inst.params;
    let state = opt.init(params);
    for (let k = 0; k < o.warmup + o.steps; k++) {
      const measured = k >= o.warmup;
      const raw = inst.batch(k, batch) as Objective<PyTree>;
      const obj = timed(raw, measured ? parts : new Parts(), 'batch');
      const res = runInScope(carried, () => (measured ? parts.time('whole step', () => opt.step(params, state, obj)) : opt.step(params, state, obj)));
      ({ params, state } = res);
      sweepScope(carried, [params, state, inst.params]);
      // Reference: a gradient on a sub-batch of the curvature's size, at the same point.
      const fraction = curvatureShareOf(options, raw);
      if (measured && raw.subsample && fraction < 1) {
        const sub = raw.subsample(fraction, 1 + k);
        runInScope(carried, () => ref.time('gradient (sub-batch)', () => sub.valueAndGrad(params)));
        sweepScope(carried, [params, state, inst.params]);
      }
    }
    closeScope(carried, undefined);
    const per = (p: Parts, part: string) => [(p.cpu.get(part) ?? 0) / o.steps, (p.wall.get(part) ?? 0) / o.steps] as const;
    const each = (p: Parts, part: string) => [(p.cpu.get(part) ?? 0) / (p.calls.get(part) ?? 1), (p.wall.get(part) ?? 0) / (p.calls.get(part) ?? 1)] as const;
    const gSub = ref.calls.has('gradient (sub-batch)') ? each(ref, 'gradient (sub-batch)')[0] : each(parts, 'gradient (batch)')[0];
    const rows: (string | number)[][] = [];
    const whole = per(parts, 'whole step');
    let mCpu = 0;
    let mWall = 0;
    for (const part of parts.cpu.keys()) {
      if (part === 'whole step') continue;
      const [c, w] = per(parts, part);
      const [c1] = each(parts, part);
      mCpu += c;
      mWall += w;
      rows.push([part, c.toFixed(1), w.toFixed(1), ((parts.calls.get(part) ?? 0) / o.steps).toFixed(1), c1.toFixed(2), (c1 / gSub).toFixed(2)]);
    }
    rows.push(['rest (CG arithmetic, preconditioner, state)', (whole[0] - mCpu).toFixed(1), (whole[1] - mWall).toFixed(1), '', '', '']);
    rows.push(['whole step', whole[0].toFixed(1), whole[1].toFixed(1), '1', whole[0].toFixed(1), (whole[0] / gSub).toFixed(2)]);
    console.log(`\n${problemId}: Hessian-free ${JSON.stringify(options)}, batch ${batch}; ms per step (mean of ${o.steps} after ${o.warmup} warm-up); reference: one gradient on the sub-batch ${gSub.toFixed(2)} ms CPU`);
    console.log(table(['part', 'CPU ms/step', 'wall ms/step', 'calls/step', 'CPU ms/call', 'x sub-batch gradient'], rows));
  }
}
