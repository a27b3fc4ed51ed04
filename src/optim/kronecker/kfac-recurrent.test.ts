/**
 * K-FAC's `recurrentApproximation` option (Martens, Ba & Johnson 2018): validated by name, refused
 * with EKFAC (no chain form of its eigenbasis), and the chain approximations train the tanh RNN
 * of rnn-addition (T = 10) without non-finite steps.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kfac, kfacPreconditioner } from './kfac.js';
import { ekfac } from './ekfac.js';
import { runOne } from '../../bench/runner.js';
import { hyperFor } from '../../bench/hyper.js';
import { problemById } from '../../bench/problems.js';

describe('K-FAC recurrentApproximation', () => {
  it('an unknown value is refused naming the option', () => {
    assert.throws(() => kfac({ recurrentApproximation: 'chain3' as never }), /recurrentApproximation/);
  });

  it('EKFAC with a chain is refused naming the option; with independent it is accepted', () => {
    assert.throws(() => ekfac({ recurrentApproximation: 'chain1' }), /option 'recurrentApproximation' must be 'independent' with EKFAC/);
    assert.throws(() => kfacPreconditioner({ approximation: 'ekfac', recurrentApproximation: 'chain2' }), /recurrentApproximation/);
    assert.doesNotThrow(() => ekfac({ recurrentApproximation: 'independent' }));
  });

  it('K-FAC with chain1 and chain2 lowers the loss on rnn-addition (T = 10), every step finite and accepted', () => {
    const base = hyperFor('rnn-addition', problemById('rnn-addition').kind, 'kfac');
    for (const recurrentApproximation of ['chain1', 'chain2'] as const) {
      const hyper = { ...base, options: { ...base.options, recurrentApproximation } };
      const { record } = runOne('rnn-addition', 'kfac', 0, { steps: 8 }, { size: 'tiny', seqLength: 10, hyper });
      const first = record.curve[0].trainLoss;
      const last = record.final.trainLoss;
      assert.ok(record.curve.every((p) => Number.isFinite(p.trainLoss)), `${recurrentApproximation}: finite losses`);
      assert.ok(last < first, `${recurrentApproximation}: ${first} -> ${last}`);
      assert.equal(record.final.rejectedSteps, 0, recurrentApproximation);
    }
  });
});
