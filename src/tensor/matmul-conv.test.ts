import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, zeros, eye, type Tensor } from './tensor.js';
import { randn } from './random.js';
import { matmul, outer } from './matmul.js';
import { transpose } from './shape-ops.js';
import { vdot } from './ops.js';
import {
  avgPool2d, avgPool2dBackward, conv2d, conv2dBackwardFilter, conv2dBackwardInput, maxPool2dBackward, maxPool2dWithIndices,
} from './conv.js';
import { cholesky, eigh, inversePthRoot, solveTriangular } from './linalg.js';
import { assertClose } from '../testing/helpers.js';

function naiveMatmul(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0].map((_, j) => row.reduce((s, v, q) => s + v * b[q][j], 0)));
}

describe('matmul', () => {
  it('matches the naive product for every transpose flag', () => {
    const a = randn([5, 7], { seed: 1, dtype: 'float64' });
    const b = randn([7, 3], { seed: 2, dtype: 'float64' });
    const ref = naiveMatmul(a.toArray() as number[][], b.toArray() as number[][]).flat();
    assertClose(matmul(a, b).toFlatArray(), ref, { rtol: 1e-13 });
    assertClose(matmul(transpose(a), b, { transposeA: true }).toFlatArray(), ref, { rtol: 1e-13 });
    assertClose(matmul(a, transpose(b), { transposeB: true }).toFlatArray(), ref, { rtol: 1e-13 });
    assertClose(matmul(transpose(a), transpose(b), { transposeA: true, transposeB: true }).toFlatArray(), ref, { rtol: 1e-13 });
  });

  it('batches with broadcasting and promotes vectors as NumPy does', () => {
    const a = randn([2, 1, 4, 3], { seed: 3, dtype: 'float64' });
    const b = randn([5, 3, 2], { seed: 4, dtype: 'float64' });
    const c = matmul(a, b);
    assert.deepEqual(c.shape, [2, 5, 4, 2]);
    const A = a.toArray() as number[][][][];
    const B = b.toArray() as number[][][];
    const C = c.toArray() as number[][][][];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 5; j++) assertClose(C[i][j].flat(), naiveMatmul(A[i][0], B[j]).flat(), { rtol: 1e-13 });
    const v = tensor([1, 2, 3], undefined, { dtype: 'float64' });
    const m = tensor([[1, 0, 0], [0, 2, 0]], undefined, { dtype: 'float64' });
    assert.deepEqual(matmul(m, v).toFlatArray(), [1, 4]);
    assert.deepEqual(matmul(v, transpose(m)).toFlatArray(), [1, 4]);
    assert.equal(matmul(v, v).item(), 14);
    assert.deepEqual(outer(tensor([1, 2]), tensor([3, 4, 5])).shape, [2, 3]);
    assert.deepEqual(matmul(zeros([3, 0]), zeros([0, 2])).toFlatArray(), [0, 0, 0, 0, 0, 0]);
  });

  it('names the shapes when inner dimensions differ', () => {
    assert.throws(() => matmul(zeros([2, 3]), zeros([2, 3])), /matmul: inner dimensions differ: \[2, 3\] @ \[2, 3\] \(3 vs 2\)/);
    assert.throws(() => matmul(zeros([2, 2]), zeros([2, 2], { dtype: 'float64' })), /dtype mismatch/);
  });
});

function naiveConv(x: Tensor, w: Tensor, s: [number, number], p: [number, number], d: [number, number]): number[] {
  const [N, C, H, W] = x.shape;
  const [O, , kh, kw] = w.shape;
  const oh = Math.floor((H + 2 * p[0] - d[0] * (kh - 1) - 1) / s[0]) + 1;
  const ow = Math.floor((W + 2 * p[1] - d[1] * (kw - 1) - 1) / s[1]) + 1;
  const out: number[] = [];
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let acc = 0;
    for (let c = 0; c < C; c++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const y = i * s[0] - p[0] + u * d[0];
      const xx = j * s[1] - p[1] + v * d[1];
      if (y >= 0 && y < H && xx >= 0 && xx < W) acc += x.data[((n * C + c) * H + y) * W + xx] * w.data[((o * C + c) * kh + u) * kw + v];
    }
    out.push(acc);
  }
  return out;
}

describe('conv2d', () => {
  const configs: { s: [number, number]; p: [number, number]; d: [number, number]; k: [number, number] }[] = [
    { s: [1, 1], p: [0, 0], d: [1, 1], k: [3, 3] },
    { s: [2, 1], p: [1, 2], d: [1, 1], k: [3, 3] },
    { s: [2, 2], p: [1, 1], d: [2, 1], k: [3, 2] },
    { s: [1, 3], p: [0, 1], d: [1, 2], k: [1, 4] },
  ];
  for (const cfg of configs) {
    it(`forward matches direct convolution, backward kernels are its adjoints (stride ${cfg.s}, pad ${cfg.p}, dilation ${cfg.d})`, () => {
      const x = randn([2, 3, 9, 8], { seed: 5, dtype: 'float64' });
      const w = randn([4, 3, ...cfg.k], { seed: 6, dtype: 'float64' });
      const opts = { stride: cfg.s, padding: cfg.p, dilation: cfg.d };
      const y = conv2d(x, w, opts);
      assertClose(y.toFlatArray(), naiveConv(x, w, cfg.s, cfg.p, cfg.d), { rtol: 1e-12, atol: 1e-12 });
      // <gy, conv(x, w)> is bilinear: its gradients in x and w are the two backward kernels.
      const gy = randn(y.shape, { seed: 7, dtype: 'float64' });
      const gx = conv2dBackwardInput(gy, w, x.shape, opts);
      const gw = conv2dBackwardFilter(x, gy, w.shape, opts);
      const lhs = vdot(gy, y);
      assertClose([vdot(gx, x)], [lhs], { rtol: 1e-12 });
      assertClose([vdot(gw, w)], [lhs], { rtol: 1e-12 });
      const dx = randn(x.shape, { seed: 8, dtype: 'float64' });
      assertClose([vdot(gy, conv2d(dx, w, opts))], [vdot(gx, dx)], { rtol: 1e-12 });
    });
  }

  it('adds a bias and rejects mismatched shapes with a clear message', () => {
    const x = randn([1, 2, 4, 4], { seed: 1 });
    const w = randn([3, 2, 3, 3], { seed: 2 });
    const b = tensor([1, 2, 3]);
    const y0 = conv2d(x, w);
    const y1 = conv2d(x, w, { bias: b });
    assertClose(y1.toFlatArray(), y0.toFlatArray().map((v, i) => v + [1, 2, 3][Math.floor(i / 4)]), { rtol: 1e-6 });
    assert.throws(() => conv2d(x, randn([3, 5, 3, 3])), /expects 5 input channels, input \[1, 2, 4, 4\] has 2/);
    assert.throws(() => conv2d(x, randn([3, 2, 7, 7])), /does not fit input 4x4/);
    assert.throws(() => conv2d(randn([2, 4, 4]), w), /input must be 4-D/);
    assert.throws(() => conv2d(x, w, { stride: 0 }), /stride must be an integer >= 1/);
  });
});

describe('pooling', () => {
  it('max pooling picks window maxima and routes gradients to them', () => {
    const x = tensor([[[[1, 5, 2, 0], [3, 4, 9, 1], [0, 0, 1, 1], [7, 0, 1, 8]]]]);
    const { out, indices } = maxPool2dWithIndices(x, 2);
    assert.deepEqual(out.toFlatArray(), [5, 9, 7, 8]);
    const gx = maxPool2dBackward(tensor([[[[1, 2], [3, 4]]]]), indices, x.shape);
    assert.deepEqual(gx.toFlatArray(), [0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 4]);
  });

  it('average pooling and its adjoint, with and without counting padding', () => {
    const x = randn([2, 3, 7, 6], { seed: 9, dtype: 'float64' });
    for (const countIncludePad of [true, false]) {
      const opts = { stride: 2, padding: 1, countIncludePad };
      const y = avgPool2d(x, 3, opts);
      const gy = randn(y.shape, { seed: 10, dtype: 'float64' });
      const gx = avgPool2dBackward(gy, x.shape, 3, opts);
      assertClose([vdot(gx, x)], [vdot(gy, y)], { rtol: 1e-12 });
    }
    assert.deepEqual(avgPool2d(tensor([[[[1, 2], [3, 4]]]]), 2).toFlatArray(), [2.5]);
  });
});

describe('linalg', () => {
  const spd = (n: number, seed: number): Tensor => {
    const g = randn([n, n], { seed, dtype: 'float64' });
    const m = matmul(g, g, { transposeB: true });
    for (let i = 0; i < n; i++) m.data[i * n + i] += n;
    return m;
  };

  it('cholesky reconstructs A and rejects indefinite and non-finite input', () => {
    const a = spd(6, 1);
    const l = cholesky(a);
    assertClose(matmul(l, l, { transposeB: true }).toFlatArray(), a.toFlatArray(), { rtol: 1e-12, atol: 1e-12 });
    assert.throws(() => cholesky(tensor([[1, 2], [2, 1]], undefined, { dtype: 'float64' })), /not positive definite/);
    assert.throws(() => cholesky(tensor([[NaN, 0], [0, 1]])), /non-finite value/);
    assert.throws(() => cholesky(zeros([2, 3])), /expected a square matrix/);
  });

  it('eigh gives A V = V diag(w) with orthonormal V, batched', () => {
    const a = spd(5, 2);
    const { eigenvalues, eigenvectors } = eigh(a);
    const w = eigenvalues.toFlatArray();
    for (let i = 1; i < w.length; i++) assert.ok(w[i] >= w[i - 1]);
    const av = matmul(a, eigenvectors).toFlatArray();
    const vw = eigenvectors.toFlatArray().map((v, i) => v * w[i % 5]);
    assertClose(av, vw, { rtol: 1e-10, atol: 1e-10 });
    assertClose(matmul(eigenvectors, eigenvectors, { transposeA: true }).toFlatArray(), eye(5, 5, { dtype: 'float64' }).toFlatArray(), { atol: 1e-12 });
    const batch = eigh(tensor([[[2, 0], [0, 1]], [[0, 0], [0, 0]]], undefined, { dtype: 'float64' }));
    assert.deepEqual(batch.eigenvalues.toArray(), [[1, 2], [0, 0]]);
  });

  it('solveTriangular solves with every flag', () => {
    const l = cholesky(spd(4, 3));
    const b = randn([4, 2], { seed: 4, dtype: 'float64' });
    const x = solveTriangular(l, b);
    assertClose(matmul(l, x).toFlatArray(), b.toFlatArray(), { rtol: 1e-12, atol: 1e-12 });
    const xt = solveTriangular(l, b, { transpose: true });
    assertClose(matmul(l, xt, { transposeA: true }).toFlatArray(), b.toFlatArray(), { rtol: 1e-12, atol: 1e-12 });
    const u = transpose(l);
    const xu = solveTriangular(u, b, { lower: false });
    assertClose(matmul(u, xu).toFlatArray(), b.toFlatArray(), { rtol: 1e-12, atol: 1e-12 });
    const v = solveTriangular(l, tensor([1, 2, 3, 4], undefined, { dtype: 'float64' }));
    assert.deepEqual(v.shape, [4]);
    assert.throws(() => solveTriangular(l, zeros([3], { dtype: 'float64' })), /does not match/);
  });

  it('inversePthRoot: (A^{-1/p})^p A = I, finite on singular input', () => {
    const a = spd(5, 5);
    for (const p of [1, 2, 4]) {
      const r = inversePthRoot(a, p);
      let prod = a;
      for (let i = 0; i < p; i++) prod = matmul(r, prod);
      assertClose(prod.toFlatArray(), eye(5, 5, { dtype: 'float64' }).toFlatArray(), { atol: 1e-9 });
    }
    const v = tensor([[1], [2], [3]], undefined, { dtype: 'float64' });
    const rank1 = matmul(v, v, { transposeB: true });
    const r = inversePthRoot(rank1, 2);
    assert.ok(r.toFlatArray().every(Number.isFinite));
    const d = inversePthRoot(rank1, 2, { damping: 1 });
    assert.ok(d.toFlatArray().every(Number.isFinite));
    assert.throws(() => inversePthRoot(a, 0), /p must be a positive number/);
  });
});
