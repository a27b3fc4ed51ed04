/**
 * Problems for the tests of the diagonal family: a quadratic whose Hessian is diagonal (so one
 * Hutchinson probe is exact and a step can be worked by hand) and a small softmax classifier.
 * Not exported from the package root.
 */
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import * as O from '../../autodiff/ops.js';
import type { PyTree } from '../../autodiff/pytree.js';
import { Linear, Tanh } from '../../nn/layers.js';
import { Sequential } from '../../nn/module.js';
import { softmaxCrossEntropy } from '../../nn/losses.js';
import { modelObjective, objective, type ModelObjective } from '../objective.js';
import type { Objective } from '../types.js';

export type QuadParams = { w: Tensor; b: Tensor };

/** f(θ) = ½ Σ aᵢ θᵢ² over a 2×3 matrix w and a 3-vector b: Hessian diag(a), one negative entry. */
export function diagonalQuadratic(): { a: number[]; theta0: number[]; params: () => QuadParams; obj: Objective<QuadParams> } {
  const a = [2, -0.5, 4, 1, 3, 0.25, 6, 0.5, 1.5];
  const theta0 = [1, -2, 0.5, -1, 0.25, 2, -0.5, 1.5, -3];
  const aw = new Tensor(Float64Array.from(a.slice(0, 6)), [2, 3]);
  const ab = new Tensor(Float64Array.from(a.slice(6)), [3]);
  const obj = objective((p: QuadParams) => O.mul(0.5, O.add(O.sum(O.mul(aw, O.square(p.w))), O.sum(O.mul(ab, O.square(p.b))))));
  const params = () => ({ w: new Tensor(Float64Array.from(theta0.slice(0, 6)), [2, 3]), b: new Tensor(Float64Array.from(theta0.slice(6)), [3]) });
  return { a, theta0, params, obj };
}

/** Three Gaussian blobs in 2-D (90 points), a 2-8-3 tanh network, softmax cross-entropy, float64. */
export function blobsClassifier(seed = 0): { params: PyTree; obj: ModelObjective<PyTree> } {
  const rng = new Rng(seed + 100);
  const centers = [[0, 2], [-1.8, -1], [1.8, -1]];
  const n = 90;
  const x = new Float64Array(2 * n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    x[2 * i] = centers[c][0] + 0.8 * rng.nextNormal();
    x[2 * i + 1] = centers[c][1] + 0.8 * rng.nextNormal();
    y[i] = c;
  }
  const net = new Sequential([new Linear(2, 8), new Tanh(), new Linear(8, 3)]);
  const params = net.init(new Rng(seed), { dtype: 'float64' }) as PyTree;
  return { params, obj: modelObjective(net, softmaxCrossEntropy(), { x: new Tensor(x, [n, 2]), y: new Tensor(y, [n]) }) as ModelObjective<PyTree> };
}
