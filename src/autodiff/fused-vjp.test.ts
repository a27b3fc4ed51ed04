// The vjp and jvp rules of sigmoid, tanh, exp, softplus and relu take the fused kernel `g·op'`:
// opaquely where no enclosing trace differentiates the rule (a plain gradient), and through the
// differentiable `unaryGrad` primitive where one does (jvp of grad, grad of grad, third
// derivatives). Every path gives the composed rule's numbers (to 1e-14 relative in float64 for a
// gradient, 1e-12 for higher derivatives, 1e-6 in float32), the derivatives match finite
// differences in float64, and nested derivatives take fewer kernel calls than the composed rule.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import * as T from '../tensor/ops.js';
import { kernels } from '../kernels/index.js';
import { fusedDerivatives } from '../tensor/fused.js';
import * as D from './ops.js';
import { grad } from './vjp.js';
import { hvp } from './compose.js';
import { relErr as relErrFloor } from '../testing/helpers.js';
const relErr = (a: Tensor, b: Tensor): number => relErrFloor(a, b, 1e-300);

const OPS = ['sigmoid', 'tanh', 'exp', 'softplus', 'relu'] as const;
type Op = (typeof OPS)[number];

/** Runs fn while counting calls of the fused kernel. */
function countFused<R>(fn: () => R): [R, number] {
  const k = kernels();
  const orig = k.unaryGrad;
  let calls = 0;
  k.unaryGrad = (...args) => {
    calls++;
    orig(...args);
  };
  try {
    return [fn(), calls];
  } finally {
    k.unaryGrad = orig;
  }
}

function composedOnly<R>(fn: () => R): R {
  fusedDerivatives.enabled = false;
  try {
    return fn();
  } finally {
    fusedDerivatives.enabled = true;
  }
}

// a two-layer function so that the cotangent reaching the op is not all ones
const f = (op: Op, w: Tensor) => (x: Tensor): Tensor => D.sum(D.mul(w, (D as unknown as Record<Op, (t: Tensor) => Tensor>)[op](D.mul(x, x))));

describe('fused derivative kernels in the vjp rules', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const op of OPS) {
      test(`${op} ${dtype}: a plain gradient runs the fused kernel and equals the composed rule`, () => {
        const rng = new Rng(3);
        const x = rng.uniform([6, 5], { low: -1.5, high: 1.5, dtype });
        const w = rng.uniform([6, 5], { low: -1, high: 1, dtype });
        const [fused, calls] = countFused(() => grad(f(op, w))(x));
        assert.ok(calls >= 1, 'the fused kernel was not used');
        const [plain, callsOff] = countFused(() => composedOnly(() => grad(f(op, w))(x)));
        assert.equal(callsOff, 0);
        const err = relErr(fused, plain);
        assert.ok(err <= (dtype === 'float32' ? 1e-6 : 1e-14), `fused vs composed relative error ${err}`);
      });
    }
  }

  /** Every elementwise and fused kernel call made by fn. */
  function countKernels<R>(fn: () => R): [R, number] {
    const k = kernels();
    const saved = { unary: k.unary, binary: k.binary, unaryGrad: k.unaryGrad };
    let calls = 0;
    k.unary = (...args) => { calls++; saved.unary(...args); };
    k.binary = (...args) => { calls++; saved.binary(...args); };
    k.unaryGrad = (...args) => { calls++; saved.unaryGrad(...args); };
    try {
      return [fn(), calls];
    } finally {
      Object.assign(k, saved);
    }
  }

  for (const op of OPS) {
    test(`${op}: jvp of grad and grad of grad fuse through the differentiable primitive, match finite differences of the gradient and the composed rule`, () => {
      const rng = new Rng(4);
      // relu away from its kink, so that finite differences see one linear piece
      const x = rng.uniform([7], { low: op === 'relu' ? 0.3 : -1.2, high: 1.2, dtype: 'float64' });
      const v = rng.uniform([7], { low: -1, high: 1, dtype: 'float64' });
      const w = rng.uniform([7], { low: -1, high: 1, dtype: 'float64' });
      const g = grad(f(op, w));
      const h = 1e-6;
      const fd = T.mul(T.sub(g(T.axpby(h, v, 1, x)), g(T.axpby(-h, v, 1, x))), 1 / (2 * h));
      const [fwdRev, calls] = countFused(() => hvp(f(op, w), x, v));
      assert.ok(calls >= 1, 'jvp of grad did not use the fused kernel');
      assert.ok(relErr(fwdRev, fd) < 1e-6, `jvp(grad) vs FD ${relErr(fwdRev, fd)}`);
      const fwdRevComposed = composedOnly(() => hvp(f(op, w), x, v));
      assert.ok(relErr(fwdRev, fwdRevComposed) < 1e-12, `jvp(grad) fused vs composed ${relErr(fwdRev, fwdRevComposed)}`);
      const [revRev, callsRR] = countFused(() => grad((p: Tensor) => D.sum(D.mul(g(p), v)))(x));
      assert.ok(callsRR >= 1, 'grad of grad did not use the fused kernel');
      assert.ok(relErr(revRev, fd) < 1e-6, `grad(grad) vs FD ${relErr(revRev, fd)}`);
      const revRevComposed = composedOnly(() => grad((p: Tensor) => D.sum(D.mul(g(p), v)))(x));
      assert.ok(relErr(revRev, revRevComposed) < 1e-12, `grad(grad) fused vs composed ${relErr(revRev, revRevComposed)}`);
    });
  }

  for (const op of ['sigmoid', 'tanh', 'exp', 'softplus'] as const) {
    test(`${op}: third derivatives through the primitive's own rules (grad of hvp, jvp of hvp) equal the composed rule and finite differences of hvp`, () => {
      const rng = new Rng(5);
      const x = rng.uniform([6], { low: -1, high: 1, dtype: 'float64' });
      const v = rng.uniform([6], { low: -1, high: 1, dtype: 'float64' });
      const w = rng.uniform([6], { low: -1, high: 1, dtype: 'float64' });
      const third = (p: Tensor): Tensor => grad((q: Tensor) => D.sum(D.mul(hvp(f(op, w), q, v), v)))(p);
      const fused = third(x);
      const composed = composedOnly(() => third(x));
      assert.ok(relErr(fused, composed) < 1e-11, `fused vs composed third derivative ${relErr(fused, composed)}`);
      // finite differences of <hvp(x, v), v> along each axis
      const h = 1e-5;
      const s = (p: Tensor): number => (T.sum(T.mul(hvp(f(op, w), p, v), v)).data[0]);
      const fd = new Float64Array(6);
      for (let i = 0; i < 6; i++) {
        const e = new Tensor(Float64Array.from({ length: 6 }, (_, j) => (j === i ? h : 0)), [6]);
        fd[i] = (s(T.add(x, e)) - s(T.sub(x, e))) / (2 * h);
      }
      assert.ok(relErr(fused, new Tensor(fd, [6])) < 1e-6, `third derivative vs FD ${relErr(fused, new Tensor(fd, [6]))}`);
      const jvpOfHvp = hvp((q: Tensor) => D.sum(D.mul(hvp(f(op, w), q, v), v)), x, v);
      const jvpOfHvpComposed = composedOnly(() => hvp((q: Tensor) => D.sum(D.mul(hvp(f(op, w), q, v), v)), x, v));
      assert.ok(relErr(jvpOfHvp, jvpOfHvpComposed) < 1e-10, `fourth-order product fused vs composed ${relErr(jvpOfHvp, jvpOfHvpComposed)}`);
    });
  }

  test('nested derivatives of a tanh network take fewer kernel calls with the fused primitive than with the composed rule', () => {
    const rng = new Rng(6);
    const W1 = rng.uniform([2, 8], { low: -1, high: 1, dtype: 'float64' });
    const W2 = rng.uniform([8, 1], { low: -1, high: 1, dtype: 'float64' });
    // 600 points, so that every elementwise op is above the JavaScript small-op limit and reaches a kernel
    const x = rng.uniform([600, 2], { low: -1, high: 1, dtype: 'float64' });
    const e0 = new Tensor(Float64Array.from({ length: 1200 }, (_, i) => (i % 2 === 0 ? 1 : 0)), [600, 2]);
    // a Laplacian-like second derivative in the inputs, then its gradient in the weights
    const loss = (w1: Tensor): Tensor => {
      const du = grad((z: Tensor) => D.sum(D.matmul(D.tanh(D.matmul(z, w1)), W2)));
      return D.sum(D.square(grad((z: Tensor) => D.sum(D.mul(du(z), e0)))(x)));
    };
    const [fused, nFused] = countKernels(() => grad(loss)(W1));
    const [composed, nComposed] = countKernels(() => composedOnly(() => grad(loss)(W1)));
    assert.ok(relErr(fused, composed) < 1e-12, `fused vs composed ${relErr(fused, composed)}`);
    assert.ok(nFused < nComposed, `kernel calls: fused ${nFused}, composed ${nComposed}`);
  });
});
