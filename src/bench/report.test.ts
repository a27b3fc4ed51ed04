import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderReport, summarize, uplotAssets } from './report.js';
import type { RunRecord } from './runner.js';
import type { Results } from './schema.js';

/** A run whose loss falls linearly from `from` to `to` over 100 steps and `seconds`. */
function run(optimizer: string, seed: number, from: number, to: number, seconds: number, problem = 'p'): RunRecord {
  const curve = Array.from({ length: 11 }, (_, i) => ({ step: i * 10, seconds: (seconds * i) / 10, evals: i, curvatureProducts: 0, trainLoss: from + ((to - from) * i) / 10 }));
  return { problem, optimizer, seed, hyper: { options: {}, batchSize: 'full' }, curve, final: { ...curve[10], stopped: 'budget', stopReason: 'budget', rejectedSteps: 0 } };
}

function results(runs: RunRecord[]): Results {
  return {
    version: 'test', created: '2026-01-01T00:00:00Z',
    machine: { cpu: 'test', cores: 2, backend: 'ts', simd: 'scalar', threads: 1, node: 'v20' },
    settings: { budget: { steps: 100 }, seeds: 1, size: 'small', tuned: false, suite: 'custom' },
    runs, peers: { torch: { available: false, reason: 'test' } },
  } as Results;
}

/** The table rows of the report as arrays of cell texts (tags stripped). */
function rows(html: string): string[][] {
  const table = html.slice(html.indexOf('<h2>Time and steps'), html.indexOf('<h2>Training loss'));
  return [...table.matchAll(/<tr><td>(.*?)<\/tr>/g)].map((m) => `<td>${m[1]}`.split('</td>').slice(0, -1).map((c) => c.replace(/<[^>]*>/g, '')));
}

const assets = { css: '', js: '' };

describe('report: time and steps vs Adam', () => {
  it('shows the ratios to Adam wherever an optimizer reached the target (Adam 1.00)', () => {
    // Target 1 (Adam's final loss). Adam reaches it at its end (step 100, 8 s); lbfgs falls
    // 10 → -8, by 1.8 a point, so reaches 1 exactly at point 5 (step 50, 1.25 s of 2.5 s).
    const runs = [run('adam', 0, 10, 1, 8), run('lbfgs', 0, 10, -8, 2.5), run('sgd', 0, 10, 5, 8)];
    const [s] = summarize(results(runs));
    const lbfgs = s.rows.find((r) => r.optimizer === 'lbfgs')!;
    assert.equal(lbfgs.stepsToTarget, 50);
    assert.equal(lbfgs.timeRatio, 1.25 / 8);
    assert.equal(lbfgs.stepRatio, 0.5);
    const html = renderReport(results(runs), assets);
    const table = rows(html);
    assert.deepEqual(table.map((r) => r[0]), ['adam', 'lbfgs', 'sgd']);
    assert.deepEqual(table[0].slice(2, 6), ['100', '8.00', '1.00', '1.00']);
    assert.deepEqual(table[1].slice(2, 6), ['50', '1.25', '0.16', '0.50']);
    // sgd (10 → 5) never reached 1: dashes, and a note that says so in words.
    assert.deepEqual(table[2].slice(2, 6), ['–', '–', '–', '–']);
    assert.match(html, /– in steps and seconds: sgd reached the target in 0 of 1 seed\(s\)/);
  });

  it('ratios below one for a method faster than Adam in both steps and seconds', () => {
    // hessian-free falls 10 → -10, by 2 a point: first ≤ 1 at point 5 (loss 0), step 50, 2 s of 4.
    const runs = [run('adam', 0, 10, 1, 8), run('hessian-free', 0, 10, -10, 4)];
    const html = renderReport(results(runs), assets);
    assert.deepEqual(rows(html)[1].slice(2, 6), ['50', '2.00', '0.25', '0.50']);
    assert.doesNotMatch(html, /dash-note/, 'no dash, no note');
  });

  it('says in words why the ratio columns are empty when Adam gives no reference', () => {
    const noAdam = renderReport(results([run('lbfgs', 0, 10, 1, 2), run('sgd', 0, 10, 0.5, 4)]), assets);
    assert.match(noAdam, /– in the columns vs Adam: there is no Adam run to compare with\./);
    assert.deepEqual(rows(noAdam)[0].slice(4, 6), ['–', '–']);
    // Adam's loss rose: its target is its own final loss, reached at its first point.
    const rising = renderReport(results([run('adam', 0, 1, 2, 8), run('lbfgs', 0, 10, 0.1, 2)]), assets);
    assert.match(rising, /Adam was at the target from its first point/);
    // Adam reached the target in 1 of 3 seeds only (two diverged to NaN).
    const nan = [1, 2].map((seed) => ({ ...run('adam', seed, 10, 1, 8), final: { ...run('adam', seed, 10, 1, 8).final, trainLoss: NaN } }));
    for (const r of nan) r.curve = r.curve.map((c) => ({ ...c, trainLoss: NaN }));
    const minority = summarize(results([run('adam', 0, 10, 1, 8), ...nan, run('lbfgs', 0, 10, 0.1, 2)]));
    assert.equal(minority[0].noRatio, 'Adam reached the target in 1 of 3 seeds, not a majority');
  });

  it('reads uPlot from the package in Node.js and inlines it (no external script)', () => {
    const a = uplotAssets();
    assert.ok(a.js.includes('uPlot') && a.css.includes('.uplot'));
    const html = renderReport(results([run('adam', 0, 10, 1, 8)]));
    assert.ok(html.includes(a.css) && !/<script[^>]+src=/.test(html));
  });
});
