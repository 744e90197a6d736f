"""Derivations of networks with an l2 penalty and tied parameters: the penalty is in the objective and in
every weight's derivative (2 lambda w), a tied parameter's derivative is the sum over its uses, and every
shown number equals PyTorch float64 autograd of the network written directly in torch (an independent
oracle: the loss as PyTorch computes it, a tied parameter one leaf used in several places)."""

from __future__ import annotations

import itertools
import math
import zlib

import numpy as np
import pytest
import torch
from helpers import random_targets  # tests/ is on sys.path

from symprop import Network, losses
from symprop.derivation import derive

ACTS = {
    "identity": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": torch.nn.functional.softplus,
    "silu": torch.nn.functional.silu,
}


def torch_loss(net: Network, leaves: dict, X, Y):
    """The objective in torch: W and b assembled from the leaves (one leaf per parameter, or per entry
    when ``leaves`` is keyed by entry names), the loss with its scale, plus l2 * sum(W**2)."""
    X = torch.tensor(np.asarray(X, dtype=float).reshape(-1, net.n_inputs))
    Y = torch.tensor(np.asarray(Y, dtype=float).reshape(-1, net.n_outputs))

    def leaf(entry):
        return leaves[entry] if entry in leaves else leaves[net.param_of[entry]]

    Ws, bs = [], []
    for l in range(1, net.depth + 1):
        rows_w = [[None] * net.layers[l - 1] for _ in range(net.layers[l])]
        rows_b = [None] * net.layers[l]
        for info in net.param_infos:
            if info.layer == l:
                if info.kind == "w":
                    rows_w[info.row][info.col] = leaf(info.name)
                else:
                    rows_b[info.row] = leaf(info.name)
        Ws.append(torch.stack([torch.stack(r) for r in rows_w]))
        bs.append(torch.stack(rows_b))
    a = X
    for W, b, act in zip(Ws, bs, net.activations):
        a = ACTS[act.name](a @ W.T + b)
    N = X.shape[0]
    scale = float(losses.scale_value(net.loss_name, N, net.n_outputs))
    loss = scale * ((a - Y) ** 2).sum()
    return loss + float(net.l2) * sum((W**2).sum() for W in Ws)


def torch_gradient(net: Network, values: dict, X, Y, per_entry: bool = False) -> dict:
    """dJ/d(parameter) by autograd; ``per_entry``: dJ/d(entry), each entry its own leaf."""
    if per_entry:
        leaves = {
            info.name: torch.tensor(values[net.param_of[info.name]], dtype=torch.float64, requires_grad=True)
            for info in net.param_infos
        }
    else:
        leaves = {n: torch.tensor(values[n], dtype=torch.float64, requires_grad=True) for n in net.param_names}
    torch_loss(net, leaves, X, Y).backward()
    return {k: float(v.grad) for k, v in leaves.items()}


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@pytest.fixture(scope="module")
def example():
    net = Network([1, 2, 1], hidden="tanh", loss="sse", naming="flat", l2=0.01, tie={"bh": ["b1", "b2"]})
    values = {"w1": 0.5, "w2": -0.3, "bh": 0.1, "w3": 0.7, "w4": -1.1, "b3": 0.2}
    return net, values, [0.0, 0.5, 1.0], [0.0, 1.0, 0.0]


def test_a_tied_parameter_is_the_sum_of_its_uses_with_numbers(example):
    net, values, X, Y = example
    d = derive(net, "bh", values, X, Y, lr=0.1)
    g = torch_gradient(net, values, X, Y)
    per_entry = torch_gradient(net, values, X, Y, per_entry=True)
    assert [u["entry"] for u in d.shown["uses"]] == ["b1", "b2"]
    for use in d.shown["uses"]:
        assert close(use["gradient"], per_entry[use["entry"]]), use["entry"]
    assert close(d.shown["gradient"], g["bh"])
    assert close(d.gradient["bh"], g["bh"])
    assert close(d.updated["bh"], values["bh"] - 0.1 * g["bh"])
    tex = d.to_latex()
    assert (
        r"\frac{\partial J}{\partial bh} = \frac{\partial J}{\partial b_{1}} + \frac{\partial J}{\partial b_{2}}" in tex
    )
    assert "Use 1" in tex and "Use 2" in tex


def test_the_l2_term_is_in_the_objective_and_in_a_weights_gradient(example):
    net, values, X, Y = example
    d = derive(net, "w3", values, X, Y, lr=0.1)
    g = torch_gradient(net, values, X, Y)
    assert close(d.shown["penalty"], 2 * 0.01 * values["w3"])
    assert close(d.shown["gradient"], g["w3"])
    assert close(d.shown["data"] + d.shown["penalty"], g["w3"])
    assert close(d.gradient["w3"], g["w3"])
    # the objective's value: torch's J at these values
    leaves = {n: torch.tensor(values[n], dtype=torch.float64) for n in net.param_names}
    assert close(d.numbers.loss(), float(torch_loss(net, leaves, X, Y)))
    tex = d.to_latex()
    assert r"J = \mathrm{SSR} + \lambda \sum_{l=1}^{L}" in tex
    assert r"2 \lambda w_{3}" in tex
    assert r"\lambda = 0.01" in tex
    # a bias has no penalty term
    db = derive(net, "b3", values, X, Y)
    assert db.shown["penalty"] is None and close(db.gradient["b3"], g["b3"])


def test_every_parameter_table_and_matrices_with_l2_and_ties(example):
    net, values, X, Y = example
    d = derive(net, None, values, X, Y, lr=0.1)
    g = torch_gradient(net, values, X, Y)
    assert set(d.gradient) == set(net.param_names)
    for n in net.param_names:
        assert close(d.gradient[n], g[n]), n
        assert close(d.updated[n], values[n] - 0.1 * g[n]), n


SPECS = list(itertools.product(("tanh", "sigmoid", "softplus", "silu"), (1, 2), ("mse", "sse", "quadratic")))


@pytest.mark.parametrize("act,hidden,loss_", SPECS, ids=[f"{a}-{h}-{l}" for a, h, l in SPECS])
def test_random_networks_with_l2_and_a_tie(act, hidden, loss_):
    rng = np.random.default_rng(zlib.crc32(f"{act} {hidden} {loss_}".encode()))
    layers = [2] + [int(rng.integers(2, 4)) for _ in range(hidden)] + [1]
    plain = Network(layers, hidden=act, loss=loss_)
    entries = [p.name for p in plain.param_infos]
    pair = [str(e) for e in rng.choice(entries, size=2, replace=False)]
    net = Network(layers, hidden=act, loss=loss_, l2=0.05, tie={"t": pair})
    values = {n: float(rng.normal()) for n in net.param_names}
    N = int(rng.integers(1, 4))
    X = rng.normal(size=(N, 2))
    Y = random_targets(net, N, rng)
    g = torch_gradient(net, values, X, Y)
    per_entry = torch_gradient(net, values, X, Y, per_entry=True)
    d = derive(net, "t", values, X, Y, lr=0.1)
    assert close(d.gradient["t"], g["t"])
    for use in d.shown["uses"]:
        assert close(use["gradient"], per_entry[use["entry"]])
        for path in use["paths"]:  # each path's product is the product of its shown factors
            np.testing.assert_allclose(path["product"], np.prod([v for _, v in path["factors"]], axis=0))
    weight = next(n for n in net.param_names if n != "t" and net.info(n).kind == "w")
    dw = derive(net, weight, values, X, Y)
    assert close(dw.gradient[weight], g[weight])
    assert close(dw.shown["penalty"], 2 * 0.05 * values[weight])
    d_all = derive(net, None, values, X, Y, lr=0.1)
    for n in net.param_names:
        assert close(d_all.gradient[n], g[n]), n
