/**
 * minimize's `jit` option: value and gradient replayed from a recorded plan give the eager
 * run bit for bit (same iterates, values, gradients and evaluation counts); an f that jit
 * cannot record falls back to eager with one warning and the same result; bad use is an error.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import * as O from '../../autodiff/ops.js';
import { minimize, type MinimizeResult } from './minimize.js';

const at = (x: Tensor, i: number) => O.slice(x, [i], [i + 1]);
const rosen = (x: Tensor) => O.sum(O.add(O.mul(100, O.square(O.sub(at(x, 1), O.square(at(x, 0))))), O.square(O.sub(1, at(x, 0)))));

function sameRun(a: MinimizeResult, b: MinimizeResult): void {
  assert.equal(a.nit, b.nit, 'iterations');
  assert.equal(a.nfev, b.nfev, 'evaluations');
  assert.ok(Object.is(a.fun, b.fun), `fun ${a.fun} vs ${b.fun}`);
  for (const k of ['x', 'jac'] as const) {
    const x = a[k].data;
    const y = b[k].data;
    assert.equal(x.length, y.length);
    for (let i = 0; i < x.length; i++) assert.ok(Object.is(x[i], y[i]), `${k}[${i}]: ${x[i]} vs ${y[i]}`);
  }
}

describe('minimize with jit', () => {
  it('lbfgs on Rosenbrock: the same iterates, values and counts as eager, bit for bit', () => {
    sameRun(minimize(rosen, [-1.2, 1], { jit: true, gtol: 1e-8 }), minimize(rosen, [-1.2, 1], { gtol: 1e-8 }));
  });

  for (const method of ['lbfgs', 'bfgs', 'cg'] as const) {
    it(`${method} on a small tanh regression (matmul, broadcasting, mean): equal to eager bit for bit`, () => {
      const rng = new Rng(4);
      const X = rng.normal([12, 3], { dtype: 'float64' });
      const y = rng.normal([12, 1], { dtype: 'float64' });
      const loss = (w: Tensor) => {
        const W = O.reshape(O.slice(w, [0], [6]), [3, 2]);
        const v = O.reshape(O.slice(w, [6], [8]), [2, 1]);
        return O.add(O.mean(O.square(O.sub(O.matmul(O.tanh(O.matmul(X, W)), v), y))), O.mul(1e-3, O.sum(O.square(w))));
      };
      const w0 = Array.from({ length: 8 }, (_, i) => Math.sin(i + 1) * 0.5);
      sameRun(minimize(loss, w0, { method, jit: true, maxIter: 60 }), minimize(loss, w0, { method, maxIter: 60 }));
    });
  }

  it('an f that branches on tensor values falls back to eager with one warning and the same result', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => { if (w.code === 'HESSIAN_JIT_FALLBACK') warnings.push(w.message); };
    process.on('warning', onWarning);
    try {
      const branchy = (x: Tensor) => (x.data[0] > 0 ? rosen(x) : O.mul(2, rosen(x)));
      sameRun(minimize(branchy, [-1.2, 1], { jit: true }), minimize(branchy, [-1.2, 1]));
      await new Promise((r) => setImmediate(r));
      assert.equal(warnings.length, 1, `warnings: ${warnings.join(' | ')}`);
      assert.match(warnings[0], /minimize objective/);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('rejects a non-boolean jit and jit with jac, naming the option', () => {
    assert.throws(() => minimize(rosen, [0, 0], { jit: 'yes' as unknown as boolean }), /minimize: jit must be a boolean/);
    assert.throws(() => minimize(rosen, [0, 0], { jit: true, jac: (x) => x }), /jit .* cannot be combined with jac/);
  });
});
