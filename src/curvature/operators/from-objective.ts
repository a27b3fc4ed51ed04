/**
 * `fromObjective(objective, params, kind)`: the curvature an optimizer's objective offers at
 * `params` ('hessian' from its hvp, 'ggn' from its ggnvp, 'fisher' from its fisherVp) as a
 * linear operator, so that optimizers build operators (and damp them with `damped(λ)`) instead
 * of closures. The objective is read structurally — any object with these methods — because
 * `curvature/` sits below `optim/`, where objectives are defined.
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { LinearOperator } from './linear-operator.js';
import { checkParams } from './inputs.js';

export type CurvatureKind = 'hessian' | 'ggn' | 'fisher';

/** What an objective may provide; `ggnGram` is the GGN's Gram matrix by forward mode. */
export interface CurvatureProducts<P extends PyTree> {
  hvp?(params: P, v: P): P;
  ggnvp?(params: P, v: P): P;
  fisherVp?(params: P, v: P): P;
  ggnGram?(params: P, vectors: readonly P[]): number[][];
}

export interface FromObjectiveOptions {
  /** Called once per product (optimizers count curvature products). */
  onMatvec?: () => void;
}

const PRODUCT = { hessian: 'hvp', ggn: 'ggnvp', fisher: 'fisherVp' } as const;

export function fromObjective<P extends PyTree>(objective: CurvatureProducts<P>, params: P, kind: CurvatureKind, options: FromObjectiveOptions = {}): LinearOperator<P> {
  if (objective === null || typeof objective !== 'object') throw new TypeError(`fromObjective: expected an objective, got ${objective === null ? 'null' : typeof objective}`);
  const key = PRODUCT[kind];
  if (key === undefined) throw new RangeError(`fromObjective: kind must be 'hessian', 'ggn' or 'fisher', got ${JSON.stringify(kind)}`);
  checkParams(`fromObjective(${kind})`, params);
  const product = objective[key];
  if (typeof product !== 'function') {
    const has = (Object.values(PRODUCT) as string[]).filter((k) => typeof (objective as Record<string, unknown>)[k] === 'function');
    throw new TypeError(`fromObjective: curvature '${kind}' needs an objective with ${key}; this one provides ${has.length > 0 ? has.join(', ') : 'no curvature products'}`);
  }
  const count = options.onMatvec;
  const gramOf = objective.ggnGram;
  return new LinearOperator<P>({
    name: kind,
    like: params,
    apply: (v) => {
      count?.();
      return product.call(objective, params, v);
    },
    symmetric: true,
    // The GGN and the Fisher of a loss convex in the outputs (every loss in nn.losses).
    psd: kind !== 'hessian',
    gram: kind === 'ggn' && typeof gramOf === 'function' ? (vs) => gramOf.call(objective, params, vs) : undefined,
  });
}
