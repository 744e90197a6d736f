"""Reference backprop: the four layer-wise equations in vectorised NumPy (imports no SymPy).

Every activation's forward value and its derivative sit side by side, written by hand (as in
micrograd), so this module is an independent check of the symbolic side. ``forward`` takes and
returns samples as rows: Z^{[l]} = A^{[l-1]} W^{[l]T} + b^{[l]}, which is z = W a + b for each
sample; the backward pass works on columns (one per sample), so that its named functions read as
the four equations and symprop.codeview can render them with latexify-py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .spec import Network, as_data, gradient_to_dict, parse_values

# ----------------------------------------------------------------------------- activations
# Each activation f(z) and its derivative f'(z) given z and a = f(z), as named functions that
# symprop.codeview renders with latexify-py. Kinks use the left derivative (relu'(0) = 0).


def identity(z):
    return z


def identity_prime(z, a):
    return np.ones_like(z)


def sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))  # = 1 / (1 + exp(-z)), without overflow for any z


def sigmoid_prime(z, a):
    return a * (1.0 - a)


def tanh(z):
    return np.tanh(z)


def tanh_prime(z, a):
    return 1.0 - a * a


def relu(z):
    return np.maximum(z, 0.0)


def relu_prime(z, a):
    return np.where(z > 0, 1.0, 0.0)


def leaky_relu(z, slope):
    return np.where(z > 0, z, slope * z)


def leaky_relu_prime(z, a, slope):
    return np.where(z > 0, 1.0, slope)


def softplus(z):
    return np.logaddexp(0.0, z)  # = log(1 + exp(z)), without overflow


def softplus_prime(z, a):
    return sigmoid(z)


def elu(z, alpha):
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def elu_prime(z, a, alpha):
    return np.where(z > 0, 1.0, a + alpha)


def silu(z):
    return z * sigmoid(z)


def silu_prime(z, a):
    return sigmoid(z) * (1.0 + z * (1.0 - sigmoid(z)))


def _without_param(f):
    return lambda z, p: f(z)


def _without_param_prime(f):
    return lambda z, a, p: f(z, a)


def _with_param(f):
    return lambda z, p: f(z, p)


def _with_param_prime(f):
    return lambda z, a, p: f(z, a, p)


# name -> (f(z, p), f'(z, a, p)); p is the activation's parameter (None when it has none)
ACTIVATIONS = {
    "identity": (_without_param(identity), _without_param_prime(identity_prime)),
    "sigmoid": (_without_param(sigmoid), _without_param_prime(sigmoid_prime)),
    "tanh": (_without_param(tanh), _without_param_prime(tanh_prime)),
    "relu": (_without_param(relu), _without_param_prime(relu_prime)),
    "leaky_relu": (_with_param(leaky_relu), _with_param_prime(leaky_relu_prime)),
    "softplus": (_without_param(softplus), _without_param_prime(softplus_prime)),
    "elu": (_with_param(elu), _with_param_prime(elu_prime)),
    "silu": (_without_param(silu), _without_param_prime(silu_prime)),
}


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- losses
# per-entry loss ell(a, y), its derivative d ell / d a, and the scale in front of the sum


def squared_error(a, y):
    return (a - y) ** 2


def squared_error_prime(a, y):
    return 2.0 * (a - y)


def mean_scale(n, m):
    return 1.0 / (n * m)


def sum_scale(n, m):
    return 1.0


def half_mean_scale(n, m):
    return 0.5 / n


def sample_mean_scale(n, m):
    return 1.0 / n


def bce_fused(z, y):
    return np.logaddexp(0.0, z) - y * z  # = -[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))]


# name -> (ell(a, y), d ell / d a, scale(N, m) without a reduction); bce and cross_entropy use fused forms
LOSSES = {
    "mse": (squared_error, squared_error_prime, mean_scale),
    "sse": (squared_error, squared_error_prime, sum_scale),
    "quadratic": (squared_error, squared_error_prime, half_mean_scale),
    "bce": (None, None, mean_scale),
    "cross_entropy": (None, None, sample_mean_scale),
}


def half_sum_scale(n, m):
    return 0.5


def half_entry_mean_scale(n, m):
    return 0.5 / (n * m)


# PyTorch's reduction="..." -> scale(N, m): "mean" averages the loss's elements (every a_ij; for
# cross-entropy one element per sample, as torch.nn.CrossEntropyLoss), "sum" adds them, "batchmean"
# averages over the N samples; quadratic keeps its 1/2 under each
REDUCTIONS = {"mean": mean_scale, "sum": sum_scale, "batchmean": sample_mean_scale}
HALF_REDUCTIONS = {"mean": half_entry_mean_scale, "sum": half_sum_scale, "batchmean": half_mean_scale}


def scale_function(net: Network):
    """scale(N, m) for this network's loss and reduction."""
    if net.loss_name == "quadratic":
        return HALF_REDUCTIONS[net.reduction]
    if net.loss_name == "cross_entropy" and net.reduction == "mean":
        return sample_mean_scale
    return REDUCTIONS[net.reduction]


def loss_scale(net: Network, n, m):
    """The factor in front of sum(ell) for this network's loss and reduction."""
    return scale_function(net)(n, m)


# ----------------------------------------------------------------------------- the four equations
# Column form, one column per sample: z = W a + b for every column at once.


def output_delta(grad_a, fprime_out):
    return grad_a * fprime_out  # (1) delta^{[L]} = grad_a C (.) f'(z^{[L]})


def sigmoid_bce_delta(a, y):
    return a - y  # (1) for a sigmoid output with bce: the product simplifies


def softmax_cross_entropy_delta(a, y):
    return a * y.sum(axis=0) - y  # (1) for softmax with cross-entropy: a - y when each target sums to 1


def softmax_output_delta(a, grad_a):
    return a * (grad_a - (grad_a * a).sum(axis=0))  # (1) the softmax Jacobian applied to grad_a


def hidden_delta(W_next, delta_next, fprime_z):
    return (W_next.T @ delta_next) * fprime_z  # (2) delta^{[l]} = (W^{[l+1]})^T delta^{[l+1]} (.) f'(z^{[l]})


def weight_gradient(delta, a_prev):
    return delta @ a_prev.T  # (3) dC/dW^{[l]} = delta^{[l]} (a^{[l-1]})^T, summed over the columns


def bias_gradient(delta):
    return delta.sum(axis=1)  # (4) dC/db^{[l]} = delta^{[l]}, summed over the columns


def l2_penalty(weights, lam):
    return lam * sum(np.sum(W * W) for W in weights)  # lam * sum(W**2) over every weight entry


def l2_gradient(W, lam):
    return 2.0 * lam * W  # d/dW of lam * sum(W**2)


def tied_gradient(entry_grads):
    return sum(entry_grads)  # a shared parameter: the sum of the derivatives over its uses


def update(theta, grad, lr):
    return theta - lr * grad  # gradient descent: theta_new = theta - alpha dL/dtheta


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
    scale = loss_scale(net, n, m)
    z, a = Zs[-1], As[-1]
    if net.loss_name == "bce":
        ell = bce_fused(z, Y)
    elif net.loss_name == "cross_entropy":
        top = z.max(axis=1, keepdims=True)
        log_a = z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))
        ell = -Y * log_a
    else:
        ell = LOSSES[net.loss_name][0](a, Y)
    return float(scale * ell.sum() + l2_penalty(weights, float(net.l2)))


def backprop_arrays(net: Network, weights, biases, X, Y) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(dC/dW^{[l]}, dC/db^{[l]}) for l = 1..L, by the four equations (samples as columns), with
    2 lam W added for l2; one derivative per weight/bias entry (ties are summed by ``backprop``)."""
    Zs, As = forward(net, weights, biases, X)
    n, m = Y.shape
    scale = loss_scale(net, n, m)
    L = net.depth
    Z = [None if z is None else z.T for z in Zs]
    A = [a.T for a in As]
    y = Y.T

    if net.loss_name == "bce":  # with a sigmoid output the product simplifies to a - y
        delta = sigmoid_bce_delta(A[L], y)
    elif net.loss_name == "cross_entropy":  # softmax output: a * sum(y) - y (= a - y when columns sum to 1)
        delta = softmax_cross_entropy_delta(A[L], y)
    else:
        grad_a = LOSSES[net.loss_name][1](A[L], y)
        if net.output.name == "softmax":
            delta = softmax_output_delta(A[L], grad_a)
        else:
            delta = output_delta(grad_a, ACTIVATIONS[net.output.name][1](Z[L], A[L], _param(net.output)))
    delta = delta * scale

    grad_w: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    grad_b: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    for l in range(L, 0, -1):
        grad_w[l - 1] = weight_gradient(delta, A[l - 1])
        if net.l2:
            grad_w[l - 1] = grad_w[l - 1] + l2_gradient(weights[l - 1], float(net.l2))
        grad_b[l - 1] = bias_gradient(delta)
        if l > 1:
            act = net.activations[l - 2]
            delta = hidden_delta(weights[l - 1], delta, ACTIVATIONS[act.name][1](Z[l - 1], A[l - 1], _param(act)))
    return grad_w, grad_b


def backprop(net: Network, values: Any, X: Any, Y: Any) -> dict[str, float]:
    """dict parameter name -> dC/dparam, by reference backprop in NumPy (a tied parameter: the sum over
    the entries it fills)."""
    weights, biases = parse_values(net, values)
    X, Y = as_data(net, X, Y)
    grad_w, grad_b = backprop_arrays(net, weights, biases, X, Y)
    if not net.tie:
        return gradient_to_dict(net, grad_w, grad_b)
    out = {}
    for name in net.param_names:
        entries = net.slots(name)
        out[name] = float(tied_gradient([(grad_w if e.kind == "w" else grad_b)[e.layer - 1][e.index] for e in entries]))
    return out
