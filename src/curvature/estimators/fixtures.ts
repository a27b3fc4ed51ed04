/**
 * Operators with known spectra for the tests of estimators, low-rank methods and saddle-free
 * Newton: dense symmetric matrices Q diag(λ) Qᵀ with a random orthogonal Q, acting on a
 * two-leaf tree, and the exact Hessian of a tiny tanh network (forward-over-reverse products).
 * Not exported from the package root.
 */
import { Tensor, tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { hvp } from '../../autodiff/compose.js';
import { Linear, Tanh } from '../../nn/layers.js';
import { Sequential } from '../../nn/module.js';
import { mse } from '../../nn/losses.js';
import type { PyTree } from '../../autodiff/pytree.js';
import { linearOperator, type LinearOperator } from '../operators/linear-operator.js';
import { gaussianFlat, norm, orthogonalize, scaleInPlace } from './flat.js';

export type TwoLeaf = { a: Tensor; b: { c: Tensor } };

/** Q diag(eigs) Qᵀ, row-major, with Q a seeded random orthogonal matrix. */
export function matrixWithSpectrum(eigs: readonly number[], seed: number): Float64Array {
  const n = eigs.length;
  const rng = new Rng(seed);
  const q: Float64Array[] = [];
  while (q.length < n) {
    const v = gaussianFlat(rng, n);
    orthogonalize(v, q);
    q.push(scaleInPlace(1 / norm(v), v));
  }
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[k][i] * eigs[k] * q[k][j];
      m[i * n + j] = s;
      m[j * n + i] = s;
    }
  }
  return m;
}

/** The dense row-major matrix m (n×n) as an operator on {a: [n1], b: {c: [n − n1]}}. */
export function denseOperator(m: Float64Array, n: number, name = 'dense', dtype: 'float32' | 'float64' = 'float64'): LinearOperator<TwoLeaf> {
  const n1 = Math.max(1, Math.floor(n / 3));
  const like: TwoLeaf = { a: tensor(new Array(n1).fill(0), [n1], { dtype }), b: { c: tensor(new Array(n - n1).fill(0), [n - n1], { dtype }) } };
  return linearOperator(name, like, (v) => {
    const x = [...v.a.data, ...v.b.c.data];
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += m[i * n + j] * x[j];
      y[i] = s;
    }
    return { a: tensor(Array.from(y.subarray(0, n1)), [n1], { dtype }), b: { c: tensor(Array.from(y.subarray(n1)), [n - n1], { dtype }) } };
  });
}

/** The exact Hessian operator of a 3-4-2 tanh network's squared loss on 6 examples (n = 26). */
export function tinyNetworkHessian(seed = 3): { op: LinearOperator<PyTree[]>; params: PyTree[]; loss: (p: PyTree[]) => Tensor } {
  const rng = new Rng(seed);
  const net = new Sequential([new Linear(3, 4), new Tanh(), new Linear(4, 2)]);
  const params = net.init(rng, { dtype: 'float64' });
  const x = rng.normal([6, 3], { dtype: 'float64' });
  const y = rng.normal([6, 2], { dtype: 'float64' });
  const l = mse();
  const loss = (p: PyTree[]) => l.value(net.apply(p, x), y);
  return { op: linearOperator('hessian', params, (v) => hvp(loss, params, v)), params, loss };
}
