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
  /** Operators built once at a point (a linearization), used in place of ggnvp / hvp when present. */
  ggnOperator?(params: P): { apply(v: P): P; dispose(): void };
  hvpOperator?(params: P): { apply(v: P): P; dispose(): void };
}

export interface FromObjectiveOptions {
  /** Called once per product (optimizers count curvature products). */
  onMatvec?: () => void;
  /** Use the objective's ggnOperator / hvpOperator when it has one (default true). */
  linearize?: boolean;
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
  // Where the objective can linearize its curvature at a point, the first product builds that
  // linearization and every later one reuses it (one linear forward and backward pass each,
  // no nonlinear work): CG's tens of products at one point cost what their papers promise.
  const makeOp = kind === 'ggn' ? objective.ggnOperator : kind === 'hessian' ? objective.hvpOperator : undefined;
  let built: { apply(v: P): P; dispose(): void } | undefined;
  return new LinearOperator<P>({
    name: kind,
    like: params,
    apply: (v) => {
      count?.();
      if (typeof makeOp === 'function' && options.linearize !== false) {
        built ??= makeOp.call(objective, params);
        return built.apply(v);
      }
      return product.call(objective, params, v);
    },
    symmetric: true,
    // The GGN and the Fisher of a loss convex in the outputs (every loss in nn.losses).
    psd: kind !== 'hessian',
    gram: kind === 'ggn' && typeof gramOf === 'function' ? (vs) => gramOf.call(objective, params, vs) : undefined,
    release: () => {
      built?.dispose();
      built = undefined;
    },
  });
}
