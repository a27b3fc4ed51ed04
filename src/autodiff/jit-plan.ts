/**
 * The plan `jit` records and how it is prepared for replay: dead steps dropped, a release
 * schedule (each intermediate released right after its last use), and buffers assigned ahead
 * of time — an intermediate whose producer and every consumer are "into" kernels below lives
 * in one buffer of the plan's own, written in place on every replay, so the replay neither
 * allocates it nor returns it to the pool.
 *
 * Each "into" kernel makes exactly the kernel call that the primitive's eager implementation
 * makes for the same shapes (through the same helpers of the tensor layer), so a replay gives
 * the same bits as eager evaluation.
 */
import type { DType, FloatArray } from '../kernels/types.js';
import { kernels } from '../kernels/index.js';
import { Tensor, shapeSize, type Shape } from '../tensor/tensor.js';
import { binaryFlatInto, broadcastShapes, broadcastStrides, flatStrides, fullReduction, unaryInto } from '../tensor/ops.js';
import type { UnaryGradOp } from '../kernels/types.js';
import { matmul2dInto, type PrimitiveParams } from './primitives.js';
import { buildProgram, type Program, type Step } from './jit-program.js';

export type { Step };


/** Writes a step's result into `out`, a buffer of the step's output size. */
export type Into = (args: Tensor[], out: FloatArray) => void;

/** A plan: slots 0..nInputs-1 hold the argument leaves, then the constants, then step outputs. */
export interface Plan {
  readonly nInputs: number;
  /** Slots in all (dropped steps keep their numbers). */
  readonly nSlots: number;
  readonly constants: readonly Tensor[];
  readonly steps: readonly Step[];
  /** Output leaves, as slots. */
  readonly outSlots: readonly number[];
  readonly outTree: unknown;
  /** Slots to release after each step (their last use, not outputs, inputs, constants or own buffers). */
  readonly releaseAfter: readonly (readonly number[])[];
  /** Per step, its argument array (reused across replays). */
  readonly args: Tensor[][];
  /** Per step, the in-place kernel and the plan's own output tensor, where buffers are assigned ahead of time. */
  readonly into: readonly (Into | null)[];
  readonly own: readonly (Tensor | null)[];
  /** Why f could not be staged (read a traced tensor's values), or null. */
  readonly unstageable: string | null;
  /** The steps as a backend program (native), or null: replays then run step by step. */
  readonly program: Program | null;
}

/** The step's result computed in place, or null where only the primitive's own implementation will do. */
function intoFor(step: Step, shapeOf: (slot: number) => Shape, sizeOf: (slot: number) => number): Into | null {
  const ins = step.ins;
  if (step.opaque !== null) {
    if (step.opaque.name !== 'unaryGrad') return null;
    const op = step.opaque.key as UnaryGradOp;
    return ([r, g], out) => kernels().unaryGrad(op, r.data, g.data, out);
  }
  switch (step.prim) {
    case 'unaryGrad': {
      const { op } = step.params as PrimitiveParams['unaryGrad'];
      return ([g, r], out) => kernels().unaryGrad(op, r.data, g.data, out);
    }
    case 'unary': {
      const { op } = step.params as PrimitiveParams['unary'];
      return ([x], out) => unaryInto(op, x.data, out);
    }
    case 'binary': {
      const { op } = step.params as PrimitiveParams['binary'];
      const [a, b] = [shapeOf(ins[0]), shapeOf(ins[1])];
      const st = flatStrides(a, sizeOf(ins[0]), b, sizeOf(ins[1]));
      if (st !== null) {
        const [sa, sb] = st;
        return ([x, y], out) => binaryFlatInto(op, x.data, sa, y.data, sb, out, out.length);
      }
      const shape = broadcastShapes(op, a, b);
      const [stA, stB] = [broadcastStrides(a, shape), broadcastStrides(b, shape)];
      return ([x, y], out) => kernels().binary(op, x.data, stA, y.data, stB, out, shape);
    }
    case 'matmul': {
      const { transposeA, transposeB } = step.params as PrimitiveParams['matmul'];
      if (shapeOf(ins[0]).length !== 2 || shapeOf(ins[1]).length !== 2) return null;
      return ([x, y], out) => matmul2dInto(x, y, transposeA, transposeB, out);
    }
    case 'sum': case 'max': case 'min': case 'logsumexp': {
      const { axes, keepdims } = step.params as PrimitiveParams['sum'];
      const probe = { size: sizeOf(ins[0]), ndim: shapeOf(ins[0]).length } as Tensor;
      if (!fullReduction(probe, axes, keepdims)) return null;
      const op = step.prim;
      const n = sizeOf(ins[0]);
      return ([x], out) => {
        out[0] = 0; // eager reduces into a zero-filled buffer
        kernels().reduce(op, x.data, 1, n, 1, out);
      };
    }
    case 'broadcastTo': {
      const { shape } = step.params as PrimitiveParams['broadcastTo'];
      const strides = broadcastStrides(shapeOf(ins[0]), shape);
      return ([x], out) => kernels().copyStrided(x.data, strides, shape, out);
    }
    default:
      return null;
  }
}

/** Whether two constants hold the same values (bit for bit) in the same shape and dtype. */
function sameConstant(a: Tensor, b: Tensor): boolean {
  if (a.dtype !== b.dtype || a.size !== b.size || a.shape.length !== b.shape.length) return false;
  for (let i = 0; i < a.shape.length; i++) if (a.shape[i] !== b.shape[i]) return false;
  const x = a.data;
  const y = b.data;
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
  return true;
}

/**
 * Common subexpressions: a step that applies the same primitive with the same parameters to
 * the same slots as an earlier step computes the same bits (primitives are pure and their
 * kernels deterministic), so it is dropped and its readers read the earlier result. Constants
 * with equal values count as one slot first (rules lift their own scalars: 1 in 1 − y², 2 in
 * 2x). Nested derivatives repeat much of this: the physics-informed network's Laplacian (a
 * vjp of an input gradient applied to two cotangents, inside valueAndGrad) recomputes the
 * same tanh derivatives and products in each branch.
 */
function mergeCommon(nInputs: number, constants: readonly Tensor[], steps: readonly Step[], outSlots: readonly number[]): { steps: Step[]; outSlots: number[] } {
  const canon = new Map<number, number>();
  for (let i = 0; i < constants.length; i++) {
    for (let j = 0; j < i; j++) {
      if (!canon.has(nInputs + j) && sameConstant(constants[i], constants[j])) {
        canon.set(nInputs + i, nInputs + j);
        break;
      }
    }
  }
  const slot = (s: number): number => canon.get(s) ?? s;
  const seen = new Map<string, number>();
  const out: Step[] = [];
  for (const s of steps) {
    const ins = s.ins.map(slot);
    const what = s.opaque !== null ? `o:${s.opaque.name}:${s.opaque.key}` : `p:${s.prim as string}:${paramsKey(s.params)}`;
    const key = `${what}|${s.dtype}|${ins.join(',')}`;
    const prev = seen.get(key);
    if (prev !== undefined) {
      canon.set(s.out, prev);
      continue;
    }
    seen.set(key, s.out);
    out.push(ins.every((v, i) => v === s.ins[i]) ? s : { ...s, ins });
  }
  return { steps: out, outSlots: outSlots.map(slot) };
}

/** A text key for a primitive's parameters (typed arrays such as pooling indices included). */
function paramsKey(params: unknown): string {
  return JSON.stringify(params, (_k, v: unknown) => (ArrayBuffer.isView(v) ? `${v.constructor.name}:${Array.from(v as Int32Array).join(',')}` : v));
}

/**
 * Prepare a verified plan for replay: drop steps whose results nobody reads, assign the plan's
 * own buffers, schedule releases.
 */
export function preparePlan(
  nInputs: number, constants: readonly Tensor[], rawSteps: readonly Step[], outSlots: readonly number[], outTree: unknown, inputShapes: readonly Shape[],
  inputDTypes: readonly DType[],
): Plan {
  const nFixed = nInputs + constants.length;
  const merged = mergeCommon(nInputs, constants, rawSteps, outSlots);
  outSlots = merged.outSlots;
  // Dead steps: walk back from the outputs (every primitive is pure, so an unread result can go).
  const live = new Set<number>(outSlots);
  const kept: Step[] = [];
  for (let k = merged.steps.length - 1; k >= 0; k--) {
    const s = merged.steps[k];
    if (!live.has(s.out)) continue;
    for (const i of s.ins) live.add(i);
    kept.push(s);
  }
  const steps = kept.reverse();
  const stepOf = new Map<number, Step>(steps.map((s) => [s.out, s]));
  const shapeOf = (slot: number): Shape => (slot < nInputs ? inputShapes[slot] : slot < nFixed ? constants[slot - nInputs].shape : (stepOf.get(slot) as Step).shape);
  const sizeOf = (slot: number): number => shapeSize(shapeOf(slot));
  const into = steps.map((s) => intoFor(s, shapeOf, sizeOf));
  // An own buffer only where nothing could keep a view of it: not an output, and read only by
  // in-place kernels (a primitive's own implementation may return a view, e.g. reshape).
  const outs = new Set(outSlots);
  const readByOther = new Set<number>();
  steps.forEach((s, k) => { if (into[k] === null) for (const i of s.ins) readByOther.add(i); });
  const own = steps.map((s, k) => {
    if (into[k] === null || outs.has(s.out) || readByOther.has(s.out)) return null;
    const n = shapeSize(s.shape);
    const t = new Tensor(s.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n), s.shape);
    t._kept = true;
    return t;
  });
  const owned = new Set(steps.filter((_, k) => own[k] !== null).map((s) => s.out));
  const lastUse = new Map<number, number>();
  steps.forEach((s, k) => { for (const i of s.ins) lastUse.set(i, k); });
  const releaseAfter: number[][] = steps.map(() => []);
  for (const [slot, k] of lastUse) if (slot >= nFixed && !outs.has(slot) && !owned.has(slot)) releaseAfter[k].push(slot);
  const nSlots = nFixed + rawSteps.length;
  return {
    nInputs, nSlots, constants, steps, outSlots, outTree, releaseAfter,
    args: steps.map((s) => new Array<Tensor>(s.ins.length)),
    into: steps.map((_, k) => (own[k] === null ? null : into[k])),
    own,
    unstageable: null,
    program: buildProgram(kernels(), steps, own, nSlots, nInputs, constants, inputShapes, inputDTypes, outSlots),
  };
}
