/**
 * The tracing core shared by forward and reverse mode (after JAX's "autodidax" design).
 *
 * Each active transformation (one `jvp` or `vjp` call) owns a trace with a level; nested calls
 * get higher levels. A `Tracer` is a Tensor that belongs to one trace: it carries its primal
 * value (a Tensor of a lower level, ultimately concrete) plus what its transformation needs
 * (a tangent, or a node of the reverse-mode tape). Its `data` and `shape` are the concrete
 * values, so code may read them (as PyTorch code reads `.item()`), but reading them is not
 * differentiated.
 *
 * `bind(primitive, inputs, params)` evaluates a primitive: it finds the highest-level trace
 * among the inputs and lets it process the op; with no tracers it evaluates concretely. Rules
 * are written with differentiable ops (which bind again), so every derivative can be
 * differentiated once more: grad of grad, jvp of grad, and so on.
 */
import { Tensor, releasedError, type FloatArray } from '../tensor/tensor.js';
import { IMPLS, type PrimitiveName, type PrimitiveParams } from './primitives.js';

export interface Trace {
  readonly level: number;
  /**
   * True for a trace that records operations instead of differentiating them (`jit`): a
   * derivative shortcut that would bypass `bind` must not apply to its tracers, and
   * `stopGradient` stops at them (their values are not known until the plan replays).
   */
  readonly staging?: boolean;
  /** A staging trace records an opaque, non-differentiable kernel application (see `bindOpaque`). */
  stage?(name: string, key: string, inputs: Tracer[], impl: OpaqueImpl): Tensor;
  /** Wrap a value of a lower level (or a plain tensor) as a tracer of this trace. */
  lift(x: Tensor): Tracer;
  process<K extends PrimitiveName>(prim: K, inputs: Tracer[], params: PrimitiveParams[K]): Tensor;
}

export abstract class Tracer extends Tensor {
  abstract readonly trace: Trace;
  /** The value one level down (a Tensor, possibly a tracer of a lower trace). */
  readonly primal: Tensor;

  constructor(primal: Tensor) {
    const d = primal._data;
    if (d === null) throw releasedError('trace', primal);
    super(d, primal.shape);
    this.primal = primal;
  }

  /** Reading the values goes through the levels below, so a staging trace sees every read. */
  override get data(): FloatArray {
    if (this._data === null) throw releasedError('data', this);
    return this.primal.data;
  }

  /** @internal A tracer reads its primal's buffer: keeping the tracer keeps the primal. */
  override _children(): readonly Tensor[] | null {
    return [this.primal];
  }
}

let nextLevel = 1;
let activeTraces = 0;

/** A new level, higher than every level in use; `release` when the transformation ends. */
export function newLevel(): number {
  activeTraces++;
  return nextLevel++;
}

/** True while any transformation (grad, vjp, jvp, jit, ...) is tracing. */
export function transformationActive(): boolean {
  return activeTraces > 0;
}

export function releaseLevel(): void {
  activeTraces--;
  if (activeTraces === 0) nextLevel = 1;
}

/** The user-facing name of a primitive application, for errors (e.g. `exp`, `matmul`). */
function opName<K extends PrimitiveName>(prim: K, params: PrimitiveParams[K]): string {
  const op = (params as { op?: unknown }).op;
  return typeof op === 'string' ? op : prim;
}

function levelOf(x: Tensor): number {
  return x instanceof Tracer ? x.trace.level : 0;
}

/** Evaluate `prim` on `inputs`, through the highest active trace among them. */
export function bind<K extends PrimitiveName>(prim: K, inputs: Tensor[], params: PrimitiveParams[K]): Tensor {
  let top: Trace | undefined;
  for (const x of inputs) {
    if (x._data === null) throw releasedError(opName(prim, params), x);
    if (x instanceof Tracer && (top === undefined || x.trace.level > top.level)) top = x.trace;
  }
  if (top === undefined) return IMPLS[prim](inputs, params);
  return top.process(prim, liftAll(top, inputs), params);
}

/** `inputs` as tracers of `trace`: the array itself when every input already is one (the common case). */
function liftAll(trace: Trace, inputs: Tensor[]): Tracer[] {
  let lifted: Tracer[] | null = null;
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i];
    if (levelOf(x) === trace.level) {
      if (lifted !== null) lifted[i] = x as Tracer;
    } else {
      if (lifted === null) lifted = inputs.slice(0, i) as Tracer[];
      lifted[i] = trace.lift(x);
    }
  }
  return lifted ?? (inputs as Tracer[]);
}

/**
 * The concrete tensor under any number of tracer levels (stops differentiation). Under `jit`
 * it stops at the staging tracer: the value is still recorded, only not differentiated.
 */
export function stopGradient(x: Tensor): Tensor {
  let v = x;
  while (v instanceof Tracer && v.trace.staging !== true) v = v.primal;
  return v;
}

/** True when `x` is differentiated by an active transformation (a tracer of a non-staging trace). */
export function differentiated(x: Tensor): boolean {
  return x instanceof Tracer && x.trace.staging !== true;
}

/** A kernel application on concrete tensors that has no derivative rule (a fused derivative). */
export type OpaqueImpl = (inputs: Tensor[], key: string) => Tensor;

/**
 * Apply `impl` to `inputs` (keyed by `key`, e.g. the op it fuses): concretely, or recorded by
 * a staging trace. Callers use it only where no differentiating trace sees the inputs.
 */
export function bindOpaque(name: string, key: string, inputs: Tensor[], impl: OpaqueImpl): Tensor {
  let top: Trace | undefined;
  for (const x of inputs) {
    if (x._data === null) throw releasedError(name, x);
    if (x instanceof Tracer && (top === undefined || x.trace.level > top.level)) top = x.trace;
  }
  if (top === undefined) return impl(inputs, key);
  const trace = top;
  const stage = trace.stage;
  if (stage === undefined) throw new Error(`${name}: has no derivative rule and cannot run under a differentiating transformation`);
  return stage.call(trace, name, key, liftAll(trace, inputs), impl);
}
