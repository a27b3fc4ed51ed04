import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eigh } from '../../tensor/linalg.js';
import { powerIteration } from './power-iteration.js';
import { lanczos } from './lanczos.js';
import { tinyNetworkHessian, denseOperator, matrixWithSpectrum } from './fixtures.js';

test('power iteration finds the top eigenvalue of a matrix with a gap to its tolerance, with more products than Lanczos', () => {
  const eigs = [5, 3, 2.5, ...Array.from({ length: 27 }, (_, i) => 2 - i * 0.05)];
  const op = denseOperator(matrixWithSpectrum(eigs, 2), eigs.length);
  const r = powerIteration(op, { iters: 500, tol: 1e-10, seed: 1 });
  assert.ok(r.converged);
  assert.ok(Math.abs(r.eigenvalue - 5) < 1e-8, `${r.eigenvalue}`);
  const l = lanczos(op, { k: 1, seed: 1 });
  assert.ok(l.iterations < r.iterations, `lanczos ${l.iterations} vs power ${r.iterations}`);
});

test('on a tiny network Hessian it agrees with the eigenvalue of largest magnitude from eigh', () => {
  const { op } = tinyNetworkHessian(3);
  const w = Array.from(eigh(op.toDense()).eigenvalues.data);
  const top = Math.abs(w[0]) > Math.abs(w[w.length - 1]) ? w[0] : w[w.length - 1];
  const r = powerIteration(op, { iters: 1000, tol: 1e-9, seed: 2 });
  assert.ok(Math.abs(r.eigenvalue - top) < 1e-4 * Math.abs(top), `${r.eigenvalue} vs ${top}`);
});

test('bad options name the option', () => {
  const op = denseOperator(matrixWithSpectrum([1, 2, 3], 3), 3);
  assert.throws(() => powerIteration(op, { iters: 0 }), /option 'iters'/);
  assert.throws(() => powerIteration(op, { tol: -1 }), /option 'tol'/);
});
