/**
 * Simplification of a recorded linear tape (see `linearize.ts`): chains of elementwise linear ops
 * become one linear combination `Σ_j c_j ⊙ v_j` with coefficients multiplied out once, when the
 * map is built. Forward-over-reverse through σ records `t·y(1−y)`'s tangent as seven ops
 * (neg, mul, mul, add, mul, mul, add); folded it is `d ⊙ t_ct + e ⊙ t_y`: two products and a sum
 * per application instead of seven passes, with `d` and `e` computed once.
 */
import type { Tensor } from '../tensor/tensor.js';
import { sameShape } from '../tensor/tensor.js';
import type { PrimitiveName, PrimitiveParams } from './primitives.js';
import { add, div, mul, neg, sub } from './ops.js';

/** A recorded primitive: its inputs are node indices (tangents) or constant tensors. */
export interface PrimNode {
  readonly kind: 'prim';
  readonly prim: PrimitiveName;
  readonly params: PrimitiveParams[PrimitiveName];
  readonly inputs: readonly (number | Tensor)[];
}

export type Coef = Tensor | number;

/** `Σ_j coef_j ⊙ value(input_j)`, every input of the output's shape, coefficients broadcasting to it. */
export interface SumNode {
  readonly kind: 'sum';
  readonly terms: readonly Term[];
}

export interface Term {
  readonly coef: Coef;
  readonly input: number;
}

export type Node = PrimNode | SumNode;

function times(a: Coef, b: Coef): Coef {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (a === 1) return b;
  if (b === 1) return a;
  return mul(a as Tensor, b);
}

function plus(a: Coef, b: Coef): Coef {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  return add(a as Tensor, b);
}

/** The node as a linear combination of same-shape tangents, or null when it is not elementwise. */
function termsOf(node: Node, shapeOf: (k: number) => readonly number[], outShape: readonly number[], pin: (t: Tensor) => Tensor): Term[] | null {
  if (node.kind === 'sum') return node.terms.slice();
  if (node.prim !== 'unary' && node.prim !== 'binary') return null;
  const op = (node.params as { op: string }).op;
  const [a, b] = node.inputs;
  const same = (i: number | Tensor | undefined) => typeof i === 'number' && sameShape(shapeOf(i), outShape);
  if (node.prim === 'unary') return op === 'neg' && same(a) ? [{ coef: -1, input: a as number }] : null;
  if (op === 'add' || op === 'sub') {
    // Constant operands of a recorded add are zeros (checked when recording): they drop out.
    const terms: Term[] = [];
    if (typeof a === 'number') {
      if (!same(a)) return null;
      terms.push({ coef: 1, input: a });
    }
    if (typeof b === 'number') {
      if (!same(b)) return null;
      terms.push({ coef: op === 'sub' ? -1 : 1, input: b });
    }
    return terms;
  }
  if (op === 'mul') return typeof a === 'number' ? (same(a) ? [{ coef: b, input: a }] : null) : same(b) ? [{ coef: a, input: b as number }] : null;
  if (op === 'div' && typeof a === 'number' && same(a)) return [{ coef: pin(div(1, b as Tensor)), input: a }];
  return null;
}

/**
 * Rewrite `nodes` in place: elementwise nodes become sums, and a sum (or a single scaled value)
 * used once is folded into its consumer when that does not add work. Returns nothing; nodes
 * folded away are left unused (the caller skips nodes no output reaches).
 */
export function simplify(nodes: (Node | null)[], shapeOf: (k: number) => readonly number[], outputs: readonly (number | null)[], pin: (t: Tensor) => Tensor): void {
  const uses = new Int32Array(nodes.length);
  for (const o of outputs) if (o !== null) uses[o] += 2; // outputs are never folded away
  for (const node of nodes) {
    if (node === null) continue;
    if (node.kind === 'prim') { for (const i of node.inputs) if (typeof i === 'number') uses[i]++; } else for (const t of node.terms) uses[t.input]++;
  }
  for (let k = 0; k < nodes.length; k++) {
    const node = nodes[k];
    if (node === null) continue;
    const own = termsOf(node, shapeOf, shapeOf(k), pin);
    if (own === null) continue;
    const expanded: Term[] = [];
    for (const t of own) {
      const inner = nodes[t.input];
      const unit = t.coef === 1 || t.coef === -1;
      if (inner !== null && inner !== undefined && inner.kind === 'sum' && uses[t.input] === 1 && (inner.terms.length === 1 || unit)) {
        uses[t.input] = 0;
        for (const s of inner.terms) expanded.push({ coef: pinned(times(t.coef, s.coef), pin), input: s.input });
      } else expanded.push(t);
    }
    // One term per distinct input: coefficients of a repeated input add up.
    const merged = new Map<number, Coef>();
    for (const t of expanded) {
      const prev = merged.get(t.input);
      if (prev !== undefined) uses[t.input]--;
      merged.set(t.input, prev === undefined ? t.coef : pinned(plus(prev, t.coef), pin));
    }
    nodes[k] = { kind: 'sum', terms: [...merged].map(([input, coef]) => ({ coef, input })) };
  }
}

function pinned(c: Coef, pin: (t: Tensor) => Tensor): Coef {
  return typeof c === 'number' ? c : pin(c);
}

/** `Σ coef ⊙ v` with differentiable ops (`values(i)` gives input i's value). */
export function applySum(terms: readonly Term[], values: (i: number) => Tensor): Tensor {
  let acc: Tensor | null = null;
  for (const { coef, input } of terms) {
    const x = values(input);
    if (acc !== null && coef === -1) acc = sub(acc, x);
    else {
      const s = coef === 1 ? x : coef === -1 ? neg(x) : mul(x, coef);
      acc = acc === null ? s : add(acc, s);
    }
  }
  if (acc === null) throw new Error('linearize: an empty linear combination (internal error)');
  return acc;
}
