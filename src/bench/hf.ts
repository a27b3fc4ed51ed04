/**
 * `npm run bench:hf`: the CURVES and MNIST deep autoencoders from sparse initialization,
 * Hessian-free vs Adam vs SGD with momentum, same run, same seed; Martens' training error
 * (per-case sum of squared reconstruction errors) against wall-clock and steps, and CG
 * iterations per HF step. Options: --budget=120s --size=small|paper --problems=... --seed=0.
 *
 * Published (GPU-hours, full data): HF 0.11 (CURVES) and 1.4 (MNIST) in Martens 2010; tuned HF
 * 0.058 / 0.69 and Nesterov momentum 0.074 / 0.73 after 750k updates (Sutskever et al. 2013).
 */
import { argsFrom, compare } from './compare.js';

const a = argsFrom(process.argv.slice(2), {
  problems: ['autoencoder-curves', 'autoencoder-mnist'], optimizers: ['hessian-free', 'adam', 'momentum'], budget: '60s', size: 'small', seed: 0,
});
compare(a, (r) => {
  const err = r.final.trainReconstructionError;
  const cgPerStep = r.optimizer === 'hessian-free' && r.final.step > 0 ? (r.final.curvatureProducts / r.final.step).toFixed(1) : '-';
  return { 'recon. error': err === undefined ? '-' : err.toFixed(3), 'evals': r.final.evals, 'CG it./step': cgPerStep };
});
console.log('\npublished training errors (full data, GPU-hours): HF 0.11 CURVES / 1.4 MNIST (Martens 2010); tuned HF 0.058 / 0.69, Nesterov 0.074 / 0.73 (Sutskever et al. 2013)');
