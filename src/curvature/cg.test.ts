import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { matmul } from '../tensor/matmul.js';
import { cholesky, solveTriangular } from '../tensor/linalg.js';
import { cg, conjugateGradient } from './cg.js';
import { linearOperator } from './operators/linear-operator.js';

const f64 = { dtype: 'float64' as const };

function spd(n: number, seed: number, cond = 100): Tensor {
  // Q diag(λ) Q^T with eigenvalues spread over [1, cond]
  const rng = new Rng(seed);
  const g = rng.normal([n, n], f64);
  const q = new Float64Array(g.data);
  // Gram–Schmidt for an orthogonal Q (columns)
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < j; k++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += q[i * n + j] * q[i * n + k];
      for (let i = 0; i < n; i++) q[i * n + j] -= d * q[i * n + k];
    }
    let nn = 0;
    for (let i = 0; i < n; i++) nn += q[i * n + j] ** 2;
    for (let i = 0; i < n; i++) q[i * n + j] /= Math.sqrt(nn);
  }
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += q[i * n + k] * (1 + ((cond - 1) * k) / Math.max(1, n - 1)) * q[j * n + k];
    a[i * n + j] = s;
  }
  return new Tensor(a, [n, n]);
}

function denseSolve(a: Tensor, b: Tensor): Tensor {
  const l = cholesky(a);
  return solveTriangular(l, solveTriangular(l, b), { transpose: true });
}

const err = (x: Tensor, y: Tensor) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < y.size; i++) { num += (x.data[i] - y.data[i]) ** 2; den += y.data[i] ** 2; }
  return Math.sqrt(num / den);
};

describe('conjugate gradient', () => {
  it('solves SPD systems to tolerance in at most n iterations and agrees with a dense solve', () => {
    for (const n of [1, 5, 20, 40]) {
      const A = spd(n, n, 50);
      const b = new Rng(100 + n).normal([n], f64);
      const r = conjugateGradient((v: Tensor) => matmul(A, v), b, { tol: 1e-10, martens: false, maxIter: 10 * n });
      assert.ok(r.iterations <= n + 1, `n=${n}: ${r.iterations} iterations`);
      assert.ok(err(r.x, denseSolve(A, b)) < 1e-8, `n=${n}: error ${err(r.x, denseSolve(A, b))}`);
      assert.equal(r.reason, 'tolerance');
    }
  });

  it('a Jacobi preconditioner on a badly scaled system converges in fewer iterations to the same answer', () => {
    const n = 30;
    const A0 = spd(n, 7, 10);
    const s = Array.from({ length: n }, (_, i) => 10 ** ((3 * i) / n));
    const A = new Tensor(A0.data.map((v, k) => v * s[Math.floor(k / n)] * s[k % n]), [n, n]);
    const b = new Rng(8).normal([n], f64);
    const diag = Array.from({ length: n }, (_, i) => A.data[i * n + i]);
    const plain = conjugateGradient((v: Tensor) => matmul(A, v), b, { tol: 1e-10, martens: false, maxIter: 2000 });
    const pre = conjugateGradient((v: Tensor) => matmul(A, v), b, {
      tol: 1e-10, martens: false, maxIter: 2000, preconditioner: (r) => new Tensor(r.data.map((v, i) => v / diag[i]), r.shape),
    });
    assert.ok(err(pre.x, denseSolve(A, b)) < 1e-7);
    assert.ok(pre.iterations < plain.iterations, `${pre.iterations} vs ${plain.iterations}`);
  });

  it("Martens' test stops once progress over the last 10% of iterations is small; iterates are stored geometrically", () => {
    const n = 200;
    const A = spd(n, 3, 1e4);
    const b = new Rng(4).normal([n], f64);
    const phis: number[] = [];
    const r = conjugateGradient((v: Tensor) => matmul(A, v), b, { maxIter: 1000, onIteration: (_i, phi) => phis.push(phi) });
    assert.equal(r.reason, 'martens');
    const i = r.iterations;
    const k = Math.max(10, Math.ceil(0.1 * i));
    assert.ok((phis[i - 1] - phis[i - 1 - k]) / phis[i - 1] < k * 5e-4);
    const kPrev = Math.max(10, Math.ceil(0.1 * (i - 1)));
    assert.ok(!((phis[i - 2] - phis[i - 2 - kPrev]) / phis[i - 2] < kPrev * 5e-4), 'stopped at the first iteration meeting the test');
    const its = r.iterates.map((t) => t.iteration);
    for (let j = 1; j < its.length; j++) assert.ok(its[j] > its[j - 1]);
    assert.ok(its.includes(1) && its.includes(2) && its.length < 40 && its[its.length - 1] === i);
    // φ decreases monotonically along CG
    for (let j = 1; j < phis.length; j++) assert.ok(phis[j] <= phis[j - 1] + 1e-9);
  });

  it('reports non-positive curvature instead of hiding it', () => {
    const A = new Tensor(Float64Array.from([2, 0, 0, -1]), [2, 2]);
    const r = conjugateGradient((v: Tensor) => matmul(A, v), new Tensor(Float64Array.from([1, 1]), [2]), { martens: false });
    assert.equal(r.reason, 'negative-curvature');
    assert.ok(r.negativeCurvature !== undefined && r.negativeCurvature.curvature <= 0);
    assert.ok(r.x.toFlatArray().every(Number.isFinite));
  });

  it('cg over a damped operator gives the iterates of conjugateGradient over the same product, and solves (A + λI) x = b', () => {
    const n = 25;
    const A = spd(n, 11, 200);
    const b = new Rng(12).normal([n], f64);
    const op = linearOperator('A', b, (v: Tensor) => matmul(A, v));
    const lambda = 0.3;
    const viaOp = cg(op.damped(lambda), b, { martens: false, tol: 1e-10, maxIter: 100 });
    const viaFn = conjugateGradient((v: Tensor) => new Tensor(matmul(A, v).data.map((x, i) => x + lambda * v.data[i]), [n]), b, { martens: false, tol: 1e-10, maxIter: 100 });
    assert.equal(viaOp.iterations, viaFn.iterations);
    assert.deepEqual(viaOp.iterates.map((t) => t.iteration), viaFn.iterates.map((t) => t.iteration));
    assert.ok(err(viaOp.x, viaFn.x) < 1e-13);
    const Ad = new Tensor(A.data.map((v, k) => v + (k % (n + 1) === 0 ? lambda : 0)), [n, n]);
    assert.ok(err(viaOp.x, denseSolve(Ad, b)) < 1e-8);
  });

  it('an exact inverse as a preconditioner operator solves in one iteration', () => {
    const n = 12;
    const A = spd(n, 13, 1e3);
    const b = new Rng(14).normal([n], f64);
    const op = linearOperator('A', b, (v: Tensor) => matmul(A, v));
    const inverse = linearOperator('A⁻¹', b, (r: Tensor) => denseSolve(A, r));
    const plain = cg(op, b, { martens: false, tol: 1e-9, maxIter: 200 });
    const pre = cg(op, b, { martens: false, tol: 1e-9, maxIter: 200, preconditioner: inverse });
    assert.equal(pre.iterations, 1);
    assert.ok(plain.iterations > 5);
    assert.ok(err(pre.x, denseSolve(A, b)) < 1e-9);
  });

  it('bad input names the operator, the expected tree and the given one', () => {
    const A = spd(3, 15);
    const b = new Rng(16).normal([3], f64);
    const op = linearOperator('A', b, (v: Tensor) => matmul(A, v));
    assert.throws(() => cg(op, new Rng(1).normal([4], f64)), /A: the right-hand side's tensor '' is float64 \[4\], expected float64 \[3\]/);
    assert.throws(() => cg(op, b, { x0: new Rng(1).normal([2], f64) }), /A: the starting point x0's tensor '' is float64 \[2\], expected float64 \[3\]/);
    const wrongPre = linearOperator('M', new Rng(1).normal([5], f64), (r: Tensor) => r);
    assert.throws(() => cg(op, b, { preconditioner: wrongPre }), /M: the template of 'A' \(the preconditioner must act on the same tree\)'s tensor '' is float64 \[3\], expected float64 \[5\]/);
    assert.throws(() => cg(((v: Tensor) => v) as never, b), /cg: expected a LinearOperator/);
    const skew = linearOperator('S', b, (v: Tensor) => v, { symmetric: false });
    assert.throws(() => cg(skew, b), /cg: operator 'S' is not symmetric/);
  });
});

/**
 * The solver's recurrences written out on flat float64 arrays, one fresh array per vector per
 * iteration (what the solver computed before it updated its vectors in place), with the same
 * storing rule: an oracle for the in-place solver's iterates, φ, stored iterates and reason.
 */
function referencePcg(A: Tensor, b: Float64Array, o: { x0?: Float64Array; diag?: Float64Array; maxIter: number; gamma: number }) {
  const n = b.length;
  const mv = (v: Float64Array) => Float64Array.from({ length: n }, (_, i) => { let s = 0; for (let j = 0; j < n; j++) s += A.data[i * n + j] * v[j]; return s; });
  const dot = (u: Float64Array, v: Float64Array) => u.reduce((s, ui, i) => s + ui * v[i], 0);
  const lin = (a: number, u: Float64Array, c: number, v: Float64Array) => u.map((ui, i) => a * ui + c * v[i]);
  const pre = (r: Float64Array) => (o.diag === undefined ? r : r.map((ri, i) => ri * (o.diag as Float64Array)[i]));
  let x = o.x0 ?? new Float64Array(n);
  let r = o.x0 === undefined ? b.map((v) => -v) : lin(1, mv(x), -1, b);
  let y = pre(r);
  let p = y.map((v) => -v);
  let ry = dot(r, y);
  const phiOf = () => 0.5 * (dot(x, r) - dot(x, b));
  let phi = phiOf();
  const iterates: { iteration: number; x: Float64Array; phi: number }[] = [];
  let nextStore = 1;
  let storeIndex = 0;
  let i = 0;
  while (i < o.maxIter) {
    const ap = mv(p);
    const pap = dot(p, ap);
    if (!(pap > 0)) return { x, phi, iterations: i, iterates, reason: 'negative-curvature' };
    const alpha = ry / pap;
    x = lin(1, x, alpha, p);
    r = lin(1, r, alpha, ap);
    i++;
    phi = phiOf();
    if (o.gamma > 0 && i >= nextStore) {
      iterates.push({ iteration: i, x, phi });
      storeIndex++;
      nextStore = Math.max(nextStore + 1, Math.ceil(Math.pow(o.gamma, storeIndex)));
    }
    y = pre(r);
    const ryNew = dot(r, y);
    p = lin(-1, y, ryNew / ry, p);
    ry = ryNew;
  }
  if (iterates.length === 0 || iterates[iterates.length - 1].iteration !== i) iterates.push({ iteration: i, x, phi });
  return { x, phi, iterations: i, iterates, reason: 'max-iterations' };
}

describe('conjugate gradient: in-place vectors', () => {
  // A tree of two leaves (shapes [3, 4] and [8]) over one SPD matrix of the flattened vector.
  type T2 = { w: Tensor; b: Tensor };
  const n = 20;
  const split = (v: Float64Array): T2 => ({ w: new Tensor(v.slice(0, 12), [3, 4]), b: new Tensor(v.slice(12), [8]) });
  const flat = (t: T2) => Float64Array.from([...t.w.data, ...t.b.data]);
  const relErr = (u: Float64Array, v: Float64Array) => {
    let num = 0;
    let den = 0;
    for (let i = 0; i < v.length; i++) { num += (u[i] - v[i]) ** 2; den += v[i] ** 2; }
    return Math.sqrt(num / Math.max(den, 1e-300));
  };

  it('gives the iterates, φ and stored iterates of fresh-vector recurrences (float64, within 1e-12), and leaves x0 unchanged', () => {
    const A = spd(n, 21, 1e3);
    const b = Float64Array.from(new Rng(22).normal([n], f64).data);
    const x0 = Float64Array.from(new Rng(23).normal([n], f64).data, (v) => 0.1 * v);
    const diag = Float64Array.from({ length: n }, (_, i) => 1 / A.data[i * n + i]);
    const apply = (v: T2) => split(Float64Array.from(matmul(A, new Tensor(flat(v), [n])).data));
    let cases = 0;
    for (const warm of [false, true]) for (const pre of ['none', 'function', 'into'] as const) for (const gamma of [0, 1.3]) for (const maxIter of [1, 5, 17]) {
      const x0Tree = warm ? split(x0) : undefined;
      const preconditioner = pre === 'function' ? (r: T2) => split(flat(r).map((v, i) => v * diag[i])) : undefined;
      const preconditionerInto = pre === 'into' ? (r: T2, out: T2) => {
        const f = flat(r);
        for (let i = 0; i < 12; i++) out.w.data[i] = f[i] * diag[i];
        for (let i = 0; i < 8; i++) out.b.data[i] = f[12 + i] * diag[12 + i];
      } : undefined;
      const got = conjugateGradient(apply, split(b), { x0: x0Tree, preconditioner, preconditionerInto, maxIter, storeGamma: gamma, martens: false });
      const want = referencePcg(A, b, { x0: warm ? x0 : undefined, diag: pre === 'none' ? undefined : diag, maxIter, gamma });
      const label = `warm ${warm}, preconditioner ${pre}, γ ${gamma}, maxIter ${maxIter}`;
      assert.equal(got.reason, want.reason, label);
      assert.equal(got.iterations, want.iterations, label);
      assert.ok(relErr(flat(got.x), want.x) < 1e-12, `${label}: x off by ${relErr(flat(got.x), want.x)}`);
      assert.ok(Math.abs(got.phi - want.phi) <= 1e-12 * Math.abs(want.phi), `${label}: φ ${got.phi} vs ${want.phi}`);
      assert.deepEqual(got.iterates.map((t) => t.iteration), want.iterates.map((t) => t.iteration), label);
      // A stored iterate is never overwritten by later in-place steps.
      got.iterates.forEach((t, j) => assert.ok(relErr(flat(t.x as T2), want.iterates[j].x) < 1e-12, `${label}: stored iterate ${t.iteration}`));
      assert.equal(got.iterates[got.iterates.length - 1].x, got.x, label);
      if (x0Tree !== undefined) assert.deepEqual(flat(x0Tree), x0, `${label}: x0 was modified`);
      cases++;
    }
    assert.equal(cases, 36);
  });

  it("rejects 'preconditioner' together with 'preconditionerInto', and a preconditionerInto that is not a function", () => {
    const b = split(new Float64Array(n).fill(1));
    assert.throws(() => conjugateGradient((v: T2) => v, b, { preconditioner: (r) => r, preconditionerInto: () => {} }), /one of the options 'preconditioner' and 'preconditionerInto'/);
    assert.throws(() => conjugateGradient((v: T2) => v, b, { preconditionerInto: 3 as unknown as () => void }), /'preconditionerInto' must be a function/);
  });
});
