/**
 * Compositions of the two modes: exact Hessian-vector products (forward-over-reverse), dense
 * Hessians for small problems, and Jacobians.
 */
import { Tensor, zeros } from '../tensor/tensor.js';
import { jvp } from './jvp.js';
import { grad } from './vjp.js';
import { linearize } from './linearize.js';
import type { PyTree } from './pytree.js';
import { autoScope, tidy } from '../tensor/scope.js';

/**
 * `H(x) · v` for scalar `f`, exact, as the forward-mode derivative of the gradient
 * (forward-over-reverse): about 2–3 gradient evaluations. `x` and `v` are pytrees of the same
 * structure; the result has that structure too.
 */
export function hvp<P extends PyTree>(f: (x: P) => Tensor, x: P, v: P): P {
  const g = grad(f);
  // Its own scope: the gradient computed on the way is released, only H v survives.
  return autoScope(() => jvp((p: P) => g(p), [x], [v])[1]);
}

/** The Hessian at one point as a function of the direction: build once, apply to many vectors. */
export interface HvpOperatorFn<P> {
  /** `H v`, a tree shaped like `x`. */
  apply(v: P): P;
  /** Release the linearization's residuals; `apply` throws afterwards. */
  dispose(): void;
  readonly disposed: boolean;
}

/**
 * The Hessian of scalar `f` at `x` as an operator, for many products at one point (Newton-CG,
 * Lanczos, Hutchinson probes): the gradient is linearized once (one forward and one backward
 * pass, the derivative factors of both kept), and each `apply(v)` is then one linear forward and
 * one linear backward pass, with no nonlinear work and no re-run of `f`.
 */
export function hvpOperatorFn<P extends PyTree>(f: (x: P) => Tensor, x: P): HvpOperatorFn<P> {
  const g = grad(f);
  // Its own scope: the gradient computed while recording is released; the residuals are pinned.
  const lin = autoScope(() => linearize((p: P) => g(p), x)[1]);
  return {
    apply: (v: P) => lin(v),
    dispose: () => lin.dispose(),
    get disposed() { return lin.disposed; },
  };
}

/**
 * The dense Hessian of scalar `f` at tensor `x`, shape `[...x.shape, ...x.shape]`, built from
 * one Hessian-vector product per coordinate. For small problems and tests.
 */
export function hessian(f: (x: Tensor) => Tensor, x: Tensor): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError('hessian: x must be a Tensor');
  const n = x.size;
  const out = zeros([...x.shape, ...x.shape], { dtype: x.dtype });
  const e = zeros(x.shape, { dtype: x.dtype });
  for (let i = 0; i < n; i++) {
    e.data.fill(0);
    e.data[i] = 1;
    tidy(() => {
      const col = hvp(f, x, e);
      out.data.set(col.data, i * n); // H is symmetric: row i = column i
    });
  }
  return out;
}

/** The dense Jacobian of `f` at `x` by forward mode, shape `[...f(x).shape, ...x.shape]`. */
export function jacfwd(f: (x: Tensor) => Tensor, x: Tensor): Tensor {
  const y = f(x);
  if (!(y instanceof Tensor)) throw new TypeError('jacfwd: f must return a Tensor');
  const n = x.size;
  const m = y.size;
  const out = zeros([...y.shape, ...x.shape], { dtype: y.dtype });
  const e = zeros(x.shape, { dtype: x.dtype });
  for (let j = 0; j < n; j++) {
    e.data.fill(0);
    e.data[j] = 1;
    tidy(() => {
      const col = jvp(f, [x], [e])[1];
      for (let i = 0; i < m; i++) out.data[i * n + j] = col.data[i];
    });
  }
  return out;
}

