"""Reference backprop: the four layer-wise equations in vectorised NumPy (imports no SymPy).

Every activation's forward value and its derivative sit side by side, written by hand (as in
micrograd), so this module is an independent check of the symbolic side. Samples are rows:
Z^{[l]} = A^{[l-1]} W^{[l]T} + b^{[l]}, which is z = W a + b for each sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .spec import Network, arrays_to_dict, as_data, parse_values


# ----------------------------------------------------------------------------- activations
# name -> (f(z), f'(z) given z and a = f(z)); kinks use the left derivative (relu'(0) = 0).

def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def _elu(z, alpha):
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


ACTIVATIONS = {
    "identity": (lambda z, p: z, lambda z, a, p: np.ones_like(z)),
    "sigmoid": (lambda z, p: _sigmoid(z), lambda z, a, p: a * (1.0 - a)),
    "tanh": (lambda z, p: np.tanh(z), lambda z, a, p: 1.0 - a * a),
    "relu": (lambda z, p: np.maximum(z, 0.0), lambda z, a, p: (z > 0).astype(float)),
    "leaky_relu": (lambda z, p: np.where(z > 0, z, p * z), lambda z, a, p: np.where(z > 0, 1.0, p)),
    "softplus": (lambda z, p: np.logaddexp(0.0, z), lambda z, a, p: _sigmoid(z)),
    "elu": (lambda z, p: _elu(z, p), lambda z, a, p: np.where(z > 0, 1.0, a + p)),
    "silu": (lambda z, p: z * _sigmoid(z), lambda z, a, p: _sigmoid(z) * (1.0 + z * (1.0 - _sigmoid(z)))),
}


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- losses
# name -> (per-entry loss ell(a, y), d ell / d a, scale(N, m))

LOSSES = {
    "mse": (lambda a, y: (a - y) ** 2, lambda a, y: 2.0 * (a - y), lambda n, m: 1.0 / (n * m)),
    "sse": (lambda a, y: (a - y) ** 2, lambda a, y: 2.0 * (a - y), lambda n, m: 1.0),
    "quadratic": (lambda a, y: (a - y) ** 2, lambda a, y: 2.0 * (a - y), lambda n, m: 0.5 / n),
    "bce": (None, None, lambda n, m: 1.0 / (n * m)),
    "cross_entropy": (None, None, lambda n, m: 1.0 / n),
}


def _param(act) -> float | None:
    return None if act.param is None else float(act.param)


def forward(net: Network, weights, biases, X) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Z[l], A[l] for l = 0..L (Z[0] is None, A[0] = X)."""
    Zs, As = [None], [X]
    for l, act in enumerate(net.activations):
        z = As[-1] @ weights[l].T + biases[l]
        a = _softmax(z) if act.name == "softmax" else ACTIVATIONS[act.name][0](z, _param(act))
        Zs.append(z)
        As.append(a)
    return Zs, As


def loss_value(net: Network, values: Any, X: Any, Y: Any) -> float:
    """The loss, computed stably (fused log forms for bce and cross-entropy)."""
    weights, biases = parse_values(net, values)
    X, Y = as_data(net, X, Y)
    Zs, As = forward(net, weights, biases, X)
    n, m = Y.shape
    scale = LOSSES[net.loss_name][2](n, m)
    z, a = Zs[-1], As[-1]
    if net.loss_name == "bce":
        ell = np.logaddexp(0.0, z) - Y * z  # -[y log s(z) + (1-y) log(1-s(z))]
    elif net.loss_name == "cross_entropy":
        top = z.max(axis=1, keepdims=True)
        log_a = z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))
        ell = -Y * log_a
    else:
        ell = LOSSES[net.loss_name][0](a, Y)
    return float(scale * ell.sum())


def backprop_arrays(net: Network, weights, biases, X, Y) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(dC/dW^{[l]}, dC/db^{[l]}) for l = 1..L, by the four equations."""
    Zs, As = forward(net, weights, biases, X)
    n, m = Y.shape
    scale = LOSSES[net.loss_name][2](n, m)
    L = net.depth
    z, a = Zs[L], As[L]

    # (1) output delta: delta^{[L]} = dC/da^{[L]} (.) f'(z^{[L]})
    if net.loss_name == "bce":  # with a sigmoid output the product simplifies to a - y
        delta = a - Y
    elif net.loss_name == "cross_entropy":  # softmax output: a * sum(y) - y (= a - y when rows sum to 1)
        delta = a * Y.sum(axis=1, keepdims=True) - Y
    else:
        g = LOSSES[net.loss_name][1](a, Y)
        if net.output.name == "softmax":  # Jacobian-vector product of softmax
            delta = a * (g - (g * a).sum(axis=1, keepdims=True))
        else:
            delta = g * ACTIVATIONS[net.output.name][1](z, a, _param(net.output))
    delta = delta * scale

    grad_w: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    grad_b: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    for l in range(L, 0, -1):
        # (3) dC/dW^{[l]} = delta^{[l]} (a^{[l-1]})^T, summed over samples; (4) dC/db^{[l]} = delta^{[l]}
        grad_w[l - 1] = delta.T @ As[l - 1]
        grad_b[l - 1] = delta.sum(axis=0)
        if l > 1:
            # (2) hidden delta: delta^{[l-1]} = (W^{[l]})^T delta^{[l]} (.) f'(z^{[l-1]})
            act = net.activations[l - 2]
            delta = (delta @ weights[l - 1]) * ACTIVATIONS[act.name][1](Zs[l - 1], As[l - 1], _param(act))
    return grad_w, grad_b


def backprop(net: Network, values: Any, X: Any, Y: Any) -> dict[str, float]:
    """dict parameter name -> dC/dparam, by reference backprop in NumPy."""
    weights, biases = parse_values(net, values)
    X, Y = as_data(net, X, Y)
    grad_w, grad_b = backprop_arrays(net, weights, biases, X, Y)
    return arrays_to_dict(net, grad_w, grad_b)
