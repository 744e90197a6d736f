"""The MLP shorthand as a Sequential: ``from_network(net)`` (also ``Network.to_sequential()``).

Network([n0, n1, ..., nL], hidden=, output=, loss=, reduction=, l2=) becomes
Sequential(Linear(n0, n1), act, Linear(n1, n2), act, ..., Linear(n_{L-1}, nL)[, output act]) with the loss
and l2 carried over, giving the same numbers:

* an identity activation adds no module;
* output="sigmoid" with loss="bce" becomes the fused BCEWithLogitsLoss (no final Sigmoid), and
  output="softmax" with loss="cross_entropy" becomes CrossEntropyLoss on logits with probability targets,
  as torch users write them;
* softplus keeps no linear region (Softplus(threshold=inf)): the MLP's softplus is exact log(1 + e^z).

``network_state_dict(net, values)`` turns the MLP's values (names such as "w1_2_1" or (weights, biases))
into the Sequential's state dict; ``network_gradient(net, grads)`` maps a state-dict gradient back to
the MLP's parameter names.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import UnsupportedError
from . import activation as act
from .engine import ModelLoss
from .linear import Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, QuadraticLoss
from .module import Sequential


def _plain(value: Fraction):
    f = float(value)
    return f if Fraction(repr(f)) == value else value


def _activation(a) -> act.Module | None:
    name = a.name
    if name == "identity":
        return None
    if name == "leaky_relu":
        return act.LeakyReLU(negative_slope=_plain(a.param))
    if name == "elu":
        return act.ELU(alpha=_plain(a.param))
    if name == "softplus":
        return act.Softplus(beta=1.0, threshold=float("inf"))
    if name == "softmax":
        return act.Softmax(dim=-1)
    return {"sigmoid": act.Sigmoid, "tanh": act.Tanh, "relu": act.ReLU, "silu": act.SiLU}[name]()


def _linear_positions(net) -> list[int]:
    """Index in the Sequential of each weight layer's Linear."""
    pos = []
    model = from_network(net).model
    for idx, m in enumerate(model):
        if isinstance(m, Linear):
            pos.append(idx)
    return pos


def from_network(net) -> ModelLoss:
    """(model, loss, l2) equivalent to the MLP shorthand ``net`` (same numbers)."""
    from ..spec import Network

    if not isinstance(net, Network):
        raise TypeError(f"from_network needs a symprop Network, got {type(net).__name__}")
    if net.tie:
        raise UnsupportedError(f"from_network: tied parameters (tie=) are not supported by symprop.nn yet ({net!r})")
    modules = []
    for l in range(net.depth):
        modules.append(Linear(net.layers[l], net.layers[l + 1]))
        a = net.activations[l]
        last = l == net.depth - 1
        if last and (net.loss_name, a.name) in (("bce", "sigmoid"), ("cross_entropy", "softmax")):
            continue  # fused into the loss
        m = _activation(a)
        if m is not None:
            modules.append(m)
    red = net.reduction
    loss = {
        "mse": lambda: MSELoss(reduction=red),
        "sse": lambda: MSELoss(reduction=red),
        "quadratic": lambda: QuadraticLoss(reduction=red),
        "bce": lambda: BCEWithLogitsLoss(reduction=red),
        "cross_entropy": lambda: CrossEntropyLoss(reduction=red),
    }[net.loss_name]()
    return ModelLoss(Sequential(*modules), loss, net.l2)


def network_state_dict(net, values: Any) -> dict[str, np.ndarray]:
    """The MLP's parameter values as the state dict of ``from_network(net).model``."""
    from ..spec import parse_values

    weights, biases = parse_values(net, values)
    out = {}
    for pos, w, b in zip(_linear_positions(net), weights, biases):
        out[f"{pos}.weight"] = w
        out[f"{pos}.bias"] = b
    return out


def network_gradient(net, grads: dict[str, np.ndarray]) -> dict[str, Any]:
    """A state-dict gradient of ``from_network(net).model`` keyed by the MLP's parameter names."""
    pos = _linear_positions(net)
    out = {}
    for p in net.param_infos:
        key = f"{pos[p.layer - 1]}.{'weight' if p.kind == 'w' else 'bias'}"
        out[p.name] = grads[key][p.index]
    return out
