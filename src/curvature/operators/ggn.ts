/**
 * `ggn(model, loss, params, batch)`: the generalized Gauss-Newton matrix G = Jᵀ H_L J of a
 * model and loss on a batch (J the Jacobian of the outputs w.r.t. the parameters, H_L the
 * Hessian of the loss w.r.t. the outputs) as a linear operator. Positive semi-definite for a
 * loss convex in the outputs (every loss in nn.losses); equal to the Hessian for a linear model
 * with squared loss. Each product: one forward-mode and one reverse-mode pass (`ggnvp`); its
 * Gram matrix on a few vectors costs one forward-mode pass per vector.
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { jvp } from '../../autodiff/jvp.js';
import { vdot } from '../../tensor/ops.js';
import { tidy } from '../../tensor/scope.js';
import type { Loss } from '../../nn/losses.js';
import type { Module } from '../../nn/module.js';
import { ggnvp, type Batch, type ModelFn } from '../products.js';
import { LinearOperator } from './linear-operator.js';
import { checkBatch, checkForward, checkLoss, checkParams, isConvexLoss, modelFn } from './inputs.js';

export function ggn<P extends PyTree>(model: ModelFn<P> | Module<P>, loss: Loss, params: P, batch: Batch): LinearOperator<P> {
  const f = modelFn('ggn', model);
  checkLoss('ggn', loss);
  checkParams('ggn', params);
  checkBatch('ggn', batch);
  checkForward('ggn', f, loss, params, batch);
  // (J vᵢ)ᵀ H_L (J vⱼ): forward mode only, no reverse pass.
  const gram = (vs: readonly P[]): number[][] => tidy(() => {
    const jv = vs.map((v) => jvp((p: P) => f(p, batch.x), [params], [v]));
    const hjv = jv.map(([z, t]) => loss.outputHvp(z, batch.y, t));
    return jv.map(([, ti], i) => jv.map(([, tj], j) => (i === j ? vdot(ti, hjv[i]) : 0.5 * (vdot(ti, hjv[j]) + vdot(tj, hjv[i])))));
  });
  return new LinearOperator<P>({
    name: 'ggn', like: params, apply: (v) => ggnvp(f, loss, params, batch, v), symmetric: true, psd: isConvexLoss(loss), gram,
  });
}
