"""Derivations: every number shown equals the compiled gradient; seed 002's published numbers; the API."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symprop
from symprop import Network, reference, to_latex
from symprop.derivation import LOSS_SYMBOLS, Derivation, derive, derive_problem
from symprop.examples import SEED_001, SEED_002
from symprop.problem import load_problem

DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"
PROBLEMS = sorted(DERIVATIONS.glob("*.toml"))
NUMBER = r"-?[0-9.]+(?: \\times 10\^\{-?[0-9]+\})?"
BENGALI = re.compile("[\u0980-\u09ff]")


def number(text: str) -> float:
    """A number as symprop prints it (with an optional \\times 10^{k})."""
    m = re.fullmatch(r"(-?[0-9.]+)(?: \\times 10\^\{(-?[0-9]+)\})?", text.strip())
    assert m, f"not a printed number: {text!r}"
    return float(m.group(1)) * (10.0 ** int(m.group(2)) if m.group(2) else 1.0)


def close(shown: float, exact: float) -> bool:
    """Shown with 6 significant digits."""
    return math.isclose(shown, exact, rel_tol=6e-6, abs_tol=1e-12)


def step(d: Derivation, kind: str):
    (found,) = [s for s in d.steps if s.kind == kind]
    return found


@pytest.fixture(scope="module", params=[p.name for p in PROBLEMS])
def case(request):
    problem = load_problem(DERIVATIONS / request.param)
    d = derive_problem(problem)
    compiled = problem.network.compile().gradient(problem.values, problem.X, problem.Y)
    return problem, d, compiled


def test_the_five_worked_examples_are_there():
    assert [p.name for p in PROBLEMS] == [
        "seed000_linear_mse.toml", "seed001_sigmoid_quadratic.toml", "seed002_softplus_ssr.toml",
        "sigmoid_bce_classifier.toml", "softmax_cross_entropy_classifier.toml"]


# ----------------------------------------------------------------------------- numbers


def test_derivation_gradient_equals_compiled_and_reference(case):
    problem, d, compiled = case
    oracle = reference.backprop(problem.network, problem.values, problem.X, problem.Y)
    assert d.gradient, "a problem with values must show numbers"
    for name, value in d.gradient.items():
        assert value == pytest.approx(compiled[name], rel=1e-9, abs=1e-12), name
        assert value == pytest.approx(oracle[name], rel=1e-9, abs=1e-12), name


def test_every_number_shown_in_the_numbers_step_equals_the_compiled_gradient(case):
    problem, d, compiled = case
    net = problem.network
    eqs = step(d, "numbers").equations
    if d.param is not None:
        lhs = rf"\frac{{\partial {LOSS_SYMBOLS[net.loss_name]}}}{{\partial {to_latex(net.param(d.param))}}}"
        m = re.fullmatch(re.escape(lhs) + rf" = ({NUMBER})(?: \\approx ({NUMBER}))?", eqs[-1])
        assert m, eqs[-1]
        assert close(number(m.group(1)), compiled[d.param])
        if m.group(2):
            assert number(m.group(2)) == float(f"{compiled[d.param]:.3g}")
    else:
        rows = re.findall(rf"(\S+) & ({NUMBER}) & ({NUMBER}) \\\\", eqs[0])
        by_latex = {to_latex(net.param(n)): n for n in net.param_names}
        assert sorted(by_latex[r[0]] for r in rows) == sorted(net.param_names)
        for latex, value, grad in rows:
            name = by_latex[latex]
            assert number(value) == pytest.approx(problem.values[name])
            assert close(number(grad), compiled[name]), name


def _matrices(text: str) -> list[np.ndarray]:
    out = []
    for body in re.findall(r"\\begin\{bmatrix\} (.*?) \\end\{bmatrix\}", text):
        out.append(np.array([[number(v) for v in row.split(" & ")] for row in body.split(r" \\ ")]))
    return out


def test_every_gradient_matrix_in_the_delta_step_equals_the_compiled_gradient(case):
    problem, d, compiled = case
    net = problem.network
    grads = [e for e in step(d, "delta").equations if r"\mathbf{1} = \begin{bmatrix}" in e]
    assert len(grads) == net.depth
    for eq in grads:
        layer = int(re.search(r"\\partial W\^\{\[(\d+)\]\}", eq).group(1))
        gw, gb = _matrices(eq)
        for info in net.param_infos:
            if info.layer != layer:
                continue
            shown = gb[info.row, 0] if info.kind == "b" else gw[info.row, info.col]
            assert close(shown, compiled[info.name]), info.name


def test_every_update_equals_old_minus_lr_times_the_compiled_gradient(case):
    problem, d, compiled = case
    net = problem.network
    rows = step(d, "update").equations[1:]
    assert rows, "an update must be shown"
    by_latex = {to_latex(net.param(n)): n for n in net.param_names}
    for eq in rows:
        m = re.fullmatch(rf"\{{(.+)\}}_{{\\text{{new}}}} = ({NUMBER}) - ({NUMBER}) \\cdot (?:\\left\()?({NUMBER})"
                         rf"(?:\\right\))? = ({NUMBER})(?: \\approx {NUMBER})?", eq)
        assert m, eq
        name = by_latex[m.group(1)]
        old, lr, new = number(m.group(2)), number(m.group(3)), number(m.group(5))
        assert old == pytest.approx(problem.values[name]) and lr == problem.lr
        assert close(number(m.group(4)), compiled[name])
        assert close(new, problem.values[name] - problem.lr * compiled[name])
        assert d.updated[name] == pytest.approx(problem.values[name] - problem.lr * compiled[name], rel=1e-9, abs=1e-12)


# ----------------------------------------------------------------------------- seed 002, number for number


@pytest.fixture(scope="module")
def seed002():
    return derive_problem(load_problem(DERIVATIONS / "seed002_softplus_ssr.toml"))


def _seed002_slope(b3: float) -> float:
    """dSSR/db3 by hand: sum of -2 (observed - predicted), softplus(x) = log(1 + e^x)."""
    v = dict(SEED_002.values, b3=b3)

    def softplus(t: float) -> float:
        return math.log1p(math.exp(t))

    total = 0.0
    for x, y in zip(SEED_002.X, SEED_002.Y):
        predicted = v["w3"] * softplus(v["w1"] * x + v["b1"]) + v["w4"] * softplus(v["w2"] * x + v["b2"]) + v["b3"]
        total += -2.0 * (y - predicted)
    return total


def test_seed002_shows_the_published_slope_and_update(seed002):
    assert seed002.param == "b3"
    assert seed002.gradient["b3"] == pytest.approx(_seed002_slope(0.0), rel=1e-12)
    assert round(seed002.gradient["b3"], 1) == -15.7  # the seed's slope at b3 = 0
    assert round(seed002.updated["b3"], 2) == 1.57  # the seed's new b3 (step size -1.57)
    md = seed002.to_markdown()
    assert r"\frac{\partial \mathrm{SSR}}{\partial b_{3}} = -15.6551 \approx -15.7" in md
    assert r"{b_{3}}_{\text{new}} = 0 - 0.1 \cdot \left(-15.6551\right) = 1.56551 \approx 1.57" in md


def test_seed002_descent_steps_match_the_seed_and_a_hand_computation(seed002):
    rows = seed002.descent
    assert round(rows[1][1], 2) == 1.57 and round(rows[1][2], 2) == -6.26  # the seed's second slope
    for k, (index, b3, slope, size, new) in enumerate(rows, start=1):
        assert index == k
        assert slope == pytest.approx(_seed002_slope(b3), rel=1e-9, abs=1e-12)
        assert size == pytest.approx(0.1 * slope) and new == pytest.approx(b3 - size)
    assert abs(rows[-1][3]) < 0.001 <= abs(rows[-2][3])  # stops at the first step below tol
    assert rows[-1][4] == pytest.approx(2.6089, abs=1e-3)  # minimum of the fixed-others SSR: mean of the offsets


def test_seed002_fixed_derivative_is_a_line_in_b3(seed002):
    chain = step(seed002, "chain").equations
    m = re.search(re.escape("= 6 b_{3} - ") + f"({NUMBER})$", chain[-1])
    assert m, chain[-1]
    assert close(number(m.group(1)), -_seed002_slope(0.0))  # dSSR/db3 = 6 b3 + slope(0)


# ----------------------------------------------------------------------------- the chain rule


def _intermediate_values(net: Network, values, X, Y) -> list[dict[str, float]]:
    """Per sample: the numbers of z^{[l]}_j, a^{[l]}_j, x_k, y_j and every parameter, by LaTeX name."""
    weights, biases = symprop.spec.parse_values(net, values)
    X, Y = symprop.spec.as_data(net, X, Y)
    Zs, As = reference.forward(net, weights, biases, X)
    params = {to_latex(net.param(n)): float(v) for n, v in symprop.spec.values_mapping(net, values).items()}
    samples = []
    for n in range(X.shape[0]):
        sub = dict(params)
        sub.update({f"x_{{{k + 1}}}": X[n, k] for k in range(X.shape[1])})
        sub.update({f"y_{{{j + 1}}}": Y[n, j] for j in range(Y.shape[1])})
        for l in range(1, net.depth + 1):
            for j in range(net.layers[l]):
                sub[f"z^{{[{l}]}}_{{{j + 1}}}"] = Zs[l][n, j]
                sub[f"a^{{[{l}]}}_{{{j + 1}}}"] = As[l][n, j]
        samples.append(sub)
    return samples


@pytest.mark.parametrize("example, param", [(SEED_001, "w1_1_1"), (SEED_001, "w2_2_3"), (SEED_002, "w1"),
                                            (SEED_002, "b3")])
def test_the_collected_chain_rule_product_summed_over_samples_is_the_gradient(example, param):
    net = example.network
    d = derive(net, param, example.X, example.Y, example.values, code=False)
    product = d.chain_product
    assert product is not None
    total = 0.0
    for sub in _intermediate_values(net, example.values, example.X, example.Y):
        by_name = {s: sub[to_latex(s)] for s in product.free_symbols}
        total += float(product.xreplace(by_name))
    compiled = net.compile().gradient(example.values, example.X, example.Y)
    assert total == pytest.approx(compiled[param], rel=1e-9)


def test_hidden_parameter_sums_over_every_path():
    d = derive(SEED_001.network, "w1_1_1", SEED_001.X, SEED_001.Y, code=False)
    chain = step(d, "chain")
    assert "2 paths" in chain.narration
    products = chain.equations[1]
    assert products.count(r"\frac{\partial C}{\partial a^{[2]}_{") == 2  # one term per output neuron


def test_bce_with_sigmoid_collapses_to_a_minus_y():
    net = Network([2, 2, 1], hidden="tanh", output="sigmoid", loss="bce")
    d = derive(net, "b2_1", [[0, 1], [1, 0]], [1, 0], code=False)
    chain = step(d, "chain").equations
    assert r"\frac{\partial C}{\partial b^{[2]}_{1}} = \frac{a^{[2]}_{1} - y_{1}}{2}" in chain


def test_softmax_cross_entropy_states_its_assumption():
    problem = load_problem(DERIVATIONS / "softmax_cross_entropy_classifier.toml")
    d = derive_problem(problem)
    text = d.to_markdown()
    assert r"\text{assuming each target row sums to 1, }" in text
    assert r"\frac{\partial C}{\partial z^{[2]}} = \frac{1}{3} \left(a^{[2]} - y\right)" in text
    delta = step(d, "delta").equations
    assert any(r"\left(\frac{\partial a^{[L]}}{\partial z^{[L]}}\right)^{\mathsf{T}}" in e for e in delta)


def test_without_param_every_derivative_is_listed_in_delta_form_and_closed_form():
    net = SEED_001.network
    d = derive(net, None, SEED_001.X, SEED_001.Y, code=False)
    eqs = step(d, "all_gradients").equations
    assert len(eqs) == 1 + net.n_params
    assert eqs[0].count(r"\\") == 1 + net.n_params  # header + one row per parameter
    assert r"w^{[2]}_{13} & \frac{\partial C}{\partial w^{[2]}_{13}} = \sum_{n} \delta^{[2](n)}_{1} a^{[1](n)}_{3} \\" in eqs[0]
    assert r"b^{[1]}_{2} & \frac{\partial C}{\partial b^{[1]}_{2}} = \sum_{n} \delta^{[1](n)}_{2} \\" in eqs[0]
    for name, eq in zip(net.param_names, eqs[1:]):
        lhs = rf"\frac{{\partial C}}{{\partial {to_latex(net.param(name))}}}"
        assert eq.startswith(lhs) or eq.startswith(rf"\begin{{aligned}} {lhs}"), name
        assert "sigma" in eq  # a closed form of the parameters (sigmoids of sums), not delta notation
        assert r"\delta" not in eq


def test_delta_form_has_the_four_equations_of_seed_001():
    d = derive(SEED_001.network, code=False)
    eqs = step(d, "delta").equations
    assert eqs[:4] == (
        r"\delta^{[L]} = \nabla_{a^{[L]}} C \odot f'^{[L]}\left(z^{[L]}\right)",
        r"\delta^{[l]} = \left(W^{[l+1]}\right)^{\mathsf{T}} \delta^{[l+1]} \odot f'^{[l]}\left(z^{[l]}\right)",
        r"\frac{\partial C}{\partial W^{[l]}} = \delta^{[l]} \left(a^{[l-1]}\right)^{\mathsf{T}}",
        r"\frac{\partial C}{\partial b^{[l]}} = \delta^{[l]}",
    )
    # seed 001's output delta for the quadratic cost of one sample: (a - y) (.) sigma'(z)
    assert any(e.startswith(r"\delta^{[2]} = ") and r"a^{[2]}_{1} - y_{1}" in e for e in eqs)


# ----------------------------------------------------------------------------- API and output formats


def test_steps_in_order_with_and_without_param():
    net = SEED_002.network
    kinds = [s.kind for s in derive(net, "b3", SEED_002.X, SEED_002.Y, SEED_002.values, lr=0.1).steps]
    assert kinds == ["network", "forward", "loss", "chain", "delta", "code", "numbers", "update"]
    kinds = [s.kind for s in derive(net).steps]
    assert kinds == ["network", "forward", "loss", "all_gradients", "delta", "code"]
    for s in derive(net, "w1").steps:
        assert s.title and s.narration and s.equations


def test_exported_names():
    assert symprop.Derivation is Derivation and symprop.to_latex is to_latex
    assert "derive" in symprop.__all__  # symprop.derive itself: see the fresh-interpreter test below


def test_symprop_derive_is_the_function_in_a_fresh_interpreter():
    """symprop.derive is the derivation function (the chain-rule engine lives in symprop/chainrule.py)."""
    import subprocess
    import sys

    code = ("import symprop\n"
            "from symprop.examples import SEED_002 as E\n"
            "d = symprop.derive(E.network, 'b3')\n"
            "assert type(d).__name__ == 'Derivation', type(d)\n"
            "import symprop.derivation\n"
            "assert symprop.derive is symprop.derivation.derive\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_fix_nothing_is_fixed():
    net = SEED_002.network
    free = derive(net, "b3", SEED_002.X, SEED_002.Y, SEED_002.values, code=False)
    fixed = derive(net, "b3", SEED_002.X, SEED_002.Y, SEED_002.values, code=False,
                   fix={k: v for k, v in SEED_002.values.items() if k != "b3"})
    assert r"\mathrm{SSR}\left(b_{3}\right)" not in free.to_latex()
    assert r"\mathrm{SSR}\left(b_{3}\right)" in fixed.to_latex()
    assert free.gradient == pytest.approx(fixed.gradient)


def test_network_table_lists_every_parameter_with_its_connection():
    d = derive(SEED_002.network, code=False)
    table = d.steps[0].equations[1]
    assert r"w_{3} & 2 & a^{[1]}_{1} & z^{[2]}_{1} \\" in table
    assert r"b_{3} & 2 & 1 & z^{[2]}_{1} \\" in table
    assert table.count(r"\\") == 1 + SEED_002.network.n_params


def test_markdown_english_and_bengali():
    d = derive(SEED_002.network, "b3", SEED_002.X, SEED_002.Y, SEED_002.values, lr=0.1, code=False)
    en, bn = d.to_markdown(), d.to_markdown(lang="bn")
    assert not BENGALI.search(en) and BENGALI.search(bn)
    assert en.count("$$") == bn.count("$$") == 2 * sum(len(s.equations) for s in d.steps)
    assert "লস ফাংশন সকল trainable প্যারামিটারের ফাংশন" in bn  # seed 000's point, in its own words


def test_latex_english_and_bengali():
    d = derive(SEED_002.network, "b3", SEED_002.X, SEED_002.Y, SEED_002.values, lr=0.1, code=False)
    en, bn = d.to_latex_document(), d.to_latex_document("bn")
    assert not BENGALI.search(en) and "fontenc" in en and "babel" not in en  # pdflatex, as before
    assert "fontenc" not in bn and "\\babelprovide[import, onchar=ids fonts]{bengali}" in bn
    for step in d.steps:  # every step's Bengali title and narration, as the narration table has them
        assert f"\\subsection*{{{step.title_in('bn')}}}" in bn
        assert step.narration_in("bn").replace("_", "\\_").split("$")[0] in bn
    assert bn.split("\\begin{document}")[1].count("\\fiteq{") == en.split("\\begin{document}")[1].count("\\fiteq{")
    assert d.to_latex("bn") in bn and not BENGALI.search(d.to_latex())


@pytest.mark.parametrize("method", ["to_markdown", "to_html", "to_latex", "to_latex_document"])
def test_unknown_language_lists_the_valid_ones(method):
    d = derive(SEED_002.network, code=False)
    with pytest.raises(ValueError, match="unknown lang 'fr'; valid: en, bn"):
        getattr(d, method)(lang="fr")


def test_html_is_self_contained_mathml():
    d = derive(SEED_002.network, "b3", SEED_002.X, SEED_002.Y, SEED_002.values, lr=0.1)
    page = d.to_html(lang="bn")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="bn">' in page
    assert page.count("<math") == sum(len(s.equations) for s in d.steps)
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org/1998/Math/MathML", "")
    assert "\\frac" not in page  # no raw LaTeX left for the browser


def test_latex_outputs_and_notebook_reprs():
    d = derive(SEED_002.network, "b3", SEED_002.X, SEED_002.Y, SEED_002.values, code=False)
    fragment = d.to_latex()
    assert fragment.count(r"\subsection*") == len(d.steps)
    doc = d.to_latex_document()
    assert doc.startswith(r"\documentclass") and doc.rstrip().endswith(r"\end{document}") and fragment in doc
    assert d._repr_markdown_() == d.to_markdown()
    assert d._repr_latex_().count(r"\[") == sum(len(s.equations) for s in d.steps)


def test_output_is_deterministic():
    a = derive(SEED_001.network, "w1_1_1", SEED_001.X, SEED_001.Y, SEED_001.values, lr=0.5)
    b = derive(SEED_001.network, "w1_1_1", SEED_001.X, SEED_001.Y, SEED_001.values, lr=0.5)
    assert a.to_markdown() == b.to_markdown() and a.to_latex_document() == b.to_latex_document()


def test_symbolic_derivation_without_data():
    d = derive(SEED_002.network, "w1")
    assert "one symbolic sample" in d.steps[2].narration
    assert not d.gradient
    last = step(d, "chain").equations[-1]
    assert "x_{1}" in last and "y_{1}" in last


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_named():
    net = SEED_002.network
    with pytest.raises(TypeError, match="needs a symprop Network"):
        derive("1-2-1")
    with pytest.raises(ValueError, match='unknown parameter "w9"'):
        derive(net, "w9")
    with pytest.raises(ValueError, match="give both X and Y"):
        derive(net, "b3", X=SEED_002.X)
    with pytest.raises(ValueError, match="values= needs the data"):
        derive(net, "b3", values=SEED_002.values)
    with pytest.raises(ValueError, match='"b3" is fixed by fix='):
        derive(net, "b3", SEED_002.X, SEED_002.Y, fix={"b3": 0})
    with pytest.raises(ValueError, match="lr must be a positive number"):
        derive(net, "b3", SEED_002.X, SEED_002.Y, SEED_002.values, lr=-1)
    with pytest.raises(ValueError, match="misses 1 parameter"):
        derive(net, "b3", SEED_002.X, SEED_002.Y, {k: v for k, v in SEED_002.values.items() if k != "w1"})


def test_derive_problem_refuses_an_untrained_parameter():
    problem = load_problem(DERIVATIONS / "seed002_softplus_ssr.toml")
    with pytest.raises(ValueError, match=r'"w1" is not trained by this problem.*choose one of b3'):
        derive_problem(problem, "w1")


def test_large_networks_say_what_they_do_not_print():
    """4-8-8-3: closed forms are far too big to print; the derivation says so instead of hanging or hiding it."""
    net = Network([4, 8, 8, 3], hidden="tanh", output="softmax", loss="cross_entropy")
    d = derive(net, "w1_1_1")
    text = d.to_markdown()
    assert "not printed" in text
    chain = step(d, "chain")
    assert "24 paths" in chain.narration and d.chain_product is None  # 8 hidden neurons x 3 outputs: too many to list
    assert r"\frac{\partial C}{\partial w^{[1]}_{11}} = \delta^{[1]}_{1} x_{1}" in chain.equations
    kinds = [s.kind for s in derive(net).steps]
    assert kinds == ["network", "forward", "loss", "all_gradients", "delta", "code"]
