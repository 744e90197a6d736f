"""Shared test helpers (imported by test modules; pytest puts tests/ on sys.path)."""

from __future__ import annotations

import numpy as np

from symprop import Network


def random_targets(net: Network, n: int, rng: np.random.Generator) -> np.ndarray:
    """Valid random targets for the network's loss: probability rows for cross-entropy, [0, 1] for bce."""
    m = net.n_outputs
    if net.loss_name == "cross_entropy":
        return rng.dirichlet(np.ones(m), size=n)
    if net.loss_name == "bce":
        return rng.uniform(size=(n, m))
    return rng.normal(size=(n, m))
