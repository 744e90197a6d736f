"""Issue 12, the Python API: activation parameters are checked where they are read, numeric warnings stay
inside, and symbolic or exact work too large to do is refused up front with an estimate (symprop.budget)."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest

import symprop
from symprop import Network
from symprop.budget import BudgetError
from symprop.spec import Activation, parse_activation

# --------------------------------------------------------------------------- activation parameters


@pytest.mark.parametrize(("text", "fragment"), [
    ("leaky_relu(1e400)", "slope = 1.00e+400 is out of range"),
    ("leaky_relu(-5)", "slope = -5 is out of range"),
    ("leaky_relu(2)", "slope = 2 is out of range"),
    ("leaky_relu(1e-400)", "slope = 1.00e-400 is below the smallest float64"),
    ("elu(-1)", "alpha = -1 is out of range"),
    ("elu(1e308)", "alpha = 1.00e+308 is out of range"),
])
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
