/**
 * `npm run bench:kfac`: the MNIST deep autoencoder 784-1000-500-250-30 (mirrored) and a small
 * CNN classifier on MNIST, with K-FAC, EKFAC, Adam and SGD with momentum, same data and seed;
 * time and steps to the loss Adam reaches in its budget, and the K-FAC step cost relative to an
 * SGD step. Options: --budget=60s --size=small|paper --problems=... --seed=0.
 * Published: K-FAC reached SGD-momentum's loss on the 8-layer autoencoder in 3.8x fewer seconds
 * and 14.7x fewer updates (Martens & Grosse 2015).
 */
import { argsFrom, compare } from './compare.js';

const a = argsFrom(process.argv.slice(2), {
  problems: ['autoencoder-mnist', 'cnn-mnist'], optimizers: ['kfac', 'ekfac', 'adam', 'momentum', 'sgd'], budget: '60s', size: 'small', seed: 0,
});
const runs = compare(a, (r) => ({ 'ms/step': r.final.step > 0 ? ((1000 * r.final.seconds) / r.final.step).toFixed(1) : '-' }));
for (const p of a.problems) {
  const perStep = (o: string) => {
    const r = runs.find((x) => x.problem === p && x.optimizer === o);
    return r && r.final.step > 0 ? r.final.seconds / r.final.step : NaN;
  };
  console.log(`${p}: K-FAC step cost ${(perStep('kfac') / perStep('sgd')).toFixed(2)}x an SGD step (target: at most 1.3x amortized)`);
}
