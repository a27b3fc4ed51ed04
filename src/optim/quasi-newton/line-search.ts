/**
 * Line searches as free functions of a one-dimensional restriction φ(t) = f(x + t·d).
 *
 * - `strongWolfe`: Nocedal & Wright, Algorithms 3.5 (bracketing) and 3.6 (zoom), with the
 *   minimizer of the cubic interpolating two points and their slopes (N&W eq. 3.59),
 *   safeguarded towards bisection. Accepted steps satisfy
 *   φ(t) <= φ(0) + c1·t·φ'(0) and |φ'(t)| <= c2·|φ'(0)|.
 * - `moreThuente`: Moré & Thuente, "Line search algorithms with guaranteed sufficient decrease",
 *   ACM TOMS 20(3), 1994 (MINPACK-2's dcsrch, the search of L-BFGS-B): safeguarded cubic,
 *   quadratic and secant steps on an interval of uncertainty, first on the auxiliary
 *   ψ(t) = φ(t) − φ(0) − c1·t·φ'(0); until the minimizer is bracketed, the next trial lies in
 *   [t + 1.1·(t − t_best), t + 4·(t − t_best)]. Accepted steps satisfy strong Wolfe (see the
 *   function for the few MINPACK stopping cases that L-BFGS-B also accepts).
 * - `armijo`: backtracking until sufficient decrease, shrinking by the minimizer of the
 *   interpolating quadratic (clamped to [0.1, 0.5] of the step).
 *
 * A trial where φ or φ' is not finite counts as too long a step. All return the best point
 * seen when they fail, so the caller can still make progress and report the failure.
 */

export interface LinePoint<G> {
  t: number;
  value: number;
  /** φ'(t) = ∇f(x + t·d) · d */
  slope: number;
  /** The gradient at the point, kept so that the caller need not re-evaluate. */
  grad: G;
}

export type Phi<G> = (t: number) => LinePoint<G>;

export interface LineSearchResult<G> {
  point: LinePoint<G>;
  success: boolean;
  evals: number;
  message: string;
}

export interface StrongWolfeOptions {
  /** Sufficient decrease, default 1e-4. */
  c1?: number;
  /** Curvature condition, default 0.9 (quasi-Newton); use 0.1 for nonlinear CG. */
  c2?: number;
  /** Maximum evaluations of φ, default 25. */
  maxEvals?: number;
  /** Stop when the bracket is narrower than this, relative to its upper end; default 1e-9. */
  tolChange?: number;
}

function finitePoint<G>(p: LinePoint<G>): boolean {
  return Number.isFinite(p.value) && Number.isFinite(p.slope);
}

/**
 * Minimizer of the cubic through (t1, f1, g1) and (t2, f2, g2), clamped to [lo, hi];
 * bisection of the bounds when the cubic has no minimizer there.
 */
export function cubicMinimizer(t1: number, f1: number, g1: number, t2: number, f2: number, g2: number, lo: number, hi: number): number {
  const d1 = g1 + g2 - (3 * (f1 - f2)) / (t1 - t2);
  const disc = d1 * d1 - g1 * g2;
  if (disc >= 0 && Number.isFinite(disc)) {
    const d2 = Math.sign(t2 - t1) * Math.sqrt(disc);
    const t = t2 - (t2 - t1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2));
    if (Number.isFinite(t)) return Math.min(Math.max(t, lo), hi);
  }
  return (lo + hi) / 2;
}

/** Strong-Wolfe line search from φ(0) = `start` with first trial step `t0`. */
export function strongWolfe<G>(phi: Phi<G>, start: LinePoint<G>, t0: number, options: StrongWolfeOptions = {}): LineSearchResult<G> {
  const c1 = options.c1 ?? 1e-4;
  const c2 = options.c2 ?? 0.9;
  const maxEvals = options.maxEvals ?? 25;
  const tolChange = options.tolChange ?? 1e-9;
  const f0 = start.value;
  const g0 = start.slope;
  if (!(g0 < 0)) return { point: start, success: false, evals: 0, message: `not a descent direction (slope ${g0})` };
  let evals = 0;
  let best = start;
  const evaluate = (t: number): LinePoint<G> => {
    evals++;
    const p = phi(t);
    if (finitePoint(p) && p.value < best.value) best = p;
    return p;
  };
  const armijo = (p: LinePoint<G>) => p.value <= f0 + c1 * p.t * g0;
  const curvature = (p: LinePoint<G>) => Math.abs(p.slope) <= -c2 * g0;

  const zoom = (loIn: LinePoint<G>, hiIn: LinePoint<G>): LineSearchResult<G> => {
    let lo = loIn;
    let hi = hiIn;
    while (evals < maxEvals) {
      const a = Math.min(lo.t, hi.t);
      const b = Math.max(lo.t, hi.t);
      if (b - a < tolChange * b) return { point: best, success: best !== start, evals, message: 'bracket too narrow' };
      // Interpolate when the hi end is usable, keep away from the ends (10% margin), else bisect.
      let t = finitePoint(hi) ? cubicMinimizer(lo.t, lo.value, lo.slope, hi.t, hi.value, hi.slope, a, b) : (a + b) / 2;
      const margin = 0.1 * (b - a);
      if (t - a < margin || b - t < margin) t = (a + b) / 2;
      const p = evaluate(t);
      if (!finitePoint(p) || !armijo(p) || p.value >= lo.value) {
        hi = p;
      } else {
        if (curvature(p)) return { point: p, success: true, evals, message: 'strong Wolfe conditions hold' };
        if (p.slope * (hi.t - lo.t) >= 0) hi = lo;
        lo = p;
      }
    }
    return { point: best, success: false, evals, message: `no strong-Wolfe point in ${maxEvals} evaluations` };
  };

  let prev = start;
  let t = t0;
  while (evals < maxEvals) {
    const p = evaluate(t);
    if (!finitePoint(p) || !armijo(p) || (evals > 1 && p.value >= prev.value)) return zoom(prev, p);
    if (curvature(p)) return { point: p, success: true, evals, message: 'strong Wolfe conditions hold' };
    if (p.slope >= 0) return zoom(p, prev);
    // Still descending: extrapolate, between 1.01·t and 10·t (N&W's interval (t, t_max)).
    const next = cubicMinimizer(prev.t, prev.value, prev.slope, p.t, p.value, p.slope, t + 0.01 * (t - prev.t), 10 * t);
    prev = p;
    t = next;
  }
  return { point: best, success: false, evals, message: `no strong-Wolfe point in ${maxEvals} evaluations` };
}

// ---------------------------------------------------------------------------------------------
// Moré–Thuente.
// ---------------------------------------------------------------------------------------------

export interface MoreThuenteOptions {
  /** Sufficient decrease (MINPACK's ftol), default 1e-4. */
  c1?: number;
  /** Curvature condition (MINPACK's gtol), default 0.9. */
  c2?: number;
  /**
   * Stop once the interval of uncertainty is narrower than xtol times its upper end; default 1e-10.
   * L-BFGS-B uses 0.1, which ends the search sooner when c2 is small, short of strong Wolfe.
   */
  xtol?: number;
  /** Maximum evaluations of φ, default 20. */
  maxEvals?: number;
  /** Bounds on the step, defaults 0 and 1e10. */
  stpMin?: number;
  stpMax?: number;
}

/** Relative change of φ treated as rounding noise by the approximate Wolfe test. */
const FLAT_F_TOL = 1e-12;

/** Minimizer of the cubic through (a, fa, da), (b, fb, db); the square root is clipped at 0. */
function cubicMin(a: number, fa: number, da: number, b: number, fb: number, db: number): number {
  const d1 = da + db - (3 * (fa - fb)) / (a - b);
  const scale = Math.max(Math.abs(d1), Math.abs(da), Math.abs(db));
  const disc = (d1 / scale) * (d1 / scale) - (da / scale) * (db / scale);
  const d2 = Math.sign(b - a) * scale * Math.sqrt(Math.max(disc, 0));
  return b - (b - a) * ((db + d2 - d1) / (db - da + 2 * d2));
}

/** The interval of uncertainty: stx is the best step so far, sty the other end. */
interface Bracket {
  stx: number; fx: number; dx: number;
  sty: number; fy: number; dy: number;
  bracketed: boolean;
}

/**
 * One safeguarded trial step (the four cases of Moré–Thuente §4, MINPACK-2's dcstep): updates the
 * interval of uncertainty [stx, sty] with the trial (stp, fp, dp) and returns the next trial step,
 * kept inside [stmin, stmax] while the minimizer is not yet bracketed.
 */
function trialStep(br: Bracket, stp: number, fp: number, dp: number, stmin: number, stmax: number): number {
  const { stx, fx, dx, sty, fy, dy } = br;
  const sameSign = dp * Math.sign(dx) > 0;
  let next: number;
  if (fp > fx) {
    // Case 1: higher value; the minimizer is bracketed. Prefer the cubic unless far from stx.
    const cubic = cubicMin(stx, fx, dx, stp, fp, dp);
    const quad = stx + (dx / ((fx - fp) / (stp - stx) + dx)) / 2 * (stp - stx);
    next = Math.abs(cubic - stx) < Math.abs(quad - stx) ? cubic : cubic + (quad - cubic) / 2;
    br.bracketed = true;
  } else if (!sameSign) {
    // Case 2: derivatives of opposite sign; bracketed. Take the step farther from stp.
    const cubic = cubicMin(stx, fx, dx, stp, fp, dp);
    const secant = stp + (dp / (dp - dx)) * (stx - stp);
    next = Math.abs(cubic - stp) > Math.abs(secant - stp) ? cubic : secant;
    br.bracketed = true;
  } else if (Math.abs(dp) < Math.abs(dx)) {
    // Case 3: the slope shrinks. The cubic is used only when its minimizer lies beyond stp.
    const d1 = dx + dp - (3 * (fx - fp)) / (stx - stp);
    const scale = Math.max(Math.abs(d1), Math.abs(dx), Math.abs(dp));
    const disc = (d1 / scale) * (d1 / scale) - (dx / scale) * (dp / scale);
    const root = scale * Math.sqrt(Math.max(disc, 0));
    let cubic: number;
    if (root > 0) {
      const cand = cubicMin(stx, fx, dx, stp, fp, dp);
      const beyond = (cand - stp) * (stp - stx) > 0;
      cubic = beyond && Number.isFinite(cand) ? cand : (stp > stx ? stmax : stmin);
    } else {
      cubic = stp > stx ? stmax : stmin;
    }
    const secant = stp + (dp / (dp - dx)) * (stx - stp);
    if (br.bracketed) {
      next = Math.abs(cubic - stp) < Math.abs(secant - stp) ? cubic : secant;
      const limit = stp + 0.66 * (sty - stp);
      next = stp > stx ? Math.min(limit, next) : Math.max(limit, next);
    } else {
      next = Math.abs(cubic - stp) > Math.abs(secant - stp) ? cubic : secant;
      next = Math.min(stmax, Math.max(stmin, next));
    }
  } else if (br.bracketed) {
    // Case 4: the slope does not shrink; minimize the cubic on the stp–sty side.
    next = cubicMin(stp, fp, dp, sty, fy, dy);
  } else {
    next = stp > stx ? stmax : stmin;
  }
  if (fp > fx) {
    br.sty = stp; br.fy = fp; br.dy = dp;
  } else {
    if (!sameSign) { br.sty = stx; br.fy = fx; br.dy = dx; }
    br.stx = stp; br.fx = fp; br.dx = dp;
  }
  if (!Number.isFinite(next)) next = br.bracketed ? (br.stx + br.sty) / 2 : stmax;
  return next;
}

/**
 * Moré–Thuente line search from φ(0) = `start` with first trial step `t0` (clamped to
 * [stpMin, stpMax]). Succeeds with a point satisfying the strong Wolfe conditions
 * φ(t) <= φ(0) + c1·t·φ'(0) and |φ'(t)| <= c2·|φ'(0)|, or, as MINPACK's warnings that L-BFGS-B
 * accepts, with the best sufficient-decrease step when the step reaches stpMax, when rounding
 * stalls the interval or when it is narrower than xtol. Where φ has stopped resolving the c1
 * decrease (|φ(t) − φ(0)| <= 1e-12·|φ(0)|), the approximate Wolfe conditions of Hager & Zhang
 * (2005), c2·φ'(0) <= φ'(t) <= (1 − 2c1)·|φ'(0)|, stand in for strong Wolfe. A non-finite trial
 * is never stepped to again: the step retreats halfway towards the best one.
 *
 * On failure the point returned is the lowest sufficient-decrease step seen, else the lowest
 * finite one (possibly `start`). Cost: one evaluation of φ per trial, O(1) work besides.
 */
export function moreThuente<G>(phi: Phi<G>, start: LinePoint<G>, t0: number, options: MoreThuenteOptions = {}): LineSearchResult<G> {
  const c1 = options.c1 ?? 1e-4;
  const c2 = options.c2 ?? 0.9;
  const xtol = options.xtol ?? 1e-10;
  const maxEvals = options.maxEvals ?? 20;
  const stpMin = options.stpMin ?? 0;
  const stpMax = options.stpMax ?? 1e10;
  const f0 = start.value;
  const g0 = start.slope;
  if (!(g0 < 0)) return { point: start, success: false, evals: 0, message: `not a descent direction (slope ${g0})` };
  if (!(stpMax >= stpMin) || !(stpMin >= 0)) throw new RangeError(`moreThuente: need 0 <= stpMin <= stpMax, got ${stpMin}, ${stpMax}`);

  const br: Bracket = { stx: 0, fx: f0, dx: g0, sty: 0, fy: f0, dy: g0, bracketed: false };
  let stage = 1;
  let stp = Math.min(stpMax, Math.max(stpMin, t0));
  let stmin = 0;
  let stmax = stp + 4 * stp;
  let width = stpMax - stpMin;
  let width1 = 2 * width;
  let evals = 0;
  let badStep = Infinity; // smallest step known to give a non-finite value
  let bestDecrease: LinePoint<G> | undefined; // lowest point with sufficient decrease
  let bestFinite = start;

  const finish = (ok: boolean, message: string): LineSearchResult<G> => {
    if (bestDecrease !== undefined) return { point: bestDecrease, success: ok, evals, message };
    return { point: bestFinite, success: false, evals, message: ok ? `${message}, but no step gave sufficient decrease` : message };
  };

  for (;;) {
    if (evals >= maxEvals) return finish(false, `no strong-Wolfe point in ${maxEvals} evaluations`);
    const p = phi(stp);
    evals++;
    if (!finitePoint(p)) {
      badStep = Math.min(badStep, stp);
      stp = br.stx + 0.5 * (stp - br.stx);
      if (!(stp > 0) || stp === br.stx) return finish(false, 'non-finite values at every step tried');
      continue;
    }
    const f = p.value;
    const dg = p.slope;
    if (f < bestFinite.value) bestFinite = p;
    const decreases = f <= f0 + stp * c1 * g0;
    if (decreases && f < (bestDecrease?.value ?? f0)) bestDecrease = p;

    if (decreases && Math.abs(dg) <= c2 * -g0) return { point: p, success: true, evals, message: 'strong Wolfe conditions hold' };
    // Near a minimizer φ stops resolving the c1 decrease (it is below φ's rounding); there the
    // approximate Wolfe conditions stand in.
    if (Math.abs(f - f0) <= FLAT_F_TOL * Math.abs(f0) && dg >= c2 * g0 && dg <= (2 * c1 - 1) * g0) {
      return { point: p, success: true, evals, message: 'approximate Wolfe conditions hold (φ flat to rounding)' };
    }
    if (stp === stpMax && decreases && dg <= c1 * g0) return finish(true, 'sufficient decrease at stpMax');
    if (stpMin > 0 && stp === stpMin && (!decreases || dg >= c1 * g0)) return finish(false, 'the step reached stpMin');
    if (br.bracketed && (stp <= stmin || stp >= stmax)) return finish(true, 'rounding errors prevent progress');
    if (br.bracketed && stmax - stmin <= xtol * stmax) return finish(true, 'interval of uncertainty below xtol');

    if (stage === 1 && decreases && dg >= Math.min(c1, c2) * g0) stage = 2;
    if (stage === 1 && f <= br.fx && !decreases) {
      // Stage 1 works on ψ(t) = φ(t) − φ(0) − c1·t·φ'(0) (φ shifted by a linear term).
      const shift = c1 * g0;
      br.fx -= br.stx * shift; br.fy -= br.sty * shift; br.dx -= shift; br.dy -= shift;
      stp = trialStep(br, stp, f - stp * shift, dg - shift, stmin, stmax);
      br.fx += br.stx * shift; br.fy += br.sty * shift; br.dx += shift; br.dy += shift;
    } else {
      stp = trialStep(br, stp, f, dg, stmin, stmax);
    }
    if (br.bracketed) {
      // Bisect when the interval has not shrunk by a third in two trials.
      if (Math.abs(br.sty - br.stx) >= 0.66 * width1) stp = br.stx + 0.5 * (br.sty - br.stx);
      width1 = width;
      width = Math.abs(br.sty - br.stx);
      stmin = Math.min(br.stx, br.sty);
      stmax = Math.max(br.stx, br.sty);
    } else {
      stmin = stp + 1.1 * (stp - br.stx);
      stmax = stp + 4 * (stp - br.stx);
    }
    stp = Math.min(stpMax, Math.max(stpMin, stp));
    if (stp >= badStep) stp = br.stx + 0.5 * (badStep - br.stx);
    if (br.bracketed && (stp <= stmin || stp >= stmax || stmax - stmin <= xtol * stmax)) {
      return finish(true, 'no further progress possible');
    }
  }
}

export interface ArmijoOptions {
  c1?: number;
  maxEvals?: number;
}

/** Backtracking line search for sufficient decrease alone. */
export function armijo<G>(phi: Phi<G>, start: LinePoint<G>, t0: number, options: ArmijoOptions = {}): LineSearchResult<G> {
  const c1 = options.c1 ?? 1e-4;
  const maxEvals = options.maxEvals ?? 30;
  const f0 = start.value;
  const g0 = start.slope;
  if (!(g0 < 0)) return { point: start, success: false, evals: 0, message: `not a descent direction (slope ${g0})` };
  let t = t0;
  let best = start;
  for (let evals = 1; evals <= maxEvals; evals++) {
    const p = phi(t);
    if (finitePoint(p)) {
      if (p.value < best.value) best = p;
      if (p.value <= f0 + c1 * t * g0) return { point: p, success: true, evals, message: 'sufficient decrease' };
      // minimizer of the quadratic through φ(0), φ'(0), φ(t), kept within [0.1 t, 0.5 t]
      const q = (-g0 * t * t) / (2 * (p.value - f0 - g0 * t));
      t = Math.min(Math.max(Number.isFinite(q) ? q : t / 2, 0.1 * t), 0.5 * t);
    } else {
      t *= 0.1;
    }
  }
  return { point: best, success: false, evals: maxEvals, message: `no sufficient decrease in ${maxEvals} evaluations` };
}
