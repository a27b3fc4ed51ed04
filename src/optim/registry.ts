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
import { shampoo } from './kronecker/shampoo.js';
import { soap } from './kronecker/soap.js';
import { muon } from './kronecker/muon.js';
import { adahessian } from './diagonal/adahessian.js';
import { sophia } from './diagonal/sophia.js';
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
  { id: 'lbfgs', title: 'L-BFGS', reference: 'Nocedal & Wright 2006, Alg. 7.4/7.5', needs: [], stochastic: false, create: (o) => lbfgs(o) },
  { id: 'lbfgsb', title: 'L-BFGS-B', reference: 'Byrd, Lu, Nocedal & Zhu 1995', needs: [], stochastic: false, create: (o) => lbfgsbOptimizer(o) },
  { id: 'hessian-free', title: 'Hessian-free', reference: 'Martens 2010', needs: ['ggnvp', 'diagEmpiricalFisher'], stochastic: false, create: (o) => hessianFree(o) },
  { id: 'newton-cg', title: 'sub-sampled Newton-CG', reference: 'Byrd, Chin, Neveitt & Nocedal 2011', needs: ['hvp'], stochastic: true, create: (o) => subsampledNewton(o) },
  { id: 'olbfgs', title: 'online L-BFGS', reference: 'Schraudolph, Yu & Günter 2007', needs: [], stochastic: true, create: (o) => olbfgs(o) },
  {
    id: 'kfac', title: 'K-FAC', reference: 'Martens & Grosse 2015; Grosse & Martens 2016 (KFC); Wu et al. 2017 (ACKTR step)',
    needs: ['ggnvp'], stochastic: true, create: (o) => kfac(o),
  },
  { id: 'ekfac', title: 'EKFAC', reference: 'George et al. 2018', needs: ['ggnvp'], stochastic: true, create: (o) => ekfac(o) },
  { id: 'saddle-free-newton', title: 'saddle-free Newton (Krylov)', reference: 'Dauphin et al. 2014', needs: ['hvp'], stochastic: false, create: (o) => saddleFreeNewton(o) },
  {
    id: 'adahessian', title: 'AdaHessian', reference: 'Yao, Gholami, Shen, Mustafa, Keutzer & Mahoney 2021 (AAAI), Alg. 1',
    needs: ['hvp'], stochastic: true, create: (o) => adahessian(o),
  },
  {
    id: 'sophia-h', title: 'Sophia-H (Hutchinson)', reference: 'Liu, Li, Hall, Liang & Ma 2024 (ICLR), Alg. 3',
    needs: ['hvp'], stochastic: true, create: (o) => sophia(fixedEstimator('sophia-h', 'hutchinson', o)),
  },
  {
    id: 'sophia-g', title: 'Sophia-G (Gauss-Newton-Bartlett)', reference: 'Liu, Li, Hall, Liang & Ma 2024 (ICLR), Alg. 3',
    needs: ['gnbDiagonal'], stochastic: true, create: (o) => sophia(fixedEstimator('sophia-g', 'gnb', o)),
  },
  // Hyper-parameters: ShampooOptions (lr 1e-3 with Adam grafting, momentum 0.9, rootOrder 4, preconditionPeriod 10, blockSize 512, eps 1e-6 relative floor).
  { id: 'shampoo', title: 'Shampoo (Adam grafting)', reference: 'Gupta, Koren & Singer 2018; Anil et al. 2020 (grafting, blocking)', needs: [], stochastic: true, create: (o) => shampoo(o) },
  // Hyper-parameters: SoapOptions (lr 3e-3, b1 = b2 = 0.95, preconditionPeriod 10, basisRefresh 'power-qr', blockSize 512).
  { id: 'soap', title: 'SOAP', reference: 'Vyas et al. 2024', needs: [], stochastic: true, create: (o) => soap(o) },
  // Hyper-parameters: MuonOptions (lr 0.02, momentum 0.95 Nesterov, 5 Newton-Schulz steps; Adam lr 3e-4 on the rest).
  { id: 'muon', title: 'Muon', reference: 'Jordan et al. 2024', needs: [], stochastic: true, create: (o) => muon(o) },
  {
    id: 'adam-lbfgs', title: 'Adam then L-BFGS (switching)', reference: 'Raissi, Perdikaris & Karniadakis 2019; Lu et al. 2021 (DeepXDE)',
    needs: [], stochastic: true, create: (o) => adamLbfgs(o),
  },
];

/** Sophia's estimator is the id's: an `estimator` option that says otherwise is an error, not ignored. */
function fixedEstimator(id: string, estimator: 'hutchinson' | 'gnb', options: Record<string, unknown> = {}): Record<string, unknown> {
  if (options.estimator !== undefined && options.estimator !== estimator) {
    throw new RangeError(`${id}: option 'estimator' is '${estimator}' for this id, got ${JSON.stringify(options.estimator)} (use ${estimator === 'gnb' ? 'sophia-h' : 'sophia-g'})`);
  }
  return { ...options, estimator };
}

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
