/**
 * `npm run bench:families`: the optimizer families of issue 15 against Adam on the MNIST MLP and
 * CNN, same data, seed and step budget: for each method the final loss, and the steps and seconds
 * it needs to reach the loss Adam reaches in its budget (ratios < 1: fewer than Adam). Methods
 * that another module registers (`adahessian`, `sophia-h`, `sophia-g`) are looked up at run time
 * and skipped with a line when absent. Options: --budget=300steps (or 60s) --size=small|paper
 * --problems=... --optimizers=... --seed=0. The PINN part is `families-pinn.ts`.
 * Claim under test (issue 15): Shampoo, SOAP and Muon need fewer steps than Adam.
 */
import { argsFrom, compare } from './compare.js';
import { OPTIMIZERS } from '../optim/registry.js';
import { summarize } from './report.js';
import type { Results } from './schema.js';

const a = argsFrom(process.argv.slice(2), {
  problems: ['mlp-mnist', 'cnn-mnist'], optimizers: ['adam', 'shampoo', 'soap', 'muon', 'adahessian', 'sophia-h', 'sophia-g'], budget: '300steps', size: 'small', seed: 0,
});
const missing = a.optimizers.filter((o) => !OPTIMIZERS.has(o));
for (const o of missing) console.log(`skipped ${o}: not in the optimizer registry of this build`);
if (!a.optimizers.includes('adam')) throw new RangeError('bench:families: the optimizer list needs adam (its final loss is the target)');
const present = { ...a, optimizers: a.optimizers.filter((o) => OPTIMIZERS.has(o)) };
const runs = compare(present, (r) => ({ 'ms/step': r.final.step > 0 ? ((1000 * r.final.seconds) / r.final.step).toFixed(1) : '-' }));

console.log('\nfewer steps than Adam to its final loss?');
for (const s of summarize({ runs } as unknown as Results)) {
  for (const row of s.rows.filter((r) => r.optimizer !== 'adam')) {
    const verdict = row.stepRatio === undefined ? 'no (never reached it)' : row.stepRatio < 1 ? `yes (${row.stepRatio.toFixed(2)}x Adam's steps)` : `no (${row.stepRatio.toFixed(2)}x Adam's steps)`;
    console.log(`  ${s.problem} ${row.optimizer}: ${verdict}`);
  }
}
