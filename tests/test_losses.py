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
HEADS = [("identity", "mse"), ("identity", "sse"), ("softplus", "quadratic"), ("sigmoid", "bce"),
         ("softmax", "cross_entropy")]
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
    base = {"sum": Fraction(1), "batchmean": Fraction(1, N),
            "mean": Fraction(1, N) if loss == "cross_entropy" else Fraction(1, N * m)}[reduction]
    return base / 2 if loss == "quadratic" else base


def test_default_reduction_keeps_each_loss_definition():
    N, m = 5, 3
    expected = {"mse": Fraction(1, 15), "sse": Fraction(1), "quadratic": Fraction(1, 10), "bce": Fraction(1, 15),
                "cross_entropy": Fraction(1, 5)}
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
    close(net.compile().gradient(values, X, Y), {k: ratio * v for k, v in base.compile().gradient(values, X, Y).items()})


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
    acts = {"tanh": torch.tanh, "identity": lambda z: z, "sigmoid": torch.sigmoid,
            "softplus": torch.nn.functional.softplus, "softmax": lambda z: torch.softmax(z, dim=1)}
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
    with pytest.raises(ValueError, match=r"class label Y\[1\] = 3 is out of range.*m = 3 classes, so labels are 0\.\.2"):
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
    path.write_text('[network]\nlayers = [1, 2]\noutput = "softmax"\nloss = "cross_entropy"\nreduction = "sum"\n'
                    '[data]\nx = [0.5, -1.0, 2.0]\ny = [1, 0, 1]\n[values]\ninit = "normal"\n')
    p = load_problem(path)
    assert p.network == Network([1, 2], output="softmax", loss="cross_entropy", reduction="sum")
    assert p.network.kwargs()["reduction"] == "sum"
    np.testing.assert_array_equal(p.Y, [[0, 1], [1, 0], [0, 1]])  # integer labels -> one-hot rows
    path.write_text('[network]\nlayers = [1, 1]\nreduction = "avg"\n[data]\nx = [1.0]\ny = [1.0]\n[values]\ninit = "zeros"\n')
    with pytest.raises(ProblemError, match=r'p\.toml: \[network\]: unknown reduction "avg"'):
        load_problem(path)
