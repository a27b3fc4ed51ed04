/**
 * Forward mode: `jvp(f, primals, tangents)` pushes tangents through `f` alongside its values
 * (true forward mode, one pass, no tape). A zero tangent is represented as `null` and skipped.
 */
import { Tensor, fmtShape, sameShape, zeros } from '../tensor/tensor.js';
import { Tracer, bind, newLevel, releaseLevel, type Trace } from './core.js';
import type { PrimitiveName, PrimitiveParams } from './primitives.js';
import { BINARY_PARTIALS, UNARY_DERIVATIVES, UNARY_GRAD_SLOPES, fusedUnaryJvp, scaleBy, unaryGradFactor } from './derivatives.js';
import { add, broadcastTo, div, equal, exp, mul, reshape, sub, sum, where } from './ops.js';
import { treeLeaves, treeUnflatten, type PyTree } from './pytree.js';
import { autoScope } from '../tensor/scope.js';

class JvpTracer extends Tracer {
  constructor(readonly trace: JvpTrace, primal: Tensor, readonly tangent: Tensor | null) {
    super(primal);
  }

  override _children(): readonly Tensor[] | null {
    return this.tangent === null ? [this.primal] : [this.primal, this.tangent];
  }
}

class JvpTrace implements Trace {
  constructor(readonly level: number) {}

  lift(x: Tensor): Tracer {
    return new JvpTracer(this, x, null);
  }

  process<K extends PrimitiveName>(prim: K, inputs: Tracer[], params: PrimitiveParams[K]): Tensor {
    const primals = inputs.map((t) => t.primal);
    const tangents = inputs.map((t) => (t as JvpTracer).tangent);
    if (tangents.every((t) => t === null)) return new JvpTracer(this, bind(prim, primals, params), null);
    const rule = JVP_RULES[prim] as JvpRule<K>;
    const [y, ty] = rule(primals, tangents, params);
    if (ty !== null && !sameShape(ty.shape, y.shape)) {
      throw new Error(`jvp rule of ${prim}: tangent ${fmtShape(ty.shape)} does not match output ${fmtShape(y.shape)}`);
    }
    return new JvpTracer(this, y, ty);
  }
}

type JvpRule<K extends PrimitiveName> = (primals: Tensor[], tangents: (Tensor | null)[], params: PrimitiveParams[K]) => [Tensor, Tensor | null];

function addMaybe(a: Tensor | null, b: Tensor | null): Tensor | null {
  if (a === null) return b;
  if (b === null) return a;
  return add(a, b);
}

function toShape(t: Tensor | null, shape: readonly number[]): Tensor | null {
  return t === null || sameShape(t.shape, shape) ? t : broadcastTo(t, shape);
}

/** Rule of a primitive that is linear in its single input. */
function linear<K extends PrimitiveName>(prim: K): JvpRule<K> {
  return (primals, [t], params) => [bind(prim, primals, params), t === null ? null : bind(prim, [t], params)];
}

/** Rule of a primitive that is bilinear in its two inputs. */
function bilinear<K extends PrimitiveName>(prim: K): JvpRule<K> {
  return ([a, b], [ta, tb], params) => [
    bind(prim, [a, b], params),
    addMaybe(ta === null ? null : bind(prim, [ta, b], params), tb === null ? null : bind(prim, [a, tb], params)),
  ];
}

function keepDimsShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function extremum<K extends 'max' | 'min'>(prim: K): JvpRule<K> {
  return ([x], [t], params) => {
    const y = bind(prim, [x], params);
    const yk = params.keepdims ? y : reshape(y, keepDimsShape(x.shape, params.axes));
    const mask = equal(x, yk);
    const count = sum(mask, params.axes, true);
    return [y, sum(div(mul(t as Tensor, mask), count), params.axes, params.keepdims)];
  };
}

export const JVP_RULES: { readonly [K in PrimitiveName]: JvpRule<K> } = {
  unary: ([x], [t], params) => {
    const y = bind('unary', [x], params);
    if (t === null) return [y, null];
    const fused = fusedUnaryJvp(params.op, t, x, y);
    if (fused !== null) return [y, fused];
    const d = UNARY_DERIVATIVES[params.op];
    return [y, d === null ? null : scaleBy(t, typeof d === 'number' ? d : d(x, y))];
  },
  unaryGrad: ([g, r], [tg, tr], params) => {
    const y = bind('unaryGrad', [g, r], params);
    const slope = UNARY_GRAD_SLOPES[params.op];
    const dg = tg === null ? null : unaryGradFactor(params.op, tg, r);
    const dr = tr === null || slope === null ? null : scaleBy(mul(tr, g), typeof slope === 'number' ? slope : slope(r));
    return [y, addMaybe(dg, dr)];
  },
  binary: ([a, b], [ta, tb], params) => {
    const y = bind('binary', [a, b], params);
    const p = BINARY_PARTIALS[params.op];
    if (p === null) return [y, null];
    const ca = ta === null ? null : scaleBy(ta, typeof p.da === 'number' ? p.da : p.da(a, b, y));
    const cb = tb === null ? null : scaleBy(tb, typeof p.db === 'number' ? p.db : p.db(a, b, y));
    return [y, toShape(addMaybe(toShape(ca, y.shape), toShape(cb, y.shape)), y.shape)];
  },
  sum: linear('sum'),
  max: extremum('max'),
  min: extremum('min'),
  logsumexp: ([x], [t], params) => {
    const y = bind('logsumexp', [x], params);
    const yk = params.keepdims ? y : reshape(y, keepDimsShape(x.shape, params.axes));
    return [y, sum(mul(t as Tensor, exp(sub(x, yk))), params.axes, params.keepdims)];
  },
  softmax: ([x], [t], params) => {
    const y = bind('softmax', [x], params);
    const tt = t as Tensor;
    return [y, mul(y, sub(tt, sum(mul(y, tt), params.axis, true)))];
  },
  logSoftmax: ([x], [t], params) => {
    const y = bind('logSoftmax', [x], params);
    const tt = t as Tensor;
    return [y, sub(tt, sum(mul(exp(y), tt), params.axis, true))];
  },
  reshape: linear('reshape'),
  transpose: linear('transpose'),
  broadcastTo: linear('broadcastTo'),
  slice: linear('slice'),
  sliceAdjoint: linear('sliceAdjoint'),
  concat: (primals, tangents, params) => [
    bind('concat', primals, params),
    bind('concat', tangents.map((t, i) => t ?? zeros(primals[i].shape, { dtype: primals[i].dtype })), params),
  ],
  gather: linear('gather'),
  gatherAdjoint: linear('gatherAdjoint'),
  takeAlongAxis: linear('takeAlongAxis'),
  takeAlongAxisAdjoint: linear('takeAlongAxisAdjoint'),
  where: ([c, a, b], [, ta, tb], params) => {
    const y = bind('where', [c, a, b], params);
    return [y, toShape(where(c, ta ?? 0, tb ?? 0), y.shape)];
  },
  cast: linear('cast'),
  matmul: bilinear('matmul'),
  conv2d: bilinear('conv2d'),
  conv2dBackwardInput: bilinear('conv2dBackwardInput'),
  conv2dBackwardFilter: bilinear('conv2dBackwardFilter'),
  poolGather: linear('poolGather'),
  poolScatter: linear('poolScatter'),
  avgPool2d: linear('avgPool2d'),
  avgPool2dBackward: linear('avgPool2dBackward'),
};

function checkTangents(op: string, primals: readonly unknown[], tangents: readonly unknown[]): void {
  if (!Array.isArray(primals) || !Array.isArray(tangents)) throw new TypeError(`${op}: primals and tangents must be arrays (one entry per argument of f)`);
  if (primals.length !== tangents.length) throw new RangeError(`${op}: ${primals.length} primals but ${tangents.length} tangents`);
  primals.forEach((p, i) => {
    const lp = treeLeaves(p);
    const lt = treeLeaves(tangents[i]);
    if (lp.length !== lt.length) throw new RangeError(`${op}: argument ${i} has ${lp.length} tensors but its tangent has ${lt.length}`);
    lp.forEach((x, j) => {
      const t = lt[j];
      if (!sameShape(x.shape, t.shape) || x.dtype !== t.dtype) {
        throw new RangeError(`${op}: tangent ${j} of argument ${i} is ${t.toString()}, expected the primal's ${x.toString()}`);
      }
    });
  });
}

/**
 * Forward-mode derivative: returns `[f(...primals), J_f(primals) · tangents]`. `primals` and
 * `tangents` are arrays with one pytree per argument of `f`, of matching structure and shapes.
 * Costs about one extra evaluation of `f` (jax.jvp).
 */
export function jvp<Out extends PyTree>(f: (...args: never[]) => Out, primals: readonly PyTree[], tangents: readonly PyTree[]): [Out, Out] {
  checkTangents('jvp', primals, tangents);
  // Its own scope: every intermediate of the pass is released once values and tangents exist.
  return autoScope(() => jvpTraced(f, primals, tangents));
}

function jvpTraced<Out extends PyTree>(f: (...args: never[]) => Out, primals: readonly PyTree[], tangents: readonly PyTree[]): [Out, Out] {
  const level = newLevel();
  try {
    const trace = new JvpTrace(level);
    const args = primals.map((p, i) => {
      const lt = treeLeaves(tangents[i]);
      return treeUnflatten(p, treeLeaves(p).map((x, j) => new JvpTracer(trace, x, lt[j])));
    });
    const out = (f as (...a: PyTree[]) => Out)(...args);
    const leaves = treeLeaves(out);
    const values = leaves.map((y) => (y instanceof JvpTracer && y.trace === trace ? y.primal : y));
    const tans = leaves.map((y) => {
      const t = y instanceof JvpTracer && y.trace === trace ? y.tangent : null;
      return t ?? zeros(y.shape, { dtype: y.dtype });
    });
    return [treeUnflatten(out, values), treeUnflatten(out, tans)];
  } finally {
    releaseLevel();
  }
}
