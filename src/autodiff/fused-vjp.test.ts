// The vjp rules of sigmoid, tanh, exp, softplus and relu take the fused kernel exactly when
// no enclosing trace differentiates the rule (a plain gradient), and the composed rule
// otherwise (jvp of grad, the inner pass of grad of grad); both paths give the same numbers
// (to 1e-14 relative in float64, 1e-6 in float32), and second derivatives stay exact (finite
// differences of the gradient in float64).
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

  for (const op of ['sigmoid', 'tanh', 'exp', 'softplus'] as const) {
    test(`${op}: jvp of grad never fuses, and it and grad of grad match finite differences of the gradient`, () => {
      const rng = new Rng(4);
      const x = rng.uniform([7], { low: -1.2, high: 1.2, dtype: 'float64' });
      const v = rng.uniform([7], { low: -1, high: 1, dtype: 'float64' });
      const w = rng.uniform([7], { low: -1, high: 1, dtype: 'float64' });
      const g = grad(f(op, w));
      const h = 1e-6;
      const fd = T.mul(T.sub(g(T.axpby(h, v, 1, x)), g(T.axpby(-h, v, 1, x))), 1 / (2 * h));
      const [fwdRev, calls] = countFused(() => hvp(f(op, w), x, v));
      assert.equal(calls, 0, 'a rule under jvp must stay differentiable');
      assert.ok(relErr(fwdRev, fd) < 1e-6, `jvp(grad) vs FD ${relErr(fwdRev, fd)}`);
      const revRev = grad((p: Tensor) => D.sum(D.mul(g(p), v)))(x);
      assert.ok(relErr(revRev, fd) < 1e-6, `grad(grad) vs FD ${relErr(revRev, fd)}`);
      const revRevComposed = composedOnly(() => grad((p: Tensor) => D.sum(D.mul(g(p), v)))(x));
      assert.ok(relErr(revRev, revRevComposed) < 1e-14, 'grad(grad) with and without fusion differ');
    });
  }
});
