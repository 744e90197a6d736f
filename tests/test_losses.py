"""Losses as people define them: PyTorch's reductions, integer class labels (and l2, ties: see below).

Oracles: PyTorch float64 autograd (skipped where torch is absent), hand computations in Fractions,
and the exact symbolic gradient evaluated at 30 digits; compiled, reference and symbolic must agree.
"""

from __future__ import annotations

import zlib
from fractions import Fraction

import numpy as np
import pytest
from helpers import random_targets

from symprop import Network
from symprop.chainrule import evaluate
from symprop.reference import backprop, loss_value
from symprop.spec import DEFAULT_REDUCTION, REDUCTIONS

# (output, loss) heads, each with a hidden tanh layer
HEADS = [
    ("identity", "mse"),
    ("identity", "sse"),
    ("softplus", "quadratic"),
    ("sigmoid", "bce"),
    ("softmax", "cross_entropy"),
]
LOSS_NAMES = [loss for _, loss in HEADS]


def seed_of(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def problem(net: Network, n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, net.n_inputs))
    Y = random_targets(net, n, rng)
    values = {name: float(rng.normal(scale=0.8)) for name in net.param_names}
    return X, Y, values


def exact(net: Network, X, Y, values) -> dict[str, float]:
    """The symbolic reverse-pass gradient on the data's exact binary values, evaluated at 30 digits."""
    Xf = [[Fraction(float(v)) for v in row] for row in X]
    Yf = [[Fraction(float(v)) for v in row] for row in Y]
    grads = net.gradient(Xf, Yf, keys="name")
    return {name: float(evaluate(net, g, values, 30)) for name, g in grads.items()}


def exact_loss(net: Network, X, Y, values) -> float:
    Xf = [[Fraction(float(v)) for v in row] for row in X]
    Yf = [[Fraction(float(v)) for v in row] for row in Y]
    return float(evaluate(net, net.loss(Xf, Yf), values, 30))


def close(actual: dict, expected: dict, rtol: float = 1e-11) -> None:
    assert actual.keys() == expected.keys()
    top = max(abs(v) for v in expected.values())
    for name, e in expected.items():
        assert abs(actual[name] - e) <= rtol * (abs(e) + 1e-3 * top), f"{name}: {actual[name]!r} != {e!r}"


# --------------------------------------------------------------------------- the scale of each reduction


# the factor in front of sum(ell) over N samples and m outputs, written out from PyTorch's documentation
# (MSELoss / BCELoss "mean" = mean over all N*m elements; CrossEntropyLoss "mean" = over the N samples)
def torch_scale(loss: str, reduction: str, N: int, m: int) -> Fraction:
    base = {
        "sum": Fraction(1),
        "batchmean": Fraction(1, N),
        "mean": Fraction(1, N) if loss == "cross_entropy" else Fraction(1, N * m),
    }[reduction]
    return base / 2 if loss == "quadratic" else base


def test_default_reduction_keeps_each_loss_definition():
    N, m = 5, 3
    expected = {
        "mse": Fraction(1, 15),
        "sse": Fraction(1),
        "quadratic": Fraction(1, 10),
        "bce": Fraction(1, 15),
        "cross_entropy": Fraction(1, 5),
    }
    for output, loss in HEADS:
        net = Network([2, m], output=output, loss=loss)
        assert net.scale(N) == expected[loss]
        assert Network([2, m], output=output, loss=loss, reduction=DEFAULT_REDUCTION[loss]) == net


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", ["mse", "sse", "quadratic"])
def test_squared_loss_gradient_by_hand_in_fractions(loss, reduction):
    """A linear one-layer net: dC/dw_jk = scale * sum_n ell'(a, y) x_k, computed here in Fractions."""
    net = Network([2, 2], output="identity", loss=loss, reduction=reduction, naming="flat")
    X = [[Fraction(1, 2), Fraction(-1)], [Fraction(3), Fraction(1, 4)], [Fraction(0), Fraction(2)]]
    Y = [[Fraction(1), Fraction(0)], [Fraction(-1, 3), Fraction(2)], [Fraction(1, 5), Fraction(1)]]
    W = [[Fraction(1, 3), Fraction(-2)], [Fraction(1, 7), Fraction(1, 2)]]
    b = [Fraction(1, 10), Fraction(-1, 4)]
    values = {"w1": W[0][0], "w2": W[0][1], "w3": W[1][0], "w4": W[1][1], "b1": b[0], "b2": b[1]}
    s = torch_scale(loss, reduction, 3, 2)
    grad = {k: Fraction(0) for k in values}
    total = Fraction(0)
    for x, y in zip(X, Y):
        for j in range(2):
            a = W[j][0] * x[0] + W[j][1] * x[1] + b[j]
            total += (a - y[j]) ** 2
            g = 2 * (a - y[j])
            grad[f"w{2 * j + 1}"] += g * x[0]
            grad[f"w{2 * j + 2}"] += g * x[1]
            grad[f"b{j + 1}"] += g
    got = net.gradient(X, Y, values=values, exact=True, keys="name")
    assert {k: Fraction(str(v)) for k, v in got.items()} == {k: s * v for k, v in grad.items()}
    assert Fraction(str(net.loss(X, Y, exact=True, fix=values))) == s * total
    floats = {k: float(v) for k, v in values.items()}
    Xf, Yf = np.array(X, dtype=float), np.array(Y, dtype=float)
    assert net.compile().loss(floats, Xf, Yf) == pytest.approx(float(s * total), rel=1e-14)
    close(net.compile().gradient(floats, Xf, Yf), {k: float(s * v) for k, v in grad.items()}, 1e-14)
    close(backprop(net, floats, Xf, Yf), {k: float(s * v) for k, v in grad.items()}, 1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("output,loss", HEADS)
def test_compiled_reference_and_symbolic_agree_for_every_reduction(output, loss, reduction):
    net = Network([2, 3, 3], hidden="tanh", output=output, loss=loss, reduction=reduction)
    X, Y, values = problem(net, 4, seed_of(loss, reduction))
    want = exact(net, X, Y, values)
    close(net.compile().gradient(values, X, Y), want)
    close(backprop(net, values, X, Y), want)
    true_loss = exact_loss(net, X, Y, values)
    assert net.compile().loss(values, X, Y) == pytest.approx(true_loss, rel=1e-12)
    assert loss_value(net, values, X, Y) == pytest.approx(true_loss, rel=1e-12)
    # the same network with the default reduction differs by exactly the ratio of the scales
    base = Network([2, 3, 3], hidden="tanh", output=output, loss=loss)
    ratio = float(torch_scale(loss, reduction, 4, 3) / base.scale(4))
    close(
        net.compile().gradient(values, X, Y), {k: ratio * v for k, v in base.compile().gradient(values, X, Y).items()}
    )


# --------------------------------------------------------------------------- PyTorch float64 autograd


def torch_loss(torch, loss: str, reduction: str, z, a, y):
    """The loss as a PyTorch user writes it; batchmean = the "sum" loss / N (as KLDivLoss's batchmean)."""
    F = torch.nn.functional
    r = "sum" if reduction == "batchmean" else reduction
    if loss in ("mse", "sse"):
        value = F.mse_loss(a, y, reduction=r)
    elif loss == "quadratic":
        value = 0.5 * F.mse_loss(a, y, reduction=r)
    elif loss == "bce":
        value = F.binary_cross_entropy_with_logits(z, y, reduction=r)
    else:
        value = F.cross_entropy(z, y, reduction=r)
    return value / z.shape[0] if reduction == "batchmean" else value


def torch_model(torch, net: Network, values: dict):
    """Per-layer weight and bias tensors (leaves) filled from a symprop values dict."""
    W = [torch.zeros(s, dtype=torch.float64) for s in net.weight_shapes()]
    b = [torch.zeros(s[0], dtype=torch.float64) for s in net.weight_shapes()]
    for p in net.param_infos:
        (W if p.kind == "w" else b)[p.layer - 1][p.index] = values[p.name]
    for t in W + b:
        t.requires_grad_(True)
    return W, b


def torch_forward(torch, net: Network, W, b, X):
    acts = {
        "tanh": torch.tanh,
        "identity": lambda z: z,
        "sigmoid": torch.sigmoid,
        "softplus": torch.nn.functional.softplus,
        "softmax": lambda z: torch.softmax(z, dim=1),
    }
    a = torch.tensor(X, dtype=torch.float64)
    z = None
    for l, act in enumerate(net.activations):
        z = a @ W[l].T + b[l]
        a = acts[act.name](z)
    return z, a


def torch_grads(net: Network, W, b) -> dict[str, float]:
    return {p.name: float((W if p.kind == "w" else b)[p.layer - 1].grad[p.index]) for p in net.param_infos}


@pytest.mark.parametrize("reduction", (None,) + REDUCTIONS)
@pytest.mark.parametrize("output,loss", HEADS)
def test_reduced_losses_equal_pytorch_float64(output, loss, reduction):
    torch = pytest.importorskip("torch")
    net = Network([3, 4, 3], hidden="tanh", output=output, loss=loss, reduction=reduction)
    X, Y, values = problem(net, 5, seed_of("torch", loss, reduction))
    W, b = torch_model(torch, net, values)
    z, a = torch_forward(torch, net, W, b, X)
    value = torch_loss(torch, loss, reduction or DEFAULT_REDUCTION[loss], z, a, torch.tensor(Y, dtype=torch.float64))
    value.backward()
    expected = torch_grads(net, W, b)
    got_loss, got = net.compile().loss_and_gradient(values, X, Y)
    assert got_loss == pytest.approx(float(value.detach()), rel=1e-12)
    close(got, expected, 1e-11)
    close(backprop(net, values, X, Y), expected, 1e-11)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_integer_class_labels_equal_pytorch_cross_entropy(reduction):
    torch = pytest.importorskip("torch")
    net = Network([3, 4, 4], hidden="tanh", output="softmax", loss="cross_entropy", reduction=reduction)
    X, _, values = problem(net, 6, seed_of("labels", reduction))
    labels = [2, 0, 3, 3, 1, 0]
    W, b = torch_model(torch, net, values)
    z, a = torch_forward(torch, net, W, b, X)
    value = torch_loss(torch, "cross_entropy", reduction, z, a, torch.tensor(labels))
    value.backward()
    expected = torch_grads(net, W, b)
    got_loss, got = net.compile().loss_and_gradient(values, X, labels)
    assert got_loss == pytest.approx(float(value.detach()), rel=1e-12)
    close(got, expected, 1e-11)
    close(backprop(net, values, X, np.array(labels)), expected, 1e-11)
    close(exact(net, X, np.eye(4)[labels], values), expected, 1e-11)
    # labels given as a tensor, a NumPy int array, or whole floats all mean the same one-hot targets
    assert net.compile().gradient(values, X, torch.tensor(labels)) == got
    assert net.compile().gradient(values, X, np.array(labels, dtype=float)) == got
    assert net.compile().gradient(values, X, np.array(labels)[:, None]) == got  # one column of labels
    assert net.compile().gradient(values, X, np.eye(4)[labels]) == got


def test_integer_class_labels_in_symbolic_forms():
    net = Network([1, 3], output="softmax", loss="cross_entropy", naming="flat")
    one_hot = net.loss([[1], [2]], [[0, 0, 1], [1, 0, 0]])
    assert net.loss([[1], [2]], [2, 0]) == one_hot
    assert net.gradient([[1], [2]], [2, 0]) == net.gradient([[1], [2]], [[0, 0, 1], [1, 0, 0]])


def test_class_label_errors():
    net = Network([2, 3], output="softmax", loss="cross_entropy")
    values = {n: 0.1 for n in net.param_names}
    X = np.ones((3, 2))
    with pytest.raises(
        ValueError, match=r"class label Y\[1\] = 3 is out of range.*m = 3 classes, so labels are 0\.\.2"
    ):
        net.compile().gradient(values, X, [0, 3, 1])
    with pytest.raises(ValueError, match=r"class label Y\[0\] = -1 is out of range"):
        net.compile().gradient(values, X, [-1, 0, 1])
    with pytest.raises(ValueError, match=r"must be whole numbers 0\.\.2; Y\[2\] is 0\.5"):
        net.compile().gradient(values, X, [0.0, 1.0, 0.5])
    # one sample's probability row (length m, N = 1) is still a probability row
    p = net.compile().gradient(values, X[:1], [0.2, 0.3, 0.5])
    assert p == net.compile().gradient(values, X[:1], [[0.2, 0.3, 0.5]])
    # labels only for cross_entropy: an mse network reads a 1-D Y as before
    with pytest.raises(ValueError, match="must match"):
        Network([2, 3]).compile().gradient({n: 0.0 for n in Network([2, 3]).param_names}, X, [0, 1, 2])


def test_reduction_errors_and_round_trip():
    with pytest.raises(ValueError, match=r'unknown reduction "avg"; valid: mean, sum, batchmean'):
        Network([1, 1], reduction="avg")
    with pytest.raises(ValueError, match=r"Did you mean \"sum\""):
        Network([1, 1], reduction="summ")
    with pytest.raises(TypeError, match="reduction must be one of"):
        Network([1, 1], reduction=2)
    net = Network([2, 1], loss="mse", reduction="sum")
    assert net.reduction == "sum"
    assert repr(net) == "Network([2, 1], output='identity', loss='mse', naming='default', reduction='sum')"
    assert Network(**net.kwargs()) == net and eval(repr(net), {"Network": Network}) == net
    assert net != Network([2, 1], loss="mse") and hash(net) != hash(Network([2, 1], loss="mse"))
    assert "reduction" not in Network([2, 1], loss="sse", reduction="sum").kwargs()
    assert net.scale_text == "1" and Network([2, 1], loss="quadratic", reduction="mean").scale_text == "1/(2N m)"


# --------------------------------------------------------------------------- verify and problem files


@pytest.mark.parametrize("oracle", ["exact", "compiled"])
def test_verify_uses_the_reduction(oracle):
    from symprop import verify
    from symprop.reference import backprop_arrays

    net = Network([2, 3, 2], hidden="tanh", output="identity", loss="mse", reduction="sum")
    X, Y, values = problem(net, 5, 7)

    def summed(weights, biases, X, Y):  # a hand-written backprop of the summed squared error
        return backprop_arrays(net, weights, biases, X, Y)

    def averaged(weights, biases, X, Y):  # the same code with the default mean: off by 1/(N m)
        return backprop_arrays(Network([2, 3, 2], hidden="tanh", loss="mse"), weights, biases, X, Y)

    assert verify(summed, net, values, X, Y, oracle=oracle).ok
    report = verify(averaged, net, values, X, Y, oracle=oracle)
    assert not report.ok and len(report.failures) == net.n_params


def test_problem_file_reduction_round_trip(tmp_path):
    from symprop.problem import ProblemError, load_problem

    path = tmp_path / "p.toml"
    path.write_text(
        '[network]\nlayers = [1, 2]\noutput = "softmax"\nloss = "cross_entropy"\nreduction = "sum"\n'
        '[data]\nx = [0.5, -1.0, 2.0]\ny = [1, 0, 1]\n[values]\ninit = "normal"\n'
    )
    p = load_problem(path)
    assert p.network == Network([1, 2], output="softmax", loss="cross_entropy", reduction="sum")
    assert p.network.kwargs()["reduction"] == "sum"
    np.testing.assert_array_equal(p.Y, [[0, 1], [1, 0], [0, 1]])  # integer labels -> one-hot rows
    (tmp_path / "d.csv").write_text("x,label\n0.5,1\n-1.0,0\n2.0,1\n")
    path.write_text(
        path.read_text().replace(
            "x = [0.5, -1.0, 2.0]\ny = [1, 0, 1]", 'csv = "d.csv"\nx_columns = ["x"]\ny_columns = ["label"]'
        )
    )
    np.testing.assert_array_equal(load_problem(path).Y, [[0, 1], [1, 0], [0, 1]])  # a CSV column of labels
    path.write_text(
        '[network]\nlayers = [1, 1]\nreduction = "avg"\n[data]\nx = [1.0]\ny = [1.0]\n[values]\ninit = "zeros"\n'
    )
    with pytest.raises(ProblemError, match=r'p\.toml: \[network\]: unknown reduction "avg"'):
        load_problem(path)


# --------------------------------------------------------------------------- l2 and tied parameters


def torch_shared(torch, net: Network, values: dict):
    """One leaf tensor per symprop *parameter*; the layer matrices are built from them, so a tied
    parameter is one shared torch tensor used in every entry it fills (PyTorch sums its uses)."""
    P = {name: torch.tensor(float(values[name]), dtype=torch.float64, requires_grad=True) for name in net.param_names}
    W, b = [], []
    for l, (rows, cols) in enumerate(net.weight_shapes()):
        entries = {(p.kind, p.index): P[net.param_of[p.name]] for p in net.param_infos if p.layer == l + 1}
        W.append(torch.stack([torch.stack([entries[("w", (j, k))] for k in range(cols)]) for j in range(rows)]))
        b.append(torch.stack([entries[("b", (j,))] for j in range(rows)]))
    return P, W, b


def torch_check(net: Network, X, Y, values, reduction: str):
    """PyTorch float64 autograd of the loss (+ lam * sum(W**2) over every layer's W) vs compiled, reference."""
    torch = pytest.importorskip("torch")
    P, W, b = torch_shared(torch, net, values)
    z, a = torch_forward(torch, net, W, b, X)
    value = torch_loss(torch, net.loss_name, reduction, z, a, torch.tensor(Y, dtype=torch.float64))
    value = value + float(net.l2) * sum((w**2).sum() for w in W)
    value.backward()
    expected = {name: float(t.grad) for name, t in P.items()}
    got_loss, got = net.compile().loss_and_gradient(values, X, Y)
    assert got_loss == pytest.approx(float(value.detach()), rel=1e-12)
    close(got, expected, 1e-11)
    close(backprop(net, values, X, Y), expected, 1e-11)
    return expected


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("output,loss", HEADS)
def test_l2_equals_pytorch_float64(output, loss, reduction):
    net = Network([3, 4, 3], hidden="tanh", output=output, loss=loss, reduction=reduction, l2=0.03)
    X, Y, values = problem(net, 5, seed_of("l2", loss, reduction))
    expected = torch_check(net, X, Y, values, reduction)
    close(exact(net, X, Y, values), expected, 1e-11)


TIES = {"bh": ["b1_1", "b1_3"], "bo": ["b1_2", "b2_2"], "ws": ["w1_1_1", "w2_3_4", "w1_2_3"]}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("output,loss", HEADS)
def test_tied_parameters_equal_pytorch_shared_tensors(output, loss, reduction):
    net = Network(
        [3, 4, 3],
        hidden="tanh",
        output=output,
        loss=loss,
        reduction=reduction,
        tie=TIES,
        l2=0.05 if loss == "mse" else 0,
    )
    X, Y, values = problem(net, 5, seed_of("tie", loss, reduction))
    assert set(values) == set(net.param_names) and {"bh", "bo", "ws"} <= set(values)
    expected = torch_check(net, X, Y, values, reduction)
    close(exact(net, X, Y, values), expected, 1e-11)


@pytest.mark.parametrize("output,loss", HEADS)
def test_l2_and_ties_compiled_reference_symbolic_agree(output, loss):
    net = Network(
        [2, 3, 3],
        hidden="softplus",
        output=output,
        loss=loss,
        l2="1/7",
        tie={"t": ["b1_1", "b2_3"], "u": ["w1_1_1", "w1_2_2", "w2_1_3"]},
    )
    X, Y, values = problem(net, 4, seed_of("agree", loss))
    want = exact(net, X, Y, values)
    close(net.compile().gradient(values, X, Y), want)
    close(backprop(net, values, X, Y), want)
    true_loss = exact_loss(net, X, Y, values)
    assert net.compile().loss(values, X, Y) == pytest.approx(true_loss, rel=1e-12)
    assert loss_value(net, values, X, Y) == pytest.approx(true_loss, rel=1e-12)


def hand_tied_linear(w: Fraction = Fraction(2, 3)):
    """C = sum_n (w3 h1 + w4 h2 + t - y_n)^2 + lam (w^2 + w^2 + w3^2 + w4^2), h1 = h2 = w x_n + t: w is tied
    over both first-layer weights and t over all three biases. Returns the network, data, values and
    the gradient computed here by hand in Fractions."""
    net = Network(
        [1, 2, 1],
        hidden="identity",
        output="identity",
        loss="sse",
        naming="flat",
        l2=Fraction(1, 10),
        tie={"w": ["w1", "w2"], "t": ["b1", "b2", "b3"]},
    )
    X, Y = [[Fraction(1, 2)], [Fraction(-2)]], [[Fraction(1)], [Fraction(3, 4)]]
    v = {"w": w, "t": Fraction(-1, 5), "w3": Fraction(3, 2), "w4": Fraction(-1, 4)}
    lam = Fraction(1, 10)
    g = {k: Fraction(0) for k in v}
    for (x,), (y,) in zip(X, Y):
        h1 = h2 = v["w"] * x + v["t"]
        r = v["w3"] * h1 + v["w4"] * h2 + v["t"] - y
        g["w"] += 2 * r * (v["w3"] + v["w4"]) * x
        g["t"] += 2 * r * (v["w3"] + v["w4"] + 1)
        g["w3"] += 2 * r * h1
        g["w4"] += 2 * r * h2
    g["w"] += lam * 2 * 2 * v["w"]  # two entries hold w: lam (w^2 + w^2)
    g["w3"] += 2 * lam * v["w3"]
    g["w4"] += 2 * lam * v["w4"]
    return net, X, Y, v, g


def test_l2_and_ties_by_hand_in_fractions_and_by_sympy_diff():
    import sympy as sp

    net, X, Y, v, g = hand_tied_linear()
    assert net.param_names == ("w", "t", "w3", "w4")
    for method in ("reverse", "diff"):
        got = net.gradient(X, Y, values=v, exact=True, method=method)
        assert {k: Fraction(str(e)) for k, e in got.items()} == g
    closed = net.gradient(X, Y, method="diff", keys="symbol")
    reverse = net.gradient(X, Y, keys="symbol")
    assert all(sp.expand(closed[p] - reverse[p]) == 0 for p in net.parameters)
    floats = {k: float(e) for k, e in v.items()}
    close(
        net.compile().gradient(floats, np.array(X, float), np.array(Y, float)),
        {k: float(e) for k, e in g.items()},
        1e-14,
    )


def test_tie_and_l2_errors():
    with pytest.raises(
        ValueError, match=r'tie\["bh"\]: unknown parameter "b11"; valid: w1, w2, b1, .* Did you mean "b1"'
    ):
        Network([1, 2, 1], naming="flat", tie={"bh": ["b2", "b11"]})
    with pytest.raises(ValueError, match=r'parameter "b1" is tied in both tie\["s"\] and tie\["t"\]'):
        Network([1, 2, 1], naming="flat", tie={"s": ["b1", "b2"], "t": ["b1", "b3"]})
    with pytest.raises(ValueError, match=r'parameter "b1" is tied twice in the same tie'):
        Network([1, 2, 1], naming="flat", tie={"s": ["b1", "b1"]})
    with pytest.raises(ValueError, match=r'the name "w3" is already a parameter'):
        Network([1, 2, 1], naming="flat", tie={"w3": ["b1", "b2"]})
    with pytest.raises(ValueError, match=r'tie\["s"\] lists 1 parameter\(s\); a tie needs at least 2'):
        Network([1, 2, 1], naming="flat", tie={"s": ["b1"]})
    with pytest.raises(TypeError, match=r'tie\["s"\] must be a list'):
        Network([1, 2, 1], naming="flat", tie={"s": "b1"})
    with pytest.raises(ValueError, match="must be an identifier"):
        Network([1, 2, 1], naming="flat", tie={"b h": ["b1", "b2"]})
    with pytest.raises(ValueError, match=r"l2 must be >= 0"):
        Network([1, 1], l2=-0.1)
    with pytest.raises(TypeError, match=r"l2 .* must be a number"):
        Network([1, 1], l2=True)
    net = Network([1, 2, 1], naming="flat", tie={"bh": ["b1", "b2"]})
    values = {"w1": 1.0, "w2": 2.0, "bh": 0.5, "w3": 1.0, "w4": 1.0, "b3": 0.0}
    with pytest.raises(ValueError, match=r'"b1" is tied into parameter "bh" \(b1, b2\); use "bh"'):
        net.compile().gradient({**values, "b1": 0.5}, [[1.0]], [[1.0]])
    with pytest.raises(ValueError, match=r"missing value\(s\) for 1 of 6 parameters: bh"):
        net.compile().gradient({k: v for k, v in values.items() if k != "bh"}, [[1.0]], [[1.0]])
    W = [np.array([[1.0], [2.0]]), np.array([[1.0, 1.0]])]
    with pytest.raises(
        ValueError,
        match=r'tied parameter "bh" must have one value, but biases\[0\]\[0\] \(b1\) is 0.5 and '
        r"biases\[0\]\[1\] \(b2\) is 0.25",
    ):
        net.compile().gradient((W, [np.array([0.5, 0.25]), np.array([0.0])]), [[1.0]], [[1.0]])
    # the same values as arrays holding the tied value in both entries
    assert net.compile().gradient(
        (W, [np.array([0.5, 0.5]), np.array([0.0])]), [[1.0]], [[1.0]]
    ) == net.compile().gradient(values, [[1.0]], [[1.0]])
    with pytest.raises(ValueError, match=r'"bh" is a tied parameter filling b1, b2'):
        net.info("bh")
    assert [p.name for p in net.slots("bh")] == ["b1", "b2"] and net.info("b1").layer == 1


def test_tie_and_l2_round_trip():
    net = Network(
        [2, 2, 1],
        hidden="tanh",
        loss="quadratic",
        reduction="sum",
        l2=0.01,
        tie={"s": ["b1_2", "b1_1"], "v": ["w2_1_2", "w1_1_1"]},
    )
    assert net.tie == (("v", ("w1_1_1", "w2_1_2")), ("s", ("b1_1", "b1_2")))  # network order
    assert net.l2 == Fraction(1, 100) and net.kwargs()["l2"] == 0.01
    assert Network(**net.kwargs()) == net and eval(repr(net), {"Network": Network}) == net
    assert net.param_names == ("v", "w1_1_2", "w1_2_1", "w1_2_2", "s", "w2_1_1", "b2_1")
    assert net.n_params == 7 and len(net.param_infos) == 9
    assert Network([1, 1], l2="1/3").kwargs()["l2"] == "1/3" and Network([1, 1], l2="1/3").l2 == Fraction(1, 3)
    assert net != Network([2, 2, 1], hidden="tanh", loss="quadratic", reduction="sum", l2=0.01)
    assert "l2" not in Network([1, 1]).kwargs() and "tie" not in Network([1, 1]).kwargs()


@pytest.mark.parametrize("style", ["[tie]", "[network.tie]"])
def test_problem_file_with_l2_and_tie(tmp_path, style):
    from symprop.problem import ProblemError, load_problem

    path = tmp_path / "tied.toml"
    path.write_text(
        f'[network]\nlayers = [1, 2, 1]\nhidden = "tanh"\nloss = "sse"\nnaming = "flat"\nl2 = 0.01\n'
        f'{style}\nbh = ["b1", "b2"]\n[data]\nx = [0.5, -1.0]\ny = [1.0, 0.0]\n'
        '[values]\nw1 = 0.1\nw2 = -0.3\nbh = 0.2\nw3 = 1.5\nw4 = -0.5\nb3 = 0.0\n[train]\nparams = ["bh"]\n'
    )
    p = load_problem(path)
    assert p.network == Network([1, 2, 1], hidden="tanh", loss="sse", naming="flat", l2=0.01, tie={"bh": ["b1", "b2"]})
    assert p.values["bh"] == 0.2 and p.train == ("bh",)
    path.write_text(path.read_text().replace("bh = 0.2", "b1 = 0.2"))
    with pytest.raises(ProblemError, match=r"\[values\] unknown key\(s\) b1"):
        load_problem(path)
    path.write_text(path.read_text().replace('bh = ["b1", "b2"]', 'bh = ["b1", "b7"]'))
    with pytest.raises(ProblemError, match=r'tied\.toml: \[network\]: tie\["bh"\]: unknown parameter "b7"'):
        load_problem(path)


def test_descend_moves_every_entry_of_a_tied_parameter():
    from symprop import descend

    net = Network([1, 2, 1], hidden="tanh", loss="sse", naming="flat", l2=0.01, tie={"bh": ["b1", "b2"]})
    X, Y = [[0.5], [-1.0]], [[1.0], [0.0]]
    values = {"w1": 0.1, "w2": -0.3, "bh": 0.2, "w3": 1.5, "w4": -0.5, "b3": 0.0}
    trace = descend(net, values, X, Y, train=["bh", "w3"], lr=0.1, max_steps=3)
    step = trace.steps[0]
    assert step.gradient == {k: v for k, v in net.compile().gradient(values, X, Y).items() if k in ("bh", "w3")}
    assert step.new_values["bh"] == values["bh"] - 0.1 * step.gradient["bh"]
    after = trace.steps[1].values
    assert after["bh"] == step.new_values["bh"] and set(after) == set(net.param_names)
    assert trace.path("bh")[1] == after["bh"]


def test_verify_with_ties_sums_the_entries_of_a_candidate():
    from symprop import verify
    from symprop.reference import backprop_arrays
    from symprop.verification import finite_difference

    net = Network(
        [2, 3, 2], hidden="tanh", loss="mse", l2=0.02, tie={"bh": ["b1_1", "b1_2", "b1_3"], "wt": ["w1_1_1", "w2_2_3"]}
    )
    X, Y, values = problem(net, 4, 11)

    def per_entry(weights, biases, X, Y):  # a hand-written backprop: one derivative per entry
        return backprop_arrays(net, weights, biases, X, Y)

    for oracle in ("exact", "compiled"):
        assert verify(per_entry, net, values, X, Y, oracle=oracle).ok
    assert verify(backprop(net, values, X, Y), net, values, X, Y).ok
    one_use = dict(backprop(net, values, X, Y))
    one_use["bh"] /= 3  # forgot to add the other uses
    report = verify(one_use, net, values, X, Y)
    assert [r.name for r in report.failures] == ["bh"]
    fd = finite_difference(net, values, X, Y)
    close(fd, backprop(net, values, X, Y), 1e-6)


def test_proof_with_l2_and_ties():
    from symprop import prove_backprop

    net = Network(
        [2, 2, 1],
        hidden="tanh",
        output="sigmoid",
        loss="bce",
        l2=0.5,
        tie={"s": ["b1_1", "b2_1"], "v": ["w1_1_1", "w2_1_2"]},
    )
    report = prove_backprop(net)
    assert report.ok and len(report.identities) == net.n_params
    assert any("l2" in a for a in report.assumptions) and any("tie: s fills" in a for a in report.assumptions)


# --------------------------------------------------------------------------- display and docs


def test_display_shows_reduction_l2_and_ties():
    from symprop.display import loss_latex, network_html

    net = Network([1, 2, 1], naming="flat", loss="quadratic", reduction="sum", l2=0.01, tie={"bh": ["b1", "b2"]})
    tex = loss_latex(net)
    assert tex.startswith(r"C = \frac{1}{2} \sum") and r"+ \frac{1}{100} \sum_{l=1}^{2}" in tex
    page = network_html(net)
    assert "reduction sum (scale 1/2)" in page and "tied: bh = b1, b2" in page and "1/100 * sum(W**2)" in page


def test_losses_document_runs():
    import doctest
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "losses.md"
    result = doctest.testfile(
        str(doc), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted >= 8 and result.failed == 0


def test_cli_speaks_tied_names(tmp_path, capsys):
    import json

    from symprop import cli

    net, X, Y, v, g = hand_tied_linear()
    path = tmp_path / "tied.toml"
    path.write_text(
        '[network]\nlayers = [1, 2, 1]\nhidden = "identity"\nloss = "sse"\nnaming = "flat"\nl2 = 0.1\n'
        '[tie]\nw = ["w1", "w2"]\nt = ["b1", "b2", "b3"]\n[data]\nx = [0.5, -2.0]\ny = [1.0, 0.75]\n'
        '[values]\nw = "2/3"\nt = -0.2\nw3 = 1.5\nw4 = -0.25\n'.replace('"2/3"', repr(float(Fraction(2, 3))))
    )
    assert cli.main(["grad", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    floats = {k: float(e) for k, e in v.items()}
    want = net.compile().gradient(floats, np.array(X, float), np.array(Y, float))
    assert list(data["gradient"]) == ["w", "t", "w3", "w4"]
    close(data["gradient"], {k: float(e) for k, e in g.items()}, 1e-14)
    close(data["gradient"], want, 1e-15)
    # --exact reads the file's numbers as exact decimals: the same hand computation at w = 0.6666666666666666
    assert cli.main(["grad", str(path), "--json", "--exact"]) == 0
    exact = json.loads(capsys.readouterr().out)["exact"]
    _, _, _, _, g_decimal = hand_tied_linear(Fraction(repr(float(Fraction(2, 3)))))
    assert {k: Fraction(e["text"]) for k, e in exact.items()} == g_decimal
    assert cli.main(["show", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "tie={'w': ['w1', 'w2'], 't': ['b1', 'b2', 'b3']}" in shown and "\n  t     b[2][0]" in shown
    assert cli.main(["descend", str(path), "--train", "t"]) == 0
    assert "| 1 | `t` |" in capsys.readouterr().out


def test_codeview_shows_the_reference_code_for_reductions_l2_and_ties():
    from symprop import codeview

    plain = codeview.network_code(Network([1, 2, 1], naming="flat"))
    net = Network([1, 2, 1], naming="flat", loss="quadratic", reduction="mean", l2=0.01, tie={"bh": ["b1", "b2"]})
    eqs = codeview.network_code(net)
    assert len(eqs) == len(plain) + 3
    assert any("half\\_entry\\_mean\\_scale" in e for e in eqs) and any("l2\\_penalty" in e for e in eqs)
    assert any("l2\\_gradient" in e for e in eqs) and any("tied\\_gradient" in e for e in eqs)


def test_verify_names_a_tied_entry_given_by_its_own_name():
    from symprop import verify

    net = Network([1, 2, 1], naming="flat", tie={"bh": ["b1", "b2"]})
    X, Y, values = problem(net, 2, 5)
    grads = backprop(net, values, X, Y)
    by_entry = {k: v for k, v in grads.items() if k != "bh"} | {"b1": grads["bh"] / 2, "b2": grads["bh"] / 2}
    report = verify(by_entry, net, values, X, Y)
    assert not report.ok
    assert '"b1" is tied into parameter "bh": give the gradient of "bh"' in "\n".join(report.problems)


@pytest.mark.parametrize("seed", range(20))
def test_random_networks_with_reduction_l2_and_ties_agree(seed):
    """Random architecture, head, reduction, l2 and ties: compiled == reference == exact symbolic."""
    rng = np.random.default_rng(7000 + seed)
    depth = int(rng.integers(1, 4))
    layers = [int(n) for n in rng.integers(1, 4, size=depth + 1)]
    output, loss = HEADS[int(rng.integers(len(HEADS)))]
    if output == "softmax" and layers[-1] == 1:
        layers[-1] = 2
    hidden = [["tanh", "sigmoid", "softplus", "elu", "silu"][int(i)] for i in rng.integers(5, size=depth - 1)]
    entries = [p.name for p in Network(layers).param_infos]
    order = list(rng.permutation(entries))
    tie = {}
    while len(order) >= 2 and len(tie) < 3 and rng.random() < 0.8:
        k = int(rng.integers(2, min(4, len(order)) + 1))
        tie[f"t{len(tie)}"], order = order[:k], order[k:]
    net = Network(
        layers,
        hidden=hidden,
        output=output,
        loss=loss,
        reduction=REDUCTIONS[seed % 3],
        l2=[0, 0.01, "2/3"][seed % 3 - 1],
        tie=tie,
    )
    X, Y, values = problem(net, int(rng.integers(1, 5)), seed)
    want = exact(net, X, Y, values)
    close(net.compile().gradient(values, X, Y), want, 1e-10)
    close(backprop(net, values, X, Y), want, 1e-10)
    assert net.compile().loss(values, X, Y) == pytest.approx(exact_loss(net, X, Y, values), rel=1e-11)
    assert Network(**net.kwargs()) == net
    # a correct per-entry backprop passes verify's default tolerances with either oracle
    from symprop import verify
    from symprop.reference import backprop_arrays

    for oracle in ("exact", "compiled"):
        report = verify(lambda W, b, X, Y: backprop_arrays(net, W, b, X, Y), net, values, X, Y, oracle=oracle)
        assert report.ok, report.failure_message()
    report = verify(lambda W, b, X, Y: backprop_arrays(net, W, b, X, Y), net, values, X, Y, dtype="float32")
    assert report.ok and report.dtype == "float32", report.failure_message()
