/**
 * Switching hybrids: a switched run equals its two phases run separately (bit for bit), the
 * predicate form switches after the first step it accepts and never asks again, the state
 * round-trips through a checkpoint on either side of the switch, and bad options or a throwing
 * predicate fail with errors naming the option or the step.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, type Tensor } from '../../tensor/tensor.js';
import * as O from '../../autodiff/ops.js';
import { treeLeaves, type PyTree } from '../../autodiff/pytree.js';
import { deserializeTree, serializeTree } from '../../nn/checkpoint.js';
import { objective } from '../objective.js';
import { adam } from '../first-order/baselines.js';
import { lbfgs } from '../quasi-newton/lbfgs.js';
import type { Objective, Optimizer, OptimizerState, StepInfo } from '../types.js';
import { switching } from './switching.js';
import { adamLbfgs } from './adam-lbfgs.js';

const f64 = { dtype: 'float64' as const };
type P = { x: Tensor; y: Tensor };
const start = (): P => ({ x: tensor([-1.2, 0.5], undefined, f64), y: tensor([1, -0.3], undefined, f64) });
// Two Rosenbrock valleys: curved enough that L-BFGS's history and line search matter.
const rosen = objective((p: P) => O.add(O.sum(O.square(O.sub(1, p.x))), O.mul(10, O.sum(O.square(O.sub(p.y, O.square(p.x)))))));
const obj = rosen as unknown as Objective<PyTree>;

function bits(tree: PyTree): string {
  return treeLeaves(tree).map((l) => Buffer.from(l.data.buffer, l.data.byteOffset, l.data.byteLength).toString('hex')).join('|');
}

function run(opt: Optimizer, p0: PyTree, steps: number, state?: OptimizerState): { p: PyTree; s: OptimizerState; infos: StepInfo[] } {
  let p = p0;
  let s = state ?? opt.init(p);
  const infos: StepInfo[] = [];
  for (let i = 0; i < steps; i++) {
    const r = opt.step(p, s, obj);
    ({ params: p, state: s } = r);
    infos.push(r.info);
  }
  return { p, s, infos };
}

describe('switching', () => {
  it('after N steps equals N steps of the first optimizer then the second from those parameters, bit for bit', () => {
    const n = 4;
    const hybrid = run(switching(adam({ lr: 0.05 }), lbfgs({ lineSearch: 'strong-wolfe' }), { after: n }), start(), 9);
    const a = run(adam({ lr: 0.05 }), start(), n);
    const b = run(lbfgs({ lineSearch: 'strong-wolfe' }), a.p, 9 - n);
    assert.equal(bits(hybrid.p), bits(b.p));
    assert.deepEqual(hybrid.infos.map((i) => i.loss), [...a.infos, ...b.infos].map((i) => i.loss));
    const inner = hybrid.s.inner as { phase: number; switchedAt: number; second: OptimizerState };
    assert.equal(inner.phase, 1);
    assert.equal(inner.switchedAt, n);
    assert.equal(bits(inner.second), bits(b.s));
    // The switch is reported once, on step n (index n − 1).
    const switched = hybrid.infos.map((i, k) => (i.events.some((e) => e.startsWith('switched to lbfgs after 4 steps')) ? k : -1)).filter((k) => k >= 0);
    assert.deepEqual(switched, [n - 1]);
    // L-BFGS does what Adam at this rate cannot in 5 steps: the loss falls far below Adam's.
    const adamOnly = run(adam({ lr: 0.05 }), start(), 9);
    assert.ok(rosen.valueAndGrad(hybrid.p as P)[0] < 0.5 * rosen.valueAndGrad(adamOnly.p as P)[0]);
  });

  it('after 0 starts with the second optimizer: the same run as the second alone', () => {
    const h = run(switching(adam(), lbfgs(), { after: 0 }), start(), 5);
    const l = run(lbfgs(), start(), 5);
    assert.equal(bits(h.p), bits(l.p));
  });

  it('a predicate switches after the first step it accepts, is never asked again, and sees each step report', () => {
    const threshold = 3;
    const calls: number[] = [];
    const pred = (info: StepInfo, step: number): boolean => {
      calls.push(step);
      assert.ok(Number.isFinite(info.loss) && info.accepted);
      return info.loss < threshold;
    };
    const hybrid = run(switching(adam({ lr: 0.1 }), lbfgs(), { after: pred }), start(), 30);
    // Oracle: Adam alone; the switch follows the first step whose starting loss is below the threshold.
    const adamOnly = run(adam({ lr: 0.1 }), start(), 30);
    const k = adamOnly.infos.findIndex((i) => i.loss < threshold) + 1;
    assert.ok(k > 1 && k < 30, `the test needs a switch inside the run (k = ${k})`);
    assert.deepEqual(calls, Array.from({ length: k }, (_, i) => i + 1));
    const a = run(adam({ lr: 0.1 }), start(), k);
    const b = run(lbfgs(), a.p, 30 - k);
    assert.equal(bits(hybrid.p), bits(b.p));
    assert.equal((hybrid.s.inner as { switchedAt: number }).switchedAt, k);
  });

  it('state saves and loads before and after the switch, and the resumed run matches the uninterrupted one bit for bit', () => {
    const make = () => switching(adam({ lr: 0.05 }), lbfgs(), { after: 3 });
    const whole = run(make(), start(), 8);
    for (const cut of [2, 3, 5]) {
      const part = run(make(), start(), cut);
      const loaded = deserializeTree(serializeTree({ params: part.p, state: part.s })).tree as { params: PyTree; state: OptimizerState };
      const rest = run(make(), loaded.params, 8 - cut, loaded.state);
      assert.equal(bits(rest.p), bits(whole.p), `resumed after ${cut} steps`);
      assert.equal(bits(rest.s), bits(whole.s), `state resumed after ${cut} steps`);
      assert.equal((rest.s.inner as { phase: number }).phase, 1);
    }
  });

  it('a step the driver rejects (non-finite loss) changes neither the state nor the switch count', () => {
    const opt = switching(adam(), lbfgs(), { after: 1 });
    const s = opt.init(start());
    const bad: Objective<PyTree> = { valueAndGrad: (q) => [NaN, q] };
    const r = opt.step(start(), s, bad);
    assert.equal(r.info.accepted, false);
    assert.equal(r.state, s);
  });

  it('asks for the full batch only in a phase marked fullBatch', () => {
    const opt = adamLbfgs({ after: 2 });
    let p: PyTree = start();
    let s = opt.init(p);
    const wants: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      wants.push(opt.fullBatch?.(s) === true);
      ({ params: p, state: s } = opt.step(p, s, obj));
    }
    assert.deepEqual(wants, [false, false, true, true]);
  });

  it('bad options and a throwing predicate fail with errors naming the option or the step', () => {
    assert.throws(() => switching(adam(), lbfgs(), { after: -1 }), /switching: option 'after' must be an integer >= 0, got -1/);
    assert.throws(() => switching(adam(), lbfgs(), { after: 2.5 }), /option 'after'/);
    assert.throws(() => switching(adam(), {} as Optimizer, { after: 1 }), /'second' must be an optimizer/);
    assert.throws(() => switching(adam(), lbfgs(), { after: 1, every: 2 } as never), /unknown option 'every'/);
    assert.throws(() => switching(adam(), lbfgs(), { after: 1, fullBatch: { second: 'yes' } } as never), /fullBatch.second/);
    assert.throws(() => adamLbfgs({ after: -3 }), /option 'after'/);
    assert.throws(() => adamLbfgs({ adam: { lr: -1 } }), /option 'lr'/);
    const throwing = switching(adam(), lbfgs(), { after: (_info, step) => { if (step === 3) throw new Error('boom'); return false; } });
    assert.throws(() => run(throwing, start(), 5), (e: Error) => /predicate threw at step 2 \(after 3 steps of adam\): boom/.test(e.message) && (e.cause as Error).message === 'boom');
    const notBool = switching(adam(), lbfgs(), { after: (() => 'yes') as never });
    assert.throws(() => run(notBool, start(), 1), /must return true or false, got string at step 0/);
    assert.throws(() => switching(adam(), lbfgs(), { after: 1 }).step(start(), { step: 0, inner: {} } as never, obj), /state must come from adam→lbfgs.init/);
  });
});
