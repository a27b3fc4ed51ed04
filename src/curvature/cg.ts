/**
 * Preconditioned conjugate gradient on any linear operator over parameter trees, with what
 * Hessian-free optimization needs (Martens 2010, section 4):
 *
 * - Martens' relative-progress termination: stop at iteration i when the quadratic
 *   φ(x) = ½xᵀAx − bᵀx is negative and (φ(x_i) − φ(x_{i−k})) / φ(x_i) < k·ε with
 *   k = max(minWindow, ⌈window·i⌉) (defaults 10, 10%, ε = 5e-4);
 * - iterates stored at geometrically spaced iterations ⌈γ^j⌉ (γ = 1.3) for CG backtracking;
 * - detection of non-positive curvature pᵀAp <= 0 (possible with the Hessian), reported and
 *   ending the solve at the last iterate rather than hidden.
 *
 * Cost per iteration: one operator application, one preconditioner application, a few
 * tree-vector operations. φ is tracked from the residual without extra products:
 * φ(x) = ½ xᵀ(r − b) with r = Ax − b.
 */
import type { PyTree } from '../autodiff/pytree.js';
import { treeAxpby, treeAxpbyInto, treeScale, treeSub, treeVdot, treeZerosLike } from '../autodiff/tree-math.js';
import { treeLeaves } from '../autodiff/pytree.js';
import { tidy } from '../tensor/scope.js';
import { LinearOperator } from './operators/linear-operator.js';

/** Give a vector this solver made back to the pool (it must be referenced nowhere else). */
function release(v: PyTree): void {
  for (const t of treeLeaves(v)) if (!t.isDisposed) t.dispose();
}

export interface CgOptions<P extends PyTree> {
  /** Starting point (warm start), default 0. */
  x0?: P;
  /** Applies M^{-1} to a residual; default identity. */
  preconditioner?: (r: P) => P;
  /**
   * M^{-1} written into `out`, a tree of the solver's own (same structure as r), instead of
   * returned: spares a parameter-sized allocation per iteration. Give this or `preconditioner`.
   */
  preconditionerInto?: (r: P, out: P) => void;
  /** Default 250. */
  maxIter?: number;
  /** Also stop when ||r|| <= tol·||b|| (default 0: Martens' test alone). */
  tol?: number;
  /** Martens' progress test: window fraction, minimum window, ε. Set `martens: false` to disable. */
  martens?: false | { fraction?: number; minWindow?: number; epsilon?: number };
  /** Store iterates at ⌈γ^j⌉; default γ = 1.3 (0 = store none). The final iterate is always returned. */
  storeGamma?: number;
  /** Called with each iterate's index and φ, for diagnostics. */
  onIteration?: (i: number, phi: number) => void;
}

export interface CgResult<P extends PyTree> {
  x: P;
  /** φ(x) = ½xᵀAx − bᵀx at the returned x. */
  phi: number;
  iterations: number;
  /** Stored iterates (increasing iteration), the last one being the returned x. */
  iterates: { iteration: number; x: P; phi: number }[];
  reason: 'martens' | 'tolerance' | 'max-iterations' | 'negative-curvature' | 'zero-rhs' | 'breakdown';
  /** Set when pᵀAp <= 0 was met: the iteration and the curvature value. */
  negativeCurvature?: { iteration: number; curvature: number };
}

export interface CgOperatorOptions<P extends PyTree> extends Omit<CgOptions<P>, 'preconditioner'> {
  /** M⁻¹ as a function of the residual or as a linear operator on the same tree; default identity. */
  preconditioner?: ((r: P) => P) | LinearOperator<P>;
}

/**
 * Solve A x = b by preconditioned CG for a linear operator A (symmetric, positive definite on
 * the explored subspace; see the module comment for termination and stored iterates). The
 * right-hand side, the warm start and a preconditioner operator are checked against A's tree.
 * Damping belongs to the operator: `cg(G.damped(λ), b)`.
 */
export function cg<P extends PyTree>(op: LinearOperator<P>, b: P, options: CgOperatorOptions<P> = {}): CgResult<P> {
  if (!(op instanceof LinearOperator)) throw new TypeError(`cg: expected a LinearOperator (see curvature.hessian, ggn, fisher, kfac), got ${op === null ? 'null' : typeof op}`);
  if (options === null || typeof options !== 'object') throw new TypeError(`cg: options must be an object, got ${options === null ? 'null' : typeof options}`);
  if (!op.symmetric) throw new RangeError(`cg: operator '${op.name}' is not symmetric; conjugate gradient needs a symmetric operator`);
  op.check(b, 'right-hand side');
  if (options.x0 !== undefined) op.check(options.x0, 'starting point x0');
  const m = options.preconditioner;
  let precond: ((r: P) => P) | undefined;
  if (m instanceof LinearOperator) {
    const pm: LinearOperator<P> = m;
    pm.check(op.like, `template of '${op.name}' (the preconditioner must act on the same tree)`);
    precond = (r) => pm.matvec(r);
  } else if (m === undefined || typeof m === 'function') {
    precond = m;
  } else {
    throw new TypeError(`cg: option 'preconditioner' must be a function or a LinearOperator, got ${typeof m}`);
  }
  return conjugateGradient((v: P) => op.matvec(v), b, { ...options, preconditioner: precond });
}

/** Solve A x = b by preconditioned CG (A symmetric positive definite on the explored subspace). */
export function conjugateGradient<P extends PyTree>(apply: (v: P) => P, b: P, options: CgOptions<P> = {}): CgResult<P> {
  const maxIter = options.maxIter ?? 250;
  if (!Number.isInteger(maxIter) || maxIter < 0) throw new RangeError(`conjugateGradient: maxIter must be a non-negative integer, got ${maxIter}`);
  const into = options.preconditionerInto;
  if (into !== undefined && typeof into !== 'function') throw new TypeError(`conjugateGradient: option 'preconditionerInto' must be a function (r, out) => void, got ${typeof into}`);
  if (into !== undefined && options.preconditioner !== undefined) throw new RangeError("conjugateGradient: give one of the options 'preconditioner' and 'preconditionerInto', not both");
  const gamma = options.storeGamma ?? 1.3;
  const m = options.martens === false ? undefined : { fraction: 0.1, minWindow: 10, epsilon: 5e-4, ...(options.martens ?? {}) };
  const bb = treeVdot(b, b);
  // Two inner products, no temporary vector (xᵀ(r − b) would allocate one per iteration).
  const phiOf = (xx: P, r: P) => 0.5 * (treeVdot(xx, r) - treeVdot(xx, b));
  if (bb === 0) {
    const zero = treeZerosLike(b);
    return { x: zero, phi: 0, iterations: 0, iterates: [{ iteration: 0, x: zero, phi: 0 }], reason: 'zero-rhs' };
  }
  let x = options.x0 ?? treeZerosLike(b);
  const iterates: CgResult<P>['iterates'] = [];
  // The residual, the direction and (with preconditionerInto) the preconditioned residual are
  // this solver's own vectors, updated in place by the kernels: the same values as fresh ones,
  // without three allocations and releases of parameter-sized trees per iteration. x is updated
  // in place too while it is ours and no stored iterate holds it (else the step writes a new x).
  const r = options.x0 === undefined ? treeScale(-1, b) : tidy(() => treeSub(apply(x), b)); // r = A x − b
  const y = into !== undefined ? treeZerosLike(b) : undefined;
  // M⁻¹r: into y, or a fresh tree from the preconditioner (r itself without one), released by
  // the caller's tidy when it made one.
  const precondOf = (res: P): P => {
    if (y !== undefined && into !== undefined) {
      into(res, y);
      return y;
    }
    return options.preconditioner === undefined ? res : options.preconditioner(res);
  };
  const first = tidy(() => {
    const y0 = precondOf(r);
    return { p: treeScale(-1, y0), ry: treeVdot(r, y0) };
  });
  const p = first.p;
  let ry = first.ry;
  const phis: number[] = [phiOf(x, r)];
  let nextStore = 1;
  let storeIndex = 0;
  let reason: CgResult<P>['reason'] = 'max-iterations';
  let negativeCurvature: CgResult<P>['negativeCurvature'];
  let i = 0;
  // Each iteration's temporaries (A·p, a preconditioner's output) go back to the pool at once.
  while (i < maxIter) {
    const ours = x !== options.x0 && (iterates.length === 0 || iterates[iterates.length - 1].x !== x);
    const out = tidy(() => {
      const ap = apply(p);
      const pap = treeVdot(p, ap);
      if (!(pap > 0) || !Number.isFinite(pap)) return { stop: pap };
      const alpha = ry / pap;
      let xNew = x;
      if (ours) treeAxpbyInto(1, x, alpha, p, x);
      else xNew = treeAxpby(1, x, alpha, p);
      treeAxpbyInto(1, r, alpha, ap, r);
      return { x: xNew };
    });
    if (out.x === undefined) {
      const pap = out.stop as number;
      if (Number.isFinite(pap)) negativeCurvature = { iteration: i, curvature: pap };
      reason = Number.isFinite(pap) ? 'negative-curvature' : 'breakdown';
      break;
    }
    x = out.x;
    i++;
    const phi = phiOf(x, r);
    phis.push(phi);
    options.onIteration?.(i, phi);
    if (gamma > 0 && i >= nextStore) {
      iterates.push({ iteration: i, x, phi });
      storeIndex++;
      nextStore = Math.max(nextStore + 1, Math.ceil(Math.pow(gamma, storeIndex)));
    }
    if (m !== undefined) {
      const k = Math.max(m.minWindow, Math.ceil(m.fraction * i));
      if (i > k && phi < 0 && (phi - phis[i - k]) / phi < k * m.epsilon) {
        reason = 'martens';
        break;
      }
    }
    if (options.tol !== undefined && options.tol > 0 && treeVdot(r, r) <= options.tol * options.tol * bb) {
      reason = 'tolerance';
      break;
    }
    const ryNew = tidy(() => {
      const yNew = precondOf(r);
      const v = treeVdot(r, yNew);
      if (Number.isFinite(v)) treeAxpbyInto(-1, yNew, v / ry, p, p);
      return v;
    });
    if (!Number.isFinite(ryNew)) {
      reason = 'breakdown';
      break;
    }
    ry = ryNew;
  }
  release(r);
  release(p);
  if (y !== undefined) release(y);
  const phi = phis[phis.length - 1];
  if (iterates.length === 0 || iterates[iterates.length - 1].iteration !== i) iterates.push({ iteration: i, x, phi });
  return { x, phi, iterations: i, iterates, reason, negativeCurvature };
}
