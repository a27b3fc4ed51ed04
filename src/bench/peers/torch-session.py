"""PyTorch peer kept running for interleaved rounds (ours, PyTorch, ours, ...): reads one JSON
command per line on stdin, answers one JSON line on stdout. Commands:
  {"cmd": "mm", "n": 1024, "threads": 2, "calls": 5}     times of torch.mm(a, b), a fresh output each call
  {"cmd": "ae", "batch": 256, "threads": 2, "calls": 5}  times of the autoencoder's fwd+bwd step
  {"cmd": "eigh", "n": 1000, "threads": 2, "calls": 3}  times of torch.linalg.eigh (LAPACK syevd), float64 SPD
  {"cmd": "cholesky", "n": 1000, "threads": 2, "calls": 3}  times of torch.linalg.cholesky, float64 SPD
  {"cmd": "first", "batch": 256, "threads": 2, "calls": 10}  as the session's first command: the
      autoencoder's very first step in this process, the system CPU time inside it, then `calls`
      more steps (seconds: [first, its system time, later steps...])
  {"cmd": "quit"}
"""
import json
import resource
import sys
import time

import torch

torch.manual_seed(0)
state = {}


def mm_setup(n):
    key = ("mm", n)
    if key not in state:
        state[key] = (torch.rand(n, n) - 0.5, torch.rand(n, n) - 0.5)
    return state[key]


def ae_setup(batch):
    key = ("ae", batch)
    if key not in state:
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
            loss = torch.nn.functional.binary_cross_entropy_with_logits(h, x)
            return torch.autograd.grad(loss, params)

        state[key] = step
    return state[key]


def spd_setup(n):
    key = ("spd", n)
    if key not in state:
        x = torch.randn(n, n, dtype=torch.float64)
        state[key] = x @ x.T / n + torch.eye(n, dtype=torch.float64)
    return state[key]


def timed(fn, calls):
    ts = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["cmd"] == "quit":
        break
    torch.set_num_threads(int(cmd.get("threads", 1)))
    if cmd["cmd"] == "mm":
        a, b = mm_setup(int(cmd["n"]))
        out = timed(lambda: torch.mm(a, b), int(cmd["calls"]))
    elif cmd["cmd"] == "ae":
        out = timed(ae_setup(int(cmd["batch"])), int(cmd["calls"]))
    elif cmd["cmd"] == "first":
        step = ae_setup(int(cmd["batch"]))
        sys0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        t0 = time.perf_counter()
        step()
        first = time.perf_counter() - t0
        out = [first, resource.getrusage(resource.RUSAGE_SELF).ru_stime - sys0] + timed(step, int(cmd["calls"]))
    elif cmd["cmd"] == "gemm":
        # op(A) m x k times op(B) k x n, the operands stored as our kernels store them
        m, n, k = int(cmd["m"]), int(cmd["n"]), int(cmd["k"])
        a = torch.rand(k, m).t() if cmd["ta"] else torch.rand(m, k)
        b = torch.rand(n, k).t() if cmd["tb"] else torch.rand(k, n)
        c = torch.empty(m, n)
        out = timed(lambda: torch.mm(a, b, out=c), int(cmd["calls"]))
    elif cmd["cmd"] == "eigh":
        a = spd_setup(int(cmd["n"]))
        out = timed(lambda: torch.linalg.eigh(a), int(cmd["calls"]))
    elif cmd["cmd"] == "cholesky":
        a = spd_setup(int(cmd["n"]))
        out = timed(lambda: torch.linalg.cholesky(a), int(cmd["calls"]))
    else:
        out = {"error": "unknown command " + str(cmd["cmd"])}
    print(json.dumps({"seconds": out}), flush=True)
