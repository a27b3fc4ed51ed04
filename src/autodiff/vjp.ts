/**
 * Reverse mode: `vjp`, `grad`, `valueAndGrad`. Evaluating `f` records a tape of primitive
 * applications; the backward pass walks it in reverse, applying each primitive's VJP rule.
 * Rules are written with differentiable ops, so the backward pass is itself traced by any
 * enclosing transformation: `grad(grad(f))`, `jvp(grad(f))` (forward-over-reverse Hessian-vector
 * products) and `grad(x => jvp(f, ...))` all work.
 */
import { Tensor, allocate, fmtShape, sameShape, shapeSize, zeros } from '../tensor/tensor.js';
import { sliceAdjointAdd } from '../tensor/shape-ops.js';
import { Tracer, bind, newLevel, releaseLevel, transformationActive, type Trace } from './core.js';
import { DeadValues } from './dead-values.js';
import type { PrimitiveName, PrimitiveParams } from './primitives.js';
import { BINARY_PARTIALS, UNARY_DERIVATIVES, UNARY_GRAD_SLOPES, fusedUnaryVjp, scaleBy, unaryGradFactor, unbroadcast } from './derivatives.js';
import { add, broadcastTo, cast, div, equal, exp, mul, reshape, slice, sub, sum, transpose, where } from './ops.js';
import { treeLeaves, treeUnflatten, type PyTree } from './pytree.js';
import { openScope } from '../tensor/memory.js';
import { autoScope, closeScope, escape } from '../tensor/scope.js';

/**
 * One recorded primitive application. Plain data, not a closure: the backward pass calls the
 * primitive's rule on these fields, so recording a node allocates one object (a closure per node
 * plus its context cost a measurable share of a small graph's eager grad).
 */
interface Node {
  readonly parents: readonly (Node | null)[];
  /** The primitive, or null for a leaf (an argument of the differentiated function). */
  readonly prim: PrimitiveName | null;
  readonly primals: Tensor[];
  readonly y: Tensor | null;
  readonly params: unknown;
  readonly needs: boolean[];
}

const NO_TENSORS: Tensor[] = [];
const NO_NEEDS: boolean[] = [];

function leafNode(): Node {
  return { parents: NO_NODES, prim: null, primals: NO_TENSORS, y: null, params: null, needs: NO_NEEDS };
}
const NO_NODES: readonly (Node | null)[] = [];

/** The node's VJP rule applied to cotangent `ct` (a leaf has none). */
function nodeBackward(node: Node, ct: Tensor, needs: boolean[] = node.needs): (Tensor | null)[] {
  const rule = VJP_RULES[node.prim as PrimitiveName] as VjpRule<PrimitiveName>;
  return rule(ct, node.primals, node.y as Tensor, node.params as PrimitiveParams[PrimitiveName], needs);
}

class VjpTracer extends Tracer {
  constructor(readonly trace: VjpTrace, primal: Tensor, readonly node: Node | null) {
    super(primal);
  }
}

/** Filled by the backward pass with the cotangent of a value marked by `retainGrad`. */
export interface RetainedGrad {
  /** The cotangent (gradient) of the differentiated output w.r.t. the value; null until a backward pass reaches it. */
  grad: Tensor | null;
  readonly value: Tensor;
}

class VjpTrace implements Trace {
  readonly tape: Node[] = [];
  readonly retained = new Map<Node, RetainedGrad[]>();
  /** Tensors the tape's rules read (pinned: no scope releases them while the tape lives). */
  readonly residuals: Tensor[] = [];
  /**
   * Tape nodes from this index on were consumed by a backward pass that unpinned their residuals
   * as it went (a single-use pullback); the last `residuals.length - pinnedResiduals` pins are gone.
   */
  pinnedResiduals = 0;
  constructor(readonly level: number) {}

  pin(t: Tensor): void {
    t._pins++;
    this.residuals.push(t);
    this.pinnedResiduals = this.residuals.length;
  }

  /** The tape is done: its residuals may be released by their scopes. */
  unpin(): void {
    const r = this.residuals;
    for (let i = 0; i < this.pinnedResiduals; i++) r[i]._pins--;
    r.length = 0;
    this.pinnedResiduals = 0;
    this.tape.length = 0;
  }

  lift(x: Tensor): Tracer {
    return new VjpTracer(this, x, null);
  }

  process<K extends PrimitiveName>(prim: K, inputs: Tracer[], params: PrimitiveParams[K]): Tensor {
    // Plain loops: this runs once per traced op, and the arrays it builds are the node's own.
    const n = inputs.length;
    const primals = new Array<Tensor>(n);
    const parents = new Array<Node | null>(n);
    const needs = new Array<boolean>(n);
    let any = false;
    for (let i = 0; i < n; i++) {
      const t = inputs[i] as VjpTracer;
      primals[i] = t.primal;
      parents[i] = t.node;
      needs[i] = t.node !== null;
      if (t.node !== null) any = true;
    }
    const y = bind(prim, primals, params);
    if (!any) return new VjpTracer(this, y, null);
    const node: Node = { parents, prim, primals, y, params, needs };
    this.tape.push(node);
    for (let i = 0; i < n; i++) this.pin(primals[i]);
    this.pin(y);
    return new VjpTracer(this, y, node);
  }
}

/** Cotangents of the inputs given the output cotangent `ct`; `needs[i]` false means input i's may be skipped (null). */
type VjpRule<K extends PrimitiveName> = (ct: Tensor, primals: Tensor[], y: Tensor, params: PrimitiveParams[K], needs: boolean[]) => (Tensor | null)[];

function keepDimsShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => { inv[p] = i; });
  return inv;
}

function extremum<K extends 'max' | 'min'>(): VjpRule<K> {
  return (ct, [x], y, params) => {
    const ks = keepDimsShape(x.shape, params.axes);
    const mask = equal(x, reshape(y, ks));
    return [div(mul(reshape(ct, ks), mask), sum(mask, params.axes, true))];
  };
}

export const VJP_RULES: { readonly [K in PrimitiveName]: VjpRule<K> } = {
  unary: (ct, [x], y, params) => {
    const fused = fusedUnaryVjp(params.op, ct, x, y);
    if (fused !== null) return [fused];
    const d = UNARY_DERIVATIVES[params.op];
    return [d === null ? null : scaleBy(ct, typeof d === 'number' ? d : d(x, y))];
  },
  // unaryGrad(g, r) = g·φ(r): linear in g (the same kernel applied to ct), and ct·g·φ'(r) for r.
  unaryGrad: (ct, [g, r], _y, params, needs) => {
    const slope = UNARY_GRAD_SLOPES[params.op];
    return [
      needs[0] ? unaryGradFactor(params.op, ct, r) : null,
      needs[1] && slope !== null ? scaleBy(mul(ct, g), typeof slope === 'number' ? slope : slope(r)) : null,
    ];
  },
  binary: (ct, [a, b], y, params, needs) => {
    const p = BINARY_PARTIALS[params.op];
    if (p === null) return [null, null];
    return [
      needs[0] ? unbroadcast(scaleBy(ct, typeof p.da === 'number' ? p.da : p.da(a, b, y)), a.shape) : null,
      needs[1] ? unbroadcast(scaleBy(ct, typeof p.db === 'number' ? p.db : p.db(a, b, y)), b.shape) : null,
    ];
  },
  sum: (ct, [x], _y, params) => [broadcastTo(reshape(ct, keepDimsShape(x.shape, params.axes)), x.shape)],
  max: extremum<'max'>(),
  min: extremum<'min'>(),
  logsumexp: (ct, [x], y, params) => {
    const ks = keepDimsShape(x.shape, params.axes);
    return [mul(reshape(ct, ks), exp(sub(x, reshape(y, ks))))];
  },
  softmax: (ct, _p, y, params) => [mul(y, sub(ct, sum(mul(ct, y), params.axis, true)))],
  logSoftmax: (ct, _p, y, params) => [sub(ct, mul(exp(y), sum(ct, params.axis, true)))],
  reshape: (ct, [x]) => [reshape(ct, x.shape)],
  transpose: (ct, _p, _y, params) => [transpose(ct, inversePerm(params.perm))],
  broadcastTo: (ct, [x]) => [unbroadcast(ct, x.shape)],
  slice: (ct, [x], _y, params) => [bind('sliceAdjoint', [ct], { inShape: x.shape.slice(), start: params.start, step: params.step })],
  sliceAdjoint: (ct, [yIn], _y, params) => [bind('slice', [ct], { start: params.start, step: params.step, shape: yIn.shape.slice() })],
  concat: (ct, primals, _y, params, needs) => {
    let off = 0;
    return primals.map((x, i) => {
      const start = ct.shape.map(() => 0);
      const stop = ct.shape.slice();
      start[params.axis] = off;
      stop[params.axis] = off + x.shape[params.axis];
      off += x.shape[params.axis];
      return needs[i] ? slice(ct, start, stop) : null;
    });
  },
  gather: (ct, [x], _y, params) => [
    bind('gatherAdjoint', [ct], { indices: params.indices, indexRank: params.indexShape.length, axis: params.axis, n: x.shape[params.axis] }),
  ],
  gatherAdjoint: (ct, [yIn], _y, params) => [
    bind('gather', [ct], { indices: params.indices, indexShape: yIn.shape.slice(params.axis, params.axis + params.indexRank), axis: params.axis }),
  ],
  takeAlongAxis: (ct, [x], _y, params) => [bind('takeAlongAxisAdjoint', [ct], { indices: params.indices, axis: params.axis, n: x.shape[params.axis] })],
  takeAlongAxisAdjoint: (ct, _p, _y, params) => [bind('takeAlongAxis', [ct], { indices: params.indices, axis: params.axis })],
  where: (ct, [c, a, b], _y, _params, needs) => [
    null,
    needs[1] ? unbroadcast(where(c, ct, 0), a.shape) : null,
    needs[2] ? unbroadcast(where(c, 0, ct), b.shape) : null,
  ],
  cast: (ct, [x]) => [cast(ct, x.dtype)],
  matmul: (ct, [a, b], _y, { transposeA: tA, transposeB: tB }, needs) => [
    needs[0] ? unbroadcast(tA ? bind('matmul', [b, ct], { transposeA: tB, transposeB: true }) : bind('matmul', [ct, b], { transposeA: false, transposeB: !tB }), a.shape) : null,
    needs[1] ? unbroadcast(tB ? bind('matmul', [ct, a], { transposeA: true, transposeB: tA }) : bind('matmul', [a, ct], { transposeA: !tA, transposeB: false }), b.shape) : null,
  ],
  conv2d: (ct, [x, w], _y, g, needs) => [
    needs[0] ? bind('conv2dBackwardInput', [ct, w], { stride: g.stride, padding: g.padding, dilation: g.dilation, xShape: x.shape.slice() }) : null,
    needs[1] ? bind('conv2dBackwardFilter', [x, ct], { stride: g.stride, padding: g.padding, dilation: g.dilation, wShape: w.shape.slice() }) : null,
  ],
  conv2dBackwardInput: (ct, [gy, w], _y, g, needs) => [
    needs[0] ? bind('conv2d', [ct, w], { stride: g.stride, padding: g.padding, dilation: g.dilation }) : null,
    needs[1] ? bind('conv2dBackwardFilter', [ct, gy], { stride: g.stride, padding: g.padding, dilation: g.dilation, wShape: w.shape.slice() }) : null,
  ],
  conv2dBackwardFilter: (ct, [x, gy], _y, g, needs) => [
    needs[0] ? bind('conv2dBackwardInput', [gy, ct], { stride: g.stride, padding: g.padding, dilation: g.dilation, xShape: x.shape.slice() }) : null,
    needs[1] ? bind('conv2d', [x, ct], { stride: g.stride, padding: g.padding, dilation: g.dilation }) : null,
  ],
  poolGather: (ct, [x], _y, params) => [bind('poolScatter', [ct], { indices: params.indices, inShape: x.shape.slice() })],
  poolScatter: (ct, [gy], _y, params) => [bind('poolGather', [ct], { indices: params.indices, outShape: gy.shape.slice() })],
  avgPool2d: (ct, [x], _y, params) => [bind('avgPool2dBackward', [ct], { ...params, inShape: x.shape.slice() })],
  avgPool2dBackward: (ct, _p, _y, params) => [bind('avgPool2d', [ct], { kernel: params.kernel, stride: params.stride, padding: params.padding, countIncludePad: params.countIncludePad })],
};

/**
 * The tape nodes whose cotangent leads to a wanted leaf or a retained value (`retainGrad`):
 * a node counts when it is retained or one of its parents counts. The tape is in creation
 * order, so parents come first.
 */
function usefulNodes(trace: VjpTrace, wanted: ReadonlySet<Node>): Set<Node> {
  const useful = new Set<Node>(wanted);
  for (const node of trace.tape) {
    if (trace.retained.has(node) || node.parents.some((p) => p !== null && useful.has(p))) useful.add(node);
  }
  return useful;
}

/**
 * Run the tape backwards from `outputs` seeded with `cts`; returns the leaves' cotangents. With
 * `wanted`, only work that reaches those leaves or a retained value is done (PyTorch's
 * `backward(inputs=…)`): other leaves get null and rules skip the inputs that lead nowhere.
 * Unless an enclosing transformation records the pass, dead cotangents are released as it goes;
 * with `consume` (the forward pass's own residuals, for a pullback that runs once) the tape is
 * unpinned node by node and those residuals go once their last reader has run.
 */
function backward(trace: VjpTrace, outputs: readonly Tensor[], cts: readonly Tensor[], leaves: readonly Node[], wanted?: ReadonlySet<Node>, consume?: ReadonlySet<Tensor>): (Tensor | null)[] {
  const useful = wanted === undefined ? undefined : usefulNodes(trace, wanted);
  // Nothing records this pass: what it no longer needs can go back to the pool as it goes.
  const dead = transformationActive() ? null : new DeadValues(cts, consume ?? null);
  const acc = new Map<Node, Tensor>();
  // Cotangents of slices of one tensor, added into one buffer when that tensor's turn comes.
  const slices = new Map<Node, SlicePiece[]>();
  for (let i = 0; i < outputs.length; i++) {
    const y = outputs[i];
    if (y instanceof VjpTracer && y.trace === trace && y.node !== null && (useful === undefined || useful.has(y.node))) accumulate(acc, y.node, cts[i], dead);
  }
  const tape = trace.tape;
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    backwardNode(node, acc, slices, trace.retained, useful, dead);
    if (dead === null) continue;
    if (dead.residuals !== null) {
      // A single-use pullback: this node's residuals are read by no node still to run.
      const n = node.primals.length;
      trace.pinnedResiduals -= n + 1;
      for (let j = 0; j < n; j++) dead.unpin(node.primals[j]);
      dead.unpin(node.y as Tensor);
    }
    dead.flush();
  }
  const out = new Array<Tensor | null>(leaves.length);
  for (let i = 0; i < leaves.length; i++) {
    if (slices.size > 0) settleSlices(acc, slices, leaves[i], dead);
    out[i] = wanted === undefined || wanted.has(leaves[i]) ? acc.get(leaves[i]) ?? null : null;
  }
  return out;
}

/** One tape node's turn: its cotangent through its rule into its parents' accumulators. */
function backwardNode(node: Node, acc: Map<Node, Tensor>, slices: Map<Node, SlicePiece[]>, retained: Map<Node, RetainedGrad[]>, useful: Set<Node> | undefined, dead: DeadValues | null): void {
  if (slices.size > 0) settleSlices(acc, slices, node, dead);
  const ct = acc.get(node);
  if (ct === undefined) return;
  if (retained.size > 0) {
    const keep = retained.get(node);
    if (keep !== undefined) for (const r of keep) r.grad = escape(ct);
  }
  if (node.prim === null) return;
  acc.delete(node); // free memory as we go
  const parents = node.parents;
  if (node.prim === 'slice' && !(ct instanceof Tracer) && parents[0] !== null && (useful === undefined || useful.has(parents[0]))) {
    // A plain cotangent (no enclosing transformation differentiates this pass): defer it.
    const list = slices.get(parents[0]);
    const piece = { ct, shape: node.primals[0].shape, params: node.params as PrimitiveParams['slice'] };
    if (list === undefined) slices.set(parents[0], [piece]);
    else list.push(piece);
    return; // the piece holds ct on: it was held by the accumulator, and its count moves over
  }
  const gs = useful === undefined ? nodeBackward(node, ct) : nodeBackward(node, ct, parents.map((p) => p !== null && useful.has(p)));
  for (let j = 0; j < parents.length; j++) {
    const p = parents[j];
    const g = gs[j];
    if (g === null || g === undefined) continue;
    if (p !== null && (useful === undefined || useful.has(p))) accumulate(acc, p, g, dead);
    else if (dead !== null) dead.consider(g);
  }
  if (dead !== null) dead.drop(ct);
}

interface SlicePiece {
  readonly ct: Tensor;
  /** The sliced tensor's shape. */
  readonly shape: readonly number[];
  readonly params: PrimitiveParams['slice'];
}

/**
 * The cotangents of every slice taken of `node`'s value, added into one zero buffer and then into
 * its accumulated cotangent: one pass over the tensor instead of a zero tensor of its whole size
 * per slice (a recurrent layer slices its [N, T, F] input T times).
 */
function settleSlices(acc: Map<Node, Tensor>, slices: Map<Node, SlicePiece[]>, node: Node, dead: DeadValues | null): void {
  const pieces = slices.get(node);
  if (pieces === undefined) return;
  slices.delete(node);
  const { shape } = pieces[0];
  const out = allocate(pieces[0].ct.dtype, shapeSize(shape));
  for (const q of pieces) sliceAdjointAdd(out, shape, q.ct, q.params.start, q.params.step);
  accumulate(acc, node, new Tensor(out, shape.slice()), dead);
  if (dead !== null) for (const q of pieces) dead.drop(q.ct);
}

/** Add `g` into `node`'s cotangent; with `dead`, the entry's old value and `g` may be dead after. */
function accumulate(acc: Map<Node, Tensor>, node: Node, g: Tensor, dead: DeadValues | null): void {
  const prev = acc.get(node);
  if (prev === undefined) {
    acc.set(node, g);
    if (dead !== null) dead.hold(g);
    return;
  }
  const sum = add(prev, g);
  acc.set(node, sum);
  if (dead !== null) {
    dead.hold(sum);
    dead.drop(prev);
    dead.consider(g);
  }
}

/**
 * Ask the enclosing reverse-mode pass to report the cotangent of an intermediate value `x`
 * (PyTorch's `retain_grad`): after `vjpFn` / `grad` runs, the handle's `grad` holds
 * d(output)/d(x) — the layer taps of K-FAC read output gradients this way, from the ordinary
 * backward pass. Outside any reverse-mode pass (or for a value that does not depend on the
 * differentiated inputs) the handle's grad stays null.
 */
export function retainGrad(x: Tensor): RetainedGrad {
  const handle: RetainedGrad = { grad: null, value: escape(x) };
  // Under an enclosing forward-mode trace, the reverse-mode tracer sits below it.
  let v: Tensor = x;
  while (v instanceof Tracer && !(v instanceof VjpTracer)) v = v.primal;
  if (v instanceof VjpTracer && v.node !== null) {
    const list = v.trace.retained.get(v.node);
    if (list === undefined) v.trace.retained.set(v.node, [handle]);
    else list.push(handle);
  }
  return handle;
}

/** The function `vjp` returns: cotangent in, argument cotangents out; `dispose()` releases its residuals. */
export type VjpFn<Out, Args> = ((cotangent: Out) => Args) & {
  /** Release the residuals the forward pass kept for this function; calling it afterwards throws. */
  dispose(): void;
  /**
   * The cotangents of only the argument leaves marked in `wanted` (all arguments' leaves,
   * flattened in order), null for the others — PyTorch's `backward(inputs=…)`. Work that leads
   * only to unwanted leaves is skipped (a dense layer's weight gradient when only the gradients
   * at `retainGrad` values are needed), and retained values still receive their cotangents.
   */
  partial(cotangent: Out, wanted: readonly boolean[]): (Tensor | null)[];
};

interface Recorded<Out, Args> {
  values: Out;
  vjpFn: VjpFn<Out, Args>;
  trace: VjpTrace;
  /** The backward pass without vjpFn's checks and scope (for callers that own a scope already); `consume` as in backward. */
  pullback: (cts: readonly Tensor[], consume?: ReadonlySet<Tensor>) => Args;
  /** What the forward pass made that survived it without being reachable from the output (the residuals). */
  owned: readonly Tensor[];
}

// A vjp function the caller drops unpins its residuals once it is collected.
const droppedFns = new FinalizationRegistry<VjpTrace>((trace) => trace.unpin());

function record<Out extends PyTree, Args extends PyTree[]>(f: (...args: Args) => Out, primals: Args, dropWatch = true, alsoKeep?: () => unknown): Recorded<Out, Args> {
  const level = newLevel();
  const trace = new VjpTrace(level);
  let out: Out;
  let leafNodes: Node[];
  const argLeaves = primals.map((p) => treeLeaves(p));
  const scope = openScope(true);
  let kept: unknown;
  let owned: Tensor[] = [];
  try {
    leafNodes = argLeaves.flat().map(leafNode);
    let k = 0;
    const args = primals.map((p, i) => treeUnflatten(p, argLeaves[i].map((x) => new VjpTracer(trace, x, leafNodes[k++])))) as Args;
    out = f(...args);
    kept = alsoKeep === undefined ? out : [out, alsoKeep()];
  } catch (e) {
    trace.unpin();
    throw e;
  } finally {
    releaseLevel();
    // The forward pass's intermediates go, except the output and what the tape still reads.
    owned = closeScope(scope, kept);
  }
  const outLeaves = treeLeaves(out);
  const values = treeUnflatten(out, outLeaves.map((y) => (y instanceof VjpTracer && y.trace === trace ? y.primal : y)));
  const pullback = (cts: readonly Tensor[], consume?: ReadonlySet<Tensor>): Args => {
    const gs = backward(trace, outLeaves, cts, leafNodes, undefined, consume);
    let k = 0;
    return primals.map((p, i) => treeUnflatten(p, argLeaves[i].map((x) => gs[k++] ?? zeros(x.shape, { dtype: x.dtype })))) as Args;
  };
  let disposed = false;
  const checkCotangent = (cotangent: Out): Tensor[] => {
    if (disposed) throw new Error('vjp: this vjp function was disposed; its residuals are released');
    const cts = treeLeaves(cotangent);
    if (cts.length !== outLeaves.length) throw new RangeError(`vjp: cotangent has ${cts.length} tensors, the output has ${outLeaves.length}`);
    cts.forEach((c, i) => {
      if (!sameShape(c.shape, outLeaves[i].shape) || c.dtype !== outLeaves[i].dtype) {
        throw new RangeError(`vjp: cotangent ${i} is ${c.toString()}, expected the output's ${outLeaves[i].dtype} ${fmtShape(outLeaves[i].shape)}`);
      }
    });
    return cts;
  };
  const vjpFn = ((cotangent: Out): Args => {
    const cts = checkCotangent(cotangent);
    // The backward pass's intermediates go once the argument cotangents exist.
    return autoScope(() => pullback(cts));
  }) as VjpFn<Out, Args>;
  vjpFn.partial = (cotangent: Out, wanted: readonly boolean[]): (Tensor | null)[] => {
    const cts = checkCotangent(cotangent);
    if (wanted.length !== leafNodes.length) throw new RangeError(`vjp: partial expects one flag per argument leaf (${leafNodes.length}), got ${wanted.length}`);
    const set = new Set(leafNodes.filter((_, i) => wanted[i]));
    return autoScope(() => backward(trace, outLeaves, cts, leafNodes, set));
  };
  vjpFn.dispose = () => {
    if (disposed) throw new Error('vjp: this vjp function was already disposed');
    disposed = true;
    droppedFns.unregister(vjpFn);
    trace.unpin();
    for (const t of owned) if (t._data !== null && t._pins === 0 && !t._escape) t._release();
    owned = [];
  };
  // A caller that unpins the tape itself (valueAndGrad) skips the registry: ~1-2 us per call.
  if (dropWatch) droppedFns.register(vjpFn, trace, vjpFn);
  return { values, vjpFn, trace, pullback, owned };
}

/**
 * Reverse-mode derivative (jax.vjp): returns `[f(...primals), vjpFn]` where
 * `vjpFn(cotangent)` gives, for each argument of `f`, the cotangent `J^T · cotangent` in that
 * argument's structure. `cotangent` matches the structure and shapes of f's output.
 *
 * The forward pass's intermediates are released at once, except the residuals `vjpFn` reads:
 * those stay valid until `vjpFn.dispose()` or until `vjpFn` is garbage-collected.
 */
export function vjp<Out extends PyTree, Args extends PyTree[]>(f: (...args: Args) => Out, ...primals: Args): [Out, VjpFn<Out, Args>] {
  const r = record(f, primals);
  return [r.values, r.vjpFn];
}

export interface GradOptions {
  /** f returns `[value, aux]`; aux is returned alongside, not differentiated. */
  hasAux?: boolean;
}

function scalarValue(op: string, v: unknown): Tensor {
  if (!(v instanceof Tensor)) throw new TypeError(`${op}: f must return a scalar Tensor, got ${typeof v === 'object' && v !== null ? 'an object' : String(v)}`);
  if (v.size !== 1) throw new RangeError(`${op}: f must return a scalar (one element), got a tensor of shape ${fmtShape(v.shape)}`);
  return v;
}

/**
 * `valueAndGrad(f)(params, ...rest)` returns `[value, grads]` with grads of the first argument in
 * its own tree structure (jax.value_and_grad); with `{hasAux: true}`, f returns `[value, aux]` and
 * the result is `[[value, aux], grads]`.
 */
export function valueAndGrad<P extends PyTree, Rest extends unknown[], Aux = never>(
  f: (params: P, ...rest: Rest) => Tensor | [Tensor, Aux],
  options: GradOptions = {},
): (params: P, ...rest: Rest) => [Tensor, P] | [[Tensor, Aux], P] {
  return (params: P, ...rest: Rest) => autoScope(() => valueAndGradIn(f, options, params, rest), gradientPart);
}

const gradientPart = (r: readonly unknown[]): unknown => r[1];
const sameValue = <T>(r: T): T => r;

/**
 * The work of `valueAndGrad` inside the caller's scope: one scope for the whole call (the
 * backward pass runs without vjpFn's own scope and checks, which this caller makes true).
 */
function valueAndGradIn<P extends PyTree, Rest extends unknown[], Aux>(
  f: (params: P, ...rest: Rest) => Tensor | [Tensor, Aux],
  options: GradOptions,
  params: P,
  rest: Rest,
): [Tensor, P] | [[Tensor, Aux], P] {
  const op = options.hasAux ? 'valueAndGrad (hasAux)' : 'valueAndGrad';
  let aux: Aux | undefined;
  const { values: value, trace, pullback, owned } = record((p: P) => {
    const r = f(p, ...rest);
    if (options.hasAux) {
      if (!Array.isArray(r) || r.length !== 2) throw new TypeError(`${op}: with hasAux, f must return [value, aux]`);
      aux = r[1];
      return scalarValue(op, r[0]);
    }
    return scalarValue(op, r);
  }, [params], false, () => aux);
  // aux leaves the trace as plain values (a tracer of a finished trace is no use to the caller).
  if (options.hasAux) aux = treeUnflatten(aux, treeLeaves(aux).map((t) => (t instanceof VjpTracer && t.trace === trace ? t.primal : t)));
  try {
    const one = zeros(value.shape, { dtype: value.dtype });
    one.data[0] = 1;
    // The tape runs once: residuals go as soon as their last reader has run (not the value or
    // aux: record kept those out of `owned`).
    const [g] = pullback([one], new Set(owned));
    return options.hasAux ? [[value, aux as Aux], g] : [value, g];
  } finally {
    // The tape is done: its residuals go with this scope.
    trace.unpin();
  }
}

/** `grad(f)(params, ...rest)`: the gradient of scalar `f` w.r.t. its first argument (jax.grad). */
export function grad<P extends PyTree, Rest extends unknown[]>(f: (params: P, ...rest: Rest) => Tensor): (params: P, ...rest: Rest) => P {
  // One scope, which also releases the value computed on the way.
  return (params: P, ...rest: Rest) => autoScope(() => valueAndGradIn(f, {}, params, rest)[1] as P, sameValue);
}
