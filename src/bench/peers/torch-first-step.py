"""PyTorch peer for `npm run bench:autodiff`'s fresh-process rounds: the very first fwd+bwd step
of the deep autoencoder in this process, the system CPU time inside it, and the median of the
10 steps after it. Prints one JSON object. Args: batch threads."""
import json
import resource
import sys
import time

import torch

batch, threads = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
sizes = [784, 1000, 500, 250, 30, 250, 500, 1000, 784]
params = []
for i in range(len(sizes) - 1):
    params += [(torch.randn(sizes[i + 1], sizes[i]) * 0.05).requires_grad_(), torch.zeros(sizes[i + 1]).requires_grad_()]
x = torch.rand(batch, 784)


def step():
    h = x
    n = len(params) // 2
    for i in range(n):
        h = torch.nn.functional.linear(h, params[2 * i], params[2 * i + 1])
        if i != n // 2 - 1 and i != n - 1:  # linear code layer and logits
            h = torch.sigmoid(h)
    return torch.autograd.grad(torch.nn.functional.binary_cross_entropy_with_logits(h, x), params)


r0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
t0 = time.perf_counter()
step()
first = time.perf_counter() - t0
first_sys = resource.getrusage(resource.RUSAGE_SELF).ru_stime - r0
later = []
for _ in range(10):
    t0 = time.perf_counter()
    step()
    later.append(time.perf_counter() - t0)
later.sort()
print(json.dumps({"firstMs": first * 1e3, "firstSysMs": first_sys * 1e3, "medianMs": (later[4] + later[5]) / 2 * 1e3}))
