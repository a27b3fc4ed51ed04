"""PyTorch peer of `hessian bench`: trains each job's model (layers described in the spec) on
the same training data with torch.optim Adam, SGD with momentum and L-BFGS (strong Wolfe),
under the same budget, and prints one JSON object with the runs in the report's format
(optimizer ids prefixed with 'torch-'). Seconds count optimizer work only, as ours."""
import json
import sys
import time

import numpy as np
import torch

spec = json.load(open(sys.argv[1]))
budget = spec["budget"]
torch.set_num_threads(2)


def load(t):
    return torch.from_numpy(np.fromfile(t["file"], dtype=np.float32).reshape(t["shape"]))


def build(layers):
    mods = []
    for l in layers:
        t = l["type"]
        if t == "linear":
            mods.append(torch.nn.Linear(l["in"], l["out"], bias=l["bias"]))
        elif t == "conv2d":
            mods.append(torch.nn.Conv2d(l["in"], l["out"], tuple(l["kernel"]), stride=l["stride"], padding=l["padding"], dilation=l["dilation"], bias=l["bias"]))
        elif t in ("relu", "tanh", "sigmoid", "softplus", "gelu"):
            mods.append({"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "softplus": torch.nn.Softplus, "gelu": torch.nn.GELU}[t]())
        elif t == "maxpool2d":
            mods.append(torch.nn.MaxPool2d(l["kernel"]))
        elif t == "flatten":
            mods.append(torch.nn.Flatten())
        else:
            raise ValueError("unknown layer " + t)
    return torch.nn.Sequential(*mods)


def loss_fn(spec_loss):
    name, red = spec_loss["name"], spec_loss["reduction"]
    if name == "softmaxCrossEntropy":
        return lambda z, y: torch.nn.functional.cross_entropy(z, y.long(), reduction="sum" if red == "sum" else "mean")
    if name == "sigmoidBinaryCrossEntropy":
        def f(z, y):
            l = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="sum")
            return l if red == "sum" else (l / z.shape[0] if red == "batchmean" else l / z.numel())
        return f
    if name == "mse":
        def g(z, y):
            l = ((z - y) ** 2).sum()
            return l if red == "sum" else (l / z.shape[0] if red == "batchmean" else l / z.numel())
        return g
    raise ValueError("unknown loss " + name)


runs = []
for job in spec["jobs"]:
    x, y = load(job["x"]), load(job["y"])
    lf = loss_fn(job["loss"])
    n = x.shape[0]
    for o in job["optimizers"]:
        torch.manual_seed(job["seed"])
        model = build(job["layers"])
        hyper = o["hyper"]
        opts = hyper["options"]
        if o["id"] == "adam":
            opt = torch.optim.Adam(model.parameters(), lr=opts.get("lr", 1e-3))
        elif o["id"] == "momentum":
            opt = torch.optim.SGD(model.parameters(), lr=opts.get("lr", 0.01), momentum=opts.get("momentum", 0.9))
        else:
            opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=1, history_size=10, line_search_fn="strong_wolfe")
        bs = n if hyper["batchSize"] == "full" or o["id"] == "lbfgs" else min(n, hyper["batchSize"])
        gen = torch.Generator().manual_seed(job["seed"] + 1)
        perm = torch.randperm(n, generator=gen)
        per_epoch = max(1, n // bs)
        curve = []
        step, seconds = 0, 0.0
        evals = 0

        def evaluate():
            with torch.no_grad():
                return float(lf(model(x), y))

        curve.append({"step": 0, "seconds": 0.0, "evals": 0, "curvatureProducts": 0, "trainLoss": evaluate()})
        next_eval = 1
        while True:
            if "steps" in budget and step >= budget["steps"]:
                break
            if "seconds" in budget and seconds >= budget["seconds"]:
                break
            j = step % per_epoch
            if j == 0 and step > 0:
                perm = torch.randperm(n, generator=gen)
            idx = perm[j * bs:(j + 1) * bs]
            xb, yb = x[idx], y[idx]
            t0 = time.perf_counter()

            def closure():
                global evals
                opt.zero_grad()
                l = lf(model(xb), yb)
                l.backward()
                evals += 1
                return l

            opt.step(closure)
            seconds += time.perf_counter() - t0
            step += 1
            if step >= next_eval or ("seconds" in budget and seconds >= budget["seconds"]) or ("steps" in budget and step >= budget["steps"]):
                loss = evaluate()
                curve.append({"step": step, "seconds": seconds, "evals": evals, "curvatureProducts": 0, "trainLoss": loss})
                next_eval = max(step + 1, int(np.ceil(step * 1.15)))
                if not np.isfinite(loss):
                    break
        final = dict(curve[-1])
        final.update({"stopped": "budget" if np.isfinite(final["trainLoss"]) else "diverged", "rejectedSteps": 0})
        runs.append({"problem": job["problem"], "optimizer": "torch-" + o["id"], "seed": job["seed"], "hyper": hyper, "curve": curve, "final": final})
print(json.dumps({"version": torch.__version__, "runs": runs}))
