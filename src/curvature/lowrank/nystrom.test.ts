import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conjugateGradient } from '../cg.js';
import { treeLeaves } from '../../autodiff/pytree.js';
import { Rng } from '../../tensor/random.js';
import { cgPreconditioner, nystromPreconditioner } from './nystrom.js';
import { denseOperator, matrixWithSpectrum } from '../estimators/fixtures.js';

const flat = (t: unknown) => treeLeaves(t).flatMap((l) => Array.from(l.data));

test('Nyström-preconditioned CG needs far fewer iterations on a matrix with a decaying spectrum', () => {
  const n = 150;
  const eigs = Array.from({ length: n }, (_, i) => 1000 / (i + 1) ** 2);
  const mu = 1e-3;
  const op = denseOperator(matrixWithSpectrum(eigs, 4), n, 'decaying');
  const damped = op.damped(mu);
  const b = op.unflatten(Array.from({ length: n }, (_, i) => Math.sin(i + 1)));
  const plain = conjugateGradient((v) => damped.matvec(v), b, { tol: 1e-8, martens: false, maxIter: 2000, storeGamma: 0 });
  const pre = nystromPreconditioner(op, { rank: 50, seed: 1, mu });
  const fast = conjugateGradient((v) => damped.matvec(v), b, { tol: 1e-8, martens: false, maxIter: 2000, storeGamma: 0, preconditioner: pre.apply });
  assert.equal(plain.reason, 'tolerance');
  assert.equal(fast.reason, 'tolerance');
  assert.ok(fast.iterations * 3 < plain.iterations, `preconditioned ${fast.iterations} vs plain ${plain.iterations}`);
  // Fewer products even counting the sketch's.
  assert.ok(fast.iterations + pre.matvecs < plain.iterations);
  // Both solve the same system.
  const xa = flat(plain.x);
  const xb = flat(fast.x);
  const scale = Math.max(...xa.map(Math.abs));
  xa.forEach((x, i) => assert.ok(Math.abs(x - xb[i]) < 1e-5 * scale, `x[${i}] ${x} vs ${xb[i]}`));
});

test('the sketch of a matrix of rank <= ℓ is exact: Λ̂ are its nonzero eigenvalues and P⁻¹(A + μI) = (λ̂_ℓ + μ)I on its range', () => {
  const n = 40;
  const eigs = [9, 5, 3, 2, 1, ...new Array(n - 5).fill(0)];
  const op = denseOperator(matrixWithSpectrum(eigs, 8), n, 'rank5');
  const mu = 0.1;
  const pre = nystromPreconditioner(op, { rank: 8, seed: 2, mu });
  assert.equal(pre.eigenvalues.length, 5);
  pre.eigenvalues.forEach((l, i) => assert.ok(Math.abs(l - eigs[i]) < 1e-8, `λ̂${i} = ${l}`));
  // For any x: P⁻¹(A + μI)x = (1 + μ)·(range part) + μ·(null part), since λ̂_ℓ = 1.
  const rng = new Rng(3);
  const x = Float64Array.from({ length: n }, () => rng.nextNormal());
  const ax = op.damped(mu).matvecFlat(x);
  const got = pre.applyFlat(ax);
  const ar = op.matvecFlat(x); // range part of x is A⁺A x; compare through A: A·got = (1 + μ)·A x
  const agot = op.matvecFlat(got);
  agot.forEach((v, i) => assert.ok(Math.abs(v - (1 + mu) * ar[i]) < 1e-8, `entry ${i}`));
});

test('an indefinite operator, a bad rank and an unknown preconditioner kind are errors naming them', () => {
  const op = denseOperator(matrixWithSpectrum([3, 2, -5, 1, 0.5, 4], 1), 6, 'indefinite');
  assert.throws(() => nystromPreconditioner(op, { rank: 6 }), /'indefinite' is not positive semi-definite/);
  assert.throws(() => nystromPreconditioner(op, { rank: 7 }), /option 'rank' must be an integer in \[1, 6\] \(operator 'indefinite' has size 6\)/);
  assert.throws(() => cgPreconditioner('jacobi' as 'nystrom', op), /option 'preconditioner' must be 'none' or 'nystrom'/);
  assert.equal(cgPreconditioner(undefined, op), undefined);
});
