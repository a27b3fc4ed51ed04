import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';
import { slice } from '../../autodiff/ops.js';
import { argmax } from '../../tensor/ops.js';
import { Linear, Tanh } from '../../nn/layers.js';
import { Sequential } from '../../nn/module.js';
import { softmaxCrossEntropy } from '../../nn/losses.js';
import { loadIris } from '../../data/iris.js';
import { modelObjective } from '../objective.js';
import { olbfgs } from './olbfgs.js';
import type { PyTree } from '../../autodiff/pytree.js';

it('oLBFGS with its defaults trains a small MLP on the iris data with mini-batches of 16', () => {
  const { x, y } = loadIris({ dtype: 'float64' });
  const net = new Sequential([new Linear(4, 16), new Tanh(), new Linear(16, 3)]);
  let params: PyTree[] = net.init(new Rng(0), { dtype: 'float64' });
  const loss = softmaxCrossEntropy();
  const opt = olbfgs<PyTree[]>();
  let state = opt.init(params);
  const rng = new Rng(1);
  const full = modelObjective(net, loss, { x, y });
  const [initial] = full.valueAndGrad(params);
  for (let epoch = 0; epoch < 30; epoch++) {
    const perm = rng.permutation(150);
    for (let b = 0; b + 16 <= 150; b += 16) {
      const idx = perm.slice(b, b + 16);
      const bx = new Tensor(Float64Array.from(idx.flatMap((i) => Array.from(slice(x, [i], [i + 1]).data))), [16, 4]);
      const by = new Tensor(Float64Array.from(idx.map((i) => y.data[i])), [16]);
      const r = opt.step(params, state, modelObjective(net, loss, { x: bx, y: by }));
      params = r.params;
      state = r.state;
    }
  }
  const [final] = full.valueAndGrad(params);
  const pred = argmax(net.apply(params, x), 1).toFlatArray();
  const acc = pred.filter((p, i) => p === y.data[i]).length / 150;
  assert.ok(final < 0.25 * initial, `loss ${initial} -> ${final}`);
  assert.ok(acc > 0.93, `training accuracy ${acc}`);
});
