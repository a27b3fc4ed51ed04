/**
 * Lifetimes: `tidy(fn)` releases the tensors created inside `fn` that its result does not
 * reach; `keep(t)` exempts a tensor from every scope. The transformations (grad, vjp, jvp, hvp,
 * ggnvp, ...) open the same kind of scope around their own work.
 *
 * A tensor survives a scope when it is reachable from the result (through arrays, Maps, Sets
 * and the own properties of objects), when a live reverse-mode tape holds it as a residual
 * (pinned), or, in a transformation's own scope, when it was marked to escape (layer taps,
 * retained gradients, which leave through side effects). Survivors move to the enclosing scope;
 * with none, they are left to the garbage collector as before.
 */
import { Tensor, checkTensor, moveToSlab } from './tensor.js';
import { openScope, popScope, resumeScope, unmanageBuffer, type Scope } from './memory.js';

function markTensor(t: Tensor, keep: Set<Tensor>): void {
  if (keep.has(t)) return;
  keep.add(t);
  const ch = t._children();
  if (ch !== null) for (const c of ch) markTensor(c, keep);
}

/** Every tensor reachable from `root`, plus what those tensors read from (tracer primals). */
export function markReachable(root: unknown, keep: Set<Tensor>): void {
  const seen = new Set<object>();
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (v instanceof Tensor) {
      markTensor(v, keep);
      continue;
    }
    if (seen.has(v) || ArrayBuffer.isView(v)) continue;
    seen.add(v);
    if (Array.isArray(v)) {
      for (const x of v) if (x !== null && typeof x === 'object') stack.push(x);
    } else if (v instanceof Map) {
      for (const [k, x] of v) stack.push(k, x);
    } else if (v instanceof Set) {
      for (const x of v) stack.push(x);
    } else {
      for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k]);
    }
  }
}

/**
 * Close `scope`: release what it created and `result` does not reach; move survivors to the
 * enclosing scope. Returns the survivors that `result` does not reach (kept for a tape, or
 * escaping), so a vjp can release its residuals later.
 */
export function closeScope(scope: Scope, result: unknown, fresh?: unknown): Tensor[] {
  popScope(scope);
  const list = scope.tensors as Tensor[];
  if (list.length === 0) return [];
  const reach = new Set<Tensor>();
  markReachable(result, reach);
  // Small values `fresh` reaches (made here, no raw buffer handed out) move to slab views when
  // they leave every scope, so their pooled buffers serve the next call (see moveToSlab).
  let move: Set<Tensor> | null = null;
  if (fresh !== undefined && scope.parent === null) markReachable(fresh, (move = new Set<Tensor>()));
  const keep = new Set<Tensor>(reach);
  for (const t of list) {
    if (t._data !== null && (t._pins > 0 || t._kept || (scope.auto && t._escape))) markTensor(t, keep);
  }
  const parent = scope.parent;
  const extra: Tensor[] = [];
  for (const t of list) {
    if (t._data === null || t._kept) continue;
    if (keep.has(t)) {
      if (parent !== null) parent.tensors.push(t);
      else if (move === null || !move.has(t) || !moveToSlab(t)) unmanageBuffer(t._data);
      if (!reach.has(t)) extra.push(t);
    } else {
      t._release();
    }
  }
  return extra;
}

/**
 * Release what `scope` tracks and `live` does not reach, keeping the rest tracked by it: a loop
 * that carries state (parameters, optimizer state) from one iteration to the next frees the
 * previous iteration's copies this way.
 */
export function sweepScope(scope: Scope, live: unknown): void {
  const list = scope.tensors as Tensor[];
  const keep = new Set<Tensor>();
  markReachable(live, keep);
  for (const t of list) if (t._data !== null && (t._pins > 0 || t._kept)) markTensor(t, keep);
  let w = 0;
  for (const t of list) {
    if (t._data === null || t._kept) continue;
    if (keep.has(t)) list[w++] = t;
    else t._release();
  }
  list.length = w;
}

/**
 * Run `fn` in a transformation's own scope; `result` (what `fn` returns) survives it. `fresh`
 * picks the part of the result that the transformation itself computed (gradients, not values
 * of user code that might hold their raw buffers): leaving every scope, its small tensors move
 * to slab views and their pooled buffers are reused by the next call.
 */
export function autoScope<T>(fn: () => T, fresh?: (result: T) => unknown): T {
  const scope = openScope(true);
  let result: T | undefined;
  let ok = false;
  try {
    result = fn();
    ok = true;
    return result;
  } finally {
    closeScope(scope, result, ok && fresh !== undefined ? fresh(result as T) : undefined);
  }
}

/**
 * Run `fn` and release every tensor it created that its result does not reach (TensorFlow.js's
 * `tf.tidy`): their buffers go back to the pool for the next op. Scopes nest; what the result
 * reaches moves to the enclosing scope. `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError(`tidy: expected a function, got ${typeof fn}`);
  const scope = openScope(false);
  let result: T | undefined;
  try {
    result = fn();
    if (result instanceof Promise) throw new TypeError('tidy: fn must be synchronous (it returned a Promise); await outside tidy');
    return result;
  } finally {
    closeScope(scope, result instanceof Promise ? undefined : result);
  }
}

/** Exempt `t` from every enclosing and later scope: only `t.dispose()` releases it. Returns `t`. */
export function keep<T extends Tensor>(t: T): T {
  checkTensor('keep', t, 'argument');
  if (t._data === null) throw new Error(`keep: ${t.toString()} was already released`);
  t._kept = true;
  unmanageBuffer(t._data); // the caller manages it now (memory() counts scope-managed buffers)
  return t;
}

/** @internal Let `t` out of the transformations' own scopes (it leaves through a side effect). */
export function escape<T extends Tensor>(t: T): T {
  t._escape = true;
  return t;
}

/**
 * A scope that is not current: it collects what `runInScope` moves into it (a training loop's
 * parameters and optimizer state, step after step) until `sweepScope` or `closeScope`.
 */
export function detachedScope(): Scope {
  const s = openScope(false);
  popScope(s);
  return s;
}

/** Run one step in its own `tidy` nested in `carried`: temporaries go, the result moves to `carried`. */
export function runInScope<T>(carried: Scope, fn: () => T): T {
  resumeScope(carried);
  try {
    return tidy(fn);
  } finally {
    popScope(carried);
  }
}
