/**
 * Every optimizer under its kebab-case id, as the CLI, the benchmark suite and the reports name
 * them. Each entry says which curvature products the method needs from its objective. The
 * registry imports the optimizer modules, never the reverse (they would form import cycles).
 */
import type { PyTree } from '../autodiff/pytree.js';
import { adagrad, adam, adamw, momentum, rmsprop, sgd } from './first-order/baselines.js';
import { lbfgs } from './quasi-newton/lbfgs.js';
import { lbfgsbOptimizer } from './quasi-newton/lbfgsb.js';
import { olbfgs } from './quasi-newton/olbfgs.js';
import { hessianFree } from './krylov/hessian-free.js';
import { subsampledNewton } from './krylov/subsampled-newton.js';
import { kfac } from './kronecker/kfac.js';
import { ekfac } from './kronecker/ekfac.js';
import { saddleFreeNewton } from './krylov/saddle-free-newton.js';
import { adamLbfgs } from './hybrids/adam-lbfgs.js';
import type { Objective, Optimizer } from './types.js';

export interface OptimizerEntry {
  id: string;
  title: string;
  /** Paper or source of the update rule. */
  reference: string;
  /** Curvature products the method calls on its objective. */
  needs: readonly (keyof Objective)[];
  /** Uses mini-batches as its design point (false: a full-batch method). */
  stochastic: boolean;
  create(options?: Record<string, unknown>): Optimizer<PyTree, PyTree>;
}

const entries: OptimizerEntry[] = [
  { id: 'sgd', title: 'SGD', reference: 'Robbins & Monro 1951', needs: [], stochastic: true, create: (o) => sgd(o) },
  { id: 'momentum', title: 'SGD with momentum', reference: 'Polyak 1964; Sutskever et al. 2013 (nesterov)', needs: [], stochastic: true, create: (o) => momentum(o) },
  { id: 'adam', title: 'Adam', reference: 'Kingma & Ba 2015', needs: [], stochastic: true, create: (o) => adam(o) },
  { id: 'adamw', title: 'AdamW', reference: 'Loshchilov & Hutter 2019', needs: [], stochastic: true, create: (o) => adamw(o) },
  { id: 'rmsprop', title: 'RMSprop', reference: 'Tieleman & Hinton 2012', needs: [], stochastic: true, create: (o) => rmsprop(o) },
  { id: 'adagrad', title: 'Adagrad', reference: 'Duchi, Hazan & Singer 2011', needs: [], stochastic: true, create: (o) => adagrad(o) },
  { id: 'lbfgs', title: 'L-BFGS', reference: 'Nocedal & Wright 2006, Alg. 7.4/7.5', needs: [], stochastic: false, create: (o) => lbfgs(o) as unknown as Optimizer<PyTree, PyTree> },
  { id: 'lbfgsb', title: 'L-BFGS-B', reference: 'Byrd, Lu, Nocedal & Zhu 1995', needs: [], stochastic: false, create: (o) => lbfgsbOptimizer(o) as unknown as Optimizer<PyTree, PyTree> },
  { id: 'hessian-free', title: 'Hessian-free', reference: 'Martens 2010', needs: ['ggnvp', 'diagEmpiricalFisher'], stochastic: false, create: (o) => hessianFree(o) as unknown as Optimizer<PyTree, PyTree> },
  { id: 'newton-cg', title: 'sub-sampled Newton-CG', reference: 'Byrd, Chin, Neveitt & Nocedal 2011', needs: ['hvp'], stochastic: true, create: (o) => subsampledNewton(o) as unknown as Optimizer<PyTree, PyTree> },
  { id: 'olbfgs', title: 'online L-BFGS', reference: 'Schraudolph, Yu & Günter 2007', needs: [], stochastic: true, create: (o) => olbfgs(o) as unknown as Optimizer<PyTree, PyTree> },
  {
    id: 'kfac', title: 'K-FAC', reference: 'Martens & Grosse 2015; Grosse & Martens 2016 (KFC); Wu et al. 2017 (ACKTR step)',
    needs: ['ggnvp'], stochastic: true, create: (o) => kfac(o) as unknown as Optimizer<PyTree, PyTree>,
  },
  { id: 'ekfac', title: 'EKFAC', reference: 'George et al. 2018', needs: ['ggnvp'], stochastic: true, create: (o) => ekfac(o) as unknown as Optimizer<PyTree, PyTree> },
  { id: 'saddle-free-newton', title: 'saddle-free Newton (Krylov)', reference: 'Dauphin et al. 2014', needs: ['hvp'], stochastic: false, create: (o) => saddleFreeNewton(o) as unknown as Optimizer<PyTree, PyTree> },
  {
    id: 'adam-lbfgs', title: 'Adam then L-BFGS (switching)', reference: 'Raissi, Perdikaris & Karniadakis 2019; Lu et al. 2021 (DeepXDE)',
    needs: [], stochastic: true, create: (o) => adamLbfgs(o) as unknown as Optimizer<PyTree, PyTree>,
  },
];

export const OPTIMIZERS: ReadonlyMap<string, OptimizerEntry> = new Map(entries.map((e) => [e.id, e]));

/** Register a method (later optimizer modules add themselves here). */
export function registerOptimizer(entry: OptimizerEntry): void {
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(entry.id)) throw new RangeError(`registerOptimizer: id '${entry.id}' is not kebab-case`);
  (OPTIMIZERS as Map<string, OptimizerEntry>).set(entry.id, entry);
}

export function optimizerEntry(id: string): OptimizerEntry {
  const e = OPTIMIZERS.get(id);
  if (e === undefined) throw new RangeError(`unknown optimizer '${id}'; valid: ${[...OPTIMIZERS.keys()].join(', ')}`);
  return e;
}
