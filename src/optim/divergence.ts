/**
 * A divergence signal: a monitor fed the loss on held-out or full data (not the noisy
 * mini-batch loss) at each evaluation, which flags a persistent rise.
 *
 * Rule. With best_i the lowest loss of the evaluations before i and L_0 the first loss, an
 * evaluation i is a rise when its loss is not finite, or when both
 *   L_i − best_i > (factor − 1)·|best_i|  (relative: L_i > factor·best_i for a positive loss;
 *                                          the loss more than doubled, by default), and
 *   L_i − best_i > floor·|L_0|             (absolute: not rounding noise on a loss that already
 *                                          fell by orders of magnitude, e.g. 1e-9 → 1e-7 in float32);
 * the monitor fires when `patience` consecutive evaluations are rises (a non-finite loss fires
 * at once: there is nothing to wait for). It fires once; `event` keeps what it saw.
 * Noise on a decreasing curve moves the loss by a fraction of itself, far below 2×, and a
 * single spike (one evaluation) resets the count at the next evaluation below the threshold.
 */
import { checkKnownOptions, checkNumber } from './validate.js';

export interface DivergenceOptions {
  /** Relative threshold k: a rise is a loss above k × the best so far. Default 2. */
  factor?: number;
  /** Consecutive rises before the monitor fires (m). Default 3. */
  patience?: number;
  /** Absolute threshold as a fraction of the first loss's magnitude. Default 1e-3. */
  floor?: number;
}

export interface DivergenceEvent {
  /** Which series rose, e.g. 'train loss' or 'test loss'. */
  readonly series: string;
  /** Step of the evaluation that fired, its loss, and the best loss before it with its step. */
  readonly step: number;
  readonly loss: number;
  readonly best: number;
  readonly bestStep: number;
  /** One line for people. */
  readonly message: string;
}

export interface DivergenceMonitor {
  /** Feed one evaluation; returns the event when this evaluation makes the monitor fire. */
  observe(step: number, loss: number): DivergenceEvent | undefined;
  /** The event, once fired. */
  readonly event: DivergenceEvent | undefined;
}

/** A monitor for one series of losses (see the module comment for the rule). */
export function divergenceMonitor(series: string, options: DivergenceOptions = {}): DivergenceMonitor {
  const owner = 'divergenceMonitor';
  checkKnownOptions(owner, options, ['factor', 'patience', 'floor']);
  const factor = checkNumber(owner, 'factor', options.factor ?? 2, { min: 1, minExclusive: true });
  const patience = checkNumber(owner, 'patience', options.patience ?? 3, { min: 1, integer: true });
  const floor = checkNumber(owner, 'floor', options.floor ?? 1e-3, { min: 0 });
  let first: number | undefined;
  let best = Infinity;
  let bestStep = -1;
  let rises = 0;
  let event: DivergenceEvent | undefined;
  return {
    get event() { return event; },
    observe(step, loss) {
      if (event !== undefined) return undefined;
      if (first === undefined && Number.isFinite(loss)) first = loss;
      const finite = Number.isFinite(loss);
      const rise = !finite || (bestStep >= 0 && loss - best > (factor - 1) * Math.abs(best) && loss - best > floor * Math.abs(first ?? 0));
      rises = rise ? rises + 1 : 0;
      if (finite && loss < best) {
        best = loss;
        bestStep = step;
      }
      if (!finite || rises >= patience) {
        const what = finite
          ? `${series} ${loss.toPrecision(4)} stayed above ${factor}× its best (${best.toPrecision(4)} at step ${bestStep}) for ${rises} evaluations`
          : `${series} is ${loss}`;
        event = { series, step, loss, best, bestStep, message: `divergence at step ${step}: ${what}` };
        return event;
      }
      return undefined;
    },
  };
}
