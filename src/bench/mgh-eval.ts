/**
 * Evaluation server for the SciPy peer of `bench:lbfgs`: reads one JSON array x per line on
 * stdin and answers `{"f": number, "g": number[]}` per line, for the MGH problem named by
 * argv[2] — so SciPy minimizes exactly our implementation of each function.
 */
import { createInterface } from 'node:readline';
import { tensor } from '../tensor/tensor.js';
import { objective } from '../optim/objective.js';
import { mghProblem } from '../data/mgh.js';

const problem = mghProblem(process.argv[2] ?? '');
const obj = objective(problem.f);
// First line: the starting point, so the peer needs no copy of the problem definitions.
process.stdout.write(`${JSON.stringify({ x0: problem.x0 })}\n`);
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const x = JSON.parse(line) as number[];
  const [f, g] = obj.valueAndGrad(tensor(x, undefined, { dtype: 'float64' }));
  process.stdout.write(`${JSON.stringify({ f, g: Array.from(g.data) })}\n`);
});
