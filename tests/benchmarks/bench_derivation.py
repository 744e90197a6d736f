"""Benchmark: building the derivation of a 4-8-8-3 network (target: under 2 s). Run on demand:

    PYTHONPATH=. python tests/benchmarks/bench_derivation.py

Prints the time of each stage against the time of the reference backprop on the same data (measured in
the same run), so the ratios are comparable across machines. Not a timed test.
"""

from __future__ import annotations

import time

import numpy as np

from symprop import Network, reference
from symprop.derivation import derive


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    net = Network([4, 8, 8, 3], hidden="tanh", output="softmax", loss="cross_entropy")
    values = {n: float(rng.normal(scale=0.5)) for n in net.param_names}
    X = rng.normal(size=(5, 4))
    Y = np.eye(3)[rng.integers(0, 3, size=5)]
    base = best_of(lambda: reference.backprop(net, values, X, Y))
    rows = [
        ("derive, every parameter", lambda: derive(net, None, values, X, Y, lr=0.1)),
        ("derive, a first-layer weight", lambda: derive(net, "w1_1_1", values, X, Y, lr=0.1)),
        ("derive + LaTeX + Markdown + HTML", lambda: _render(derive(net, "w1_1_1", values, X, Y, lr=0.1))),
    ]
    print(f"network {net.layers}, {net.n_params} parameters, {len(X)} samples")
    print(f"reference backprop: {base * 1e3:.2f} ms")
    for label, fn in rows:
        t = best_of(fn)
        verdict = "ok" if t < 2.0 else "SLOWER THAN 2 s"
        print(f"{label:36s} {t:7.3f} s  ({t / base:8.0f} x reference)  {verdict}")


def _render(d) -> None:
    d.to_latex_document()
    d.to_markdown()
    d.to_html()


if __name__ == "__main__":
    main()
