/**
 * Curvature as a linear operator over a parameter tree (after curvlinops): a symmetric matrix
 * that is only ever applied to vectors shaped like the parameters. Builders (`hessian`, `ggn`,
 * `fisher`, `kfac`) wrap a matrix-vector product; algorithms (CG, Lanczos, trace and diagonal
 * estimators) need only `matvec`, `size` and the template tree `like`.
 *
 * Every vector handed to `matvec` is checked against the template (leaf count, shapes, dtypes),
 * so that a direction of the wrong tree fails with the operator's name, never inside a kernel.
 */
import { Tensor, fmtShape, sameShape, type DType } from '../../tensor/tensor.js';
import { treeLeaves, treePaths, treeUnflatten, type PyTree } from '../../autodiff/pytree.js';
import { treeAxpby, treeScale, treeVdot, treeZerosLike } from '../../autodiff/tree-math.js';

export interface LinearOperatorSpec<P extends PyTree> {
  /** Shown in errors and diagnostics, e.g. 'ggn' or 'hessian'. */
  name: string;
  /** A tree with the structure, shapes and dtypes of the vectors the operator acts on. */
  like: P;
  /** The product A v, for a v already checked against `like`. Must not modify v. */
  apply: (v: P) => P;
  /** True when A is symmetric by construction (every curvature matrix here is). Default true. */
  symmetric?: boolean;
  /** True when theory says A is positive semi-definite (GGN with convex loss, Fisher, K-FAC). */
  psd?: boolean;
  /**
   * A cheaper sub-operator for the leaves under `path`, where the builder has one (block-diagonal
   * approximations); otherwise `block` embeds, applies the whole operator and restricts.
   */
  block?: (path: string, leaves: number[]) => LinearOperator<PyTree> | undefined;
  /**
   * The Gram matrix [vᵢᵀ A vⱼ] on a few vectors, where the builder has a cheaper way than one
   * product per vector (the GGN by forward mode: (J vᵢ)ᵀ H_L (J vⱼ)); vectors already checked.
   */
  gram?: (vectors: readonly P[]) => number[][];
  /** Releases what the operator holds (a linearization's residuals); see `dispose`. */
  release?: () => void;
}

/** Largest size `toDense` agrees to build (n² entries, n products). */
export const DENSE_LIMIT = 4096;

function describeLeaf(t: unknown): string {
  return t instanceof Tensor ? `${t.dtype} ${fmtShape(t.shape)}` : typeof t;
}

export class LinearOperator<P extends PyTree = PyTree> {
  readonly name: string;
  readonly like: P;
  /** Number of rows (= columns): the total number of entries in the parameter tree. */
  readonly size: number;
  readonly symmetric: boolean;
  readonly psd: boolean;
  readonly paths: readonly string[];
  private readonly applyFn: (v: P) => P;
  private readonly blockFn?: LinearOperatorSpec<P>['block'];
  private readonly gramFn?: LinearOperatorSpec<P>['gram'];
  private readonly releaseFn?: () => void;
  private readonly shapes: readonly (readonly number[])[];
  private readonly dtypes: readonly DType[];

  constructor(spec: LinearOperatorSpec<P>) {
    if (typeof spec.apply !== 'function') throw new TypeError(`LinearOperator '${spec.name}': apply must be a function`);
    const leaves = treeLeaves(spec.like);
    if (leaves.length === 0) throw new RangeError(`LinearOperator '${spec.name}': the template tree has no tensors`);
    this.name = spec.name;
    this.like = spec.like;
    this.applyFn = spec.apply;
    this.blockFn = spec.block;
    this.gramFn = spec.gram;
    this.releaseFn = spec.release;
    this.symmetric = spec.symmetric ?? true;
    this.psd = spec.psd ?? false;
    this.shapes = leaves.map((l) => l.shape.slice());
    this.dtypes = leaves.map((l) => l.dtype);
    this.size = leaves.reduce((s, l) => s + l.size, 0);
    this.paths = treePaths(spec.like);
  }

  /** The dtype of the first leaf (the operator's working precision). */
  get dtype(): DType {
    return this.dtypes[0];
  }

  /** Throws unless `v` has the template's leaves, shapes and dtypes. */
  check(v: unknown, what = 'vector'): asserts v is P {
    const lv = treeLeaves(v);
    if (lv.length !== this.shapes.length) {
      throw new RangeError(`${this.name}: the ${what} has ${lv.length} tensors, the operator acts on trees of ${this.shapes.length} (${this.describe()})`);
    }
    for (let i = 0; i < lv.length; i++) {
      if (!sameShape(lv[i].shape, this.shapes[i]) || lv[i].dtype !== this.dtypes[i]) {
        throw new RangeError(`${this.name}: the ${what}'s tensor '${this.paths[i]}' is ${describeLeaf(lv[i])}, expected ${this.dtypes[i]} ${fmtShape(this.shapes[i])}`);
      }
    }
  }

  /** A v. */
  matvec(v: P): P {
    this.check(v);
    return this.applyFn(v);
  }

  /** A + B (same template). */
  plus(other: LinearOperator<P>): LinearOperator<P> {
    if (!(other instanceof LinearOperator)) throw new TypeError(`${this.name}.plus: expected a LinearOperator, got ${typeof other}`);
    other.check(this.like, `template of '${this.name}'`);
    return new LinearOperator<P>({
      name: `(${this.name} + ${other.name})`,
      like: this.like,
      apply: (v) => treeAxpby(1, this.applyFn(v), 1, other.matvec(v)),
      symmetric: this.symmetric && other.symmetric,
      psd: this.psd && other.psd,
      gram: (vs) => {
        const b = other.gram(vs);
        return this.gram(vs).map((row, i) => row.map((x, j) => x + b[i][j]));
      },
      release: () => { this.dispose(); other.dispose(); },
    });
  }

  /**
   * Releases what the operator holds (the residuals of a linearization built at its first
   * product); a later product builds it again. Derived operators (damped, scale, plus) release
   * the ones they are made of. A no-op for operators that hold nothing.
   */
  dispose(): void {
    this.releaseFn?.();
  }

  /** αA. */
  scale(alpha: number): LinearOperator<P> {
    if (!Number.isFinite(alpha)) throw new RangeError(`${this.name}.scale: alpha must be finite, got ${alpha}`);
    return new LinearOperator<P>({
      name: `${alpha}·${this.name}`,
      like: this.like,
      apply: (v) => treeScale(alpha, this.applyFn(v)),
      symmetric: this.symmetric,
      psd: this.psd && alpha >= 0,
      block: (path) => this.block(path).scale(alpha) as LinearOperator<PyTree>,
      gram: (vs) => this.gram(vs).map((row) => row.map((x) => alpha * x)),
      release: () => this.dispose(),
    });
  }

  /** A + λI (Tikhonov / Levenberg-Marquardt damping). */
  damped(lambda: number): LinearOperator<P> {
    if (!Number.isFinite(lambda)) throw new RangeError(`${this.name}.damped: λ must be finite, got ${lambda}`);
    return new LinearOperator<P>({
      name: `(${this.name} + ${lambda}·I)`,
      like: this.like,
      apply: (v) => treeAxpby(1, this.applyFn(v), lambda, v),
      symmetric: this.symmetric,
      psd: this.psd && lambda >= 0,
      block: (path) => this.block(path).damped(lambda) as LinearOperator<PyTree>,
      gram: (vs) => this.gram(vs).map((row, i) => row.map((x, j) => x + lambda * treeVdot(vs[i], vs[j]))),
      release: () => this.dispose(),
    });
  }

  /**
   * The Gram matrix G[i][j] = vᵢᵀ A vⱼ on a few vectors (what a quadratic model over a small
   * subspace needs, e.g. K-FAC's step and momentum). One product per vector unless the builder
   * has a cheaper form; symmetrized for a symmetric operator.
   */
  gram(vectors: readonly P[]): number[][] {
    if (!Array.isArray(vectors)) throw new TypeError(`${this.name}.gram: expected an array of vectors, got ${typeof vectors}`);
    vectors.forEach((v, i) => this.check(v, `vector ${i}`));
    if (this.gramFn !== undefined) return this.gramFn(vectors);
    const av = vectors.map((v) => this.applyFn(v));
    return vectors.map((vi, i) => vectors.map((vj, j) => {
      if (i === j) return treeVdot(vi, av[i]);
      return this.symmetric ? 0.5 * (treeVdot(vi, av[j]) + treeVdot(vj, av[i])) : treeVdot(vi, av[j]);
    }));
  }

  /** Indices of the leaves under `path` (the leaf itself, or everything below `path.`). */
  leavesUnder(path: string): number[] {
    if (typeof path !== 'string') throw new TypeError(`${this.name}.block: path must be a string, got ${typeof path}`);
    const idx: number[] = [];
    this.paths.forEach((p, i) => {
      if (path === '' || p === path || p.startsWith(`${path}.`)) idx.push(i);
    });
    if (idx.length === 0) {
      throw new RangeError(`${this.name}.block: no parameter at path '${path}'; known paths: ${this.paths.join(', ')}`);
    }
    return idx;
  }

  /**
   * The diagonal block of the leaves under `path` (a layer such as 'layers.0' or one parameter
   * such as 'layers.0.weight'), acting on the list of those leaves. Exact for every operator:
   * the vector is embedded with zeros elsewhere and the product restricted to the block.
   */
  block(path: string): LinearOperator<PyTree> {
    const idx = this.leavesUnder(path);
    const custom = this.blockFn?.(path, idx);
    if (custom !== undefined) return custom;
    const all = treeLeaves(this.like);
    const sub = idx.map((i) => all[i]);
    return new LinearOperator<PyTree>({
      name: `${this.name}[${path}]`,
      like: sub,
      apply: (v) => {
        const vs = treeLeaves(v);
        const zeros = treeLeaves(treeZerosLike(this.like));
        idx.forEach((i, j) => { zeros[i] = vs[j]; });
        const out = treeLeaves(this.applyFn(treeUnflatten(this.like, zeros)));
        return idx.map((i) => out[i]);
      },
      symmetric: this.symmetric,
      psd: this.psd,
    });
  }

  /** Flatten a tree like the template into one float64 vector (leaf order). */
  flatten(v: P): Float64Array {
    this.check(v);
    const out = new Float64Array(this.size);
    let o = 0;
    for (const l of treeLeaves(v)) {
      out.set(l.data, o); // block copy (an element loop costs ~20 ms at 200k parameters)
      o += l.size;
    }
    return out;
  }

  /** The tree like the template holding the entries of a flat vector. */
  unflatten(x: ArrayLike<number>): P {
    if (x.length !== this.size) throw new RangeError(`${this.name}: a flat vector of length ${x.length}, expected ${this.size}`);
    let o = 0;
    const leaves = treeLeaves(this.like).map((l) => {
      const t = new Tensor(l.dtype === 'float64' ? new Float64Array(l.size) : new Float32Array(l.size), l.shape);
      const d = t.data;
      if (x instanceof Float64Array || x instanceof Float32Array) d.set(x.subarray(o, o + d.length));
      else for (let i = 0; i < d.length; i++) d[i] = x[o + i];
      o += d.length;
      return t;
    });
    return treeUnflatten(this.like, leaves);
  }

  /** A v on flat vectors. */
  matvecFlat(x: ArrayLike<number>): Float64Array {
    return this.flatten(this.applyFn(this.unflatten(x)));
  }

  /** The dense n×n matrix (float64), column by column; for tests and tiny problems. */
  toDense(): Tensor {
    const n = this.size;
    if (n > DENSE_LIMIT) throw new RangeError(`${this.name}.toDense: size ${n} exceeds ${DENSE_LIMIT}; use matvec`);
    const out = new Float64Array(n * n);
    const e = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      e.fill(0);
      e[j] = 1;
      const col = this.matvecFlat(e);
      for (let i = 0; i < n; i++) out[i * n + j] = col[i];
    }
    return new Tensor(out, [n, n]);
  }

  private describe(): string {
    return this.paths.map((p, i) => `${p}: ${this.dtypes[i]} ${fmtShape(this.shapes[i])}`).join(', ');
  }
}

/** An operator from a product function, e.g. `linearOperator('A', like, (v) => ...)`. */
export function linearOperator<P extends PyTree>(
  name: string, like: P, apply: (v: P) => P, options: Pick<LinearOperatorSpec<P>, 'symmetric' | 'psd' | 'block' | 'gram'> = {},
): LinearOperator<P> {
  return new LinearOperator<P>({ name, like, apply, ...options });
}
