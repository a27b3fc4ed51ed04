"""PyTorch peer of `npm run bench:spectrum`: PyHessian's power iteration (top eigenvalue) and
Hutchinson trace on the MNIST MLP 784-256-10 (tanh, softmax cross-entropy), with the SAME
parameters and batch as ours, read from raw float32 files. Hessian-vector products by double
backward as PyHessian does: the gradient graph is built once (create_graph=True) and each
product is one more backward through it (retain_graph=True).

Usage: torch-spectrum.py DIR THREADS. DIR holds meta.json (shapes) and w0, b0, w1, b1, x, y
(.f32). Then one JSON command per line on stdin, one JSON line back:
  {"cmd": "power", "iters": 20, "seed": 0}   {"cmd": "trace", "probes": 20, "seed": 1}   {"cmd": "quit"}
Each answer has seconds (total, graph building included), setup seconds, matvecs and the value.
"""
import json
import os
import sys
import time

import numpy as np
import torch

root, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
meta = json.load(open(os.path.join(root, "meta.json")))


def load(name):
    a = np.fromfile(os.path.join(root, name + ".f32"), dtype=np.float32)
    return torch.from_numpy(a.reshape(meta[name]))


params = [load(n).clone().requires_grad_() for n in ("w0", "b0", "w1", "b1")]
x = load("x")
y = load("y").long()


def loss_fn():
    w0, b0, w1, b1 = params
    h = torch.tanh(torch.nn.functional.linear(x, w0, b0))
    return torch.nn.functional.cross_entropy(torch.nn.functional.linear(h, w1, b1), y)


def gradient_graph():
    return torch.autograd.grad(loss_fn(), params, create_graph=True)


def hvp(grads, v):
    return torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)


def dot(a, b):
    return sum(float((p * q).sum()) for p, q in zip(a, b))


def power(iters, seed):
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    grads = gradient_graph()
    setup = time.perf_counter() - t0
    v = [torch.randn_like(p) for p in params]
    n = dot(v, v) ** 0.5
    v = [u / n for u in v]
    lam = 0.0
    for _ in range(iters):
        hv = hvp(grads, v)
        lam = dot(v, hv)
        n = dot(hv, hv) ** 0.5
        v = [u / n for u in hv]
    return {"seconds": time.perf_counter() - t0, "setup": setup, "matvecs": iters, "value": lam}


def trace(probes, seed):
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    grads = gradient_graph()
    setup = time.perf_counter() - t0
    samples = []
    for _ in range(probes):
        v = [torch.randint_like(p, high=2) * 2 - 1 for p in params]
        samples.append(dot(v, hvp(grads, v)))
    return {"seconds": time.perf_counter() - t0, "setup": setup, "matvecs": probes, "value": float(np.mean(samples))}


print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["cmd"] == "quit":
        break
    if cmd["cmd"] == "power":
        out = power(int(cmd["iters"]), int(cmd.get("seed", 0)))
    elif cmd["cmd"] == "trace":
        out = trace(int(cmd["probes"]), int(cmd.get("seed", 0)))
    else:
        out = {"error": "unknown command " + str(cmd["cmd"])}
    print(json.dumps(out), flush=True)
