/**
 * Intermittent hybrids: the second-order step falls on every `every`-th step and the first-order
 * step on the others, each optimizer's state advancing only with its own steps (checked against
 * a hand-written loop that keeps the two states itself); state round-trips mid-run; bad periods
 * are refused naming the option.
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
import type { Objective, Optimizer, OptimizerState } from '../types.js';
import { intermittent, isSecondOrderStep } from './intermittent.js';

const f64 = { dtype: 'float64' as const };
type P = { x: Tensor; y: Tensor };
const start = (): P => ({ x: tensor([-1.2, 0.5], undefined, f64), y: tensor([1, -0.3], undefined, f64) });
const obj = objective((p: P) => O.add(O.sum(O.square(O.sub(1, p.x))), O.mul(10, O.sum(O.square(O.sub(p.y, O.square(p.x))))))) as unknown as Objective<PyTree>;

function bits(tree: PyTree): string {
  return treeLeaves(tree).map((l) => Buffer.from(l.data.buffer, l.data.byteOffset, l.data.byteLength).toString('hex')).join('|');
}

/** An optimizer that records which of them made each step. */
function spy(opt: Optimizer, tag: string, log: string[]): Optimizer {
  return { ...opt, step: ((p: PyTree, s: OptimizerState, o: Objective) => { log.push(tag); return opt.step(p, s, o); }) as Optimizer['step'] };
}

function run(opt: Optimizer, p0: PyTree, steps: number, state?: OptimizerState): { p: PyTree; s: OptimizerState } {
  let p = p0;
  let s = state ?? opt.init(p);
  for (let i = 0; i < steps; i++) ({ params: p, state: s } = opt.step(p, s, obj));
  return { p, s };
}

describe('intermittent', () => {
  it('runs the second-order step on every k-th step and the first-order step otherwise', () => {
    const log: string[] = [];
    run(intermittent(spy(lbfgs(), 'L', log), spy(adam(), 'A', log), { every: 3 }), start(), 9);
    assert.equal(log.join(''), 'AALAALAAL');
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((k) => isSecondOrderStep(k, 2)), [false, true, false, true, false, true]);
  });

  it('equals a hand-written loop that keeps both states and advances each only with its own steps', () => {
    const h = run(intermittent(lbfgs(), adam({ lr: 0.05 }), { every: 3 }), start(), 10);
    const second = lbfgs();
    const first = adam({ lr: 0.05 });
    let p: PyTree = start();
    let s2 = second.init(p);
    let s1 = first.init(p);
    for (let k = 0; k < 10; k++) {
      if ((k + 1) % 3 === 0) ({ params: p, state: s2 } = second.step(p, s2, obj));
      else ({ params: p, state: s1 } = first.step(p, s1, obj));
    }
    assert.equal(bits(h.p), bits(p));
    const inner = h.s.inner as { secondOrder: OptimizerState; firstOrder: OptimizerState };
    assert.equal(inner.secondOrder.step, 3);
    assert.equal(inner.firstOrder.step, 7);
    assert.equal(bits(inner.firstOrder), bits(s1));
  });

  it('every = 1 is the second-order optimizer alone', () => {
    assert.equal(bits(run(intermittent(lbfgs(), adam(), { every: 1 }), start(), 6).p), bits(run(lbfgs(), start(), 6).p));
  });

  it('state saves and loads mid-run and the resumed run matches the uninterrupted one bit for bit', () => {
    const make = () => intermittent(lbfgs(), adam({ lr: 0.05 }), { every: 2 });
    const whole = run(make(), start(), 7);
    const part = run(make(), start(), 3);
    const loaded = deserializeTree(serializeTree({ params: part.p, state: part.s })).tree as { params: PyTree; state: OptimizerState };
    const rest = run(make(), loaded.params, 4, loaded.state);
    assert.equal(bits(rest.p), bits(whole.p));
    assert.equal(bits(rest.s), bits(whole.s));
  });

  it('asks for the full batch on the kind of step marked fullBatch', () => {
    const opt = intermittent(lbfgs(), adam(), { every: 2, fullBatch: { secondOrder: true } });
    let p: PyTree = start();
    let s = opt.init(p);
    const wants: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      wants.push(opt.fullBatch?.(s) === true);
      ({ params: p, state: s } = opt.step(p, s, obj));
    }
    assert.deepEqual(wants, [false, true, false, true]);
  });

  it('bad options fail with errors naming the option', () => {
    assert.throws(() => intermittent(lbfgs(), adam(), { every: 0 }), /intermittent: option 'every' must be an integer >= 1, got 0/);
    assert.throws(() => intermittent(lbfgs(), adam(), { every: 1.5 }), /option 'every'/);
    assert.throws(() => intermittent(lbfgs(), adam(), {} as never), /option 'every'/);
    assert.throws(() => intermittent(lbfgs(), null as never, { every: 2 }), /'firstOrder' must be an optimizer/);
    assert.throws(() => intermittent(lbfgs(), adam(), { every: 2, fullBatch: { second: true } } as never), /unknown option 'second'/);
  });
});
