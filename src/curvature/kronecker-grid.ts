/**
 * The curvature grid (kfac-jax's `<Layer><Approximation>` names, as one table): a row per layer
 * kind that records taps, a block class per approximation in each row. The table's type ranges
 * over `TapKind` (nn/module.ts) × `Approximation`, so a new tap kind or approximation without
 * its blocks does not compile. Everything kind-specific (which parameters a tap covers, its
 * factor rows, the empirical Fisher's diagonal from a tap) lives in the row's file:
 * `kronecker-dense.ts`, `kronecker-conv2d.ts`, `kronecker-recurrent.ts`; the fallback for
 * parameters no row covers is `kronecker-diagonal.ts`.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { TapInfoByKind } from '../nn/module.js';
import type { Approximation, BlockLayout, BlockState, KroneckerBlock, LayerKind, LayerRow } from './kronecker-block.js';
import { denseRow } from './kronecker-dense.js';
import { conv2dRow } from './kronecker-conv2d.js';
import { recurrentRow } from './kronecker-recurrent.js';
import { DiagonalBlock } from './kronecker-diagonal.js';

/** Every layer kind's row. */
export const KRONECKER_GRID: { readonly [K in LayerKind]: LayerRow<K> } = {
  dense: denseRow,
  conv2d: conv2dRow,
  recurrent: recurrentRow,
};

export type CurvatureBlock = KroneckerBlock | DiagonalBlock;

/** The Kronecker block of a layer kind and approximation for a layout. */
export function kroneckerBlock(kind: LayerKind, approximation: Approximation, scope: string, layout: BlockLayout): KroneckerBlock {
  const ctor = KRONECKER_GRID[kind].blocks[approximation];
  return new ctor(scope, layout.paths, layout.weightShape, layout.geometry);
}

/** The block that owns a state (blocks are rebuilt from their state, which is plain data). */
export function blockOf(state: BlockState): CurvatureBlock {
  if (state.kind === 'diagonal') return new DiagonalBlock(state.paths[0], state.d.shape);
  return kroneckerBlock(state.kind, state.approximation, state.scope, state);
}

/** A tap (or layer sample) of some kind, as the grid's rows read it. */
export interface TapLike<K extends LayerKind = LayerKind> {
  readonly scope: string;
  readonly kind: K;
  readonly info: TapInfoByKind[K];
}

/** The row's layout of a tap (see `LayerRow.layout`), dispatched on its kind. */
export function layoutOf(tap: TapLike, shapeOf: (path: string) => readonly number[] | undefined): BlockLayout | string {
  return (KRONECKER_GRID[tap.kind] as LayerRow<LayerKind>).layout(tap.scope, tap.info as never, shapeOf);
}

/** The row's per-example squared gradients of a tap (see `LayerRow.squaredGradients`). */
export function squaredGradientsOf(tap: TapLike, a: Tensor, g: Tensor): Map<string, Tensor> | undefined {
  return (KRONECKER_GRID[tap.kind] as LayerRow<LayerKind>).squaredGradients(tap.scope, tap.info as never, a, g);
}
