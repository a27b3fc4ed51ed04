/**
 * Optimizers on 2-D test functions: each a `Stepper` that advances one step and reports the
 * point and loss it reached. The registered optimizers run through their public contract
 * (`optimizerEntry(id).create`, `step(params, state, objective)`); plain Newton, which the
 * package leaves out on purpose (it heads for saddles), is written here from the exact Hessian.
 */
import { parseFormula, type Formula } from '../../src/data/formula.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { reshape, slice } from '../../src/autodiff/ops.js';
import { hessian } from '../../src/autodiff/compose.js';
import { grad } from '../../src/autodiff/vjp.js';
import { tidy } from '../../src/tensor/scope.js';
import { objective } from '../../src/optim/objective.js';
import { optimizerEntry } from '../../src/optim/registry.js';
import type { Objective, Optimizer, OptimizerState } from '../../src/optim/types.js';
import type { LandscapeSpec, Point } from './protocol.js';

/** One optimizer's run, stepped by the worker's loop. */
export interface Stepper {
  readonly id: string;
  /** Steps taken so far. */
  readonly step: number;
  /** True once the method converged or failed; no further steps. */
  readonly done: boolean;
  /** The starting point (step 0). */
  readonly first: Point;
  advance(): Point;
  /** Networks: a few digits to show, when there is something new. */
  samples?(): { images: Float32Array; labels: number[]; predicted: number[] } | undefined;
  dispose(): void;
}

function optionsFor(id: string, lr: number): Record<string, unknown> {
  switch (id) {
    case 'sgd': return { lr };
    case 'momentum': return { lr, momentum: 0.9 };
    case 'adam': return { lr: 0.05 };
    case 'hessian-free': return { curvature: 'hessian', preconditioner: false, cgMaxIter: 10 };
    case 'saddle-free-newton': return { k: 2 };
    default: return {};
  }
}

const asFunction = (formula: Formula) => (p: Tensor): Tensor =>
  formula.evaluate(reshape(slice(p, [0], [1]), []), reshape(slice(p, [1], [2]), []));

/** The formula on an n×n grid over the box (row-major, y from y0 up), with its finite range. */
export function surface(spec: LandscapeSpec, n: number): { values: Float64Array; lo: number; hi: number } {
  const formula = parseFormula(spec.formula);
  const { x0, x1, y0, y1 } = spec.box;
  const xs = new Float64Array(n * n);
  const ys = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      xs[i * n + j] = x0 + ((x1 - x0) * j) / (n - 1);
      ys[i * n + j] = y0 + ((y1 - y0) * i) / (n - 1);
    }
  }
  const values = tidy(() => Float64Array.from(formula.evaluate(tensor(xs, [n * n], { dtype: 'float64' }), tensor(ys, [n * n], { dtype: 'float64' })).data));
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return { values, lo, hi };
}

/** Pure Newton: x − H⁻¹g with the exact 2×2 Hessian (a gradient step where H is singular). */
function newtonStep(f: (p: Tensor) => Tensor, g: (p: Tensor) => Tensor, x: Tensor, lr: number): Tensor {
  return tidy(() => {
    const gv = g(x).data;
    const h = hessian(f, x).data;
    const det = h[0] * h[3] - h[1] * h[2];
    const [a, b] = x.data;
    if (!(Math.abs(det) > 1e-12)) return tensor([a - lr * gv[0], b - lr * gv[1]], [2], { dtype: 'float64' });
    const dx = (h[3] * gv[0] - h[1] * gv[1]) / det;
    const dy = (-h[2] * gv[0] + h[0] * gv[1]) / det;
    return tensor([a - dx, b - dy], [2], { dtype: 'float64' });
  });
}

/** The steppers for `optimizers` on `spec`, or a message saying why the function cannot be used. */
export function landscapeSteppers(spec: LandscapeSpec, optimizers: readonly string[]): Stepper[] | string {
  let formula: Formula;
  try {
    formula = parseFormula(spec.formula);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  const f = asFunction(formula);
  const obj: Objective<Tensor> = objective(f);
  const [sx, sy] = spec.start;
  const p0 = tensor([sx, sy], [2], { dtype: 'float64' });
  const f0 = tidy(() => f(p0).data[0]);
  if (!Number.isFinite(f0)) return `f is not finite at the start point (${sx.toPrecision(3)}, ${sy.toPrecision(3)}): f = ${f0}`;
  const g0 = tidy(() => [...grad(f)(p0).data]);
  if (!g0.every(Number.isFinite)) return `the gradient of f is not finite at the start point (${sx.toPrecision(3)}, ${sy.toPrecision(3)})`;
  const first: Point = { step: 0, seconds: 0, loss: f0, x: sx, y: sy };
  return optimizers.map((id) => {
    let step = 0;
    let seconds = 0;
    let done = false;
    let params = p0;
    let advanceOne: () => { params: Tensor; converged: boolean };
    if (id === 'newton') {
      const g = grad(f);
      advanceOne = () => ({ params: newtonStep(f, g, params, spec.lr), converged: false });
    } else {
      const opt = optimizerEntry(id).create(optionsFor(id, spec.lr)) as unknown as Optimizer<never, Tensor>;
      let state: OptimizerState<never> = opt.init(p0);
      advanceOne = () => {
        const r = opt.step(params, state, obj);
        state = r.state;
        return { params: r.params, converged: r.info.converged !== undefined };
      };
    }
    return {
      id,
      first,
      get step() { return step; },
      get done() { return done; },
      advance(): Point {
        const t0 = performance.now();
        const r = advanceOne();
        seconds += (performance.now() - t0) / 1000;
        step++;
        const moved = Math.hypot(r.params.data[0] - params.data[0], r.params.data[1] - params.data[1]);
        params = r.params;
        const loss = tidy(() => f(params).data[0]);
        const [x, y] = params.data;
        // Stop where the method says so, where it stands still, or where it left the finite numbers.
        if (r.converged || (moved < 1e-12 && step > 1) || !Number.isFinite(loss) || Math.abs(x) > 1e6 || Math.abs(y) > 1e6) done = true;
        return { step, seconds, loss, x, y };
      },
      dispose: () => undefined,
    };
  });
}
