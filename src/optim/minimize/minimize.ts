/**
 * `minimize(f, x0, options)`: SciPy's `scipy.optimize.minimize` for functions of one tensor,
 * float64 by default, gradients by autodiff unless `jac` is given.
 *
 * Methods: 'lbfgs' (unbounded L-BFGS with a Moré–Thuente line search), 'lbfgsb' (box
 * constraints, Byrd–Lu–Nocedal–Zhu), 'cg' (nonlinear conjugate gradient, Polak–Ribière+),
 * 'bfgs' (dense inverse-Hessian BFGS), 'newton-cg' (truncated Newton with exact
 * Hessian-vector products). The result mirrors SciPy's OptimizeResult.
 */
import { Tensor, fmtShape, tensor } from '../../tensor/tensor.js';
import { stopGradient } from '../../autodiff/core.js';
import { jit } from '../../autodiff/jit.js';
import { valueAndGrad } from '../../autodiff/vjp.js';
import type { Objective, UpdateContext } from '../types.js';
import { objective as autodiffObjective } from '../objective.js';
import { lbfgsTransform } from '../quasi-newton/lbfgs.js';
import { lbfgsb } from '../quasi-newton/lbfgsb.js';
import { nonlinearCg } from './nonlinear-cg.js';
import { bfgs } from './bfgs.js';
import { newtonCg } from '../krylov/newton-cg.js';
import { saddleFreeNewtonMinimizer } from '../krylov/saddle-free-newton.js';
import { treeMaxAbs } from '../../autodiff/tree-math.js';
import { checkNumber } from '../validate.js';
import type { MinimizeResult, MinimizerInput, MinimizerOutput } from './minimizer-types.js';

export const MINIMIZE_METHODS = ['lbfgs', 'lbfgsb', 'cg', 'bfgs', 'newton-cg', 'saddle-free-newton'] as const;
export type MinimizeMethod = (typeof MINIMIZE_METHODS)[number];

export interface MinimizeOptions {
  /** Default 'lbfgs', or 'lbfgsb' when bounds are given. */
  method?: MinimizeMethod;
  /** `[lower, upper]` per variable (flattened order); ±Infinity or null for none. lbfgsb only. */
  bounds?: readonly (readonly [number | null, number | null])[];
  /** Gradient of f; by default autodiff of f (which must then use the library's ops). */
  jac?: (x: Tensor) => Tensor | ArrayLike<number>;
  /** Iterations, default 15000 (lbfgs/lbfgsb) or 200·n (others), as SciPy. */
  maxIter?: number;
  /** Objective evaluations, default 15000. */
  maxEvals?: number;
  /** Sets both gtol and ftol-scale tolerances when given. */
  tol?: number;
  /** Stop when the (projected) gradient's largest entry is at most gtol; default 1e-5. */
  gtol?: number;
  /** lbfgs/lbfgsb: stop when the relative reduction of f is at most ftol; default 2.22e-9 (SciPy's L-BFGS-B). The other methods stop on gtol alone, as SciPy's. */
  ftol?: number;
  /** History size for lbfgs / lbfgsb, default 10. */
  historySize?: number;
  /** Called after each iteration; return true to stop. */
  callback?: (x: Tensor, f: number, iteration: number) => boolean | void;
  /** dtype of the iterate, default float64. */
  dtype?: 'float32' | 'float64';
  /**
   * Evaluate value and gradient through `jit` (default false): the line search calls them many
   * times at one shape, so replaying a recorded plan saves the tracing per call; the results are
   * the eager ones bit for bit. An f that jit cannot record (it reads tensor values to branch)
   * falls back to eager evaluation with one warning. Not with `jac`.
   */
  jit?: boolean;
}

export type { MinimizeResult, MinimizerInput, MinimizerOutput } from './minimizer-types.js';

function toTensor(x0: unknown, dtype: 'float32' | 'float64'): Tensor {
  if (x0 instanceof Tensor) return stopGradient(x0).astype(dtype).clone();
  if (Array.isArray(x0) || x0 instanceof Float64Array || x0 instanceof Float32Array) return tensor(Array.from(x0 as ArrayLike<number>), undefined, { dtype });
  if (typeof x0 === 'number') return tensor([x0], undefined, { dtype });
  throw new TypeError('minimize: x0 must be a Tensor, an array of numbers or a number');
}

/** The autodiff objective with value and gradient replayed by `jit` (the other products stay eager). */
function jittedObjective(f: (x: Tensor) => Tensor): Objective<Tensor> {
  const eager = autodiffObjective(f);
  const vg = jit(valueAndGrad(f), { name: 'minimize objective' });
  return {
    ...eager,
    valueAndGrad: (x) => {
      const [v, g] = vg(x) as [Tensor, Tensor];
      if (v.size !== 1) throw new RangeError(`minimize: f must return a scalar, got a tensor of shape ${fmtShape(v.shape)}`);
      return [v.data[0], g];
    },
  };
}

function jacObjective(f: (x: Tensor) => Tensor | number, jac: (x: Tensor) => Tensor | ArrayLike<number>): Objective<Tensor> {
  const val = (x: Tensor) => {
    const v = f(x);
    return typeof v === 'number' ? v : scalarOf(v);
  };
  return {
    valueAndGrad: (x) => {
      const g = jac(x);
      const gt = g instanceof Tensor ? stopGradient(g) : new Tensor(x.dtype === 'float32' ? Float32Array.from(g) : Float64Array.from(g), x.shape);
      if (gt.size !== x.size) throw new RangeError(`minimize: jac returned ${gt.size} values for ${x.size} variables`);
      return [val(x), new Tensor(gt.data, x.shape)];
    },
    value: val,
  };
}

function scalarOf(v: unknown): number {
  if (!(v instanceof Tensor)) throw new TypeError(`minimize: f must return a number or a scalar Tensor, got ${typeof v}`);
  if (v.size !== 1) throw new RangeError(`minimize: f must return a scalar, got a tensor of shape ${fmtShape(v.shape)}`);
  return v.data[0];
}

export function minimize(f: (x: Tensor) => Tensor | number, x0: Tensor | readonly number[] | Float64Array | number, options: MinimizeOptions = {}): MinimizeResult {
  if (typeof f !== 'function') throw new TypeError('minimize: f must be a function of a Tensor');
  if (options === null || typeof options !== 'object') throw new TypeError('minimize: options must be an object');
  const dtype = options.dtype ?? 'float64';
  const method = options.method ?? (options.bounds ? 'lbfgsb' : 'lbfgs');
  if (!MINIMIZE_METHODS.includes(method)) throw new RangeError(`minimize: unknown method '${String(method)}'; expected one of ${MINIMIZE_METHODS.join(', ')}`);
  if (options.bounds !== undefined && method !== 'lbfgsb') throw new RangeError(`minimize: method '${method}' does not take bounds; use 'lbfgsb'`);
  let x = toTensor(x0, dtype);
  for (let i = 0; i < x.size; i++) if (!Number.isFinite(x.data[i])) throw new RangeError(`minimize: x0 has a non-finite value (${x.data[i]}) at index ${i}`);
  const n = x.size;
  const maxIter = checkNumber('minimize', 'maxIter', options.maxIter ?? (method === 'lbfgs' || method === 'lbfgsb' ? 15000 : 200 * Math.max(1, n)), { min: 0, integer: true });
  const maxEvals = checkNumber('minimize', 'maxEvals', options.maxEvals ?? 15000, { min: 1, integer: true });
  const gtol = checkNumber('minimize', 'gtol', options.gtol ?? options.tol ?? 1e-5, { min: 0 });
  const ftol = checkNumber('minimize', 'ftol', options.ftol ?? (options.tol !== undefined ? options.tol * 1e-4 : 2.220446049250313e-9), { min: 0 });
  const historySize = checkNumber('minimize', 'historySize', options.historySize ?? 10, { min: 1, integer: true });
  const warnings: string[] = [];

  let lower: Float64Array | undefined;
  let upper: Float64Array | undefined;
  if (options.bounds !== undefined) {
    const b = options.bounds;
    if (!Array.isArray(b) || b.length !== n) throw new RangeError(`minimize: bounds must have one [lower, upper] pair per variable (${n}), got ${Array.isArray(b) ? b.length : typeof b}`);
    lower = new Float64Array(n);
    upper = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const [lo, hi] = b[i];
      lower[i] = lo === null || lo === undefined ? -Infinity : lo;
      upper[i] = hi === null || hi === undefined ? Infinity : hi;
      if (Number.isNaN(lower[i]) || Number.isNaN(upper[i])) throw new RangeError(`minimize: bounds[${i}] contains NaN`);
      if (lower[i] > upper[i]) throw new RangeError(`minimize: bounds[${i}] has lower ${lower[i]} > upper ${upper[i]}`);
    }
  }

  if (options.jit !== undefined && typeof options.jit !== 'boolean') throw new TypeError(`minimize: jit must be a boolean, got ${typeof options.jit}`);
  if (options.jit === true && options.jac !== undefined) throw new RangeError('minimize: jit applies to the autodiff gradient; it cannot be combined with jac');
  const fTensor = (t: Tensor): Tensor => {
    const v = f(t);
    if (typeof v === 'number') throw new TypeError('minimize: f returned a plain number; without jac, f must be built from the library\'s ops and return a Tensor');
    return v;
  };
  const obj: Objective<Tensor> = options.jac ? jacObjective(f, options.jac) : options.jit === true ? jittedObjective(fTensor) : autodiffObjective(fTensor);

  if (method === 'lbfgsb') {
    const lo = lower ?? new Float64Array(n).fill(-Infinity);
    const hi = upper ?? new Float64Array(n).fill(Infinity);
    const shape = x.shape;
    const fg = (z: Float64Array): [number, Float64Array] => {
      const [v, g] = obj.valueAndGrad(new Tensor(dtype === 'float32' ? Float32Array.from(z) : Float64Array.from(z), shape));
      return [v, Float64Array.from(g.data)];
    };
    const r = lbfgsb(fg, Float64Array.from(x.data), lo, hi, {
      m: historySize, maxIter, maxEvals, pgtol: gtol, ftol,
      callback: options.callback ? (z, fz, it) => options.callback?.(new Tensor(Float64Array.from(z), shape), fz, it) : undefined,
    });
    const mk = (z: Float64Array) => new Tensor(dtype === 'float32' ? Float32Array.from(z) : Float64Array.from(z), shape);
    return { x: mk(r.x), fun: r.f, jac: mk(r.g), nit: r.nit, nfev: r.nfev, njev: r.nfev, nhev: 0, success: r.success, message: r.message, warnings: [...warnings, ...r.warnings] };
  }

  const [f0, g0] = obj.valueAndGrad(x);
  if (!Number.isFinite(f0)) throw new RangeError(`minimize: f(x0) is ${f0}; the starting point must give a finite value`);
  for (let i = 0; i < g0.size; i++) if (!Number.isFinite(g0.data[i])) throw new RangeError(`minimize: the gradient at x0 has a non-finite entry at index ${i}`);
  const input: MinimizerInput = { obj, x0: x, f0, g0, maxIter, maxEvals, gtol, ftol, historySize, callback: options.callback };
  let out: MinimizerOutput;
  if (treeMaxAbs(g0) <= gtol) {
    out = { x, fun: f0, jac: g0, nit: 0, nfev: 1, nhev: 0, success: true, message: 'the gradient at x0 is already below gtol' };
  } else if (method === 'lbfgs') {
    out = runLbfgs(input);
  } else if (method === 'cg') {
    out = nonlinearCg(input);
  } else if (method === 'bfgs') {
    out = bfgs(input);
  } else if (method === 'saddle-free-newton') {
    out = saddleFreeNewtonMinimizer(input);
  } else {
    out = newtonCg(input);
  }
  x = out.x;
  return { ...out, x, njev: out.nfev, warnings };
}

/** Relative reduction test shared by the methods (SciPy's L-BFGS-B form). */
export function smallReduction(fPrev: number, f: number, ftol: number): boolean {
  return (fPrev - f) / Math.max(Math.abs(fPrev), Math.abs(f), 1) <= ftol;
}

function runLbfgs(input: MinimizerInput): MinimizerOutput {
  const t = lbfgsTransform<Tensor>({ historySize: input.historySize });
  let state = t.init(input.x0);
  let x = input.x0;
  let fx = input.f0;
  let gx = input.g0;
  const counters = { evals: 1, curvatureProducts: 0 };
  const done = (it: number, success: boolean, message: string): MinimizerOutput => ({ x, fun: fx, jac: gx, nit: it, nfev: counters.evals, nhev: 0, success, message });
  for (let it = 1; it <= input.maxIter; it++) {
    const ctx: UpdateContext<Tensor> = { step: it - 1, loss: fx, objective: input.obj, counters, events: [] };
    [, state] = t.update(gx, state, x, ctx);
    const prevF = fx;
    if (ctx.accepted !== undefined) {
      x = ctx.accepted.params;
      fx = ctx.accepted.loss;
      const ag = ctx.accepted.grad;
      if (ag === undefined) {
        counters.evals++;
        [fx, gx] = input.obj.valueAndGrad(x);
      } else {
        gx = ag;
      }
    }
    if (input.callback?.(x, fx, it)) return done(it, false, 'stopped by the callback');
    if (state.failures >= 2) return done(it, false, 'two consecutive line searches failed');
    if (treeMaxAbs(gx) <= input.gtol) return done(it, true, 'converged: gradient below gtol');
    if (ctx.accepted !== undefined && state.failures === 0 && smallReduction(prevF, fx, input.ftol)) return done(it, true, 'converged: relative reduction of f below ftol');
    if (counters.evals >= input.maxEvals) return done(it, false, 'maximum number of evaluations reached');
  }
  return done(input.maxIter, false, 'maximum number of iterations reached');
}
