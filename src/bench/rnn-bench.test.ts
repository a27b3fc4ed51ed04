import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RNN_METHODS, formatRnnReport, runRnnBench, type RnnReport } from './rnn-bench.js';

const BENCH = fileURLToPath(new URL('./rnn.js', import.meta.url));

/** The report's invariants: one run per cell and seed, solved ⇔ testError < criterion, the longest T from the solved runs. */
function checkReport(r: RnnReport): void {
  const s = r.settings;
  assert.equal(r.runs.length, s.tasks.length * s.seqLengths.length * s.methods.length * s.seeds);
  for (const run of r.runs) {
    assert.ok(s.tasks.includes(run.task) && s.seqLengths.includes(run.seqLength) && s.methods.includes(run.method));
    assert.equal(run.notApplicable, undefined, run.notApplicable);
    assert.ok(run.testError !== null && run.testError >= 0 && run.testError <= 1);
    assert.equal(run.solved, run.testError < s.criterion, `solved ${run.solved} with testError ${run.testError}`);
    assert.ok(run.steps >= 1 && run.cpuSeconds > 0 && run.wallSeconds > 0);
    if (run.solved) {
      assert.ok(run.stepsToSolve !== null && run.stepsToSolve <= run.steps && run.cpuSecondsToSolve !== null && run.cpuSecondsToSolve <= run.cpuSeconds);
    } else {
      assert.equal(run.stepsToSolve, null);
      assert.ok(run.cpuSeconds >= s.budgetSeconds, 'an unsolved run spent its budget');
    }
  }
  for (const m of s.methods) {
    for (const t of s.tasks) {
      const solved = r.runs.filter((x) => x.method === m && x.task === t && x.solved).map((x) => x.seqLength);
      assert.equal(r.longestSolved[m][t], solved.length > 0 ? Math.max(...solved) : null);
    }
  }
}

describe('bench:rnn', () => {
  it('the report has a run per task, length, method and seed, and solved agrees with testError < criterion', () => {
    const r = runRnnBench({ tasks: ['xor'], seqLengths: [10, 12], methods: ['adam'], seeds: 2, budgetSeconds: 0.2, size: 'tiny' });
    checkReport(r);
    assert.equal(r.settings.testSequences, 500);
    assert.deepEqual(Object.keys(r.methods), ['adam']);
    const text = formatRnnReport(r);
    assert.match(text, /budget 0\.2 CPU s per run; 2 seeds/);
    assert.match(text, /longest T solved .* within 0\.2 CPU s:\n {2}adam: xor (-|1[02])/);
    // A criterion every sane model meets: the solved path reports where it was solved.
    const easy = runRnnBench({ tasks: ['addition'], seqLengths: [10], methods: ['momentum'], seeds: 1, budgetSeconds: 0.2, size: 'tiny', criterion: 1 });
    checkReport(easy);
  });

  it('every method of the table builds its optimizer from the registry', () => {
    const r = runRnnBench({ tasks: ['temporal-order-2'], seqLengths: [10], methods: Object.keys(RNN_METHODS), seeds: 1, budgetSeconds: 0.05, size: 'tiny' });
    checkReport(r);
  });

  it('bad options are refused naming the option', () => {
    assert.throws(() => runRnnBench({ tasks: ['adding'] }), /unknown task 'adding' in --tasks; valid: addition/);
    assert.throws(() => runRnnBench({ methods: ['lbfgs'] }), /unknown method 'lbfgs' in --methods; valid: hessian-free/);
    assert.throws(() => runRnnBench({ seqLengths: [0] }), /--seq-lengths must be positive integers, got 0/);
    assert.throws(() => runRnnBench({ budgetSeconds: -1 }), /--budget must be a positive number of CPU seconds, got -1/);
    assert.throws(() => runRnnBench({ tasks: ['memorization'], seqLengths: [10], seeds: 1, methods: ['adam'], budgetSeconds: 0.1, size: 'tiny' }), /rnn-memorization: seqLength must be an integer >= 11, got 10/);
  });

  it('npm run bench:rnn with a tiny budget writes the report as JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-bench-rnn-'));
    try {
      const out = join(dir, 'rnn.json');
      const r = spawnSync(process.execPath, [BENCH, '--tasks=xor', '--seq-lengths=10', '--methods=adam', '--seeds=1', '--budget=0.1', '--size=tiny', `--out=${out}`], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /xor T=10 adam seed 0: /);
      checkReport(JSON.parse(readFileSync(out, 'utf8')) as RnnReport);
      const bad = spawnSync(process.execPath, [BENCH, '--budgett=3'], { encoding: 'utf8', timeout: 60_000 });
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /unknown argument '--budgett=3'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
