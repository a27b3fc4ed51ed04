import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { matmul } from '../../tensor/matmul.js';
import { cholesky, solveTriangular } from '../../tensor/linalg.js';
import * as O from '../../autodiff/ops.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../../autodiff/pytree.js';
import { Conv2d, Dropout, Flatten, LayerNorm, Linear, Tanh } from '../../nn/layers.js';
import { Sequential, childContext, type ApplyContext } from '../../nn/module.js';
import { mse, softmaxCrossEntropy, type Loss } from '../../nn/losses.js';
import { deserializeTree, serializeTree } from '../../nn/checkpoint.js';
import type { Module } from '../../nn/module.js';
import type { Batch } from '../../curvature/products.js';
import { objective } from '../objective.js';
import { kfacObjective, type KfacObjective } from './kfac-objective.js';
import { gramFromProduct, kfac, kfacPreconditioner, levenbergMarquardt, quadraticModelStep, type KfacState } from './kfac.js';
import { ekfac } from './ekfac.js';
import { adam, sgd } from '../first-order/baselines.js';
import { chain, scaleByLearningRate } from '../transforms.js';
import { treeAxpby, treeVdot } from '../../autodiff/tree-math.js';
import type { Objective, Optimizer, OptimizerState, StepResult, UpdateContext } from '../types.js';

const f64 = { dtype: 'float64' as const };

function bits(tree: PyTree): string {
  return treeLeaves(tree).map((l) => Buffer.from(l.data.buffer, l.data.byteOffset, l.data.byteLength).toString('hex')).join('|');
}

/** Steps until the loss at the start of a step is <= target (Infinity if not within maxSteps). */
function stepsTo<P extends PyTree>(opt: Optimizer<PyTree, P>, model: Module<P>, loss: Loss, batch: Batch, params: P, target: number, maxSteps: number): number {
  let p = params;
  let s = opt.init(p);
  for (let k = 0; k < maxSteps; k++) {
    const r = opt.step(p, s, kfacObjective(model, loss, batch));
    if (r.info.loss <= target) return k;
    ({ params: p, state: s } = r);
  }
  return Infinity;
}

function autoencoderProblem() {
  // Data on a 3-D sigmoidal manifold in 16-D; a 16-8-3-8-16 tanh autoencoder.
  const rng = new Rng(1);
  const n = 64;
  const z = rng.normal([n, 3]);
  const m = rng.normal([3, 16]);
  const x = new Tensor(new Float32Array(n * 16), [n, 16]);
  for (let i = 0; i < n; i++) for (let j = 0; j < 16; j++) {
    let s = 0;
    for (let k = 0; k < 3; k++) s += z.data[i * 3 + k] * m.data[k * 16 + j];
    x.data[i * 16 + j] = 1 / (1 + Math.exp(-s));
  }
  const model = new Sequential([new Linear(16, 8), new Tanh(), new Linear(8, 3), new Tanh(), new Linear(3, 8), new Tanh(), new Linear(8, 16)]);
  return { model, params: model.init(new Rng(2)), batch: { x, y: x }, loss: mse() };
}

function cnnProblem() {
  // 8x8 images, 3 classes by the signs of two half-image sums; conv(pad 1) → conv(stride 2) → dense.
  const rng = new Rng(1);
  const n = 64;
  const x = rng.normal([n, 1, 8, 8]);
  const y = new Tensor(new Float32Array(n), [n]);
  for (let i = 0; i < n; i++) {
    let top = 0;
    let left = 0;
    for (let j = 0; j < 64; j++) {
      if (j < 32) top += x.data[i * 64 + j];
      if (j % 8 < 4) left += x.data[i * 64 + j];
    }
    y.data[i] = top > 0 ? (left > 0 ? 0 : 1) : 2;
  }
  const model = new Sequential([new Conv2d(1, 4, 3, { padding: 1 }), new Tanh(), new Conv2d(4, 4, 3, { stride: 2 }), new Tanh(), new Flatten(), new Linear(36, 3)]);
  return { model, params: model.init(new Rng(3)), batch: { x, y }, loss: softmaxCrossEntropy() };
}

describe('K-FAC step', () => {
  it('the quadratic-model step is the exact minimizer over span{Δ, δ₀} on a quadratic', () => {
    const rng = new Rng(21);
    const n = 7;
    const R = rng.normal([n, n], f64);
    const H = O.add(matmul(R, R, { transposeB: true }), O.mul(0.1, new Tensor(Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0)), [n, n])));
    const b = rng.normal([n], f64);
    const f = (x: Tensor) => 0.5 * treeVdot(x, matmul(H, x)) - treeVdot(b, x);
    const theta = rng.normal([n], f64);
    const g = O.sub(matmul(H, theta), b);
    const delta = rng.normal([n], f64);
    const prev = rng.normal([n], f64);
    const q = quadraticModelStep(g, delta, prev, gramFromProduct((v) => matmul(H, v)));
    assert.ok(q !== null);
    assert.equal(q.products, 2);
    const next = O.add(theta, q.step);
    const gNext = O.sub(matmul(H, next), b);
    // Stationary along both directions, and the model is exact for a quadratic with λ = 0.
    assert.ok(Math.abs(treeVdot(gNext, delta)) < 1e-9 * treeVdot(delta, delta) * 10);
    assert.ok(Math.abs(treeVdot(gNext, prev)) < 1e-9 * treeVdot(prev, prev) * 10);
    assert.ok(Math.abs(f(next) - f(theta) - q.modelValue) < 1e-10 * Math.abs(q.modelValue));
    // No other point of the plane does better.
    for (let k = 0; k < 20; k++) {
      const a = q.alpha + rng.nextNormal();
      const m = q.mu + rng.nextNormal();
      assert.ok(f(O.add(theta, treeAxpby(a, delta, m, prev))) >= f(next) - 1e-12);
    }
    // Without δ₀, or with δ₀ ∥ Δ, the 1-D minimizer α = −gᵀΔ / ΔᵀHΔ.
    const alpha1 = -treeVdot(g, delta) / treeVdot(delta, matmul(H, delta));
    for (const p of [null, O.mul(delta, 3)]) {
      const q1 = quadraticModelStep(g, delta, p, gramFromProduct((v) => matmul(H, v)));
      assert.ok(q1 !== null && Math.abs(q1.alpha - alpha1) < 1e-12 * Math.abs(alpha1) && q1.mu === 0);
      assert.equal(q1.products, p === null ? 1 : 2);
    }
    assert.equal(quadraticModelStep(g, delta, null, gramFromProduct((v) => O.mul(v, 0))), null);
  });

  it('Levenberg–Marquardt: λ shrinks by ω when ρ > 3/4, grows by 1/ω when ρ < 1/4 or ρ is NaN, within bounds', () => {
    const w = Math.pow(19 / 20, 5);
    assert.equal(levenbergMarquardt(1, 0.9, w, 1e-8, 1e8), w);
    assert.equal(levenbergMarquardt(1, 0.5, w, 1e-8, 1e8), 1);
    assert.equal(levenbergMarquardt(1, 0.1, w, 1e-8, 1e8), 1 / w);
    assert.equal(levenbergMarquardt(1, NaN, w, 1e-8, 1e8), 1 / w);
    assert.equal(levenbergMarquardt(1e-8, 1, w, 1e-8, 1e8), 1e-8);
    // In the optimizer: a linear model with squared loss makes the undamped model exact (ρ = 1), so λ
    // shrinks by ω at every adaptation step (T₁ = 2) and is untouched in between.
    const { model, params, batch } = ridgeProblem();
    const opt = kfac<typeof params>({ estimationMode: 'ggn', damping: 1, dampingAdaptationPeriod: 2 });
    let p = params;
    let s = opt.init(p);
    const lambdas: number[] = [];
    const rhos: number[] = [];
    for (let k = 0; k < 4; k++) {
      ({ params: p, state: s } = opt.step(p, s, kfacObjective(model, mse(), batch)));
      lambdas.push(s.inner.damping);
      rhos.push(s.inner.rho);
    }
    assert.ok(rhos.every((r) => Math.abs(r - 1) < 1e-6), `rho ${rhos}`);
    const w2 = Math.pow(19 / 20, 2);
    assert.deepEqual(lambdas.map((l) => +l.toPrecision(12)), [1, w2, w2, w2 * w2].map((l) => +l.toPrecision(12)));
  });

  it('a non-finite loss at the new point rejects the step: parameters unchanged, effective damping ×10 (LM damping and momentum kept)', () => {
    const { model, params, batch, loss } = autoencoderProblem();
    const opt = kfac({ damping: 0.01 });
    const base = kfacObjective(model, loss, batch);
    let s = opt.init(params);
    let p: PyTree = params;
    ({ params: p, state: s } = opt.step(p, s, base));
    assert.ok(treeVdot(s.inner.previous, s.inner.previous) > 0);
    const poisoned: KfacObjective<PyTree> = { ...base, value: (q) => (q === p ? (base.value as (x: PyTree) => number)(q) : NaN) };
    const r = opt.step(p, s, poisoned);
    assert.equal(r.info.accepted, false);
    assert.equal(r.params, p);
    assert.ok(r.info.events.some((e) => e.includes('non-finite loss')), r.info.events.join('; '));
    assert.equal(r.state.inner.damping, s.inner.damping);
    assert.equal(r.state.inner.faultBoost, 10);
    assert.match(r.info.events.join(' '), new RegExp(`damping raised to ${(s.inner.damping * 10).toPrecision(3)}`));
    assert.equal(bits(r.state.inner.previous), bits(s.inner.previous));
    // A second rejection in a row compounds (a step that really overflows is escaped) ...
    const r2 = opt.step(p, r.state, poisoned);
    assert.equal(r2.state.inner.faultBoost, 100);
    // ... and accepted steps undo the boost, √10 at a time, without touching the LM damping.
    const r3 = opt.step(p, r2.state, base);
    assert.ok(r3.info.accepted);
    assert.ok(Math.abs(r3.state.inner.faultBoost - Math.sqrt(1000)) < 1e-9);
  });

  it('a non-finite curvature product rejects the step and leaves the damping and the momentum as they were', () => {
    const { model, params, batch, loss } = autoencoderProblem();
    const opt = kfac({ damping: 0.01 });
    const base = kfacObjective(model, loss, batch) as unknown as KfacObjective<PyTree>;
    let s = opt.init(params);
    let p: PyTree = params;
    ({ params: p, state: s } = opt.step(p, s, base));
    const nanGram: KfacObjective<PyTree> = { ...base, ggnGram: (q, vs) => base.ggnGram(q, vs).map((row) => row.map(() => NaN)) };
    const r = opt.step(p, s, nanGram);
    assert.equal(r.info.accepted, false);
    assert.equal(r.params, p);
    assert.ok(r.info.events.some((e) => e.includes('non-finite curvature product')), r.info.events.join('; '));
    assert.equal(r.state.inner.damping, s.inner.damping);
    assert.equal(r.state.inner.faultBoost, 1);
    assert.equal(bits(r.state.inner.previous), bits(s.inner.previous));
  });

  it('sporadic non-finite trial losses (15% of steps) do not compound the damping, and training proceeds as without them', () => {
    // Issue 10, item 4: each rejection multiplied λ by 10 and only the slow LM rule brought it
    // back, so a few faults drove λ to its 1e8 cap and K-FAC stalled.
    const { model, params, batch, loss } = autoencoderProblem();
    const run = (faulty: boolean) => {
      const opt = kfac({ damping: 0.01 });
      const base = kfacObjective(model, loss, batch) as unknown as KfacObjective<PyTree>;
      const rng = new Rng(99);
      let s = opt.init(params);
      let p: PyTree = params;
      let maxDamping = 0;
      let rejected = 0;
      for (let k = 0; k < 80; k++) {
        const fault = faulty && rng.nextFloat() < 0.15;
        const obj: KfacObjective<PyTree> = fault ? { ...base, value: (q) => (q === p ? (base.value as (x: PyTree) => number)(q) : NaN) } : base;
        const r: StepResult<PyTree, KfacState<PyTree>> = opt.step(p, s, obj);
        ({ params: p, state: s } = r);
        if (!r.info.accepted) rejected++;
        maxDamping = Math.max(maxDamping, s.inner.damping * s.inner.faultBoost);
      }
      return { loss: base.valueAndGrad(p)[0], maxDamping, lmDamping: s.inner.damping, rejected };
    };
    const clean = run(false);
    const faulty = run(true);
    assert.ok(faulty.rejected >= 8, `only ${faulty.rejected} faults`);
    // A fault streak of length k raises λ by 10^k at most; 80 steps at 15% rarely see k > 2.
    assert.ok(faulty.maxDamping <= 1000 * clean.maxDamping, `damping ${faulty.maxDamping} vs clean ${clean.maxDamping}`);
    assert.ok(faulty.lmDamping <= 10 * clean.lmDamping, `LM damping ${faulty.lmDamping} vs clean ${clean.lmDamping}`);
    assert.ok(faulty.loss <= 2 * clean.loss, `loss ${faulty.loss} vs clean ${clean.loss}`);
  });

  it('keeps the model momentum μ in [0, maxModelMomentum], re-minimizing α for the clipped μ', () => {
    const rng = new Rng(5);
    const n = 6;
    const R = rng.normal([n, n], f64);
    const H = O.add(matmul(R, R, { transposeB: true }), O.mul(0.1, new Tensor(Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0)), [n, n])));
    const gram = gramFromProduct((v: Tensor) => matmul(H, v));
    let clippedHigh = 0;
    let clippedLow = 0;
    for (let trial = 0; trial < 40; trial++) {
      const g = rng.normal([n], f64);
      const delta = O.mul(g, -1);
      // Half the trials: δ₀ a short step near Δ, which the model wants to repeat several times (μ > 1).
      const noise = rng.normal([n], f64);
      const prev = trial % 2 === 0 ? noise : treeAxpby(0.1, delta, 0.05, noise);
      const free = quadraticModelStep(g, delta, prev, gram);
      const q = quadraticModelStep(g, delta, prev, gram, [0, 0.5]);
      assert.ok(free !== null && q !== null);
      assert.ok(q.mu >= 0 && q.mu <= 0.5);
      if (free.mu >= 0 && free.mu <= 0.5) {
        assert.equal(q.alpha, free.alpha);
        continue;
      }
      if (free.mu > 0.5) clippedHigh++;
      else clippedLow++;
      // α minimizes the model along Δ for the clipped μ: the model's slope along Δ vanishes.
      const step = treeAxpby(q.alpha, delta, q.mu, prev);
      assert.ok(Math.abs(treeVdot(delta, O.add(matmul(H, step), g))) < 1e-9 * (1 + Math.abs(treeVdot(g, delta))));
      assert.ok(q.modelValue >= free.modelValue - 1e-12 && q.modelValue < 0);
    }
    assert.ok(clippedHigh > 0 && clippedLow > 0, `clipped ${clippedHigh} high, ${clippedLow} low`);
  });

  it('decoupled weight decay subtracts wd·θ from the step; coupled L2 (kfacObjective l2) converges to the ridge solution', () => {
    const { model, params, batch } = ridgeProblem();
    const a = kfac({ estimationMode: 'ggn' });
    const b = kfac({ estimationMode: 'ggn', weightDecay: 0.01 });
    const ra = a.step(params, a.init(params), kfacObjective(model, mse(), batch));
    const rb = b.step(params, b.init(params), kfacObjective(model, mse(), batch));
    const want = treeAxpby(1, ra.params, -0.01, params);
    treeLeaves(rb.params).forEach((l, i) => assert.ok(l.toFlatArray().every((v, j) => Math.abs(v - treeLeaves(want)[i].data[j]) < 1e-12)));
    // Ridge: minimize mean((W x + b − y)²) + (η/2)||W̄||²; closed form W̄ = 2c YᵀX̄ (2c X̄ᵀX̄ + ηI)⁻¹, c = 1/(N·D).
    const eta = 0.1;
    const obj = () => kfacObjective(model, mse(), batch, { l2: eta });
    const opt = kfac<typeof params>({ estimationMode: 'ggn' });
    let p = params;
    let s = opt.init(p);
    for (let k = 0; k < 25; k++) ({ params: p, state: s } = opt.step(p, s, obj()));
    const ridge = ridgeSolution(batch, eta);
    const got = [...p.weight.toFlatArray(), ...(p.bias as Tensor).toFlatArray()];
    got.forEach((v, i) => assert.ok(Math.abs(v - ridge[i]) < 1e-8, `parameter ${i}: ${v} vs ${ridge[i]}`));
  });

  it("the 'fixed' rule (ACKTR) clips the step so that its predicted KL (lr·clip)²·gᵀF̆⁻¹g equals klClip", () => {
    const { model, params, batch, loss } = autoencoderProblem();
    const kl = 1e-6;
    const opt = kfac({ stepRule: 'fixed', lr: 1, momentum: 0, klClip: kl, damping: 0.01, seed: 4 });
    const obj = kfacObjective(model, loss, batch);
    const r = opt.step(params, opt.init(params), obj);
    assert.ok(r.info.events.some((e) => e.includes('KL clipping')));
    const [f0, g] = obj.valueAndGrad(params);
    const pre = kfacPreconditioner<PyTree>({ damping: 0.01, seed: 4 });
    const ctx: UpdateContext<PyTree> = { step: 0, loss: f0, objective: obj, counters: { evals: 0, curvatureProducts: 0 }, events: [] };
    const [u] = pre.update(g, pre.init(params), params, ctx);
    const step = treeAxpby(1, r.params, -1, params);
    const predicted = treeVdot(g, step) ** 2 / treeVdot(g, u);
    assert.ok(Math.abs(predicted - kl) < 1e-3 * kl, `predicted KL ${predicted}`);
  });

  it('runs are deterministic and the Kronecker state round-trips through a checkpoint bit for bit', () => {
    const { model, params, batch, loss } = cnnProblem();
    for (const make of [() => kfac({ inverseUpdatePeriod: 2 }), () => ekfac({ inverseUpdatePeriod: 2 })]) {
      type State = OptimizerState<KfacState>;
      const run = (p0: PyTree, s0: State, n: number) => {
        const opt = make();
        let p = p0;
        let s = s0;
        for (let k = 0; k < n; k++) ({ params: p, state: s } = opt.step(p, s, kfacObjective(model as Module<PyTree>, loss, batch)));
        return { p, s };
      };
      const full = run(params, make().init(params), 4);
      const half = run(params, make().init(params), 2);
      const loaded = deserializeTree(serializeTree({ p: half.p, s: half.s })).tree as { p: PyTree; s: State };
      const resumed = run(loaded.p, loaded.s, 2);
      assert.equal(bits(resumed.p), bits(full.p));
      assert.equal(bits(resumed.s), bits(full.s));
      assert.equal(bits(run(params, make().init(params), 4).p), bits(full.p));
    }
  });

  it('untapped parameters (LayerNorm), a layer applied twice and dropout fall back to diagonal blocks and still train', () => {
    const rng = new Rng(7);
    const body = new Sequential([new Linear(6, 8), new LayerNorm(8), new Tanh(), new Dropout(0.1), new Linear(8, 6)]);
    const shared = new Linear(6, 6);
    const params = { body: body.init(rng), shared: shared.init(rng) };
    const model = (p: typeof params, x: Tensor, ctx: ApplyContext) => {
      const h = shared.apply(p.shared, x, childContext(ctx, 'shared'));
      return shared.apply(p.shared, body.apply(p.body, h, childContext(ctx, 'body')), childContext(ctx, 'shared'));
    };
    const x = rng.normal([32, 6]);
    const opt = kfac<typeof params>();
    let p = params;
    let s = opt.init(p);
    const events: string[] = [];
    const losses: number[] = [];
    for (let k = 0; k < 15; k++) {
      const r = opt.step(p, s, kfacObjective(model, mse(), { x, y: x }, { dropoutSeed: 100 + k }));
      events.push(...r.info.events);
      losses.push(r.info.loss);
      ({ params: p, state: s } = r);
    }
    const kinds = Object.fromEntries(s.inner.curvature.blocks.flatMap((b) => b.paths.map((q) => [q, b.kind])));
    assert.deepEqual(kinds, {
      'body.0.weight': 'dense', 'body.0.bias': 'dense', 'body.4.weight': 'dense', 'body.4.bias': 'dense',
      'body.1.weight': 'diagonal', 'body.1.bias': 'diagonal', 'shared.weight': 'diagonal', 'shared.bias': 'diagonal',
    });
    assert.ok(events.some((e) => e.includes("layer 'shared' is applied 2 times")));
    assert.ok(losses[losses.length - 1] < 0.5 * losses[0], `losses ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  });

  it('on a test function with only hvp (Rosenbrock) it steps on the Hessian model and never takes a non-finite step', () => {
    const rosen = objective((x: Tensor) => {
      const [a, b] = [O.slice(x, [0], [1]), O.slice(x, [1], [2])];
      return O.sum(O.add(O.mul(100, O.square(O.sub(b, O.square(a)))), O.square(O.sub(1, a))));
    });
    let x = new Tensor(new Float64Array([-1.2, 1]), [2]);
    const opt = kfac<Tensor>();
    let s = opt.init(x);
    const f0 = rosen.valueAndGrad(x)[0];
    const events: string[] = [];
    for (let k = 0; k < 30; k++) {
      const r = opt.step(x, s, rosen);
      events.push(...r.info.events);
      assert.ok(Number.isFinite(r.info.loss));
      ({ params: x, state: s } = r);
    }
    assert.ok(events.some((e) => e.includes('uses its Hessian (hvp)')));
    assert.ok(rosen.valueAndGrad(x)[0] < 0.5 * f0, `f ${rosen.valueAndGrad(x)[0]} from ${f0}`);
  });

  it('kfacObjective: ggnGram equals vᵢᵀ(G + ηI)vⱼ from ggnvp, statistics survive subsampling, l2 is announced', () => {
    const rng = new Rng(8);
    const { model, params, batch } = autoencoderProblem();
    const obj = kfacObjective(model, mse(), batch, { l2: 0.3, dropoutSeed: 5 });
    assert.equal(obj.l2, 0.3);
    const vs = [0, 1].map(() => treeUnflatten(params, treeLeaves(params).map((l) => rng.normal(l.shape))));
    const gram = obj.ggnGram(params, vs);
    const gv = vs.map((v) => (obj.ggnvp as NonNullable<typeof obj.ggnvp>)(params, v));
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
      const want = treeVdot(vs[i], gv[j]);
      assert.ok(Math.abs(gram[i][j] - want) < 1e-4 * Math.abs(want), `${i},${j}: ${gram[i][j]} vs ${want}`);
    }
    const sub = obj.subsample?.(0.25, 3) as typeof obj;
    const st = sub.kfacStatistics(params, { mode: 'true', rng: new Rng(1) });
    assert.equal(st.layers.length, 4);
    assert.equal(st.layers[0].a.shape[0], 16);
  });

  it('ggnGram of several vectors (one linearized forward pass) equals the one-vector Grams by polarization, in float64', () => {
    const rng = new Rng(9);
    const net = new Sequential([new Linear(5, 7), new Tanh(), new Linear(7, 3)]);
    const params = net.init(rng, f64);
    const batch = { x: rng.normal([12, 5], f64), y: rng.normal([12, 3], f64) };
    const obj = kfacObjective(net, softmaxCrossEntropy(), { x: batch.x, y: new Tensor(new Float64Array(12).map((_, i) => i % 3), [12]) }, { l2: 0.05 });
    const vs = [0, 1, 2].map(() => treeUnflatten(params, treeLeaves(params).map((l) => rng.normal(l.shape, f64))));
    const gram = obj.ggnGram(params, vs);
    const one = (v: typeof params) => obj.ggnGram(params, [v])[0][0];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      // vᵢᵀCvⱼ = (q(vᵢ + vⱼ) − q(vᵢ) − q(vⱼ)) / 2, q(v) = vᵀCv from a single jvp.
      const want = i === j ? one(vs[i]) : 0.5 * (one(treeAxpby(1, vs[i], 1, vs[j])) - one(vs[i]) - one(vs[j]));
      assert.ok(Math.abs(gram[i][j] - want) <= 1e-12 * (one(vs[i]) + one(vs[j])), `${i},${j}: ${gram[i][j]} vs ${want}`);
    }
  });

  it('validates its options and names what is missing', () => {
    assert.throws(() => kfac({ learningRate: 1 } as never), /unknown option 'learningRate'/);
    assert.throws(() => kfac({ lr: 0.1 }), /'lr' applies to stepRule 'fixed' only/);
    assert.throws(() => kfac({ stepRule: 'fixed', adaptDamping: true }), /'adaptDamping' applies to stepRule 'quadraticModel' only/);
    assert.throws(() => kfac({ minDamping: 0 }), /'minDamping' must be a finite number > 0/);
    assert.throws(() => kfac({ damping: 1e-9, minDamping: 1e-8 }), /within \[minDamping, maxDamping\]/);
    assert.throws(() => kfac({ maxModelMomentum: -1 }), /'maxModelMomentum'/);
    assert.throws(() => kfac({ stepRule: 'fixed', maxModelMomentum: 1 }), /'maxModelMomentum' applies to stepRule 'quadraticModel' only/);
    for (const bad of [0, -0.5, 1.5, NaN]) assert.throws(() => kfac({ modelFraction: bad }), /kfac: option 'modelFraction'/);
    assert.throws(() => kfac({ stepRule: 'fixed', modelFraction: 0.5 }), /'modelFraction' applies to stepRule 'quadraticModel' only/);
    assert.throws(() => ekfac({ inverseMethod: 'cholesky' }), /must be 'eigen'/);
    assert.throws(() => kfac({ estimationMode: 'fisher' as never }), /'estimationMode' must be one of 'true', 'empirical', 'ggn'/);
    const f = objective((x: Tensor) => O.sum(O.square(x)));
    const bare: Objective<Tensor> = { valueAndGrad: f.valueAndGrad };
    const x = new Tensor(new Float64Array([1, 2]), [2]);
    const opt = kfac<Tensor>();
    assert.throws(() => opt.step(x, opt.init(x), bare), /needs the objective to provide ggnvp, fisherVp or hvp/);
    const fixed = kfac<Tensor>({ stepRule: 'fixed', lr: 0.1 });
    assert.ok(fixed.step(x, fixed.init(x), bare).info.accepted); // no products needed
    const { model, params, batch, loss } = autoencoderProblem();
    const ggn = kfac({ estimationMode: 'ggn' });
    assert.throws(() => ggn.step(params, ggn.init(params), kfacObjective(model, loss, batch, { maxGgnOutputs: 8 })), /one backward pass per output dimension \(16 > maxGgnOutputs 8\)/);
  });
});

describe('K-FAC training (seeded, steps to a target loss)', () => {
  const sgdGrid = [0.3, 1, 2, 4];
  const adamGrid = [0.01, 0.03, 0.1];
  for (const [name, make, target] of [['MLP autoencoder', autoencoderProblem, 0.01], ['small CNN', cnnProblem, 0.003]] as const) {
    it(`K-FAC and EKFAC reach loss ${target} on the ${name} in under half the steps of SGD at its best learning rate`, () => {
      const { model, params, batch, loss } = make();
      const k = stepsTo(kfac(), model as Module<PyTree>, loss, batch, params, target, 40);
      const e = stepsTo(ekfac(), model as Module<PyTree>, loss, batch, params, target, 40);
      assert.ok(k < 40 && e < 40, `kfac ${k}, ekfac ${e}`);
      const budget = 2 * Math.max(k, e);
      const s = sgdGrid.map((lr) => stepsTo(sgd({ lr }), model as Module<PyTree>, loss, batch, params, target, budget + 1));
      const a = adamGrid.map((lr) => stepsTo(adam({ lr }), model as Module<PyTree>, loss, batch, params, target, budget + 1));
      const report = `kfac ${k}, ekfac ${e}; sgd ${sgdGrid.map((lr, i) => `${lr}:${s[i]}`).join(' ')}; adam ${adamGrid.map((lr, i) => `${lr}:${a[i]}`).join(' ')}`;
      assert.ok(s.every((n) => n > budget), report);
    });
  }

  it('modelFraction: 1 is the default bit for bit; 0.25 computes the quadratic model on a quarter of the batch and still trains', () => {
    const { model, params, batch, loss } = autoencoderProblem();
    const run = (o: Parameters<typeof kfac>[0], steps: number) => {
      const opt = kfac(o);
      let p = params as PyTree;
      let s = opt.init(p);
      const losses: number[] = [];
      for (let k = 0; k < steps; k++) {
        const r = opt.step(p, s, kfacObjective(model as Module<PyTree>, loss, batch));
        losses.push(r.info.loss);
        ({ params: p, state: s } = r);
      }
      return { p, s, losses };
    };
    assert.equal(bits(run({ modelFraction: 1 }, 3).p), bits(run({}, 3).p));
    // On a quarter of the batch, the 2×2 model and so α, μ differ; the step is still a descent step.
    const full = run({}, 1);
    const quarter = run({ modelFraction: 0.25 }, 1);
    assert.notEqual((quarter.s as unknown as { inner: { alpha: number } }).inner.alpha, (full.s as unknown as { inner: { alpha: number } }).inner.alpha);
    const q = run({ modelFraction: 0.25 }, 30);
    assert.ok(q.losses.every(Number.isFinite));
    assert.ok(q.losses[29] < 0.2 * q.losses[0], `loss ${q.losses[0]} -> ${q.losses[29]}`);
  });

  it('kfacPreconditioner composes with other transforms', () => {
    const { model, params, batch, loss } = autoencoderProblem();
    const t = chain(kfacPreconditioner({ damping: 0.01 }), scaleByLearningRate(0.3));
    let p: PyTree = params;
    let s = t.init(p);
    const obj = kfacObjective(model as Module<PyTree>, loss, batch);
    const [f0] = obj.valueAndGrad(p);
    for (let k = 0; k < 10; k++) {
      const [f, g] = obj.valueAndGrad(p);
      const [u, ns] = t.update(g, s, p, { step: k, loss: f, objective: obj, counters: { evals: 0, curvatureProducts: 0 }, events: [] });
      p = treeAxpby(1, p, 1, u);
      s = ns;
    }
    assert.ok(obj.valueAndGrad(p)[0] < 0.5 * f0);
  });
});

function ridgeProblem() {
  const rng = new Rng(31);
  const model = new Linear(4, 2);
  const x = rng.normal([20, 4], f64);
  const y = rng.normal([20, 2], f64);
  return { model, params: model.init(rng, f64), batch: { x, y } };
}

function ridgeSolution(batch: Batch, eta: number): number[] {
  const [n, d] = batch.x.shape;
  const out = batch.y.shape[1];
  const c = 1 / (n * out);
  const xb = new Tensor(new Float64Array(n * (d + 1)), [n, d + 1]);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) xb.data[i * (d + 1) + j] = batch.x.data[i * d + j];
    xb.data[i * (d + 1) + d] = 1;
  }
  const M = O.mul(2 * c, matmul(xb, xb, { transposeA: true }));
  for (let j = 0; j <= d; j++) M.data[j * (d + 1) + j] += eta;
  const rhs = O.mul(2 * c, matmul(xb, batch.y, { transposeA: true })); // [d+1, out]: M W̄ᵀ = rhs
  const L = cholesky(M);
  const wT = solveTriangular(L, solveTriangular(L, rhs, { lower: true }), { lower: true, transpose: true });
  const weight: number[] = [];
  for (let o = 0; o < out; o++) for (let j = 0; j < d; j++) weight.push(wT.data[j * out + o]);
  return [...weight, ...Array.from({ length: out }, (_, o) => wT.data[d * out + o])];
}
