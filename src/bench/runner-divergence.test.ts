/**
 * The runner feeds the divergence monitor the curve's full-data losses: a run made to diverge
 * (SGD at a learning rate 300x its tuned one) records the event and the CLI's warning line; a
 * run with the table's hyper-parameters records none.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { divergenceWarning, runOne } from './runner.js';

describe('benchmark runner divergence signal', () => {
  it('records a divergence event, and a warning line, on a run with a huge learning rate', () => {
    const { record } = runOne('mlp-spirals', 'sgd', 0, { steps: 30 }, { hyper: { options: { lr: 30 }, batchSize: 64 } });
    const train = record.divergence?.find((e) => e.series === 'full-data training loss');
    assert.ok(train !== undefined, JSON.stringify(record.curve.map((p) => p.trainLoss)));
    const atStep = record.curve.find((p) => p.step === train.step);
    assert.equal(atStep?.trainLoss, train.loss);
    assert.ok(train.loss > 2 * train.best);
    const line = divergenceWarning(record);
    assert.ok(line !== undefined && line.startsWith('warning: sgd on mlp-spirals (seed 0): divergence at step') && !line.includes('\n'), line);
  });

  it('records none on a run with the tuned hyper-parameters', () => {
    const { record } = runOne('mlp-spirals', 'adam', 0, { steps: 150 });
    assert.deepEqual(record.divergence, []);
    assert.equal(divergenceWarning(record), undefined);
  });
});
