"""The numbers a derivation shows, from the reference backprop (symprop.reference, plain NumPy).

Per sample n: z^{[l](n)}, a^{[l](n)} (reference.forward), every local factor of the chain rule
(the activation's own f', the loss's own d ell / d a), the deltas delta^{[l](n)} = dC^{(n)}/dz^{[l]}
by the four equations, and the gradient of the loss: scale * sum_n. The tests check all of it against
the compiled gradient (a second, independent method).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import losses, reference
from ..spec import Network, as_data, gradient_to_dict, parse_values


@dataclass(frozen=True)
class Numbers:
    """Everything numeric about one network at one point, samples as rows (index n)."""

    net: Network
    X: np.ndarray  # (N, n_0)
    Y: np.ndarray  # (N, m)
    weights: tuple  # W^{[l]} (n_l, n_{l-1}) for l = 1..L
    biases: tuple  # b^{[l]} (n_l,)
    Z: tuple  # Z[l] (N, n_l), Z[0] None
    A: tuple  # A[l] (N, n_l), A[0] = X
    fprime: tuple  # f'(z^{[l]}) (N, n_l) for element-wise layers, None for softmax and l = 0
    dC_da: np.ndarray | None  # (N, m): d C^{(n)} / d a^{[L]} (None when the output stage is fused)
    deltas: tuple  # delta^{[l](n)} = dC^{(n)}/dz^{[l]} (N, n_l), deltas[0] None
    scale: float
    l2: float = 0.0  # the network's lam of lam * sum(W**2) over every weight entry

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    def costs(self) -> np.ndarray:
        """C^{(n)}: the cost of each sample (the sum of its per-entry losses, no scale)."""
        net, z, a, y = self.net, self.Z[-1], self.A[-1], self.Y
        if net.loss_name == "bce":
            ell = reference.bce_fused(z, y)
        elif net.loss_name == "cross_entropy":
            top = z.max(axis=1, keepdims=True)
            ell = -y * (z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True)))
        else:
            ell = reference.LOSSES[net.loss_name][0](a, y)
        return ell.sum(axis=1)

    def data_loss(self) -> float:
        """scale * sum_n C^{(n)}: the loss without the l2 penalty."""
        return float(self.scale * self.costs().sum())

    def penalty(self) -> float:
        """lam * sum(W**2) over every weight entry of every layer (0 without l2)."""
        return float(reference.l2_penalty(self.weights, self.l2)) if self.l2 else 0.0

    def loss(self) -> float:
        return self.data_loss() + self.penalty()

    def data_gradients(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """scale sum_n delta^{(n)} a^{[l-1](n)T} and scale sum_n delta^{(n)}: the data term per entry."""
        gw, gb = [], []
        for l in range(1, self.net.depth + 1):
            D = self.deltas[l].T  # columns are samples, as in reference
            gw.append(self.scale * reference.weight_gradient(D, self.A[l - 1].T))
            gb.append(self.scale * reference.bias_gradient(D))
        return gw, gb

    def gradients(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """dL/dW^{[l]} = scale sum_n delta^{(n)} a^{[l-1](n)T} + 2 lam W^{[l]} and dL/db^{[l]} = scale
        sum_n delta^{(n)}, per weight/bias *entry* (a tied parameter's entries are summed by ``gradient``)."""
        gw, gb = self.data_gradients()
        if self.l2:
            gw = [g + reference.l2_gradient(W, self.l2) for g, W in zip(gw, self.weights)]
        return gw, gb

    def gradient(self) -> dict[str, float]:
        """Parameter name -> dL/dparam; a tied parameter's is the sum over the entries it fills."""
        gw, gb = self.gradients()
        return gradient_to_dict(self.net, gw, gb)

    def entry(self, name: str) -> float:
        """The value of one weight/bias entry (by its entry name)."""
        info = self.net.info(name)
        if info.kind == "b":
            return float(self.biases[info.layer - 1][info.row])
        return float(self.weights[info.layer - 1][info.row, info.col])

    def value(self, name: str) -> float:
        """The value of a parameter (a tied one's is the value of each entry it fills)."""
        return self.entry(self.net.slots(name)[0].name)


def _param(act: Any) -> float | None:
    return None if act.param is None else float(act.param)


def numbers(net: Network, values: Any, X: Any, Y: Any) -> Numbers:
    """The forward pass and the per-sample backward pass by the four equations (reference functions)."""
    weights, biases = parse_values(net, values)
    X, Y = as_data(net, X, Y)
    Zs, As = reference.forward(net, weights, biases, X)
    L = net.depth
    fprime: list[np.ndarray | None] = [None]
    for l, act in enumerate(net.activations, start=1):
        fprime.append(None if act.name == "softmax" else reference.ACTIVATIONS[act.name][1](Zs[l], As[l], _param(act)))
    a, y = As[L].T, Y.T
    dC_da = None
    if net.loss_name == "bce":
        delta = reference.sigmoid_bce_delta(a, y)
    elif net.loss_name == "cross_entropy":
        delta = reference.softmax_cross_entropy_delta(a, y)
    else:
        grad_a = reference.LOSSES[net.loss_name][1](a, y)
        dC_da = grad_a.T
        if net.output.name == "softmax":
            delta = reference.softmax_output_delta(a, grad_a)
        else:
            delta = reference.output_delta(grad_a, fprime[L].T)
    deltas: list[np.ndarray | None] = [None] * (L + 1)
    deltas[L] = delta.T
    for l in range(L - 1, 0, -1):
        deltas[l] = reference.hidden_delta(weights[l], deltas[l + 1].T, fprime[l].T).T
    n, m = Y.shape
    scale = float(losses.scale_value(net, n))  # the scale the page shows
    return Numbers(
        net,
        X,
        Y,
        tuple(weights),
        tuple(biases),
        tuple(Zs),
        tuple(As),
        tuple(fprime),
        dC_da,
        tuple(deltas),
        scale,
        float(net.l2),
    )
