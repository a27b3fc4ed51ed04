/**
 * Physics-informed benchmark problems (Raissi, Perdikaris & Karniadakis 2019): a tanh MLP u(x)
 * trained so that a PDE's residual vanishes at seeded collocation points and the boundary and
 * initial conditions hold; the loss is the mean squared residual plus the mean squared condition
 * misfits. Each has an exact solution, and `evaluate` reports the relative L2 error against it
 * on a grid (`relL2`), the metric of the PINN literature.
 *
 * - `pinn-poisson-1d`: −u'' = f on [0, 1], u(0) = u(1) = 0, with u*(x) = sin(2πx).
 * - `pinn-heat-1d`: u_t = α u_xx on [0, 1] × [0, 1] (α = 0.1), u(x, 0) = sin(πx),
 *   u(0, t) = u(1, t) = 0, with u*(x, t) = e^{−απ²t} sin(πx).
 *
 * Mini-batches draw interior collocation points (a seeded permutation per epoch) and keep every
 * boundary and initial point; `trainSize` counts the interior points.
 */
import { Tensor, tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { gather } from '../tensor/shape-ops.js';
import * as O from '../autodiff/ops.js';
import type { PyTree } from '../autodiff/pytree.js';
import { mlp } from '../nn/models.js';
import type { Sequential } from '../nn/module.js';
import { inputDerivatives } from '../nn/input-derivatives.js';
import { objective } from '../optim/objective.js';
import type { Objective } from '../optim/types.js';
import type { DataSize, Problem, ProblemInstance } from './problem-types.js';

const f64 = { dtype: 'float64' as const };

/** ‖u − u*‖₂ / ‖u*‖₂ over the values of a grid. */
export function relativeL2(u: ArrayLike<number>, exact: ArrayLike<number>): number {
  if (u.length !== exact.length) throw new RangeError(`relativeL2: ${u.length} predictions for ${exact.length} exact values`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < u.length; i++) {
    num += (u[i] - exact[i]) ** 2;
    den += exact[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** Rows of a [n, d] float64 tensor from a function of the row index. */
function points(n: number, d: number, at: (i: number, j: number) => number): Tensor {
  const data = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) data[i * d + j] = at(i, j);
  return tensor(data, [n, d], f64);
}

/** A PINN problem's parts (exported for tests: the loss is checked against finite differences). */
export interface PinnSetup {
  model: Sequential;
  /** The collocation, boundary and initial points (and their targets) the loss reads. */
  points: Record<string, Tensor>;
  /** The loss on a subset of the interior points (their rows), boundary terms included. */
  loss(params: PyTree[], interiorRows: number[] | 'all'): Tensor;
  nInterior: number;
  /** Evaluation grid and exact values there. */
  grid: Tensor;
  exact: Float64Array;
}

function pinnInstance(setup: PinnSetup, seed: number): ProblemInstance {
  const params = setup.model.init(new Rng(seed), f64);
  const n = setup.nInterior;
  let epoch = -1;
  let order: number[] = [];
  const rowsOf = (k: number, b: number): number[] => {
    const size = Math.min(n, b);
    const per = Math.max(1, Math.floor(n / size));
    const e = Math.floor(k / per);
    // One seeded permutation per epoch, a function of (seed, epoch) alone (resumable runs).
    if (e !== epoch) {
      order = new Rng(seed * 7919 + 17 + e).permutation(n);
      epoch = e;
    }
    const j = k % per;
    return order.slice(j * size, (j + 1) * size);
  };
  return {
    params,
    full: objective((p: PyTree[]) => setup.loss(p, 'all')) as Objective,
    batch: (k, b) => {
      const rows = rowsOf(k, b);
      return objective((p: PyTree[]) => setup.loss(p, rows)) as Objective;
    },
    trainSize: n,
    // The network, for tools that read it; no `loss`: the PDE residual is not a loss of outputs and targets.
    model: setup.model,
    evaluate: (p) => {
      const q = p as PyTree[];
      const u = setup.model.apply(q, setup.grid);
      return { trainLoss: setup.loss(q, 'all').item(), relL2: relativeL2(u.data, setup.exact) };
    },
  };
}

const INTERIOR: Record<string, Record<DataSize, number>> = {
  poisson: { tiny: 32, small: 128, paper: 1000 },
  heat: { tiny: 128, small: 512, paper: 10000 },
};

/** The Poisson problem's wave number: u*(x) = sin(Kπx). */
const POISSON_K = 2;
/** The heat equation's diffusivity. */
export const HEAT_ALPHA = 0.1;

export function poissonSetup(seed: number, size: DataSize): PinnSetup {
  const n = INTERIOR.poisson[size];
  const rng = new Rng(seed + 1);
  const w = POISSON_K * Math.PI;
  const xs = points(n, 1, () => rng.nextFloat());
  const f = points(n, 1, (i) => w * w * Math.sin(w * xs.data[i]));
  const xb = tensor([[0], [1]], undefined, f64);
  const model = mlp([1, 20, 20, 1]);
  const gridN = 201;
  const grid = points(gridN, 1, (i) => i / (gridN - 1));
  return {
    model,
    points: { interior: xs, f, boundary: xb },
    nInterior: n,
    loss: (p, rows) => {
      const x = rows === 'all' ? xs : gather(xs, rows, 0);
      const fx = rows === 'all' ? f : gather(f, rows, 0);
      const { d2u } = inputDerivatives(model, p, x, { order: 2 });
      // −u'' = f, so the residual is u'' + f.
      const residual = O.mean(O.square(O.add(d2u[0], fx)));
      const boundary = O.mean(O.square(model.apply(p, xb)));
      return O.add(residual, boundary);
    },
    grid,
    exact: Float64Array.from(grid.data, (x) => Math.sin(w * x)),
  };
}

export function heatSetup(seed: number, size: DataSize): PinnSetup {
  const n = INTERIOR.heat[size];
  const nEdge = Math.max(16, n / 8);
  const rng = new Rng(seed + 1);
  const interior = points(n, 2, () => rng.nextFloat());
  const initial = points(nEdge, 2, (_, j) => (j === 0 ? rng.nextFloat() : 0));
  const initialTarget = points(nEdge, 1, (i) => Math.sin(Math.PI * initial.data[2 * i]));
  // Alternate sides x = 0 and x = 1 at random times.
  const sides = points(nEdge, 2, (i, j) => (j === 0 ? i % 2 : rng.nextFloat()));
  const model = mlp([2, 20, 20, 20, 1]);
  const gridN = 41;
  const grid = points(gridN * gridN, 2, (i, j) => (j === 0 ? i % gridN : Math.floor(i / gridN)) / (gridN - 1));
  return {
    model,
    points: { interior, initial, initialTarget, sides },
    nInterior: n,
    loss: (p, rows) => {
      const x = rows === 'all' ? interior : gather(interior, rows, 0);
      const space = inputDerivatives(model, p, x, { order: 2, dims: [0] });
      const time = inputDerivatives(model, p, x, { order: 1, dims: [1] });
      const residual = O.mean(O.square(O.sub(time.du[0], O.mul(HEAT_ALPHA, space.d2u[0]))));
      const ic = O.mean(O.square(O.sub(model.apply(p, initial), initialTarget)));
      const bc = O.mean(O.square(model.apply(p, sides)));
      return O.add(residual, O.add(ic, bc));
    },
    grid,
    exact: Float64Array.from({ length: gridN * gridN }, (_, i) => {
      const x = grid.data[2 * i];
      const t = grid.data[2 * i + 1];
      return Math.exp(-HEAT_ALPHA * Math.PI * Math.PI * t) * Math.sin(Math.PI * x);
    }),
  };
}

/** The physics-informed problems, added to the registry in problems.ts. */
export const PINN_PROBLEMS: readonly Problem[] = [
  {
    id: 'pinn-poisson-1d', title: 'PINN, Poisson 1-D', kind: 'regression',
    description: `−u'' = (${POISSON_K}π)² sin(${POISSON_K}πx) on [0, 1], u(0) = u(1) = 0; tanh MLP 1-20-20-1, float64; relL2 against sin(${POISSON_K}πx) on 201 points`,
    build: (seed, o) => pinnInstance(poissonSetup(seed, o?.size ?? 'small'), seed),
  },
  {
    id: 'pinn-heat-1d', title: 'PINN, heat equation 1-D', kind: 'regression',
    description: `u_t = ${HEAT_ALPHA} u_xx on [0, 1]², u(x, 0) = sin(πx), u(0, t) = u(1, t) = 0; tanh MLP 2-20-20-20-1, float64; relL2 against e^{−${HEAT_ALPHA}π²t} sin(πx) on a 41×41 grid`,
    build: (seed, o) => pinnInstance(heatSetup(seed, o?.size ?? 'small'), seed),
  },
];
