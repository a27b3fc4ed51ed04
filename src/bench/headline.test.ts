/**
 * Headlines on synthetic run records whose answers are known by construction: the winner and
 * its factor over Adam, the methods that did not reach the target, seeds that agree and seeds
 * that disagree, Adam first, no Adam run, and a target that is no race.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { headlineFor, headlines, listWords, targetLoss } from './headline.js';
import type { RunRecord } from './runner.js';

/** A run whose loss falls linearly in time from `from` at 0 s to `to` at `seconds` (10 points). */
function run(optimizer: string, seed: number, from: number, to: number, seconds: number, problem = 'p'): RunRecord {
  const curve = Array.from({ length: 11 }, (_, i) => ({ step: i * 10, seconds: (seconds * i) / 10, evals: i, curvatureProducts: 0, trainLoss: from + ((to - from) * i) / 10 }));
  return { problem, optimizer, seed, hyper: { options: {}, batchSize: 'full' }, curve, final: { ...curve[10], stopped: 'budget', stopReason: 'budget', rejectedSteps: 0 } };
}

describe('headlines', () => {
  it('names the winner, its factor over Adam, and the methods that did not reach the target', () => {
    // Target: Adam's final loss 1. lbfgs reaches 1 at 0.2 s (falls 10 -> 0.1 in 0.22 s), Adam at 8 s.
    const runs = [run('adam', 0, 10, 1, 8), run('lbfgs', 0, 10, 0.1, 0.22), run('sgd', 0, 10, 5, 8), run('kfac', 0, 10, 4, 8)];
    const h = headlineFor('p', runs);
    assert.equal(h.target, 1);
    assert.equal(h.winner, 'lbfgs');
    assert.ok(Math.abs((h.factorOverAdam as number) - 8 / 0.22) < 1e-9, String(h.factorOverAdam));
    assert.deepEqual(h.notReached, ['sgd', 'kfac']);
    assert.equal(h.text, 'p: lbfgs reached the target loss 1.00 (the final loss Adam reached) first, in 0.22 s, 36× faster than Adam (Adam took 8.0 s); sgd and kfac did not reach it.');
    assert.equal(h.text.split('. ').length, 1, 'one sentence');
  });

  it('with several seeds names a winner only when it was first in every seed, with the median factor', () => {
    const agree = [0, 1, 2].flatMap((s) => [run('adam', s, 10, 1 + s * 0.1, 8), run('hessian-free', s, 10, 0.5, 1 + s)]);
    const h = headlineFor('p', agree);
    assert.equal(h.seedsAgree, true);
    assert.equal(h.winner, 'hessian-free');
    assert.ok(Math.abs((h.target as number) - 1.2) < 1e-12);
    // The curves have 10 points: both reach 1.2 only at their last (Adam's at 8 s, hessian-free's
    // at 1, 2, 3 s), so the ratios are 8, 4, 8/3 and their median is 4.
    assert.ok(Math.abs((h.factorOverAdam as number) - 4) < 1e-12, String(h.factorOverAdam));
    assert.match(h.text, /median; 2\.7×–8\.0× over seeds/);
    assert.match(h.text, /hessian-free reached .* first in all 3 seeds, in a median .* faster than Adam \(median; /);
    const disagree = [0, 1, 2].flatMap((s) => [run('adam', s, 10, 1, 8), run('lbfgs', s, 10, 0.5, s === 2 ? 9 : 1), run('kfac', s, 10, 0.5, 2)]);
    const d = headlineFor('p', disagree);
    assert.equal(d.seedsAgree, false);
    assert.equal(d.winner, undefined);
    assert.equal(d.factorOverAdam, undefined);
    assert.match(d.text, /no method reached .* first in every seed \(lbfgs in 2 of 3, kfac in 1 of 3\), so no order is claimed\.$/);
  });

  it('says when a method reached the target in some seeds only, and when Adam itself was first', () => {
    const runs = [0, 1].flatMap((s) => [run('adam', s, 10, 1, 1), run('sgd', s, 10, s === 0 ? 0.5 : 3, 8), run('momentum', s, 10, 0.1, 4)]);
    const h = headlineFor('p', runs);
    assert.equal(h.winner, 'adam');
    assert.match(h.text, /adam reached .* first in all 2 seeds.*; the next, momentum, took /);
    assert.match(h.text, /sgd reached it in only some seeds\.$/);
    assert.deepEqual(h.notReached, []);
  });

  it('without Adam the target is the worst final loss and no factor is claimed', () => {
    const h = headlineFor('p', [run('lbfgs', 0, 10, 1, 1), run('kfac', 0, 10, 2, 1)]);
    assert.equal(h.target, 2);
    assert.equal(h.winner, 'lbfgs');
    assert.equal(h.factorOverAdam, undefined);
    assert.match(h.text, /\(no Adam run to compare with\)\.$/);
  });

  it('a target at or above the starting loss is no race, and non-finite finals give no target', () => {
    const h = headlineFor('p', [run('adam', 0, 10, 12, 1), run('lbfgs', 0, 10, 3, 1)]);
    assert.equal(h.winner, undefined);
    assert.match(h.text, /no race; the lowest final loss was lbfgs's 3\.00\.$/);
    assert.equal(targetLoss([run('adam', 0, 1, NaN, 1)]), undefined);
    assert.match(headlineFor('p', [run('adam', 0, 1, NaN, 1)]).text, /non-finite/);
  });

  it('one headline per problem in order of appearance; word lists read as English', () => {
    const hs = headlines([run('adam', 0, 9, 1, 1, 'b'), run('adam', 0, 9, 1, 1, 'a'), run('sgd', 0, 9, 2, 1, 'b')]);
    assert.deepEqual(hs.map((h) => h.problem), ['b', 'a']);
    assert.equal(listWords(['a']), 'a');
    assert.equal(listWords(['a', 'b', 'c']), 'a, b and c');
  });
});
