"""Gradient descent traces: seed 002 end to end, exact oracles, divergence, tables and bad input."""

from __future__ import annotations

import json
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest

import symprop
from symprop import reference
from symprop.descent import BLOWUP, RISE, Trace, descend
from symprop.examples import SEED_001, SEED_002

# --------------------------------------------------------------------------- an independent oracle for seed 002
# The seed's network: pred(x) = w3 softplus(w1 x + b1) + w4 softplus(w2 x + b2) + b3 and
# SSR = sum (y - pred)^2, so d SSR / d b3 = sum -2 (y - pred). Written out by hand here, no symprop.


def _softplus(z: float) -> float:
    return math.log1p(math.exp(z))


def seed002_pred(x: float, b3: float) -> float:
    v = SEED_002.values
    return v["w3"] * _softplus(v["w1"] * x + v["b1"]) + v["w4"] * _softplus(v["w2"] * x + v["b2"]) + b3


def seed002_ssr(b3: float) -> float:
    return sum((y - seed002_pred(x, b3)) ** 2 for x, y in zip(SEED_002.X, SEED_002.Y))


def seed002_slope(b3: float) -> float:
    return sum(-2 * (y - seed002_pred(x, b3)) for x, y in zip(SEED_002.X, SEED_002.Y))


def seed002_trace(**options) -> Trace:
    e = SEED_002
    settings = {"train": e.train, "lr": e.lr, "tol": e.tol} | options
    return descend(e.network, e.values, e.X, e.Y, **settings)


# --------------------------------------------------------------------------- seed 002, number for number


def test_seed002_first_step_matches_the_published_numbers():
    first = seed002_trace().steps[0]
    assert first.index == 0
    assert first.values["b3"] == 0.0
    assert first.loss == pytest.approx(seed002_ssr(0.0), rel=1e-12)
    # published: slope -15.7, step size -1.57, new b3 = 1.57
    assert round(first.gradient["b3"], 1) == -15.7
    assert round(first.step_size["b3"], 2) == -1.57
    assert round(first.new_values["b3"], 2) == 1.57
    assert first.gradient["b3"] == pytest.approx(seed002_slope(0.0), rel=1e-12)


def test_seed002_second_slope_is_minus_6_26_at_the_unrounded_new_b3():
    second = seed002_trace().steps[1]
    assert second.values["b3"] == pytest.approx(1.5655108, abs=1e-7)  # 1.57 after rounding
    assert round(second.gradient["b3"], 2) == -6.26  # published
    assert second.gradient["b3"] == pytest.approx(seed002_slope(second.values["b3"]), rel=1e-12)
    # at exactly b3 = 1.57 the slope is -6.235..., i.e. -6.24, not -6.26: the seed used the unrounded value
    assert round(seed002_slope(1.57), 2) == -6.24
    net = SEED_002.network
    at_157 = net.compile().gradient({**SEED_002.values, "b3": 1.57}, SEED_002.X, SEED_002.Y)
    assert at_157["b3"] == pytest.approx(seed002_slope(1.57), rel=1e-12)


def test_seed002_stops_when_the_step_size_falls_below_0_001():
    trace = seed002_trace()
    sizes = [abs(s.step_size["b3"]) for s in trace.steps]
    assert trace.stopped == "tol" and trace.converged
    assert sizes[-1] < 0.001
    assert all(size >= 0.001 for size in sizes[:-1])  # it did not stop early
    # the last tiny update is applied, so final = last new value
    assert trace.final["b3"] == trace.steps[-1].new_values["b3"]
    assert round(trace.final["b3"], 2) == 2.61  # the optimum the source video reports
    assert "0.001" in trace.reason and "b3" in trace.reason


def test_seed002_only_b3_moves_and_every_step_follows_the_hand_oracle():
    trace = seed002_trace()
    b3 = 0.0
    for step in trace.steps:
        assert step.values["b3"] == pytest.approx(b3, abs=1e-12)
        assert set(step.gradient) == {"b3"} == set(step.step_size)
        assert step.step_size["b3"] == pytest.approx(0.1 * seed002_slope(b3), rel=1e-10)
        for name, value in SEED_002.values.items():
            if name != "b3":
                assert step.values[name] == value
        b3 -= 0.1 * seed002_slope(b3)
    assert trace.final_loss == pytest.approx(seed002_ssr(trace.final["b3"]), rel=1e-9)


def test_seed002_update_equations_print_the_published_numbers():
    equations = seed002_trace().update_equations(digits=3)
    assert equations[0] == (
        r"b_{3}^{\text{new}} = b_{3} - \alpha \frac{\partial L}{\partial b_{3}} = 0 - 0.1 (-15.7) = 1.57"
    )
    assert equations[1].endswith("= 1.57 - 0.1 (-6.26) = 2.19")


# --------------------------------------------------------------------------- an exact oracle with fractions


def test_linear_neuron_descent_matches_exact_fractions():
    # y = w x + b with SSR; gradient by hand: dL/dw = sum 2 (w x + b - y) x, dL/db = sum 2 (w x + b - y)
    net = symprop.Network([1, 1], output="identity", loss="ssr", naming="flat")
    X, Y = [1, 2, 3], [2, 3, 5]
    lr = Fraction(1, 50)
    w, b = Fraction(0), Fraction(1, 2)
    trace = descend(net, {"w1": 0.0, "b1": 0.5}, X, Y, lr=0.02, max_steps=12)
    assert trace.stopped == "max_steps" and len(trace.steps) == 12
    for step in trace.steps:
        residuals = [w * x + b - y for x, y in zip(X, Y)]
        gw = sum(2 * r * x for r, x in zip(residuals, X))
        gb = sum(2 * r for r in residuals)
        assert step.loss == pytest.approx(float(sum(r * r for r in residuals)), rel=1e-12)
        assert step.gradient["w1"] == pytest.approx(float(gw), rel=1e-12, abs=1e-12)
        assert step.gradient["b1"] == pytest.approx(float(gb), rel=1e-12, abs=1e-12)
        w, b = w - lr * gw, b - lr * gb
    assert trace.final["w1"] == pytest.approx(float(w), rel=1e-12)
    assert trace.final["b1"] == pytest.approx(float(b), rel=1e-12)


def test_gradients_agree_with_the_numpy_reference_backprop():
    e = SEED_001
    trace = descend(e.network, e.values, e.X, e.Y, lr=e.lr, max_steps=5)
    assert trace.train == e.network.param_names
    for step in trace.steps:
        oracle = reference.backprop(e.network, step.values, e.X, e.Y)
        for name in trace.train:
            assert step.gradient[name] == pytest.approx(oracle[name], rel=1e-9, abs=1e-12)


def test_untrained_parameters_stay_as_given():
    e = SEED_001
    trace = descend(e.network, e.values, e.X, e.Y, train=["w2_1_1", "b1_2"], lr=0.5, max_steps=4)
    assert trace.train == ("b1_2", "w2_1_1")  # in the network's parameter order
    for name, value in e.values.items():
        if name not in trace.train:
            assert trace.final[name] == value
    assert trace.final["w2_1_1"] != e.values["w2_1_1"] and trace.final["b1_2"] != e.values["b1_2"]


def test_train_accepts_a_symbol_and_a_single_name():
    e = SEED_002
    by_symbol = descend(e.network, e.values, e.X, e.Y, train=e.network.param("b3"), max_steps=2)
    by_name = descend(e.network, e.values, e.X, e.Y, train="b3", max_steps=2)
    assert by_symbol.train == by_name.train == ("b3",)
    assert by_symbol.final == by_name.final


def test_values_as_weight_and_bias_arrays():
    e = SEED_002
    weights = [np.array([[3.34], [-3.53]]), np.array([[-1.22, -2.30]])]
    biases = [np.array([-1.43, 0.57]), np.array([0.0])]
    trace = descend(e.network, (weights, biases), e.X, e.Y, train="b3", tol=0.001)
    assert trace.final == seed002_trace().final


# --------------------------------------------------------------------------- stopping rules and divergence


def test_too_large_learning_rate_is_detected_as_divergence():
    # b3 enters SSR as a parabola with curvature 2N = 6, so each step multiplies (b3 - b3*) by 1 - 6 lr = -2
    # at lr = 0.5: the loss grows ~4x per step and passes BLOWUP * initial loss after ceil(log4(1e6)) = 10 steps.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trace = seed002_trace(lr=0.5)
    assert trace.stopped == "diverged" and not trace.converged
    assert len(trace.steps) == math.ceil(math.log(BLOWUP) / math.log(4)) == 10
    assert trace.final_loss > BLOWUP * trace.steps[0].loss
    assert "diverged at step 10" in trace.reason and "lr = 0.5" in trace.reason
    optimum = seed002_trace(tol=1e-12, max_steps=10_000).final["b3"]
    offsets = [v - optimum for v in trace.path("b3")]
    assert all(a * b < 0 for a, b in zip(offsets, offsets[1:]))  # it zigzags
    assert all(abs(b / a) == pytest.approx(2.0, rel=1e-6) for a, b in zip(offsets, offsets[1:]))


def test_overflow_is_reported_not_leaked():
    net = symprop.Network([1, 1], output="identity", loss="ssr")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any NumPy overflow warning would fail here
        trace = descend(net, {"w1_1_1": 1e150, "b1_1": 0.0}, [1.0, 2.0], [1.0, 3.0], lr=1e150, max_steps=50)
    assert trace.stopped == "diverged"
    assert "not finite" in trace.reason
    assert not math.isfinite(trace.final_loss)
    data = trace.to_dict()
    json.dumps(data, allow_nan=False)  # non-finite numbers become null
    assert data["final_loss"] is None


def test_max_steps_without_tol():
    trace = seed002_trace(tol=None, max_steps=3)
    assert trace.stopped == "max_steps" and len(trace.steps) == 3
    assert "max_steps = 3" in trace.reason
    assert trace.final["b3"] == trace.steps[-1].new_values["b3"]
    assert descend(SEED_002.network, SEED_002.values, SEED_002.X, SEED_002.Y, max_steps=0).steps == []


# --------------------------------------------------------------------------- rendering


def test_markdown_and_latex_tables_have_one_row_per_update():
    trace = seed002_trace()
    md = trace.to_markdown(digits=3).splitlines()
    assert md[0].startswith("| step | parameter | loss |")
    rows = [line for line in md[2:] if line.startswith("|")]
    assert len(rows) == len(trace.steps)
    assert rows[0].split("|")[1:-1] == [" 1 ", " `b3` ", " 20.4 ", " -15.7 ", " -1.57 ", " 1.57 "]
    tex = trace.to_latex(digits=3)
    assert tex.startswith(r"\begin{tabular}") and tex.endswith(r"\end{tabular}")
    assert r"1 & $b_{3}$ & $20.4$ & $-15.7$ & $-1.57$ & $1.57$ \\" in tex
    assert tex.count(r"\\") == len(trace.steps) + 1  # header and one line per update


def test_several_parameters_share_the_loss_cell_of_their_step():
    e = SEED_001
    trace = descend(e.network, e.values, e.X, e.Y, train=["w1_1_1", "b2_2"], lr=0.5, max_steps=2)
    rows = trace.rows(digits=4)
    assert [r[:2] for r in rows] == [("1", "w1_1_1"), ("1", "b2_2"), ("2", "w1_1_1"), ("2", "b2_2")]
    assert rows[0][2] and not rows[1][2]
    assert len(trace.update_equations()) == 4
    # braces avoid a LaTeX double superscript: {b^{[2]}_{2}}^{new}, not b^{[2]}_{2}^{new}
    assert trace.update_equations()[1].startswith(r"{b^{[2]}_{2}}^{\text{new}} = b^{[2]}_{2} - \alpha")


def test_long_runs_can_be_shortened_with_an_explicit_gap_row():
    trace = seed002_trace()  # 10 steps
    md = trace.to_markdown(limit=5, summary=False).splitlines()[2:]
    assert [row.split("|")[1].strip() for row in md] == ["1", "2", "3", "4", "…", "10"]
    assert "(5 steps left out)" in md[4]
    assert trace.to_markdown(limit=10) == trace.to_markdown()  # nothing to leave out
    assert r"\multicolumn{6}{c}{$\vdots$ (5 steps left out)}" in trace.to_latex(limit=5)
    assert trace._repr_markdown_() == trace.to_markdown(limit=20)
    with pytest.raises(ValueError, match="limit"):
        trace.to_markdown(limit=1)


def test_small_numbers_print_as_powers_of_ten_in_latex():
    trace = seed002_trace()
    assert r"\times 10^{-5}" in trace.to_latex()


def test_to_dict_is_json_ready_with_stable_keys():
    trace = seed002_trace()
    data = json.loads(json.dumps(trace.to_dict(), allow_nan=False))
    assert list(data) == [
        "network",
        "parameters",
        "train",
        "lr",
        "tol",
        "max_steps",
        "blowup",
        "stopped",
        "converged",
        "reason",
        "n_steps",
        "steps_kept",
        "initial",
        "final",
        "final_loss",
        "steps",
    ]
    assert list(data["steps"][0]) == ["index", "loss", "values", "gradient", "step_size", "new_values"]
    assert data["n_steps"] == data["steps_kept"] == len(data["steps"]) == len(trace.steps)
    assert data["steps"][0]["gradient"]["b3"] == trace.steps[0].gradient["b3"]
    assert data["final"] == trace.final and data["stopped"] == "tol"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"train": ["b3", "b9"]}, ValueError, ["b9", "valid", "w1"]),
        ({"train": []}, ValueError, ["empty"]),
        ({"train": [3]}, TypeError, ["3"]),
        ({"lr": 0}, ValueError, ["lr", "> 0"]),
        ({"lr": "0.1"}, TypeError, ["lr", "'0.1'"]),
        ({"lr": float("nan")}, ValueError, ["lr"]),
        ({"tol": -1}, ValueError, ["tol"]),
        ({"max_steps": -1}, ValueError, ["max_steps", ">= 0"]),
        ({"max_steps": 2.5}, ValueError, ["max_steps"]),
        ({"blowup": 1}, ValueError, ["blowup", "> 1"]),
    ],
)
def test_bad_options_are_named(options, error, words):
    e = SEED_002
    with pytest.raises(error) as info:
        descend(e.network, e.values, e.X, e.Y, **options)
    for word in words:
        assert word in str(info.value)


def test_bad_values_and_data_are_named():
    e = SEED_002
    with pytest.raises(TypeError, match="needs a symprop Network"):
        descend("1-2-1", e.values, e.X, e.Y)
    with pytest.raises(TypeError, match="parameter values must be a dict"):
        descend(e.network, None, e.X, e.Y)
    with pytest.raises(ValueError, match="missing value"):
        descend(e.network, {"b3": 0.0}, e.X, e.Y)
    with pytest.raises(ValueError, match="X has 3 samples but Y has 2"):
        descend(e.network, e.values, e.X, e.Y[:2])


def test_table_and_equations_compile_with_pdflatex(tmp_path):
    import shutil
    import subprocess

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed; the LaTeX output is only checked for structure here")
    e = SEED_001
    trace = descend(e.network, e.values, e.X, e.Y, train=["w1_1_1", "b2_2"], lr=0.5, tol=0.001, max_steps=3)
    flat = seed002_trace()
    body = "\n".join(
        [trace.to_latex(), flat.to_latex(limit=4)]
        + [f"\\[{eq}\\]" for eq in trace.update_equations() + flat.update_equations()]
    )
    (tmp_path / "t.tex").write_text(
        "\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n" + body + "\n\\end{document}\n"
    )
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


# --------------------------------------------------------------------------- property: a bias on a parabola

from hypothesis import HealthCheck, assume, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_coord = st.floats(-3, 3, allow_nan=False)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(st.tuples(_coord, _coord), min_size=1, max_size=5),
    w=st.floats(-2, 2),
    b0=st.floats(-5, 5),
    lr=st.floats(0.001, 0.6),
)
def test_bias_descent_follows_the_geometric_law(data, w, b0, lr):
    # SSR in b alone is N (b - b*)^2 + const with b* = mean(y - w x), so gradient descent gives exactly
    # b_k - b* = r^k (b0 - b*) with r = 1 - 2 N lr: converging for |r| < 1, zigzagging outwards for r < -1.
    X, Y = [x for x, _ in data], [y for _, y in data]
    n = len(data)
    best = sum(y - w * x for x, y in data) / n
    r = 1 - 2 * n * lr
    assume(abs(b0 - best) > 0.1 and (abs(r) <= 0.9 or abs(r) >= 1.1))
    net = symprop.Network([1, 1], output="identity", loss="ssr")
    trace = descend(net, {"w1_1_1": w, "b1_1": b0}, X, Y, train="b1_1", lr=lr, tol=1e-9, max_steps=3000)
    path = trace.path("b1_1")
    for k, b in enumerate(path[:8]):
        assert b - best == pytest.approx(r**k * (b0 - best), rel=1e-6, abs=1e-9)
    assert all(s.values["w1_1_1"] == w for s in trace.steps)
    event("converges" if abs(r) <= 0.9 else "diverges")
    if abs(r) <= 0.9:
        assert trace.stopped == "tol"
        sizes = [abs(s.step_size["b1_1"]) for s in trace.steps]
        assert sizes[-1] < 1e-9 <= min(sizes[:-1], default=1.0)
        assert trace.final["b1_1"] == pytest.approx(best, abs=1e-7)
    else:
        assert trace.stopped == "diverged"
        # either rule: past BLOWUP x max(initial, 1), or above RISE x max(initial, 1) for PATIENCE steps
        assert trace.final_loss > RISE * max(trace.steps[0].loss, 1.0)
        offsets = [b - best for b in path]
        assert all(a * c < 0 for a, c in zip(offsets, offsets[1:]))  # zigzag
