"""Gradient reports: oracles, conditioning-scaled tolerances, messages, bad candidates, finite differences."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest
from helpers import random_targets

import symprop
from symprop import Network, examples, reference
from symprop.spec import ACTIVATION_PARAMS
from symprop.verification import (
    GradientReport,
    compare_finite_difference,
    exact_gradient,
    finite_difference,
    verify,
    working_digits,
)

ELEMENTWISE = [a for a in ACTIVATION_PARAMS if a != "softmax"]


def ref_candidate(net: Network):
    """Correct float64 backprop (symprop.reference, vectorised over the batch)."""
    return lambda W, b, X, Y: reference.backprop_arrays(net, W, b, X, Y)


def loop_candidate(net: Network):
    """Correct backprop summed one sample at a time (another rounding order)."""

    def fn(W, b, X, Y):
        gw = [np.zeros_like(w) for w in W]
        gb = [np.zeros_like(v) for v in b]
        for i in range(X.shape[0]):
            sw, sb = reference.backprop_arrays(net, W, b, X[i : i + 1], Y[i : i + 1])
            gw = [g + s for g, s in zip(gw, sw)]
            gb = [g + s for g, s in zip(gb, sb)]
        n = 1 if net.loss_name == "sse" else X.shape[0]
        return [g / n for g in gw], [g / n for g in gb]

    return fn


def compiled_candidate(net: Network):
    return lambda W, b, X, Y: net.compile().gradient_arrays(W, b, X, Y, check=False)


def random_problem(rng: np.random.Generator, near: float = 0.3):
    """A random network, parameters and data; with probability ``near`` targets within 1e-9 of the
    predictions (a - y is then a tiny difference of large numbers: ill-conditioned on purpose)."""
    depth = int(rng.integers(1, 4))
    layers = [int(rng.integers(1, 5)) for _ in range(depth + 1)]
    hidden = [str(rng.choice(ELEMENTWISE)) for _ in range(depth - 1)]
    loss = str(rng.choice(["mse", "sse", "quadratic", "bce", "cross_entropy"]))
    output = {"bce": "sigmoid", "cross_entropy": "softmax"}.get(loss) or str(rng.choice(ELEMENTWISE + ["softmax"]))
    if output == "softmax":
        layers[-1] = max(2, layers[-1])
    net = Network(layers, hidden=hidden, output=output, loss=loss)
    s = float(rng.choice([0.3, 1.0, 3.0]))
    W = [rng.normal(0, s, sh) for sh in net.weight_shapes()]
    b = [rng.normal(0, s, sh[0]) for sh in net.weight_shapes()]
    n = int(rng.integers(1, 7))
    X = rng.normal(0, float(rng.choice([0.5, 2.0])), (n, layers[0]))
    Y = random_targets(net, n, rng)
    if loss != "cross_entropy" and rng.random() < near:
        A = reference.forward(net, W, b, X)[1][-1]
        Y = A + rng.normal(0, 1e-9, A.shape)
        Y = np.clip(Y, 0, 1) if loss == "bce" else Y
    return net, (W, b), X, Y


def perturbed(report: GradientReport, name: str, rel: float) -> dict[str, float]:
    """The exact gradient with one entry off by a relative ``rel``."""
    values = {r.name: r.expected for r in report.rows}
    values[name] *= 1 + rel
    return values


# --------------------------------------------------------------------------- oracles against the seeds


def seed002_candidate(W, b, X, Y):
    """Hand-written backprop of seed 002's 1-2-1 softplus network with SSR (flat names)."""
    x, y = X[:, 0], Y[:, 0]
    z = np.outer(x, W[0][:, 0]) + b[0]
    a = np.log1p(np.exp(z))
    pred = a @ W[1][0] + b[1][0]
    r = -2 * (y - pred)  # dSSR/dpred
    hidden = np.outer(r, W[1][0]) / (1 + np.exp(-z))
    return [(hidden * x[:, None]).sum(0)[:, None], (r[:, None] * a).sum(0)[None, :]], [
        hidden.sum(0),
        np.array([r.sum()]),
    ]


def test_seed002_published_slopes():
    """Seed 002: slope -15.7 at b3 = 0, step size -1.57 (lr 0.1), then slope -6.26 at the new b3."""
    ex = examples.SEED_002
    first = symprop.assert_gradients_match(seed002_candidate, ex.network, ex.values, ex.X, ex.Y)
    slope = first["b3"].expected
    assert round(slope, 1) == -15.7 and round(ex.lr * slope, 2) == -1.57
    new_b3 = ex.values["b3"] - ex.lr * slope
    second = symprop.assert_gradients_match(seed002_candidate, ex.network, dict(ex.values, b3=new_b3), ex.X, ex.Y)
    assert round(second["b3"].expected, 2) == -6.26


def test_seed000_expected_equals_exact_fraction_computation():
    """The oracle is the exact gradient at the binary values: equal to a Fraction computation."""
    ex = examples.SEED_000
    net = ex.network
    q = {k: Fraction(float(v)) for k, v in ex.values.items()}
    W1 = [[q["w1_1_1"], q["w1_1_2"]], [q["w1_2_1"], q["w1_2_2"]]]
    b1, W2, b2 = [q["b1_1"], q["b1_2"]], [q["w2_1_1"], q["w2_1_2"]], q["b2_1"]
    grad = {k: Fraction(0) for k in q}
    n = len(ex.X)
    for x, y in zip(ex.X, ex.Y):
        a1 = [W1[j][0] * x[0] + W1[j][1] * x[1] + b1[j] for j in range(2)]
        d2 = 2 * (W2[0] * a1[0] + W2[1] * a1[1] + b2 - y) / n
        grad["b2_1"] += d2
        for j in range(2):
            grad[f"w2_1_{j + 1}"] += d2 * a1[j]
            d1 = W2[j] * d2
            grad[f"b1_{j + 1}"] += d1
            for k in range(2):
                grad[f"w1_{j + 1}_{k + 1}"] += d1 * x[k]
    report = verify(ref_candidate(net), net, ex.values, ex.X, ex.Y)
    assert report.ok and report.oracle.startswith("exact")
    for row in report.rows:
        assert row.expected == float(grad[row.name]), row.name


def test_exact_and_compiled_oracles_agree_and_auto_switches_on_size(monkeypatch):
    rng = np.random.default_rng(5)
    net = Network([10, 20, 5], hidden="tanh", output="softmax", loss="cross_entropy")
    W = [rng.normal(0, 0.5, s) for s in net.weight_shapes()]
    b = [rng.normal(0, 0.5, s[0]) for s in net.weight_shapes()]
    X, Y = rng.normal(size=(20, 10)), rng.dirichlet(np.ones(5), 20)
    assert verify(ref_candidate(net), net, (W, b), X, Y).oracle.startswith("exact")  # 6,500 <= 10^6
    monkeypatch.setattr(symprop.verification, "EXACT_BUDGET", 1000)
    auto = verify(ref_candidate(net), net, (W, b), X, Y)
    assert auto.ok and auto.oracle == "compiled float64"  # 325 parameters x 20 samples > budget
    assert "above the certified oracle's budget" in auto.notes[0] and "note: parameters x samples" in str(auto)
    assert all(r.radius is None for r in auto.rows) and "radius" not in str(auto).splitlines()[3]
    small = verify(ref_candidate(net), net, (W, b), X[:2], Y[:2], oracle="exact")
    compiled = verify(ref_candidate(net), net, (W, b), X[:2], Y[:2], oracle="compiled")
    assert small.ok and compiled.ok
    for r1, r2 in zip(small.rows, compiled.rows):
        assert r2.expected == pytest.approx(
            r1.expected, rel=1e-12, abs=1e-12 * max(abs(r.expected) for r in small.rows)
        )
    worst = max(auto.rows, key=lambda r: abs(r.expected)).name
    assert [r.name for r in verify(perturbed(auto, worst, 1e-6), net, (W, b), X, Y).failures] == [worst]


def test_saturated_units_get_more_digits():
    """sigmoid + bce with z around 60: 1 - a is e^-60; the certified oracle keeps enough bits."""
    net = Network([1, 1], output="sigmoid", loss="bce")
    W, b = [np.array([[30.0]])], [np.array([0.5])]
    X, Y = np.array([[2.0], [2.1]]), np.array([[1.0], [0.0]])
    assert working_digits(net, W, b, X) > 100
    exact = exact_gradient(net, W, b, X, Y)
    a = 1 / (1 + np.exp(-np.array([60.5, 63.5])))
    assert exact["b1_1"] == pytest.approx(((a[0] - 1) + a[1]) / 2, rel=1e-12)
    assert verify(ref_candidate(net), net, (W, b), X, Y).ok


# --------------------------------------------------------------------------- tolerance: no false alarms, 1e-6 caught


def check_problem(rng, candidate_kind: str, perturb: bool, near: float = 0.3) -> tuple[int, int]:
    """No false alarm for a correct candidate; a 1e-6 error in one knowable entry is caught.

    Returns (entries known to better than 1e-6, nonzero entries).
    """
    net, values, X, Y = random_problem(rng, near)
    make = {"ref": ref_candidate, "loop": loop_candidate, "compiled": compiled_candidate}
    if candidate_kind == "float32":
        report = verify(
            lambda W, b, X_, Y_: reference.backprop_arrays(net, W, b, X_, Y_), net, values, X, Y, dtype="float32"
        )
    else:
        report = verify(make[candidate_kind](net), net, values, X, Y)
    assert report.ok, f"false alarm ({candidate_kind}):\n{report}"
    knowable = [r for r in report.rows if 1e-6 * abs(r.expected) > r.tol]
    if perturb and knowable and candidate_kind != "float32":
        row = knowable[int(rng.integers(len(knowable)))]
        bad = verify(perturbed(report, row.name, 1e-6), net, values, X, Y)
        assert [r.name for r in bad.failures] == [row.name] and bad.worst.name == row.name
    return len(knowable), sum(1 for r in report.rows if r.expected != 0)


KINDS = ("ref", "loop", "compiled", "float32")


def test_correct_implementations_pass_and_1e6_is_caught():
    rng = np.random.default_rng(2026)
    for i in range(40):
        check_problem(rng, KINDS[i % 4], perturb=True)


def test_well_conditioned_entries_are_known_to_far_better_than_1e6():
    rng = np.random.default_rng(77)
    counts = np.array([check_problem(rng, KINDS[i % 3], perturb=False, near=0.0) for i in range(30)])
    knowable, nonzero = counts.sum(axis=0)
    assert knowable >= 0.9 * nonzero


@pytest.mark.slow
def test_zero_false_alarms_over_1000_random_problems():
    rng = np.random.default_rng(1000)
    for i in range(1000):
        check_problem(rng, KINDS[i % 4], perturb=i % 10 == 0)


def test_float32_defaults():
    ex = examples.SEED_001
    net = ex.network
    report = verify(ref_candidate(net), net, ex.values, ex.X, ex.Y, dtype="float32")
    assert report.ok and report.dtype == "float32"
    inferred = verify(lambda W, b, X, Y: reference.backprop_arrays(net, W, b, X, Y), net, ex.values, ex.X, ex.Y)
    assert inferred.ok  # float64 arrays in, float64 out: float64 defaults
    as32 = lambda W, b, X, Y: reference.backprop_arrays(
        net,
        [w.astype(np.float32) for w in W],
        [v.astype(np.float32) for v in b],
        X.astype(np.float32),
        Y.astype(np.float32),
    )  # noqa: E731
    assert verify(as32, net, ex.values, ex.X, ex.Y).dtype == "float32"  # inferred from the result
    assert not verify(as32, net, ex.values, ex.X, ex.Y, dtype="float64")  # float32 rounding is not float64
    wrong = perturbed(report, "w1_2_1", 1e-3)
    assert [r.name for r in verify(wrong, net, ex.values, ex.X, ex.Y, dtype="float32").failures] == ["w1_2_1"]


class TensorLike:
    """What NumPy sees of a PyTorch tensor that requires grad: __array__ refuses until detach()."""

    def __init__(self, array: np.ndarray, requires_grad: bool = True) -> None:
        self._array, self.requires_grad = array, requires_grad
        self.dtype = f"torch.{array.dtype.name}"

    def detach(self) -> TensorLike:
        return TensorLike(self._array, requires_grad=False)

    def cpu(self) -> TensorLike:
        return self

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self._array if dtype is None else self._array.astype(dtype)


def test_tensors_that_require_grad_are_detached_and_their_float32_is_seen(seed001):
    ex, (gw, gb) = seed001
    wrap = lambda arrays, dt: [TensorLike(a.astype(dt)) for a in arrays]  # noqa: E731
    assert verify((wrap(gw, np.float64), wrap(gb, np.float64)), ex.network, ex.values, ex.X, ex.Y).ok
    as32 = verify((wrap(gw, np.float32), wrap(gb, np.float32)), ex.network, ex.values, ex.X, ex.Y)
    assert as32.ok and as32.dtype == "float32"  # float32 results get float32 tolerances
    bad = [TensorLike(gw[0] * (1 + 1e-3)), TensorLike(gw[1])]
    report = verify((bad, wrap(gb, np.float64)), ex.network, ex.values, ex.X, ex.Y)
    assert {r.name for r in report.failures} == {p for p in ex.network.param_names if p.startswith("w1_")}


def test_real_pytorch_autograd_gradients_with_create_graph(seed001):
    torch = pytest.importorskip("torch", reason="PyTorch is optional (pip install torch==2.13.0)")
    ex, _ = seed001
    net = ex.network

    def torch_gradient(W, b, X, Y):  # sigmoid layers, quadratic cost C = sum (a - y)^2 / (2 N)
        Ws = [torch.tensor(w, requires_grad=True) for w in W]
        bs = [torch.tensor(v, requires_grad=True) for v in b]
        a = torch.tensor(X)
        for w, v in zip(Ws, bs):
            a = torch.sigmoid(a @ w.T + v)
        loss = 0.5 * ((a - torch.tensor(Y)) ** 2).sum() / X.shape[0]
        grads = torch.autograd.grad(loss, Ws + bs, create_graph=True)  # results require grad
        return list(grads[:2]), list(grads[2:])

    assert verify(torch_gradient, net, ex.values, ex.X, ex.Y).ok


def test_user_tolerances_loosen_and_tighten():
    ex = examples.SEED_001
    report = verify(ref_candidate(ex.network), ex.network, ex.values, ex.X, ex.Y)
    off = perturbed(report, "b2_1", 1e-4)
    assert not verify(off, ex.network, ex.values, ex.X, ex.Y)
    assert verify(off, ex.network, ex.values, ex.X, ex.Y, rtol=1e-3).ok
    assert verify(off, ex.network, ex.values, ex.X, ex.Y, atol=1e-4).ok


# --------------------------------------------------------------------------- report and message format


def test_report_table_markdown_html_and_worst():
    ex = examples.SEED_001
    report = verify(
        perturbed(verify(ref_candidate(ex.network), ex.network, ex.values, ex.X, ex.Y), "w2_2_3", 1e-5),
        ex.network,
        ex.values,
        ex.X,
        ex.Y,
    )
    assert not report and not report.ok and report.worst.name == "w2_2_3"
    row = report["w2_2_3"]
    assert row.rel_err == pytest.approx(1e-5, rel=1e-6) and row.abs_err == pytest.approx(
        abs(row.expected) * 1e-5, rel=1e-6
    )
    lines = str(report).splitlines()
    table = lines[lines.index(next(l for l in lines if l.startswith("parameter"))) :]
    assert len(table) == ex.network.n_params + 2 and len({len(l) for l in table}) == 1  # aligned
    assert "FAIL" in next(l for l in table if l.startswith("w2_2_3"))
    md = report.to_markdown().splitlines()
    assert sum(1 for l in md if l.startswith("|")) == ex.network.n_params + 2
    html = report._repr_html_()
    assert html.count("<tr") == ex.network.n_params + 1 and html.count("background:#fdd") == 1


def test_assertion_message_order_and_cap():
    ex = examples.SEED_001
    net = ex.network
    flipped = lambda W, b, X, Y: tuple([-g for g in part] for part in reference.backprop_arrays(net, W, b, X, Y))  # noqa: E731
    with pytest.raises(AssertionError) as info:
        symprop.assert_gradients_match(flipped, net, ex.values, ex.X, ex.Y)
    msg = str(info.value)
    keys = [
        "to tolerance rtol=",
        "17 / 17 parameters mismatched",
        "Max absolute difference",
        "Max relative difference",
        " parameter ",
        "... and 7 more",
        "worst: ",
    ]
    positions = [msg.index(k) for k in keys]
    assert positions == sorted(positions)
    assert re.search(r"worst: \S+: dC/d\S+ = 1/\(2N\)", msg)
    assert "__tracebackhide__" in symprop.assert_gradients_match.__code__.co_varnames


def test_passing_assert_returns_the_report():
    ex = examples.SEED_001
    report = symprop.assert_gradients_match(ref_candidate(ex.network), ex.network, ex.values, ex.X, ex.Y)
    assert isinstance(report, GradientReport) and report.ok and "ok: 0 / 17" in str(report)


# --------------------------------------------------------------------------- bad candidates and bad input


@pytest.fixture
def seed001():
    ex = examples.SEED_001
    grads = reference.backprop_arrays(
        ex.network, *symprop.spec.parse_values(ex.network, ex.values), *symprop.spec.as_data(ex.network, ex.X, ex.Y)
    )
    return ex, grads


def test_wrong_layer_count_names_the_expected_shapes(seed001):
    ex, (gw, gb) = seed001
    report = verify((gw[:1], gb), ex.network, ex.values, ex.X, ex.Y)
    assert not report
    assert "grad_weights has 1 array(s) but the network has 2 weight layer(s)" in report.problems[0]
    assert "grad_weights[1] (2, 3)" in report.problems[0]
    assert {r.status for r in report.rows if r.name.startswith("w")} == {"missing"}


def test_wrong_shape_and_transposed_hint(seed001):
    ex, (gw, gb) = seed001
    report = verify(([gw[0].T, gw[1]], gb), ex.network, ex.values, ex.X, ex.Y)
    assert "grad_weights[0] has shape (2, 3), expected (3, 2)" in report.problems[0]
    assert "transposed" in report.problems[0]
    column = verify((gw, [gb[0][:, None], gb[1]]), ex.network, ex.values, ex.X, ex.Y)
    assert column.ok  # a bias column (n, 1) is accepted


def test_wrong_and_missing_names(seed001):
    ex, (gw, gb) = seed001
    good = ex.network.values_from_arrays(gw, gb)
    typo = {("w1_1_3" if k == "w1_1_2" else k): v for k, v in good.items()}
    report = verify(typo, ex.network, ex.values, ex.X, ex.Y)
    assert "unknown parameter name(s) w1_1_3" in report.problems[0] and "valid: w1_1_1, w1_1_2" in report.problems[0]
    assert report["w1_1_2"].status == "missing"
    partial = {k: v for k, v in good.items() if k != "b2_2"}
    assert (
        "no gradient given for 1 of 17 parameters: b2_2"
        in verify(partial, ex.network, ex.values, ex.X, ex.Y).problems[0]
    )
    keyed_by_symbol = {ex.network.param(k): v for k, v in good.items()}
    assert verify(keyed_by_symbol, ex.network, ex.values, ex.X, ex.Y).ok


def test_nan_and_inf_fail_with_their_status(seed001):
    ex, (gw, gb) = seed001
    gw = [w.copy() for w in gw]
    gw[1][0, 0], gw[1][1, 2] = np.nan, -np.inf
    report = verify((gw, gb), ex.network, ex.values, ex.X, ex.Y)
    assert report["w2_1_1"].status == "nan" and report["w2_2_3"].status == "inf"
    assert {r.name for r in report.failures} == {"w2_1_1", "w2_2_3"}
    with pytest.raises(AssertionError, match=r"2 / 17 parameters mismatched(.|\n)*w2_1_1 .* nan"):
        symprop.assert_gradients_match((gw, gb), ex.network, ex.values, ex.X, ex.Y)


def test_candidate_of_the_wrong_kind_is_a_type_error(seed001):
    ex, _ = seed001
    with pytest.raises(TypeError, match=r"callable fn\(weights, biases, X, Y\)"):
        verify(42, ex.network, ex.values, ex.X, ex.Y)
    with pytest.raises(TypeError, match=r"returned ndarray"):
        verify(lambda W, b, X, Y: np.zeros(3), ex.network, ex.values, ex.X, ex.Y)
    report = verify(lambda W, b, X, Y: (1, 2, 3), ex.network, ex.values, ex.X, ex.Y)
    assert "pair (grad_weights, grad_biases), got tuple of length 3" in report.problems[0]


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"rtol": -1}, ValueError, "rtol"),
        ({"dtype": "int8"}, ValueError, "float64, float32"),
        ({"oracle": "exactly"}, ValueError, 'Did you mean "exact"'),
        ({"atol": "x"}, TypeError, "atol"),
    ],
)
def test_bad_options(seed001, kwargs, error, text):
    ex, grads = seed001
    with pytest.raises(error, match=re.escape(text)):
        verify(grads, ex.network, ex.values, ex.X, ex.Y, **kwargs)


def test_bad_values_and_data_raise_clear_errors(seed001):
    ex, grads = seed001
    with pytest.raises(ValueError, match=r"X has shape \(1, 3\), expected \(N, 2\)"):
        verify(grads, ex.network, ex.values, [[1, 2, 3]], ex.Y)
    with pytest.raises(ValueError, match=r"missing value\(s\)"):
        verify(grads, ex.network, {"w1_1_1": 0.1}, ex.X, ex.Y)
    with pytest.raises(TypeError, match="symprop.Network"):
        verify(grads, "2-3-2", ex.values, ex.X, ex.Y)


# --------------------------------------------------------------------------- finite differences


def test_finite_differences_are_close_but_far_less_accurate():
    ex = examples.SEED_001
    exact = verify(ref_candidate(ex.network), ex.network, ex.values, ex.X, ex.Y)
    errs = {}
    for method in ("forward", "backward", "central"):
        fd = finite_difference(ex.network, ex.values, ex.X, ex.Y, method=method)
        rel = [abs(fd[r.name] - r.expected) / abs(r.expected) for r in exact.rows]
        errs[method] = float(np.median(rel))
        assert max(rel) < 1e-4
    assert errs["central"] < errs["forward"] / 10 and errs["central"] < errs["backward"] / 10
    report = compare_finite_difference(ex.network, ex.values, ex.X, ex.Y)
    assert not report.ok and "central finite differences" in report.label
    assert max(r.rel_err for r in report.rows) > 1e-12  # what finite differences cost
    tiny_step = finite_difference(ex.network, ex.values, ex.X, ex.Y, eps=1e-14)
    assert max(abs(tiny_step[r.name] - r.expected) / abs(r.expected) for r in exact.rows) > 1e-3


def test_finite_difference_bad_method_and_step():
    ex = examples.SEED_001
    with pytest.raises(ValueError, match='Did you mean "central"'):
        finite_difference(ex.network, ex.values, ex.X, ex.Y, method="centre")
    with pytest.raises(ValueError, match="eps must be positive"):
        finite_difference(ex.network, ex.values, ex.X, ex.Y, eps=0)
