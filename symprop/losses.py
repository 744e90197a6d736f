"""Each loss: its per-entry SymPy form, its normalisation, and stable fused forms, side by side.

With N samples, m outputs, prediction a and target y, the loss is ``scale(N, m) * sum(ell(a, y))``:

=============  ======================================  ===============  ==========  =====  =========
loss           ell(a, y)                               default scale    mean        sum    batchmean
=============  ======================================  ===============  ==========  =====  =========
mse            (a - y)^2                               1 / (N m)        1 / (N m)   1      1 / N
sse (ssr)      (a - y)^2                               1                1 / (N m)   1      1 / N
quadratic      (a - y)^2                               1 / (2 N)        1 / (2N m)  1 / 2  1 / (2N)
bce            -(y log a + (1 - y) log(1 - a))         1 / (N m)        1 / (N m)   1      1 / N
cross_entropy  -y log a                                1 / N            1 / N       1      1 / N
=============  ======================================  ===============  ==========  =====  =========

The reductions are PyTorch's (``Network(..., reduction=...)``): "mean" divides by the number of loss
elements, which is N m, except for cross_entropy whose element is one sample's sum over the classes
(torch.nn.CrossEntropyLoss divides by N); "sum" does not divide; "batchmean" divides by N. quadratic
keeps its 1/2 under every reduction. See docs/losses.md.

Fused output forms (used by compiled code and the reference for numerical stability; each is an
identity proved symbolically by the tests and by ``prove_backprop``):

* sigmoid + bce:   ell = softplus(z) - y z,            dell/dz = sigma(z) - y
* softmax + cross_entropy (per sample): ell = (sum_k y_k) logsumexp(z) - sum_k y_k z_k,
  dell/dz_j = a_j sum_k y_k - y_j, which is the familiar a - y *only when each target row sums to 1*.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import sympy as sp

from .spec import HALVED, Network, loss_scale, parse_reduction

A = sp.Symbol("a", real=True)
Y = sp.Symbol("y", real=True)
N = sp.Symbol("N", positive=True, integer=True)
M = sp.Symbol("m", positive=True, integer=True)


@cache
def element(loss: str) -> sp.Expr:
    """ell(a, y) for one prediction entry a and its target y."""
    if loss in ("mse", "sse", "quadratic"):
        return (A - Y) ** 2
    if loss == "bce":
        return -(Y * sp.log(A) + (1 - Y) * sp.log(1 - A))
    if loss == "cross_entropy":
        return -Y * sp.log(A)
    raise ValueError(f"unknown loss {loss!r}")


@cache
def element_derivative(loss: str) -> sp.Expr:
    """d ell / d a."""
    return sp.diff(element(loss), A)


@cache
def scale(loss: Any, reduction: str | None = None) -> sp.Expr:
    """The normalisation in front of the double sum, as an expression of N and m.

    ``loss`` is a loss name (with ``reduction``; None = the name's own definition) or a Network.
    """
    loss, reduction = _loss_and_reduction(loss, reduction)
    half = sp.Rational(1, 2) if loss in HALVED else sp.S.One
    if reduction == "sum":
        return half
    if reduction == "batchmean" or loss == "cross_entropy":
        return half / N
    return half / (N * M)


def scale_value(loss: Any, n_samples: int, n_outputs: int | None = None, reduction: str | None = None) -> sp.Rational:
    """The scale for N = ``n_samples`` (and m = ``n_outputs``, taken from the network when one is given)."""
    if isinstance(loss, Network):
        n_outputs = loss.n_outputs if n_outputs is None else n_outputs
    loss, reduction = _loss_and_reduction(loss, reduction)
    q = loss_scale(loss, reduction, n_samples, n_outputs)
    return sp.Rational(q.numerator, q.denominator)


def _loss_and_reduction(loss: Any, reduction: str | None) -> tuple[str, str]:
    if isinstance(loss, Network):
        return loss.loss_name, loss.reduction if reduction is None else reduction
    return loss, parse_reduction(reduction, loss)
