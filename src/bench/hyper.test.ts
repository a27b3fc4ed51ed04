/**
 * The hyper-parameter table: every row builds its optimizer, layers merge with alternatives
 * replacing each other, and the MNIST autoencoder's Hessian-free row steps on a quarter of the
 * training set with curvature on 100 examples at every data size.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OPTIMIZERS } from '../optim/registry.js';
import { checkBatchSize, hyperFor, mergeOptions, resolveBatchSize } from './hyper.js';
import { PROBLEMS, problemById } from './problems.js';
import { runOne } from './runner.js';
import { applyHyperArgs } from '../cli/hyper-args.js';

describe('hyper-parameter table', () => {
  it('every (problem, optimizer) row has a valid batch size and options its optimizer accepts', () => {
    for (const [id, p] of PROBLEMS) {
      for (const [o, entry] of OPTIMIZERS) {
        const h = hyperFor(id, p.kind, o);
        assert.doesNotThrow(() => checkBatchSize(h.batchSize), `${o} on ${id}`);
        assert.doesNotThrow(() => entry.create(h.options), `${o} on ${id}: ${JSON.stringify(h.options)}`);
      }
    }
  });

  it('a layer that gives one of two alternative options drops the other from the layers below', () => {
    assert.deepEqual(mergeOptions({ damping: 1, curvatureFraction: 0.25 }, { curvatureExamples: 100 }), { damping: 1, curvatureExamples: 100 });
    assert.deepEqual(mergeOptions({ curvatureExamples: 100, cgMaxIter: 8 }, { curvatureFraction: 0.1 }), { cgMaxIter: 8, curvatureFraction: 0.1 });
    assert.deepEqual(mergeOptions({ curvatureFraction: 0.25 }, { cgMaxIter: 3 }), { curvatureFraction: 0.25, cgMaxIter: 3 });
    assert.deepEqual(mergeOptions({ a: 1 }, undefined), { a: 1 });
    // Both in one layer are kept, for the optimizer to refuse.
    assert.deepEqual(mergeOptions({}, { curvatureFraction: 0.5, curvatureExamples: 4 }), { curvatureFraction: 0.5, curvatureExamples: 4 });
    // The base row's curvatureFraction (0.25) does not reach the autoencoders' curvatureExamples.
    const curves = hyperFor('autoencoder-curves', 'autoencoder', 'hessian-free');
    assert.equal(curves.options.curvatureFraction, undefined);
    // Nor does the row's curvatureExamples stay under a --set curvatureFraction; the row's batch growth stays.
    const set = applyHyperArgs('hessian-free', { ...curves, batchGrowth: { from: 50, steps: 10 } }, { set: ['curvatureFraction=0.1'], 'batch-size': '25%' });
    const rest = Object.fromEntries(Object.entries(curves.options).filter(([k]) => k !== 'curvatureExamples'));
    assert.deepEqual(set, { options: { ...rest, curvatureFraction: 0.1 }, batchSize: { fraction: 0.25 }, batchGrowth: { from: 50, steps: 10 } });
  });

  it("the MNIST autoencoder's Hessian-free row: a quarter of each data size's training set, curvature on 100 examples", () => {
    const h = hyperFor('autoencoder-mnist', 'autoencoder', 'hessian-free');
    assert.deepEqual(h.batchSize, { fraction: 0.25 });
    assert.equal(h.options.curvatureExamples, 100);
    const counts = (['small', 'paper'] as const).map((size) => resolveBatchSize(h, problemById('autoencoder-mnist').build(0, { size }).trainSize).batchSize);
    assert.deepEqual(counts, [500, 2000]);
  });

  it('the tiny data size runs the row: batches of 32, the curvature and held-out slices capped at half of them', () => {
    const { record } = runOne('autoencoder-mnist', 'hessian-free', 0, { steps: 1 }, { size: 'tiny' });
    assert.equal(record.hyper.batchSize, 32);
    assert.equal(record.final.step, 1);
    assert.ok(Number.isFinite(record.final.trainLoss) && record.final.trainLoss < record.curve[0].trainLoss, `${record.curve[0].trainLoss} -> ${record.final.trainLoss}`);
  });
});
