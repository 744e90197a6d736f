"""Hand-written NumPy backprop for a 3-4-4-2 tanh/sigmoid/sigmoid MSE network, with classic mistakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symprop import Network

# Non-square first layer (4x3) so that a missing transpose changes shapes; a square middle layer
# (4x4) so that a missing transpose or a wrong layer there changes values only.
NET = Network([3, 4, 4, 2], hidden=["tanh", "sigmoid"], output="sigmoid", loss="mse")


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def forward(W, b, X):
    """Rows are samples: Z = A W^T + b."""
    Z1 = X @ W[0].T + b[0]
    A1 = np.tanh(Z1)
    Z2 = A1 @ W[1].T + b[1]
    A2 = sigmoid(Z2)
    Z3 = A2 @ W[2].T + b[2]
    A3 = sigmoid(Z3)
    return Z1, A1, Z2, A2, Z3, A3


def correct(W, b, X, Y):
    """The four equations; MSE = sum((a - y)^2) / (N m)."""
    Z1, A1, Z2, A2, Z3, A3 = forward(W, b, X)
    n, m = Y.shape
    D3 = 2 * (A3 - Y) / (n * m) * A3 * (1 - A3)
    D2 = (D3 @ W[2]) * A2 * (1 - A2)
    D1 = (D2 @ W[1]) * (1 - A1**2)
    return [D1.T @ X, D2.T @ A1, D3.T @ A2], [D1.sum(0), D2.sum(0), D3.sum(0)]


def _backward(W, X, A1, A2, D3, hidden2=None, hidden1=None):
    """The correct hidden deltas and gradients from a given output delta (used by output mistakes)."""
    D2 = (D3 @ W[2]) * (A2 * (1 - A2) if hidden2 is None else hidden2)
    D1 = (D2 @ W[1]) * ((1 - A1**2) if hidden1 is None else hidden1)
    return [D1.T @ X, D2.T @ A1, D3.T @ A2], [D1.sum(0), D2.sum(0), D3.sum(0)]


def sign_flipped(W, b, X, Y):
    """Error written y - a instead of a - y."""
    _, A1, _, A2, _, A3 = forward(W, b, X)
    n, m = Y.shape
    return _backward(W, X, A1, A2, 2 * (Y - A3) / (n * m) * A3 * (1 - A3))


def missing_output_derivative(W, b, X, Y):
    """delta^L = dC/da, forgetting sigma'(z^L)."""
    _, A1, _, A2, _, A3 = forward(W, b, X)
    n, m = Y.shape
    return _backward(W, X, A1, A2, 2 * (A3 - Y) / (n * m))


def missing_hidden_derivative(W, b, X, Y):
    """delta^2 = W^T delta^3, forgetting sigma'(z^2)."""
    _, A1, _, A2, _, A3 = forward(W, b, X)
    n, m = Y.shape
    return _backward(W, X, A1, A2, 2 * (A3 - Y) / (n * m) * A3 * (1 - A3), hidden2=1.0)


def derivative_at_a(W, b, X, Y):
    """sigma'(a^2) instead of sigma'(z^2): sigma(a)(1 - sigma(a))."""
    _, A1, _, A2, _, A3 = forward(W, b, X)
    n, m = Y.shape
    s = sigmoid(A2)
    return _backward(W, X, A1, A2, 2 * (A3 - Y) / (n * m) * A3 * (1 - A3), hidden2=s * (1 - s))


def tanh_derivative_from_z(W, b, X, Y):
    """tanh'(z) written 1 - z^2 instead of 1 - tanh(z)^2."""
    Z1, A1, _, A2, _, A3 = forward(W, b, X)
    n, m = Y.shape
    return _backward(W, X, A1, A2, 2 * (A3 - Y) / (n * m) * A3 * (1 - A3), hidden1=1 - Z1**2)


def weight_gradient_transposed(W, b, X, Y):
    """dC/dW^1 = a^0 delta^T: the (3, 4) transpose of the (4, 3) gradient."""
    gw, gb = correct(W, b, X, Y)
    return [gw[0].T, gw[1], gw[2]], gb


def hidden_delta_transpose_missing(W, b, X, Y):
    """delta^1 = W^2 delta^2 instead of (W^2)^T delta^2 (square W^2, so it runs)."""
    _, A1, _, A2, _, A3 = forward(W, b, X)
    n, m = Y.shape
    D3 = 2 * (A3 - Y) / (n * m) * A3 * (1 - A3)
    D2 = (D3 @ W[2]) * A2 * (1 - A2)
    D1 = (D2 @ W[1].T) * (1 - A1**2)
    return [D1.T @ X, D2.T @ A1, D3.T @ A2], [D1.sum(0), D2.sum(0), D3.sum(0)]


def bias_first_sample_only(W, b, X, Y):
    """dC/db = delta of the first sample, not summed over the batch."""
    gw, _ = correct(W, b, X, Y)
    _, A1, _, A2, _, A3 = forward(W, b, X)
    n, m = Y.shape
    D3 = 2 * (A3 - Y) / (n * m) * A3 * (1 - A3)
    D2 = (D3 @ W[2]) * A2 * (1 - A2)
    D1 = (D2 @ W[1]) * (1 - A1**2)
    return gw, [D1[0], D2[0], D3[0]]


def bias_mean_not_sum(W, b, X, Y):
    """dC/db averaged over the batch although the 1/N is already in delta."""
    gw, gb = correct(W, b, X, Y)
    return gw, [g / X.shape[0] for g in gb]


def sum_instead_of_mean(W, b, X, Y):
    """The gradient of the summed squared error, not of the mean."""
    gw, gb = correct(W, b, X, Y)
    n, m = Y.shape
    return [g * (n * m) for g in gw], [g * (n * m) for g in gb]


def mean_over_samples_only(W, b, X, Y):
    """Divided by N but not by the m outputs."""
    gw, gb = correct(W, b, X, Y)
    m = Y.shape[1]
    return [g * m for g in gw], [g * m for g in gb]


def dropped_factor_two(W, b, X, Y):
    """d(a - y)^2 / da written (a - y): off by the loss's factor 2."""
    _, A1, _, A2, _, A3 = forward(W, b, X)
    n, m = Y.shape
    return _backward(W, X, A1, A2, (A3 - Y) / (n * m) * A3 * (1 - A3))


def wrong_layer_activation(W, b, X, Y):
    """dC/dW^2 = delta^2 (a^2)^T instead of delta^2 (a^1)^T (same 4x4 shape)."""
    gw, gb = correct(W, b, X, Y)
    _, _, _, A2, _, A3 = forward(W, b, X)
    n, m = Y.shape
    D3 = 2 * (A3 - Y) / (n * m) * A3 * (1 - A3)
    D2 = (D3 @ W[2]) * A2 * (1 - A2)
    return [gw[0], D2.T @ A2, gw[2]], gb


def last_sample_only(W, b, X, Y):
    """A per-sample loop that overwrites the gradient instead of accumulating it."""
    n = X.shape[0]
    for i in range(n):
        gw, gb = correct(W, b, X[i : i + 1], Y[i : i + 1])
    return [g / n for g in gw], [g / n for g in gb]


@dataclass(frozen=True)
class Mistake:
    fn: Callable
    #: (kind, 1-based layer) pairs whose parameters are wrong
    wrong: frozenset[tuple[str, int]]
    #: text the failure message must contain (besides the parameter names)
    says: str = "parameters mismatched"


ALL = frozenset((k, l) for k in "wb" for l in (1, 2, 3))
BIASES = frozenset(("b", l) for l in (1, 2, 3))

CATALOG: dict[str, Mistake] = {
    "sign_flipped": Mistake(sign_flipped, ALL),
    "missing_output_derivative": Mistake(missing_output_derivative, ALL),
    "missing_hidden_derivative": Mistake(
        missing_hidden_derivative, frozenset({("w", 1), ("b", 1), ("w", 2), ("b", 2)})
    ),
    "derivative_at_a": Mistake(derivative_at_a, frozenset({("w", 1), ("b", 1), ("w", 2), ("b", 2)})),
    "tanh_derivative_from_z": Mistake(tanh_derivative_from_z, frozenset({("w", 1), ("b", 1)})),
    "weight_gradient_transposed": Mistake(weight_gradient_transposed, frozenset({("w", 1)}), "transposed"),
    "hidden_delta_transpose_missing": Mistake(hidden_delta_transpose_missing, frozenset({("w", 1), ("b", 1)})),
    "bias_first_sample_only": Mistake(bias_first_sample_only, BIASES),
    "bias_mean_not_sum": Mistake(bias_mean_not_sum, BIASES),
    "sum_instead_of_mean": Mistake(sum_instead_of_mean, ALL),
    "mean_over_samples_only": Mistake(mean_over_samples_only, ALL),
    "dropped_factor_two": Mistake(dropped_factor_two, ALL),
    "wrong_layer_activation": Mistake(wrong_layer_activation, frozenset({("w", 2)})),
    "last_sample_only": Mistake(last_sample_only, ALL),
}


def problem(seed: int = 0):
    """Parameter values (weights, biases) and a batch of 5 samples."""
    rng = np.random.default_rng(seed)
    W = [rng.normal(0, 0.8, s) for s in NET.weight_shapes()]
    b = [rng.normal(0, 0.5, s[0]) for s in NET.weight_shapes()]
    X = rng.normal(0, 1, (5, 3))
    Y = rng.uniform(0, 1, (5, 2))
    return (W, b), X, Y


def wrong_names(mistake: Mistake) -> set[str]:
    return {p.name for p in NET.param_infos if (p.kind, p.layer) in mistake.wrong}
