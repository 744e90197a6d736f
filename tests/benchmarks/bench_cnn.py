"""Issue 15 benchmark: the exact FLOAT gradient of a LeNet-style CNN against PyTorch CPU autograd.

Run from the repository root (about a minute)::

    PYTHONPATH=$PWD python tests/benchmarks/bench_cnn.py [--batch 128] [--repeats 20]

Network (batch 128, 1x28x28 inputs): Conv2d(1, 6, 5), ReLU, MaxPool2d(2), Conv2d(6, 16, 5), ReLU,
MaxPool2d(2), Flatten, Linear(256, 120), ReLU, Linear(120, 84), ReLU, Linear(84, 10); CrossEntropyLoss.

Printed, all measured in this one run:

* build time: constructing the symprop model, its parameter shapes, the initial state dict and the first
  gradient call (symprop.nn has no separate compile step: the FLOAT reverse pass runs directly);
* the gradient time (forward + loss + reverse pass, every parameter) of symprop's FLOAT engine and of
  PyTorch autograd with ``torch.set_num_threads(1)`` on float64, min and median of repeated runs, and
  their ratio (target <= 1.5x); numpy's BLAS is limited to one thread too (threadpoolctl when present,
  else the *_NUM_THREADS variables set before numpy is imported);
* the same with float32 inputs and parameters (torch computes in float32; symprop's FLOAT arithmetic
  computes in float64 whatever the input dtype, so this ratio compares float64 work with float32 work);
* peak memory of one symprop gradient (tracemalloc peak; target < 1 GiB).

Before timing, the two gradients are checked against each other (float64, 1e-10 relative).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path
from statistics import median

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def lenet():
    from symprop.nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential

    return Sequential(
        Conv2d(1, 6, 5),
        ReLU(),
        MaxPool2d(2),
        Conv2d(6, 16, 5),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
        Linear(256, 120),
        ReLU(),
        Linear(120, 84),
        ReLU(),
        Linear(84, 10),
    )


def torch_lenet(values, dtype):
    import torch

    T = torch.nn
    m = T.Sequential(
        T.Conv2d(1, 6, 5),
        T.ReLU(),
        T.MaxPool2d(2),
        T.Conv2d(6, 16, 5),
        T.ReLU(),
        T.MaxPool2d(2),
        T.Flatten(),
        T.Linear(256, 120),
        T.ReLU(),
        T.Linear(120, 84),
        T.ReLU(),
        T.Linear(84, 10),
    )
    m = m.to(dtype)
    m.load_state_dict({k: torch.tensor(v, dtype=dtype) for k, v in values.items()})
    return m


def timeit(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass

    t0 = time.perf_counter()
    from symprop.nn import CrossEntropyLoss, gradient, init_values, state_shapes

    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = lenet()
    in_shape = (1, 28, 28)
    state_shapes(model, in_shape)
    values = init_values(model, in_shape, seed=0)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(args.batch,) + in_shape)
    Y = rng.integers(0, 10, size=args.batch)
    loss = CrossEntropyLoss()
    g = gradient(model, values, X, Y, loss=loss)
    build = time.perf_counter() - t0

    # --- agreement (float64)
    tm = torch_lenet(values, torch.float64)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)

    def torch_grad(tm=tm, Xt=Xt):
        tm.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(tm(Xt), Yt).backward()
        return {k: p.grad for k, p in tm.named_parameters()}

    tg = torch_grad()
    worst = max(float(np.max(np.abs(g[k] - tg[k].numpy())) / (np.max(np.abs(tg[k].numpy())) + 1e-300)) for k in g)
    print(
        f"LeNet-style CNN, batch {args.batch}: symprop FLOAT vs torch float64 gradient, worst relative error "
        f"{worst:.2e}"
    )
    if worst > 1e-10:
        print("  GRADIENTS DISAGREE")
        return 1

    def ours(X=X):
        return gradient(model, values, X, Y, loss=loss)

    s_min, s_med = timeit(ours, args.repeats)
    t_min, t_med = timeit(torch_grad, args.repeats)
    print(
        f"import symprop.nn (SymPy included): {t_import:.3f} s;  build (model, shapes, initial values, first "
        f"gradient): {build:.3f} s   (target < 2 s)"
    )
    print(
        f"gradient float64: symprop {s_min * 1e3:.1f} ms (median {s_med * 1e3:.1f}), torch {t_min * 1e3:.1f} ms "
        f"(median {t_med * 1e3:.1f});  ratio {s_min / t_min:.2f}x min, {s_med / t_med:.2f}x median "
        "(target <= 1.5x)"
    )

    # --- float32
    tm32 = torch_lenet(values, torch.float32)
    X32 = X.astype(np.float32)
    Xt32 = torch.tensor(X32)
    values32 = {k: v.astype(np.float32) for k, v in values.items()}

    def torch_grad32():
        return torch_grad(tm32, Xt32)

    def ours32():
        return gradient(model, values32, X32, Y, loss=loss)

    s32, s32m = timeit(ours32, args.repeats)
    t32, t32m = timeit(torch_grad32, args.repeats)
    print(
        f"gradient float32 inputs: symprop {s32 * 1e3:.1f} ms (computes in float64), torch float32 "
        f"{t32 * 1e3:.1f} ms;  ratio {s32 / t32:.2f}x min, {s32m / t32m:.2f}x median"
    )

    # --- memory
    tracemalloc.start()
    ours()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak memory of one symprop gradient (tracemalloc): {peak / 2**20:.1f} MiB   (target < 1024 MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
