"""PyTorch peer for `npm run bench:autodiff`: the deep autoencoder's fwd+bwd step time,
and the cost of a Hessian-vector product (double backward) and a Gauss-Newton-vector product
relative to one gradient. Prints one JSON object. Args: batch threads repeats."""
import json
import sys
import time

import torch

batch, threads, repeats = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
sizes = [784, 1000, 500, 250, 30, 250, 500, 1000, 784]
params = []
for i in range(len(sizes) - 1):
    w = (torch.randn(sizes[i + 1], sizes[i]) * 0.05).requires_grad_()
    b = torch.zeros(sizes[i + 1]).requires_grad_()
    params += [w, b]
x = torch.rand(batch, 784)


def forward(ps):
    h = x
    n = len(ps) // 2
    for i in range(n):
        h = torch.nn.functional.linear(h, ps[2 * i], ps[2 * i + 1])
        if i != n // 2 - 1 and i != n - 1:  # linear code layer and logits
            h = torch.sigmoid(h)
    return h


def loss_fn(ps):
    return torch.nn.functional.binary_cross_entropy_with_logits(forward(ps), x)


def step():
    loss = loss_fn(params)
    return torch.autograd.grad(loss, params)


def median_time(fn):
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]


v = [torch.randn_like(p) for p in params]


def hvp():
    g = torch.autograd.grad(loss_fn(params), params, create_graph=True)
    dot = sum((gi * vi).sum() for gi, vi in zip(g, v))
    return torch.autograd.grad(dot, params)


def ggnvp():
    # J v by the double-vjp trick, H_L (Jv) in closed form for sigmoid cross-entropy, then J^T u.
    z = forward(params)
    u = torch.zeros_like(z, requires_grad=True)
    jtu = torch.autograd.grad(z, params, u, create_graph=True)
    jv = torch.autograd.grad(jtu, u, v)[0]
    s = torch.sigmoid(z)
    hu = (s * (1 - s) * jv / z.numel()).detach()
    return torch.autograd.grad(z, params, hu)


t_step = median_time(step)
print(json.dumps({
    "torch": torch.__version__, "threads": threads, "batch": batch,
    "stepMs": t_step * 1e3, "hvpMs": median_time(hvp) * 1e3, "ggnvpMs": median_time(ggnvp) * 1e3,
}))
