/**
 * A jit plan's kernel steps as a backend program (native): consecutive steps that the backend
 * can run by itself are one call, instead of one N-API crossing per step (argument checks, op
 * lookup, typed-array inspection, about 1 µs each: most of a replay of 20×20 steps, and a
 * fifth of the physics-informed network's 184 steps on 400×20 arrays).
 *
 * Each instruction is the kernel call the step's "into" form makes (see `jit-plan.ts`), with
 * the same arguments: same-shape and scalar binaries as one flat axis, others with broadcast
 * strides; 2-D matmul as one GEMM with alpha 1 and beta 0; full reductions into a zeroed
 * element. The JavaScript loops the tensor layer uses for small exactly rounded ops (+ − × ÷,
 * neg, square, sqrt) give the same bits as the kernels, so a replay stays bit-identical to
 * eager evaluation.
 *
 * Slots are the plan's. Constants and the plan's own buffers are bound once; arguments, the
 * results of steps that stay in JavaScript, and results the replay allocates (outputs, and
 * intermediates a JavaScript step reads) are handed in per call.
 */
import { BINARY_OPS, REDUCE_OPS, UNARY_GRAD_OPS, UNARY_OPS, type DType, type FloatArray, type Kernels, type UnaryGradOp } from '../kernels/types.js';
import { shapeSize, type Shape, type Tensor } from '../tensor/tensor.js';
import { broadcastShapes, broadcastStrides, flatStrides, fullReduction } from '../tensor/ops.js';
import type { PrimitiveName, PrimitiveParams } from './primitives.js';
import type { OpaqueImpl } from './core.js';

/** One recorded application: a primitive (or an opaque kernel) from slots to a new slot. */
export interface Step {
  readonly prim: PrimitiveName | null;
  readonly params: unknown;
  /** For opaque steps: the name, key and implementation recorded by `bindOpaque`. */
  readonly opaque: { name: string; key: string; impl: OpaqueImpl } | null;
  readonly ins: readonly number[];
  readonly out: number;
  /** The output's shape and dtype (fixed by the input signature). */
  readonly shape: Shape;
  readonly dtype: DType;
}

/** One call of the program (a run of steps), or one step left to JavaScript. */
export interface Segment {
  /** Steps [first, end) of the plan. */
  readonly first: number;
  readonly end: number;
  /** Instructions [from, to), or from = -1 for a JavaScript step. */
  readonly from: number;
  readonly to: number;
  /** Slots read from the replay's slot table and handed in per call. */
  readonly readSlots: readonly number[];
  /** Results this call writes into buffers the replay allocates (then wraps as tensors); `out`: a result of the plan. */
  readonly allocs: readonly { slot: number; dtype: DType; size: number; shape: Shape; out: boolean }[];
  /** readSlots then allocs' slots, as the backend takes them. */
  readonly varSlots: Int32Array;
  /** Reused per call: the arrays of varSlots. */
  readonly vars: FloatArray[];
}

export interface Program {
  readonly kernels: Kernels;
  readonly handle: unknown;
  readonly segments: readonly Segment[];
}

const f64Flag = (d: DType): number => (d === 'float64' ? 1 : 0);

/** The instruction of a step, or null where only JavaScript (the primitive's implementation) will do. */
function encode(step: Step, shapeOf: (slot: number) => Shape): number[] | null {
  const ins = step.ins;
  const d = f64Flag(step.dtype);
  const out = step.out;
  const n = shapeSize(step.shape);
  if (step.opaque !== null) {
    if (step.opaque.name !== 'unaryGrad') return null;
    const op = UNARY_GRAD_OPS.indexOf(step.opaque.key as UnaryGradOp);
    return op < 0 ? null : [4, d, op, ins[0], ins[1], out, n];
  }
  switch (step.prim) {
    case 'unaryGrad': {
      const op = UNARY_GRAD_OPS.indexOf((step.params as PrimitiveParams['unaryGrad']).op);
      return op < 0 ? null : [4, d, op, ins[1], ins[0], out, n];
    }
    case 'unary':
      return [1, d, UNARY_OPS.indexOf((step.params as PrimitiveParams['unary']).op), ins[0], out, n];
    case 'binary': {
      const op = BINARY_OPS.indexOf((step.params as PrimitiveParams['binary']).op);
      const [a, b] = [shapeOf(ins[0]), shapeOf(ins[1])];
      const st = flatStrides(a, shapeSize(a), b, shapeSize(b));
      if (st !== null) return [2, d, op, ins[0], ins[1], out, 1, n, st[0], st[1]];
      const shape = broadcastShapes('binary', a, b);
      if (shape.length === 0) return null;
      return [2, d, op, ins[0], ins[1], out, shape.length, ...shape, ...broadcastStrides(a, shape), ...broadcastStrides(b, shape)];
    }
    case 'matmul': {
      const { transposeA: tA, transposeB: tB } = step.params as PrimitiveParams['matmul'];
      const [a, b] = [shapeOf(ins[0]), shapeOf(ins[1])];
      if (a.length !== 2 || b.length !== 2) return null;
      const m = tA ? a[1] : a[0];
      const k = tA ? a[0] : a[1];
      const nn = tB ? b[0] : b[1];
      return [3, d, tA ? 1 : 0, tB ? 1 : 0, m, nn, k, ins[0], a[1], ins[1], b[1], out];
    }
    case 'sum': case 'max': case 'min': case 'logsumexp': {
      const { axes, keepdims } = step.params as PrimitiveParams['sum'];
      const x = shapeOf(ins[0]);
      const size = shapeSize(x);
      if (size === 0 || !fullReduction({ size, ndim: x.length } as Tensor, axes, keepdims)) return null;
      return [5, d, REDUCE_OPS.indexOf(step.prim), ins[0], 1, size, 1, out, 1];
    }
    case 'broadcastTo': {
      const { shape } = step.params as PrimitiveParams['broadcastTo'];
      if (shape.length === 0) return null;
      return [6, d, ins[0], out, shape.length, ...shape, ...broadcastStrides(shapeOf(ins[0]), shape)];
    }
    default:
      return null;
  }
}

/**
 * The program of a prepared plan's steps, or null where the backend has no programs or no
 * step would run in one. `own[k]` is step k's buffer of the plan's own (bound once), or null.
 */
export function buildProgram(
  k: Kernels, steps: readonly Step[], own: readonly (Tensor | null)[], nSlots: number, nInputs: number,
  constants: readonly Tensor[], inputShapes: readonly Shape[], inputDTypes: readonly DType[], outSlots: readonly number[],
): Program | null {
  const outs = new Set(outSlots);
  if (k.programCreate === undefined || k.programBind === undefined || k.programRun === undefined) return null;
  const nFixed = nInputs + constants.length;
  const stepOf = new Map<number, Step>(steps.map((s) => [s.out, s]));
  const indexOf = new Map<number, number>(steps.map((s, i) => [s.out, i]));
  const ownOf = (slot: number): Tensor | null => (slot >= nFixed ? own[indexOf.get(slot) as number] : null);
  const shapeOf = (slot: number): Shape => (slot < nInputs ? inputShapes[slot] : slot < nFixed ? constants[slot - nInputs].shape : (stepOf.get(slot) as Step).shape);
  const dtypeOf = (slot: number): DType => (slot < nInputs ? inputDTypes[slot] : slot < nFixed ? constants[slot - nInputs].dtype : (stepOf.get(slot) as Step).dtype);
  const codes = steps.map((s) => encode(s, shapeOf));
  if (codes.every((c) => c === null)) return null;
  const bound = new Set<number>();
  const code: number[] = [];
  const segments: Segment[] = [];
  let nInstr = 0;
  let kk = 0;
  while (kk < steps.length) {
    if (codes[kk] === null) {
      segments.push({ first: kk, end: kk + 1, from: -1, to: -1, readSlots: [], allocs: [], varSlots: new Int32Array(0), vars: [] });
      kk++;
      continue;
    }
    const first = kk;
    const from = nInstr;
    const produced = new Set<number>();
    const readSlots: number[] = [];
    const allocs: { slot: number; dtype: DType; size: number; shape: Shape; out: boolean }[] = [];
    let count = 0;
    for (; kk < steps.length && codes[kk] !== null; kk++) {
      const s = steps[kk];
      for (const i of s.ins) {
        if ((i >= nInputs && i < nFixed) || ownOf(i) !== null) bound.add(i);
        else if (!produced.has(i) && !readSlots.includes(i) && ownOf(i) === null) readSlots.push(i);
      }
      if (own[kk] !== null) bound.add(s.out);
      else allocs.push({ slot: s.out, dtype: s.dtype, size: shapeSize(s.shape), shape: s.shape, out: outs.has(s.out) });
      produced.add(s.out);
      code.push(...(codes[kk] as number[]));
      count++;
    }
    const to = from + count;
    nInstr = to;
    segments.push({
      first, end: kk, from, to, readSlots, allocs,
      varSlots: Int32Array.from([...readSlots, ...allocs.map((a) => a.slot)]),
      vars: new Array<FloatArray>(readSlots.length + allocs.length),
    });
  }
  const lengths = new Float64Array(nSlots);
  const f64 = new Uint8Array(nSlots);
  for (let slot = 0; slot < nSlots; slot++) {
    if (slot < nFixed || stepOf.has(slot)) {
      lengths[slot] = shapeSize(shapeOf(slot));
      f64[slot] = f64Flag(dtypeOf(slot));
    }
  }
  const handle = k.programCreate(Float64Array.from(code), lengths, f64);
  for (const slot of bound) {
    const t = slot < nFixed ? constants[slot - nInputs] : (ownOf(slot) as Tensor);
    k.programBind(handle, slot, t.data);
  }
  return { kernels: k, handle, segments };
}
