"""Issue 7 benchmark: derive, compile and evaluate exact gradients, against hand-written NumPy and PyTorch.

Run from the repository root (takes a few minutes; torch and matplotlib are optional)::

    python tests/benchmarks/bench_performance.py            # full table, writes docs/perf_*.md/png
    python tests/benchmarks/bench_performance.py --quick    # small networks only, nothing written

For every network (tanh hidden layers, identity output, MSE, N = 10,000 float64 samples) it prints:

* derive and compile time of ``net.compile()`` measured in a *fresh* Python process (one per network),
  and the peak memory of derive + compile in that process (tracemalloc peak and the growth of max RSS);
* the evaluation time of the compiled exact gradient, of its compiled forward pass, of a hand-vectorised
  NumPy backprop written below as a typical user would write it, and of PyTorch autograd (when
  installed), all measured in this process in repeated blocks, reporting min and median;
* the ratios gradient / NumPy backprop, gradient / PyTorch and gradient / forward.

Before timing, each network's compiled gradient is checked against the hand-written backprop (and
PyTorch) to 1e-10 relative, so the numbers compare programs that compute the same thing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
NETWORKS: tuple[tuple[int, ...], ...] = (
    (1, 2, 1),
    (2, 2, 1),
    (4, 8, 8, 2),
    (4, 16, 16, 3),
    (8, 32, 32, 4),
    (16, 64, 64, 8),
    (32, 128, 128, 16),
)
N_SAMPLES = 10_000
SETUP = dict(hidden="tanh", output="identity", loss="mse")

# ----------------------------------------------------------------------------- fresh-process timing

CHILD_CODE = r"""
import json, sys, time, tracemalloc
layers, mode = json.loads(sys.argv[1]), sys.argv[2]

def peak_rss_kib():  # VmHWM: this process's own high-water mark (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith("VmHWM:")))

t0 = time.perf_counter()
import numpy, sympy
from symprop import Network
from symprop.compile import CompiledNetwork, generate_source
t1 = time.perf_counter()
net = Network(layers, hidden="tanh", output="identity", loss="mse")
rss0 = peak_rss_kib()
if mode == "memory":
    tracemalloc.start()
t2 = time.perf_counter()
source = generate_source(net)
t3 = time.perf_counter()
compiled = CompiledNetwork(net)
t4 = time.perf_counter()
peak = tracemalloc.get_traced_memory()[1] if mode == "memory" else None
rss1 = peak_rss_kib()
print(json.dumps({"import": t1 - t0, "derive": t3 - t2, "build": t4 - t3, "peak_traced": peak,
                  "rss_before_kib": rss0, "rss_after_kib": rss1, "n_params": net.n_params,
                  "source_lines": source.count("\n")}))
"""


def fresh_process(layers: tuple[int, ...], mode: str) -> dict[str, Any]:
    """Run derive + compile of one network in a new interpreter; wall time includes start-up and imports."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD_CODE, json.dumps(list(layers)), mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=600,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"child process for {layers} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


CLOSED_FORM_CODE = r"""
import json, sys, time
from symprop import Network
layers = json.loads(sys.argv[1])
net = Network(layers, hidden="tanh", output="identity", loss="mse")
X = [[round(0.1 * (i + 1), 1) for i in range(layers[0])]]
Y = [[0.5] * layers[-1]]
start = time.perf_counter()
grads = net.gradient(X, Y)  # every closed-form partial derivative for one sample
print(json.dumps({"closed_forms": time.perf_counter() - start, "count": len(grads)}))
"""


def closed_form_time(layers: tuple[int, ...], timeout: float) -> float | None:
    """Seconds for ``net.gradient`` (SymPy closed forms, one sample) in a fresh process; None on timeout."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", CLOSED_FORM_CODE, json.dumps(list(layers))],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"closed forms for {layers} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])["closed_forms"]


def derive_compile_stats(layers: tuple[int, ...], runs: int) -> dict[str, Any]:
    """Min over ``runs`` fresh processes of each phase, and the memory from one tracemalloc run.

    ``derive`` is ``generate_source`` (SymPy: element-wise derivatives, CSE, printing); ``compile`` is
    the rest of ``CompiledNetwork(net)``: generate the source again (cheap: the SymPy forms are now
    cached) and byte-compile + exec it. So derive + compile = the cost of a cold ``net.compile()``.
    """
    timings = [fresh_process(layers, "time") for _ in range(runs)]
    memory = fresh_process(layers, "memory")
    best = {key: min(t[key] for t in timings) for key in ("import", "derive", "build", "wall")}
    return {
        **best,
        "n_params": timings[0]["n_params"],
        "source_lines": timings[0]["source_lines"],
        "peak_traced_mib": memory["peak_traced"] / 2**20,
        "rss_growth_mib": max(t["rss_after_kib"] - t["rss_before_kib"] for t in timings) / 1024,
        "rss_peak_mib": max(t["rss_after_kib"] for t in timings) / 1024,
    }


# ----------------------------------------------------------------------------- the baselines


def init_params(layers: tuple[int, ...], rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Glorot-like random weights W^{[l]} of shape (n_l, n_{l-1}) and small biases."""
    weights = [rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_out, n_in)) for n_in, n_out in zip(layers, layers[1:])]
    biases = [rng.normal(0.0, 0.1, size=n_out) for n_out in layers[1:]]
    return weights, biases


def numpy_backprop(weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray, Y: np.ndarray):
    """Hand-vectorised backprop for tanh hidden layers, identity output and MSE, as a user writes it."""
    activations = [X]
    for W, b in zip(weights[:-1], biases[:-1]):
        activations.append(np.tanh(activations[-1] @ W.T + b))
    out = activations[-1] @ weights[-1].T + biases[-1]
    n, m = Y.shape
    delta = 2.0 * (out - Y) / (n * m)
    grad_w, grad_b = [None] * len(weights), [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        grad_w[l] = delta.T @ activations[l]
        grad_b[l] = delta.sum(axis=0)
        if l > 0:
            delta = (delta @ weights[l]) * (1.0 - activations[l] ** 2)
    return grad_w, grad_b


def torch_gradient_fn(weights, biases, X, Y) -> Callable[[], tuple[list, list]] | None:
    """A closure computing the PyTorch autograd gradient (float64), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    Ws = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in weights]
    bs = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in biases]
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)

    def run() -> tuple[list, list]:
        a = Xt
        for W, b in zip(Ws[:-1], bs[:-1]):
            a = torch.tanh(a @ W.T + b)
        loss = ((a @ Ws[-1].T + bs[-1] - Yt) ** 2).mean()
        return list(torch.autograd.grad(loss, Ws + bs))

    return run


# ----------------------------------------------------------------------------- timing


def calibrate(fn: Callable[[], Any], target: float = 0.02) -> int:
    """Calls per timed batch so that one batch takes about ``target`` seconds."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= target or number >= 1 << 16:
            return number
        number = max(number * 2, int(number * target / max(elapsed, 1e-9)))


def time_blocks(fns: dict[str, Callable[[], Any]], rounds: int, cycles: int = 5) -> dict[str, dict[str, float]]:
    """Per-call seconds (min, median over ``rounds`` batches) of each function.

    The batches run in ``cycles`` passes over all functions, each function in a block preceded by a
    warm-up, so slow drift of the machine's load hits every function alike, while no function is timed
    right after another library's thread pool was busy (OpenBLAS and PyTorch's OpenMP threads both
    spin for a while after a call, and on two cores they steal time from each other).
    """
    numbers = {name: calibrate(fn) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    per_cycle = max(1, -(-rounds // cycles))
    for _ in range(cycles):
        for name, fn in fns.items():
            number = numbers[name]
            calibrate(fn, target=0.05)  # warm-up
            for _ in range(per_cycle):
                start = time.perf_counter()
                for _ in range(number):
                    fn()
                samples[name].append((time.perf_counter() - start) / number)
    return {name: {"min": min(s), "median": median(s), "calls": numbers[name]} for name, s in samples.items()}


def max_rel_error(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    flat_a = np.concatenate([np.ravel(x) for x in a])
    flat_b = np.concatenate([np.ravel(np.asarray(x)) for x in b])
    return float(np.max(np.abs(flat_a - flat_b)) / np.max(np.abs(flat_b)))


def eval_stats(layers: tuple[int, ...], rounds: int, use_torch: bool) -> dict[str, Any]:
    """Check the compiled gradient against the baselines, then time everything in blocks."""
    from symprop import Network

    rng = np.random.default_rng(7)
    net = Network(list(layers), **SETUP)
    compiled = net.compile()
    weights, biases = init_params(layers, rng)
    X = rng.normal(size=(N_SAMPLES, layers[0]))
    Y = rng.normal(size=(N_SAMPLES, layers[-1]))

    dW, db = compiled.gradient_arrays(weights, biases, X, Y)
    hW, hb = numpy_backprop(weights, biases, X, Y)
    errors = {"numpy": max_rel_error(dW + db, hW + hb)}
    fns: dict[str, Callable[[], Any]] = {
        "gradient": lambda: compiled.gradient_arrays(weights, biases, X, Y, check=False),
        "gradient_checked": lambda: compiled.gradient_arrays(weights, biases, X, Y),
        "forward": lambda: compiled.forward_arrays(weights, biases, X),
        "numpy": lambda: numpy_backprop(weights, biases, X, Y),
    }
    torch_fn = torch_gradient_fn(weights, biases, X, Y) if use_torch else None
    if torch_fn is not None:
        grads = [g.numpy() for g in torch_fn()]
        errors["torch"] = max_rel_error(dW + db, grads)
        fns["torch"] = torch_fn
    bad = {k: v for k, v in errors.items() if not v < 1e-10}
    if bad:
        raise AssertionError(f"{layers}: compiled gradient disagrees with {bad} (relative max error)")
    return {"times": time_blocks(fns, rounds), "errors": errors}


# ----------------------------------------------------------------------------- report


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": _blas_name(),
        "BLAS/OpenMP threads": os.environ.get("OPENBLAS_NUM_THREADS", "library default"),
    }
    import sympy

    info["sympy"] = sympy.__version__
    try:
        import torch

        info["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        info["torch"] = "not installed"
    return info


def _blas_name() -> str:
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older NumPy: no dict mode
        return "unknown"


def ms(seconds: float) -> str:
    value = seconds * 1e3
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def matmul_ratio(layers: tuple[int, ...]) -> float:
    """Multiply-adds of the gradient's matrix products / those of the forward pass.

    Forward: one product per layer, sum n_{l-1} n_l. Gradient: the forward ones, dW for every layer (the
    same count again) and D^{[l]} W^{[l]} for every layer but the first. So 3 - n_0 n_1 / sum.
    """
    sizes = [a * b for a, b in zip(layers, layers[1:])]
    return (2 * sum(sizes) + sum(sizes[1:])) / sum(sizes)


def row(layers: tuple[int, ...], dc: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
    t = ev["times"]
    out = {
        "network": "-".join(map(str, layers)),
        "params": dc["n_params"],
        "derive_s": dc["derive"],
        "compile_s": dc["build"],
        "fresh_total_s": dc["derive"] + dc["build"],
        "fresh_wall_s": dc["wall"],
        "import_s": dc["import"],
        "peak_traced_mib": dc["peak_traced_mib"],
        "rss_growth_mib": dc["rss_growth_mib"],
        "rss_peak_mib": dc["rss_peak_mib"],
        "errors": ev["errors"],
        "closed_forms_s": dc.get("closed_forms"),
        "matmul_ratio": matmul_ratio(layers),
    }
    for name, stats in t.items():
        out[f"{name}_min_ms"] = stats["min"] * 1e3
        out[f"{name}_median_ms"] = stats["median"] * 1e3
    for stat in ("min", "median"):
        grad = t["gradient"][stat]
        out[f"ratio_numpy_{stat}"] = grad / t["numpy"][stat]
        out[f"ratio_forward_{stat}"] = grad / t["forward"][stat]
        if "torch" in t:
            out[f"ratio_torch_{stat}"] = grad / t["torch"][stat]
    return out


def markdown_table(rows: list[dict[str, Any]], info: dict[str, str], rounds: int) -> str:
    has_torch = all("torch_min_ms" in r for r in rows)
    head = [
        "network",
        "params",
        "derive s",
        "compile s",
        "derive+compile s",
        "fresh process wall s",
        "peak traced MiB",
        "max-RSS growth MiB",
        "gradient ms",
        "forward ms",
        "NumPy backprop ms",
    ]
    head += ["PyTorch ms"] if has_torch else []
    head += ["grad / NumPy", "grad / forward", "matmul MAC ratio"] + (["grad / PyTorch"] if has_torch else [])
    has_closed = any("closed_forms_s" in r for r in rows)
    head += ["closed forms, 1 sample s"] if has_closed else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r["network"],
            f"{r['params']:,}",
            f"{r['derive_s']:.3f}",
            f"{r['compile_s']:.3f}",
            f"{r['fresh_total_s']:.3f}",
            f"{r['fresh_wall_s']:.2f}",
            f"{r['peak_traced_mib']:.1f}",
            f"{r['rss_growth_mib']:.1f}",
        ]
        for name in ("gradient", "forward", "numpy") + (("torch",) if has_torch else ()):
            cells.append(f"{ms(r[f'{name}_min_ms'] / 1e3)} ({ms(r[f'{name}_median_ms'] / 1e3)})")
        for name in ("numpy", "forward") + (("torch",) if has_torch else ()):
            cells.append(f"{r[f'ratio_{name}_min']:.2f} ({r[f'ratio_{name}_median']:.2f})")
            if name == "forward":
                cells.append(f"{r['matmul_ratio']:.2f}")
        if has_closed:
            value = r.get("closed_forms_s", "skipped")
            cells.append(
                "skipped"
                if value == "skipped"
                else f"> {r['closed_forms_timeout']:.0f} (stopped)"
                if value is None
                else f"{value:.2f}"
            )
        lines.append("| " + " | ".join(cells) + " |")
    machine = ", ".join(f"{k}: {v}" for k, v in info.items())
    notes = [
        "",
        f"Machine: {machine}.",
        f"N = {N_SAMPLES:,} float64 samples, tanh hidden, identity output, MSE. Times are per call: min "
        f"(median) over {rounds} batches (5 passes of blocks). derive/compile: min over fresh processes (without "
        "interpreter start-up and imports; the wall column includes them). The gradient is "
        "`CompiledNetwork.gradient_arrays(..., check=False)`; forward is the compiled forward pass. "
        "Ratios: gradient time / other time, from the min (median) times; matmul MAC ratio: multiply-adds "
        "of the gradient's matrix products over the forward pass's (3 - n0 n1 / sum of n_(l-1) n_l). The last column builds every "
        "closed-form partial derivative with `net.gradient` for one numeric sample (fresh process): "
        "available on demand, never used by the compiled path.",
    ]
    targets = ["", "Targets of issue 7, judged from this run:", ""] + target_lines(rows)
    return "\n".join(lines + notes + targets) + "\n"


def target_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, each judged from this run's numbers."""
    by_params = {r["params"]: r for r in rows}
    lines = []
    for params, limit in ((403, 1.0), (5_768, 5.0), (22_800, 20.0)):
        if params in by_params:
            r = by_params[params]
            ok = r["fresh_total_s"] < limit
            lines.append(
                f"- derive + compile, {params:,} parameters, under {limit:g} s: {r['fresh_total_s']:.3f} s "
                f"({r['fresh_wall_s']:.2f} s with interpreter start-up and imports) -> {'met' if ok else 'NOT met'}"
            )
    if 5_768 in by_params:
        r = by_params[5_768]
        ok = max(r["peak_traced_mib"], r["rss_peak_mib"]) < 1024
        lines.append(
            f"- peak memory of derive + compile, 5,768 parameters, under 1 GiB: traced {r['peak_traced_mib']:.1f} MiB, "
            f"whole-process max RSS {r['rss_peak_mib']:.0f} MiB -> {'met' if ok else 'NOT met'}"
        )
    for key, limit, label in (("numpy", 1.0, "hand-written NumPy backprop"), ("forward", 3.0, "compiled forward pass")):
        worst_min = max(rows, key=lambda r: r[f"ratio_{key}_min"])
        worst_med = max(rows, key=lambda r: r[f"ratio_{key}_median"])
        failing = [r["network"] for r in rows if r[f"ratio_{key}_min"] > limit]
        lines.append(
            f"- gradient / {label} <= {limit:g} for every network: worst {worst_min[f'ratio_{key}_min']:.2f} by min "
            f"({worst_min['network']}), {worst_med[f'ratio_{key}_median']:.2f} by median ({worst_med['network']}) -> "
            + ("met" if not failing else f"NOT met for {', '.join(failing)} (by min)")
        )
    return lines


def plot(rows: list[dict[str, Any]], path: Path) -> bool:
    """Log-log plot of time against parameter count; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    params = [r["params"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series = [
        ("derive + compile (fresh process)", [r["fresh_total_s"] for r in rows], "o-"),
        ("compiled exact gradient", [r["gradient_min_ms"] / 1e3 for r in rows], "s-"),
        ("compiled forward", [r["forward_min_ms"] / 1e3 for r in rows], "^--"),
        ("hand-written NumPy backprop", [r["numpy_min_ms"] / 1e3 for r in rows], "d-"),
    ]
    if all("torch_min_ms" in r for r in rows):
        series.append(("PyTorch autograd", [r["torch_min_ms"] / 1e3 for r in rows], "x-"))
    closed = [(r["params"], r["closed_forms_s"]) for r in rows if r.get("closed_forms_s") is not None]
    if closed:
        series.append(("closed forms via net.gradient (1 sample, on demand)", closed, "v:"))
    for label, values, style in series:
        xs, ys = zip(*values) if values and isinstance(values[0], tuple) else (params, values)
        ax.loglog(xs, ys, style, label=label)
    ax.set_xlabel("number of parameters")
    ax.set_ylabel("seconds (gradient, forward: per call at N = 10,000)")
    ax.set_title("symprop: exact gradients, tanh-MSE networks, float64")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="first four networks, few rounds, write nothing")
    parser.add_argument("--rounds", type=int, default=30, help="timed batches per function (default 30)")
    parser.add_argument("--fresh-runs", type=int, default=3, help="fresh processes per network (default 3)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even when installed")
    parser.add_argument(
        "--closed-forms-timeout",
        type=float,
        default=120.0,
        help="seconds allowed for the closed-form build per network (0 = skip; default 120)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS/OpenMP threads for every library (default 1: reproducible on a shared machine; 0 = library defaults)",
    )
    parser.add_argument("--name", default="perf_results", help="file stem of the table and plot (default perf_results)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs", help="directory for NAME.md and NAME.png (default docs/)"
    )
    args = parser.parse_args(argv)
    env_vars = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    if args.threads and any(os.environ.get(name) != str(args.threads) for name in env_vars):
        # thread pools are sized when NumPy/PyTorch load, so restart with the limits in the environment
        os.environ.update({name: str(args.threads) for name in env_vars})
        os.execv(sys.executable, [sys.executable, __file__, *(sys.argv[1:] if argv is None else argv)])

    networks = NETWORKS[:4] if args.quick else NETWORKS
    rounds = 5 if args.quick else args.rounds
    info = machine_info()
    print("machine:", json.dumps(info))
    rows = []
    for layers in networks:
        dc = derive_compile_stats(layers, 1 if args.quick else args.fresh_runs)
        if args.closed_forms_timeout > 0:
            dc["closed_forms"] = closed_form_time(layers, args.closed_forms_timeout)
        ev = eval_stats(layers, rounds, use_torch=not args.no_torch)
        r = row(layers, dc, ev)
        if args.closed_forms_timeout <= 0:
            del r["closed_forms_s"]
        r["closed_forms_timeout"] = args.closed_forms_timeout
        rows.append(r)
        torch_part = (
            f", PyTorch {r['torch_min_ms']:.3g} ms -> ratio {r['ratio_torch_min']:.2f}" if "torch_min_ms" in r else ""
        )
        print(
            f"{r['network']:>14} ({r['params']:>6,} params): derive {r['derive_s']:.3f} s, compile "
            f"{r['compile_s']:.3f} s (fresh process wall {r['fresh_wall_s']:.2f} s), peak traced "
            f"{r['peak_traced_mib']:.1f} MiB | gradient {r['gradient_min_ms']:.3g} ms (median "
            f"{r['gradient_median_ms']:.3g}), forward {r['forward_min_ms']:.3g} ms, NumPy backprop "
            f"{r['numpy_min_ms']:.3g} ms (median {r['numpy_median_ms']:.3g}) -> grad/NumPy "
            f"{r['ratio_numpy_min']:.2f} (median {r['ratio_numpy_median']:.2f}), grad/forward "
            f"{r['ratio_forward_min']:.2f}{torch_part}, closed forms {r.get('closed_forms_s', 'skipped')}",
            flush=True,
        )
    table = markdown_table(rows, info, rounds)
    print()
    print(table)
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.name}.md").write_text(table)
        raw = Path(__file__).with_name(f"{args.name}.json")
        raw.write_text(json.dumps({"machine": info, "rounds": rounds, "rows": rows}, indent=1) + "\n")
        if plot(rows, args.out / f"{args.name}.png"):
            print(f"wrote {args.out / (args.name + '.md')} and {args.out / (args.name + '.png')}")
        else:
            print(f"wrote {args.out / (args.name + '.md')} (matplotlib not installed: no plot)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
