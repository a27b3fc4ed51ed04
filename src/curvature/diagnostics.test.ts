import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eigh } from '../tensor/linalg.js';
import { hvp } from '../autodiff/compose.js';
import type { PyTree } from '../autodiff/pytree.js';
import { curvatureSample, curvatureSampler, hessianOperator, spectrumMatvecs, spectrumSummary } from './diagnostics.js';
import { tinyNetworkHessian } from './estimators/fixtures.js';

const { op, params, loss } = tinyNetworkHessian(6);
const dense = op.toDense();
const w = Array.from(eigh(dense).eigenvalues.data);
const n = op.size;
let exactTrace = 0;
for (let i = 0; i < n; i++) exactTrace += dense.data[i * n + i];

test('the summary\'s top eigenvalues equal eigh of the dense Hessian, its products stay within the announced count', () => {
  const s = spectrumSummary(op, { k: 3, seed: 1 });
  const top = w.slice().reverse().slice(0, 3);
  s.topEigenvalues.forEach((x, i) => assert.ok(Math.abs(x - top[i]) < 1e-8 * Math.abs(top[0]), `${x} vs ${top[i]}`));
  assert.ok(Math.abs(s.trace - exactTrace) < 4 * s.traceStderr, `trace ${s.trace} ± ${s.traceStderr} vs ${exactTrace}`);
  assert.ok(s.matvecs <= spectrumMatvecs(n, { k: 3 }));
  assert.equal(s.size, n);
});

test('a curvature sample has the largest-magnitude eigenvalue and an unbiased trace; the sampler fires every N steps', () => {
  const top = Math.abs(w[0]) > Math.abs(w[n - 1]) ? w[0] : w[n - 1];
  const s = curvatureSample(op, { powerIters: 300, powerTol: 1e-9, traceMatvecs: 200, seed: 2 });
  assert.ok(Math.abs(s.topEigenvalue - top) < 1e-4 * Math.abs(top), `${s.topEigenvalue} vs ${top}`);
  assert.ok(Math.abs(s.trace - exactTrace) < 4 * s.traceStderr, `${s.trace} ± ${s.traceStderr} vs ${exactTrace}`);
  const source = { hvp: (p: PyTree[], v: PyTree[]) => hvp(loss, p, v) };
  const sampler = curvatureSampler(source, 5, { seed: 1 });
  assert.equal(sampler(3, params), undefined);
  const at10 = sampler(10, params);
  assert.equal(at10?.step, 10);
  assert.ok(Number.isFinite(at10?.topEigenvalue) && Number.isFinite(at10?.trace));
  assert.throws(() => curvatureSampler(source, 0), /every must be an integer >= 1/);
  assert.throws(() => hessianOperator({}, params), /the objective has no hvp/);
});
