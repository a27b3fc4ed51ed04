/**
 * K-FAC's cheaper step (issue #13): `statisticsFraction` (the factor statistics on a random
 * sub-batch) against factors computed by hand from that sub-batch in float64, fraction 1 against
 * the default path bit for bit, and `newPointEvaluation: 'adaptation'` against 'always'.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { treeLeaves, type PyTree } from '../../autodiff/pytree.js';
import { Linear, Tanh } from '../../nn/layers.js';
import { Sequential } from '../../nn/module.js';
import { mse } from '../../nn/losses.js';
import { assertClose } from '../../testing/helpers.js';
import { statisticsSubset, type EstimatorState } from '../../curvature/kronecker-estimator.js';
import type { KroneckerState } from '../../curvature/kronecker.js';
import { kfacObjective } from './kfac-objective.js';
import { modelObjective } from '../objective.js';
import { distributedObjective } from '../../distributed/objective.js';
import { localCommunicator } from '../../distributed/communicator.js';
import { kfac, kfacPreconditioner, type KfacOptions } from './kfac.js';
import { ekfac } from './ekfac.js';
import type { OptimizerState } from '../types.js';

const f64 = { dtype: 'float64' as const };

function bits(tree: PyTree): string {
  return treeLeaves(tree).map((l) => Buffer.from(l.data.buffer, l.data.byteOffset, l.data.byteLength).toString('hex')).join('|');
}

/** A 3-4-2 tanh net on 10 examples, float64. */
function tiny() {
  const rng = new Rng(11);
  const net = new Sequential([new Linear(3, 4), new Tanh(), new Linear(4, 2)]);
  const params = net.init(rng, f64) as { weight: Tensor; bias: Tensor }[];
  return { net, params, batch: { x: rng.normal([10, 3], f64), y: rng.normal([10, 2], f64) } };
}

const blocksOf = (s: OptimizerState) => ((s.inner as { curvature: EstimatorState }).curvature.blocks as KroneckerState[]);

/** ā āᵀ summed over rows, each row scaled by `scale`: a (d+1)×(d+1) matrix, row-major. */
function outer(rows: number[][], scale: number): number[] {
  const d = rows[0].length;
  const m = new Array<number>(d * d).fill(0);
  for (const r of rows) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) m[i * d + j] += scale * r[i] * r[j];
  return m;
}

/**
 * The factors of both layers on the examples `idx`, by hand: forward z = W₂ tanh(W₁x + b₁) + b₂,
 * per-example output gradient ∂L_i/∂z_i = 2c(z_i − y_i) (mse: L_i = c||z_i − y_i||², c = 1/D for a
 * mean, 1 for a sum), back
 * through W₂ and tanh'. The objective is w_N Σ_i L_i; on k of N examples
 * A = (1/k) Σ ā āᵀ and G = (w_N·N/k) Σ ∂L ∂Lᵀ (for a mean, w_N·N = 1).
 */
function handFactors(pr: ReturnType<typeof tiny>, idx: readonly number[], wN: number, c: number) {
  const [l1, l2] = [pr.params[0], pr.params[2]];
  const N = pr.batch.x.shape[0];
  const k = idx.length;
  const a1: number[][] = [];
  const a2: number[][] = [];
  const g1: number[][] = [];
  const g2: number[][] = [];
  for (const i of idx) {
    const x = [0, 1, 2].map((j) => pr.batch.x.data[i * 3 + j]);
    const s1 = [0, 1, 2, 3].map((o) => l1.bias.data[o] + x.reduce((acc, xj, j) => acc + l1.weight.data[o * 3 + j] * xj, 0));
    const h = s1.map(Math.tanh);
    const z = [0, 1].map((o) => l2.bias.data[o] + h.reduce((acc, hj, j) => acc + l2.weight.data[o * 4 + j] * hj, 0));
    const dz = z.map((zo, o) => 2 * c * (zo - pr.batch.y.data[i * 2 + o]));
    const dh = [0, 1, 2, 3].map((j) => dz.reduce((acc, d, o) => acc + l2.weight.data[o * 4 + j] * d, 0) * (1 - h[j] * h[j]));
    a1.push([...x, 1]);
    a2.push([...h, 1]);
    g1.push(dh);
    g2.push(dz);
  }
  const r = (wN * N) / k;
  return { A1: outer(a1, 1 / k), G1: outer(g1, r), A2: outer(a2, 1 / k), G2: outer(g2, r) };
}

describe('K-FAC statisticsFraction', () => {
  for (const reduction of ['mean', 'sum'] as const) {
    it(`a sub-batch statistics step's factors equal the ones computed by hand from that sub-batch (float64, ${reduction} loss)`, () => {
      const pr = tiny();
      const fraction = 0.4; // 4 of 10 examples
      // The first statistics step folds its estimate in with weight 1 (ε₁ = 0): the state's A, G are that estimate.
      const opt = kfac({ statisticsFraction: fraction, estimationMode: 'empirical', seed: 3 });
      const r = opt.step(pr.params as PyTree, opt.init(pr.params as PyTree), kfacObjective(pr.net, mse({ reduction }), pr.batch));
      assert.ok(r.info.accepted, r.info.events.join('; '));
      // The request of step 0 (see statisticsRequest): seed·65537 + 104729·(step + 1).
      const idx = statisticsSubset(10, { fraction, seed: 3 * 65537 + 104729 });
      assert.equal(idx?.length, 4);
      const [wN, c] = reduction === 'mean' ? [1 / 10, 1 / 2] : [1, 1];
      const hand = handFactors(pr, idx as number[], wN, c);
      const [b1, b2] = blocksOf(r.state);
      assertClose(b1.A.data, hand.A1, { rtol: 1e-12, atol: 1e-14, msg: 'A of layer 1' });
      assertClose(b1.G.data, hand.G1, { rtol: 1e-12, atol: 1e-14, msg: 'G of layer 1' });
      assertClose(b2.A.data, hand.A2, { rtol: 1e-12, atol: 1e-14, msg: 'A of layer 2' });
      assertClose(b2.G.data, hand.G2, { rtol: 1e-12, atol: 1e-14, msg: 'G of layer 2' });
      // And not the whole batch's (the oracle tells them apart).
      const all = handFactors(pr, [...Array(10).keys()], wN, c);
      assert.ok(Math.abs(b1.A.data[0] - all.A1[0]) > 1e-6);
    });
  }

  it("'true' mode on a sub-batch is unbiased: the mean over many sub-batches' G approaches the whole batch's", () => {
    // Sampled targets and sub-batches both average out: E[G_sub] = G_full (within Monte Carlo error).
    const pr = tiny();
    const obj = kfacObjective(pr.net, mse(), pr.batch);
    const trials = 400;
    const mean = (fraction: number) => {
      const acc = new Float64Array(16);
      for (let t = 0; t < trials; t++) {
        const s = obj.kfacStatistics(pr.params as PyTree[], { mode: 'true', rng: new Rng(t), subset: { fraction, seed: 1000 + t } });
        const g = s.layers[0].g[0];
        for (let i = 0; i < g.shape[0]; i++) for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) acc[a * 4 + b] += (g.data[i * 4 + a] * g.data[i * 4 + b]) / trials;
      }
      return acc;
    };
    const full = mean(1);
    const sub = mean(0.3);
    const scale = Math.max(...full.map(Math.abs));
    assertClose(sub, full, { rtol: 0, atol: 0.15 * scale, msg: 'E[G] on 3 of 10 examples vs all 10' });
  });

  it('fraction 1 (and one that rounds to the whole batch) is the default path bit for bit, for K-FAC and EKFAC', () => {
    const pr = tiny();
    for (const make of [kfac, ekfac]) {
      const run = (o: KfacOptions) => {
        const opt = make(o);
        let p = pr.params as PyTree;
        let s = opt.init(p);
        for (let k = 0; k < 4; k++) {
          const r = opt.step(p, s, kfacObjective(pr.net, mse(), pr.batch));
          ({ params: p, state: s } = r);
        }
        return { p, s };
      };
      const base = run({ inverseUpdatePeriod: 2 });
      assert.equal(bits(run({ inverseUpdatePeriod: 2, statisticsFraction: 1 }).p), bits(base.p));
      assert.equal(bits(run({ inverseUpdatePeriod: 2, statisticsFraction: 0.99 }).p), bits(base.p)); // round(9.9) = 10
      assert.notEqual(bits(run({ inverseUpdatePeriod: 2, statisticsFraction: 0.5 }).p), bits(base.p));
    }
  });

  it('trains on a sub-batch: a quarter of the batch for the statistics and the model still cuts the loss', () => {
    const rng = new Rng(5);
    const net = new Sequential([new Linear(6, 8), new Tanh(), new Linear(8, 6)]);
    const x = rng.normal([64, 6]);
    let p = net.init(new Rng(6)) as PyTree[];
    const opt = kfac<PyTree[]>({ statisticsFraction: 0.25, modelFraction: 0.25 });
    let s = opt.init(p);
    const losses: number[] = [];
    for (let k = 0; k < 30; k++) {
      const r = opt.step(p, s, kfacObjective(net, mse(), { x, y: x }));
      assert.ok(r.info.accepted, r.info.events.join('; '));
      losses.push(r.info.loss);
      ({ params: p, state: s } = r);
    }
    assert.ok(losses[29] < 0.3 * losses[0], `loss ${losses[0]} -> ${losses[29]}`);
  });

  it('validates the option: 0, negative, above 1, NaN and non-numbers name statisticsFraction', () => {
    for (const bad of [0, -0.25, 1.5, NaN, Infinity, '0.5', true]) {
      assert.throws(() => kfac({ statisticsFraction: bad as never }), /kfac: option 'statisticsFraction'/);
      assert.throws(() => ekfac({ statisticsFraction: bad as never }), /ekfac: option 'statisticsFraction'/);
      assert.throws(() => kfacPreconditioner({ statisticsFraction: bad as never }), /kfacPreconditioner: option 'statisticsFraction'/);
    }
    assert.throws(() => statisticsSubset(10, { fraction: 0, seed: 1 }), /'statisticsFraction'/);
  });

  it('is refused on a data-parallel objective, naming the option', () => {
    const pr = tiny();
    // Rank 0 of two whose collectives leave its values as they are (the refusal comes before any).
    const twoRanks = { ...localCommunicator, size: 2, rank: 0 };
    const dist = distributedObjective(modelObjective(pr.net, mse(), pr.batch), { communicator: twoRanks, examples: 10, total: 20, offset: 0 });
    const opt = kfac({ statisticsFraction: 0.5 });
    const s0 = opt.init(pr.params as PyTree);
    assert.throws(() => opt.step(pr.params as PyTree, s0, dist as never), /option 'statisticsFraction' below 1 is not supported on a data-parallel objective/);
  });
});

describe("K-FAC newPointEvaluation: 'adaptation'", () => {
  it("takes the same steps as 'always' bit for bit, evaluating the new point only on the T₁-th steps", () => {
    const pr = tiny();
    const run = (o: KfacOptions) => {
      const opt = kfac(o);
      let p = pr.params as PyTree;
      let s = opt.init(p);
      const evals: number[] = [];
      const rho: number[] = [];
      for (let k = 0; k < 7; k++) {
        const r = opt.step(p, s, kfacObjective(pr.net, mse(), pr.batch));
        assert.ok(r.info.accepted, r.info.events.join('; '));
        evals.push(r.info.evals);
        ({ params: p, state: s } = r);
        rho.push((s.inner as { rho: number }).rho);
      }
      return { p, s, evals, rho };
    };
    const always = run({ dampingAdaptationPeriod: 3 });
    const lazy = run({ dampingAdaptationPeriod: 3, newPointEvaluation: 'adaptation' });
    assert.equal(bits(lazy.p), bits(always.p));
    assert.equal((lazy.s.inner as { damping: number }).damping, (always.s.inner as { damping: number }).damping);
    // Steps 2 and 5 adapt λ ((k + 1) % 3 = 0) and read ρ; the others skip one evaluation.
    assert.deepEqual(lazy.evals.map((e, k) => always.evals[k] - e), [1, 1, 0, 1, 1, 0, 1]);
    assert.deepEqual(lazy.rho.map((r) => Number.isNaN(r)), [true, true, false, true, true, false, true]);
    assert.equal(lazy.rho[2], always.rho[2]);
    assert.throws(() => kfac({ newPointEvaluation: 'sometimes' as never }), /kfac: option 'newPointEvaluation' must be one of 'always', 'adaptation'/);
  });
});

describe("K-FAC newPointEvaluation: 'modelBatch' (the sub-batch model's guard)", () => {
  const dampingOf = (s: OptimizerState) => (s.inner as { damping: number }).damping;
  const run = (o: KfacOptions, steps: number, objectiveOf: () => PyTree = () => kfacObjective(tiny().net, mse(), tiny().batch) as never) => {
    const opt = kfac(o);
    let p = tiny().params as PyTree;
    let s = opt.init(p);
    const infos = [];
    for (let k = 0; k < steps; k++) {
      const r = opt.step(p, s, objectiveOf() as never);
      infos.push(r.info);
      ({ params: p, state: s } = r);
    }
    return { p, s, infos };
  };

  it("with the model on the whole batch takes the same steps as 'always' bit for bit while the loss falls", () => {
    const always = run({ dampingAdaptationPeriod: 3 }, 7);
    const guarded = run({ dampingAdaptationPeriod: 3, newPointEvaluation: 'modelBatch' }, 7);
    for (const i of guarded.infos) assert.ok(i.accepted, i.events.join('; '));
    assert.equal(bits(guarded.p), bits(always.p));
    assert.equal(dampingOf(guarded.s), dampingOf(always.s));
    assert.deepEqual(guarded.infos.map((i) => i.evals), always.infos.map((i) => i.evals));
  });

  it('reads ρ from the model sub-batch: a step is taken only when it lowers the loss on those examples', () => {
    const pr = tiny();
    const opt = kfac({ modelFraction: 0.5, newPointEvaluation: 'modelBatch' });
    let p = pr.params as PyTree;
    let s = opt.init(p);
    let taken = 0;
    for (let k = 0; k < 8; k++) {
      const obj = kfacObjective(pr.net, mse(), pr.batch);
      const r = opt.step(p, s, obj);
      // The sub-batch the step used (kfac.ts: seed 7919·(k + 1)); the step evaluates h twice on it.
      const sub = obj.subsample?.(0.5, 7919 * (k + 1)) as typeof obj;
      const h = sub.value as (q: PyTree) => number;
      assert.equal(r.info.evals, 3);
      const rho = (r.state.inner as { rho: number }).rho;
      if (r.info.accepted) {
        taken++;
        assert.ok(h(r.params) < h(p) && rho > 0, `step ${k}: ρ ${rho}`);
      } else {
        assert.equal(bits(r.params), bits(p));
        assert.ok(rho <= 0, `step ${k}: ρ ${rho}`);
      }
      ({ params: p, state: s } = r);
    }
    assert.ok(taken >= 4, `${taken} of 8 steps taken`);
  });

  it('rejects a step chosen from a corrupted sub-batch model and leaves the parameters unchanged', () => {
    // The sub-batch's Gram underrates the curvature a millionfold: α is far too large.
    const corrupted = () => {
      const pr = tiny();
      const obj = kfacObjective(pr.net, mse(), pr.batch);
      return {
        ...obj,
        subsample: (fraction: number, seed: number) => {
          const sub = obj.subsample?.(fraction, seed) as typeof obj;
          return { ...sub, ggnGram: (q: never, vs: readonly never[]) => sub.ggnGram(q, vs).map((row) => row.map((x) => x * 1e-6)) };
        },
      } as never;
    };
    const start = tiny().params as PyTree;
    const loss0 = (kfacObjective(tiny().net, mse(), tiny().batch).value as (q: PyTree) => number)(start);
    // Unguarded ('adaptation': step 0 is taken unevaluated), the corrupted step is taken and the loss rises.
    const blind = run({ modelFraction: 0.5, newPointEvaluation: 'adaptation' }, 1, corrupted);
    assert.ok(blind.infos[0].accepted);
    assert.ok((kfacObjective(tiny().net, mse(), tiny().batch).value as (q: PyTree) => number)(blind.p) > 10 * loss0);
    const guarded = run({ modelFraction: 0.5, newPointEvaluation: 'modelBatch' }, 1, corrupted);
    assert.equal(guarded.infos[0].accepted, false);
    assert.match(guarded.infos[0].events.join('; '), /raised the loss on the model's sub-batch/);
    assert.equal(bits(guarded.p), bits(start));
    assert.ok(dampingOf(guarded.s) > 1e-3, `damping ${dampingOf(guarded.s)}`);
    assert.equal(treeLeaves((guarded.s.inner as { previous: PyTree }).previous).every((l) => l.data.every((x) => x === 0)), true);
  });

  it("is refused with stepRule 'fixed', naming the option", () => {
    assert.throws(() => kfac({ stepRule: 'fixed', newPointEvaluation: 'modelBatch' }), /kfac: option 'newPointEvaluation' 'modelBatch' applies to stepRule 'quadraticModel' only/);
  });
});
