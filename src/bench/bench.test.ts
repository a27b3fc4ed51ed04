/**
 * The benchmark suite and the CLI: every registered optimizer makes a step on every problem
 * kind; results.json conforms to its documented schema (the default suite's too); bad arguments
 * get one-line errors;
 * `train --save` then `--resume` continues exactly as an uninterrupted run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { deserializeTree, serializeTree } from '../nn/checkpoint.js';
import { OPTIMIZERS } from '../optim/registry.js';
import { runOne, parseBudget, type Checkpoint } from './runner.js';
import { validateResults } from './schema.js';
import { summarize } from './report.js';
import { SUITES } from './suites.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describe('benchmark runner', () => {
  for (const problem of ['mgh/rosenbrock', 'mlp-iris', 'autoencoder-curves', 'cnn-mnist']) {
    it(`every registered optimizer runs a step on ${problem}`, () => {
      for (const id of OPTIMIZERS.keys()) {
        const { record } = runOne(problem, id, 0, { steps: 1 }, { size: 'tiny' });
        assert.equal(record.final.step, 1, `${id} on ${problem}`);
        assert.ok(Number.isFinite(record.final.trainLoss), `${id} on ${problem}: loss ${record.final.trainLoss}`);
        assert.ok(record.curve.length >= 2);
      }
    });
  }

  it('parses budgets and rejects what it cannot parse', () => {
    assert.deepEqual(parseBudget('60s'), { seconds: 60 });
    assert.deepEqual(parseBudget('2m'), { seconds: 120 });
    assert.deepEqual(parseBudget('500steps'), { steps: 500 });
    assert.deepEqual(parseBudget('30'), { steps: 30 });
    assert.throws(() => parseBudget('fast'), /cannot parse budget 'fast'/);
    assert.throws(() => parseBudget('1.5steps'), /a step count must be an integer/);
  });

  it('a resumed run continues exactly as the uninterrupted one (bit for bit)', () => {
    for (const opt of ['lbfgs', 'adam', 'hessian-free']) {
      const whole = runOne('mlp-spirals', opt, 3, { steps: 8 }, { size: 'tiny' });
      const first = runOne('mlp-spirals', opt, 3, { steps: 4 }, { size: 'tiny' });
      // through the checkpoint format, as `train --save` / `--resume` do
      const bytes = serializeTree({ params: first.checkpoint.params, state: first.checkpoint.state } as PyTree);
      const back = deserializeTree(bytes).tree as { params: PyTree; state: Checkpoint['state'] };
      const resumed = runOne('mlp-spirals', opt, 3, { steps: 8 }, { size: 'tiny', resume: { ...first.checkpoint, params: back.params, state: back.state } });
      const a = treeLeaves(whole.checkpoint.params);
      const b = treeLeaves(resumed.checkpoint.params);
      a.forEach((t, i) => assert.deepEqual(Array.from(b[i].data), Array.from(t.data), `${opt}: parameter ${i} differs`));
      assert.equal(resumed.record.final.trainLoss, whole.record.final.trainLoss);
    }
  });
});

describe('hessian CLI', () => {
  it('bench writes results.json that validates against the documented schema, and a report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-bench-'));
    try {
      const r = cli('bench', '--problems', 'mgh/rosenbrock,mlp-iris', '--optimizers', 'adam,lbfgs', '--budget', '15steps', '--seeds', '2', '--out', dir, '--no-peers', '--json', '--size', 'tiny');
      assert.equal(r.status, 0, r.stderr);
      const doc = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
      assert.deepEqual(validateResults(doc), []);
      assert.equal(doc.runs.length, 8);
      const html = readFileSync(join(dir, 'report.html'), 'utf8');
      assert.ok(html.includes('uPlot') && html.includes('mlp-iris') && !/<script[^>]+src=/.test(html), 'self-contained report');
      const s = summarize(doc);
      assert.equal(s.length, 2);
      // the schema checker does find violations
      assert.ok(validateResults({ ...doc, runs: [{ ...doc.runs[0], curve: [] }] }).some((e) => e.includes('curve')));
      assert.ok(validateResults([]).length > 0);
      assert.ok(doc.runs.every((run: { divergence?: unknown }) => Array.isArray(run.divergence)), 'every run records its divergence events');
      const event = { series: 'test loss', step: 9, loss: 3, best: 1, bestStep: 2, message: 'rose' };
      assert.deepEqual(validateResults({ ...doc, runs: [{ ...doc.runs[0], divergence: [event] }] }), []);
      assert.ok(validateResults({ ...doc, runs: [{ ...doc.runs[0], divergence: [{ step: 'x' }] }] }).some((e) => e.includes('divergence[0]')));
      // stops, headlines and settings are checked too
      assert.equal(doc.settings.suite, 'custom');
      assert.ok(validateResults({ ...doc, runs: [{ ...doc.runs[0], final: { ...doc.runs[0].final, stopped: 'tired' } }] }).some((e) => e.includes('final.stopped must be one of')));
      assert.ok(validateResults({ ...doc, runs: [{ ...doc.runs[0], curve: doc.runs[0].curve.slice(0, 1) }] }).some((e) => e.includes('curve must end at the final step')));
      assert.ok(validateResults({ ...doc, headlines: [{ problem: 'p' }] }).some((e) => e.includes('headlines[0]')));
      assert.ok(validateResults({ ...doc, headlines: undefined }).some((e) => e.includes('headlines must be an array')));
      assert.deepEqual(doc.headlines.map((h: { problem: string }) => h.problem), ['mgh/rosenbrock', 'mlp-iris']);
      // L-BFGS needs about 35 steps to Rosenbrock's minimum, so at 15 the budget ends the run.
      const lbfgsRosen = doc.runs.find((r: { optimizer: string; problem: string }) => r.optimizer === 'lbfgs' && r.problem === 'mgh/rosenbrock');
      assert.equal(lbfgsRosen.final.stopped, 'budget');
      assert.match(lbfgsRosen.final.stopReason, /15 steps/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the default suite's results validate, its runs stop on the rules, and the summary starts with a headline per problem", () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-bench-'));
    try {
      // The quick suite's problems and optimizers at the tiny data size and 2 steps each (a
      // Hessian-free step on the autoencoder alone takes seconds).
      const r = cli('bench', '--budget', '2steps', '--size', 'tiny', '--out', dir, '--no-peers');
      assert.equal(r.status, 0, r.stderr);
      const doc = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
      assert.deepEqual(validateResults(doc), []);
      assert.equal(doc.settings.suite, 'quick');
      assert.equal(doc.runs.length, SUITES.quick.problems.length * SUITES.quick.optimizers.length);
      const out = r.stdout.trim().split('\n');
      const first = out.findIndex((l) => l.startsWith('mgh/rosenbrock: '));
      assert.ok(first >= 0, r.stdout);
      assert.deepEqual(out.slice(first, first + SUITES.quick.problems.length).map((l) => l.split(':')[0]), [...SUITES.quick.problems]);
      // The rules end L-BFGS at Rosenbrock's minimum (about 35 steps); --no-stop runs the whole budget.
      for (const flag of ['--json', '--no-stop']) {
        const one = cli('bench', '--problems', 'mgh/rosenbrock', '--optimizers', 'lbfgs', '--budget', '60steps', '--out', dir, '--no-peers', '--json', flag);
        assert.equal(one.status, 0, one.stderr);
        const d = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
        assert.deepEqual(validateResults(d), []);
        const run = d.runs[0];
        if (flag === '--no-stop') {
          assert.equal(d.settings.stopping, false);
          assert.equal(run.final.step, 60);
        } else {
          assert.equal(run.final.stopped, 'converged', run.final.stopReason);
          assert.ok(run.final.step < 60);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('train prints JSON lines with progress and a final summary', () => {
    const r = cli('train', '--problem', 'mlp-iris', '--optimizer', 'adam', '--steps', '12', '--json', '--seed', '1');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.length >= 3);
    for (const l of lines.slice(0, -1)) assert.ok('step' in l && 'seconds' in l && 'trainLoss' in l);
    const last = lines[lines.length - 1];
    for (const k of ['problem', 'optimizer', 'seed', 'steps', 'seconds', 'trainLoss', 'testLoss']) assert.ok(k in last, k);
    assert.equal(last.steps, 12);
  });

  it('train --save then --resume ends exactly where one run ends', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-train-'));
    try {
      const f = join(dir, 'ckpt.safetensors');
      const whole = cli('train', '--problem', 'mlp-spirals', '--optimizer', 'lbfgs', '--steps', '10', '--json', '--size', 'tiny');
      const a = cli('train', '--problem', 'mlp-spirals', '--optimizer', 'lbfgs', '--steps', '5', '--save', f, '--json', '--size', 'tiny');
      const b = cli('train', '--problem', 'mlp-spirals', '--optimizer', 'lbfgs', '--steps', '10', '--resume', f, '--json', '--size', 'tiny');
      for (const r of [whole, a, b]) assert.equal(r.status, 0, r.stderr);
      const last = (r: { stdout: string }) => JSON.parse(r.stdout.trim().split('\n').pop() as string);
      assert.equal(last(b).trainLoss, last(whole).trainLoss);
      assert.equal(last(b).steps, 10);
      const other = cli('train', '--problem', 'mlp-iris', '--optimizer', 'lbfgs', '--steps', '10', '--resume', f);
      assert.notEqual(other.status, 0);
      assert.match(other.stderr, /^hessian: cannot resume: '.*' is a checkpoint of problem 'mlp-spirals'/);
      writeFileSync(join(dir, 'junk'), 'not a checkpoint');
      const junk = cli('train', '--problem', 'mlp-iris', '--optimizer', 'lbfgs', '--resume', join(dir, 'junk'));
      assert.notEqual(junk.status, 0);
      assert.match(junk.stderr, /^hessian: cannot resume from/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bad arguments get a one-line error and a non-zero exit, without a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-args-'));
    const aFile = join(dir, 'a-file');
    writeFileSync(aFile, '');
    const cases: [string[], RegExp][] = [
      [['train', '--problem', 'nope', '--optimizer', 'adam'], /unknown problem 'nope'; valid: .*mlp-iris/],
      [['train', '--problem', 'mlp-iris', '--optimizer', 'nope'], /unknown optimizer 'nope'; valid: sgd, /],
      [['train', '--problem', 'mlp-iris', '--optimizer', 'adam', '--budget', 'soon'], /cannot parse budget 'soon'/],
      [['bench', '--out', join(aFile, 'sub')], /cannot write to output directory/],
      [['bench', '--problems', 'mgh/nope'], /unknown MGH problem|nope/],
      [['bench', '--suite', 'slow'], /unknown suite 'slow'; valid: quick, deep, paper/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['train', '--problem', 'mlp-iris', '--optimizer', 'adam', '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [args, re] of cases) {
      const r = cli(...args);
      assert.notEqual(r.status, 0, args.join(' '));
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(lines[0], /^hessian: /);
      assert.match(lines[0], re);
    }
    const verbose = cli('train', '--problem', 'nope', '--optimizer', 'adam', '--verbose');
    assert.ok(verbose.stderr.trim().split('\n').length > 1, 'a stack trace with --verbose');
    rmSync(dir, { recursive: true, force: true });
  });

  it('info and list', () => {
    const i = JSON.parse(cli('info', '--json').stdout);
    assert.ok(['native', 'wasm', 'ts'].includes(i.backend) && i.threads >= 1 && typeof i.simd === 'string');
    const l = JSON.parse(cli('list', '--json').stdout);
    assert.ok(l.problems.some((p: { id: string }) => p.id === 'autoencoder-mnist'));
    assert.ok(l.optimizers.some((o: { id: string }) => o.id === 'lbfgs'));
    assert.ok(l.datasets.some((d: { id: string }) => d.id === 'mnist'));
    assert.match(cli('--version').stdout.trim(), /^\d+\.\d+\.\d+$/);
  });
});
