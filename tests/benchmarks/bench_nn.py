"""Issue 14 benchmark: symprop.nn FLOAT gradient vs PyTorch CPU autograd and vs its own forward pass.

Run from the repository root (one minute or so)::

    python tests/benchmarks/bench_nn.py            # the three networks, N = 10,000
    python tests/benchmarks/bench_nn.py --quick    # N = 2,000

Networks (float64, MSE on random targets):

* residual MLP with LayerNorm 64-256-256-10: Linear(64, 256), LayerNorm, ReLU, then two
  Residual(Linear(256, 256), LayerNorm, ReLU) blocks, Linear(256, 10);
* the same with BatchNorm1d (training mode: batch statistics) instead of LayerNorm;
* the same with GELU (erf) instead of ReLU.

Both sides use one thread (torch.set_num_threads(1); OPENBLAS/MKL/OMP_NUM_THREADS=1 for NumPy's BLAS,
set before NumPy is imported).  Before timing, symprop's gradient is checked against torch's to 1e-9
relative.  Times are the minimum and median of repeated runs; the ratios (targets: gradient <= 1.0x
torch autograd, gradient <= 3x its own forward, model build < 1 s) are printed, nothing is asserted.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from symprop import nn


def build(norm: str, act: str):
    Norm = {"layernorm": lambda: nn.LayerNorm(256), "batchnorm": lambda: nn.BatchNorm1d(256)}[norm]
    Act = {"relu": nn.ReLU, "gelu": nn.GELU}[act]
    block = lambda: nn.Residual(nn.Sequential(nn.Linear(256, 256), Norm(), Act()))
    return nn.Sequential(nn.Linear(64, 256), Norm(), Act(), block(), block(), nn.Linear(256, 10))


def torch_model(norm: str, act: str):
    import torch

    T = torch.nn

    class Residual(T.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block

        def forward(self, x):
            return x + self.block(x)

    Norm = {
        "layernorm": lambda: T.LayerNorm(256, dtype=torch.float64),
        "batchnorm": lambda: T.BatchNorm1d(256, dtype=torch.float64),
    }[norm]
    Act = {"relu": T.ReLU, "gelu": T.GELU}[act]
    block = lambda: Residual(T.Sequential(T.Linear(256, 256, dtype=torch.float64), Norm(), Act()))
    return T.Sequential(
        T.Linear(64, 256, dtype=torch.float64), Norm(), Act(), block(), block(), T.Linear(256, 10, dtype=torch.float64)
    )


def timeit(fns: dict, repeat: int) -> dict[str, tuple[float, float]]:
    """min and median time of each function, runs interleaved so that they share the machine's load."""
    for fn in fns.values():
        fn()  # warm up
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: (min(v), median(v)) for k, v in times.items()}


def run(norm: str, act: str, n: int, repeat: int) -> dict:
    t0 = time.perf_counter()
    model = build(norm, act)
    values = nn.init_values(model, (64,), seed=0)
    build_time = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(n, 64)), rng.normal(size=(n, 10))

    row = {"network": f"64-256-256-10 residual, {norm}, {act}", "N": n, "build_s": build_time}
    grad = lambda: nn.gradient(model, values, X, Y, loss="mse")
    fwd = lambda: nn.forward(model, values, X)
    fns = {"grad": grad, "forward": fwd}
    try:
        import torch
    except ImportError:
        return row | timeit(fns, repeat)
    torch.set_num_threads(1)
    tm = torch_model(norm, act)
    state = {k: torch.tensor(v) for k, v in values.items()}
    for k, v in tm.state_dict().items():
        state.setdefault(k, v)
    tm.load_state_dict(state)
    tX, tY = torch.tensor(X), torch.tensor(Y)
    params = list(tm.parameters())

    def tgrad():
        for p in params:
            p.grad = None
        loss = torch.nn.functional.mse_loss(tm(tX), tY)
        loss.backward()

    tgrad()
    mine = grad()
    scale = max(np.max(np.abs(p.grad.numpy())) for p in params)
    for k, p in tm.named_parameters():
        err = np.max(np.abs(p.grad.numpy() - mine[k])) / scale  # relative to the largest gradient entry
        if err > 1e-9:
            raise SystemExit(f"gradient mismatch vs torch for {k}: relative {err:.3g}")
    fns["torch"] = tgrad
    return row | timeit(fns, repeat)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="N = 2,000 and fewer repeats")
    args = ap.parse_args(argv)
    n, repeat = (2000, 3) if args.quick else (10000, 5)
    print(f"symprop.nn FLOAT gradient, float64, one thread, N = {n}; times min / median of {repeat} runs\n")
    header = f"{'network':<44} {'build':>7} {'forward':>15} {'gradient':>15} {'torch':>15} {'grad/torch':>10} {'grad/fwd':>9}"
    print(header)
    print("-" * len(header))
    for norm, act in (("layernorm", "relu"), ("batchnorm", "relu"), ("layernorm", "gelu")):
        r = run(norm, act, n, repeat)
        fmt = lambda t: f"{t[0] * 1e3:6.1f}/{t[1] * 1e3:6.1f}ms"
        torch_t = r.get("torch")
        ratio = f"{r['grad'][0] / torch_t[0]:9.2f}x" if torch_t else "      n/a"
        print(
            f"{r['network']:<44} {r['build_s'] * 1e3:5.1f}ms {fmt(r['forward'])} {fmt(r['grad'])} "
            f"{fmt(torch_t) if torch_t else 'n/a':>15} {ratio:>10} {r['grad'][0] / r['forward'][0]:8.2f}x"
        )
    print("\ntargets: gradient <= 1.0x torch autograd, <= 3x own forward, build < 1 s (min times)")


if __name__ == "__main__":
    main()
