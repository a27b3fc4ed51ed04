/**
 * Muon against its definition: the Newton–Schulz output shares the singular vectors of its input
 * with singular values in the iteration's band, i.e. (U Vᵀ)ᵀ·NS(G) is symmetric with eigenvalues
 * in [0.68, 1.14], U Vᵀ computed independently as G (GᵀG)^(-1/2) with tensor/linalg's eigh; a
 * step worked by hand; Adam on the other tensors; options checked by name.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../../tensor/tensor.js';
import { eigh, matrixFunction } from '../../tensor/linalg.js';
import { Rng } from '../../tensor/random.js';
import type { PyTree } from '../../autodiff/pytree.js';
import type { Objective } from '../types.js';
import { adam } from '../first-order/baselines.js';
import { muon, newtonSchulz, type MuonState } from './muon.js';

const f64 = { dtype: 'float64' as const };
function sequence<P extends PyTree>(grads: P[]): Objective<P> {
  let i = 0;
  return { valueAndGrad: () => [1, grads[Math.min(i++, grads.length - 1)]] };
}
function mm(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0].map((_, j) => row.reduce((s, x, k) => s + x * b[k][j], 0)));
}
const tr = (a: number[][]) => a[0].map((_, j) => a.map((row) => row[j]));

/** The polar factor U Vᵀ = G (GᵀG)^(-1/2) for G with full column rank (tall), or its transpose's. */
function polar(g: number[][]): number[][] {
  if (g.length < g[0].length) return tr(polar(tr(g)));
  const inv = matrixFunction(tensor(mm(tr(g), g), undefined, f64), (l) => 1 / Math.sqrt(l)).toArray() as number[][];
  return mm(g, inv);
}

describe('Newton–Schulz orthogonalization', () => {
  // The band holds for normalized singular values in [0.01, 1] (below, five steps cannot lift
  // them that far): rectangular Gaussian matrices are that well conditioned, square ones may not be.
  const rng = new Rng(31);
  for (const [rows, cols] of [[12, 7], [7, 12], [16, 4]]) {
    it(`${rows}x${cols}: NS(G) = U p(S) Vᵀ with p(σ) in [0.68, 1.14]`, () => {
      const g = Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.nextNormal()));
      const ns = newtonSchulz(g.flat(), rows, cols);
      const o = Array.from({ length: rows }, (_, i) => Array.from(ns.subarray(i * cols, (i + 1) * cols)));
      const p = polar(g);
      // (UVᵀ)ᵀ NS = V p(S) Vᵀ for a tall or square G (U p(S)Uᵀ... for wide: NS (UVᵀ)ᵀ = U p(S) Uᵀ).
      const m = rows >= cols ? mm(tr(p), o) : mm(o, tr(p));
      const n = m.length;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.ok(Math.abs(m[i][j] - m[j][i]) < 1e-9, `not symmetric at [${i},${j}]`);
      const w = eigh(tensor(m, undefined, f64)).eigenvalues.toFlatArray();
      for (const l of w) assert.ok(l >= 0.68 && l <= 1.14, `singular value ${l} outside [0.68, 1.14]`);
      // So ‖NS(G) − U Vᵀ‖₂ ≤ 0.32.
      const diff = o.map((row, i) => row.map((x, j) => x - p[i][j]));
      const top = Math.sqrt(Math.max(...eigh(tensor(rows >= cols ? mm(tr(diff), diff) : mm(diff, tr(diff)), undefined, f64)).eigenvalues.toFlatArray()));
      assert.ok(top <= 0.33, `spectral distance ${top}`);
    });
  }
  it('a zero matrix gives zero, and the scale of G does not matter', () => {
    assert.ok(newtonSchulz(new Float64Array(6), 2, 3).every((v) => v === 0));
    const g = [1, 2, 3, -1, 0.5, 2];
    const a = newtonSchulz(g, 2, 3);
    const b = newtonSchulz(g.map((v) => v * 1e20), 2, 3);
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-6));
  });
});

describe('Muon steps', () => {
  it('first step by hand: W − lr·√max(1, rows/cols)·NS((1−μ)(1+μ)·g) on weights; Adam (adamLr) on biases', () => {
    type P = { w: Tensor; b: Tensor };
    const g: P = { w: tensor([[1, 2], [3, -1], [0, 1]], undefined, f64), b: tensor([0.5, -2], undefined, f64) };
    const p0: P = { w: tensor([[0, 0], [0, 0], [0, 0]], undefined, f64), b: tensor([0, 0], undefined, f64) };
    const lr = 0.02;
    const opt = muon<P>({ lr, adamLr: 1e-3, momentum: 0.95 });
    const r = opt.step(p0, opt.init(p0), sequence([g]));
    // Nesterov from a zero buffer: m = (1−μ) g, u = (1−μ) g + μ m = (1−μ)(1+μ) g: NS is scale-free.
    const ns = newtonSchulz(g.w.data, 3, 2);
    const k = lr * Math.sqrt(3 / 2);
    // Up to the 1e-7 the normalization adds to the norm: relative 1e-7 / ‖u‖.
    r.params.w.data.forEach((v, i) => assert.ok(Math.abs(v + k * ns[i]) < 1e-8));
    const a = adam<Tensor>({ lr: 1e-3, b1: 0.9, b2: 0.95 });
    const rb = a.step(p0.b, a.init(p0.b), sequence([g.b]));
    r.params.b.data.forEach((v, i) => assert.ok(Math.abs(v - rb.params.data[i]) < 1e-15));
  });

  it('adamForFirstLast gives the first and last weight matrices to Adam and flattens conv kernels for the middle ones', () => {
    const rng = new Rng(1);
    const rnd = (shape: number[]) => new Tensor(Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.nextNormal()), shape);
    const p = [rnd([4, 3]), rnd([2, 4, 3, 3]), rnd([5, 2])];
    const s = muon<Tensor[]>({ adamForFirstLast: true }).init(p);
    assert.deepEqual((s.inner as unknown as MuonState).leaves.map((l) => l.kind), ['adam', 'muon', 'adam']);
    const r = muon<Tensor[]>({ adamForFirstLast: true, lr: 0.1 }).step(p, s, sequence([p.map((t) => t.clone())]));
    const ns = newtonSchulz(p[1].data, 2, 36);
    const k = 0.1 * Math.sqrt(Math.max(1, 2 / 36));
    r.params[1].data.forEach((v, i) => assert.ok(Math.abs(v - (p[1].data[i] - k * ns[i])) < 1e-7));
  });
});

describe('Muon options', () => {
  for (const [opts, name] of [[{ nsSteps: 0 }, 'nsSteps'], [{ momentum: 1 }, 'momentum'], [{ lr: -1 }, 'lr'], [{ adamLr: Number.NaN }, 'adamLr'], [{ nesterov: 'yes' }, 'nesterov']] as const) {
    it(`rejects ${JSON.stringify(opts)} naming '${name}'`, () => {
      assert.throws(() => muon(opts as Record<string, unknown>), (e: Error) => e.message.includes(`'${name}'`));
    });
  }
});
