"""PyTorch peer for `npm run bench:overhead`: per-op dispatch overhead on small float64 tensors,
eager autograd of a 3-op function, and a physics-informed network, answered one request at a
time so that the benchmark interleaves its rounds with ours. Arg: threads. The first stdin line
is the problem data (JSON: the 20x20 operands and the PINN's weights and points), so both sides
compute on the same numbers; each later line is a request {case, calls, samples} and each reply
a JSON list of wall seconds per call (one per sample of `calls` calls), or, for the PINN,
{seconds, evals, loss}. Wall time: single-threaded microsecond ops, the same clock as ours."""
import json
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]))
f64 = torch.float64
print(json.dumps({'ready': True, 'torch': torch.__version__}), flush=True)
data = json.loads(sys.stdin.readline())


def t(v):
    return torch.tensor(v, dtype=f64)


A, B = t(data['a']), t(data['b'])


def grad3():
    x = A.detach().requires_grad_(True)
    y = torch.tanh(x @ B).sum()
    return torch.autograd.grad(y, x)[0]


CASES = {
    'add': lambda: A + B,
    'matmul': lambda: A @ B,
    'tanh': lambda: torch.tanh(A),
    'sum': lambda: A.sum(),
    'grad': grad3,
}

pinn = data['pinn']
X, XB, GB = t(pinn['x']), t(pinn['xb']), t(pinn['gb'])
E0 = torch.zeros_like(X)
E0[:, 0] = 1
E1 = torch.zeros_like(X)
E1[:, 1] = 1


def mlp(p, x):
    h = torch.tanh(x @ p[0] + p[1])
    h = torch.tanh(h @ p[2] + p[3])
    return h @ p[4] + p[5]


def pinn_loss(p):
    x = X.detach().requires_grad_(True)
    du = torch.autograd.grad(mlp(p, x).sum(), x, create_graph=True)[0]
    h0 = torch.autograd.grad(du, x, grad_outputs=E0, create_graph=True)[0]
    h1 = torch.autograd.grad(du, x, grad_outputs=E1, create_graph=True)[0]
    lap = (h0 * E0 + h1 * E1).sum(1)
    return lap.pow(2).mean() + (mlp(p, XB) - GB).pow(2).mean()


def run_pinn(adam_steps, lbfgs_iters):
    p = [t(w).requires_grad_(True) for w in pinn['params']]
    evals = 0
    t0 = time.perf_counter()
    opt = torch.optim.Adam(p, lr=pinn['lr'])
    for _ in range(adam_steps):
        opt.zero_grad()
        loss = pinn_loss(p)
        loss.backward()
        opt.step()
        evals += 1
    lb = torch.optim.LBFGS(p, lr=1, max_iter=lbfgs_iters, max_eval=lbfgs_iters * 5, history_size=10,
                           tolerance_grad=0, tolerance_change=0, line_search_fn='strong_wolfe')

    def closure():
        nonlocal evals
        lb.zero_grad()
        loss = pinn_loss(p)
        loss.backward()
        evals += 1
        return loss

    lb.step(closure)
    seconds = time.perf_counter() - t0
    final = float(pinn_loss(p).detach())
    return {'seconds': seconds, 'evals': evals, 'loss': final}


for line in sys.stdin:
    req = json.loads(line)
    if req['case'] == 'pinn':
        print(json.dumps(run_pinn(req['adam'], req['lbfgs'])), flush=True)
        continue
    f = CASES[req['case']]
    calls, samples = req['calls'], req['samples']
    for _ in range(min(calls, 200)):
        f()
    out = []
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            f()
        out.append((time.perf_counter_ns() - t0) / 1e9 / calls)
    print(json.dumps(out), flush=True)
