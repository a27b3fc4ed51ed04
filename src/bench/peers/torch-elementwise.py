"""PyTorch peer for `npm run bench:elementwise`: a server that times one elementwise op per
request, so that the benchmark can interleave its rounds with ours. Arg: threads. Each stdin
line is a JSON request {op, dtype, n, batch, samples}; each reply line is a JSON list of
CPU seconds per call (one per sample of `batch` calls), measured with process_time_ns
(CPU time, as the benchmark measures ours: wall time on a loaded machine counts waiting). Inputs use
the same ranges as the benchmark; outputs go to a preallocated tensor (out=) as ours do.
Two ops take two vectors: 'axpby' is torch.add(y, x, alpha=0.5, out=) (y + 0.5x: one pass over two
inputs, as ours, which also scales y) and 'dot' is torch.dot."""
import json
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]))
softplus = torch._C._nn.softplus
OPS = {
    'exp': lambda x, y: torch.exp(x, out=y),
    'expm1': lambda x, y: torch.expm1(x, out=y),
    'log': lambda x, y: torch.log(x, out=y),
    'log1p': lambda x, y: torch.log1p(x, out=y),
    'tanh': lambda x, y: torch.tanh(x, out=y),
    'sigmoid': lambda x, y: torch.sigmoid(x, out=y),
    'softplus': lambda x, y: softplus(x, 1, 20, out=y),
}
# Two inputs (x, z) and an output y.
OPS2 = {
    'axpby': lambda x, z, y: torch.add(z, x, alpha=0.5, out=y),
    'dot': lambda x, z, y: torch.dot(x, z),
}
RANGES = {'log': (1e-3, 10.0), 'log1p': (-0.9, 10.0)}
cache = {}
print(json.dumps({'ready': True, 'threads': torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    op, n, batch, samples = req['op'], req['n'], req['batch'], req['samples']
    dtype = torch.float32 if req['dtype'] == 'f32' else torch.float64
    key = (op, req['dtype'], n)
    if key not in cache:
        lo, hi = RANGES.get(op, (-5.0, 5.0))
        g = torch.Generator().manual_seed(n)
        cache[key] = (torch.rand(n, generator=g, dtype=dtype) * (hi - lo) + lo, torch.empty(n, dtype=dtype),
                      torch.rand(n, generator=g, dtype=dtype) * (hi - lo) + lo)
    x, y, z = cache[key]
    f = (lambda x, y: OPS2[op](x, z, y)) if op in OPS2 else OPS[op]
    f(x, y)
    out = []
    for _ in range(samples):
        t0 = time.process_time_ns()
        for _ in range(batch):
            f(x, y)
        out.append((time.process_time_ns() - t0) / 1e9 / batch)
    print(json.dumps(out), flush=True)
