/**
 * Fault-injection campaign (issue 10): every registered optimizer (the registry is iterated, so
 * a method registered later is covered without editing this file) trains a small classifier
 * while non-finite values are injected at seeded random steps, at rates of 5% and 20%. A faulty
 * step draws one kind of fault — the loss, the gradient, a curvature product (hvp, ggnvp,
 * fisherVp, K-FAC's Gram matrix, the Fisher diagonal) or K-FAC's layer statistics (the taps) —
 * and poisons each call of that kind with probability 1/2 (NaN or ±Infinity in one entry, or
 * the value itself), so a fault may hit the step's first evaluation, a trial point, or one
 * product among many. Asserted after every step: every parameter leaf and every tensor and
 * number of the optimizer state is finite (the scalars documented as NaN markers, a model
 * coefficient or ratio not computed yet, excepted), a rejected step left the parameters
 * untouched and said so in `info.events`; and at the end: steps kept being accepted after the
 * faults, and the final loss is within the stated factor of the clean run's.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { Linear, Tanh } from '../nn/layers.js';
import { Sequential } from '../nn/module.js';
import { softmaxCrossEntropy } from '../nn/losses.js';
import { twoSpirals } from '../data/synthetic.js';
import { kfacObjective, type KfacObjective } from './kronecker/kfac-objective.js';
import { OPTIMIZERS } from './registry.js';
import type { Objective, Optimizer, OptimizerState } from './types.js';

const STEPS = 60;
const KINDS = ['loss', 'gradient', 'curvature', 'statistics'] as const;
type FaultKind = (typeof KINDS)[number];

/**
 * The factor on the final loss. A fault costs a method at most its own step and, for damped
 * methods, a step or two at raised damping: at 20% about 2·0.2 = 40% of the steps do no or
 * little work. So the faulty run's final loss is compared with the clean run's loss after 50% of
 * the steps (a margin over 40%), times 1.5 for the different path the run then takes. The test
 * also checks that this comparison has teeth: the clean loss at 50% must be below the loss at
 * step 0, so a run that stalled after the first fault fails.
 */
const LOSS_FACTOR = 1.5;

/** Options that make each method progress on this full-batch problem (first-order: a step size). */
const OPTIONS: Record<string, Record<string, unknown>> = {
  sgd: { lr: 0.5 },
  momentum: { lr: 0.1, momentum: 0.9 },
  adam: { lr: 0.01 },
  adamw: { lr: 0.01, weightDecay: 0 },
  rmsprop: { lr: 0.01 },
  adagrad: { lr: 0.1 },
  olbfgs: { lr: 0.5 },
  'hessian-free': { cgMaxIter: 30 },
};

function problem() {
  const data = twoSpirals({ n: 96, noise: 0.05, seed: 3 });
  const x = new Tensor(Float64Array.from(data.x.toFlatArray()), data.x.shape);
  const model = new Sequential([new Linear(2, 12), new Tanh(), new Linear(12, 12), new Tanh(), new Linear(12, 2)]);
  const loss = softmaxCrossEntropy();
  const y = new Tensor(Float64Array.from(data.y.toFlatArray()), data.y.shape);
  const objective = kfacObjective(model, loss, { x, y }) as unknown as KfacObjective<PyTree>;
  return { params: model.init(new Rng(4), { dtype: 'float64' }) as PyTree, objective };
}

/** A copy of `t` with one entry (or, when `all`, every entry) replaced by a non-finite value. */
function poisonTensor(t: Tensor, rng: Rng, all = false): Tensor {
  const bad = [NaN, Infinity, -Infinity][Math.floor(rng.nextFloat() * 3)];
  const c = t.clone();
  if (all) c.data.fill(bad);
  else if (c.size > 0) c.data[Math.floor(rng.nextFloat() * c.size)] = bad;
  return c;
}

function poisonTree<P extends PyTree>(tree: P, rng: Rng): P {
  const leaves = treeLeaves(tree);
  const k = Math.floor(rng.nextFloat() * leaves.length);
  return treeUnflatten(tree, leaves.map((l, i) => (i === k ? poisonTensor(l, rng) : l))) as P;
}

/** `base` with calls of `kind` poisoned with probability 1/2 each (see the module comment). */
function faulty(base: KfacObjective<PyTree>, kind: FaultKind, rng: Rng): KfacObjective<PyTree> {
  const hit = () => rng.nextFloat() < 0.5;
  const badNumber = () => [NaN, Infinity, -Infinity][Math.floor(rng.nextFloat() * 3)];
  const out: KfacObjective<PyTree> = { ...base };
  if (kind === 'loss') {
    out.valueAndGrad = (p) => { const [v, g] = base.valueAndGrad(p); return [hit() ? badNumber() : v, g]; };
    const value = base.value;
    if (value) out.value = (p) => (hit() ? badNumber() : value(p));
  } else if (kind === 'gradient') {
    out.valueAndGrad = (p) => { const [v, g] = base.valueAndGrad(p); return [v, hit() ? poisonTree(g, rng) : g]; };
  } else if (kind === 'curvature') {
    for (const k of ['hvp', 'ggnvp', 'fisherVp'] as const) {
      const product = base[k];
      if (product) out[k] = (p, v) => { const r = product(p, v); return hit() ? poisonTree(r, rng) : r; };
    }
    out.ggnGram = (p, vs) => base.ggnGram(p, vs).map((row) => row.map((x) => (hit() ? badNumber() : x)));
    const diag = base.diagEmpiricalFisher;
    if (diag) out.diagEmpiricalFisher = (p) => { const r = diag(p); return hit() ? poisonTree(r, rng) : r; };
  } else {
    out.kfacStatistics = (p, o) => {
      const s = base.kfacStatistics(p, o);
      if (!hit()) return s;
      const layers = s.layers.map((l) => (rng.nextFloat() < 0.5 ? { ...l, a: poisonTensor(l.a, rng) } : { ...l, g: l.g.map((t) => poisonTensor(t, rng)) }));
      return { layers, diagonal: rng.nextFloat() < 0.5 ? poisonTree(s.diagonal, rng) : s.diagonal };
    };
  }
  const sub = base.subsample;
  if (sub) out.subsample = (fraction, seed) => faulty(sub(fraction, seed) as KfacObjective<PyTree>, kind, rng);
  return out;
}

/** Scalars that are NaN by design: a coefficient or ratio not computed yet (K-FAC's α, μ, ρ; HF's ρ). */
const NAN_MARKERS = new Set(['alpha', 'mu', 'rho']);

/** Paths of non-finite values in a state (tensors and numbers, at any depth). */
function nonFinite(x: unknown, path: string, out: string[]): string[] {
  if (x instanceof Tensor) {
    if (!x.toFlatArray().every(Number.isFinite)) out.push(path);
  } else if (typeof x === 'number') {
    const key = path.slice(path.lastIndexOf('.') + 1);
    if (!Number.isFinite(x) && !(Number.isNaN(x) && NAN_MARKERS.has(key))) out.push(`${path} = ${x}`);
  } else if (Array.isArray(x)) {
    x.forEach((v, i) => nonFinite(v, `${path}[${i}]`, out));
  } else if (x !== null && typeof x === 'object') {
    for (const [k, v] of Object.entries(x)) nonFinite(v, `${path}.${k}`, out);
  }
  return out;
}

function bits(tree: PyTree): string {
  return treeLeaves(tree).map((l) => Buffer.from(l.data.buffer, l.data.byteOffset, l.data.byteLength).toString('hex')).join('|');
}

interface Run { losses: number[]; accepted: boolean[]; faults: (FaultKind | null)[] }

function train(opt: Optimizer<PyTree, PyTree>, rate: number, seed: number): Run {
  const { params, objective } = problem();
  const rng = new Rng(seed);
  let p = params;
  let s: OptimizerState = opt.init(p);
  const losses = [objective.valueAndGrad(p)[0]];
  const accepted: boolean[] = [];
  const faults: (FaultKind | null)[] = [];
  for (let k = 0; k < STEPS; k++) {
    const kind = rng.nextFloat() < rate ? KINDS[Math.floor(rng.nextFloat() * KINDS.length)] : null;
    const obj: Objective<PyTree> = kind === null ? objective : faulty(objective, kind, rng);
    const before = bits(p);
    const r = opt.step(p, s, obj);
    const where = `${opt.name}, step ${k}${kind ? ` (${kind} fault)` : ''}`;
    const badParams = treeLeaves(r.params).filter((l) => !l.toFlatArray().every(Number.isFinite));
    assert.equal(badParams.length, 0, `${where}: non-finite parameters`);
    const badState = nonFinite(r.state, 'state', []);
    assert.deepEqual(badState, [], `${where}: non-finite state ${badState.join(', ')}`);
    if (!r.info.accepted) {
      assert.equal(bits(r.params), before, `${where}: a rejected step moved the parameters`);
      assert.ok(r.info.events.length > 0, `${where}: a rejected step without an event`);
    }
    ({ params: p, state: s } = r);
    accepted.push(r.info.accepted);
    faults.push(kind);
    losses.push(objective.valueAndGrad(p)[0]);
  }
  return { losses, accepted, faults };
}

for (const [id, entry] of OPTIMIZERS) {
  describe(`fault injection: ${id}`, () => {
    const make = () => entry.create(OPTIONS[id] ?? {});
    let cleanRun: Run | undefined;
    const cleanOnce = () => (cleanRun ??= train(make(), 0, 1));

    it('trains on the clean problem (the baseline the faulty runs are held to)', () => {
      const clean = cleanOnce();
      assert.ok(clean.accepted.every((a) => a), `${id}: clean steps rejected`);
      assert.ok(clean.losses[STEPS / 2] < clean.losses[0], `${id}: no progress in ${STEPS / 2} clean steps`);
    });

    for (const rate of [0.05, 0.2]) {
      it(`with ${100 * rate}% of steps faulty: parameters and state stay finite, steps keep being accepted, final loss within ${LOSS_FACTOR}× the clean run's at half the steps`, () => {
        const clean = cleanOnce();
        const run = train(make(), rate, rate === 0.05 ? 17 : 29);
        const firstFault = run.faults.findIndex((f) => f !== null);
        assert.ok(firstFault >= 0 && firstFault < STEPS - 10, `${id}: no fault injected early enough`);
        if (rate === 0.2) for (const kind of KINDS) assert.ok(run.faults.includes(kind), `${id}: no ${kind} fault drawn`);
        const after = run.accepted.slice(firstFault + 1);
        const acceptedAfter = after.filter((a) => a).length;
        assert.ok(acceptedAfter >= 0.5 * after.length, `${id}: only ${acceptedAfter} of ${after.length} steps accepted after the first fault`);
        assert.ok(run.accepted.slice(-5).some((a) => a), `${id}: none of the last 5 steps accepted`);
        const final = run.losses[STEPS];
        const reference = clean.losses[STEPS / 2];
        assert.ok(final <= LOSS_FACTOR * reference, `${id}: final loss ${final} vs clean ${clean.losses[STEPS]} (at half the steps ${reference})`);
      });
    }
  });
}
