/**
 * Independent oracle: losses, gradients, directional derivatives and exact Hessian-vector
 * products of two small networks, computed by our autodiff and by @jax-js/jax (eager mode,
 * float32, wasm device — the configuration DESIGN.md records as correct; its jit + float64
 * gives wrong gradients, so neither is used here). Same parameters, data and direction in both.
 *
 * Our side runs in float32 (what is compared) and in float64 (the reference the report prints
 * both float32 results against, so a failure says which side drifted).
 *
 * jax-js is an optional devDependency: it is imported by a computed specifier, so this file
 * compiles without it, and the tests skip with a message when it cannot be loaded.
 *
 * jax-js memory rules (its README, "Reference counting"): every function, method and
 * transformation consumes one reference to each Array argument; `a.ref` adds one; `dataSync()`
 * consumes the array it reads. Each helper below consumes exactly what it is given.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, type DType } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { add, div, exp, logsumexp, mean, softplus, sub, takeAlongAxis, tanh } from './ops.js';
import { jvp } from './jvp.js';
import { valueAndGrad } from './vjp.js';
import { hvp } from './compose.js';
import { treeLeaves, treeMap, treePaths, type PyTree } from './pytree.js';
import { Conv2d, Flatten, Linear, Sigmoid, Tanh, type LinearParams } from '../nn/layers.js';
import { Sequential } from '../nn/module.js';
import { mse, softmaxCrossEntropy } from '../nn/losses.js';

// ---------------------------------------------------------------------------------------------
// The slice of the @jax-js/jax 0.1.25 API this file uses, typed locally (the package's own
// typings are not imported so that the file compiles when the package is absent).

interface JArray {
  readonly shape: number[];
  /** +1 reference; returns the same array. */
  readonly ref: JArray;
  readonly refCount: number;
  add(other: JArray | number): JArray;
  sub(other: JArray | number): JArray;
  mul(other: JArray | number): JArray;
  div(other: JArray | number): JArray;
  neg(): JArray;
  sum(axis?: number | number[]): JArray;
  mean(axis?: number | number[]): JArray;
  transpose(perm?: number[]): JArray;
  reshape(shape: number[]): JArray;
  /** Reads the values and consumes the array. */
  dataSync(): Float32Array;
  dispose(): void;
}

type Pad = [number, number][];

interface JaxModule {
  init(...devices: string[]): Promise<string[]>;
  defaultDevice(device?: string): string;
  numpy: {
    array(values: Float32Array, opts?: { shape?: number[] }): JArray;
    matmul(a: JArray, b: JArray): JArray;
    exp(x: JArray): JArray;
    tanh(x: JArray): JArray;
    square(x: JArray): JArray;
  };
  nn: {
    sigmoid(x: JArray): JArray;
    softplus(x: JArray): JArray;
    logSoftmax(x: JArray, axis?: number): JArray;
  };
  lax: {
    convGeneralDilated(lhs: JArray, rhs: JArray, strides: number[], padding: Pad, opts?: { rhsDilation?: number[] }): JArray;
  };
  valueAndGrad(f: (p: JArray[]) => JArray): (p: JArray[]) => [JArray, JArray[]];
  grad(f: (p: JArray[]) => JArray): (p: JArray[]) => JArray[];
  jvp<T>(f: (p: JArray[]) => T, primals: [JArray[]], tangents: [JArray[]]): [T, T];
}

async function loadJax(): Promise<JaxModule | string> {
  const specifier = '@jax-js/jax';
  try {
    const m = (await import(specifier)) as JaxModule;
    // init() without arguments also tries WebGPU, which needs `navigator` (absent in Node).
    const ready = await m.init('wasm');
    if (!ready.includes('wasm')) return `@jax-js/jax: the wasm device did not start (got ${ready.join(', ')})`;
    m.defaultDevice('wasm');
    return m;
  } catch (e) {
    return `@jax-js/jax is not available (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); install the devDependency to run this cross-check`;
  }
}

const loaded = await loadJax();
const jax: JaxModule | undefined = typeof loaded === 'string' ? undefined : loaded;
const skip: string | false = typeof loaded === 'string' ? loaded : false;

// ---------------------------------------------------------------------------------------------
// Comparison helpers.

function flat(tree: PyTree): Float64Array {
  const leaves = treeLeaves(tree);
  const out = new Float64Array(leaves.reduce((n, l) => n + l.size, 0));
  let o = 0;
  for (const l of leaves) { out.set(l.data, o); o += l.size; }
  return out;
}

function concat(parts: readonly Float32Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** ||a - b|| / ||b||. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let d = 0;
  for (let i = 0; i < a.length; i++) d += (a[i] - b[i]) ** 2;
  return Math.sqrt(d) / norm(b);
}

const sizes = (leaves: readonly Tensor[]): number[] => leaves.map((l) => l.size);

function split(v: ArrayLike<number>, lens: readonly number[]): number[][] {
  const out: number[][] = [];
  let o = 0;
  for (const n of lens) { out.push(Array.from({ length: n }, (_, i) => v[o + i])); o += n; }
  return out;
}

const toF64 = <T extends PyTree>(t: T): T => treeMap(t, (l) => l.astype('float64'));

/** jax arrays for our tensors' values (float32), in the given order. */
function toJax(j: JaxModule, leaves: readonly Tensor[]): JArray[] {
  return leaves.map((l) => j.numpy.array(Float32Array.from(l.data), { shape: l.shape.slice() }));
}

// ---------------------------------------------------------------------------------------------
// A cross-check: one scalar objective written twice.

interface Results { loss: number; grad: Float64Array; jvp: number; hvp: Float64Array }

interface Case<P extends PyTree> {
  params: P;
  /** Leaf paths of `params`, pinning the order the jax function reads them in. */
  paths: string[];
  ours: (p: P, dtype: DType) => Tensor;
  /** Consumes one reference to each parameter; reads its constants through `.ref`. */
  theirs: (j: JaxModule, p: JArray[]) => JArray;
  /** jax constants (data), disposed at the end. */
  constants: JArray[];
}

function runOurs<P extends PyTree>(c: Case<P>, v: P, dtype: DType): Results {
  const p = dtype === 'float64' ? toF64(c.params) : c.params;
  const dir = dtype === 'float64' ? toF64(v) : v;
  const f = (q: P): Tensor => c.ours(q, dtype);
  const [loss, g] = valueAndGrad(f)(p) as [Tensor, P];
  const [, dl] = jvp(f, [p], [dir]);
  const hv = hvp(f, p, dir);
  return { loss: loss.item(), grad: flat(g), jvp: dl.item(), hvp: flat(hv) };
}

function runTheirs(j: JaxModule, params: JArray[], dir: JArray[], f: (p: JArray[]) => JArray): Results {
  const [loss, g] = j.valueAndGrad(f)(params.map((a) => a.ref));
  const [l2, dl] = j.jvp(f, [params.map((a) => a.ref)], [dir.map((a) => a.ref)]);
  l2.dispose();
  const [g2, hv] = j.jvp((q: JArray[]) => j.grad(f)(q), [params.map((a) => a.ref)], [dir.map((a) => a.ref)]);
  for (const a of g2) a.dispose();
  return { loss: loss.dataSync()[0], grad: concat(g.map((a) => a.dataSync())), jvp: dl.dataSync()[0], hvp: concat(hv.map((a) => a.dataSync())) };
}

function crossCheck<P extends PyTree>(j: JaxModule, c: Case<P>, rng: Rng, expectedPaths: string[], diag: (m: string) => void): void {
  assert.deepEqual(c.paths, expectedPaths, 'parameter order seen by the jax function');
  const leaves = treeLeaves(c.params);
  // A random direction, standard normal entries.
  const v = treeMap(c.params, (l) => rng.normal(l.shape, { dtype: 'float32' }));

  const t0 = performance.now();
  const ours = runOurs(c, v, 'float32');
  const ref = runOurs(c, v, 'float64');
  const t1 = performance.now();

  const jp = toJax(j, leaves);
  const jv = toJax(j, treeLeaves(v));
  const theirs = runTheirs(j, jp, jv, (p) => c.theirs(j, p));
  for (const a of [...jp, ...jv, ...c.constants]) a.dispose();
  // Every handle this test made is released (jax-js frees a buffer at refcount 0).
  for (const a of [...jp, ...jv, ...c.constants]) assert.equal(a.refCount, 0, 'a jax array still holds a reference');
  const t2 = performance.now();

  const n = leaves.reduce((s, l) => s + l.size, 0);
  const e = {
    loss: Math.abs(ours.loss - theirs.loss) / Math.abs(theirs.loss),
    grad: relErr(ours.grad, theirs.grad),
    jvp: Math.abs(ours.jvp - theirs.jvp) / Math.abs(theirs.jvp),
    hvp: relErr(ours.hvp, theirs.hvp),
  };
  diag(`${n} parameters; loss ${ours.loss.toPrecision(8)} (jax ${theirs.loss.toPrecision(8)}), |g| ${norm(theirs.grad).toPrecision(4)}, |Hv| ${norm(theirs.hvp).toPrecision(4)}`);
  diag(`ours f32 vs jax f32, relative error: loss ${e.loss.toExponential(2)}, grad ${e.grad.toExponential(2)}, jvp ${e.jvp.toExponential(2)}, hvp ${e.hvp.toExponential(2)}`);
  const vs64 = (r: Results): string => [
    `loss ${(Math.abs(r.loss - ref.loss) / Math.abs(ref.loss)).toExponential(2)}`, `grad ${relErr(r.grad, ref.grad).toExponential(2)}`,
    `jvp ${(Math.abs(r.jvp - ref.jvp) / Math.abs(ref.jvp)).toExponential(2)}`, `hvp ${relErr(r.hvp, ref.hvp).toExponential(2)}`].join(', ');
  diag(`vs our f64, relative error: ours f32 ${vs64(ours)}; jax f32 ${vs64(theirs)}`);
  diag(`time: ours (f32 + f64) ${(t1 - t0).toFixed(0)} ms, jax ${(t2 - t1).toFixed(0)} ms`);

  assert.ok(e.loss < 1e-5, `loss differs: ours ${ours.loss}, jax ${theirs.loss}`);
  assert.ok(e.jvp < 1e-4, `directional derivative differs: ours ${ours.jvp}, jax ${theirs.jvp}`);
  // Whole vectors, then each parameter tensor (a wrong small leaf can hide in the whole norm).
  for (const [what, a, b, tolWhole] of [['gradient', ours.grad, theirs.grad, 1e-4], ['Hessian-vector product', ours.hvp, theirs.hvp, 1e-4]] as const) {
    const err = relErr(a, b);
    assert.ok(err < tolWhole, `${what}: relative error ${err.toExponential(2)} >= ${tolWhole}`);
    const pa = split(a, sizes(leaves));
    const pb = split(b, sizes(leaves));
    c.paths.forEach((path, i) => {
      const d = Math.sqrt(pa[i].reduce((s, x, k) => s + (x - pb[i][k]) ** 2, 0));
      const bound = 1e-3 * norm(pb[i]) + 1e-6 * norm(b);
      assert.ok(d <= bound, `${what} of ${path}: |ours - jax| = ${d.toExponential(2)} > ${bound.toExponential(2)} (|jax| ${norm(pb[i]).toExponential(2)})`);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The networks.

/** y = x W^T + b with W [out, in], as our Linear. */
function jLinear(j: JaxModule, x: JArray, w: JArray, b: JArray): JArray {
  return j.numpy.matmul(x, w.transpose()).add(b);
}

/** NCHW conv with weight [O, I, kh, kw] and bias [O], padding and dilation as PyTorch's. */
function jConv(j: JaxModule, x: JArray, w: JArray, b: JArray, o: { stride: number; padding: number; dilation: number }): JArray {
  const pad: Pad = [[o.padding, o.padding], [o.padding, o.padding]];
  const y = j.lax.convGeneralDilated(x, w, [o.stride, o.stride], pad, { rhsDilation: [o.dilation, o.dilation] });
  return y.add(b.reshape([1, b.shape[0], 1, 1]));
}

/** Random biases (our layers start them at zero, which would hide bias paths). */
function randomizeBiases(rng: Rng, p: LinearParams): LinearParams {
  return p.bias === undefined ? p : { ...p, bias: rng.normal(p.bias.shape, { std: 0.3, dtype: 'float32' }) };
}

/** (a) MLP 8-16-16-4, tanh then sigmoid, softmax cross-entropy on integer labels. */
function mlpCase(j: JaxModule, rng: Rng, lossForm: 'logSoftmax' | 'logsumexp'): Case<PyTree[]> {
  const N = 12;
  const C = 4;
  const net = new Sequential([new Linear(8, 16), new Tanh(), new Linear(16, 16), new Sigmoid(), new Linear(16, C)]);
  const params = net.init(rng).map((p, i) => (i % 2 === 0 ? randomizeBiases(rng, p as LinearParams) : p));
  const x = rng.normal([N, 8], { dtype: 'float32' });
  const labels = Array.from({ length: N }, () => rng.nextInt(C));
  const t = new Tensor(Float32Array.from(labels), [N]);
  const oneHot = new Float32Array(N * C);
  labels.forEach((k, i) => { oneHot[i * C + k] = 1; });
  const [jx, jt] = [j.numpy.array(Float32Array.from(x.data), { shape: [N, 8] }), j.numpy.array(oneHot, { shape: [N, C] })];
  return {
    params,
    paths: treePaths(params),
    ours: (p, dtype) => {
      const z = net.apply(p, x.astype(dtype));
      // Library loss (logSoftmax primitive + takeAlongAxis), or the same written with logsumexp.
      if (lossForm === 'logSoftmax') return softmaxCrossEntropy().value(z, t.astype(dtype));
      return mean(sub(logsumexp(z, 1), takeAlongAxis(z, labels, 1)));
    },
    theirs: (jj, [w1, b1, w2, b2, w3, b3]) => {
      const h1 = jj.numpy.tanh(jLinear(jj, jx.ref, w1, b1));
      const h2 = jj.nn.sigmoid(jLinear(jj, h1, w2, b2));
      const z = jLinear(jj, h2, w3, b3);
      return jj.nn.logSoftmax(z, 1).mul(jt.ref).sum(1).mean().neg();
    },
    constants: [jx, jt],
  };
}

/**
 * (b) conv2d (dilated, padded) → softplus → conv2d (stride 2, padded, dilated) → tanh → flatten → dense → tanh
 * → residual block h + softplus(dense(h)) → a gated output dense(r) / (1 + exp(dense(r))) → MSE.
 */
function convCase(j: JaxModule, rng: Rng): Case<PyTree> {
  const N = 5;
  const geo1 = { stride: 1, padding: 2, dilation: 2 };
  const geo2 = { stride: 2, padding: 1, dilation: 2 };
  const conv1 = new Conv2d(2, 3, 3, geo1);
  const conv2 = new Conv2d(3, 4, 3, geo2);
  const flatten = new Flatten();
  const dense = new Linear(36, 8);
  const res = new Linear(8, 8);
  const out = new Linear(8, 3);
  const gate = new Linear(8, 3);
  const params = {
    conv1: randomizeBiases(rng, conv1.init(rng)),
    conv2: randomizeBiases(rng, conv2.init(rng)),
    dense: randomizeBiases(rng, dense.init(rng)),
    res: randomizeBiases(rng, res.init(rng)),
    out: randomizeBiases(rng, out.init(rng)),
    gate: randomizeBiases(rng, gate.init(rng)),
  };
  const x = rng.normal([N, 2, 7, 7], { dtype: 'float32' });
  const y = rng.normal([N, 3], { dtype: 'float32' });
  const [jx, jy] = [j.numpy.array(Float32Array.from(x.data), { shape: [N, 2, 7, 7] }), j.numpy.array(Float32Array.from(y.data), { shape: [N, 3] })];
  type P = typeof params;
  return {
    params,
    paths: treePaths(params),
    ours: (pt, dtype) => {
      const p = pt as P;
      const a1 = softplus(conv1.apply(p.conv1, x.astype(dtype)));
      const a2 = tanh(conv2.apply(p.conv2, a1));
      const h = tanh(dense.apply(p.dense, flatten.apply({}, a2)));
      const r = add(h, softplus(res.apply(p.res, h)));
      const o = div(out.apply(p.out, r), add(1, exp(gate.apply(p.gate, r))));
      return mse().value(o, y.astype(dtype));
    },
    theirs: (jj, [cw1, cb1, cw2, cb2, dw, db, rw, rb, ow, ob, gw, gb]) => {
      const a1 = jj.nn.softplus(jConv(jj, jx.ref, cw1, cb1, geo1));
      const a2 = jj.numpy.tanh(jConv(jj, a1, cw2, cb2, geo2));
      const h = jj.numpy.tanh(jLinear(jj, a2.reshape([N, 36]), dw, db));
      const r = h.ref.add(jj.nn.softplus(jLinear(jj, h, rw, rb)));
      const o = jLinear(jj, r.ref, ow, ob).div(jj.numpy.exp(jLinear(jj, r, gw, gb)).add(1));
      return jj.numpy.square(o.sub(jy.ref)).mean();
    },
    constants: [jx, jy],
  };
}

describe('autodiff cross-check against @jax-js/jax (float32, eager, wasm)', { skip }, () => {
  it('(a) MLP 8-16-16-4 tanh/sigmoid, softmax cross-entropy via logSoftmax: loss, grad, jvp, hvp', (t) => {
    const j = jax as JaxModule;
    crossCheck(j, mlpCase(j, new Rng(11), 'logSoftmax'), new Rng(12),
      ['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias'], (m) => t.diagnostic(m));
  });

  it('(a\') the same MLP, cross-entropy written with logsumexp on our side', (t) => {
    const j = jax as JaxModule;
    crossCheck(j, mlpCase(j, new Rng(21), 'logsumexp'), new Rng(22),
      ['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias'], (m) => t.diagnostic(m));
  });

  it('(b) conv2d (padded, dilated, strided) + softplus + residual + exp/division gate, MSE: loss, grad, jvp, hvp', (t) => {
    const j = jax as JaxModule;
    crossCheck(j, convCase(j, new Rng(31)), new Rng(32),
      ['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'dense.weight', 'dense.bias',
        'res.weight', 'res.bias', 'out.weight', 'out.bias', 'gate.weight', 'gate.bias'], (m) => t.diagnostic(m));
  });
});
