/**
 * `jit(f)` (JAX's name): trace `f` once per input signature into a plan of primitive
 * applications, then replay the plan on new inputs without running `f` again — no tracers, no
 * tapes, no closures per node, no scope bookkeeping, intermediates released right after their
 * last use (so their buffers come back from the pool in the same order every replay).
 *
 * It composes with the other transformations: `jit(grad(f))`, `jit(valueAndGrad(f))`,
 * `jit((x) => hvp(f, x, v))` record the whole forward and backward computation as concrete
 * primitives, because jit's trace sits below every trace `f` opens. A replay calls the same
 * kernels with the same arguments as eager evaluation, so results are equal bit for bit.
 *
 * The signature of a call is the structure of its arguments (pytrees: arrays, plain objects),
 * the shape and dtype of every tensor leaf, and the value of every other leaf (numbers,
 * strings, booleans, null: static arguments). Tensors `f` closes over are constants of the
 * plan, copied when it is traced (as in JAX): pass what changes between calls as an argument.
 *
 * What jit checks:
 * - `f` is traced on the first TWO calls of a signature and the two traces compared: a
 *   difference (another sequence of operations, a constant with other values, another output
 *   structure) means `f` depends on something besides its arguments (a closed-over tensor
 *   replaced between calls, random numbers drawn inside, a counter) and is an error naming
 *   the function and what differed. From the third call on, the plan replays.
 * - `f` that reads a traced tensor's values (`.data`, `item()`, `toArray()`, an op that
 *   branches on values such as `maxPool2d`) cannot be replayed: jit warns once and evaluates
 *   `f` eagerly from then on (the documented fallback).
 * - Called inside another transformation (with tracers among its arguments, or while one is
 *   tracing), jit(f) just runs `f`: the enclosing transformation sees through it.
 */
import { Tensor, allocateUninit, fmtShape, releasedError, slabAllocate, slabCopy, type FloatArray } from '../tensor/tensor.js';
import { kernels } from '../kernels/index.js';
import type { Kernels } from '../kernels/types.js';
import type { Program, Segment } from './jit-program.js';
import { openScope, popScope, unmanageBuffer } from '../tensor/memory.js';
import { closeScope } from '../tensor/scope.js';
import { Tracer, bind, newLevel, releaseLevel, transformationActive, type OpaqueImpl, type Trace } from './core.js';
import { IMPLS, type PrimitiveName, type PrimitiveParams } from './primitives.js';
import { preparePlan, type Into, type Plan, type Step } from './jit-plan.js';

class JitTracer extends Tracer {
  constructor(readonly trace: JitTrace, primal: Tensor, readonly slot: number) {
    super(primal);
  }

  /** Reading values makes the trace unreplayable: they are those of this call only. */
  override get data(): Tensor['data'] {
    this.trace.valuesRead = true;
    return super.data;
  }
}

class JitTrace implements Trace {
  readonly staging = true;
  readonly steps: Step[] = [];
  readonly constants: Tensor[] = [];
  private readonly constantSlots = new Map<Tensor, number>();
  valuesRead = false;
  /**
   * The concrete values computed while tracing. They are held (`_kept`) until the trace ends:
   * the tapes of transformations inside f pin the tracers, not the values under them, so a
   * vjp function disposed inside f would otherwise release a value an outer tape still reads.
   */
  readonly values: Tensor[] = [];
  constructor(readonly level: number, readonly nInputs: number) {}

  private get nextSlot(): number {
    return this.nInputs + this.constants.length + this.steps.length;
  }

  /** A concrete tensor `f` uses but did not compute from its arguments: a constant, copied. */
  lift(x: Tensor): Tracer {
    let slot = this.constantSlots.get(x);
    if (slot === undefined) {
      if (x instanceof Tracer) {
        throw new Error('jit: f uses a tracer of a transformation that is not active (a value leaked out of grad/vjp/jvp); pass it as an argument');
      }
      // The step count grows the slot space; constants keep their own numbering (see plan()).
      slot = -1 - this.constants.length;
      const copy = x.clone();
      copy._kept = true;
      this.constants.push(copy);
      this.constantSlots.set(x, slot);
    }
    return new JitTracer(this, x, slot);
  }

  process<K extends PrimitiveName>(prim: K, inputs: Tracer[], params: PrimitiveParams[K]): Tensor {
    const primals = inputs.map((t) => t.primal);
    const y = bind(prim, primals, params);
    const same = primals.indexOf(y);
    if (same >= 0) return inputs[same]; // the primitive returned its input (a no-op): no step
    this.hold(y);
    const out = this.steps.length;
    this.steps.push({ prim, params, opaque: null, ins: inputs.map((t) => (t as JitTracer).slot), out, shape: y.shape, dtype: y.dtype });
    return new JitTracer(this, y, this.nInputs + 1e9 + out);
  }

  private hold(y: Tensor): void {
    if (!y._kept) {
      y._kept = true;
      this.values.push(y);
    }
  }

  stage(name: string, key: string, inputs: Tracer[], impl: OpaqueImpl): Tensor {
    const y = impl(inputs.map((t) => t.primal), key);
    this.hold(y);
    const out = this.steps.length;
    this.steps.push({ prim: null, params: null, opaque: { name, key, impl }, ins: inputs.map((t) => (t as JitTracer).slot), out, shape: y.shape, dtype: y.dtype });
    return new JitTracer(this, y, this.nInputs + 1e9 + out);
  }
}

// Slot numbering while tracing: inputs 0..n-1, constants -1, -2, ..., step outputs n+1e9+k.
// plan() renumbers them densely: inputs, constants, steps.
const STEP_BASE = 1e9;

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object') return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** What `signature` gathers while it walks the arguments (one object per call, no closures). */
interface SignatureWalk {
  readonly name: string;
  readonly leaves: Tensor[];
  traced: boolean;
  /** The path to the current value (argument index first), turned into text only for an error. */
  readonly path: (string | number)[];
}

function pathText(path: readonly (string | number)[]): string {
  return path.map((p, i) => (i === 0 ? `#${p}` : typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
}

function walkSignature(t: unknown, w: SignatureWalk): string {
  if (t instanceof Tensor) {
    if (t._data === null) throw releasedError(w.name, t);
    w.leaves.push(t);
    if (t instanceof Tracer) w.traced = true;
    return `${t.dtype === 'float32' ? 'f32' : 'f64'}[${t.shape.join(',')}]`;
  }
  if (Array.isArray(t)) {
    let s = '[';
    for (let i = 0; i < t.length; i++) {
      w.path.push(i);
      s += (i > 0 ? ',' : '') + walkSignature(t[i], w);
      w.path.pop();
    }
    return `${s}]`;
  }
  if (isPlainObject(t)) {
    let s = '{';
    let first = true;
    for (const k of Object.keys(t)) {
      w.path.push(k);
      s += `${first ? '' : ','}${JSON.stringify(k)}:${walkSignature(t[k], w)}`;
      w.path.pop();
      first = false;
    }
    return `${s}}`;
  }
  if (t === undefined) return 'u';
  if (t === null || typeof t === 'number' || typeof t === 'string' || typeof t === 'boolean') return JSON.stringify(t) ?? String(t);
  throw new TypeError(`${w.name}: argument ${pathText(w.path)} is ${typeof t === 'object' ? `a ${Object.getPrototypeOf(t)?.constructor?.name ?? 'object'}` : `a ${typeof t}`}; jit accepts pytrees of tensors, arrays, plain objects, numbers, strings, booleans and null (close over anything else)`);
}

/** The signature of the arguments, and their tensor leaves in order. */
function signature(name: string, args: readonly unknown[]): { key: string; leaves: Tensor[]; traced: boolean } {
  const w: SignatureWalk = { name, leaves: [], traced: false, path: [] };
  let key = '';
  for (let i = 0; i < args.length; i++) {
    w.path.push(i);
    key += (i > 0 ? '|' : '') + walkSignature(args[i], w);
    w.path.pop();
  }
  return { key, leaves: w.leaves, traced: w.traced };
}

/** Rebuild a tree with its tensor leaves replaced in order (non-tensor leaves kept). */
function rebuild(tree: unknown, leaves: readonly Tensor[], pos = { i: 0 }): unknown {
  if (tree instanceof Tensor) return leaves[pos.i++];
  if (Array.isArray(tree)) return tree.map((c) => rebuild(c, leaves, pos));
  if (isPlainObject(tree)) {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(tree)) o[k] = rebuild(tree[k], leaves, pos);
    return o;
  }
  return tree;
}

function outLeaves(tree: unknown, out: Tensor[]): string {
  if (tree instanceof Tensor) {
    out.push(tree);
    return 'T';
  }
  if (Array.isArray(tree)) return `[${tree.map((c) => outLeaves(c, out)).join(',')}]`;
  if (isPlainObject(tree)) return `{${Object.keys(tree).map((k) => `${JSON.stringify(k)}:${outLeaves(tree[k], out)}`).join(',')}}`;
  return typeof tree === 'function' ? 'fn' : (JSON.stringify(tree) ?? 'u');
}

/** What one trace recorded (compared with the next trace of the signature before replaying). */
interface Traced {
  readonly nInputs: number;
  readonly constants: readonly Tensor[];
  readonly steps: readonly Step[];
  readonly outSlots: readonly number[];
  readonly outTree: unknown;
  /** Why f could not be staged (read a traced tensor's values), or null. */
  readonly unstageable: string | null;
  /** The results of the traced call (computed eagerly while tracing). */
  readonly result: unknown;
  /** The output structure, for comparing two traces. */
  readonly outKey: string;
}

function trace(name: string, f: (...args: never[]) => unknown, args: readonly unknown[], leaves: readonly Tensor[]): Traced {
  const level = newLevel();
  const tr = new JitTrace(level, leaves.length);
  const scope = openScope(true);
  let out: unknown;
  let result: unknown;
  const outs: Tensor[] = [];
  let outKey = '';
  try {
    const tracers = leaves.map((x, i) => new JitTracer(tr, x, i));
    out = f(...(rebuild(args, tracers) as never[]));
    outKey = outLeaves(out, outs);
    // The caller gets the concrete values under the tracers (the eager result of this call).
    result = rebuild(out, outs.map((t) => (t instanceof JitTracer && t.trace === tr ? t.primal : t)));
  } finally {
    releaseLevel();
    // The trace is over: its values are ordinary tensors of this scope again.
    for (const v of tr.values) v._kept = false;
    closeScope(scope, result);
  }
  // A tensor f returns without computing it from its arguments is a constant of the plan.
  const rawOut = outs.map((t) => (t instanceof JitTracer && t.trace === tr ? t.slot : (tr.lift(t) as JitTracer).slot));
  const nConst = tr.constants.length;
  const dense = (s: number): number => (s >= STEP_BASE ? tr.nInputs + nConst + (s - tr.nInputs - STEP_BASE) : s < 0 ? tr.nInputs + (-1 - s) : s);
  const outSlots = rawOut.map(dense);
  const steps = tr.steps.map((s) => ({ ...s, ins: s.ins.map(dense), out: tr.nInputs + tr.constants.length + s.out }));
  return {
    nInputs: tr.nInputs,
    constants: tr.constants,
    steps,
    outSlots,
    outTree: out,
    unstageable: tr.valuesRead ? 'f reads the values of a traced tensor (.data, item(), toArray(), or an op that branches on values such as maxPool2d or gather with tensor indices)' : null,
    result,
    outKey,
  };
}

function sameBits(a: Tensor, b: Tensor): boolean {
  if (a.dtype !== b.dtype || a.size !== b.size || fmtShape(a.shape) !== fmtShape(b.shape)) return false;
  const x = a.data;
  const y = b.data;
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
  return true;
}

/** Why two traces of one signature differ, or null when they are the same plan. */
function difference(a: Traced, b: Traced): string | null {
  if (a.outKey !== b.outKey) return `the output structure changed (${a.outKey} then ${b.outKey})`;
  const p = a;
  const q = b;
  if (p.steps.length !== q.steps.length) return `the number of operations changed (${p.steps.length} then ${q.steps.length})`;
  for (let k = 0; k < p.steps.length; k++) {
    const s = p.steps[k];
    const t = q.steps[k];
    const what = s.prim ?? s.opaque?.name;
    if (s.prim !== t.prim || s.opaque?.name !== t.opaque?.name || s.opaque?.key !== t.opaque?.key || s.ins.join() !== t.ins.join()) {
      return `operation ${k} changed (${what} then ${t.prim ?? t.opaque?.name})`;
    }
    if (JSON.stringify(s.params) !== JSON.stringify(t.params)) return `the parameters of operation ${k} (${what}) changed`;
  }
  if (p.constants.length !== q.constants.length) return `the number of constants changed (${p.constants.length} then ${q.constants.length})`;
  for (let i = 0; i < p.constants.length; i++) {
    if (!sameBits(p.constants[i], q.constants[i])) return `constant ${i} (${p.constants[i].toString()}) has other values (a closed-over tensor replaced between calls, or random numbers drawn inside f)`;
  }
  if (p.outSlots.join() !== q.outSlots.join()) return 'the outputs come from other operations';
  return null;
}

/** Whether the replay under way runs outside every scope, and the results it put in slab views. */
let topLevel = false;
const slabbed = new Set<Tensor>();

function replay(plan: Plan, leaves: readonly Tensor[]): unknown {
  // In a scope of its own, so that every buffer is tracked and the ones released below go back
  // to the pool (outside scopes small buffers are left to the collector), without the cost of
  // closing it by reachability: what it made is either released here or an output.
  const scope = openScope(false);
  let outs: Tensor[] = [];
  topLevel = scope.parent === null;
  slabbed.clear();
  try {
    outs = run(plan, leaves);
  } finally {
    topLevel = false;
    popScope(scope);
    const parent = scope.parent;
    const moved = new Map<Tensor, Tensor>();
    for (let i = 0; i < outs.length; i++) {
      const t = outs[i];
      // Arguments returned as they are belong to the caller's scopes already; results already
      // in slab views are the collector's.
      if (plan.outSlots[i] < plan.nInputs || t._data === null || t._kept || slabbed.has(t)) continue;
      if (parent !== null) {
        parent.tensors.push(t);
        continue;
      }
      // Leaving every scope: a small result moves to a slab view and its pooled buffer goes back.
      let u = moved.get(t);
      if (u === undefined) {
        u = slabCopy(t) ?? t;
        if (u !== t) t._release();
        else unmanageBuffer(t._data);
        moved.set(t, u);
      }
      outs[i] = u;
    }
  }
  slabbed.clear();
  return rebuild(plan.outTree, outs);
}

function run(plan: Plan, leaves: readonly Tensor[]): Tensor[] {
  const slots = new Array<Tensor>(plan.nSlots);
  for (let i = 0; i < leaves.length; i++) slots[i] = leaves[i];
  for (let i = 0; i < plan.constants.length; i++) slots[plan.nInputs + i] = plan.constants[i];
  const program = plan.program;
  if (program !== null && program.kernels === kernels()) {
    const segs = program.segments;
    for (let i = 0; i < segs.length; i++) {
      const g = segs[i];
      if (g.from < 0) runStep(plan, slots, g.first);
      else runSegment(plan, program, g, slots);
    }
  } else {
    for (let k = 0; k < plan.steps.length; k++) runStep(plan, slots, k);
  }
  return outputs(plan, slots);
}

/** One call of the backend program: steps [g.first, g.end). */
function runSegment(plan: Plan, program: Program, g: Segment, slots: Tensor[]): void {
  const vars = g.vars;
  const reads = g.readSlots;
  let j = 0;
  for (; j < reads.length; j++) vars[j] = slots[reads[j]].data;
  const allocs = g.allocs;
  for (let a = 0; a < allocs.length; a++, j++) {
    const al = allocs[a];
    // A result leaving every scope goes straight into a slab view (replay would copy it there).
    const s = al.out && topLevel ? slabAllocate(al.dtype, al.size) : null;
    const d = s ?? allocateUninit(al.dtype, al.size);
    const t = new Tensor(d, al.shape);
    if (s !== null) slabbed.add(t);
    slots[al.slot] = t;
    vars[j] = d;
  }
  try {
    (program.kernels.programRun as NonNullable<Kernels['programRun']>)(program.handle, g.from, g.to, vars, g.varSlots);
  } finally {
    vars.fill(undefined as unknown as FloatArray);
  }
  for (let k = g.first; k < g.end; k++) {
    const own = plan.own[k];
    if (own !== null) slots[plan.steps[k].out] = own;
    const rel = plan.releaseAfter[k];
    for (let r = 0; r < rel.length; r++) slots[rel[r]]._release();
  }
}

function runStep(plan: Plan, slots: Tensor[], k: number): void {
  const s = plan.steps[k];
  const args = plan.args[k];
  for (let j = 0; j < s.ins.length; j++) args[j] = slots[s.ins[j]];
  const own = plan.own[k];
  if (own !== null) {
    (plan.into[k] as Into)(args, own._data as FloatArray);
    slots[s.out] = own;
    args.fill(undefined as unknown as Tensor);
    return;
  }
  const y = s.prim !== null
    ? (IMPLS[s.prim] as (inputs: Tensor[], params: unknown) => Tensor)(args, s.params)
    : (s.opaque as { impl: OpaqueImpl; key: string }).impl(args, (s.opaque as { key: string }).key);
  slots[s.out] = y;
  const rel = plan.releaseAfter[k];
  for (let j = 0; j < rel.length; j++) slots[rel[j]]._release();
  args.fill(undefined as unknown as Tensor);
}

function outputs(plan: Plan, slots: Tensor[]): Tensor[] {
  const nFixed = plan.nInputs;
  const outSlots = plan.outSlots;
  return outSlots.map((s, i) => {
    const t = slots[s];
    // A constant output is copied: the caller may dispose what it gets. So is an output that
    // an earlier one already is (common subexpressions merged two results into one slot, and
    // eager evaluation returns distinct tensors).
    return (s >= nFixed && s < nFixed + plan.constants.length) || (s >= nFixed && outSlots.indexOf(s) < i) ? t.clone() : t;
  });
}

/** What a jitted function reports about itself. */
export interface JitInfo {
  /** Traces made so far (two per input signature, the second one checking the first). */
  readonly traces: number;
  /** Calls answered by replaying a plan. */
  readonly replays: number;
  /** Whether jit fell back to eager evaluation (f reads traced values). */
  readonly eager: boolean;
  /**
   * Per ready plan (in signature order): kernel steps kept after dead-step and common-subexpression
   * removal, how many write into buffers of the plan's own, and how many the backend runs as
   * one program (native; 0 elsewhere).
   */
  readonly plans: readonly { steps: number; ownBuffers: number; programSteps: number }[];
}

export interface JitOptions {
  /** Name used in warnings and errors; default f's own name. */
  name?: string;
}

export type Jitted<F> = F & {
  readonly jitInfo: JitInfo;
  /** Forget every plan (the next calls trace again). */
  clearCache(): void;
};

/**
 * Compile `f` by tracing: `jit(f)(...args)` equals `f(...args)` bit for bit, and after the first
 * two calls with a given input signature it replays a recorded plan instead of running `f`.
 * See the module comment for what is checked and when jit falls back to eager evaluation.
 */
export function jit<F extends (...args: never[]) => unknown>(f: F, options: JitOptions = {}): Jitted<F> {
  if (typeof f !== 'function') throw new TypeError(`jit: expected a function, got ${typeof f}`);
  if (options === null || typeof options !== 'object') throw new TypeError('jit: options must be an object');
  const name = `jit(${options.name ?? (f.name !== '' ? f.name : 'anonymous function')})`;
  const cache = new Map<string, { first: Traced | null; plan: Plan | null }>();
  const info = { traces: 0, replays: 0, eager: false };
  let warned = false;
  const jitted = ((...args: never[]): unknown => {
    if (info.eager || transformationActive()) return f(...args);
    const sig = signature(name, args);
    if (sig.traced) return f(...args);
    const entry = cache.get(sig.key);
    if (entry?.plan != null) {
      info.replays++;
      return replay(entry.plan, sig.leaves);
    }
    const t = trace(name, f, args, sig.leaves);
    info.traces++;
    if (t.unstageable !== null) {
      info.eager = true;
      cache.clear();
      if (!warned) {
        warned = true;
        process.emitWarning(`${name} evaluates eagerly from now on: ${t.unstageable}`, { code: 'HESSIAN_JIT_FALLBACK' });
      }
      return t.result;
    }
    if (entry === undefined) {
      cache.set(sig.key, { first: t, plan: null });
      return t.result;
    }
    const why = difference(entry.first as Traced, t);
    if (why !== null) {
      throw new Error(`${name}: two calls with the same input signature traced differently: ${why}. f must depend only on its arguments: pass what changes between calls as an argument`);
    }
    // The first trace's plan: its constants are the ones already compared.
    const first = entry.first as Traced;
    entry.plan = preparePlan(first.nInputs, first.constants, first.steps, first.outSlots, first.outTree, sig.leaves.map((x) => x.shape), sig.leaves.map((x) => x.dtype));
    entry.first = null;
    for (const c of t.constants) c._release();
    return t.result;
  }) as Jitted<F>;
  Object.defineProperty(jitted, 'jitInfo', {
    get: (): JitInfo => ({
      ...info,
      plans: [...cache.values()].flatMap((e) => (e.plan === null ? [] : [{
        steps: e.plan.steps.length,
        ownBuffers: e.plan.own.filter((t) => t !== null).length,
        programSteps: e.plan.program?.segments.reduce((n, g) => n + (g.from < 0 ? 0 : g.end - g.first), 0) ?? 0,
      }])),
    }),
  });
  jitted.clearCache = () => {
    for (const e of cache.values()) for (const c of (e.plan ?? e.first)?.constants ?? []) c._release();
    cache.clear();
  };
  return jitted;
}
