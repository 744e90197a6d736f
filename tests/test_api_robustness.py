"""Issue 12, the Python API: activation parameters are checked where they are read, numeric warnings stay
inside, and symbolic or exact work too large to do is refused up front with an estimate (symprop.budget)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import symprop
from symprop import Network
from symprop.budget import BudgetError
from symprop.spec import Activation, parse_activation

# --------------------------------------------------------------------------- activation parameters


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("leaky_relu(1e400)", "slope = 1.00e+400 is out of range"),
        ("leaky_relu(-5)", "slope = -5 is out of range"),
        ("leaky_relu(2)", "slope = 2 is out of range"),
        ("leaky_relu(1e-400)", "slope = 1.00e-400 is below the smallest float64"),
        ("elu(-1)", "alpha = -1 is out of range"),
        ("elu(1e308)", "alpha = 1.00e+308 is out of range"),
    ],
)
def test_absurd_activation_parameters_are_refused_naming_the_activation_and_the_valid_range(text, fragment) -> None:
    with pytest.raises(ValueError) as info:
        Network([2, 2, 1], hidden=text)
    message = str(info.value)
    assert "\n" not in message and fragment in message and message.startswith("hidden: activation ")
    assert ("0 <= slope <= 1" if "leaky" in text else "0 <= alpha <= 1e6") in message
    assert len(message) < 240  # a 400-digit number is never printed


@pytest.mark.parametrize("bad", [("leaky_relu", math.inf), ("leaky_relu", math.nan), "elu(nan)"])
def test_non_finite_activation_parameters_are_refused(bad) -> None:
    with pytest.raises(ValueError, match="leaky_relu|elu"):
        parse_activation(bad, "output")


def test_the_valid_range_is_inclusive_and_the_constructor_checks_too() -> None:
    assert parse_activation("leaky_relu(0)", "hidden").param == 0
    assert parse_activation("leaky_relu(1)", "hidden").param == 1
    assert parse_activation(("elu", 1e6), "hidden").param == 10**6
    with pytest.raises(ValueError, match="alpha = 1000001 is out of range"):
        Activation("elu", Fraction(10**6 + 1))
    with pytest.raises(TypeError, match="must be a Fraction"):
        Activation("elu", 0.5)


# --------------------------------------------------------------------------- work budgets in the Python API


def test_a_symbolic_gradient_too_large_to_build_is_refused_up_front_with_an_estimate() -> None:
    net = Network([10] * 8, hidden="tanh")
    X, Y = np.ones((3, 10)), np.ones((3, 10))
    with pytest.raises(BudgetError) as info:
        net.gradient(X, Y)  # would take minutes of SymPy assumption queries on closed forms of ~1e9 terms
    message = str(info.value)
    assert "\n" not in message and message.startswith("refused: the gradient's closed forms")
    assert "fewer samples" in message and "--budget SECONDS" in message and "terms" in message
    with pytest.raises(BudgetError):
        net.derivative("w1_1_1", X, Y)
    with pytest.raises(BudgetError, match="method='diff'"):
        Network([10] * 6, hidden="tanh").gradient(np.ones((3, 10)), np.ones((3, 10)), method="diff")


def test_the_budget_is_the_callers_choice_and_numbers_skip_the_symbolic_work() -> None:
    net = Network([2, 3, 1], hidden="tanh")
    X, Y = [[0.5, -1.0], [1.0, 2.0]], [0.25, -0.5]
    with symprop.budget.limit(1e-9), pytest.raises(BudgetError, match="the gradient's closed forms"):
        net.gradient(X, Y)
    grads = net.gradient(X, Y)  # within the default budget
    assert set(grads) == set(net.param_names)
    # at numbers the one numeric pass runs: fast even for a network whose closed forms are absurd
    big = Network([10] * 8, hidden="tanh")
    values = {n: 0.01 * (i % 7 - 3) for i, n in enumerate(big.param_names)}
    at = big.gradient(np.ones((3, 10)), np.ones((3, 10)), values=values)
    compiled = big.compile().gradient(values, np.ones((3, 10)), np.ones((3, 10)))
    assert all(float(at[n]) == pytest.approx(compiled[n], rel=1e-9, abs=1e-15) for n in big.param_names)


def test_verify_refuses_an_absurd_exact_oracle_before_calling_the_candidate() -> None:
    net = Network([30, 30, 1], hidden="tanh")
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(200000, 30)), rng.normal(size=(200000, 1))
    values = symprop.spec.arrays_to_dict(
        net, [rng.normal(size=(30, 30)), rng.normal(size=(1, 30))], [np.zeros(30), np.zeros(1)]
    )

    def candidate(W, b, X, Y):
        raise AssertionError("the candidate must not run when the oracle is refused")

    with pytest.raises(BudgetError) as info:
        symprop.verify(candidate, net, values, X, Y, oracle="exact")
    assert "the certified exact oracle (oracle='exact')" in str(info.value) and "oracle='auto'" in str(info.value)
    with symprop.budget.limit(1e-9), pytest.raises(BudgetError, match="the float64 oracle"):
        symprop.verify(candidate, net, values, X[:10], Y[:10], oracle="compiled")


def test_descend_exact_checks_the_whole_run_against_the_budget() -> None:
    net = Network([1, 2, 1], hidden="softplus")
    values = {n: 0.5 for n in net.param_names}
    with pytest.raises(BudgetError, match="exact gradient descent of up to max_steps = 100000000"):
        symprop.descend(net, values, [[0.0], [1.0]], [0.0, 1.0], max_steps=10**8, tol=1e-9, exact=True)
