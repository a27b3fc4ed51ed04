"""SciPy peer for `npm run bench:lbfgs`: minimizes each named MGH problem with SciPy's L-BFGS-B
(default options), evaluating f and its gradient through our own implementation (a node
evaluation server), and prints one JSON object per problem: iterations, evaluations, f."""
import json
import subprocess
import sys

import numpy as np
from scipy.optimize import minimize

server_script, *ids = sys.argv[1:]
out = []
for pid in ids:
    proc = subprocess.Popen(["node", server_script, pid], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    x0 = np.array(json.loads(proc.stdout.readline())["x0"], dtype=float)

    def fg(x):
        proc.stdin.write(json.dumps([float(v) for v in x]) + "\n")
        proc.stdin.flush()
        r = json.loads(proc.stdout.readline())
        # JSON has no inf/NaN: the server writes them as null
        f = np.inf if r["f"] is None else float(r["f"])
        return f, np.array([np.nan if v is None else v for v in r["g"]], dtype=float)

    res = minimize(fg, x0, jac=True, method="L-BFGS-B")
    proc.stdin.close()
    proc.wait()
    out.append({"id": pid, "nit": int(res.nit), "nfev": int(res.nfev), "fun": float(res.fun), "success": bool(res.success)})
print(json.dumps(out))
