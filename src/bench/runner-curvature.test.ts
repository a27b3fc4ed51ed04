/**
 * `curvatureEvery`: the runner samples the Hessian's top eigenvalue and trace into the curve
 * outside the timed work, and the report plots them. Oracle: the dense Hessian of the full
 * objective (iris MLP, 131 parameters) at the sampled parameters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linalg } from '../index.js';
import { linearOperator } from '../curvature/operators/linear-operator.js';
import { problemById } from './problems.js';
import { runOne } from './runner.js';
import { renderReport } from './report.js';

test('curve points carry the top Hessian eigenvalue and trace every N steps; they match the dense Hessian; the report plots them', () => {
  const { record, checkpoint } = runOne('mlp-iris', 'adam', 0, { steps: 6 }, { curvatureEvery: 3 });
  const sampled = record.curve.filter((c) => c.topEigenvalue !== undefined);
  assert.deepEqual(sampled.map((c) => c.step), [0, 3, 6]);
  for (const c of sampled) assert.ok(Number.isFinite(c.hessianTrace) && (c.hessianTraceStderr ?? -1) >= 0);
  // Oracle at the final parameters (the last sample is at step 6 = the end).
  const inst = problemById('mlp-iris').build(0);
  const H = linearOperator('H', checkpoint.params, (v) => inst.full.hvp!(checkpoint.params, v)).toDense();
  const eig = linalg.eigh(H).eigenvalues.data;
  const top = Math.max(...Array.from(eig, Math.abs));
  const traceExact = Array.from(eig).reduce((a, b) => a + b, 0);
  const last = sampled[sampled.length - 1];
  // Power iteration stops on a relative change of 1e-3 between iterations (PyHessian's rule): within 1%.
  assert.ok(Math.abs(Math.abs(last.topEigenvalue!) - top) < 1e-2 * top, `top ${last.topEigenvalue} vs ${top}`);
  assert.ok(Math.abs(last.hessianTrace! - traceExact) < 4 * last.hessianTraceStderr! + 1e-9 * Math.abs(traceExact), `trace ${last.hessianTrace} ± ${last.hessianTraceStderr} vs ${traceExact}`);
  const html = renderReport({
    version: 'test', created: new Date(0).toISOString(), machine: { cpu: 'x', cores: 1, backend: 'ts', simd: 'none', threads: 1, node: 'v20' },
    settings: { budget: { steps: 6 }, seeds: 1, size: 'small', tuned: false, suite: 'custom', stopping: false }, headlines: [], runs: [record],
    peers: { torch: { available: false, reason: 'test' } },
  });
  assert.match(html, /top Hessian eigenvalue vs steps/);
  assert.match(html, /Hessian trace \(Hutchinson\) vs steps/);
  assert.throws(() => runOne('mlp-iris', 'adam', 0, { steps: 1 }, { curvatureEvery: 0 }), /curvatureEvery must be a positive integer/);
});
