/**
 * The standard training schedule of physics-informed networks (Raissi, Perdikaris & Karniadakis
 * 2019; Lu et al. 2021, DeepXDE): Adam first, to leave the initial region where quasi-Newton
 * models are poor, then L-BFGS with a strong-Wolfe line search to converge to high accuracy.
 * Adam may run on mini-batches; the L-BFGS phase asks drivers for the full batch (`fullBatch`).
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { adam, type AdamOptions } from '../first-order/baselines.js';
import { lbfgs, type LbfgsOptions } from '../quasi-newton/lbfgs.js';
import type { Optimizer } from '../types.js';
import { checkKnownOptions } from '../validate.js';
import { switching, type SwitchCondition, type SwitchingState } from './switching.js';

/** Adam steps before the switch by default: long enough to fit the coarse shape of a PINN's solution. */
export const ADAM_LBFGS_DEFAULT_AFTER = 1000;

export interface AdamLbfgsOptions {
  /** When to switch: a step count (default 1000) or a predicate `(info, step) => boolean`, as `switching`'s `after`. */
  after?: SwitchCondition;
  /** Adam's options (default lr 1e-3, PyTorch's betas and eps). */
  adam?: AdamOptions;
  /** L-BFGS's options (default line search 'strong-wolfe', history 10, lr 1). */
  lbfgs?: LbfgsOptions;
}

function subOptions<T extends object>(owner: string, name: string, value: unknown): T {
  if (value === undefined) return {} as T;
  if (value === null || typeof value !== 'object') throw new TypeError(`${owner}: option '${name}' must be an object of ${name} options`);
  return value as T;
}

/**
 * `adamLbfgs({ after })`: Adam (lr 1e-3) for `after` steps, then L-BFGS with a strong-Wolfe line
 * search on the full batch. Cost: an Adam step is one gradient; an L-BFGS step one gradient
 * plus the line search's extra evaluations (usually none once the history is built).
 */
export function adamLbfgs(options: AdamLbfgsOptions = {}): Optimizer<SwitchingState, PyTree> {
  const owner = 'adam-lbfgs';
  if (options === null || typeof options !== 'object') throw new TypeError(`${owner}: options must be an object`);
  checkKnownOptions(owner, options, ['after', 'adam', 'lbfgs']);
  const first = adam({ lr: 1e-3, ...subOptions<AdamOptions>(owner, 'adam', options.adam) });
  const second = lbfgs({ lineSearch: 'strong-wolfe', ...subOptions<LbfgsOptions>(owner, 'lbfgs', options.lbfgs) });
  return switching(first, second, { after: options.after ?? ADAM_LBFGS_DEFAULT_AFTER, fullBatch: { second: true }, name: owner });
}
