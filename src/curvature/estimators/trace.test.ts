import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trace } from './trace.js';
import { denseOperator, matrixWithSpectrum } from './fixtures.js';

const n = 60;
// A decaying spectrum: a few large eigenvalues carry most of the trace.
const eigs = Array.from({ length: n }, (_, i) => 100 * 0.6 ** i);
const exactTrace = eigs.reduce((s, x) => s + x, 0);
const op = denseOperator(matrixWithSpectrum(eigs, 21), n, 'decaying');

function stats(xs: number[]): { mean: number; sd: number } {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  return { mean, sd: Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1)) };
}

test('Hutch++ has a far smaller variance than Hutchinson at equal products on a decaying spectrum; both are unbiased within their stderr', () => {
  const seeds = Array.from({ length: 120 }, (_, i) => i + 1);
  const hutch = seeds.map((seed) => trace(op, { method: 'hutchinson', matvecs: 24, seed }));
  const hpp = seeds.map((seed) => trace(op, { method: 'hutch++', matvecs: 24, seed }));
  assert.ok(hpp.every((r) => r.matvecs === 24) && hutch.every((r) => r.matvecs === 24));
  const a = stats(hutch.map((r) => r.estimate));
  const b = stats(hpp.map((r) => r.estimate));
  assert.ok(b.sd < a.sd / 4, `Hutch++ sd ${b.sd} vs Hutchinson sd ${a.sd}`);
  // Unbiased: the mean over seeds within 4 standard errors of the mean of the exact trace.
  assert.ok(Math.abs(a.mean - exactTrace) < 4 * a.sd / Math.sqrt(seeds.length), `Hutchinson mean ${a.mean} vs ${exactTrace}`);
  assert.ok(Math.abs(b.mean - exactTrace) < 4 * b.sd / Math.sqrt(seeds.length), `Hutch++ mean ${b.mean} vs ${exactTrace}`);
  // The reported stderr estimates the spread across seeds (average within a factor 1.5).
  const meanStderrA = hutch.reduce((s, r) => s + r.stderr, 0) / hutch.length;
  const meanStderrB = hpp.reduce((s, r) => s + r.stderr, 0) / hpp.length;
  assert.ok(meanStderrA > a.sd / 1.5 && meanStderrA < a.sd * 1.5, `Hutchinson stderr ${meanStderrA} vs sd ${a.sd}`);
  assert.ok(meanStderrB > b.sd / 1.5 && meanStderrB < b.sd * 1.5, `Hutch++ stderr ${meanStderrB} vs sd ${b.sd}`);
});

test('Hutch++ with a sketch as large as the operator is exact', () => {
  const small = denseOperator(matrixWithSpectrum([3, -1, 2, 0.5, 7, 1], 2), 6, 'six');
  const r = trace(small, { method: 'hutch++', matvecs: 18, seed: 4 });
  assert.ok(Math.abs(r.estimate - 12.5) < 1e-10, `${r.estimate}`);
});

test('bad options name the option', () => {
  assert.throws(() => trace(op, { method: 'hutch++', matvecs: 2 }), /option 'matvecs' must be an integer in \[3/);
  assert.throws(() => trace(op, { method: 'girard' as 'hutchinson' }), /option 'method'/);
  assert.throws(() => trace({} as typeof op), /expected a LinearOperator/);
});
