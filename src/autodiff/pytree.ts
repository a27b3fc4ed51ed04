/**
 * Pytrees: nested plain objects and arrays whose leaves are tensors (JAX's convention).
 * Anything that is not a Tensor, a plain object or an array (numbers, strings, null) is kept
 * as static structure and passed through unchanged.
 */
import { Tensor } from '../tensor/tensor.js';

export type PyTree = Tensor | readonly PyTree[] | { readonly [key: string]: PyTree } | number | string | boolean | null | undefined;

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object') return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** Leaves in a deterministic order (array order, then object keys in insertion order). */
export function treeLeaves(tree: unknown): Tensor[] {
  const out: Tensor[] = [];
  const walk = (t: unknown): void => {
    if (t instanceof Tensor) out.push(t);
    else if (Array.isArray(t)) t.forEach(walk);
    else if (isPlainObject(t)) for (const k of Object.keys(t)) walk(t[k]);
  };
  walk(tree);
  return out;
}

/** Rebuild `tree` with its leaves replaced, in `treeLeaves` order, by `leaves`. */
export function treeUnflatten<T>(tree: T, leaves: readonly (Tensor | null)[]): T {
  let i = 0;
  const walk = (t: unknown): unknown => {
    if (t instanceof Tensor) return leaves[i++];
    if (Array.isArray(t)) return t.map(walk);
    if (isPlainObject(t)) {
      const o: Record<string, unknown> = {};
      for (const k of Object.keys(t)) o[k] = walk(t[k]);
      return o;
    }
    return t;
  };
  const out = walk(tree) as T;
  if (i !== leaves.length) throw new RangeError(`treeUnflatten: tree has ${i} leaves, got ${leaves.length}`);
  return out;
}

/** Apply `f` to every leaf. */
export function treeMap<T>(tree: T, f: (leaf: Tensor, index: number) => Tensor): T {
  return treeUnflatten(tree, treeLeaves(tree).map(f));
}

/** Apply `f` leafwise to two trees of the same structure. */
export function treeMap2<T>(a: T, b: T, f: (x: Tensor, y: Tensor, index: number) => Tensor, op = 'treeMap2'): T {
  const la = treeLeaves(a);
  const lb = treeLeaves(b);
  if (la.length !== lb.length) throw new RangeError(`${op}: trees have ${la.length} and ${lb.length} leaves`);
  return treeUnflatten(a, la.map((x, i) => f(x, lb[i], i)));
}

/** Paths of the leaves, e.g. `layers.0.weight`, in `treeLeaves` order. */
export function treePaths(tree: unknown): string[] {
  const out: string[] = [];
  const walk = (t: unknown, path: string): void => {
    if (t instanceof Tensor) out.push(path);
    else if (Array.isArray(t)) t.forEach((c, i) => walk(c, path === '' ? `${i}` : `${path}.${i}`));
    else if (isPlainObject(t)) for (const k of Object.keys(t)) walk(t[k], path === '' ? k : `${path}.${k}`);
  };
  walk(tree, '');
  return out;
}
