"""Property-based tests (Hypothesis): random networks, exact kinks, three gradients that must agree.

Random networks of 1-4 weight layers, widths 1-6, any activation per hidden layer, every valid
loss (with its output activation), and data on a grid of quarters so that some pre-activation is
exactly 0 (the kink of relu / leaky_relu). For each:

* the exact gradient (SymPy reverse pass at 40 digits), the compiled float64 gradient and the
  NumPy reference backprop agree;
* ``verify`` passes the reference backprop;
* ``prove_backprop`` holds (on the smaller networks: it differentiates closed forms).

Two Hypothesis profiles: ``symprop-bounded`` in the normal suite (a few seconds), and
``symprop-ci`` for the test marked slow (run in CI).
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symprop
from symprop import budget, reference
from symprop.spec import Network

settings.register_profile(
    "symprop-bounded",
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "symprop-ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BOUNDED = settings.get_profile("symprop-bounded")
CI = settings.get_profile("symprop-ci")

HIDDEN = ("identity", "sigmoid", "tanh", "relu", "leaky_relu(0.2)", "softplus", "elu(0.5)", "silu")
#: (loss, output activations it allows)
LOSSES = (
    ("mse", ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus")),
    ("sse", ("identity", "tanh", "relu")),
    ("quadratic", ("identity", "sigmoid", "elu")),
    ("bce", ("sigmoid",)),
    ("cross_entropy", ("softmax",)),
)
QUARTER = st.integers(-8, 8).map(lambda k: k / 4)  # exact in float64: sums and products stay exact


@st.composite
def problems(draw, max_width: int = 6, max_depth: int = 4):
    depth = draw(st.integers(1, max_depth))
    loss, outputs = draw(st.sampled_from(LOSSES))
    output = draw(st.sampled_from(outputs))
    widths = [draw(st.integers(1, max_width)) for _ in range(depth + 1)]
    if loss == "cross_entropy":
        widths[-1] = max(widths[-1], 2)
    hidden = [draw(st.sampled_from(HIDDEN)) for _ in range(depth - 1)]
    net = Network(widths, hidden=hidden if hidden else "identity", output=output, loss=loss)
    n = draw(st.integers(1, 4))
    X = np.array([[draw(QUARTER) for _ in range(widths[0])] for _ in range(n)])
    values = {name: draw(QUARTER) for name in net.param_names}
    # kinks: some first-layer neurons get the bias that makes z exactly 0 on sample 0
    for j in range(widths[1]):
        if draw(st.booleans()):
            values[f"b1_{j + 1}"] = -sum(values[f"w1_{j + 1}_{k + 1}"] * X[0, k] for k in range(widths[0]))
    if loss == "bce":
        Y = np.array([[draw(st.sampled_from([0.0, 0.25, 1.0])) for _ in range(widths[-1])] for _ in range(n)])
    elif loss == "cross_entropy":
        Y = np.zeros((n, widths[-1]))
        for i in range(n):
            Y[i, draw(st.integers(0, widths[-1] - 1))] = 1.0
    else:
        Y = np.array([[draw(QUARTER) for _ in range(widths[-1])] for _ in range(n)])
    return net, values, X, Y


def exact_gradient(net: Network, values, X, Y) -> dict[str, float]:
    """SymPy's reverse pass on 40-digit numbers (every input here is a quarter: exactly represented).

    Rationals would be exact too, but unevaluated numbers such as exp(3/4) nest like the closed
    form on deep networks; 40 digits keep the result exact far beyond float64's 16.
    """
    F = lambda v: sp.Float(float(v), 40)  # noqa: E731
    grads = net.gradient(
        [[F(v) for v in row] for row in X],
        [[F(v) for v in row] for row in Y],
        values={k: F(v) for k, v in values.items()},
    )
    return {str(p): float(g) for p, g in grads.items()}  # keyed by name


def check(net: Network, values, X, Y, prove_up_to: float) -> None:
    compiled = net.compile().gradient(values, X, Y)
    ref = reference.backprop(net, values, X, Y)
    exact = exact_gradient(net, values, X, Y)
    assert list(compiled) == list(ref) == list(exact) == list(net.param_names)
    scale = max([1.0] + [abs(v) for v in exact.values()])
    for name in net.param_names:
        assert compiled[name] == pytest.approx(exact[name], rel=1e-9, abs=1e-11 * scale), (name, net)
        assert ref[name] == pytest.approx(exact[name], rel=1e-9, abs=1e-11 * scale), (name, net)

    def candidate(weights, biases, Xc, Yc):
        return reference.backprop_arrays(net, weights, biases, Xc, Yc)

    report = symprop.verify(candidate, net, values, X, Y)
    assert report.ok, report
    if budget.gradient_terms(net, 1) <= prove_up_to:  # prove_backprop differentiates closed forms
        assert symprop.prove_backprop(net).ok


@BOUNDED
@given(problems(max_width=3, max_depth=2))
def test_exact_compiled_and_reference_gradients_agree(problem) -> None:
    check(*problem, prove_up_to=2_000)


@pytest.mark.slow
@CI
@given(problems())
def test_exact_compiled_and_reference_gradients_agree_at_scale(problem) -> None:
    check(*problem, prove_up_to=20_000)


def test_the_kink_is_the_left_derivative_everywhere() -> None:
    # relu'(0) = 0 and leaky_relu'(0) = slope (PyTorch's convention), by hand: z = w x + b = 0 exactly
    for hidden, slope in (("relu", 0.0), ("leaky_relu(0.2)", 0.2)):
        net = Network([1, 1, 1], hidden=hidden, output="identity", loss="sse")
        values = {"w1_1_1": 0.5, "b1_1": -0.5, "w2_1_1": 2.0, "b2_1": 0.25}
        X, Y = np.array([[1.0]]), np.array([[1.0]])
        # pred = 2 * act(0) + 0.25 = 0.25; dL/db1 = 2 (pred - y) * w2 * act'(0)
        expected = 2 * (0.25 - 1.0) * 2.0 * slope
        for grads in (
            net.compile().gradient(values, X, Y),
            reference.backprop(net, values, X, Y),
            exact_gradient(net, values, X, Y),
        ):
            assert grads["b1_1"] == pytest.approx(expected, abs=1e-15)
