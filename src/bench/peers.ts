/**
 * The PyTorch peer of `hessian bench`: the same model problems (same data, same architecture,
 * same loss, same batch sizes and learning rates as our table) trained by torch.optim's Adam,
 * SGD with momentum and L-BFGS (strong Wolfe), in the same invocation. Runs appear in the
 * results as `torch-adam`, `torch-momentum`, `torch-lbfgs`. Skipped cleanly where Debian's
 * python3-torch is missing. Test functions (mgh/*) are not run by the peer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../tensor/tensor.js';
import { Linear, Conv2d } from '../nn/layers.js';
import { Lambda, Sequential, type Module } from '../nn/module.js';
import { problemById, type DataSize } from './problems.js';
import { hyperFor } from './hyper.js';
import type { Budget, RunRecord } from './runner.js';
import { torchUnavailable } from './util.js';

const PEER_OPTIMIZERS = ['adam', 'momentum', 'lbfgs'] as const;

function layerSpec(m: Module): Record<string, unknown> {
  if (m instanceof Linear) return { type: 'linear', in: m.inFeatures, out: m.outFeatures, bias: m.bias };
  if (m instanceof Conv2d) return { type: 'conv2d', in: m.inChannels, out: m.outChannels, kernel: m.kernel, stride: m.options.stride ?? 1, padding: m.options.padding ?? 0, dilation: m.options.dilation ?? 1, bias: m.options.bias ?? true };
  if (m instanceof Lambda) {
    const name = m.toString();
    const pool = /^MaxPool2d\((\d+)\)$/.exec(name);
    if (pool) return { type: 'maxpool2d', kernel: Number(pool[1]) };
    return { type: name.toLowerCase() };
  }
  throw new Error(`torch peer: cannot describe layer ${m.toString()}`);
}

function writeTensor(dir: string, name: string, t: Tensor): { file: string; shape: number[] } {
  const file = join(dir, `${name}.f32`);
  writeFileSync(file, Buffer.from(Float32Array.from(t.data).buffer));
  return { file, shape: t.shape.slice() };
}

export function runTorchPeers(problems: string[], seeds: number, budget: Budget, size: DataSize): { available: boolean; reason?: string; version?: string; runs: RunRecord[] } {
  const missing = torchUnavailable();
  if (missing !== undefined) return { available: false, reason: missing, runs: [] };
  const dir = mkdtempSync(join(tmpdir(), 'hessian-peer-'));
  try {
    const jobs: Record<string, unknown>[] = [];
    for (const id of problems) {
      const problem = problemById(id);
      if (problem.kind === 'function') continue;
      for (let seed = 0; seed < seeds; seed++) {
        const inst = problem.build(seed, { size });
        if (!(inst.model instanceof Sequential) || inst.loss === undefined || inst.data === undefined) continue;
        const train = inst.data.train;
        jobs.push({
          problem: id, seed, kind: problem.kind,
          layers: inst.model.layers.map(layerSpec),
          loss: { name: inst.loss.name, reduction: inst.loss.reduction },
          x: writeTensor(dir, `${id}-${seed}-x`, train.x), y: writeTensor(dir, `${id}-${seed}-y`, train.y),
          optimizers: PEER_OPTIMIZERS.map((o) => ({ id: o, hyper: hyperFor(id, problem.kind, o) })),
        });
      }
    }
    if (jobs.length === 0) return { available: true, reason: 'no model problems in this run', runs: [] };
    const spec = join(dir, 'spec.json');
    writeFileSync(spec, JSON.stringify({ budget, jobs }));
    const script = fileURLToPath(new URL('../../src/bench/peers/torch-suite.py', import.meta.url));
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    const r = spawnSync('/usr/bin/python3', [script, spec], { encoding: 'utf8', env, maxBuffer: 1 << 28 });
    if (r.status !== 0) return { available: false, reason: `the PyTorch peer failed: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`, runs: [] };
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { version: string; runs: RunRecord[] };
    return { available: true, version: out.version, runs: out.runs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
