import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spectralDensity } from './spectral-density.js';
import { trace } from './trace.js';
import { denseOperator, matrixWithSpectrum, tinyNetworkHessian } from './fixtures.js';

function trapezoid(x: number[], y: number[]): number {
  let s = 0;
  for (let i = 1; i < x.length; i++) s += 0.5 * (x[i] - x[i - 1]) * (y[i] + y[i - 1]);
  return s;
}

test('the density integrates to 1 and the weights sum to 1', () => {
  const { op } = tinyNetworkHessian(1);
  const d = spectralDensity(op, { runs: 4, steps: 15, seed: 2 });
  assert.ok(Math.abs(d.weights.reduce((s, w) => s + w, 0) - 1) < 1e-12);
  const area = trapezoid(d.grid, d.density);
  assert.ok(Math.abs(area - 1) < 1e-6, `∫φ = ${area}`);
});

test('the first moment of nodes and weights is Hutchinson on the same probes, and tr(A)/n within its stderr', () => {
  const { op } = tinyNetworkHessian(4);
  const n = op.size;
  const dense = op.toDense().data;
  let exact = 0;
  for (let i = 0; i < n; i++) exact += dense[i * n + i];
  const runs = 300;
  const d = spectralDensity(op, { runs, steps: 6, seed: 5 });
  const moment = d.nodes.reduce((s, t, j) => s + t * d.weights[j], 0);
  const hutch = trace(op, { method: 'hutchinson', matvecs: runs, seed: 5 });
  // e₁ᵀ T e₁ = vᵀAv/‖v‖² for each probe: an identity, not an estimate.
  assert.ok(Math.abs(n * moment - hutch.estimate) < 1e-9 * Math.abs(hutch.estimate), `${n * moment} vs ${hutch.estimate}`);
  assert.ok(Math.abs(moment - exact / n) < 4 * hutch.stderr / n, `moment ${moment} vs tr/n ${exact / n} (stderr ${hutch.stderr / n})`);
});

test('with as many steps as the size, each run\'s nodes are the eigenvalues of a small matrix', () => {
  const eigs = [-2, -0.5, 0.1, 1, 1.5, 3, 4, 9];
  const op = denseOperator(matrixWithSpectrum(eigs, 8), 8, 'eight');
  const d = spectralDensity(op, { runs: 3, steps: 8, seed: 1, sigma: 0.05 });
  assert.equal(d.nodes.length, 24);
  for (let r = 0; r < 3; r++) {
    d.nodes.slice(8 * r, 8 * r + 8).forEach((t, j) => assert.ok(Math.abs(t - eigs[j]) < 1e-9, `run ${r} node ${j}: ${t} vs ${eigs[j]}`));
  }
  // The density peaks near every eigenvalue.
  for (const e of eigs) {
    const i = d.grid.findIndex((t) => t >= e);
    const local = d.density[i];
    const far = d.density[d.grid.findIndex((t) => t >= e + 0.3)] ?? 0;
    assert.ok(local > far, `no peak at ${e}`);
  }
});

test('bad options name the option', () => {
  const op = denseOperator(matrixWithSpectrum([1, 2, 3], 3), 3);
  assert.throws(() => spectralDensity(op, { runs: 0 }), /option 'runs'/);
  assert.throws(() => spectralDensity(op, { sigma: -1 }), /option 'sigma'/);
  assert.throws(() => spectralDensity(op, { grid: [1, 0] }), /option 'grid'/);
});
