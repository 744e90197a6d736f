"""``python -m symprop``: the command line (see symprop.cli)."""

from __future__ import annotations

import sys


def _seed_002() -> int:
    """Print the worked example of seed 002: network, loss and the exact dSSR/db3 at b3 = 0."""
    import sympy as sp

    from .examples import SEED_002 as ex

    net = ex.network
    b3 = net.param("b3")
    fixed = {k: v for k, v in ex.values.items() if k != "b3"}
    print(f"network: {net!r}")
    print("parameters:", ", ".join(p.name for p in net.parameters))
    print(f"data: x = {list(ex.X)}, y = {list(ex.Y)}")
    print("\nprediction as a closed form of every parameter:")
    print(f"  {sp.sstr(net.predict([[ex.X[0]]])[0])}   (at x = {ex.X[0]})")
    print("\nSSR as a function of b3 (all other parameters fixed):")
    loss = net.loss(ex.X, ex.Y, fix=fixed)
    print(f"  SSR(b3) = {sp.sstr(loss)}")
    d = net.derivative("b3", ex.X, ex.Y, fix=fixed)
    print(f"  dSSR/db3 = {sp.sstr(d)}")
    slope = float(d.subs(b3, 0))
    print(f"\nat b3 = 0: SSR = {float(loss.subs(b3, 0)):.4f}, dSSR/db3 = {slope:.4f}")
    print(f"step size = slope x learning rate = {slope * ex.lr:.4f}; new b3 = {-slope * ex.lr:.4f}")
    return 0


def main() -> int:
    try:
        from .cli import main as cli_main
    except ImportError:
        return _seed_002()
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
