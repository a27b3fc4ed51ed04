/**
 * `hessian spectrum` end to end (the compiled CLI as a child process): the eigenvalues and trace
 * it writes equal the dense Hessian's, the density integrates to 1, per-layer blocks cover the
 * parameters, checkpoints are read, and bad input is refused naming the problem or file.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eigh } from '../tensor/linalg.js';
import type { Tensor } from '../tensor/tensor.js';
import { problemById } from '../bench/problems.js';
import { hessianOperator } from '../curvature/diagnostics.js';
import type { SpectrumReport } from './spectrum.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });

function withDir(f: (dir: string) => void): () => void {
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-spectrum-test-'));
    try {
      f(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function trapezoid(x: number[], y: number[]): number {
  let s = 0;
  for (let i = 1; i < x.length; i++) s += 0.5 * (x[i] - x[i - 1]) * (y[i] + y[i - 1]);
  return s;
}

describe('hessian spectrum', () => {
  it('writes the dense Hessian\'s top eigenvalues and exact trace for a 12-variable test function, and a density of mass 1', withDir((dir) => {
    const r = cli(['spectrum', '--problem', 'mgh/watson-12', '--out', dir, '--k', '4', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(readFileSync(join(dir, 'spectrum.json'), 'utf8')) as SpectrumReport;
    const inst = problemById('mgh/watson-12').build(0);
    const dense = hessianOperator(inst.full, inst.params as Tensor).toDense();
    const w = Array.from(eigh(dense).eigenvalues.data).reverse();
    const scale = Math.abs(w[0]);
    rep.model.topEigenvalues.forEach((x, i) => assert.ok(Math.abs(x - w[i]) <= 1e-8 * scale, `eigenvalue ${i}: ${x} vs ${w[i]}`));
    let tr = 0;
    for (let i = 0; i < 12; i++) tr += dense.data[i * 12 + i];
    // Hutch++ with a sketch as large as the operator is exact.
    assert.ok(Math.abs(rep.model.trace - tr) <= 1e-8 * Math.abs(tr), `trace ${rep.model.trace} vs ${tr}`);
    assert.ok(Math.abs(trapezoid(rep.model.density.grid, rep.model.density.density) - 1) < 1e-4);
    const html = readFileSync(join(dir, 'spectrum.html'), 'utf8');
    assert.match(html, /<svg/);
    assert.match(html, /mgh\/watson-12/);
    assert.doesNotMatch(html, /<script/);
    assert.equal(JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}').parameters, 12);
  }));

  it('--per-layer on a checkpoint reports one block per layer, covering every parameter', withDir((dir) => {
    const ckpt = join(dir, 'run.safetensors');
    const t = cli(['train', '--problem', 'mlp-spirals', '--optimizer', 'adam', '--size', 'tiny', '--steps', '3', '--save', ckpt, '--json']);
    assert.equal(t.status, 0, t.stderr);
    const r = cli(['spectrum', '--problem', 'mlp-spirals', '--size', 'tiny', '--resume', ckpt, '--per-layer', '--out', dir, '--k', '2', '--runs', '1', '--steps', '10', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(readFileSync(join(dir, 'spectrum.json'), 'utf8')) as SpectrumReport;
    assert.deepEqual(rep.checkpoint, { file: ckpt, step: 3 });
    assert.deepEqual(rep.layers.map((l) => l.name), ['0', '2', '4']);
    assert.equal(rep.layers.reduce((s, l) => s + l.size, 0), rep.parameters);
    // A diagonal block's largest eigenvalue is at most the whole Hessian's (Cauchy interlacing).
    for (const l of rep.layers) assert.ok(l.topEigenvalues[0] <= rep.model.topEigenvalues[0] * (1 + 1e-6), `layer ${l.name}`);
  }));

  it('refuses an unknown problem, a missing --problem and a checkpoint of another problem, naming them', withDir((dir) => {
    const a = cli(['spectrum', '--problem', 'no-such-problem', '--out', dir]);
    assert.equal(a.status, 2);
    assert.match(a.stderr, /unknown problem 'no-such-problem'/);
    assert.match(cli(['spectrum']).stderr, /spectrum needs --problem/);
    const ckpt = join(dir, 'run.safetensors');
    assert.equal(cli(['train', '--problem', 'mlp-spirals', '--optimizer', 'sgd', '--size', 'tiny', '--steps', '1', '--save', ckpt]).status, 0);
    const b = cli(['spectrum', '--problem', 'mlp-iris', '--resume', ckpt, '--out', dir]);
    assert.equal(b.status, 2);
    assert.match(b.stderr, /is a checkpoint of problem 'mlp-spirals', not 'mlp-iris'/);
    assert.match(cli(['spectrum', '--problem', 'mlp-iris', '--k', '0']).stderr, /--k must be an integer/);
  }));
});

describe('hessian train --curvature-every', () => {
  it('prints the top eigenvalue and trace every N steps and lists them in the summary', () => {
    const r = cli(['train', '--problem', 'mlp-spirals', '--optimizer', 'adam', '--size', 'tiny', '--steps', '4', '--curvature-every', '2', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const samples = lines.filter((l) => 'topEigenvalue' in l);
    assert.deepEqual(samples.map((s) => s.step), [2, 4]);
    for (const s of samples) assert.ok(Number.isFinite(s.topEigenvalue) && Number.isFinite(s.hessianTrace));
    const summary = lines[lines.length - 1] as { curvature: { step: number }[] };
    assert.deepEqual(summary.curvature.map((c) => c.step), [2, 4]);
    assert.match(cli(['train', '--problem', 'mlp-spirals', '--optimizer', 'adam', '--curvature-every', '0']).stderr, /--curvature-every must be an integer >= 1/);
  });
});
