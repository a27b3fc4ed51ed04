/**
 * A 2-D test function from a typed formula such as `(1 - x)^2 + 100*(y - x^2)^2`, parsed by a
 * small recursive-descent parser (no `eval`, no `Function`): numbers, the variables `x` and `y`,
 * the constants `pi` and `e`, `+ - * /`, `^` (right-associative, binding tighter than unary
 * minus, so `-x^2` is `-(x^2)`), parentheses and the functions in `FORMULA_FUNCTIONS`. The
 * result is built from the differentiable tensor ops, so gradients, Hessian-vector products and
 * every optimizer work on it, and it evaluates elementwise on whole grids (contour plots).
 * Anything else is a `FormulaError` naming the problem and the column where it is.
 */
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/tensor.js';
import { abs, add, cos, div, exp, log, mul, neg, pow, sigmoid, sin, sqrt, square, sub, tanh, softplus, type TensorLike } from '../autodiff/ops.js';

/** A parse error (or an unknown symbol) with the 1-based column it was found at. */
export class FormulaError extends Error {
  constructor(message: string, readonly column: number) {
    super(`${message} (column ${column})`);
    this.name = 'FormulaError';
  }
}

const FUNCTIONS = { sin, cos, exp, log, sqrt, abs, tanh, sigmoid, softplus, square } as const;
/** The functions a formula may call, each of one argument. */
export const FORMULA_FUNCTIONS: readonly string[] = Object.keys(FUNCTIONS);
const CONSTANTS: Record<string, number> = { pi: Math.PI, e: Math.E };

type Node =
  | { kind: 'num'; value: number }
  | { kind: 'var'; name: 'x' | 'y' }
  | { kind: 'neg'; arg: Node }
  | { kind: 'bin'; op: '+' | '-' | '*' | '/' | '^'; left: Node; right: Node }
  | { kind: 'call'; fn: keyof typeof FUNCTIONS; arg: Node };

interface Token { text: string; col: number }

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_]\w*)|(\*\*|[-+*/^(),]))/y;
  let i = 0;
  while (i < text.length) {
    if (/^\s*$/.test(text.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(text);
    if (m === null) {
      const j = i + (text.slice(i).length - text.slice(i).trimStart().length);
      throw new FormulaError(`unexpected character '${text[j]}'`, j + 1);
    }
    const tok = m[1] ?? m[2] ?? m[3];
    out.push({ text: tok === '**' ? '^' : tok, col: m.index + m[0].length - tok.length + 1 });
    i = re.lastIndex;
  }
  return out;
}

function parse(text: string): Node {
  const toks = tokenize(text);
  let k = 0;
  const end = text.length + 1;
  const peek = (): Token | undefined => toks[k];
  const expect = (t: string): void => {
    const tok = toks[k];
    if (tok?.text !== t) throw new FormulaError(tok ? `expected '${t}', found '${tok.text}'` : `expected '${t}' at the end`, tok?.col ?? end);
    k++;
  };
  const sum = (): Node => {
    let left = product();
    while (peek()?.text === '+' || peek()?.text === '-') {
      const op = toks[k++].text as '+' | '-';
      left = { kind: 'bin', op, left, right: product() };
    }
    return left;
  };
  const product = (): Node => {
    let left = unary();
    while (peek()?.text === '*' || peek()?.text === '/') {
      const op = toks[k++].text as '*' | '/';
      left = { kind: 'bin', op, left, right: unary() };
    }
    return left;
  };
  const unary = (): Node => {
    if (peek()?.text === '-') { k++; return { kind: 'neg', arg: unary() }; }
    if (peek()?.text === '+') { k++; return unary(); }
    return power();
  };
  const power = (): Node => {
    const base = primary();
    if (peek()?.text === '^') { k++; return { kind: 'bin', op: '^', left: base, right: unary() }; }
    return base;
  };
  const primary = (): Node => {
    const tok = toks[k];
    if (tok === undefined) throw new FormulaError(toks.length === 0 ? 'the formula is empty' : 'the formula ends too early', end);
    k++;
    if (/^[\d.]/.test(tok.text)) return { kind: 'num', value: Number(tok.text) };
    if (tok.text === '(') {
      const inner = sum();
      expect(')');
      return inner;
    }
    if (/^[A-Za-z_]/.test(tok.text)) {
      const name = tok.text;
      if (peek()?.text === '(') {
        if (!Object.hasOwn(FUNCTIONS, name)) throw new FormulaError(`unknown function '${name}' (known: ${FORMULA_FUNCTIONS.join(', ')})`, tok.col);
        k++;
        const arg = sum();
        if (peek()?.text === ',') throw new FormulaError(`${name} takes one argument`, toks[k].col);
        expect(')');
        return { kind: 'call', fn: name as keyof typeof FUNCTIONS, arg };
      }
      if (name === 'x' || name === 'y') return { kind: 'var', name };
      if (Object.hasOwn(CONSTANTS, name)) return { kind: 'num', value: CONSTANTS[name] };
      if (Object.hasOwn(FUNCTIONS, name)) throw new FormulaError(`function '${name}' needs parentheses: ${name}(...)`, tok.col);
      throw new FormulaError(`unknown symbol '${name}' (variables: x, y; constants: pi, e)`, tok.col);
    }
    throw new FormulaError(`unexpected '${tok.text}'`, tok.col);
  };
  const root = sum();
  if (k < toks.length) throw new FormulaError(`unexpected '${toks[k].text}'`, toks[k].col);
  return root;
}

/** x^n for a small whole n by products (exact, and defined for negative x where pow is not). */
function intPower(b: TensorLike, n: number): TensorLike {
  if (n === 0) return 1;
  if (n < 0) return div(1, intPower(b, -n));
  if (n === 1) return b;
  if (n === 2) return typeof b === 'number' ? b * b : square(b);
  const half = intPower(b, Math.floor(n / 2));
  const sq = typeof half === 'number' ? half * half : square(half);
  return n % 2 === 0 ? sq : mul(sq, b);
}

function build(node: Node, x: Tensor, y: Tensor): TensorLike {
  switch (node.kind) {
    case 'num': return node.value;
    case 'var': return node.name === 'x' ? x : y;
    case 'neg': {
      const a = build(node.arg, x, y);
      return typeof a === 'number' ? -a : neg(a);
    }
    case 'call': {
      const a = build(node.arg, x, y);
      return FUNCTIONS[node.fn](typeof a === 'number' ? tensor([a], [], { dtype: x.dtype }) : a);
    }
    case 'bin': {
      const a = build(node.left, x, y);
      if (node.op === '^' && node.right.kind === 'num' && Number.isInteger(node.right.value) && Math.abs(node.right.value) <= 64) {
        return intPower(a, node.right.value);
      }
      const b = build(node.right, x, y);
      if (typeof a === 'number' && typeof b === 'number') {
        return node.op === '+' ? a + b : node.op === '-' ? a - b : node.op === '*' ? a * b : node.op === '/' ? a / b : a ** b;
      }
      const ops = { '+': add, '-': sub, '*': mul, '/': div, '^': pow } as const;
      return ops[node.op](a, b);
    }
  }
}

/** A parsed formula f(x, y). */
export interface Formula {
  readonly text: string;
  /** f elementwise on tensors of one shape (differentiable). */
  evaluate(x: Tensor, y: Tensor): Tensor;
  /** Whether the formula mentions x and y (a formula in neither is a constant). */
  readonly uses: { x: boolean; y: boolean };
}

function mentions(node: Node, name: 'x' | 'y'): boolean {
  if (node.kind === 'var') return node.name === name;
  if (node.kind === 'neg' || node.kind === 'call') return mentions(node.arg, name);
  if (node.kind === 'bin') return mentions(node.left, name) || mentions(node.right, name);
  return false;
}

/** Parse `text` into a differentiable f(x, y); throws a `FormulaError` naming what is wrong. */
export function parseFormula(text: string): Formula {
  if (typeof text !== 'string') throw new TypeError(`parseFormula: expects a string, got ${typeof text}`);
  if (text.length > 2000) throw new FormulaError('the formula is longer than 2000 characters', 2001);
  const root = parse(text);
  const uses = { x: mentions(root, 'x'), y: mentions(root, 'y') };
  return {
    text,
    uses,
    evaluate: (x, y) => {
      const v = build(root, x, y);
      // A constant formula still gives one value per point.
      return typeof v === 'number' || (!uses.x && !uses.y) ? add(mul(x, 0), v) : v;
    },
  };
}
