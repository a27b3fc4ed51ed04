/**
 * The backward pass adds the cotangents of many slices of one tensor into one buffer
 * (`sliceAdjointAdd`) instead of a zero tensor of the whole size per slice. Oracles: the
 * single-slice adjoint kernel, closed-form gradients, and a Hessian-vector product (which goes
 * through the composed rules, untouched by the shortcut) against finite differences of the gradient.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, allocate, shapeSize } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { sliceAdjoint, sliceAdjointAdd, sliceBounds } from '../tensor/shape-ops.js';
import { add, mul, reshape, slice, sum, tanh } from './ops.js';
import { grad } from './vjp.js';
import { hvp } from './compose.js';

const f64 = { dtype: 'float64' as const };

describe('slice cotangents added into one buffer', () => {
  it('sliceAdjointAdd of one slice into zeros equals sliceAdjoint, for random shapes, starts and steps', () => {
    const rng = new Rng(11);
    for (let trial = 0; trial < 60; trial++) {
      const nd = 1 + (trial % 4);
      const shape = Array.from({ length: nd }, () => 1 + Math.floor(rng.uniform([1]).data[0] * 5));
      const start = shape.map((n) => Math.floor(rng.uniform([1]).data[0] * n));
      const stop = shape.map((n, d) => start[d] + 1 + Math.floor(rng.uniform([1]).data[0] * (n - start[d])));
      const step = shape.map(() => 1 + Math.floor(rng.uniform([1]).data[0] * 2));
      const b = sliceBounds('t', shape, start, stop, step);
      const y = rng.normal(b.shape, f64);
      const want = sliceAdjoint(y, shape, b.start, b.step);
      const out = allocate('float64', shapeSize(shape));
      sliceAdjointAdd(out, shape, y, b.start, b.step);
      assert.deepEqual(Array.from(out), Array.from(want.data), `shape ${shape} start ${b.start} step ${b.step}`);
    }
  });

  it('the gradient through T time-step slices (as a recurrent layer takes them) equals the closed form', () => {
    const rng = new Rng(3);
    const [n, T, F] = [3, 7, 4];
    const x = rng.normal([n, T, F], f64);
    const c = Array.from({ length: T }, (_, t) => 0.5 + t);
    const f = (v: Tensor) => {
      let s: Tensor | undefined;
      for (let t = 0; t < T; t++) {
        const xt = reshape(slice(v, [0, t, 0], [n, t + 1, F]), [n, F]);
        const term = mul(sum(tanh(xt)), c[t]);
        s = s === undefined ? term : add(s, term);
      }
      // One overlapping and one strided slice on top: their cotangents add to the same positions.
      return add(add(s as Tensor, sum(slice(v, [0, 2, 1], [n, 5, 3]))), sum(mul(slice(v, [0, 0, 0], [n, T, F], [1, 2, 3]), 2)));
    };
    const g = grad(f)(x);
    for (let i = 0; i < n; i++) for (let t = 0; t < T; t++) for (let k = 0; k < F; k++) {
      const v = x.data[(i * T + t) * F + k];
      let want = c[t] * (1 - Math.tanh(v) ** 2);
      if (t >= 2 && t < 5 && k >= 1 && k < 3) want += 1;
      if (t % 2 === 0 && k % 3 === 0) want += 2;
      const got = g.data[(i * T + t) * F + k];
      assert.ok(Math.abs(got - want) <= 1e-13 * Math.max(1, Math.abs(want)), `[${i},${t},${k}] ${got} vs ${want}`);
    }
  });

  it('a Hessian-vector product through the slices equals finite differences of the gradient', () => {
    const rng = new Rng(5);
    const [n, T, F] = [2, 6, 3];
    const x = rng.normal([n, T, F], f64);
    const v = rng.normal([n, T, F], f64);
    const f = (z: Tensor) => {
      let s: Tensor | undefined;
      for (let t = 0; t < T; t++) {
        const term = sum(tanh(mul(reshape(slice(z, [0, t, 0], [n, t + 1, F]), [n, F]), 1 + t / 3)));
        s = s === undefined ? term : add(s, term);
      }
      return s as Tensor;
    };
    const hv = hvp(f, x, v);
    const eps = 1e-6;
    const shifted = (sign: number) => new Tensor(Float64Array.from(x.data, (a, i) => a + sign * eps * v.data[i]), x.shape);
    const gp = grad(f)(shifted(1));
    const gm = grad(f)(shifted(-1));
    for (let i = 0; i < x.size; i++) {
      const fd = (gp.data[i] - gm.data[i]) / (2 * eps);
      assert.ok(Math.abs(hv.data[i] - fd) <= 1e-7 * Math.max(1, Math.abs(fd)), `${i}: ${hv.data[i]} vs ${fd}`);
    }
  });
});
