/**
 * Option validation of every registered optimizer. Regression tests for options that were
 * accepted but could not train (issue 10, item 8), and a property-based test: a random options
 * object (valid ranges, boundary values, wrong types, NaN, ±Infinity, unknown keys) either makes
 * construction throw an error that names one of its options, or the optimizer runs a few steps
 * on a convex quadratic with finite parameters and a bounded loss.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Tensor, tensor } from '../tensor/tensor.js';
import * as O from '../autodiff/ops.js';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { objective } from './objective.js';
import { OPTIMIZERS } from './registry.js';
import { adagrad, adam, adamw, rmsprop } from './first-order/baselines.js';
import { hessianFree } from './krylov/hessian-free.js';
import type { Objective, StepResult } from './types.js';

const f64 = { dtype: 'float64' as const };
type Params = { w: Tensor; b: Tensor };
const params0 = (): Params => ({ w: tensor([0.5, -1, 2], undefined, f64), b: tensor([1, -0.5], undefined, f64) });
// Curvatures 1..8 per coordinate, minimum at w = 1, b = -1 (f* = 0).
const curv = tensor([1, 2, 8], undefined, f64);
const quad = (p: Params) => O.add(O.sum(O.mul(curv, O.square(O.sub(p.w, 1)))), O.mul(4, O.sum(O.square(O.add(p.b, 1)))));
const base = objective(quad);
// A sum of squares of affine maps: its Gauss-Newton matrix is its Hessian.
// Its Gauss-Newton diagonal (the expectation of Sophia-G's sampled estimate) is the Hessian's.
const obj = { ...base, ggnvp: base.hvp, gnbDiagonal: () => ({ w: tensor([2, 4, 16], undefined, f64), b: tensor([8, 8], undefined, f64) }) } as Objective<PyTree>;
const lossOf = (p: PyTree) => obj.valueAndGrad(p)[0];

function finiteTree(p: PyTree): boolean {
  return treeLeaves(p).every((l) => l.toFlatArray().every(Number.isFinite));
}

describe('options that were accepted but could not train are rejected (issue 10, item 8)', () => {
  it('eps 0 in Adam, AdamW, RMSprop and Adagrad is an error naming eps (0/0 on a zero gradient entry)', () => {
    for (const make of [adam, adamw, rmsprop, adagrad]) assert.throws(() => make({ eps: 0 }), /option 'eps' must be a finite number > 0/);
  });

  it('Adam with a tiny eps trains when a gradient entry is exactly 0', () => {
    const opt = adam({ eps: 1e-300, lr: 0.1 });
    let p: PyTree = { w: tensor([1, 3], undefined, f64) };
    const f = objective((q: { w: Tensor }) => O.sum(O.square(O.sub(q.w, 1))));
    let s = opt.init(p);
    for (let i = 0; i < 5; i++) {
      const r: StepResult = opt.step(p, s, f as Objective<PyTree>);
      assert.ok(r.info.accepted, `step ${i} rejected: ${r.info.events.join('; ')}`);
      ({ params: p, state: s } = r);
    }
    assert.ok(finiteTree(p) && f.valueAndGrad(p as { w: Tensor })[0] < 4);
  });

  it('Hessian-free damping must be > 0 and lie within [minDamping, maxDamping]', () => {
    assert.throws(() => hessianFree({ damping: 0, minDamping: 0 }), /option 'damping' must be a finite number > 0/);
    assert.throws(() => hessianFree({ minDamping: 0 }), /option 'minDamping' must be a finite number > 0/);
    assert.throws(() => hessianFree({ damping: 1e9 }), /option 'damping' \(1000000000\) must lie within \[minDamping, maxDamping\]/);
    assert.throws(() => hessianFree({ damping: 1e-3, minDamping: 1e-2 }), /option 'damping' \(0\.001\) must lie within/);
    assert.throws(() => hessianFree({ minDamping: 10, maxDamping: 1 }), /option 'minDamping' \(10\) exceeds 'maxDamping' \(1\)/);
    assert.doesNotThrow(() => hessianFree({ damping: 1e9, maxDamping: 1e9 }));
  });
});

/** The option names an optimizer knows, read from its own unknown-option error. */
function knownOptions(id: string): string[] {
  try {
    OPTIMIZERS.get(id)?.create({ notAnOption: 1 });
  } catch (e) {
    const m = /known options: (.*)$/.exec((e as Error).message);
    if (m !== null) return m[1].split(', ');
  }
  throw new Error(`${id}: an unknown option was not rejected with the list of known options`);
}

/** The values a choice option accepts, read from its own error; undefined for other options. */
function choicesOf(id: string, option: string): string[] | undefined {
  try {
    OPTIMIZERS.get(id)?.create({ [option]: '?not a choice?' });
  } catch (e) {
    const m = /must be one of (.*), got/.exec((e as Error).message);
    if (m !== null) return [...m[1].matchAll(/'([^']*)'/g)].map((x) => x[1]);
  }
  return undefined;
}

// Learning rates, weight decay and oLBFGS's first step are free scales (a valid lr of 1e9
// diverges by design), so their valid draws stay where the methods are stable on the quadratic.
const SCALE_OPTIONS: Record<string, [number, number]> = { lr: [1e-4, 0.05], adamLr: [1e-4, 0.05], weightDecay: [0, 1], initialScale: [1e-4, 0.1] };
const boundary = [0, -0, 1e-300, 1e-12, 1e-8, 1e-3, 0.25, 0.5, 0.9, 0.999, 1 - 1e-12, 1, 1.5, 2, 3, 10, 100, 1e8, 1e9, 1e308, -1, -1e-12, 2.5];
const invalid = [NaN, Infinity, -Infinity, '1', 'abc', null, true, false, [], {}, [1]];

function valueArb(id: string, option: string): fc.Arbitrary<unknown> {
  const choices = choicesOf(id, option);
  const bad = fc.constantFrom(...invalid);
  if (choices !== undefined) return fc.oneof({ arbitrary: fc.constantFrom(...choices), weight: 6 }, bad, fc.string({ maxLength: 4 }));
  const scale = SCALE_OPTIONS[option];
  if (scale !== undefined) {
    return fc.oneof({ arbitrary: fc.double({ min: scale[0], max: scale[1], noNaN: true }), weight: 4 }, fc.constantFrom(0, -1, -1e-12), bad,
      fc.constant((k: number) => 0.02 / (1 + k)));
  }
  return fc.oneof(
    { arbitrary: fc.constantFrom<unknown>(...boundary), weight: 6 },
    { arbitrary: fc.integer({ min: -3, max: 300 }), weight: 2 },
    fc.double(), bad,
  );
}

function optionsArb(id: string): fc.Arbitrary<Record<string, unknown>> {
  const known = knownOptions(id).filter((k) => k !== 'structuralDamping' && k !== 'lower' && k !== 'upper');
  const values = new Map(known.map((k) => [k, valueArb(id, k)]));
  // Up to four options at a time, so that a fair share of the objects is valid and trains.
  const knownPart = fc.subarray(known, { maxLength: Math.min(4, known.length) }).chain((keys) => {
    const record: Record<string, fc.Arbitrary<unknown>> = {};
    for (const k of keys) record[k] = values.get(k) as fc.Arbitrary<unknown>;
    return fc.record(record);
  });
  const unknownPart = fc.oneof({ arbitrary: fc.constant(undefined), weight: 7 }, fc.constantFrom('learningRate', 'Lr', 'epsilon', 'dampling', 'momentum_'));
  return fc.tuple(knownPart, unknownPart).map(([o, u]) => (u === undefined ? o : { ...o, [u]: 1 }));
}

for (const [id, entry] of OPTIMIZERS) {
  it(`${id}: a random options object is rejected naming an option, or trains with finite parameters and a bounded loss`, { timeout: 60_000 }, () => {
    const f0 = lossOf(params0());
    fc.assert(fc.property(optionsArb(id), (options) => {
      let opt;
      try {
        opt = entry.create(options);
      } catch (e) {
        assert.ok(e instanceof Error, `threw a non-Error: ${String(e)}`);
        const named = Object.keys(options).some((k) => new RegExp(`\\b${k}\\b`).test(e.message));
        assert.ok(named, `the error names none of the options ${JSON.stringify(Object.keys(options))}: ${e.message}`);
        return;
      }
      let p: PyTree = params0();
      let s = opt.init(p);
      for (let i = 0; i < 4; i++) {
        const r: StepResult = opt.step(p, s, obj);
        if (!r.info.accepted) assert.ok(finiteTree(r.params), 'a rejected step left non-finite parameters');
        ({ params: p, state: s } = r);
        assert.ok(finiteTree(p), `non-finite parameters after step ${i}`);
      }
      // The stated bound: four steps never take the loss above 100 times its start.
      const f = lossOf(p);
      assert.ok(Number.isFinite(f) && f <= 100 * f0, `loss ${f} after 4 steps from ${f0}`);
    }), { seed: 0x5eed + id.length, numRuns: 120 });
  });
}
