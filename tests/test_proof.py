"""prove_backprop: the four equations equal sympy.diff of the closed-form loss, for every pair."""

from __future__ import annotations

import pytest
import sympy as sp

import symprop
from symprop import Network
from symprop.proof import ASSUME_ROWS_SUM_TO_ONE, ProofReport, textbook_hidden_delta, textbook_output_delta
from symprop.spec import ACTIVATION_PARAMS

ELEMENTWISE = [a for a in ACTIVATION_PARAMS if a != "softmax"]
SQUARED = ["mse", "sse", "quadratic"]


def assert_proved(report: ProofReport) -> None:
    assert report.ok and bool(report), str(report)
    assert len(report.identities) == report.network.n_params
    assert all(i.method.startswith("symbolic") for i in report.identities), report.methods()


@pytest.mark.parametrize("loss", SQUARED)
@pytest.mark.parametrize("act", ELEMENTWISE)
def test_squared_losses_with_every_elementwise_activation(loss, act):
    assert_proved(symprop.prove_backprop(Network([1, 2, 1], hidden=act, output=act, loss=loss)))


@pytest.mark.parametrize("loss", SQUARED)
def test_softmax_output_with_squared_losses(loss):
    assert_proved(symprop.prove_backprop(Network([1, 2, 2], hidden="tanh", output="softmax", loss=loss)))


@pytest.mark.parametrize("hidden", ELEMENTWISE)
def test_sigmoid_bce_with_every_hidden_activation(hidden):
    assert_proved(symprop.prove_backprop(Network([1, 2, 1], hidden=hidden, output="sigmoid", loss="bce")))


@pytest.mark.parametrize("hidden", ELEMENTWISE)
def test_softmax_cross_entropy_needs_rows_summing_to_one(hidden):
    report = symprop.prove_backprop(Network([1, 1, 2], hidden=hidden, output="softmax", loss="cross_entropy"))
    assert_proved(report)
    assert report.assumptions == [ASSUME_ROWS_SUM_TO_ONE]
    assert "a - y" in report.rules["output delta"]


def test_a_minus_y_is_false_without_the_assumption():
    net = Network([1, 1, 2], hidden="tanh", output="softmax", loss="cross_entropy")
    from symprop.proof import softmax_cross_entropy_delta

    wrong = symprop.prove_backprop(net, output_delta=softmax_cross_entropy_delta, assume_targets_sum_to_one=False)
    assert not wrong and len(wrong.failures) == net.n_params and wrong.assumptions == []
    general = symprop.prove_backprop(net, assume_targets_sum_to_one=False)  # the Jacobian form needs nothing
    assert_proved(general)


@pytest.mark.slow
@pytest.mark.parametrize(
    "loss, output",
    [(l, o) for l in SQUARED for o in ELEMENTWISE + ["softmax"]] + [("bce", "sigmoid"), ("cross_entropy", "softmax")],
)
def test_two_layer_2_2_2_networks(loss, output):
    hidden = "tanh" if output in ("softmax", "sigmoid") else output
    assert_proved(symprop.prove_backprop(Network([2, 2, 2], hidden=hidden, output=output, loss=loss)))


def test_deeper_mixed_network():
    net = Network([2, 2, 2, 1], hidden=["relu", "softplus"], output="identity", loss="mse")
    assert_proved(symprop.prove_backprop(net))


# --------------------------------------------------------------------------- wrong rules fail clearly


def no_activation_derivative(grad_a, z, a, y, act):
    """delta^L = dC/da (forgetting sigma'(z^L))."""
    return list(grad_a)


def derivative_at_a(W_next, delta_next, z, act):
    """sigma'(a) instead of sigma'(z)."""
    back = W_next.T * delta_next
    a = symprop.activations.apply(act, z)
    return [back[k] * d for k, d in enumerate(symprop.activations.apply_derivative(act, a))]


def no_transpose(W_next, delta_next, z, act):
    """W delta instead of W^T delta (a square 2x2 W so that it runs)."""
    back = W_next * delta_next
    return [back[k] * d for k, d in enumerate(symprop.activations.apply_derivative(act, z))]


def test_wrong_output_rule_fails_every_parameter():
    net = Network([1, 2, 1], hidden="sigmoid", output="sigmoid", loss="mse")
    report = symprop.prove_backprop(net, output_delta=no_activation_derivative)
    assert not report and len(report.failures) == net.n_params
    text = str(report)
    assert text.startswith("FAILED: 7 / 7 identities do not hold")
    assert "rule output delta: no_activation_derivative" in text and "DOES NOT HOLD" in text
    assert "cause: the output delta rule (no_activation_derivative)" in text
    assert all("residual" not in i.method and i.residual for i in report.failures)


@pytest.mark.parametrize("rule", [derivative_at_a, no_transpose])
def test_wrong_hidden_rule_fails_only_hidden_layers(rule):
    net = Network([2, 2, 2], hidden="tanh", output="sigmoid", loss="mse")
    report = symprop.prove_backprop(net, hidden_delta=rule)
    failed = {i.parameter for i in report.failures}
    assert failed and all(name.startswith(("w1", "b1")) for name in failed)
    assert all(i.holds for i in report.identities if i.parameter.startswith(("w2", "b2")))
    assert "(1) and (2)" in report.failures[0].rules
    assert report.blame().startswith(f"the hidden delta rule ({rule.__name__}) is wrong")
    md = report.to_markdown()
    assert "**no**" in md and f"rule hidden delta: {rule.__name__}" in md


def test_textbook_rules_given_explicitly_are_the_default():
    net = Network([1, 2, 1], hidden="elu", output="identity", loss="sse")
    report = symprop.prove_backprop(net, output_delta=textbook_output_delta, hidden_delta=textbook_hidden_delta)
    assert_proved(report)
    assert "<table>" in report._repr_html_()


def test_bad_rules_and_input_raise_clear_errors():
    net = Network([1, 2, 1])
    with pytest.raises(ValueError, match="output_delta returned 2 entries, expected 1"):
        symprop.prove_backprop(net, output_delta=lambda g, z, a, y, act: [sp.S.One, sp.S.One])
    with pytest.raises(TypeError, match="symprop.Network"):
        symprop.prove_backprop("1-2-1")
