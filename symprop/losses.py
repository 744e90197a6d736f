"""Each loss: its per-entry SymPy form, its normalisation, and stable fused forms, side by side.

With N samples, m outputs, prediction a and target y, the loss is ``scale(N, m) * sum(ell(a, y))``:

=============  ======================================  ===============
loss           ell(a, y)                               scale
=============  ======================================  ===============
mse            (a - y)^2                               1 / (N m)
sse (ssr)      (a - y)^2                               1
quadratic      (a - y)^2                               1 / (2 N)
bce            -(y log a + (1 - y) log(1 - a))         1 / (N m)
cross_entropy  -y log a                                1 / N
=============  ======================================  ===============

Fused output forms (used by compiled code and the reference for numerical stability; each is an
identity proved symbolically by the tests and by ``prove_backprop``):

* sigmoid + bce:   ell = softplus(z) - y z,            dell/dz = sigma(z) - y
* softmax + cross_entropy (per sample): ell = (sum_k y_k) logsumexp(z) - sum_k y_k z_k,
  dell/dz_j = a_j sum_k y_k - y_j, which is the familiar a - y *only when each target row sums to 1*.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

A = sp.Symbol("a", real=True)
Y = sp.Symbol("y", real=True)
N = sp.Symbol("N", positive=True, integer=True)
M = sp.Symbol("m", positive=True, integer=True)


@lru_cache(maxsize=None)
def element(loss: str) -> sp.Expr:
    """ell(a, y) for one prediction entry a and its target y."""
    if loss in ("mse", "sse", "quadratic"):
        return (A - Y) ** 2
    if loss == "bce":
        return -(Y * sp.log(A) + (1 - Y) * sp.log(1 - A))
    if loss == "cross_entropy":
        return -Y * sp.log(A)
    raise ValueError(f"unknown loss {loss!r}")


@lru_cache(maxsize=None)
def element_derivative(loss: str) -> sp.Expr:
    """d ell / d a."""
    return sp.diff(element(loss), A)


@lru_cache(maxsize=None)
def scale(loss: str) -> sp.Expr:
    """The normalisation in front of the double sum, as an expression of N and m."""
    return {
        "mse": 1 / (N * M),
        "sse": sp.S.One,
        "quadratic": 1 / (2 * N),
        "bce": 1 / (N * M),
        "cross_entropy": 1 / N,
    }[loss]


def scale_value(loss: str, n_samples: int, n_outputs: int) -> sp.Rational:
    return sp.Rational(scale(loss).subs({N: n_samples, M: n_outputs}))
