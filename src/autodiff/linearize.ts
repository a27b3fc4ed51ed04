/**
 * `linearize(f, ...primals)` (jax.linearize): one forward pass of `f` records the linear part of
 * its derivative; the returned map applies `J · v` (and `transpose` applies `Jᵀ · u`) with no
 * nonlinear work and no re-run of the forward pass. For repeated curvature products at one point
 * (the CG iterations of Hessian-free, Lanczos, Hutchinson probes): build once, apply many times.
 *
 * How: `f` runs under forward mode whose tangents are symbolic tracers of a recording trace one
 * level below (partial evaluation). Whatever the jvp rules compute from primals alone (values,
 * derivatives such as σ(x)(1−σ(x))) is computed once, concretely; every op that touches a tangent
 * is recorded as a node with those values as constants. Such ops are linear in the tangents by
 * construction of the jvp rules (checked when recording), so the transpose applies each node's
 * VJP rule with the constants it read. Both directions bind differentiable primitives, so a
 * linear map built or applied inside `grad`/`jvp` is differentiated like any other code.
 */
import { Tensor, allocateUninit, fmtShape, sameShape, zeros } from '../tensor/tensor.js';
import { broadcastShapes } from '../tensor/ops.js';
import type { DType, FloatArray } from '../kernels/types.js';
import { Tracer, bind, newLevel, releaseLevel, stopGradient, type Trace } from './core.js';
import { IMPLS, matmul2dInto, type PrimitiveName, type PrimitiveParams } from './primitives.js';
import { jvp } from './jvp.js';
import { VJP_RULES } from './vjp.js';
import { add, mul, neg } from './ops.js';
import { treeLeaves, treePaths, treeUnflatten, type PyTree } from './pytree.js';
import { applySum, simplify, type Node, type PrimNode, type Term } from './linearize-simplify.js';
import { openScope } from '../tensor/memory.js';
import { autoScope, closeScope } from '../tensor/scope.js';

/** A recorded value: its shape and dtype, as a zero tensor that VJP rules may read shapes from. */
type Stub = Tensor;

class LinearTracer extends Tracer {
  /** `node` is the index of the recorded value, or -1 for a constant (primal is then its value). */
  constructor(readonly trace: LinearTrace, primal: Tensor, readonly node: number) {
    super(primal);
  }
}

/** Which inputs may carry a tangent for the op to stay linear; the jvp rules never do otherwise. */
type Linearity = 'all' | 'one' | 'first' | 'sum' | 'branches' | 'none';

const LINEARITY: { readonly [K in PrimitiveName]: Linearity | ((p: PrimitiveParams[K]) => Linearity) } = {
  unary: (p) => (p.op === 'neg' ? 'all' : 'none'),
  unaryGrad: 'first',
  binary: (p) => (p.op === 'add' || p.op === 'sub' ? 'sum' : p.op === 'mul' ? 'one' : p.op === 'div' ? 'first' : 'none'),
  sum: 'all',
  max: 'none',
  min: 'none',
  logsumexp: 'none',
  softmax: 'none',
  logSoftmax: 'none',
  reshape: 'all',
  transpose: 'all',
  broadcastTo: 'all',
  slice: 'all',
  sliceAdjoint: 'all',
  concat: 'sum',
  gather: 'all',
  gatherAdjoint: 'all',
  takeAlongAxis: 'all',
  takeAlongAxisAdjoint: 'all',
  where: 'branches',
  cast: 'all',
  matmul: 'one',
  conv2d: 'one',
  conv2dBackwardInput: 'one',
  conv2dBackwardFilter: 'one',
  poolGather: 'all',
  poolScatter: 'all',
  avgPool2d: 'all',
  avgPool2dBackward: 'all',
};

function isZero(t: Tensor): boolean {
  const d = stopGradient(t).data;
  for (let i = 0; i < d.length; i++) if (d[i] !== 0) return false;
  return true;
}

function opLabel(prim: PrimitiveName, params: unknown): string {
  const op = (params as { op?: unknown }).op;
  return typeof op === 'string' ? op : prim;
}

/** Throw unless `prim` applied with tangents at `sym` (constants elsewhere) is linear in them. */
function checkLinear<K extends PrimitiveName>(prim: K, params: PrimitiveParams[K], sym: boolean[], inputs: Tensor[]): void {
  const rule = LINEARITY[prim] as Linearity | ((p: PrimitiveParams[K]) => Linearity);
  const kind = typeof rule === 'function' ? rule(params) : rule;
  const n = sym.filter(Boolean).length;
  const zeroConstants = () => inputs.every((x, i) => sym[i] || isZero(x));
  const ok = kind === 'all' ? true
    : kind === 'one' ? n === 1
      : kind === 'first' ? n === 1 && sym[0]
        : kind === 'sum' ? zeroConstants()
          : kind === 'branches' ? !sym[0] && inputs.every((x, i) => i === 0 || sym[i] || isZero(x))
            : false;
  if (!ok) throw new Error(`linearize: ${opLabel(prim, params)} is applied nonlinearly to a tangent (a derivative rule that is not linear in its tangents)`);
}

/** Output shape of a linear op without evaluating it where that is cheap; null: evaluate. */
function inferShape<K extends PrimitiveName>(prim: K, inputs: Tensor[], params: PrimitiveParams[K]): number[] | null {
  const p = params as Record<string, unknown>;
  switch (prim) {
    case 'unary':
    case 'unaryGrad':
    case 'cast':
      return inputs[0].shape.slice();
    case 'binary':
      return broadcastShapes('linearize', inputs[0].shape, inputs[1].shape);
    case 'reshape':
    case 'broadcastTo':
    case 'slice':
      return (p.shape as number[]).slice();
    case 'transpose':
      return (p.perm as number[]).map((a) => inputs[0].shape[a]);
    case 'sum': {
      const axes = p.axes as number[];
      const s = inputs[0].shape;
      return p.keepdims ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i));
    }
    case 'matmul': {
      const [a, b] = inputs;
      const batch = broadcastShapes('linearize', a.shape.slice(0, -2), b.shape.slice(0, -2));
      const m = p.transposeA ? a.shape[a.ndim - 1] : a.shape[a.ndim - 2];
      const n = p.transposeB ? b.shape[b.ndim - 2] : b.shape[b.ndim - 1];
      return [...batch, m, n];
    }
    default:
      return null;
  }
}

class LinearTrace implements Trace {
  readonly nodes: (Node | null)[] = [];
  readonly stubs: Stub[] = [];
  /** Constants the nodes read (pinned: no scope releases them while the map lives). */
  readonly residuals: Tensor[] = [];
  private readonly zeroBuffers: Partial<Record<DType, FloatArray>> = {};
  constructor(readonly level: number) {}

  /** A zero tensor of `shape` that shares one buffer per dtype (never written: only shapes are read). */
  stub(dtype: DType, shape: readonly number[]): Stub {
    const size = shape.reduce((a, d) => a * d, 1);
    let buf = this.zeroBuffers[dtype];
    if (buf === undefined || buf.length < size) {
      buf = dtype === 'float32' ? new Float32Array(Math.max(size, 1)) : new Float64Array(Math.max(size, 1));
      this.zeroBuffers[dtype] = buf;
    }
    return this.pin(new Tensor(buf.subarray(0, size), shape.slice()));
  }

  pin(t: Tensor): Tensor {
    t._pins++;
    this.residuals.push(t);
    return t;
  }

  unpin(): void {
    for (const t of this.residuals) t._pins--;
    this.residuals.length = 0;
  }

  /** A new symbolic value (an input tangent, or the output of a recorded node). */
  value(node: Node | null, dtype: DType, shape: readonly number[], primal?: Tensor): LinearTracer {
    const index = this.nodes.length;
    this.nodes.push(node);
    const s = primal === undefined ? this.stub(dtype, shape) : this.pin(primal);
    this.stubs.push(s);
    return new LinearTracer(this, s, index);
  }

  lift(x: Tensor): Tracer {
    return new LinearTracer(this, x, -1);
  }

  process<K extends PrimitiveName>(prim: K, inputs: Tracer[], params: PrimitiveParams[K]): Tensor {
    const tracers = inputs as LinearTracer[];
    const sym = tracers.map((t) => t.node >= 0);
    const values = tracers.map((t) => t.primal);
    if (!sym.some(Boolean)) return new LinearTracer(this, bind(prim, values, params), -1);
    checkLinear(prim, params, sym, values);
    const first = values[sym.indexOf(true)];
    const dtype = prim === 'cast' ? (params as PrimitiveParams['cast']).dtype : first.dtype;
    const node: PrimNode = { kind: 'prim', prim, params, inputs: tracers.map((t, i) => (sym[i] ? t.node : this.pin(t.primal))) };
    const shape = inferShape(prim, values, params);
    if (shape !== null) return this.value(node, dtype, shape);
    // Rare ops (conv, pooling, gathers): evaluate once on the zero stand-ins for the shape.
    const y = IMPLS[prim](values.map((v) => stopGradient(v)), params);
    return this.value(node, dtype, y.shape, y);
  }
}

/**
 * How a linear combination node is evaluated without materializing some of its terms: matrix
 * products (a dense layer's W·dh and dW·h) accumulate into one buffer by GEMM with beta = 1,
 * and a broadcast (the bias tangent) is added with broadcasting strides instead of being copied
 * out first. Only terms read by this node alone qualify; the rest go through `applySum`.
 */
interface SumPlan {
  readonly products: readonly Term[];
  readonly broadcasts: readonly Term[];
  readonly rest: readonly Term[];
}

interface FusionPlans {
  readonly sums: ReadonlyMap<number, SumPlan>;
  /** 1 for nodes a sum node evaluates itself (skipped by the forward loop). */
  readonly fused: Uint8Array;
}

function fusionPlans(nodes: readonly (Node | null)[], live: Uint8Array, nIn: number, outNodes: readonly (number | null)[]): FusionPlans {
  const uses = new Uint32Array(nodes.length);
  for (const o of outNodes) if (o !== null) uses[o]++;
  for (let k = nIn; k < nodes.length; k++) {
    const node = nodes[k];
    if (live[k] === 0 || node === null) continue;
    if (node.kind === 'sum') for (const t of node.terms) uses[t.input]++;
    else for (const i of node.inputs) if (typeof i === 'number') uses[i]++;
  }
  const sums = new Map<number, SumPlan>();
  const fused = new Uint8Array(nodes.length);
  for (let k = nIn; k < nodes.length; k++) {
    const node = nodes[k];
    if (live[k] === 0 || node === null || node.kind !== 'sum') continue;
    const products: Term[] = [];
    const broadcasts: Term[] = [];
    const rest: Term[] = [];
    for (const t of node.terms) {
      const src = nodes[t.input];
      const own = t.input >= nIn && uses[t.input] === 1 && src !== null && src.kind === 'prim';
      if (own && src.prim === 'matmul' && typeof t.coef === 'number') products.push(t);
      else if (own && src.prim === 'broadcastTo' && t.coef === 1 && typeof src.inputs[0] === 'number') broadcasts.push(t);
      else rest.push(t);
    }
    if (products.length + broadcasts.length === 0) continue;
    sums.set(k, { products, broadcasts, rest });
    for (const t of products) fused[t.input] = 1;
    for (const t of broadcasts) fused[t.input] = 1;
  }
  return { sums, fused };
}

function applyFusedSum(plan: SumPlan, nodes: readonly (Node | null)[], value: (i: number | Tensor) => Tensor, like: Tensor): Tensor {
  let acc: Tensor | null = null;
  // `acc` is a buffer this evaluation made (never an input's or another node's value), so a
  // GEMM may accumulate into it.
  const addTo = (x: Tensor, coef: number): void => {
    const s = coef === 1 ? x : mul(x, coef);
    acc = acc === null ? s : add(acc, s);
  };
  for (const t of plan.products) {
    const node = nodes[t.input] as PrimNode;
    const params = node.params as PrimitiveParams['matmul'];
    const [a, b] = node.inputs.map(value);
    const coef = t.coef as number;
    const plain = !(a instanceof Tracer) && !(b instanceof Tracer) && a.ndim === 2 && b.ndim === 2 && a.dtype === like.dtype && b.dtype === like.dtype && like.ndim === 2
      && like.shape[0] === (params.transposeA ? a.shape[1] : a.shape[0]) && like.shape[1] === (params.transposeB ? b.shape[0] : b.shape[1]);
    if (!plain) {
      // Under a transformation (grad of a function that applies the map, jit) the products stay
      // primitives, so that they are traced.
      addTo(bind('matmul', [a, b], params), coef);
      continue;
    }
    const cur = acc as Tensor | null;
    if (cur === null) {
      const out = allocateUninit(like.dtype, like.size);
      matmul2dInto(a, b, params.transposeA, params.transposeB, out, coef, 0);
      acc = new Tensor(out, like.shape.slice());
    } else if (!(cur instanceof Tracer) && sameShape(cur.shape, like.shape)) {
      matmul2dInto(a, b, params.transposeA, params.transposeB, cur.data, coef, 1);
    } else {
      addTo(bind('matmul', [a, b], params), coef);
    }
  }
  if (plan.rest.length > 0) addTo(applySum(plan.rest, (i) => value(i)), 1);
  for (const t of plan.broadcasts) {
    const node = nodes[t.input] as PrimNode;
    const x = value(node.inputs[0]);
    const cur = acc as Tensor | null;
    // add broadcasts x over acc's shape, which is the broadcast's target shape.
    acc = cur === null ? bind('broadcastTo', [x], node.params as PrimitiveParams['broadcastTo']) : add(cur, x);
  }
  return acc as unknown as Tensor;
}

/** What a linear map checks its arguments against: the tree, shapes and dtypes it was built for. */
interface Signature {
  readonly trees: readonly PyTree[];
  readonly leaves: readonly Tensor[];
}

function describeTrees(trees: readonly PyTree[]): string {
  const parts: string[] = [];
  trees.forEach((t, i) => {
    const paths = treePaths(t);
    treeLeaves(t).forEach((l, j) => {
      const path = [trees.length > 1 ? `${i}` : '', paths[j]].filter((s) => s !== '').join('.');
      parts.push(`${path === '' ? '' : `${path}: `}${l.dtype} ${fmtShape(l.shape)}`);
    });
  });
  return `[${parts.join(', ')}]`;
}

function checkAgainst(what: string, sig: Signature, given: readonly unknown[], count: number): Tensor[] {
  const expected = `expected ${describeTrees(sig.trees)}`;
  if (given.length !== count) throw new RangeError(`linearize: ${what} has ${given.length} arguments, ${expected}`);
  const leaves = given.flatMap((g) => treeLeaves(g));
  if (leaves.length !== sig.leaves.length) throw new RangeError(`linearize: ${what} has ${leaves.length} tensors, ${expected}`);
  leaves.forEach((x, i) => {
    const ref = sig.leaves[i];
    if (!sameShape(x.shape, ref.shape) || x.dtype !== ref.dtype) {
      throw new RangeError(`linearize: ${what} tensor ${i} is ${x.dtype} ${fmtShape(x.shape)}, ${expected}`);
    }
  });
  return leaves;
}

/**
 * The linear map `linearize` returns: `lin(...tangents)` is `J · tangents` (tangents shaped like
 * the primals, one tree per argument), `lin.transpose(cotangent)` is `Jᵀ · cotangent` (shaped like
 * the output; one tree per argument comes back), `lin.dispose()` releases the residuals.
 */
export type LinearizedFn<Args extends PyTree[], Out extends PyTree> = ((...tangents: Args) => Out) & {
  transpose(cotangent: Out): Args;
  /** Release the residuals; applying the map afterwards throws. */
  dispose(): void;
  readonly disposed: boolean;
};

// A linear map the caller drops unpins its residuals once it is collected.
const droppedMaps = new FinalizationRegistry<LinearTrace>((trace) => trace.unpin());

/**
 * Linearize `f` at `primals` (jax.linearize): returns `[f(...primals), lin]` with `lin` the
 * linear map `v ↦ J_f(primals) · v` and `lin.transpose` its adjoint `u ↦ J_fᵀ · u`.
 *
 * Cost: building is one forward pass plus the derivative factors of the jvp rules (computed
 * once); each application is one pass of linear ops only (for a dense layer: the matmuls by the
 * weight and by the input, a scaling by σ'); the transpose likewise. Residuals (activations and
 * derivative factors) stay in memory until `lin.dispose()` or until `lin` is collected.
 */
export function linearize<Out extends PyTree, Args extends PyTree[]>(f: (...args: Args) => Out, ...primals: Args): [Out, LinearizedFn<Args, Out>] {
  if (typeof f !== 'function') throw new TypeError('linearize: f must be a function');
  const argLeaves = primals.map((p) => treeLeaves(p));
  const inLeaves = argLeaves.flat();
  const level = newLevel();
  const trace = new LinearTrace(level);
  const scope = openScope(true);
  let kept: unknown;
  let owned: Tensor[] = [];
  let values!: Out;
  let outNodes!: (number | null)[];
  let outLeaves!: Tensor[];
  try {
    const tangents = primals.map((p, i) => treeUnflatten(p, argLeaves[i].map((x) => trace.value(null, x.dtype, x.shape))));
    const [out, tans] = jvp(f as unknown as (...a: never[]) => Out, primals, tangents);
    values = out;
    outLeaves = treeLeaves(out);
    // An output whose tangent is not a recorded value does not depend on the inputs: zero.
    outNodes = treeLeaves(tans).map((t) => (t instanceof LinearTracer && t.trace === trace && t.node >= 0 ? t.node : null));
    simplify(trace.nodes, (k) => trace.stubs[k].shape, outNodes, (t) => trace.pin(t));
    kept = out;
  } catch (e) {
    trace.unpin();
    throw e;
  } finally {
    releaseLevel();
    owned = closeScope(scope, kept);
  }
  const nIn = inLeaves.length;
  const nodes = trace.nodes;
  const stubs = trace.stubs;
  // Only nodes that reach an output do work when the map is applied.
  const live = new Uint8Array(nodes.length);
  for (const o of outNodes) if (o !== null) live[o] = 1;
  for (let k = nodes.length - 1; k >= nIn; k--) {
    const node = nodes[k];
    if (live[k] === 0 || node === null) continue;
    if (node.kind === 'sum') for (const t of node.terms) live[t.input] = 1;
    else for (const i of node.inputs) if (typeof i === 'number') live[i] = 1;
  }
  const plans = fusionPlans(nodes, live, nIn, outNodes);
  const inSig: Signature = { trees: primals, leaves: inLeaves };
  const outSig: Signature = { trees: [values], leaves: outLeaves };
  let disposed = false;
  const alive = (what: string) => {
    if (disposed) throw new Error(`linearize: ${what} on a disposed linear map (its residuals are released); it was built for ${describeTrees(primals)}`);
  };

  const lin = ((...tangents: Args): Out => {
    alive('apply');
    const leaves = checkAgainst('tangent', inSig, tangents, primals.length);
    return autoScope(() => {
      const vals: (Tensor | undefined)[] = new Array(nodes.length);
      for (let k = 0; k < nIn; k++) vals[k] = leaves[k];
      const value = (i: number | Tensor): Tensor => (typeof i === 'number' ? vals[i] as Tensor : i);
      for (let k = nIn; k < nodes.length; k++) {
        const node = nodes[k];
        if (live[k] === 0 || node === null || plans.fused[k] === 1) continue;
        if (node.kind === 'sum') {
          const plan = plans.sums.get(k);
          vals[k] = plan === undefined ? applySum(node.terms, (i) => vals[i] as Tensor) : applyFusedSum(plan, nodes, value, stubs[k]);
          continue;
        }
        vals[k] = bind(node.prim, node.inputs.map((i) => (typeof i === 'number' ? vals[i] as Tensor : i)), node.params as never);
      }
      return treeUnflatten(values, outNodes.map((o, i) => (o === null ? zeros(outLeaves[i].shape, { dtype: outLeaves[i].dtype }) : vals[o] as Tensor)));
    });
  }) as LinearizedFn<Args, Out>;

  lin.transpose = (cotangent: Out): Args => {
    alive('transpose');
    const cts = checkAgainst('cotangent', outSig, [cotangent], 1);
    return autoScope(() => {
      const acc = new Map<number, Tensor>();
      const accumulate = (k: number, g: Tensor) => {
        const prev = acc.get(k);
        acc.set(k, prev === undefined ? g : add(prev, g));
      };
      outNodes.forEach((o, i) => { if (o !== null) accumulate(o, cts[i]); });
      for (let k = nodes.length - 1; k >= nIn; k--) {
        const node = nodes[k];
        const ct = acc.get(k);
        if (ct === undefined || node === null) continue;
        acc.delete(k);
        if (node.kind === 'sum') {
          for (const { coef, input } of node.terms) accumulate(input, coef === 1 ? ct : coef === -1 ? neg(ct) : mul(ct, coef));
          continue;
        }
        const ins = node.inputs.map((i) => (typeof i === 'number' ? stubs[i] : i));
        const needs = node.inputs.map((i) => typeof i === 'number');
        const rule = VJP_RULES[node.prim] as (ct: Tensor, p: Tensor[], y: Tensor, params: unknown, needs: boolean[]) => (Tensor | null)[];
        const gs = rule(ct, ins, stubs[k], node.params, needs);
        node.inputs.forEach((i, j) => {
          const g = gs[j];
          if (typeof i === 'number' && g !== null && g !== undefined) accumulate(i, g);
        });
      }
      let k = 0;
      return primals.map((p, i) => treeUnflatten(p, argLeaves[i].map((x) => acc.get(k++) ?? zeros(x.shape, { dtype: x.dtype })))) as Args;
    });
  };

  lin.dispose = () => {
    if (disposed) throw new Error('linearize: this linear map was already disposed');
    disposed = true;
    droppedMaps.unregister(lin);
    trace.unpin();
    for (const t of owned) if (t._data !== null && t._pins === 0 && !t._escape) t._release();
    owned = [];
  };
  Object.defineProperty(lin, 'disposed', { get: () => disposed });
  droppedMaps.register(lin, trace, lin);
  return [values, lin];
}
