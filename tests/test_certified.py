"""The certified oracle (symprop.certified): equal to exact Fractions on linear networks and to a
high-precision evaluation of the closed form on non-linear ones to the last float64 bit; every radius a
true bound (against 200 digits, saturated units up to |z| = 700); kinks; verify's default oracle."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from flint import arb, ctx
from helpers import random_targets

import symprop
from symprop import Network, reference
from symprop.certified import (
    MIN_PREC,
    certified_arrays,
    certified_gradient,
    hidden_form,
    output_form,
)
from symprop.spec import ACTIVATION_PARAMS, arrays_to_dict, as_data, parse_values

ACTS = [a for a in ACTIVATION_PARAMS if a != "softmax"]
HEADS = [
    ("identity", "mse"),
    ("sigmoid", "bce"),
    ("softmax", "cross_entropy"),
    ("tanh", "quadratic"),
    ("softmax", "mse"),
    ("softplus", "sse"),
]


# --------------------------------------------------------------------------- independent oracles


def old_pass(net: Network, weights, biases, X, Y, dps: int) -> dict[str, sp.Float]:
    """The former oracle, kept here as a second method: the symbolic reverse pass of chainrule on
    ``dps``-digit SymPy Floats (every float enters at its exact binary value)."""
    from symprop.chainrule import combine, reverse_sample
    from symprop.graph import parameter_symbols, weight_matrices

    def big(v):
        return sp.Float(float(v), dps)

    values = [big(v) for v in arrays_to_dict(net, weights, biases).values()]
    W, b = weight_matrices(net, dict(zip(parameter_symbols(net), values)))
    sums = {p.name: sp.S.Zero for p in net.param_infos}
    for x, y in zip(X, Y):
        _, As, deltas = reverse_sample(net, [big(v) for v in x], [big(v) for v in y], W, b)
        for p in net.param_infos:
            d = deltas[p.layer][p.row]
            sums[p.name] += d if p.kind == "b" else d * As[p.layer - 1][p.col]
    return combine(net, sums, X.shape[0], W, dps=dps)


def digits_for(net, weights, biases, X, base: int) -> int:
    """``base`` digits plus what saturated units cancel (1 - tanh^2 ~ e^{-2|z|}), for the old pass."""
    Zs, _ = reference.forward(net, weights, biases, X)
    return base + math.ceil(2.5 * max(float(np.max(np.abs(z))) for z in Zs[1:]) / math.log(10))


def fraction_linear(net: Network, weights, biases, X, Y) -> dict[str, Fraction]:
    """The exact gradient of an all-identity network by hand, in Fractions (scale, l2 and ties included)."""
    W = [[[Fraction(float(v)) for v in row] for row in w] for w in weights]
    b = [[Fraction(float(v)) for v in bb] for bb in biases]
    L = net.depth
    gW = [[[Fraction(0)] * len(row) for row in w] for w in W]
    gb = [[Fraction(0)] * len(bb) for bb in b]
    s = net.scale(X.shape[0])
    for x, y in zip(X, Y):
        a = [[Fraction(float(v)) for v in x]]
        for l in range(L):
            a.append([sum((W[l][j][k] * a[l][k] for k in range(len(a[l]))), b[l][j]) for j in range(len(b[l]))])
        delta = [2 * (aj - Fraction(float(yj))) * s for aj, yj in zip(a[L], y)]
        for l in range(L - 1, -1, -1):
            for j, dj in enumerate(delta):
                gb[l][j] += dj
                for k, ak in enumerate(a[l]):
                    gW[l][j][k] += dj * ak
            delta = [sum(W[l][j][k] * delta[j] for j in range(len(delta))) for k in range(len(a[l]))]
    entries = {}
    for p in net.param_infos:
        if p.kind == "w":
            entries[p.name] = gW[p.layer - 1][p.row][p.col] + 2 * net.l2 * W[p.layer - 1][p.row][p.col]
        else:
            entries[p.name] = gb[p.layer - 1][p.row]
    return {name: sum(entries[e.name] for e in net.slots(name)) for name in net.param_names}


def random_problem(rng, layers, hidden, output, loss, scale=1.0, n=5, **kw):
    net = Network(layers, hidden=hidden, output=output, loss=loss, **kw)
    W = [rng.normal(0, scale, s) for s in net.weight_shapes()]
    b = [rng.normal(0, scale, s[0]) for s in net.weight_shapes()]
    X = rng.normal(size=(n, layers[0]))
    Y = random_targets(net, n, rng)
    if loss == "bce":
        Y = np.round(Y)  # 0/1 targets: the saturated case that cancels most
    return net, W, b, X, Y


def ball_contains(ball: arb, value: Fraction, slack: Fraction) -> bool:
    mm, me = ball.mid().man_exp()
    rm, re = ball.rad().man_exp()
    mid = Fraction(int(mm)) * Fraction(2) ** int(me)
    rad = Fraction(int(rm)) * Fraction(2) ** int(re)
    return abs(value - mid) <= rad + slack


# --------------------------------------------------------------------------- linear networks: exact Fractions


@pytest.mark.parametrize(
    "loss,reduction,l2,tie",
    [
        ("mse", None, 0, None),
        ("sse", None, "1/10", None),
        ("quadratic", "sum", 0, {"bh": ["b1_1", "b1_2"]}),
        ("mse", "batchmean", 0.25, {"w": ["w1_1_1", "w2_1_2"]}),
        ("quadratic", None, 0, None),
    ],
)
def test_linear_networks_equal_exact_fractions_bit_for_bit(loss, reduction, l2, tie):
    rng = np.random.default_rng(11)
    for _ in range(3):
        net = Network([2, 3, 2], hidden="identity", output="identity", loss=loss, reduction=reduction, l2=l2, tie=tie)
        W = [rng.normal(size=s) for s in net.weight_shapes()]
        b = [rng.normal(size=s[0]) for s in net.weight_shapes()]
        if tie:  # tied entries hold one value
            for entries in net.tied.values():
                first = net.info(entries[0])
                v = (W if first.kind == "w" else b)[first.layer - 1][first.index]
                for e in entries:
                    p = net.info(e)
                    (W if p.kind == "w" else b)[p.layer - 1][p.index] = v
        X, Y = rng.normal(size=(7, 2)), rng.normal(size=(7, 2))
        got = certified_arrays(net, W, b, X, Y)
        hand = fraction_linear(net, W, b, X, Y)
        assert got.all_certified
        assert {k: got[k] for k in hand} == {k: float(v) for k, v in hand.items()}


def test_dyadic_linear_gradient_is_an_exact_ball():
    """With a power-of-two scale every operation is exact at enough bits: radius 0, the exact value itself."""
    net = Network([1, 1], output="identity", loss="sse")
    got = certified_gradient(net, {"w1_1_1": 0.75, "b1_1": -0.5}, [[1.5], [-2.0]], [[0.25], [3.0]])
    hand = fraction_linear(
        net, [np.array([[0.75]])], [np.array([-0.5])], np.array([[1.5], [-2.0]]), np.array([[0.25], [3.0]])
    )
    assert got == {k: float(v) for k, v in hand.items()} and set(got.radius.values()) == {0.0}


# --------------------------------------------------------------------------- non-linear: the closed form at many digits


@pytest.mark.parametrize("hidden", ACTS)
@pytest.mark.parametrize("output,loss", HEADS)
def test_every_activation_and_loss_equals_the_high_precision_closed_form(hidden, output, loss):
    rng = np.random.default_rng(abs(hash((hidden, output, loss))) % 2**32)
    net, W, b, X, Y = random_problem(rng, [3, 4, 2], hidden, output, loss, scale=1.5)
    got = certified_arrays(net, W, b, X, Y)
    old = old_pass(net, W, b, X, Y, digits_for(net, W, b, X, 60))
    assert got.all_certified
    assert got == {k: float(v) for k, v in old.items()}


@pytest.mark.parametrize(
    "kw",
    [
        {"reduction": "sum"},
        {"reduction": "batchmean"},
        {"l2": "1/3"},
        {"tie": {"bh": ["b1_1", "b1_2", "b1_3"]}},
        {"l2": 0.01, "tie": {"ww": ["w1_1_1", "w2_2_1"]}},
    ],
)
def test_reductions_l2_and_ties_equal_the_closed_form(kw):
    rng = np.random.default_rng(3)
    for hidden, output, loss in [
        ("tanh", "identity", "mse"),
        ("elu", "softmax", "cross_entropy"),
        ("silu", "sigmoid", "bce"),
    ]:
        net, W, b, X, Y = random_problem(rng, [2, 3, 2], hidden, output, loss, **kw)
        values = arrays_to_dict(net, W, b)  # a tied parameter takes its first entry's value everywhere
        W, b = parse_values(net, values)
        got = certified_arrays(net, W, b, X, Y)
        old = old_pass(net, W, b, X, Y, digits_for(net, W, b, X, 60))
        assert got == {k: float(v) for k, v in old.items()} and got.all_certified


def test_symbolic_gradient_of_network_evaluated_at_50_digits_agrees():
    """A third route: Network.gradient's closed forms at the binary values, evalf(50)."""
    net = Network([2, 2, 1], hidden="softplus", output="sigmoid", loss="bce", naming="flat")
    rng = np.random.default_rng(8)
    values = {name: float(rng.normal()) for name in net.param_names}
    X, Y = rng.normal(size=(3, 2)), np.array([[1.0], [0.0], [1.0]])
    exact = {name: sp.Rational(*Fraction(v).as_integer_ratio()) for name, v in values.items()}
    Xq = [[sp.Rational(*Fraction(float(v)).as_integer_ratio()) for v in row] for row in X]  # binary values
    closed = net.gradient(Xq, Y, exact=True)
    sub = {net.param(k): v for k, v in exact.items()}
    got = certified_gradient(net, values, X, Y)
    assert got == {k: float(sp.N(closed[k].xreplace(sub), 50)) for k in net.param_names}


# --------------------------------------------------------------------------- radii are true bounds


@pytest.mark.parametrize("seed", range(6))
def test_every_radius_is_a_true_bound_against_200_digits_with_saturated_units(seed):
    rng = np.random.default_rng(100 + seed)
    hidden = ACTS[seed % len(ACTS)]
    output, loss = HEADS[seed % len(HEADS)]
    net, W, b, X, Y = random_problem(rng, [2, 3, 2], hidden, output, loss, scale=1.0, n=4)
    W[0] *= 150.0  # |z| up to ~700 in the first layer, hundreds in the second
    b[0] = np.clip(b[0] * 100, -300, 300)
    Zs, _ = reference.forward(net, W, b, X)
    assert float(np.max(np.abs(Zs[1]))) > 100
    hi = old_pass(net, W, b, X, Y, digits_for(net, W, b, X, 200))
    for max_prec in (128, 16384):  # at 128 bits many balls are wide (not certified): still true bounds
        got = certified_arrays(net, W, b, X, Y, min_prec=128, max_prec=max_prec)
        for name in net.param_names:
            exact = Fraction(str(hi[name]))  # a 200-digit (plus cancellation) decimal
            slack = abs(exact) * Fraction(1, 10**150) + Fraction(1, 10**300)
            assert ball_contains(got.balls[name], exact, slack), (name, got.balls[name], hi[name])
            if got.certified[name]:
                assert got[name] == float(exact)
        if max_prec == 16384:
            assert got.all_certified


# --------------------------------------------------------------------------- kinks


def test_kink_exactly_at_zero_uses_the_left_derivative_convention():
    """z = 0.5 * 1 - 0.25 * 2 + 0 = 0 exactly: relu'(0) = 0, leaky_relu'(0) = slope, elu'(0) = alpha."""
    X, Y = np.array([[1.0, 2.0], [1.0, -1.0]]), np.array([[0.5], [0.25]])
    W = [np.array([[0.5, -0.25], [1.0, 0.5]]), np.array([[1.5, -2.0]])]
    b = [np.array([0.0, 0.25]), np.array([0.125])]
    for hidden, slope in [("relu", Fraction(0)), ("leaky_relu", Fraction(1, 100)), ("elu", Fraction(1))]:
        net = Network([2, 2, 1], hidden=hidden, output="identity", loss="sse")
        got = certified_arrays(net, W, b, X, Y)
        # by hand: sample 1 has z1 = (0, 1.25); sample 2 has z1 = (0.75, 0.75), all other units positive
        q = [[Fraction(float(v)) for v in row] for row in W[0]], [Fraction(float(v)) for v in W[1][0]]
        grad_b1_1 = Fraction(0)
        for x, y in zip(X, Y):
            z = [sum(q[0][j][k] * Fraction(float(x[k])) for k in range(2)) + Fraction(float(b[0][j])) for j in range(2)]
            a = [zj if zj > 0 else slope * zj for zj in z]  # identical for elu at 0 and for positive z
            out = sum(q[1][j] * a[j] for j in range(2)) + Fraction(float(b[1][0]))
            fp = 1 if z[0] > 0 else slope
            grad_b1_1 += 2 * (out - Fraction(float(y[0]))) * q[1][0] * fp
        assert got["b1_1"] == float(grad_b1_1) and got.certified["b1_1"], hidden


def test_ball_straddling_a_kink_is_refined_by_precision():
    """z2 = a1_2 - a1_1 = sigma(1/2 + 2^-140) - sigma(1/2) > 0 but below 128-bit resolution: refined."""
    net = Network([1, 2, 1], hidden="sigmoid", output="relu", loss="sse")
    W = [np.array([[1.0], [0.5]]), np.array([[-1.0, 1.0]])]
    b = [np.array([-0.5, 2.0**-140]), np.array([0.0])]  # z1 = 1/2 and 1/2 + 2^-140 (exact float sums)
    X, Y = np.array([[1.0]]), np.array([[-1.0]])
    got = certified_arrays(net, W, b, X, Y, min_prec=128)
    assert got.prec >= 256 and got.all_certified
    # relu is active (z2 > 0): dC/db2 = 2 (a2 - y) with a2 = z2 ~ 2^-142, so exactly 2 * (z2 + 1) -> 2.0 in float64
    assert got["b2_1"] == 2.0
    old = old_pass(net, W, b, X, Y, 120)
    assert got == {k: float(v) for k, v in old.items()}


def test_structural_zero_that_balls_cannot_prove_is_reported_honestly():
    """Two identical sigmoid units give z2 = a - a: exactly 0, but as balls it straddles the kink at every
    precision; at the cap both relu branches are joined and the radius covers the convention's value."""
    net = Network([1, 2, 1], hidden="sigmoid", output="relu", loss="sse")
    W = [np.array([[1.0], [1.0]]), np.array([[-1.0, 1.0]])]
    b = [np.array([0.3, 0.3]), np.array([0.0])]
    X, Y = np.array([[0.7]]), np.array([[-1.0]])
    got = certified_arrays(net, W, b, X, Y, max_prec=512)
    assert got.prec == 512 and not got.certified["b2_1"]
    assert certified_arrays(net, W, b, X, Y).prec == symprop.certified.KINK_PREC  # no futile refinement beyond
    report = symprop.verify(lambda W, b, X, Y: reference.backprop_arrays(net, W, b, X, Y), net, (W, b), X, Y)
    assert report.ok and "could not be certified" in report.notes[0]  # the float64 value inside the ball is used
    # the convention (relu'(0) = 0) gives 0; the other branch gives 2 * (0 + 1) = 2: the ball holds both
    assert ball_contains(got.balls["b2_1"], Fraction(0), Fraction(0))
    assert ball_contains(got.balls["b2_1"], Fraction(2), Fraction(0))


def test_dead_relu_units_give_proven_zeros():
    net = Network([2, 2, 1], hidden="relu", output="identity", loss="mse")
    W = [np.array([[-1.0, -1.0], [0.3, 0.1]]), np.array([[0.7, -1.1]])]
    b = [np.array([-0.1, 0.2]), np.array([0.05])]
    X, Y = np.array([[0.5, 0.25], [1.0, 2.0]]), np.array([[1.0], [0.0]])
    got = certified_arrays(net, W, b, X, Y)
    for name in ("w1_1_1", "w1_1_2", "b1_1", "w2_1_1"):
        assert got[name] == 0.0 and got.radius[name] == 0.0 and got.certified[name]


# --------------------------------------------------------------------------- the printed arb code


@pytest.mark.parametrize("act", ACTS)
def test_printed_hidden_forms_enclose_the_numpy_reference(act):
    net = Network([1, 1, 1], hidden=act)
    a = net.activations[0]
    fn, source = hidden_form(a)
    assert "def hidden_" in source
    p = None if a.param is None else float(a.param)
    saved = ctx.prec
    ctx.prec = 128
    try:
        for z in (-30.0, -1.5, -1e-3, 0.0, 2e-3, 0.7, 40.0):
            value, slope = fn(arb(z))
            ref_a = reference.ACTIVATIONS[a.name][0](np.array(z), p)
            ref_fp = reference.ACTIVATIONS[a.name][1](np.array(z), ref_a, p)
            assert abs(float(value.mid()) - float(ref_a)) <= 1e-14 * max(1.0, abs(float(ref_a))), (act, z)
            assert abs(float(slope.mid()) - float(ref_fp)) <= 1e-14 * max(1.0, abs(float(ref_fp))), (act, z)
    finally:
        ctx.prec = saved


def test_sigmoid_bce_output_is_fused_and_stable():
    _, source = output_form(Network([1, 1], output="sigmoid", loss="bce").output, "bce")
    assert "log" not in source  # dell/dz = (1 - y) sigma(z) - y sigma(-z): the 1/a and 1/(1-a) cancelled
    net = Network([1, 1], output="sigmoid", loss="bce", reduction="sum")
    got = certified_gradient(net, {"w1_1_1": 1.0, "b1_1": 0.0}, [[700.0]], [[1.0]])
    assert got.prec == MIN_PREC and got["b1_1"] == -float(sp.N(1 / (1 + sp.exp(700)), 30))


# --------------------------------------------------------------------------- verify and bad input


def test_verify_uses_the_certified_oracle_at_1e5_work():
    rng = np.random.default_rng(2)
    net = Network([10, 40, 40, 5], hidden="tanh", output="identity", loss="mse")
    n = 44
    assert net.n_params * n >= 10**5
    W = [rng.normal(0, 0.4, s) for s in net.weight_shapes()]
    b = [rng.normal(0, 0.4, s[0]) for s in net.weight_shapes()]
    X, Y = rng.normal(size=(n, 10)), rng.normal(size=(n, 5))
    report = symprop.verify(lambda W, b, X, Y: reference.backprop_arrays(net, W, b, X, Y), net, (W, b), X, Y)
    assert report.ok and report.oracle.startswith("exact (certified")
    assert all(r.radius is not None and r.radius < 1e-20 * max(abs(r.expected), 1e-300) + 1e-300 for r in report.rows)
    assert "radius" in str(report) and "radius" in report.to_markdown() and "radius" in report._repr_html_()
    compiled = net.compile().gradient((W, b), X, Y)
    assert max(abs(compiled[r.name] - r.expected) for r in report.rows) < 1e-12


def test_bad_precision_arguments_are_refused_clearly():
    net = Network([1, 1], output="identity", loss="mse")
    with pytest.raises(ValueError, match="min_prec must be a whole number of bits >= 64"):
        certified_gradient(net, {"w1_1_1": 1.0, "b1_1": 0.0}, [[1.0]], [[1.0]], min_prec=10)
    with pytest.raises(TypeError, match="symprop.Network"):
        certified_gradient("net", {}, [[1.0]], [[1.0]])


def test_precision_context_is_restored():
    before = ctx.prec
    net = Network([1, 1], output="tanh", loss="mse")
    certified_gradient(net, {"w1_1_1": 300.0, "b1_1": 0.0}, [[1.0], [2.0]], [[0.0], [1.0]])
    assert ctx.prec == before


def test_progress_is_reported_per_block_of_samples():
    net = Network([1, 2, 1], hidden="tanh", output="identity", loss="mse")
    W, b = [np.array([[0.5], [-0.3]]), np.array([[1.0, 2.0]])], [np.array([0.1, 0.2]), np.array([0.0])]
    X, Y = as_data(net, np.linspace(-1, 1, 600).reshape(-1, 1), np.zeros((600, 1)))
    calls = []
    certified_arrays(net, W, b, X, Y, progress=lambda done, prec: calls.append((done, prec)))
    assert [c[0] for c in calls][:3] == [256, 512, 600]


def test_exact_rationals_enter_as_rationals():
    """Object arrays of Fractions (a problem file's decimals read exactly): 1/10 is the rational, not 0.1's binary."""
    net = Network([1, 1], output="identity", loss="mse")
    w, b, x, y = Fraction(1, 10), Fraction(1, 3), Fraction(3, 7), Fraction(1, 5)
    W, B = [np.array([[w]], dtype=object)], [np.array([b], dtype=object)]
    got = certified_arrays(net, W, B, np.array([[x]], dtype=object), np.array([[y]], dtype=object))
    r = 2 * (w * x + b - y)
    assert got == {"w1_1_1": float(r * x), "b1_1": float(r)} and got.all_certified
    floats = certified_arrays(
        net, [np.array([[0.1]])], [np.array([float(b)])], np.array([[float(x)]]), np.array([[0.2]])
    )
    assert floats["b1_1"] != got["b1_1"] or floats["w1_1_1"] != got["w1_1_1"]  # binary values differ from decimals


def test_report_json_carries_the_radius():
    import json

    net = Network([2, 2, 1], hidden="tanh", output="identity", loss="mse")
    rng = np.random.default_rng(4)
    W = [rng.normal(size=s) for s in net.weight_shapes()]
    b = [rng.normal(size=s[0]) for s in net.weight_shapes()]
    X, Y = rng.normal(size=(3, 2)), rng.normal(size=(3, 1))
    report = symprop.verify(lambda W, b, X, Y: reference.backprop_arrays(net, W, b, X, Y), net, (W, b), X, Y)
    data = json.loads(json.dumps(report.to_dict()))
    got = certified_arrays(net, W, b, X, Y)
    assert data["ok"] and data["oracle"].startswith("exact (certified")
    assert {r["name"]: r["radius"] for r in data["rows"]} == got.radius
    compiled = symprop.verify(
        lambda W, b, X, Y: reference.backprop_arrays(net, W, b, X, Y), net, (W, b), X, Y, oracle="compiled"
    ).to_dict()
    assert {r["radius"] for r in compiled["rows"]} == {None}
