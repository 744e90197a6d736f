"""Core engine: exact symbolic, compiled NumPy and reference backprop agree, with outside oracles."""

from __future__ import annotations

import subprocess
import sys
import warnings
import zlib
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from helpers import random_targets

import symprop
from symprop import Network
from symprop.chainrule import evaluate
from symprop.examples import SEED_000, SEED_002
from symprop.reference import backprop, loss_value

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "leaky_relu(0.2)", "softplus", "elu", "elu(0.7)", "silu"]
# (output, loss) pairs; bce needs a sigmoid output and cross-entropy a softmax output
HEADS = [
    ("identity", "mse"),
    ("tanh", "sse"),
    ("softplus", "quadratic"),
    ("sigmoid", "bce"),
    ("softmax", "cross_entropy"),
    ("softmax", "mse"),
]


def stable_seed(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode())


def random_problem(net: Network, n: int, rng: np.random.Generator):
    X = rng.normal(size=(n, net.n_inputs))
    Y = random_targets(net, n, rng)
    values = {name: float(rng.normal()) for name in net.param_names}
    return X, Y, values


def exact_gradient(net: Network, X, Y, values, method: str = "reverse", dps: int = 30) -> dict[str, float]:
    """The symbolic gradient, built on the exact binary values of the data, evaluated at 30 digits."""
    Xf = [[Fraction(float(v)) for v in row] for row in np.atleast_2d(X)]
    Yf = [[Fraction(float(v)) for v in row] for row in np.atleast_2d(Y)]
    grads = net.gradient(Xf, Yf, method=method)
    return {name: float(evaluate(net, g, values, dps)) for name, g in grads.items()}


def assert_close(actual: dict, expected: dict, rtol: float) -> None:
    """Relative closeness per entry; an entry far smaller than the largest one (a sum of terms that
    cancel) is judged against 1e-3 of the largest, since float64 round-off in its terms is that big."""
    assert actual.keys() == expected.keys()
    scale = max(abs(v) for v in expected.values())
    for name in expected:
        e, a = expected[name], actual[name]
        assert abs(a - e) <= rtol * (abs(e) + 1e-3 * scale), f"{name}: {a!r} != {e!r}"


# --------------------------------------------------------------------------- three-way agreement


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,loss", HEADS)
def test_three_way_agreement_every_activation_and_loss(hidden, output, loss):
    rng = np.random.default_rng(stable_seed(hidden, output, loss))
    net = Network([2, 3, 2], hidden=hidden, output=output, loss=loss)
    X, Y, values = random_problem(net, 3, rng)
    exact = exact_gradient(net, X, Y, values)
    assert_close(net.compile().gradient(values, X, Y), exact, 1e-11)
    assert_close(backprop(net, values, X, Y), exact, 1e-11)
    Xf = [[Fraction(v) for v in r] for r in X]
    Yf = [[Fraction(v) for v in r] for r in Y]
    exact_loss = float(evaluate(net, net.loss(Xf, Yf), values, 30))
    assert net.compile().loss(values, X, Y) == pytest.approx(exact_loss, rel=1e-12)
    assert loss_value(net, values, X, Y) == pytest.approx(exact_loss, rel=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_three_way_agreement_random_architectures(seed):
    rng = np.random.default_rng(1000 + seed)
    depth = int(rng.integers(1, 4))
    layers = [int(n) for n in rng.integers(1, 4, size=depth + 1)]
    output, loss = HEADS[int(rng.integers(len(HEADS)))]
    if output == "softmax" and layers[-1] == 1:
        layers[-1] = 2
    hidden = [HIDDEN[int(i)] for i in rng.integers(len(HIDDEN), size=depth - 1)]
    net = Network(layers, hidden=hidden, output=output, loss=loss, naming=("default", "flat")[seed % 2])
    X, Y, values = random_problem(net, int(rng.integers(1, 5)), rng)
    exact = exact_gradient(net, X, Y, values)
    assert_close(net.compile().gradient(values, X, Y), exact, 1e-10)
    assert_close(backprop(net, values, X, Y), exact, 1e-10)


@pytest.mark.parametrize(
    "hidden,output,loss",
    [
        ("tanh", "sigmoid", "bce"),
        ("elu", "softmax", "cross_entropy"),
        ("relu", "identity", "sse"),
        ("silu", "softmax", "quadratic"),
    ],
)
def test_reverse_pass_equals_direct_diff_of_closed_form(hidden, output, loss):
    """The symbolic reverse pass against sympy.diff of the closed-form loss (a second method)."""
    rng = np.random.default_rng(7)
    net = Network([2, 2, 2], hidden=hidden, output=output, loss=loss)
    X, Y, values = random_problem(net, 2, rng)
    assert_close(
        exact_gradient(net, X, Y, values, method="reverse"), exact_gradient(net, X, Y, values, method="diff"), 1e-25
    )


# --------------------------------------------------------------------------- an oracle we did not write


def _autograd_loss(net: Network):
    """The loss from its textbook definition, in autograd.numpy (naive formulas, moderate inputs)."""
    anp = pytest.importorskip("autograd.numpy")

    def act(name, param, z):
        if name == "identity":
            return z
        if name == "sigmoid":
            return 1 / (1 + anp.exp(-z))
        if name == "tanh":
            return anp.tanh(z)
        if name == "relu":
            return anp.where(z > 0, z, 0.0)
        if name == "leaky_relu":
            return anp.where(z > 0, z, param * z)
        if name == "softplus":
            return anp.log(1 + anp.exp(z))
        if name == "elu":
            return anp.where(z > 0, z, param * (anp.exp(z) - 1))
        if name == "silu":
            return z / (1 + anp.exp(-z))
        if name == "softmax":
            e = anp.exp(z)
            return e / anp.sum(e, axis=1, keepdims=True)
        raise AssertionError(name)

    def loss(params, X, Y):
        a = X
        for (W, b), spec in zip(params, net.activations):
            a = act(spec.name, None if spec.param is None else float(spec.param), anp.dot(a, W.T) + b)
        n, m = Y.shape
        if net.loss_name == "mse":
            return anp.sum((a - Y) ** 2) / (n * m)
        if net.loss_name == "sse":
            return anp.sum((a - Y) ** 2)
        if net.loss_name == "quadratic":
            return anp.sum((a - Y) ** 2) / (2 * n)
        if net.loss_name == "bce":
            return -anp.sum(Y * anp.log(a) + (1 - Y) * anp.log(1 - a)) / (n * m)
        return -anp.sum(Y * anp.log(a)) / n

    return loss


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,loss", HEADS)
def test_compiled_gradient_matches_autograd(hidden, output, loss):
    autograd = pytest.importorskip("autograd")
    rng = np.random.default_rng(stable_seed("autograd", hidden, output, loss))
    net = Network([3, 4, 3, 2], hidden=hidden, output=output, loss=loss)
    X, Y, values = random_problem(net, 5, rng)
    W, b = symprop.spec.parse_values(net, values)
    grads = autograd.grad(_autograd_loss(net))(list(zip(W, b)), X, Y)
    expected = net.values_from_arrays([g[0] for g in grads], [g[1] for g in grads])
    assert_close(net.compile().gradient(values, X, Y), expected, 1e-10)


# --------------------------------------------------------------------------- the seeds' numbers


def test_seed_002_published_slopes():
    """Seed 002: dSSR/db3 = -15.7 at b3 = 0, step -1.57, new b3 = 1.57, then slope -6.26."""
    ex = SEED_002
    net, values = ex.network, dict(ex.values)
    fixed = {k: v for k, v in values.items() if k != "b3"}
    b3 = net.param("b3")
    d_ssr = net.derivative("b3", ex.X, ex.Y, fix=fixed)
    assert d_ssr.free_symbols == {b3}

    slope0 = float(d_ssr.subs(b3, 0))
    assert round(slope0, 1) == -15.7
    assert round(net.compile().gradient(values, ex.X, ex.Y)["b3"], 1) == -15.7
    assert round(backprop(net, values, ex.X, ex.Y)["b3"], 1) == -15.7
    step = ex.lr * slope0
    assert round(step, 2) == -1.57
    new_b3 = 0.0 - step
    assert round(new_b3, 2) == 1.57
    # the seed's -6.26 is the slope at the unrounded new b3 (1.5655...); at exactly 1.57 it is -6.23
    assert round(float(d_ssr.subs(b3, new_b3)), 2) == -6.26
    assert round(net.compile().gradient({**values, "b3": new_b3}, ex.X, ex.Y)["b3"], 2) == -6.26


def test_seed_002_flat_names_match_the_figure():
    net = SEED_002.network
    assert net.param_names == ("w1", "w2", "b1", "b2", "w3", "w4", "b3")
    info = {p.name: (p.kind, p.layer, p.row, p.col) for p in net.param_infos}
    # w1, b1 feed the top hidden neuron, w2, b2 the bottom one; w3, w4 connect them to the output
    assert info["w1"] == ("w", 1, 0, 0) and info["w2"] == ("w", 1, 1, 0)
    assert info["b1"] == ("b", 1, 0, None) and info["b2"] == ("b", 1, 1, None)
    assert info["w3"] == ("w", 2, 0, 0) and info["w4"] == ("w", 2, 0, 1) and info["b3"] == ("b", 2, 0, None)
    assert sp.latex(net.param("w3")) == "w_{3}"


def test_seed_000_loss_depends_on_all_nine_parameters():
    ex = SEED_000
    net = ex.network
    assert len(net.parameters) == 9
    loss = net.loss(ex.X, ex.Y)
    assert loss.free_symbols == set(net.parameters)
    grads = net.gradient(ex.X, ex.Y, values=ex.values)
    assert all(g != 0 for g in grads.values())


def test_exact_mode_linear_network_matches_fraction_hand_computation():
    """A linear 2-2-1 net on integer data, decimal weights: exact Rationals equal to a Fraction computation."""
    ex = SEED_000
    net = ex.network
    got = net.gradient(ex.X, ex.Y, exact=True, values=ex.values)
    v = {k: Fraction(str(x)) for k, x in ex.values.items()}
    W1 = [[v["w1_1_1"], v["w1_1_2"]], [v["w1_2_1"], v["w1_2_2"]]]
    b1 = [v["b1_1"], v["b1_2"]]
    W2 = [v["w2_1_1"], v["w2_1_2"]]
    n = len(ex.X)
    want = {k: Fraction(0) for k in v}
    for x, y in zip(ex.X, ex.Y):
        h = [W1[j][0] * x[0] + W1[j][1] * x[1] + b1[j] for j in range(2)]
        r = W2[0] * h[0] + W2[1] * h[1] + v["b2_1"] - y  # residual of the prediction
        c = Fraction(2, n) * r  # d/dpred of (1/n) * r^2
        want["b2_1"] += c
        for j in range(2):
            want[f"w2_1_{j + 1}"] += c * h[j]
            want[f"b1_{j + 1}"] += c * W2[j]
            for k in range(2):
                want[f"w1_{j + 1}_{k + 1}"] += c * W2[j] * x[k]
    for name, g in got.items():
        assert isinstance(g, sp.Rational), (name, g)
        assert Fraction(int(g.p), int(g.q)) == want[name]


def test_exact_mode_turns_decimals_into_rationals():
    net = Network([1, 1], hidden=[], output="identity", loss="sse")
    loss = net.loss([0.1], [0.3], exact=True, fix={"w1_1_1": 0.2})
    b = net.param("b1_1")
    assert sp.expand(loss - (b + sp.Rational(1, 50) - sp.Rational(3, 10)) ** 2) == 0
    assert not loss.atoms(sp.Float)


# --------------------------------------------------------------------------- symbols and forms


def test_default_names_and_latex():
    net = Network([12, 11, 1])
    w = net.param("w1_11_12")
    assert sp.latex(w) == r"w^{[1]}_{11,12}"
    assert sp.latex(Network([2, 3, 1]).param("w2_1_3")) == r"w^{[2]}_{13}"
    assert sp.latex(net.param("b1_3")) == r"b^{[1]}_{3}"
    assert all(p.is_real for p in net.parameters)
    assert len(net.parameters) == 12 * 11 + 11 + 11 + 1


def test_per_sample_forms_use_input_and_target_symbols():
    net = Network([2, 2, 1], hidden="tanh", output="identity", loss="sse")
    sample = net.sample_loss()
    x1, x2 = net.inputs
    (y1,) = net.targets
    assert {x1, x2, y1} <= sample.free_symbols
    data_loss = net.loss([[0.5, -1.0]], [[2.0]])
    # equal as functions of the parameters: compared at random parameter values (simplify of the tanh
    # difference can take minutes)
    diff = sample.subs({x1: 0.5, x2: -1.0, y1: 2.0}) - data_loss
    rng = np.random.default_rng(0)
    for _ in range(3):
        at = {p: float(v) for p, v in zip(net.parameters, rng.normal(size=len(net.parameters)))}
        assert abs(float(diff.subs(at))) < 1e-12
    g = net.sample_gradient()
    assert set(g) == set(net.param_names)
    assert set(net.sample_gradient(keys="symbol")) == set(net.parameters)
    assert g[net.parameters[0]] == g[net.param_names[0]]  # a symbol also looks an entry up


def test_fix_keeps_only_free_parameters():
    ex = SEED_002
    fixed = {k: v for k, v in ex.values.items() if k not in ("b3", "w4")}
    net = ex.network
    assert net.loss(ex.X, ex.Y, fix=fixed).free_symbols == {net.param("b3"), net.param("w4")}
    assert set(net.gradient(ex.X, ex.Y, fix=fixed)) == {"b3", "w4"}
    assert set(net.gradient(ex.X, ex.Y, fix=fixed, keys="symbol")) == {net.param("b3"), net.param("w4")}
    with pytest.raises(ValueError, match="keys must be one of name, symbol"):
        net.gradient(ex.X, ex.Y, keys="names")


def test_values_as_mapping_or_array_pair_agree():
    rng = np.random.default_rng(3)
    net = Network([3, 2, 2], hidden="tanh", output="sigmoid", loss="bce")
    X, Y, values = random_problem(net, 4, rng)
    W, b = symprop.spec.parse_values(net, values)
    by_symbol = {net.param(k): v for k, v in values.items()}
    c = net.compile()
    assert c.gradient((W, b), X, Y) == c.gradient(values, X, Y) == c.gradient(by_symbol, X, Y)


def test_relu_derivative_at_zero_is_zero_as_pytorch():
    """A hidden relu unit sitting exactly at z = 0 passes no gradient (relu'(0) = 0)."""
    net = Network([1, 1, 1], hidden="relu", output="identity", loss="sse")
    values = {"w1_1_1": 0.0, "b1_1": 0.0, "w2_1_1": 2.0, "b2_1": 1.0}
    exact = net.gradient([[1.0]], [[0.0]], values=values)
    assert exact[net.param("w1_1_1")] == 0 and exact[net.param("b1_1")] == 0
    assert net.compile().gradient(values, [[1.0]], [[0.0]])["b1_1"] == 0.0
    assert backprop(net, values, [[1.0]], [[0.0]])["b1_1"] == 0.0


# --------------------------------------------------------------------------- numerical stability


@pytest.fixture
def strict_numpy():
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        yield


def test_softplus_and_sigmoid_extremes_stay_finite(strict_numpy):
    net = Network([1, 2, 1], hidden=["softplus"], output="sigmoid", loss="bce")
    values = {"w1_1_1": 1.0, "w1_2_1": -1.0, "b1_1": 0.0, "b1_2": 0.0, "w2_1_1": 1.0, "w2_1_2": -1.0, "b2_1": 0.0}
    X, Y = [[800.0], [-800.0]], [[1.0], [0.0]]
    c = net.compile()
    loss, grad = c.loss_and_gradient(values, X, Y)
    # sample 1: z2 = softplus(800) - softplus(-800) = 800, y = 1 -> loss ~ e^-800; sample 2: z2 = -800, y = 0
    assert np.isfinite(loss) and 0 <= loss < 1e-300
    assert all(np.isfinite(g) for g in grad.values())
    assert grad == pytest.approx(backprop(net, values, X, Y), abs=1e-300)


def test_bce_near_zero_and_one_matches_exact(strict_numpy):
    net = Network([1, 1], hidden=[], output="sigmoid", loss="bce")
    values = {"w1_1_1": 1.0, "b1_1": 0.0}
    X, Y = [[40.0], [-40.0]], [[0.0], [1.0]]  # confidently wrong: a = 1 - 4e-18 with y = 0
    loss = net.compile().loss(values, X, Y)
    exact = float(evaluate(net, net.loss([[40], [-40]], [[0], [1]]), values, 40))
    assert loss == pytest.approx(exact, rel=1e-14)  # ~ 40: naive log(1 - a) would give inf
    g = net.compile().gradient(values, X, Y)
    exact_g = exact_gradient(net, X, Y, values)
    assert_close(g, exact_g, 1e-14)


def test_log_softmax_with_huge_logits(strict_numpy):
    net = Network([2, 3], hidden=[], output="softmax", loss="cross_entropy")
    values = {n: 0.0 for n in net.param_names} | {"w1_1_1": 1000.0, "w1_2_2": -1000.0}
    X, Y = [[1.0, 1.0]], [[0.0, 0.2, 0.8]]
    c = net.compile()
    loss, grad = c.loss_and_gradient(values, X, Y)
    exact_loss = float(evaluate(net, net.loss([[1, 1]], [[0, Fraction(1, 5), Fraction(4, 5)]]), values, 40))
    assert loss == pytest.approx(exact_loss, rel=1e-14)  # ~ 0.2*2000 + 0.8*1000
    assert grad == pytest.approx(backprop(net, values, X, Y), rel=1e-14)


def test_elu_and_silu_with_large_inputs(strict_numpy):
    net = Network([1, 2, 1], hidden=["elu"], output="silu", loss="mse")
    values = {"w1_1_1": 1.0, "w1_2_1": -1.0, "b1_1": 0.0, "b1_2": 0.0, "w2_1_1": -1.0, "w2_1_2": 1.0, "b2_1": 0.0}
    X, Y = [[800.0], [-800.0]], [[0.0], [0.0]]
    loss, grad = net.compile().loss_and_gradient(values, X, Y)
    assert np.isfinite(loss) and all(np.isfinite(g) for g in grad.values())


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(layers=[3]), ValueError, "at least an input and an output"),
        (dict(layers=[2, 0, 1]), ValueError, r"layers\[1\] must be a positive integer"),
        (dict(layers="2,3"), TypeError, "list of layer sizes"),
        (dict(layers=[2, 2, 1], hidden="tanhh"), ValueError, 'unknown activation "tanhh".*Did you mean "tanh"'),
        (dict(layers=[2, 2, 1], loss="mae"), ValueError, r'unknown loss "mae"; valid: mse'),
        (dict(layers=[2, 2, 1], hidden="softmax"), ValueError, "softmax is supported in the output layer only"),
        (dict(layers=[2, 2, 2, 1], hidden=["tanh"]), ValueError, "hidden lists 1 activations"),
        (dict(layers=[2, 2], output="identity", loss="bce"), ValueError, "needs output='sigmoid'"),
        (
            dict(layers=[2, 2], output="sigmoid", loss="cross_entropy"),
            ValueError,
            "needs output='softmax'.*use loss='bce'",
        ),
        (dict(layers=[2, 2], naming="fancy"), ValueError, "naming must be one of default, flat"),
        (dict(layers=[2, 2], hidden="relu(0.3)"), ValueError, "takes no parameter"),
    ],
)
def test_bad_network_specs(kwargs, error, match):
    with pytest.raises(error, match=match):
        Network(**kwargs)


@pytest.fixture
def seed():
    return SEED_002


@pytest.mark.parametrize(
    "X,Y,match",
    [
        ([[0.0, 1.0]] * 3, [0.0, 1.0, 0.0], r"X has shape \(3, 2\), expected \(N, 1\)"),
        ([0.0, 0.5, 1.0], [0.0, 1.0], "X has 3 samples but Y has 2"),
        ([], [], "X is empty"),
        ([0.0, np.nan, 1.0], [0.0, 1.0, 0.0], r"X(\[1, 0\])? must be finite"),
        ([0.0, 0.5, 1.0], [0.0, np.inf, 0.0], r"Y(\[1, 0\])? must be finite"),
    ],
)
def test_bad_data(seed, X, Y, match):
    c = seed.network.compile()
    with pytest.raises(ValueError, match=match):
        c.gradient(seed.values, X, Y)
    with pytest.raises(ValueError, match=match):
        seed.network.loss(X, Y)


def test_targets_out_of_range():
    net = Network([1, 1], hidden=[], output="sigmoid", loss="bce")
    with pytest.raises(ValueError, match=r"bce targets must lie in \[0, 1\]; Y\[1, 0\] is 2.0"):
        net.compile().loss({"w1_1_1": 1, "b1_1": 0}, [1, 2], [0, 2])
    with pytest.raises(ValueError, match="bce targets must lie in"):
        net.loss([1, 2], [0, 2])
    ce = Network([1, 2], hidden=[], output="softmax", loss="cross_entropy")
    with pytest.raises(ValueError, match="cross_entropy targets must lie in"):
        backprop(ce, {n: 0 for n in ce.param_names}, [1], [[-0.5, 1.5]])


def test_bad_values(seed):
    net, X, Y = seed.network, seed.X, seed.Y
    c = net.compile()
    missing = {k: v for k, v in seed.values.items() if k != "w4"}
    with pytest.raises(ValueError, match="missing value.*w4"):
        c.gradient(missing, X, Y)
    with pytest.raises(ValueError, match='unknown parameter name.*"?w9.*valid: w1, w2, b1'):
        c.gradient({**seed.values, "w9": 1.0}, X, Y)
    with pytest.raises(ValueError, match="must be finite"):
        c.gradient({**seed.values, "w1": float("nan")}, X, Y)
    with pytest.raises(ValueError, match=r"weights\[0\] has shape \(1, 2\), expected \(2, 1\)"):
        c.gradient(([np.zeros((1, 2)), np.zeros((1, 2))], [np.zeros(2), np.zeros(1)]), X, Y)
    with pytest.raises(ValueError, match="weights has 1 array"):
        c.gradient(([np.zeros((2, 1))], [np.zeros(2)]), X, Y)
    with pytest.raises(TypeError, match="dict name -> number or a pair"):
        c.gradient([1, 2, 3], X, Y)
    with pytest.raises(ValueError, match='unknown parameter "w7".*valid'):
        net.param("w7")
    with pytest.raises(ValueError, match='"b3" is fixed'):
        net.derivative("b3", X, Y, fix={"b3": 0.0})


def test_errors_are_never_raw_sympy_tracebacks(seed):
    with pytest.raises(TypeError, match=r"X\[0, 0\] must be a number"):
        seed.network.loss([["abc"]], [[1.0]])


# --------------------------------------------------------------------------- independence of the reference


def test_reference_imports_no_sympy():
    code = (
        "import sys; sys.modules['sympy'] = None\n"
        "from symprop.reference import backprop\n"
        "from symprop.examples import SEED_002 as ex\n"
        "print(round(backprop(ex.network, ex.values, ex.X, ex.Y)['b3'], 1))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "-15.7"


def test_compiled_program_is_cached_per_network():
    a = Network([2, 3, 1], hidden="tanh").compile()
    b = Network([2, 3, 1], hidden="tanh").compile()
    assert a is b
    assert (
        "D1 = numpy.matmul(D2, W[1], out=_ws['D1'])" in a.source
    )  # hidden delta: (W^{[2]})^T delta^{[2]}, samples as rows
