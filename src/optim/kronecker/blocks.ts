/**
 * How Shampoo and SOAP see a parameter tensor: as a matrix, cut into blocks.
 *
 * A tensor of rank ≥ 2 is reshaped to 2-D as `[shape[0], product of the rest]` (a dense weight
 * `[out, in]` stays as it is; a conv kernel `[out, in, kh, kw]` becomes `[out, in·kh·kw]`, the
 * layout K-FAC and Muon use too), so each block has exactly two factors (one per side) rather
 * than one per axis: fewer, larger factors that capture the correlations within a filter.
 * A side longer than `blockSize` is split into ⌈d / blockSize⌉ near-equal parts, and each
 * (row part, column part) pair is an independent block with its own factors, so a factor is never
 * larger than `blockSize`². Rank 0 and 1 tensors (biases, norms' scales) have no blocks.
 */
import type { Shape } from '../../tensor/tensor.js';

export interface MatrixBlock {
  readonly row0: number;
  readonly rows: number;
  readonly col0: number;
  readonly cols: number;
}

export interface MatrixLayout {
  /** The tensor as a rows × cols matrix. */
  readonly rows: number;
  readonly cols: number;
  readonly blocks: readonly MatrixBlock[];
}

function split(d: number, blockSize: number): [number, number][] {
  const parts = Math.ceil(d / blockSize);
  const base = Math.floor(d / parts);
  const extra = d - base * parts;
  const out: [number, number][] = [];
  let at = 0;
  for (let i = 0; i < parts; i++) {
    const len = base + (i < extra ? 1 : 0);
    out.push([at, len]);
    at += len;
  }
  return out;
}

/** The matrix view of a tensor of this shape, or null for rank 0/1 (and empty) tensors. */
export function matrixLayout(shape: Shape, blockSize: number): MatrixLayout | null {
  if (shape.length < 2) return null;
  const rows = shape[0];
  const cols = shape.slice(1).reduce((a, b) => a * b, 1);
  if (rows === 0 || cols === 0) return null;
  const blocks: MatrixBlock[] = [];
  for (const [row0, r] of split(rows, blockSize)) {
    for (const [col0, c] of split(cols, blockSize)) blocks.push({ row0, rows: r, col0, cols: c });
  }
  return { rows, cols, blocks };
}

/** A block of the row-major `cols`-wide matrix `data`, copied to float64. */
export function readBlock(data: ArrayLike<number>, cols: number, b: MatrixBlock): Float64Array {
  const out = new Float64Array(b.rows * b.cols);
  for (let i = 0; i < b.rows; i++) {
    const src = (b.row0 + i) * cols + b.col0;
    for (let j = 0; j < b.cols; j++) out[i * b.cols + j] = data[src + j];
  }
  return out;
}

/** Write `block` (rows × cols of `b`) into the `cols`-wide matrix `data`. */
export function writeBlock(data: { [i: number]: number }, cols: number, b: MatrixBlock, block: ArrayLike<number>): void {
  for (let i = 0; i < b.rows; i++) {
    const dst = (b.row0 + i) * cols + b.col0;
    for (let j = 0; j < b.cols; j++) data[dst + j] = block[i * b.cols + j];
  }
}
