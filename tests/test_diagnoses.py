"""report.diagnoses: each classic mistake planted (by hand-written code) is named first; correct code gets none."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_targets
from mistakes_catalog import CATALOG, NET, correct, problem

import symprop
from symprop import Network, reference
from symprop.diagnoses import IDS, mistaken_backprop, mistakes
from symprop.spec import ACTIVATION_PARAMS


def square_layer_transposed(W, b, X, Y):
    """dC/dW^2 (4x4, square) returned as a^1 delta^T: same shape, transposed values."""
    gw, gb = correct(W, b, X, Y)
    return [gw[0], gw[1].T, gw[2]], gb


def one_bias_wrong(W, b, X, Y):
    """A typo in the output layer's bias gradient only (summing the wrong axis and adding a constant)."""
    gw, gb = correct(W, b, X, Y)
    return gw, [gb[0], gb[1], gb[2] + 0.01]


PLANTED = {
    "scale": CATALOG["sum_instead_of_mean"].fn,
    "sign": CATALOG["sign_flipped"].fn,
    "transposed": square_layer_transposed,
    "fprime_of_a": CATALOG["derivative_at_a"].fn,
    "missing_fprime": CATALOG["missing_hidden_derivative"].fn,
    "no_transpose": CATALOG["hidden_delta_transpose_missing"].fn,
    "wrong_input_in_dW": CATALOG["wrong_layer_activation"].fn,
    "layer": one_bias_wrong,
}


@pytest.mark.parametrize("mistake_id", sorted(PLANTED))
def test_each_planted_mistake_is_reported_first(mistake_id):
    for seed in (0, 3):
        values, X, Y = problem(seed)
        report = symprop.verify(PLANTED[mistake_id], NET, values, X, Y)
        assert not report and report.diagnoses, mistake_id
        assert report.diagnoses[0].id == mistake_id, [str(d) for d in report.diagnoses]
        message = report.failure_message()
        assert f"likely mistake: [{mistake_id}]" in message and "per layer: layer 1: " in message


def test_swapped_pair_by_shape_and_by_value():
    values, X, Y = problem(0)
    by_shape = symprop.verify(lambda *a: correct(*a)[::-1], NET, values, X, Y)
    assert by_shape.diagnoses[0].id == "swapped_pair"
    net = Network([1, 3, 1], hidden="tanh", output="identity", loss="mse")  # layer 1: W (3, 1) and b (3,)
    rng = np.random.default_rng(0)
    W, b = [rng.normal(size=s) for s in net.weight_shapes()], [rng.normal(size=s[0]) for s in net.weight_shapes()]
    X, Y = rng.normal(size=(4, 1)), rng.normal(size=(4, 1))

    def exchanged(W_, b_, X_, Y_):
        gw, gb = reference.backprop_arrays(net, W_, b_, X_, Y_)
        return [gb[0][:, None], gw[1]], [gw[0][:, 0], gb[1]]

    report = symprop.verify(exchanged, net, (W, b), X, Y)
    assert not report.problems and report.diagnoses[0].id == "swapped_pair" and report.diagnoses[0].layer == 1


def test_scale_prints_c_and_its_likely_cause():
    values, X, Y = problem(0)  # N = 5 samples, m = 2 outputs, mse = sum / (N m)
    cases = {
        "sum_instead_of_mean": ("c = 10", "plain sum"),
        "dropped_factor_two": ("c = 1/2", "the 2 of d(a - y)^2/da = 2 (a - y) dropped"),
        "mean_over_samples_only": ("c = 2", "missing the 1/m: mse averages over the m = 2 outputs"),
        "bias_mean_not_sum": ("c = 1/5", "divided by N = 5"),
    }
    for name, (c_text, cause) in cases.items():
        first = symprop.verify(CATALOG[name].fn, NET, values, X, Y).diagnoses[0]
        assert first.id == "scale" and c_text in first.message and cause in first.message, (name, first.message)
    quadratic = Network([3, 4, 4, 2], hidden=["tanh", "sigmoid"], output="sigmoid", loss="quadratic")
    half = symprop.verify(
        lambda *a: tuple([2 * g for g in part] for part in reference.backprop_arrays(quadratic, *a)),
        quadratic,
        values,
        X,
        Y,
    ).diagnoses[0]
    assert half.id == "scale" and "c = 2: missing the 1/2" in half.message


def test_layer_diagnosis_names_the_layer_and_its_equation():
    values, X, Y = problem(0)
    first = symprop.verify(CATALOG["tanh_derivative_from_z"].fn, NET, values, X, Y).diagnoses[0]
    assert first.id == "layer" and first.layer == 1
    assert "confined to layer 1" in first.message and "(2) delta^[1] = (W^[2])^T delta^[2]" in first.message
    bias_only = symprop.verify(one_bias_wrong, NET, values, X, Y).diagnoses[0]
    assert bias_only.layer == 3 and "(4) dC/db^[3] = delta^[3]" in bias_only.message


def test_the_mistaken_backprop_without_a_mistake_is_the_reference_and_each_mistake_matches_the_catalog():
    values, X, Y = problem(1)
    W, b = values
    gw, gb = mistaken_backprop(NET, W, b, X, Y)
    rw, rb = reference.backprop_arrays(NET, W, b, X, Y)
    for a, r in zip(gw + gb, rw + rb):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-15)
    # the hand-written catalog mistakes are a second, independent implementation of the same mistakes
    pairs = {
        ("missing_fprime", 2, None): "missing_hidden_derivative",
        ("fprime_of_a", 2, None): "derivative_at_a",
        ("no_transpose", 1, None): "hidden_delta_transpose_missing",
        ("missing_fprime", 3, None): "missing_output_derivative",
        ("wrong_input_in_dW", 2, ("a", 2)): "wrong_layer_activation",
    }
    for (mistake, layer, source), name in pairs.items():
        assert (mistake, layer, source) in mistakes(NET)
        mw, mb = mistaken_backprop(NET, W, b, X, Y, mistake, layer, source)
        cw, cb = CATALOG[name].fn(W, b, X, Y)
        for a, c in zip(mw + mb, list(cw) + list(cb)):
            np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-14)


def test_ids_are_stable():
    assert set(IDS) >= {
        "scale",
        "sign",
        "transposed",
        "swapped_pair",
        "fprime_of_a",
        "missing_fprime",
        "no_transpose",
        "wrong_input_in_dW",
        "layer",
    }


# --------------------------------------------------------------------------- no diagnosis on correct code

ELEMENTWISE = [a for a in ACTIVATION_PARAMS if a != "softmax"]


def random_case(rng):
    depth = int(rng.integers(1, 4))
    layers = [int(rng.integers(1, 5)) for _ in range(depth + 1)]
    loss = str(rng.choice(["mse", "sse", "quadratic", "bce", "cross_entropy"]))
    output = {"bce": "sigmoid", "cross_entropy": "softmax"}.get(loss) or str(rng.choice(ELEMENTWISE))
    if output == "softmax":
        layers[-1] = max(2, layers[-1])
    reduction = str(rng.choice(["mean", "sum", "batchmean"])) if rng.random() < 0.3 else None
    net = Network(
        layers,
        hidden=[str(rng.choice(ELEMENTWISE)) for _ in range(depth - 1)],
        output=output,
        loss=loss,
        reduction=reduction,
    )
    W = [rng.normal(0, 1, s) for s in net.weight_shapes()]
    b = [rng.normal(0, 1, s[0]) for s in net.weight_shapes()]
    n = int(rng.integers(1, 6))
    return net, (W, b), rng.normal(size=(n, layers[0])), random_targets(net, n, rng)


def check_no_false_diagnoses(rng):
    net, values, X, Y = random_case(rng)
    kind = int(rng.integers(3))
    if kind == 0:
        cand = lambda W, b, X_, Y_: reference.backprop_arrays(net, W, b, X_, Y_)  # noqa: E731
    elif kind == 1:
        cand = lambda W, b, X_, Y_: mistaken_backprop(net, W, b, X_, Y_)  # noqa: E731
    else:
        cand = lambda W, b, X_, Y_: net.compile().gradient_arrays(W, b, X_, Y_, check=False)  # noqa: E731
    report = symprop.verify(cand, net, values, X, Y)
    assert report.ok and report.diagnoses == [], report.failure_message()
    # one entry off by 1e-6: at most "layer" (or a one-entry "scale"), never a made-up mistake
    knowable = [r for r in report.rows if 1e-6 * abs(r.expected) > 4 * r.tol]
    if knowable:
        row = knowable[int(rng.integers(len(knowable)))]
        grads = {r.name: r.expected * (1 + 1e-6 if r.name == row.name else 1) for r in report.rows}
        bad = symprop.verify(grads, net, values, X, Y)
        assert not bad and {d.id for d in bad.diagnoses} <= {"layer", "scale"}, [str(d) for d in bad.diagnoses]


def test_no_diagnoses_on_correct_code():
    rng = np.random.default_rng(13)
    for _ in range(60):
        check_no_false_diagnoses(rng)


@pytest.mark.slow
def test_zero_diagnoses_over_1000_random_correct_problems():
    rng = np.random.default_rng(1013)
    for _ in range(1000):
        check_no_false_diagnoses(rng)
