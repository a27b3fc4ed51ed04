import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, eye as identity, tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import * as O from '../../autodiff/ops.js';
import { treeLeaves, type PyTree } from '../../autodiff/pytree.js';
import { Dropout, Linear, Sigmoid, Tanh } from '../../nn/layers.js';
import { Sequential } from '../../nn/module.js';
import { mse, sigmoidBinaryCrossEntropy } from '../../nn/losses.js';
import { objective, modelObjective, withL2 } from '../objective.js';
import { curvatureShareOf, hessianFree, hessianFreeTransform, powNegative } from './hessian-free.js';
import { subsampledNewton } from './subsampled-newton.js';
import { treeAxpby, treeNorm, treeScale, treeSub, treeVdot } from '../../autodiff/tree-math.js';
import { conjugateGradient } from '../../curvature/cg.js';
import type { Objective, UpdateContext } from '../types.js';
import { sameBits } from '../../testing/helpers.js';

const f64 = { dtype: 'float64' as const };

/** The first m rows of a matrix. */
function firstRows(t: Tensor, m: number): Tensor {
  const cols = t.shape[1];
  return new Tensor(Float64Array.from(t.data.subarray(0, m * cols)), [m, cols]);
}

function quadratic(n: number): { obj: Objective<Tensor>; xStar: Tensor } {
  const rng = new Rng(5);
  const G = rng.normal([n, n], f64);
  const A = O.add(O.matmul(G, G, { transposeB: true }), identity(n, n, f64));
  const b = rng.normal([n], f64);
  // f = ½ xᵀAx − bᵀx is a sum of squares plus a linear term: its Gauss-Newton matrix is A.
  const base = objective((x: Tensor) => O.sub(O.mul(0.5, O.sum(O.mul(x, O.matmul(A, x)))), O.sum(O.mul(b, x))));
  return { obj: { ...base, ggnvp: base.hvp }, xStar: solve(A, b) };
}

function solve(A: Tensor, b: Tensor): Tensor {
  // Gaussian elimination with partial pivoting (oracle)
  const n = b.size;
  const m = Array.from({ length: n }, (_, i) => [...Array.from(A.data.slice(i * n, (i + 1) * n)), b.data[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = c + 1; r < n; r++) {
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  const x = new Float64Array(n);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let k = r + 1; k < n; k++) s -= m[r][k] * x[k];
    x[r] = s / m[r][r];
  }
  return new Tensor(x, [n]);
}

/** A random SPD matrix GGᵀ + I (n×n, float64), the identity, and the generator for further draws. */
function spdMatrix(n: number, seed: number): { A: Tensor; eye: Tensor; rng: Rng } {
  const rng = new Rng(seed);
  const G = rng.normal([n, n], f64);
  const eye = identity(n, n, f64);
  return { A: O.add(O.matmul(G, G, { transposeB: true }), eye), eye, rng };
}

/** ½xᵀAx − bᵀx with A = Σ_k s_k g_k g_kᵀ (rank 8, s_k from 1e4 down by 4×) + 1e-2·I, n = 40. */
function lowRankQuadratic() {
  const n = 40;
  const rng = new Rng(11);
  const g = rng.normal([8, n], f64);
  const s = tensor(Array.from({ length: 8 }, (_, k) => 1e4 / 4 ** k), [8, 1], f64);
  const A = O.add(O.matmul(O.mul(g, s), g, { transposeA: true }), O.mul(1e-2, identity(n, n, f64)));
  const b = rng.normal([n], f64);
  const base = objective((x: Tensor) => O.sub(O.mul(0.5, O.sum(O.mul(x, O.matmul(A, x)))), O.sum(O.mul(b, x))));
  return { n, base, obj: { ...base, ggnvp: base.hvp } };
}

describe('Hessian-free', () => {
  it("preconditioner: 'nystrom' solves a low-rank-plus-damping system in fewer CG iterations, counting its sketch products", () => {
    // CG alone needs about one iteration per large eigenvalue; a rank-12 Nyström sketch captures them all.
    const { n, base, obj } = lowRankQuadratic();
    const x0 = tensor(new Float64Array(n), [n]);
    const run = (preconditioner: boolean | 'nystrom') => {
      const opt = hessianFree<Tensor>({ damping: 1e-3, minDamping: 1e-6, cgTolerance: 1e-8, cgMaxIter: 200, preconditioner, nystromRank: 12, backtracking: false });
      const r = opt.step(x0, opt.init(x0), obj);
      assert.ok(r.info.accepted);
      return { iterations: r.state.inner.cgIterations, products: r.info.curvatureProducts, loss: base.valueAndGrad(r.params)[0] };
    };
    const plain = run(false);
    const ny = run('nystrom');
    assert.ok(ny.iterations < plain.iterations / 2, `CG iterations: nystrom ${ny.iterations}, none ${plain.iterations}`);
    assert.ok(ny.products >= 12 + ny.iterations, `products ${ny.products} must include the 12 sketch products`);
    assert.ok(Math.abs(ny.loss - plain.loss) < 1e-6 * Math.abs(plain.loss));
    assert.throws(() => hessianFree({ preconditioner: 'jacobi' as never }), /preconditioner/);
    assert.throws(() => hessianFree({ nystromRank: 0 }), /nystromRank/);
  });

  it("sub-sampled Newton-CG with preconditioner: 'nystrom' needs fewer CG iterations; on an indefinite Hessian it steps without it and says so", () => {
    const { n, base } = lowRankQuadratic();
    const x0 = tensor(new Float64Array(n), [n]);
    const run = (preconditioner: 'none' | 'nystrom') => {
      const opt = subsampledNewton<Tensor>({ curvatureFraction: 1, cgMaxIter: 200, cgTolerance: 1e-10, preconditioner, nystromRank: 12 });
      const r = opt.step(x0, opt.init(x0), base);
      return { iterations: r.state.inner.cgIterations, loss: base.valueAndGrad(r.params)[0] };
    };
    const plain = run('none');
    const ny = run('nystrom');
    assert.ok(ny.iterations < plain.iterations / 2, `CG iterations: nystrom ${ny.iterations}, none ${plain.iterations}`);
    assert.ok(Math.abs(ny.loss - plain.loss) < 1e-6 * Math.abs(plain.loss));
    // x² − y² near the saddle: the sketch meets negative curvature.
    const saddle = objective((x: Tensor) => O.sum(O.mul(tensor([1, -1], [2], f64), O.square(x))));
    const p0 = tensor([0.5, 0.1], [2], f64);
    const opt = subsampledNewton<Tensor>({ curvatureFraction: 1, preconditioner: 'nystrom', nystromRank: 2 });
    const r = opt.step(p0, opt.init(p0), saddle);
    assert.ok(r.info.events.some((e) => e.includes('no Nyström preconditioner this step')), r.info.events.join('; '));
    assert.throws(() => subsampledNewton({ preconditioner: 'jacobi' as never }), /option 'preconditioner' must be one of 'none', 'nystrom'/);
  });

  it('on a convex quadratic a single step with λ → 0 lands on the minimizer', () => {
    const { obj, xStar } = quadratic(12);
    const opt = hessianFree<Tensor>({ damping: 1e-12, minDamping: 1e-12, cgTolerance: 1e-12, cgMaxIter: 100, preconditioner: false });
    const x0 = tensor(new Float64Array(12), [12]);
    const r = opt.step(x0, opt.init(x0), obj);
    assert.ok(r.info.accepted);
    assert.ok(treeNorm(treeSub(r.params, xStar)) < 1e-8 * (1 + treeNorm(xStar)), `distance ${treeNorm(treeSub(r.params, xStar))}`);
  });

  it('the damping follows the reduction-ratio rule', () => {
    const { obj } = quadratic(6);
    const x0 = tensor(new Float64Array(6), [6]);
    // On an exact quadratic with a damped model, ρ = (f(θ+p) − f0)/q(p) > 3/4 for small λ: λ shrinks by 2/3.
    const t = hessianFreeTransform<Tensor>({ damping: 1e-3, preconditioner: false, lineSearch: false, backtracking: false });
    const s0 = t.init(x0);
    const [f0, g0] = obj.valueAndGrad(x0);
    const ctx: UpdateContext<Tensor> = { step: 0, loss: f0, objective: obj, counters: { evals: 0, curvatureProducts: 0 }, events: [] };
    const [, s1] = t.update(g0, s0, x0, ctx);
    assert.ok(s1.rho > 0.75, `rho ${s1.rho}`);
    assert.ok(Math.abs(s1.damping - 1e-3 * (2 / 3)) < 1e-15);
    // A model that badly overestimates the decrease (ρ < 1/4): report a too-small curvature.
    const liar: Objective<Tensor> = { ...obj, ggnvp: (p, v) => treeScale(1e-3, obj.ggnvp?.(p, v) as Tensor) };
    const ctx2: UpdateContext<Tensor> = { step: 0, loss: f0, objective: liar, counters: { evals: 0, curvatureProducts: 0 }, events: [] };
    const [, s2] = hessianFreeTransform<Tensor>({ damping: 1e-6, preconditioner: false, lineSearch: false, backtracking: false }).update(g0, { ...s0, damping: 1e-6 }, x0, ctx2);
    assert.ok(s2.rho < 0.25, `rho ${s2.rho}`);
    assert.ok(Math.abs(s2.damping - 1.5e-6) < 1e-18);
  });

  it("evaluateOn: 'curvature' judges the step (ρ, backtracking) by losses on the curvature sub-batch alone", () => {
    const { obj } = quadratic(6);
    const x0 = tensor([0.3, -0.2, 0.1, 0.5, -0.4, 0.2], undefined, f64);
    // The sub-batch's loss is twice the batch's: ρ measured on it is twice ρ measured on the batch.
    const calls = { batch: 0, sub: 0, fractions: [] as number[] };
    const batchValue = (x: Tensor) => {
      calls.batch++;
      return (obj.value as (x: Tensor) => number)(x);
    };
    const sub: Objective<Tensor> = { ...obj, value: (x) => {
      calls.sub++;
      return 2 * (obj.value as (x: Tensor) => number)(x);
    } };
    const probe: Objective<Tensor> = { ...obj, value: batchValue, subsample: (fraction) => {
      calls.fractions.push(fraction);
      return sub;
    } };
    const run = (evaluateOn: 'batch' | 'curvature') => {
      const opt = hessianFree<Tensor>({ damping: 1, preconditioner: false, lineSearch: false, cgMaxIter: 3, curvatureFraction: 0.5, evaluateOn });
      calls.batch = 0;
      calls.sub = 0;
      const r = opt.step(x0, opt.init(x0), probe);
      assert.ok(r.info.accepted);
      return { rho: (r.state.inner as { rho: number }).rho, newLoss: r.info.newLoss, ...calls };
    };
    const onBatch = run('batch');
    const onSub = run('curvature');
    assert.ok(Number.isFinite(onBatch.rho) && onBatch.rho > 0, `rho ${onBatch.rho}`);
    assert.ok(Math.abs(onSub.rho - 2 * onBatch.rho) < 1e-9 * Math.abs(onBatch.rho), `rho ${onSub.rho} vs 2 × ${onBatch.rho}`);
    // Trials and the reference loss on the sub-batch; the batch's value is never asked for.
    assert.equal(onSub.batch, 0);
    assert.ok(onSub.sub >= 2, `sub-batch evaluations ${onSub.sub}`);
    assert.equal(onBatch.sub, 0);
    // A sub-batch loss is not the batch's loss at the new point: the driver is given none.
    assert.equal(onSub.newLoss, undefined);
    assert.ok(onBatch.newLoss !== undefined);
    assert.deepEqual(calls.fractions, [0.5, 0.5]);
    assert.throws(() => hessianFree({ evaluateOn: 'test' as never }), /option 'evaluateOn' must be one of 'batch', 'curvature'/);
  });

  it("subsample blocks of one seed are disjoint: the two halves' mean losses average to the batch's", () => {
    const rng = new Rng(21);
    const x = rng.normal([20, 3], f64);
    const y = rng.normal([20, 2], f64);
    const net = new Sequential([new Linear(3, 4), new Tanh(), new Linear(4, 2)]);
    const params = net.init(new Rng(4), f64);
    const obj = withL2(modelObjective(net, mse(), { x, y }), 1e-3);
    const half = (block: number) => (obj.subsample?.(0.5, 99, block) as Objective<PyTree>).valueAndGrad(params)[0];
    const full = obj.valueAndGrad(params)[0];
    // Each half carries the whole L2 term; the data terms are means over 10 disjoint rows each.
    assert.ok(Math.abs((half(0) + half(1)) / 2 - full) < 1e-12, `halves ${half(0)}, ${half(1)} vs ${full}`);
    // Block 0 is what subsample always drew.
    assert.equal(half(0), (obj.subsample?.(0.5, 99) as Objective<PyTree>).valueAndGrad(params)[0]);
    assert.throws(() => obj.subsample?.(0.5, 99, 2), /subsample: block 2 of 10 examples starts at example 20, the batch has 20/);
    // An odd batch: blocks of round(0.5·19) = 10 and the remaining 9 still cover it (weights 10 and 9).
    const odd = withL2(modelObjective(net, mse(), { x: firstRows(x, 19), y: firstRows(y, 19) }), 1e-3);
    const [a, b] = [0, 1].map((k) => (odd.subsample?.(0.5, 7, k) as Objective<PyTree>).valueAndGrad(params)[0] - 0.5e-3 * treeVdot(params, params));
    const whole = odd.valueAndGrad(params)[0] - 0.5e-3 * treeVdot(params, params);
    assert.ok(Math.abs((10 * a + 9 * b) / 19 - whole) < 1e-12, `odd halves ${a}, ${b} vs ${whole}`);
    assert.throws(() => obj.subsample?.(0.5, 99, 0.5), /block/);
  });

  it("evaluateOn: 'held-out' computes ρ on a slice disjoint from the curvature sub-batch: a hand computation", () => {
    const rng = new Rng(22);
    const x = rng.normal([24, 3], f64);
    const y = rng.normal([24, 2], f64);
    const net = new Sequential([new Linear(3, 5), new Tanh(), new Linear(5, 2)]);
    const x0 = net.init(new Rng(6), f64);
    const obj = modelObjective(net, mse(), { x, y });
    const lambda = 0.5;
    const opt = hessianFree<PyTree>({ damping: lambda, curvatureFraction: 0.25, evaluateOn: 'held-out', preconditioner: false, lineSearch: false, backtracking: false, cgMaxIter: 4 });
    const r = opt.step(x0, opt.init(x0), obj);
    assert.ok(r.info.accepted);
    const rho = (r.state.inner as { rho: number }).rho;
    // Hand: p the step taken (no line search: α = 1); the model q(p) = ½pᵀ(G_C + λI)p + gᵀp with
    // G_C on the curvature sub-batch (block 0 of step 0's seed 7919) and g on the batch; the
    // losses on block 1.
    const p = treeSub(r.params, x0);
    const sub = obj.subsample as NonNullable<typeof obj.subsample>;
    const curv = sub(0.25, 7919, 0);
    const held = sub(0.25, 7919, 1);
    const [, g] = obj.valueAndGrad(x0);
    const q = 0.5 * treeVdot(p, treeAxpby(1, curv.ggnvp?.(x0, p) as PyTree, lambda, p)) + treeVdot(g, p);
    const hand = (held.valueAndGrad(r.params)[0] - held.valueAndGrad(x0)[0]) / q;
    assert.ok(Math.abs(rho - hand) < 1e-9 * Math.abs(hand), `rho ${rho} vs hand ${hand}`);
    // On the curvature sub-batch the same step is judged otherwise (the slices differ).
    const onCurv = (curv.valueAndGrad(r.params)[0] - curv.valueAndGrad(x0)[0]) / q;
    assert.ok(Math.abs(onCurv - hand) > 1e-6, `held-out ${hand} equals curvature ${onCurv}`);
    // No batch loss at the new point for the driver (it was measured on the slice).
    assert.equal(r.info.newLoss, undefined);
    assert.throws(() => hessianFree({ evaluateOn: 'held-out', curvatureFraction: 0.6 }), /option 'evaluateOn' 'held-out' .* needs curvatureFraction ≤ 0.5, got 0.6/);
  });

  it('curvatureExamples: a count of examples per batch, the same steps as curvatureFraction k/n on batches of every size', () => {
    const rng = new Rng(31);
    const x = rng.normal([40, 3], f64);
    const y = rng.normal([40, 2], f64);
    const net = new Sequential([new Linear(3, 5), new Tanh(), new Linear(5, 2)]);
    const x0 = net.init(new Rng(8), f64);
    const batchOf = (n: number) => withL2(modelObjective(net, mse(), { x: firstRows(x, n), y: firstRows(y, n) }), 1e-3);
    const common = { damping: 0.5, cgMaxIter: 5, evaluateOn: 'held-out' } as const;
    // Two steps on batches of 40, then 25 and 16 examples: 8 curvature examples are a fifth, then
    // 8/25 and a half of the batch; a fixed fraction would give 8, 5 and 3.
    const sizes = [40, 40, 25, 16];
    const run = (opt: ReturnType<typeof hessianFree<PyTree>>, fractions?: number[]) => {
      let params = x0;
      let state = opt.init(x0);
      sizes.forEach((n, k) => {
        const o = fractions === undefined ? opt : hessianFree<PyTree>({ ...common, curvatureFraction: fractions[k] });
        ({ params, state } = o.step(params, state, batchOf(n)));
      });
      return params;
    };
    const byCount = run(hessianFree<PyTree>({ ...common, curvatureExamples: 8 }));
    const byFraction = run(hessianFree<PyTree>({ ...common, curvatureFraction: 0.2 }), sizes.map((n) => 8 / n));
    assert.ok(sameBits(byCount, byFraction), 'curvatureExamples 8 differs from curvatureFraction 8/n');
    assert.ok(!sameBits(byCount, run(hessianFree<PyTree>({ ...common, curvatureFraction: 0.2 }))), 'a fixed fraction made the same steps');
    // The objective says how many examples it has; the L2 wrapper keeps it.
    assert.equal(batchOf(25).examples, 25);
    // k at least the batch: curvature on the whole batch (as curvatureFraction 1).
    const whole = { damping: 0.5, cgMaxIter: 5 } as const;
    const a = hessianFree<PyTree>({ ...whole, curvatureExamples: 64 });
    const b = hessianFree<PyTree>({ ...whole, curvatureFraction: 1 });
    assert.ok(sameBits(a.step(x0, a.init(x0), batchOf(40)).params, b.step(x0, b.init(x0), batchOf(40)).params));
  });

  it('curvatureExamples: bad values, a conflict with curvatureFraction and an objective without a count are refused naming the option; small batches are capped', () => {
    assert.throws(() => hessianFree({ curvatureExamples: 0 }), /hessianFree: option 'curvatureExamples'/);
    assert.throws(() => hessianFree({ curvatureExamples: 2.5 }), /hessianFree: option 'curvatureExamples'/);
    assert.throws(() => hessianFree({ curvatureExamples: 10, curvatureFraction: 0.5 }), /options 'curvatureExamples' and 'curvatureFraction' both size the curvature sub-batch; give one of them/);
    const rng = new Rng(32);
    const x = rng.normal([13, 3], f64);
    const net = new Sequential([new Linear(3, 2)]);
    const x0 = net.init(new Rng(1), f64);
    const model = modelObjective(net, mse(), { x, y: rng.normal([13, 2], f64) });
    // 7 + 7 held out do not fit in 13: both slices get ⌊13/2⌋ = 6, as curvatureFraction 6/13 gives.
    const capped = hessianFree<PyTree>({ damping: 0.5, curvatureExamples: 7, evaluateOn: 'held-out' });
    const bySix = hessianFree<PyTree>({ damping: 0.5, curvatureFraction: 6 / 13, evaluateOn: 'held-out' });
    const byHalf = hessianFree<PyTree>({ damping: 0.5, curvatureFraction: 0.5, evaluateOn: 'held-out' });
    const r = capped.step(x0, capped.init(x0), model).params;
    assert.ok(sameBits(r, bySix.step(x0, bySix.init(x0), model).params), 'the capped sub-batch is not 6 examples');
    assert.ok(!sameBits(r, byHalf.step(x0, byHalf.init(x0), model).params), 'round(0.5 · 13) = 7 made the same step');
    // More examples than the batch holds: still both halves, not the whole batch.
    const over = hessianFree<PyTree>({ damping: 0.5, curvatureExamples: 50, evaluateOn: 'held-out' });
    assert.ok(sameBits(over.step(x0, over.init(x0), model).params, r), 'curvatureExamples 50 on 13 examples is not capped at 6');
    // The share as the profiler reads it: the same rule, without a step.
    assert.equal(curvatureShareOf({ curvatureExamples: 50, evaluateOn: 'held-out' }, model), 6 / 13);
    assert.equal(curvatureShareOf({ curvatureExamples: 4 }, model), 4 / 13);
    assert.equal(curvatureShareOf({ curvatureExamples: 50 }, model), 1);
    assert.equal(curvatureShareOf({ curvatureFraction: 0.3 }, model), 0.3);
    // An objective that sub-samples but has no example count to divide is refused; one that
    // cannot sub-sample (a bare function) gives its whole batch, as with curvatureFraction.
    const { examples: _n, ...uncounted } = model;
    const u = hessianFree<PyTree>({ curvatureExamples: 2 });
    assert.throws(() => u.step(x0, u.init(x0), uncounted as Objective<PyTree>), /option 'curvatureExamples' needs an objective that knows its number of examples .*got none; use 'curvatureFraction' instead/);
    const { obj } = quadratic(4);
    const t0 = tensor([0.1, 0.2, 0.3, 0.4], undefined, f64);
    const [byCount, whole] = [{ curvatureExamples: 2 }, { curvatureFraction: 1 }].map((o) => {
      const q = hessianFree<Tensor>(o);
      return q.step(t0, q.init(t0), obj).params;
    });
    assert.ok(sameBits(byCount, whole), 'a bare objective did not give its whole batch');
  });

  it('warm start: the second step\'s CG starts from cgDecay × the first solution, and cgMaxIterGrowth lengthens CG', () => {
    const { obj } = quadratic(10);
    const x0 = tensor(Array.from({ length: 10 }, (_, i) => 0.1 * (i - 4)), undefined, f64);
    const common = { damping: 0.3, preconditioner: false, lineSearch: false, backtracking: false, cgMaxIter: 2, cgDecay: 0.9 } as const;
    const opt = hessianFree<Tensor>(common);
    const r1 = opt.step(x0, opt.init(x0), obj);
    const r2 = opt.step(r1.params, r1.state, obj);
    const s1 = r1.state.inner as { previous: Tensor };
    const s2 = r2.state.inner as { previous: Tensor; cgIterations: number };
    // Oracle: the same CG at the second point, started from 0.9 × the first solution.
    const B = (v: Tensor) => treeAxpby(1, obj.ggnvp?.(r1.params, v) as Tensor, 0.3 * (2 / 3), v);
    const g1 = obj.valueAndGrad(r1.params)[1];
    const damping1 = (r1.state.inner as { damping: number }).damping;
    assert.equal(damping1, 0.3 * (2 / 3), 'the oracle assumes λ shrank after the first step');
    const oracle = conjugateGradient(B, treeScale(-1, g1), { x0: treeScale(0.9, s1.previous), maxIter: 2, storeGamma: 0 });
    assert.ok(treeNorm(treeSub(s2.previous, oracle.x)) < 1e-12 * (1 + treeNorm(oracle.x)), `differs by ${treeNorm(treeSub(s2.previous, oracle.x))}`);
    // A cold start gives another solution: the warm start matters.
    const cold = conjugateGradient(B, treeScale(-1, g1), { maxIter: 2, storeGamma: 0 });
    assert.ok(treeNorm(treeSub(s2.previous, cold.x)) > 1e-6);
    // Growth: step k allows ⌊2 · 1.5^k⌋ iterations (2, 3, 4, 6, ...), at most cgMaxIterLimit.
    const grow = hessianFree<Tensor>({ ...common, cgMaxIterGrowth: 1.5, cgMaxIterLimit: 5 });
    let params = x0;
    let state = grow.init(x0);
    const iters: number[] = [];
    for (let k = 0; k < 5; k++) {
      const r = grow.step(params, state, obj);
      params = r.params;
      state = r.state;
      iters.push((state.inner as { cgIterations: number }).cgIterations);
    }
    assert.deepEqual(iters, [2, 3, 4, 5, 5]);
    assert.throws(() => hessianFree({ cgMaxIterGrowth: 0.5 }), /cgMaxIterGrowth/);
    assert.throws(() => hessianFree({ cgMaxIter: 10, cgMaxIterGrowth: 1.1, cgMaxIterLimit: 5 }), /option 'cgMaxIterLimit' \(5\) is below 'cgMaxIter' \(10\)/);
  });

  it('preconditionerDecay: CG is preconditioned by the bias-corrected average of the steps\' Fisher diagonals', () => {
    const { obj } = quadratic(6);
    const x0 = tensor([0.3, -0.2, 0.1, 0.5, -0.4, 0.2], undefined, f64);
    const d1 = tensor([1, 4, 9, 0.5, 2, 3], undefined, f64);
    const d2 = tensor([5, 1, 2, 8, 0.1, 1], undefined, f64);
    const beta = 0.7;
    // (β(1−β)d1 + (1−β)d2) / (1 − β²): the average the second step must use.
    const avg = treeScale(1 / (1 - beta * beta), treeAxpby(beta * (1 - beta), d1, 1 - beta, d2));
    const withDiagonals = (ds: Tensor[]): Objective<Tensor> => {
      let k = 0;
      return { ...obj, diagEmpiricalFisher: () => ds[Math.min(k++, ds.length - 1)] };
    };
    const twoSteps = (opt: ReturnType<typeof hessianFree<Tensor>>, first: Objective<Tensor>, second: Objective<Tensor>) => {
      const r1 = opt.step(x0, opt.init(x0), first);
      const r2 = opt.step(r1.params, r1.state, second);
      assert.ok(r1.info.accepted && r2.info.accepted);
      return { p1: r1.params, p2: r2.params, inner: r2.state.inner as Record<string, unknown> };
    };
    const common = { damping: 0.5, cgMaxIter: 4, lineSearch: false, backtracking: false } as const;
    const averaged = withDiagonals([d1, d2]);
    const a = twoSteps(hessianFree<Tensor>({ ...common, preconditionerDecay: beta }), averaged, averaged);
    const b = twoSteps(hessianFree<Tensor>(common), withDiagonals([d1]), withDiagonals([avg]));
    // The first step sees d1 itself (bias correction), the second the average.
    assert.ok(treeNorm(treeSub(a.p1, b.p1)) < 1e-12, `first step differs by ${treeNorm(treeSub(a.p1, b.p1))}`);
    assert.ok(treeNorm(treeSub(a.p2, b.p2)) < 1e-12, `second step differs by ${treeNorm(treeSub(a.p2, b.p2))}`);
    assert.ok(Math.abs((a.inner.fisherDiagonalWeight as number) - (1 - beta * beta)) < 1e-15);
    // Without averaging the state carries no diagonal.
    assert.equal(b.inner.fisherDiagonal, undefined);
    assert.throws(() => hessianFree({ preconditionerDecay: 1 }), /preconditionerDecay/);
    assert.throws(() => hessianFree({ preconditionerDecay: 0.9, preconditioner: false }), /option 'preconditionerDecay' averages the diagonal preconditioner; it needs preconditioner: true/);
  });

  it('gradientDecay: CG solves against the bias-corrected average of the accepted steps\' gradients', () => {
    // Two quadratics with one Hessian A and different linear terms: two mini-batches of one problem.
    const n = 6;
    const { A, eye, rng } = spdMatrix(n, 21);
    const batch = (b: Tensor): Objective<Tensor> => {
      const base = objective((x: Tensor) => O.sub(O.mul(0.5, O.sum(O.mul(x, O.matmul(A, x)))), O.sum(O.mul(b, x))));
      return { ...base, ggnvp: base.hvp };
    };
    const b1 = rng.normal([n], f64);
    const b2 = rng.normal([n], f64);
    const x0 = rng.normal([n], f64);
    const beta = 0.6;
    const opt = hessianFree<Tensor>({ damping: 0.3, gradientDecay: beta, cgMaxIter: 50, cgTolerance: 1e-14, preconditioner: false, lineSearch: false, backtracking: false });
    const r1 = opt.step(x0, opt.init(x0), batch(b1));
    const r2 = opt.step(r1.params, r1.state, batch(b2));
    assert.ok(r1.info.accepted && r2.info.accepted);
    const grad = (x: Tensor, b: Tensor) => O.sub(O.matmul(A, x), b);
    const g1 = grad(x0, b1);
    const g2 = grad(r1.params, b2);
    // The first step solves with g1 itself (bias correction); the second with (β(1−β)g1 + (1−β)g2)/(1−β²).
    const lambda1 = 0.3;
    const p1 = solve(O.add(A, O.mul(lambda1, eye)), O.neg(g1));
    assert.ok(treeNorm(treeSub(treeSub(r1.params, x0), p1)) < 1e-9 * treeNorm(p1), 'first step');
    const inner = r1.state.inner as Record<string, unknown>;
    const lambda2 = inner.damping as number;
    const avg = treeScale(1 / (1 - beta * beta), treeAxpby(beta * (1 - beta), g1, 1 - beta, g2));
    const p2 = solve(O.add(A, O.mul(lambda2, eye)), O.neg(avg));
    const step2 = treeSub(r2.params, r1.params);
    assert.ok(treeNorm(treeSub(step2, p2)) < 1e-9 * treeNorm(p2), `second step differs by ${treeNorm(treeSub(step2, p2))}`);
    // Not the plain Newton step on g2: the average changed it.
    const plain = solve(O.add(A, O.mul(lambda2, eye)), O.neg(g2));
    assert.ok(treeNorm(treeSub(step2, plain)) > 1e-3 * treeNorm(plain));
    assert.ok(Math.abs(((r2.state.inner as Record<string, unknown>).gradientAverageWeight as number) - (1 - beta * beta)) < 1e-15);
    // A step the line search refuses leaves the average as it was: here the average points
    // against the third batch's gradient (g3 = −g1/2, so ĝ is a positive multiple of g1), the step
    // climbs that batch's loss, and with the line search on no step is taken.
    const searching = hessianFree<Tensor>({ damping: 0.3, gradientDecay: 0.9, cgMaxIter: 50, cgTolerance: 1e-14, preconditioner: false, backtracking: false });
    const s1 = searching.step(x0, searching.init(x0), batch(b1));
    const b3 = O.add(O.matmul(A, s1.params), O.mul(0.5, grad(x0, b1)));
    const s2 = searching.step(s1.params, s1.state, batch(b3));
    assert.ok(s2.info.events.some((e) => e.includes('no sufficient decrease')), s2.info.events.join('; '));
    assert.equal(treeNorm(treeSub(s2.params, s1.params)), 0);
    const kept = (s: typeof s1.state) => (s.inner as Record<string, unknown>);
    assert.equal(kept(s2.state).gradientAverageWeight, kept(s1.state).gradientAverageWeight);
    assert.equal(treeNorm(treeSub(kept(s2.state).gradientAverage as Tensor, kept(s1.state).gradientAverage as Tensor)), 0);
    // Off by default: no average in the state.
    const plainOpt = hessianFree<Tensor>({ damping: 0.3 });
    assert.equal((plainOpt.init(x0).inner as Record<string, unknown>).gradientAverage, undefined);
    assert.throws(() => hessianFree({ gradientDecay: 1 }), /option 'gradientDecay'/);
    assert.throws(() => hessianFree({ gradientDecay: -0.1 }), /option 'gradientDecay'/);
    assert.throws(() => hessianFree({ gradientDecay: Number.NaN }), /option 'gradientDecay'/);
  });

  it('gradientDecay: an averaged step that climbs this batch\'s loss is refused even where the plain Armijo test would pass it', () => {
    // The curvature model is A (PSD, as a Gauss-Newton matrix is); batch 3's loss has Hessian
    // H = A − κ·uuᵀ (negative curvature along the step u = p/|p|) and a gradient g3 with
    // s = g3ᵀp > 0: the averaged step is not a descent direction for batch 3. κ is chosen so that
    // f3(x1 + p) − f3(x1) = s + ½pᵀHp = (c/2)·s: a rise, yet below the plain Armijo bound c·s.
    // Along αp the rise is αs(1 − α(1 − c/2)) > 0 for every α ∈ (0, 1], so a test that asks for no
    // increase refuses the step at every trial, where f0 + c·α·s would have passed it at α = 1.
    const n = 6;
    const { A, eye, rng } = spdMatrix(n, 23);
    const model = objective((x: Tensor) => O.mul(0.5, O.sum(O.mul(x, O.matmul(A, x)))));
    const batch = (H: Tensor, b: Tensor): Objective<Tensor> => {
      const base = objective((x: Tensor) => O.sub(O.mul(0.5, O.sum(O.mul(x, O.matmul(H, x)))), O.sum(O.mul(b, x))));
      return { ...base, ggnvp: (params: Tensor, v: Tensor) => model.hvp!(params, v) };
    };
    const beta = 0.5;
    const c = 0.1;
    const opt = hessianFree<Tensor>({ damping: 0.3, gradientDecay: beta, cgMaxIter: 50, cgTolerance: 1e-14, preconditioner: false, backtracking: false, armijoC: c, maxLineSearchSteps: 30 });
    const x0 = rng.normal([n], f64);
    const b1 = rng.normal([n], f64);
    const r1 = opt.step(x0, opt.init(x0), batch(A, b1));
    assert.ok(r1.info.accepted, 'first step');
    const x1 = r1.params;
    const g1 = O.sub(O.matmul(A, x0), b1);
    const lambda2 = (r1.state.inner as Record<string, unknown>).damping as number;
    const damped = O.add(A, O.mul(lambda2, eye));
    // g3 = ε·w with w the direction of the step the average alone would take: g3ᵀp > 0.
    const w = solve(damped, O.neg(g1));
    const g3 = O.mul(1e-3 / treeNorm(w), w);
    const avg = treeScale(1 / (1 - beta * beta), treeAxpby(beta * (1 - beta), g1, 1 - beta, g3));
    const p = solve(damped, O.neg(avg));
    const s = treeVdot(g3, p);
    assert.ok(s > 0, `the averaged step must climb batch 3 (g3ᵀp = ${s})`);
    const pp = treeVdot(p, p);
    const kappa = (treeVdot(p, O.matmul(A, p)) + 2 * (1 - c / 2) * s) / pp;
    const H = O.sub(A, O.mul(kappa / pp, O.matmul(O.reshape(p, [n, 1]), O.reshape(p, [1, n]))));
    const b3 = O.sub(O.matmul(H, x1), g3); // so that ∇f3(x1) = H·x1 − b3 = g3
    const f3 = batch(H, b3);
    const rise = f3.value!(O.add(x1, p)) - f3.value!(x1);
    assert.ok(rise > 0 && rise < c * s, `construction: rise ${rise} should lie in (0, ${c * s})`);
    const r2 = opt.step(x1, r1.state, f3);
    assert.ok(r2.info.events.some((e) => e.includes('no sufficient decrease')), r2.info.events.join('; '));
    assert.equal(treeNorm(treeSub(r2.params, x1)), 0, 'no step: the loss of this batch would have risen');
  });

  it('preconditionerEvery: the Fisher diagonal is computed every k-th step and reused between, with each step\'s own λ', () => {
    const { obj } = quadratic(6);
    const x0 = tensor([0.3, -0.2, 0.1, 0.5, -0.4, 0.2], undefined, f64);
    const ds = [tensor([1, 4, 9, 0.5, 2, 3], undefined, f64), tensor([5, 1, 2, 8, 0.1, 1], undefined, f64), tensor([2, 2, 7, 1, 3, 0.2], undefined, f64)];
    // Each call of the objective's diagonal gives the next of ds; calls counted.
    const withDiagonals = (seq: Tensor[]) => {
      const c = { calls: 0 };
      return { c, obj: { ...obj, diagEmpiricalFisher: () => seq[Math.min(c.calls++, seq.length - 1)] } as Objective<Tensor> };
    };
    const run = (opt: ReturnType<typeof hessianFree<Tensor>>, o: Objective<Tensor>, steps: number) => {
      let params = x0;
      let state = opt.init(x0);
      const out: Tensor[] = [];
      for (let k = 0; k < steps; k++) {
        const r = opt.step(params, state, o);
        assert.ok(r.info.accepted);
        params = r.params;
        state = r.state;
        out.push(params);
      }
      return out;
    };
    const common = { damping: 0.5, cgMaxIter: 4, lineSearch: false, backtracking: false } as const;
    // Every 2 steps over 5 steps: diagonals computed at steps 0, 2, 4 (three calls), so steps
    // 0..4 see ds[0], ds[0], ds[1], ds[1], ds[2]: the same as computing every step with that sequence.
    const every = withDiagonals(ds);
    const a = run(hessianFree<Tensor>({ ...common, preconditionerEvery: 2 }), every.obj, 5);
    assert.equal(every.c.calls, 3);
    const b = run(hessianFree<Tensor>(common), withDiagonals([ds[0], ds[0], ds[1], ds[1], ds[2]]).obj, 5);
    for (let k = 0; k < 5; k++) assert.ok(treeNorm(treeSub(a[k], b[k])) < 1e-12, `step ${k} differs by ${treeNorm(treeSub(a[k], b[k]))}`);
    // A different sequence (a fresh diagonal each step) gives other steps: the reuse matters.
    const c = run(hessianFree<Tensor>(common), withDiagonals(ds).obj, 5);
    assert.ok(treeNorm(treeSub(a[1], c[1])) > 1e-8);
    // With preconditionerDecay, the reused diagonal is the bias-corrected average.
    const beta = 0.5;
    const avg2 = treeScale(1 / (1 - beta * beta), treeAxpby(beta * (1 - beta), ds[0], 1 - beta, ds[1]));
    const d = run(hessianFree<Tensor>({ ...common, preconditionerEvery: 2, preconditionerDecay: beta }), withDiagonals(ds).obj, 4);
    const e = run(hessianFree<Tensor>(common), withDiagonals([ds[0], ds[0], avg2, avg2]).obj, 4);
    for (let k = 0; k < 4; k++) assert.ok(treeNorm(treeSub(d[k], e[k])) < 1e-12, `decay: step ${k} differs by ${treeNorm(treeSub(d[k], e[k]))}`);
    assert.throws(() => hessianFree({ preconditionerEvery: 0 }), /preconditionerEvery/);
    assert.throws(() => hessianFree({ preconditionerEvery: 1.5 }), /preconditionerEvery/);
    assert.throws(() => hessianFree({ preconditionerEvery: 3, preconditioner: false }), /option 'preconditionerEvery' reuses the diagonal preconditioner's Fisher diagonal; it needs preconditioner: true/);
  });

  it('CG backtracking returns the best stored iterate', () => {
    const { obj } = quadratic(30);
    // Objective values seen by backtracking: a function that prefers earlier iterates (far steps are penalised).
    const far = (x: Tensor) => (obj.value as (x: Tensor) => number)(x) + 50 * Math.max(0, treeNorm(x) - 0.5) ** 2;
    const probe: Objective<Tensor> = { ...obj, value: far };
    const t = hessianFreeTransform<Tensor>({ damping: 1e-6, preconditioner: false, lineSearch: false, cgTolerance: 1e-10 });
    const x0 = tensor(new Float64Array(30), [30]);
    const g0 = obj.valueAndGrad(x0)[1];
    const ctx: UpdateContext<Tensor> = { step: 0, loss: far(x0), objective: probe, counters: { evals: 0, curvatureProducts: 0 }, events: [] };
    const [p] = t.update(g0, t.init(x0), x0, ctx);
    // Oracle: rerun the same CG and evaluate every stored iterate.
    const cg = conjugateGradient((v: Tensor) => treeAxpby(1, obj.ggnvp?.(x0, v) as Tensor, 1e-6, v), treeScale(-1, g0), { tol: 1e-10, x0: tensor(new Float64Array(30), [30]) });
    const values = cg.iterates.map((it) => far(it.x));
    // Martens' rule walks back from the last iterate while the value decreases: the result is a local minimum of that walk.
    let k = values.length - 1;
    while (k > 0 && values[k - 1] < values[k]) k--;
    assert.ok(Math.abs(far(p) - values[k]) < 1e-9, `chose ${far(p)}, expected ${values[k]}`);
    assert.ok(k < values.length - 1, 'the test should make backtracking move');
  });

  it('a NaN loss at the proposed point leaves the parameters unchanged and raises λ', () => {
    const { obj } = quadratic(5);
    const poisoned: Objective<Tensor> = { ...obj, value: () => NaN };
    const opt = hessianFree<Tensor>({ damping: 2, preconditioner: false });
    const x0 = tensor([0.1, 0.2, 0.3, 0.4, 0.5], undefined, f64);
    const s0 = opt.init(x0);
    const r = opt.step(x0, s0, poisoned);
    assert.equal(r.info.accepted, false);
    assert.deepEqual(r.params.toFlatArray(), [0.1, 0.2, 0.3, 0.4, 0.5]);
    // The damping of the next trial is 2·1.5², as a transient boost: the LM damping stays 2.
    const inner = r.state.inner as { damping: number; faultBoost: number };
    assert.equal(inner.damping, 2);
    assert.equal(inner.faultBoost, 2.25);
    assert.ok(r.info.events.some((e) => e.includes('non-finite loss') && e.includes('damping raised to 4.50')), r.info.events.join('; '));
    // An accepted step on the clean objective divides the boost by 1.5 (two steps undo one fault).
    const r2 = opt.step(x0, r.state, obj);
    assert.ok(r2.info.accepted);
    assert.equal((r2.state.inner as { faultBoost: number }).faultBoost, 1.5);
  });

  it('a non-finite curvature product rejects the step with the damping and the warm start unchanged', () => {
    const { obj } = quadratic(5);
    const bad: Objective<Tensor> = { ...obj, ggnvp: (_p, v) => O.mul(v, NaN) };
    const opt = hessianFree<Tensor>({ damping: 2, preconditioner: false });
    const x0 = tensor([0.1, 0.2, 0.3, 0.4, 0.5], undefined, f64);
    const s0 = opt.init(x0);
    const r = opt.step(x0, s0, bad);
    assert.equal(r.info.accepted, false);
    assert.equal(r.params, x0);
    assert.equal(r.state.inner, s0.inner);
    assert.ok(r.info.events.some((e) => e.includes('non-finite curvature product')), r.info.events.join('; '));
  });

  it('trains a small sigmoid autoencoder with the preconditioner, sub-sampled curvature and L2 (which enters the curvature)', () => {
    const rng = new Rng(2);
    const x = rng.uniform([64, 8], f64);
    const net = new Sequential([new Linear(8, 4), new Sigmoid(), new Linear(4, 8)]);
    let params = net.init(new Rng(3), f64);
    const loss = sigmoidBinaryCrossEntropy();
    const obj = withL2(modelObjective(net, loss, { x, y: x }), 1e-4);
    // L2 enters the curvature: ggnvp of the regularized objective = ggnvp + λ v
    const v = treeScale(1, params);
    const base = modelObjective(net, loss, { x, y: x });
    const diff = treeSub(obj.ggnvp?.(params, v) as PyTree[], base.ggnvp?.(params, v) as PyTree[]);
    assert.ok(treeNorm(treeSub(diff, treeScale(1e-4, v))) < 1e-12);
    const opt = hessianFree<PyTree[]>({ damping: 1, curvatureFraction: 0.5 });
    let state = opt.init(params);
    const [f0] = obj.valueAndGrad(params);
    for (let i = 0; i < 15; i++) {
      const r = opt.step(params, state, obj);
      params = r.params;
      state = r.state;
      for (const l of treeLeaves(params)) assert.ok(l.toFlatArray().every(Number.isFinite));
    }
    const [f1] = obj.valueAndGrad(params);
    assert.ok(f1 < f0 - 0.05, `loss ${f0} -> ${f1}`);
  });

  it('dropout: with a dropout seed the gradient and the curvature use the same masks', () => {
    const rng = new Rng(9);
    const x = rng.normal([16, 6], f64);
    const y = rng.normal([16, 3], f64);
    const net = new Sequential([new Dropout(0.5), new Linear(6, 3)]);
    const params = net.init(new Rng(1), f64);
    const obj = modelObjective(net, mse(), { x, y }, { dropoutSeed: 42 });
    // For a linear model with squared loss the GGN is the Hessian: it must match finite differences of
    // the gradient, which is only true if both see the same mask.
    const v = treeScale(1, params);
    const h = 1e-5;
    const gp = obj.valueAndGrad(treeAxpby(1, params, h, v))[1];
    const gm = obj.valueAndGrad(treeAxpby(1, params, -h, v))[1];
    const fd = treeScale(1 / (2 * h), treeSub(gp, gm));
    assert.ok(treeNorm(treeSub(obj.ggnvp?.(params, v) as PyTree[], fd)) < 1e-7 * treeNorm(fd));
    assert.equal(obj.valueAndGrad(params)[0], obj.valueAndGrad(params)[0]);
    const other = modelObjective(net, mse(), { x, y }, { dropoutSeed: 43 });
    assert.notEqual(other.valueAndGrad(params)[0], obj.valueAndGrad(params)[0]);
  });
});

describe('sub-sampled Newton-CG', () => {
  it('trains a tanh network on a regression task with Hessian products on 25% of the batch', () => {
    const rng = new Rng(4);
    const x = rng.normal([128, 3], f64);
    const y = O.tanh(O.matmul(x, rng.normal([3, 2], f64)));
    const net = new Sequential([new Linear(3, 8), new Tanh(), new Linear(8, 2)]);
    let params = net.init(new Rng(5), f64);
    const obj = modelObjective(net, mse(), { x, y });
    const opt = subsampledNewton<PyTree[]>({ curvatureFraction: 0.25 });
    let state = opt.init(params);
    const [f0] = obj.valueAndGrad(params);
    for (let i = 0; i < 20; i++) ({ params, state } = opt.step(params, state, obj));
    const [f1] = obj.valueAndGrad(params);
    assert.ok(f1 < 0.2 * f0, `loss ${f0} -> ${f1}`);
  });
});

describe('powNegative (the diagonal preconditioner\'s (d + λ)^(−α))', () => {
  it('agrees with x^(−α) computed in float64 on both dtypes, for the kernel exponents and a general one', () => {
    const rng = new Rng(31);
    // Values over twelve decades, as an empirical Fisher diagonal plus λ spans.
    const xs = Array.from({ length: 2000 }, () => 10 ** (12 * rng.uniform([1]).data[0] - 8));
    for (const dtype of ['float32', 'float64'] as const) {
      const x = tensor(xs, [xs.length], { dtype });
      const ulp = dtype === 'float32' ? 2 ** -23 : 2 ** -52;
      for (const alpha of [1, 0.5, 0.25, 0.75, 0.6, 0]) {
        const got = powNegative(x, alpha);
        assert.equal(got.dtype, dtype);
        let worst = 0;
        for (let i = 0; i < xs.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - Math.pow(x.data[i], -alpha)) / Math.pow(x.data[i], -alpha));
        // x^(−3/4) = u·√u rounds three times; the others once or twice.
        assert.ok(worst <= 4 * ulp, `${dtype} α=${alpha}: relative error ${worst} (${worst / ulp} ulp)`);
      }
    }
  });
});
