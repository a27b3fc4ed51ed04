/**
 * Every primitive's forward- and reverse-mode rules against central finite differences in
 * float64, the transpose identity <u, J v> = <J^T u, v>, and second derivatives (grad of grad
 * and jvp of grad) against finite differences of the gradient.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import * as T from '../tensor/ops.js';
import * as D from './ops.js';
import { jvp } from './jvp.js';
import { grad, vjp } from './vjp.js';
import { hvp } from './compose.js';
import { relErr } from '../testing/helpers.js';

const rng = new Rng(2024);
const H = 1e-6;

function rand(shape: number[], lo = -1, hi = 1): Tensor {
  return rng.uniform(shape, { low: lo, high: hi, dtype: 'float64' });
}

function axpy(a: number, x: Tensor, y: Tensor): Tensor {
  return T.axpby(a, x, 1, y);
}

interface Case {
  name: string;
  f: (...xs: Tensor[]) => Tensor;
  inputs: () => Tensor[];
  /** Skip second-order checks (piecewise-linear functions have kinks where FD of the gradient is unreliable). */
  firstOrderOnly?: boolean;
}

const sq = (x: Tensor) => D.mul(x, x);
const cases: Case[] = [
  // unary
  ...(['neg', 'abs', 'exp', 'expm1', 'tanh', 'sigmoid', 'softplus', 'sin', 'cos', 'erf', 'square'] as const).map((op) => ({
    name: op, f: (x: Tensor) => (D as unknown as Record<string, (x: Tensor) => Tensor>)[op](x), inputs: () => [rand([3, 4], -2, 2)], firstOrderOnly: op === 'abs',
  })),
  ...(['log', 'log1p', 'sqrt', 'rsqrt', 'reciprocal'] as const).map((op) => ({
    name: op, f: (x: Tensor) => (D as unknown as Record<string, (x: Tensor) => Tensor>)[op](x), inputs: () => [rand([5], 0.5, 2)],
  })),
  { name: 'relu', f: D.relu, inputs: () => [tensor(new Float64Array([0.5, -0.3, 0.8, -0.9, 0.2, -0.1]))], firstOrderOnly: true },
  // binary with broadcasting
  { name: 'add', f: D.add, inputs: () => [rand([2, 3]), rand([3])] },
  { name: 'sub', f: D.sub, inputs: () => [rand([2, 1]), rand([1, 3])] },
  { name: 'mul', f: D.mul, inputs: () => [rand([2, 3]), rand([2, 3])] },
  { name: 'div', f: D.div, inputs: () => [rand([4]), rand([4], 0.5, 2)] },
  { name: 'pow', f: D.pow, inputs: () => [rand([4], 0.5, 2), rand([4], -1, 2)] },
  { name: 'pow by constant', f: (x) => D.pow(x, 3), inputs: () => [rand([4])] },
  { name: 'maximum', f: D.maximum, inputs: () => [rand([5]), rand([5])], firstOrderOnly: true },
  { name: 'minimum', f: D.minimum, inputs: () => [rand([5]), rand([1])], firstOrderOnly: true },
  // reductions and normalizations
  { name: 'sum axes', f: (x) => D.sum(sq(x), [0, 2]), inputs: () => [rand([2, 3, 4])] },
  { name: 'mean keepdims', f: (x) => D.mean(sq(x), 1, true), inputs: () => [rand([2, 3])] },
  { name: 'max', f: (x) => D.max(x, 1), inputs: () => [rand([3, 5])], firstOrderOnly: true },
  { name: 'min all', f: (x) => D.min(x), inputs: () => [rand([3, 5])], firstOrderOnly: true },
  { name: 'logsumexp', f: (x) => D.logsumexp(x, -1), inputs: () => [rand([3, 4], -3, 3)] },
  { name: 'softmax', f: (x) => D.softmax(x, 0), inputs: () => [rand([4, 3], -3, 3)] },
  { name: 'logSoftmax', f: (x) => D.logSoftmax(x), inputs: () => [rand([3, 5], -3, 3)] },
  // data movement
  { name: 'reshape+transpose', f: (x) => D.transpose(D.reshape(sq(x), [3, 2, 2]), [1, 2, 0]), inputs: () => [rand([2, 6])] },
  { name: 'broadcastTo', f: (x) => D.mul(D.broadcastTo(x, [3, 2, 4]), D.broadcastTo(x, [3, 2, 4])), inputs: () => [rand([2, 1])] },
  { name: 'slice', f: (x) => sq(D.slice(x, [1, -3], [3, undefined], [1, 2])), inputs: () => [rand([4, 5])] },
  { name: 'concat+stack', f: (x, y) => sq(D.concat([x, D.stack([y, y], 0)], 0)), inputs: () => [rand([1, 3]), rand([3])] },
  { name: 'gather', f: (x) => sq(D.gather(x, [2, 0, 2], 1)), inputs: () => [rand([2, 3])] },
  { name: 'takeAlongAxis', f: (x) => sq(D.takeAlongAxis(x, [1, 0, 1], 1)), inputs: () => [rand([3, 2])] },
  { name: 'where', f: (x, y) => sq(D.where(tensor([1, 0, 1], [3], { dtype: 'float64' }), x, y)), inputs: () => [rand([3]), rand([2, 3])] },
  // products
  { name: 'matmul', f: (a, b) => D.matmul(a, b), inputs: () => [rand([3, 4]), rand([4, 2])] },
  { name: 'matmul transposed, batched, broadcast', f: (a, b) => D.matmul(a, b, { transposeA: true, transposeB: true }), inputs: () => [rand([2, 1, 4, 3]), rand([3, 2, 4])] },
  { name: 'matmul vector', f: (a, b) => D.matmul(a, b), inputs: () => [rand([4]), rand([4, 2])] },
  { name: 'conv2d', f: (x, w) => D.conv2d(x, w, { stride: [2, 1], padding: 1, dilation: [1, 2] }), inputs: () => [rand([2, 2, 5, 6]), rand([3, 2, 3, 2])] },
  { name: 'conv2d bias', f: (x, w, b) => D.conv2d(x, w, { bias: b }), inputs: () => [rand([1, 2, 4, 4]), rand([2, 2, 3, 3]), rand([2])] },
  { name: 'conv2dBackwardInput', f: (gy, w) => D.conv2dBackwardInput(gy, w, [1, 2, 5, 5], { stride: 2 }), inputs: () => [rand([1, 3, 2, 2]), rand([3, 2, 3, 3])] },
  { name: 'conv2dBackwardFilter', f: (x, gy) => D.conv2dBackwardFilter(x, gy, [3, 2, 3, 3], { padding: 1 }), inputs: () => [rand([1, 2, 4, 4]), rand([1, 3, 4, 4])] },
  { name: 'maxPool2d', f: (x) => sq(D.maxPool2d(x, 2)), inputs: () => [rand([1, 2, 4, 4])] },
  { name: 'avgPool2d', f: (x) => sq(D.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false })), inputs: () => [rand([1, 2, 5, 5])] },
  // compositions
  { name: 'layer', f: (x, w, b) => D.tanh(D.add(D.matmul(x, w), b)), inputs: () => [rand([3, 4]), rand([4, 2]), rand([2])] },
];

/** Central finite difference of f along direction vs at inputs xs. */
function fdJvp(f: (...xs: Tensor[]) => Tensor, xs: Tensor[], vs: Tensor[]): Tensor {
  const plus = f(...xs.map((x, i) => axpy(H, vs[i], x)));
  const minus = f(...xs.map((x, i) => axpy(-H, vs[i], x)));
  return T.mul(T.sub(plus, minus), 1 / (2 * H));
}

describe('derivative rules of every primitive (float64)', () => {
  for (const c of cases) {
    it(`${c.name}: jvp matches finite differences; vjp satisfies <u, Jv> = <J^T u, v>`, () => {
      const xs = c.inputs();
      const vs = xs.map((x) => rand(x.shape.slice()));
      const [y, jv] = jvp(c.f as (...a: never[]) => Tensor, xs, vs);
      assert.ok(relErr(y, c.f(...xs)) === 0, 'jvp primal output differs from f(x)');
      const fd = fdJvp(c.f, xs, vs);
      assert.ok(relErr(jv, fd) < 1e-7, `jvp vs FD relative error ${relErr(jv, fd)}`);
      const u = rand(y.shape.slice());
      const [y2, back] = vjp(c.f as (...a: Tensor[]) => Tensor, ...xs);
      assert.ok(relErr(y2, y) === 0);
      const jtu = back(u);
      const lhs = T.vdot(u, jv);
      const rhs = jtu.reduce((acc, g, i) => acc + T.vdot(g, vs[i]), 0);
      assert.ok(Math.abs(lhs - rhs) <= 1e-10 * (1 + Math.abs(lhs)), `<u,Jv>=${lhs} vs <J^T u,v>=${rhs}`);
    });
    if (!c.firstOrderOnly) {
      it(`${c.name}: second derivatives (jvp of grad and grad of grad) match finite differences of the gradient`, () => {
        const xs = c.inputs();
        const u = rand(c.f(...xs).shape.slice());
        // scalar g(x) = <u, f(x)>; differentiate w.r.t. the first input, others fixed
        const g = (x0: Tensor) => D.sum(D.mul(u, c.f(x0, ...xs.slice(1))));
        const v = rand(xs[0].shape.slice());
        const gradG = grad(g);
        const fd = T.mul(T.sub(gradG(axpy(H, v, xs[0])), gradG(axpy(-H, v, xs[0]))), 1 / (2 * H));
        const fwdRev = hvp(g, xs[0], v);
        assert.ok(relErr(fwdRev, fd) < 1e-6, `jvp(grad) vs FD relative error ${relErr(fwdRev, fd)}`);
        const revRev = grad((x: Tensor) => D.sum(D.mul(gradG(x), v)))(xs[0]);
        assert.ok(relErr(revRev, fd) < 1e-6, `grad(grad) vs FD relative error ${relErr(revRev, fd)}`);
      });
    }
  }
});

describe('dtype casts', () => {
  it('cast is differentiable: cotangents come back in the input dtype', () => {
    const x = rand([3]);
    const g = grad((p: Tensor) => D.sum(D.square(D.cast(p, 'float32'))))(x);
    assert.equal(g.dtype, 'float64');
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(g.data[i] - 2 * x.data[i]) < 1e-6);
    const [, t] = jvp((p: Tensor) => D.cast(p, 'float32'), [x], [x]);
    assert.equal(t.dtype, 'float32');
  });
});
