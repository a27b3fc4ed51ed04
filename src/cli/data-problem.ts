/**
 * `hessian train --data FILE [--labels FILE] --model SPEC`: a problem from the user's files,
 * registered for this process, so the whole train machinery (budget, checkpoints, progress)
 * runs on it. Files: CSV (label in the last column unless --labels is given), NumPy .npy
 * (features; labels from --labels), .npz (arrays named x and y), MNIST idx (gzip or not;
 * uint8 values scaled to [0, 1]). Models: `mlp:784-256-10[:relu]`, `linear:784-10`,
 * `autoencoder:784-400-30` (mirrored; targets are the inputs), `cnn:CLASSES` (images).
 */
import { basename } from 'node:path';
import { Tensor } from '../tensor/tensor.js';
import { Module } from '../nn/module.js';
import { cnn, deepAutoencoder, mlp, type Activation } from '../nn/models.js';
import { mse, sigmoidBinaryCrossEntropy, softmaxCrossEntropy, type Loss } from '../nn/losses.js';
import { loadCsv } from '../data/files/csv.js';
import { loadIdx } from '../data/files/idx.js';
import { loadNpy, loadNpz } from '../data/files/npy.js';
import { DataFileError } from '../data/files/read.js';
import { split } from '../data/files/dataset.js';
import { PROBLEMS, registerProblem } from '../bench/problems.js';
import { UsageError } from './errors.js';

export interface DataArgs {
  data?: string;
  labels?: string;
  model?: string;
  loss?: string;
  'test-fraction'?: string;
}

interface ModelSpec {
  kind: 'classifier' | 'autoencoder' | 'regression';
  build: () => Module;
  /** Features per example the model reads (undefined: images, checked by shape). */
  inputs?: number;
  /** Outputs per example. */
  outputs: number;
  images: boolean;
}

function sizesOf(spec: string, text: string | undefined, min: number): number[] {
  const sizes = (text ?? '').split('-').map(Number);
  if (text === undefined || sizes.length < min || sizes.some((s) => !Number.isSafeInteger(s) || s < 1)) {
    throw new UsageError(`--model '${spec}': expected ${min === 1 ? 'a positive integer' : `at least ${min} positive sizes joined by '-', e.g. mlp:784-256-10`}`);
  }
  return sizes;
}

/** Parse `--model`; the loss decides classification against regression for mlp/linear. */
export function parseModelSpec(spec: string, loss: string | undefined): ModelSpec {
  const [name, sizesText, act] = spec.split(':');
  const regression = loss === 'mse';
  if (name === 'mlp' || name === 'linear') {
    const sizes = sizesOf(spec, sizesText, 2);
    if (name === 'linear' && sizes.length !== 2) throw new UsageError(`--model '${spec}': linear takes two sizes, inputs-outputs`);
    const activation = (act ?? 'tanh') as Activation;
    if (!['tanh', 'relu', 'sigmoid', 'softplus', 'gelu'].includes(activation)) throw new UsageError(`--model '${spec}': activation must be tanh, relu, sigmoid, softplus or gelu`);
    return { kind: regression ? 'regression' : 'classifier', build: () => mlp(sizes, { activation }), inputs: sizes[0], outputs: sizes[sizes.length - 1], images: false };
  }
  if (name === 'autoencoder') {
    const sizes = sizesOf(spec, sizesText, 2);
    return { kind: 'autoencoder', build: () => deepAutoencoder(sizes), inputs: sizes[0], outputs: sizes[0], images: false };
  }
  if (name === 'cnn') {
    const [classes] = sizesOf(spec, sizesText ?? '10', 1);
    // Channels and image size come from the data (registerDataProblem replaces build).
    return { kind: 'classifier', build: () => cnn({ classes }), outputs: classes, images: true };
  }
  throw new UsageError(`--model '${spec}': unknown model '${name}' (mlp:784-256-10[:relu], linear:784-10, autoencoder:784-400-30, cnn:10)`);
}

function lossFor(kind: ModelSpec['kind'], loss: string | undefined): Loss {
  const l = loss ?? (kind === 'autoencoder' ? 'bce' : kind === 'regression' ? 'mse' : 'ce');
  if (l === 'ce') return softmaxCrossEntropy();
  if (l === 'bce') return sigmoidBinaryCrossEntropy({ reduction: 'batchmean' });
  if (l === 'mse') return mse();
  throw new UsageError(`--loss must be ce, bce or mse, got '${l}'`);
}

function isIdx(path: string): boolean {
  return !/\.(csv|tsv|txt|npy|npz)(\.gz)?$/i.test(path);
}

/** Features [N, ...] and optional labels [N] from the files. */
function readFiles(data: string, labels: string | undefined): { x: Tensor; y?: Tensor; yFile: string } {
  const lower = data.toLowerCase();
  if (/\.(csv|tsv|txt)(\.gz)?$/.test(lower)) {
    const d = loadCsv(data, labels === undefined ? {} : { label: 'none' });
    return { x: d.x, y: labels === undefined ? d.y : readLabels(labels), yFile: labels ?? data };
  }
  if (/\.npz$/.test(lower)) {
    const arrays = loadNpz(data);
    if (arrays.x === undefined) throw new DataFileError(data, `the archive has no array named 'x' (arrays: ${Object.keys(arrays).join(', ')})`);
    return { x: arrays.x, y: labels === undefined ? arrays.y : readLabels(labels), yFile: labels ?? `${data}:y` };
  }
  const x = /\.npy$/.test(lower) ? loadNpy(data) : loadIdx(data);
  return { x, y: labels === undefined ? undefined : readLabels(labels), yFile: labels ?? data };
}

function readLabels(path: string): Tensor {
  const lower = path.toLowerCase();
  if (/\.(csv|tsv|txt)(\.gz)?$/.test(lower)) return loadCsv(path, { label: 'none', header: 'auto' }).x;
  if (/\.npy$/.test(lower)) return loadNpy(path);
  if (isIdx(path)) return loadIdx(path);
  throw new UsageError(`--labels '${path}': use a .csv, .npy or idx file`);
}

function checkFinite(file: string, t: Tensor): void {
  const d = t.data;
  const row = t.shape[0] > 0 ? t.size / t.shape[0] : 1;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) throw new DataFileError(file, `example ${Math.floor(i / row)} has a non-finite value (${d[i]})`);
}

/** Register the problem described by --data/--labels/--model; returns its id and training-set size. */
export function registerDataProblem(a: DataArgs): { id: string; trainSize: number } {
  if (a.data === undefined) throw new UsageError('--data FILE is required');
  if (a.model === undefined) throw new UsageError('--data needs --model (e.g. mlp:784-256-10)');
  const spec = parseModelSpec(a.model, a.loss);
  const loss = lossFor(spec.kind, a.loss);
  const frac = a['test-fraction'] === undefined ? 0.2 : Number(a['test-fraction']);
  if (!(frac >= 0 && frac < 1)) throw new UsageError(`--test-fraction must be in [0, 1), got '${a['test-fraction']}'`);
  const files = readFiles(a.data, a.labels);
  const yFile = files.yFile;
  let { x, y } = files;
  checkFinite(a.data, x);
  const n = x.shape[0];
  if (spec.images) {
    if (x.ndim === 3) x = new Tensor(x.data, [n, 1, x.shape[1], x.shape[2]]);
    if (x.ndim !== 4 || x.shape[2] !== x.shape[3]) throw new DataFileError(a.data, `--model ${a.model} needs square images [N, H, H] or [N, C, H, H], the file holds [${x.shape.join(', ')}]`);
    const [channels, size, classes] = [x.shape[1], x.shape[2], spec.outputs];
    spec.build = () => cnn({ classes, channels, size });
    spec.build(); // checks the image size against the pooling before any run
  } else {
    const features = x.size / Math.max(1, n);
    if (x.ndim !== 2) x = new Tensor(x.data, [n, features]);
    if (features !== spec.inputs) throw new DataFileError(a.data, `examples have ${features} features, --model ${a.model} expects ${spec.inputs}`);
  }
  // Pixel files (idx, uint8 npy) come as 0..255: scale to [0, 1] as the shipped MNIST is.
  let max = 0;
  for (let i = 0; i < x.size; i++) max = Math.max(max, Math.abs(x.data[i]));
  if (max > 1 && max <= 255 && isIdx(a.data)) x = new Tensor(x.data.map((v) => v / 255) as typeof x.data, x.shape);
  if (spec.kind === 'autoencoder') y = x;
  else {
    if (y === undefined) throw new UsageError(`--data ${a.data} holds no labels: give --labels FILE`);
    checkFinite(yFile, y);
    if (y.shape[0] !== n) throw new DataFileError(yFile, `has ${y.shape[0]} labels for the ${n} examples of ${a.data}`);
    if (spec.kind === 'classifier') {
      if (y.size !== n) throw new DataFileError(yFile, `labels must be one integer per example, got shape [${y.shape.join(', ')}]`);
      for (let i = 0; i < n; i++) {
        const v = y.data[i];
        if (!Number.isInteger(v) || v < 0 || v >= spec.outputs) throw new DataFileError(yFile, `example ${i} has label ${v}, expected an integer in 0..${spec.outputs - 1} (the model has ${spec.outputs} outputs)`);
      }
      y = new Tensor(y.data, [n]);
    } else {
      if (y.size !== n * spec.outputs) throw new DataFileError(yFile, `regression targets must be ${spec.outputs} per example, got shape [${y.shape.join(', ')}]`);
      y = new Tensor(y.data, [n, spec.outputs]);
    }
    if (y.dtype !== x.dtype) y = y.astype(x.dtype);
  }
  const slug = basename(a.data).toLowerCase().replace(/\.(gz)$/, '').replace(/\.[a-z]+$/, '').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'file';
  let id = `data-${slug}`;
  for (let k = 2; PROBLEMS.has(id); k++) id = `data-${slug}-${k}`;
  const ds = { x, y: y as Tensor };
  if (n < 2 && frac > 0) throw new DataFileError(a.data, `has ${n} example(s): too few to hold some out (use --test-fraction 0)`);
  const nTest = frac > 0 ? Math.max(1, Math.round(frac * n)) : 0;
  registerProblem({
    id, kind: spec.kind, model: spec.build, loss, title: `${a.model} on ${basename(a.data)}`,
    description: `${a.model}, ${n} examples from ${a.data}${frac > 0 ? `, ${Math.round(frac * 100)}% held out` : ''}`,
    data: (seed) => (nTest > 0 ? split(ds, { test: nTest, seed }) : { train: ds }),
  });
  return { id, trainSize: n - nTest };
}
