/**
 * Storage reuse: a size-bucketed pool of typed arrays per dtype, reference counts per buffer,
 * and the scope stack that `tidy` and the transformations use to release what they created.
 *
 * Why: on the project's machine a fresh 4 MB array costs more in first-touch page faults than a
 * 1024² GEMM, and dead tensors otherwise wait for V8's collector. A buffer goes back to the pool
 * only when every tensor that uses it (a tensor and its reshape views, a tracer and its primal)
 * has been released, so a live view never sees its buffer handed out again. Buffers the
 * allocator did not hand out (a user's own typed array, a subarray) are never pooled.
 *
 * Buckets are exact lengths (a Tensor's `data.length` equals its size), which suits training
 * loops: the same shapes come back every step. Buffers made inside a scope are tracked; outside
 * any scope only large ones (UNSCOPED_TRACK_BYTES), so that `dispose()` of a big result still
 * recycles it while a tight unscoped loop of small ops behaves exactly as before.
 *
 * The cap: `setMemoryOptions({ poolBytes })` or the HESSIAN_POOL_BYTES environment variable
 * (default 1 GiB); 0 turns pooling off. Over the cap, a released buffer goes to the collector.
 *
 * Idle buffers: every closing of an outermost scope (a training step, a `tidy` at top level) is
 * one epoch. Every `poolIdleScopes` epochs (default 64), each size bucket drops as many buffers
 * as it never dropped below during that window (its low-water mark): those sat idle the whole
 * window. So a size a run needed once (a line search's probe), or a peak of many buffers of one
 * size in a rare step (Hessian-free's longest CG run), does not stay resident for the rest of a
 * long run, while what a loop uses every step stays pooled.
 */
import type { DType, FloatArray } from '../kernels/types.js';
import { kernels } from '../kernels/index.js';

/** Bookkeeping for a buffer the allocator handed out. */
interface Storage {
  /** Live (not released) tensors that use the buffer. */
  refs: number;
  readonly acct: Account;
}

/** Whether the buffer counts as live: handed out inside a scope and not yet released or let go. */
interface Account {
  readonly bytes: number;
  live: boolean;
}

const storages = new WeakMap<FloatArray, Storage>();
const pools: Record<DType, Map<number, FloatArray[]>> = { float32: new Map(), float64: new Map() };

/** Per bucket: the fewest buffers it held since the last trim (those were never needed). */
const lowWater: Record<DType, Map<number, number>> = { float32: new Map(), float64: new Map() };
let epoch = 0;
const DEFAULT_IDLE_SCOPES = 64;
let idleScopes = DEFAULT_IDLE_SCOPES;

const stats = { liveBytes: 0, liveBuffers: 0, pooledBytes: 0, pooledBuffers: 0, hits: 0, misses: 0 };

const DEFAULT_POOL_BYTES = 1 << 30;
/** Buffers made outside any scope are tracked (and pooled once released) from this size on. */
export const UNSCOPED_TRACK_BYTES = 1 << 16;

/**
 * From this size on, a fresh buffer comes from the backend's `allocateLarge` where it has one
 * (native: a huge-page mapping): first-touch page faults on 4 KiB pages cost about 3 ms per
 * MiB on the project's VMs, which made a process's first training step 6-7x its later ones.
 * A mapping is rounded up to 2 MiB, so below 1 MiB a buffer does not get one of its own.
 */
export const LARGE_BYTES = 1 << 20;

/**
 * Fresh buffers from this size up to LARGE_BYTES are carved, one after another, out of shared
 * huge-page slabs of SLAB_BYTES (the activations of a batch: 256×500 floats is 500 KiB, and
 * those were most of the first step's page faults). A slab goes back to the system when the
 * collector has freed every buffer carved from it; the allocator itself holds only the slab
 * it is carving. What this retains beyond ordinary arrays: a live buffer pins its slab, so at
 * worst SLAB_BYTES / SLAB_MIN_BYTES (16x) its own size, and the unused tail of a slab (< 1 MiB).
 */
export const SLAB_MIN_BYTES = 1 << 17;
export const SLAB_BYTES = 2 << 20;
/** Carves start on cache-line boundaries, as the kernels' aligned loads like. */
const CARVE_ALIGN = 64;

let slab: ArrayBuffer | null = null;
let slabUsed = 0;

/**
 * Most bytes of the backend's own mappings (allocateLarge) that the pool cannot account for,
 * i.e. beyond its live and pooled buffers: results left to the garbage collector, alive or
 * dead. Node unmaps a dead mapping only from the event loop, so a synchronous loop that leaves
 * large results to the collector would otherwise hold every one of them until it yields (200
 * matmuls of 1024² float32: 869 MiB resident). Past this, fresh buffers are ordinary typed
 * arrays, which the collector frees at once and the C heap reuses.
 */
export const MAPPED_SLACK_BYTES = 512 << 20;

/** A mapping of `bytes` from the backend, or null (none, the mapping failed, or too much unaccounted for). */
function mapped(bytes: number): ArrayBuffer | null {
  const k = kernels();
  if (k.allocateLarge === undefined) return null;
  const held = k.mappedBytes?.() ?? 0;
  if (held - stats.liveBytes - stats.pooledBytes + bytes > MAPPED_SLACK_BYTES) return null;
  return k.allocateLarge(bytes);
}

/** `bytes` zero bytes (never handed out before) from the current slab, or a new one; null without a mapping. */
function carve(bytes: number): { buffer: ArrayBuffer; offset: number } | null {
  if (slab === null || slabUsed + bytes > slab.byteLength) {
    const ab = mapped(SLAB_BYTES);
    if (ab === null) return null;
    slab = ab;
    slabUsed = 0;
  }
  const offset = slabUsed;
  slabUsed += Math.ceil(bytes / CARVE_ALIGN) * CARVE_ALIGN;
  return { buffer: slab, offset };
}

function freshArray(dtype: DType, size: number): FloatArray {
  const per = dtype === 'float32' ? 4 : 8;
  const bytes = size * per;
  if (bytes >= LARGE_BYTES) {
    // Outside every scope only the collector frees the buffer: take it from V8's allocator, which
    // the collector gives back at once, rather than a mapping Node unmaps from the event loop.
    const ab = current === null ? kernels().allocateHeap?.(bytes) ?? mapped(bytes) : mapped(bytes);
    if (ab !== null) return dtype === 'float32' ? new Float32Array(ab, 0, size) : new Float64Array(ab, 0, size);
  } else if (bytes >= SLAB_MIN_BYTES) {
    const c = carve(bytes);
    if (c !== null) return dtype === 'float32' ? new Float32Array(c.buffer, c.offset, size) : new Float64Array(c.buffer, c.offset, size);
  }
  return dtype === 'float32' ? new Float32Array(size) : new Float64Array(size);
}
let poolCap: number | undefined;

function checkPoolBytes(where: string, v: number): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
    throw new RangeError(`${where} must be a non-negative number of bytes (0 turns pooling off), got ${String(v)}`);
  }
  return v;
}

function cap(): number {
  if (poolCap === undefined) {
    const env = typeof process !== 'undefined' ? process.env?.HESSIAN_POOL_BYTES : undefined;
    poolCap = env === undefined || env.trim() === '' ? DEFAULT_POOL_BYTES : checkPoolBytes('HESSIAN_POOL_BYTES', Number(env));
  }
  return poolCap;
}

export interface MemoryOptions {
  /** Most bytes kept in the pool for reuse (default 1 GiB, or HESSIAN_POOL_BYTES); 0 turns pooling off. */
  poolBytes?: number;
  /**
   * Pooled buffers that sat unused for a window of this many outermost scopes (training steps,
   * top-level `tidy` calls) are dropped (default 64; Infinity keeps them).
   */
  poolIdleScopes?: number;
}

/** Set the pool cap; a lower cap drops pooled buffers beyond it at once. */
export function setMemoryOptions(options: MemoryOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError('setMemoryOptions: options must be an object');
  for (const k of Object.keys(options)) if (k !== 'poolBytes' && k !== 'poolIdleScopes') throw new RangeError(`setMemoryOptions: unknown option '${k}'`);
  const idle = options.poolIdleScopes;
  if (idle !== undefined && !(typeof idle === 'number' && idle >= 1 && (Number.isInteger(idle) || idle === Infinity))) {
    throw new RangeError(`setMemoryOptions: poolIdleScopes must be an integer >= 1 or Infinity, got ${String(idle)}`);
  }
  if (options.poolBytes !== undefined) {
    poolCap = checkPoolBytes('setMemoryOptions: poolBytes', options.poolBytes);
    trimPool(poolCap);
  }
  if (idle !== undefined) idleScopes = idle;
}

export function getMemoryOptions(): Required<MemoryOptions> {
  return { poolBytes: cap(), poolIdleScopes: idleScopes };
}

/**
 * Bytes of pooled buffers dropped (to the collector) since the C heap last returned its free
 * pages, and when that was. See endEpoch.
 */
let droppedBytes = 0;
let dropWindows = 0;
let lastRelease = 0;
/** A window end returns free heap pages when at least this much was dropped in the last TRIM_WINDOWS windows... */
export const TRIM_DROPPED_BYTES = 1 << 20;
const TRIM_WINDOWS = 4;
/** ...or when this long passed since the last return (ms), whatever was dropped. */
export const TRIM_INTERVAL_MS = 10_000;

function dropped(bytes: number): void {
  droppedBytes += bytes;
}

/** Drop, per bucket, the buffers that stayed in the pool through the whole window. */
function trimIdle(): void {
  for (const dtype of ['float64', 'float32'] as const) {
    const low = lowWater[dtype];
    const bytesPer = dtype === 'float32' ? 4 : 8;
    for (const [len, list] of pools[dtype]) {
      const idle = Math.min(low.get(len) ?? 0, list.length);
      list.length -= idle;
      stats.pooledBytes -= idle * len * bytesPer;
      dropped(idle * len * bytesPer);
      stats.pooledBuffers -= idle;
      if (list.length === 0) {
        pools[dtype].delete(len);
        low.delete(len);
      } else low.set(len, list.length);
    }
  }
}

/**
 * An outermost scope closed: one epoch passed; a window ends every `idleScopes` epochs. At a
 * window's end the C heap may also return its free pages to the system (native backend):
 * pooled typed arrays under glibc's mmap threshold live in that heap, and once a rare step's
 * many buffers were dropped and collected, the heap would otherwise keep their pages resident
 * (a Hessian-free run on mlp-spirals: +17 MiB after one long CG run, never given back).
 *
 * Only when it can pay: pooled buffers of at least TRIM_DROPPED_BYTES were dropped in the
 * last TRIM_WINDOWS windows (the collector frees them some time after the drop, hence several
 * windows), or TRIM_INTERVAL_MS passed since the last return (garbage made outside the pool).
 * Returning pages at every window cost a loop of small operations a page fault for every fresh
 * array after it (each outermost scope is an epoch, so a window passed every ~1 ms):
 * jit(grad) of a 20×20 function took 25 µs per call instead of 7.
 */
function endEpoch(): void {
  epoch++;
  if (idleScopes !== Infinity && epoch % idleScopes === 0) {
    trimIdle();
    if (droppedBytes >= TRIM_DROPPED_BYTES) {
      droppedBytes = 0;
      dropWindows = TRIM_WINDOWS;
    }
    const dropping = dropWindows > 0;
    if (dropping) dropWindows--;
    releaseFreeMemoryDue(dropping);
  }
}

/**
 * Return the C heap's free pages if TRIM_INTERVAL_MS passed since the last return, or now with
 * `force` (a window after pooled megabytes were dropped). Window ends call it, and so does the
 * slab allocator now and then, for code that runs outside scopes, where no window ends.
 */
export function releaseFreeMemoryDue(force = false): void {
  const now = Date.now();
  if (force || now - lastRelease >= TRIM_INTERVAL_MS) {
    lastRelease = now;
    kernels().releaseFreeMemory?.();
  }
}

export interface MemoryInfo {
  /**
   * Bytes in buffers of tensors that scopes manage: made inside `tidy`, a transformation or an
   * optimizer step, and neither released nor left to the garbage collector (a scope's result
   * that leaves the outermost scope is the collector's, as is everything made outside scopes).
   */
  liveBytes: number;
  liveBuffers: number;
  /** Bytes waiting in the pool for reuse. */
  pooledBytes: number;
  pooledBuffers: number;
  /** Allocations served from the pool, and ones that needed a fresh array. */
  poolHits: number;
  poolMisses: number;
  poolBytesCap: number;
  /**
   * Bytes in the backend's own huge-page mappings (native), including dead buffers whose
   * mapping waits for the event loop to be released; 0 without them.
   */
  mappedBytes: number;
  /** Open scopes (tidy calls and transformations in progress). */
  scopes: number;
}

/** What the allocator holds now (like tf.memory()). */
export function memory(): MemoryInfo {
  let depth = 0;
  for (let s = current; s !== null; s = s.parent) depth++;
  return {
    liveBytes: stats.liveBytes,
    liveBuffers: stats.liveBuffers,
    pooledBytes: stats.pooledBytes,
    pooledBuffers: stats.pooledBuffers,
    poolHits: stats.hits,
    poolMisses: stats.misses,
    poolBytesCap: cap(),
    mappedBytes: kernels().mappedBytes?.() ?? 0,
    scopes: depth,
  };
}

/** Drop every pooled buffer, and the slab being carved (they go to the garbage collector). */
export function emptyPool(): void {
  trimPool(0);
  slab = null;
}

function trimPool(limit: number): void {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const [len, list] of pools[dtype]) {
      while (stats.pooledBytes > limit && list.length > 0) {
        list.pop();
        stats.pooledBytes -= len * (dtype === 'float32' ? 4 : 8);
        dropped(len * (dtype === 'float32' ? 4 : 8));
        stats.pooledBuffers--;
      }
      if (list.length === 0) {
        pools[dtype].delete(len);
        lowWater[dtype].delete(len);
      }
    }
  }
}

/**
 * A buffer of `size` elements, from the pool when one is free. `zero` says whether the caller
 * reads it before writing every element (then it is zero-filled); a kernel that overwrites the
 * whole output passes false.
 */
export function takeBuffer(dtype: DType, size: number, zero: boolean): FloatArray {
  const list = size > 0 ? pools[dtype].get(size) : undefined;
  const reused = list !== undefined ? list.pop() : undefined;
  if (reused !== undefined) {
    const low = lowWater[dtype];
    if ((list as FloatArray[]).length < (low.get(size) ?? 0)) low.set(size, (list as FloatArray[]).length);
    const st = storages.get(reused) as Storage;
    stats.hits++;
    stats.pooledBytes -= st.acct.bytes;
    stats.pooledBuffers--;
    if (current !== null) {
      st.acct.live = true;
      stats.liveBytes += st.acct.bytes;
      stats.liveBuffers++;
    }
    if (zero) reused.fill(0);
    return reused;
  }
  const bytes = size * (dtype === 'float32' ? 4 : 8);
  const split = bytes >= SLAB_MIN_BYTES && bytes < LARGE_BYTES ? splitPooled(dtype, size) : null;
  if (split !== null && zero) split.fill(0); // recycled values, unlike a fresh array's zeros
  const data = split ?? freshArray(dtype, size);
  const managed = current !== null;
  // Outside scopes only large buffers are tracked: a WeakMap entry per small array made in a
  // tight unscoped loop delays their collection and costs resident memory for no page-fault gain.
  if (list !== undefined) lowWater[dtype].set(size, 0); // the bucket ran dry: all of it was needed
  if (size > 0 && (managed || data.byteLength >= UNSCOPED_TRACK_BYTES)) {
    if (split === null) stats.misses++;
    else stats.hits++;
    const acct: Account = { bytes: data.byteLength, live: managed };
    storages.set(data, { refs: 0, acct });
    if (managed) {
      stats.liveBytes += acct.bytes;
      stats.liveBuffers++;
    }
  }
  return data;
}

/**
 * On a miss for a buffer of at least SLAB_MIN_BYTES: the smallest pooled buffer of this dtype that
 * is longer, cut in two. The front becomes the new buffer; the rest, when it is still SLAB_MIN_BYTES
 * or more, goes back to the pool as a buffer of its own (the two never overlap, and the old
 * array itself is forgotten: no tensor uses a pooled buffer). Why: buckets are exact lengths,
 * so within one step the buffers that died could serve none of the later shapes; a process's
 * first training step then touched fresh pages for every buffer although at most half of them
 * were live at once (the autoencoder: 35.7 MiB fresh for a peak of 15.8). Later steps hit the
 * exact buckets these cuts leave behind. Null when no pooled buffer is long enough.
 */
function splitPooled(dtype: DType, size: number): FloatArray | null {
  let best = Infinity;
  // Buffers with a mapping of their own (LARGE_BYTES on) are not cut: few, large and needed whole
  // every step (a layer's weight gradient), they would be missed in the next step.
  const most = LARGE_BYTES / (dtype === 'float32' ? 4 : 8);
  for (const [len, list] of pools[dtype]) if (len > size && len < best && len < most && list.length > 0) best = len;
  if (best === Infinity) return null;
  const list = pools[dtype].get(best) as FloatArray[];
  const whole = list.pop() as FloatArray;
  const low = lowWater[dtype];
  if (list.length < (low.get(best) ?? 0)) low.set(best, list.length);
  const per = dtype === 'float32' ? 4 : 8;
  stats.pooledBytes -= best * per;
  stats.pooledBuffers--;
  const view = (offset: number, n: number): FloatArray => (dtype === 'float32' ? new Float32Array(whole.buffer, offset, n) : new Float64Array(whole.buffer, offset, n));
  const restStart = whole.byteOffset + Math.ceil((size * per) / CARVE_ALIGN) * CARVE_ALIGN;
  const restLength = Math.floor((whole.byteOffset + best * per - restStart) / per);
  if (restLength * per >= SLAB_MIN_BYTES) {
    const rest = view(restStart, restLength);
    storages.set(rest, { refs: 0, acct: { bytes: rest.byteLength, live: false } });
    poolPush(rest);
  }
  return view(whole.byteOffset, size);
}

/** A tensor starts using `data`. */
export function retainBuffer(data: FloatArray): void {
  const st = storages.get(data);
  if (st !== undefined) st.refs++;
}

/** A tensor that used `data` was released; the last one hands the buffer to the pool. */
export function releaseBuffer(data: FloatArray): void {
  const st = storages.get(data);
  if (st === undefined || --st.refs > 0) return;
  if (st.acct.live) {
    st.acct.live = false;
    stats.liveBytes -= st.acct.bytes;
    stats.liveBuffers--;
  }
  poolPush(data);
}

/** Put an unused buffer the allocator handed out into its bucket (over the cap: leave it to the collector). */
function poolPush(data: FloatArray): void {
  const bytes = data.byteLength;
  if (stats.pooledBytes + bytes > cap()) return;
  const dtype: DType = data instanceof Float32Array ? 'float32' : 'float64';
  let list = pools[dtype].get(data.length);
  if (list === undefined) {
    pools[dtype].set(data.length, (list = []));
    lowWater[dtype].set(data.length, 0); // a new bucket: its buffers were in use this window
  }
  list.push(data);
  stats.pooledBytes += bytes;
  stats.pooledBuffers++;
}

/** A tensor left the outermost scope: its buffer is the garbage collector's now (unless released). */
export function unmanageBuffer(data: FloatArray): void {
  const st = storages.get(data);
  if (st !== undefined && st.acct.live) {
    st.acct.live = false;
    stats.liveBytes -= st.acct.bytes;
    stats.liveBuffers--;
  }
}

/** Live tensors using `data` (0 for a buffer the allocator did not hand out). For tests. */
export function bufferRefs(data: FloatArray): number {
  return storages.get(data)?.refs ?? 0;
}

/** The tensors created while a scope is open. */
export interface Scope<T = unknown> {
  readonly tensors: T[];
  readonly parent: Scope<T> | null;
  /** A transformation's own scope: tensors marked to escape (layer taps) survive it. */
  readonly auto: boolean;
}

let current: Scope | null = null;

export function currentScope(): Scope | null {
  return current;
}

export function openScope(auto: boolean): Scope {
  const s: Scope = { tensors: [], parent: current, auto };
  current = s;
  return s;
}

/** Pop `scope` (and any inner scope an exception left open). */
export function popScope(scope: Scope): void {
  current = scope.parent;
  if (current === null) endEpoch();
}

/** Make a scope opened earlier (and popped) current again; its parent must be current. */
export function resumeScope(scope: Scope): void {
  if (current !== scope.parent) throw new Error('resumeScope: the scope was opened under a different enclosing scope');
  current = scope;
}

/** Register a new tensor with the innermost scope. */
export function track(t: unknown): void {
  if (current !== null) current.tensors.push(t);
}
