/**
 * How damped second-order methods (K-FAC, EKFAC, Hessian-free) respond to a trial step whose
 * loss is not finite: a transient boost multiplies the damping the Levenberg–Marquardt rule
 * chose, instead of raising that damping itself.
 *
 * - A rejected trial multiplies the boost by `factor`; consecutive rejections compound (a step
 *   that really overflows is escaped) up to factor³ over the Levenberg–Marquardt damping, i.e.
 *   over the damping before the fault streak (and the effective damping stays ≤ its maximum).
 * - Each accepted step divides the boost by √factor until it is back at 1: an isolated fault
 *   costs two steps of extra damping and leaves the Levenberg–Marquardt damping as it was.
 *   The log-boost drifts down when r·ln(factor) < (1 − r)·ln(factor)/2, i.e. at fault rates
 *   r < 1/3; the cap bounds the rare long streaks (and any rate above 1/3).
 * Before, each rejection multiplied the damping itself by 10 and only the slow LM rule brought
 * it back, so sporadic faults drove K-FAC's damping to its 1e8 cap (issue 10, item 4).
 */

/** The boost after a rejected trial: ×factor, at most factor³ and so that damping·boost ≤ `maxDamping`. */
export function boostAfterRejection(boost: number, factor: number, damping: number, maxDamping: number): number {
  const b = Math.min(faultBoostOf(boost) * factor, factor ** 3);
  return Math.max(1, Math.min(b, maxDamping / damping));
}

/** The boost after an accepted step: ÷√factor, never below 1. */
export function boostAfterAcceptance(boost: number, factor: number): number {
  return Math.max(1, faultBoostOf(boost) / Math.sqrt(factor));
}

/** A stored boost, 1 when absent (a state saved before the boost existed) or not a finite number ≥ 1. */
export function faultBoostOf(boost: number | undefined): number {
  return typeof boost === 'number' && Number.isFinite(boost) && boost >= 1 ? boost : 1;
}
