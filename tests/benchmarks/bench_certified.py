"""Issue 16 benchmark: the certified exact oracle (symprop.certified) against the former 50-digit SymPy pass
and the float64 compiled program, all measured in this run.

Run from the repository root::

    PYTHONPATH=$PWD python tests/benchmarks/bench_certified.py           # the full table (about a minute)
    PYTHONPATH=$PWD python tests/benchmarks/bench_certified.py --quick   # the headline case only

It prints, for 8-32-32-4 tanh / identity / mse with N = 64 (P x N = 94,464):

* the former oracle (the symbolic reverse pass of chainrule on SymPy Floats of 50 digits plus what
  saturation cancels; copied below as ``old_oracle``, since it left symprop), the certified pass, and
  the compiled float64 gradient ``net.compile().gradient``, with the ratios old / new (target >= 100) and
  new / float64 (target <= 25);
* how the certified pass grows with P x N up to 10^6 (more samples, wider layers) and with depth.

Every run first checks that the certified values equal the old oracle's bit for bit (headline case).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import sympy as sp

from symprop import Network, reference
from symprop.certified import certified_gradient
from symprop.spec import arrays_to_dict


def old_oracle(net: Network, weights, biases, X, Y, base: int = 50) -> dict[str, float]:
    """The exact oracle before issue 16 (verification.exact_gradient): 50 digits + saturation digits."""
    from symprop.chainrule import combine, reverse_sample
    from symprop.graph import parameter_symbols, weight_matrices

    Zs, _ = reference.forward(net, weights, biases, X)
    dps = base + int(math.ceil(2 * max(float(np.max(np.abs(z))) for z in Zs[1:]) / math.log(10)))

    def big(v):
        return sp.Float(float(v), dps)

    values = [big(v) for v in arrays_to_dict(net, weights, biases).values()]
    W, b = weight_matrices(net, dict(zip(parameter_symbols(net), values)))
    sums = {p.name: sp.S.Zero for p in net.param_infos}
    for x, y in zip(X, Y):
        _, As, deltas = reverse_sample(net, [big(v) for v in x], [big(v) for v in y], W, b)
        for p in net.param_infos:
            d = deltas[p.layer][p.row]
            sums[p.name] += d if p.kind == "b" else d * As[p.layer - 1][p.col]
    return {k: float(v) for k, v in combine(net, sums, X.shape[0], W, dps=dps).items()}


def problem(layers, n, seed=0, hidden="tanh"):
    rng = np.random.default_rng(seed)
    net = Network(layers, hidden=hidden, output="identity", loss="mse")
    W = [rng.normal(0, 1 / math.sqrt(s[1]), s) for s in net.weight_shapes()]
    b = [rng.normal(0, 0.1, s[0]) for s in net.weight_shapes()]
    X, Y = rng.normal(size=(n, layers[0])), rng.normal(size=(n, layers[-1]))
    return net, (W, b), X, Y


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def headline(repeat: int) -> None:
    net, values, X, Y = problem([8, 32, 32, 4], 64)
    print(f"{net!r}, N = 64: P x N = {net.n_params * 64:,}")
    certified_gradient(net, values, X, Y)  # warm-up: prints the arb code of each element-wise form once
    compiled = net.compile()
    compiled.gradient(values, X, Y)
    t_old = best(lambda: old_oracle(net, *values, X, Y), 1)
    new = certified_gradient(net, values, X, Y)
    assert new == old_oracle(net, *values, X, Y), "certified and old oracle disagree"
    t_new = best(lambda: certified_gradient(net, values, X, Y), repeat)
    t_f64 = best(lambda: compiled.gradient(values, X, Y), repeat * 5)
    print(f"  old 50-digit SymPy pass   {t_old * 1e3:9.1f} ms")
    print(
        f"  certified (arb, {new.prec} bits) {t_new * 1e3:9.1f} ms   old / new = {t_old / t_new:6.0f}x  (target >= 100x)"
    )
    print(f"  float64 compiled program  {t_f64 * 1e3:9.2f} ms   new / float64 = {t_new / t_f64:5.1f}x  (target <= 25x)")
    print(
        f"  all {len(new)} entries certified to the last float64 bit: {new.all_certified}; "
        f"largest radius {max(new.radius.values()):.1e}"
    )


def growth(repeat: int) -> None:
    print("\ngrowth with P x N (tanh, identity output, mse)")
    print(
        f"  {'network':<30} {'N':>6} {'P x N':>10} {'certified s':>12} {'float64 s':>10} {'ratio':>6} {'us/(P N)':>9}"
    )
    cases = [
        ([8, 32, 32, 4], 64),
        ([8, 32, 32, 4], 256),
        ([8, 32, 32, 4], 677),
        ([8, 64, 64, 4], 200),
        ([8, 128, 128, 4], 55),
        ([8, 32, 32, 32, 32, 4], 64),
        ([8, 32, 32, 32, 32, 32, 32, 4], 64),
        ([8, 32, 32, 32, 32, 32, 32, 4], 150),
    ]
    for layers, n in cases:
        net, values, X, Y = problem(layers, n)
        compiled = net.compile()
        t_new = best(lambda: certified_gradient(net, values, X, Y), repeat)
        t_f64 = best(lambda: compiled.gradient(values, X, Y), repeat * 3)
        work = net.n_params * n
        print(
            f"  {'-'.join(map(str, layers)):<30} {n:>6} {work:>10,} {t_new:>12.3f} {t_f64:>10.4f} {t_new / t_f64:>6.1f} "
            f"{t_new / work * 1e6:>9.3f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    headline(args.repeat)
    if not args.quick:
        growth(max(1, args.repeat // 2))
