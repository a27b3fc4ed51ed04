/**
 * `hessian train --data`: a user's CSV, idx, .npy or .npz file trains through the CLI, the
 * hyper-parameter flags reach the optimizer (and are printed), and every bad file or flag fails
 * with one line naming the file and line, field or option. Runs the compiled CLI as a child.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Rng } from '../tensor/random.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));
const FIX = fileURLToPath(new URL('../../src/data/files/fixtures/', import.meta.url));
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
const dir = mkdtempSync(join(tmpdir(), 'hessian-data-cli-'));
const file = (name: string, content: string | Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

/** 90 points in 2-D, 3 classes by angle sector, as CSV with a header. */
function csv(): string {
  const rng = new Rng(1);
  const x = rng.normal([90, 2], { dtype: 'float64' }).data;
  const rows = ['x1,x2,class'];
  for (let i = 0; i < 90; i++) {
    const a = Math.atan2(x[2 * i + 1], x[2 * i]) + Math.PI;
    rows.push(`${x[2 * i].toFixed(4)},${x[2 * i + 1].toFixed(4)},${Math.min(2, Math.floor((3 * a) / (2 * Math.PI)))}`);
  }
  return `${rows.join('\n')}\n`;
}

/** An idx file: header (type, dims) then big-endian bytes. */
function idx(type: number, shape: number[], values: number[]): Uint8Array {
  const head = new Uint8Array(4 + 4 * shape.length);
  head.set([0, 0, type, shape.length]);
  const dv = new DataView(head.buffer);
  shape.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  return new Uint8Array([...head, ...values]);
}

test('a CSV trains with K-FAC, Adam with --lr/--batch-size/--set, and the hyper-parameters are in the JSON line', () => {
  const p = file('sectors.csv', csv());
  const r = cli(['train', '--data', p, '--model', 'mlp:2-16-3', '--optimizer', 'adam', '--steps', '40', '--lr', '0.05', '--batch-size', '24', '--set', 'b1=0.8', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const last = lines[lines.length - 1];
  assert.deepEqual(last.hyper, { options: { lr: 0.05, b1: 0.8 }, batchSize: 24 });
  assert.ok(last.trainLoss < lines[0].trainLoss, `${lines[0].trainLoss} -> ${last.trainLoss}`);
  assert.ok(last.testAccuracy > 0.5);
  const k = cli(['train', '--data', p, '--model', 'mlp:2-16-3', '--optimizer', 'kfac', '--steps', '15', '--json']);
  assert.equal(k.status, 0, k.stderr);
  const kl = k.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(kl[kl.length - 1].trainLoss < 0.7 * kl[0].trainLoss);
});

test('idx images with gzip labels train an MLP; a CNN takes the images as [N, 1, H, W]', () => {
  const pixels = Array.from({ length: 40 * 16 }, (_, i) => (i * 37) % 256);
  const labels = Array.from({ length: 40 }, (_, i) => i % 4);
  const x = file('img-idx3-ubyte', idx(8, [40, 4, 4], pixels));
  const y = file('lab-idx1-ubyte.gz', gzipSync(idx(8, [40], labels)));
  const r = cli(['train', '--data', x, '--labels', y, '--model', 'mlp:16-8-4', '--optimizer', 'lbfgs', '--steps', '5', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const c = cli(['train', '--data', x, '--labels', y, '--model', 'cnn:4', '--optimizer', 'adam', '--steps', '2', '--json']);
  assert.equal(c.status, 0, c.stderr);
  const bad = cli(['train', '--data', file('img6-idx3-ubyte', idx(8, [2, 6, 6], Array.from({ length: 72 }, () => 1))), '--labels', y, '--model', 'cnn:4', '--optimizer', 'adam', '--steps', '2']);
  // The image check runs before the labels are read against the examples: the pooling mismatch is what is named.
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /cnn: image size 6 must be divisible by 2\^2/);
});

test('bad files and flags: one line naming the file and line, field or option', () => {
  const one = (args: string[], re: RegExp) => {
    const r = cli(['train', ...args, '--optimizer', 'adam', '--steps', '2']);
    assert.notEqual(r.status, 0, `${args.join(' ')} succeeded`);
    const msg = r.stderr.trim();
    assert.equal(msg.split('\n').length, 1, msg);
    assert.match(msg, re);
  };
  const ragged = file('ragged.csv', 'a,b,c\n1,2,0\n3,1\n');
  one(['--data', ragged, '--model', 'mlp:2-2'], new RegExp(`${ragged}: line 3 has 2 fields, expected 3`));
  one(['--data', file('nan.csv', '1,2,0\nnan,1,1\n'), '--model', 'mlp:2-2'], /nan.csv: line 2, column 1 \(column 0\): 'nan' is not a finite number/);
  one(['--data', file('range.csv', '1,2,0\n3,1,5\n'), '--model', 'mlp:2-3'], /range.csv: example 1 has label 5, expected an integer in 0..2/);
  one(['--data', file('magic-idx3-ubyte', new Uint8Array([8, 0, 8, 1, 0, 0, 0, 1, 3])), '--labels', file('l-idx1-ubyte', idx(8, [1], [0])), '--model', 'mlp:1-2'], /magic-idx3-ubyte: not an idx file: wrong magic number/);
  one(['--data', join(FIX, 'f4.npy'), '--model', 'mlp:3-2'], /f4.npy holds no labels: give --labels FILE/);
  one(['--data', join(FIX, 'f4.npy'), '--model', 'mlp:5-2'], /f4.npy: examples have 3 features, --model mlp:5-2 expects 5/);
  const p = file('ok.csv', csv());
  one(['--data', p, '--model', 'rnn:3'], /unknown model 'rnn'/);
  one(['--data', p, '--model', 'mlp:2-3', '--set', 'nope=1'], /adam: unknown option 'nope'/);
  one(['--data', p, '--model', 'mlp:2-3', '--lr', '-1'], /--lr must be a positive number/);
  one(['--data', p, '--model', 'mlp:2-3', '--batch-size', '1000'], /--batch-size 1000 exceeds/);
  one(['--problem', 'mlp-iris', '--data', p, '--model', 'mlp:2-3'], /give --problem or --data, not both/);
  one(['--problem', 'mlp-iris', '--model', 'mlp:2-3'], /--model needs --data FILE/);
});

test('every command answers --help', () => {
  for (const cmd of ['train', 'bench', 'list', 'info']) {
    const r = cli([cmd, '--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, new RegExp(`^hessian ${cmd}:`));
  }
});
