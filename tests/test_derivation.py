"""Derivations: every number shown (per factor, per sample) equals an independent oracle: PyTorch float64
autograd for the forward values, local factors and deltas, the compiled gradient for the gradients and
updates, hand computations for the seeds' published numbers."""

from __future__ import annotations

import itertools
import math
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import random_targets  # tests/ is on sys.path

import symprop
from symprop import Network, losses, reference, to_latex
from symprop.derivation import LOSS_SYMBOLS, Derivation, NumberFormat, derive, derive_problem
from symprop.derivation.document import resolve
from symprop.examples import SEED_001, SEED_002
from symprop.problem import load_problem

DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"
PROBLEMS = sorted(DERIVATIONS.glob("*.toml"))
NUMBER = r"-?[0-9.]+(?: \\times 10\^\{-?[0-9]+\})?"
FMT = NumberFormat()


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


def cell(c) -> str:
    """The LaTeX of a table cell that is one piece of math."""
    pieces = resolve(c, "en")
    return "".join(t for _, t in pieces)


def matrices(latex: str) -> list[np.ndarray]:
    """Every numeric matrix printed by BackpropLatexPrinter in ``latex``; a wide one split into blocks of
    columns (opened by \\left[, continued by \\left. ... \\right., closed by \\right]) is put back together."""
    out, blocks = [], None
    for opening, body, closing in re.findall(
        r"\\left(\[|\.)\\begin\{matrix\}(.*?)\\end\{matrix\}\\right(\]|\.)", latex
    ):
        block = np.array([[number(v) for v in row.split("&")] for row in body.split(r"\\")])
        blocks = [block] if opening == "[" else blocks + [block]
        if closing == "]":
            out.append(np.hstack(blocks))
    return out


# ----------------------------------------------------------------------------- the oracle: PyTorch float64

ACTS = {
    "identity": lambda z, p: z,
    "sigmoid": lambda z, p: torch.sigmoid(z),
    "tanh": lambda z, p: torch.tanh(z),
    "relu": lambda z, p: torch.relu(z),
    "leaky_relu": lambda z, p: torch.nn.functional.leaky_relu(z, p),
    "softplus": lambda z, p: torch.nn.functional.softplus(z),
    "elu": lambda z, p: torch.nn.functional.elu(z, p),
    "silu": lambda z, p: torch.nn.functional.silu(z),
    "softmax": lambda z, p: torch.softmax(z, dim=-1),
}


def oracle(net: Network, values, X, Y) -> dict:
    """Per sample, by torch autograd: z, a, f'(z) (element-wise layers), dC/dyhat, delta = dC^{(n)}/dz per layer."""
    weights, biases = symprop.spec.parse_values(net, values)
    X, Y = symprop.spec.as_data(net, X, Y)
    out = {"z": [None], "a": [X], "fprime": [None], "delta": [None], "dC_dyhat": [], "cost": []}
    per_sample = []
    for n in range(X.shape[0]):
        a = torch.tensor(X[n], dtype=torch.float64)
        zs, as_, fps = [], [], []
        for l, act in enumerate(net.activations):
            z = torch.tensor(weights[l]) @ a + torch.tensor(biases[l]).requires_grad_(True)
            z.retain_grad()
            p = None if act.param is None else float(act.param)
            zz = z.detach().clone().requires_grad_(True)
            if act.name != "softmax":
                (fp,) = torch.autograd.grad(ACTS[act.name](zz, p).sum(), zz)
                fps.append(fp.numpy())
            else:
                fps.append(None)
            a = ACTS[act.name](z, p)
            a.retain_grad()
            zs.append(z)
            as_.append(a)
        y = torch.tensor(Y[n])
        zL = zs[-1]
        if net.loss_name in ("mse", "sse", "quadratic"):
            cost = ((a - y) ** 2).sum()
        elif net.loss_name == "bce":  # from the logits: log(1 - a) loses every digit when a saturates
            cost = torch.nn.functional.binary_cross_entropy_with_logits(zL, y, reduction="sum")
        else:
            cost = -(y * torch.log_softmax(zL, dim=-1)).sum()
        cost.backward()
        per_sample.append((zs, as_, fps, cost))
    L = net.depth
    for l in range(L):
        out["z"].append(np.array([s[0][l].detach().numpy() for s in per_sample]))
        out["a"].append(np.array([s[1][l].detach().numpy() for s in per_sample]))
        out["fprime"].append(None if per_sample[0][2][l] is None else np.array([s[2][l] for s in per_sample]))
        out["delta"].append(np.array([s[0][l].grad.numpy() for s in per_sample]))
    out["dC_dyhat"] = np.array(
        [np.full(net.n_outputs, np.nan) if s[1][L - 1].grad is None else s[1][L - 1].grad.numpy() for s in per_sample]
    )  # (not used where the output stage is fused)
    out["cost"] = np.array([float(s[3].detach()) for s in per_sample])
    out["weights"], out["biases"] = weights, biases
    return out


def path_values(net: Network, name: str, o: dict) -> list[list[np.ndarray]]:
    """For every path from the parameter to the loss (in the order a teacher enumerates them: later
    layers' neurons in order), the factor values along it per sample, from the torch oracle."""
    info = net.info(name)
    L = net.depth
    N = o["a"][0].shape[0]
    later = [range(net.layers[m]) for m in range(info.layer + 1, L + 1)]
    out = []
    for rest in itertools.product(*later):
        path = (info.row, *rest)
        i = path[-1]
        if net.loss_name in ("bce", "cross_entropy") or net.output.name == "softmax":
            factors = [o["delta"][L][:, i]]
        else:
            factors = [o["dC_dyhat"][:, i], o["fprime"][L][:, i]]
        for offset in range(len(path) - 1, 0, -1):
            l = info.layer + offset - 1
            factors.append(np.full(N, o["weights"][l][path[offset], path[offset - 1]]))
            factors.append(o["fprime"][l][:, path[offset - 1]])
        factors.append(np.ones(N) if info.kind == "b" else o["a"][info.layer - 1][:, info.col])
        out.append(factors)
    return out


def assert_every_number(net: Network, d: Derivation, values, X, Y, lr=None) -> None:
    """The whole check: forward table, factors per path per sample, sums, deltas, gradients, updates."""
    o = oracle(net, values, X, Y)
    compiled = net.compile().gradient(values, X, Y)
    # per weight/bias entry (a tied parameter's entries each their own): the same network untied
    untied = Network(**{k: v for k, v in net.kwargs().items() if k != "tie"}) if net.tie else net
    entry_values = {p.name: values[net.param_of[p.name]] for p in net.param_infos}
    per_entry = untied.compile().gradient(entry_values, X, Y) if net.tie else compiled
    N = o["a"][0].shape[0]
    scale = float(losses.scale_value(net.loss_name, N, net.n_outputs))
    penalty = float(net.l2) * sum(float(np.sum(W * W)) for W in o["weights"])
    # the forward table: every z and a per sample, the costs
    fw = step(d, "forward")
    rows = {}
    for t in fw.tables:
        offset = int(re.fullmatch(r"n = (\d+)", cell(t.header[1])).group(1)) - 1
        for r in t.rows:
            label = cell(r[0])
            rows.setdefault(label, {}).update({offset + k: number(cell(c)) for k, c in enumerate(r[1:])})
    for l in range(1, net.depth + 1):
        for j in range(net.layers[l]):
            z_label = next(k for k in rows if k.startswith(f"z^{{[{l}]}}_{{{j + 1}}}"))
            for n in range(N):
                assert close(rows[z_label][n], o["z"][l][n, j]), (z_label, n)
                a_label = f"a^{{[{l}]}}_{{{j + 1}}}"
                if a_label in rows:
                    assert close(rows[a_label][n], o["a"][l][n, j]), (a_label, n)
    for n in range(N):
        assert close(rows["C^{(n)}"][n], o["cost"][n]), n
    # the total loss
    loss_eq = step(d, "loss").equations[-1]
    assert close(number(loss_eq.split(" = ")[-1].split(r" \approx")[0]), scale * o["cost"].sum() + penalty)
    # the chain rule: each factor per sample, the product, the per-sample sum, the gradient
    if d.param is not None and d.shown.get("paths"):
        expected = path_values(net, d.param, o)
        assert len(d.shown["paths"]) == len(expected)
        for shown, factors in zip(d.shown["paths"], expected):
            assert len(shown["factors"]) == len(factors)
            for (symbol, values_), exp in zip(shown["factors"], factors):
                np.testing.assert_allclose(values_, exp, rtol=1e-7, atol=1e-12, err_msg=symbol)
            np.testing.assert_allclose(shown["product"], np.prod(factors, axis=0), rtol=1e-7, atol=1e-12)
        info = net.info(d.param)
        per_sample = o["delta"][info.layer][:, info.row] * (
            1 if info.kind == "b" else o["a"][info.layer - 1][:, info.col]
        )
        np.testing.assert_allclose(d.shown["per_sample"], per_sample, rtol=1e-7, atol=1e-12)
        assert d.shown["gradient"] == pytest.approx(compiled[d.param], rel=1e-9, abs=1e-12)
        # and the page shows those numbers: every factor's number in its path's table
        tables = step(d, "chain").tables
        text = " ".join(cell(c) for t in tables for r in t.rows for c in r)
        for shown in d.shown["paths"]:
            for _, values_ in shown["factors"]:
                for v in values_:
                    assert FMT(v) in text
        last = step(d, "chain").equations[-1]
        assert close(number(last.split(" = ")[-1].split(r" \approx")[0]), compiled[d.param])
    # the deltas of the delta form, per sample
    if d.numbers is not None:
        for l in range(1, net.depth + 1):
            np.testing.assert_allclose(d.numbers.deltas[l], o["delta"][l], rtol=1e-7, atol=1e-12)
    # the gradient matrices of the delta form and the matrix update
    delta_eqs = step(d, "delta").equations
    for l in range(1, net.depth + 1):
        for kind, sym in (("w", f"W^{{[{l}]}}"), ("b", f"b^{{[{l}]}}")):
            lhs = rf"\frac{{\partial {'J' if net.l2 else LOSS_SYMBOLS[net.loss_name]}}}{{\partial {sym}}}"
            found = [e for e in delta_eqs if e.startswith(lhs + " =")]
            if not found:
                continue
            shown = matrices(found[0])[-1]
            for info in net.param_infos:
                if info.layer == l and info.kind == kind:
                    idx = (info.row, 0) if kind == "b" else (info.row, info.col)
                    assert close(shown[idx], per_entry[info.name]), info.name
    for name, g in d.gradient.items():
        assert g == pytest.approx(compiled[name], rel=1e-9, abs=1e-12), name
    if lr is not None:
        for name, new in d.updated.items():
            assert new == pytest.approx(values[name] - lr * compiled[name], rel=1e-9, abs=1e-12)
        upd = step(d, "update").equations
        for l in range(1, net.depth + 1):
            found = [e for e in upd if e.startswith(f"W^{{[{l}]}} :=")]
            if found:
                new = matrices(found[0])[-1]
                for info in net.param_infos:
                    if info.layer == l and info.kind == "w":
                        assert close(new[info.row, info.col], entry_values[info.name] - lr * per_entry[info.name])


# ----------------------------------------------------------------------------- the committed examples


@pytest.fixture(scope="module", params=[p.name for p in PROBLEMS])
def case(request):
    problem = load_problem(DERIVATIONS / request.param)
    return problem, derive_problem(problem)


def test_the_five_worked_examples_are_there():
    assert [p.name for p in PROBLEMS] == [
        "l2_tied_tanh_sse.toml",
        "seed000_linear_mse.toml",
        "seed001_sigmoid_quadratic.toml",
        "seed002_softplus_ssr.toml",
        "sigmoid_bce_classifier.toml",
        "softmax_cross_entropy_classifier.toml",
    ]


def test_every_number_of_the_worked_examples_equals_the_oracles(case):
    problem, d = case
    assert d.gradient, "a problem with values must show numbers"
    assert_every_number(problem.network, d, problem.values, problem.X, problem.Y, problem.lr)
    oracle_ = reference.backprop(problem.network, problem.values, problem.X, problem.Y)
    for name, value in d.gradient.items():
        assert value == pytest.approx(oracle_[name], rel=1e-9, abs=1e-12)


# ----------------------------------------------------------------------------- random networks


SPECS = [
    (act, out, loss_, hidden)
    for hidden, (act, out, loss_) in zip(
        itertools.cycle([1, 2, 3]),
        [
            (a, o, l)
            for a in ("identity", "sigmoid", "tanh", "relu", "leaky_relu(0.1)", "softplus", "elu(0.5)", "silu")
            for o, l in (
                ("identity", "mse"),
                ("sigmoid", "bce"),
                ("softmax", "cross_entropy"),
                ("tanh", "sse"),
                ("sigmoid", "quadratic"),
                ("softmax", "mse"),
            )
        ],
    )
]


@pytest.mark.parametrize("act,out,loss_,hidden", SPECS, ids=[f"{h}x{a}-{o}-{l}" for a, o, l, h in SPECS])
def test_every_number_on_random_networks(act, out, loss_, hidden):
    rng = np.random.default_rng(zlib.crc32(f"{act} {out} {loss_} {hidden}".encode()))  # the same network every run
    m = 1 if out == "sigmoid" else 2 if out != "softmax" else 3
    layers = [2] + [int(rng.integers(1, 4)) for _ in range(hidden)] + [m]
    net = Network(layers, hidden=act, output=out, loss=loss_)
    values = {n: float(rng.normal()) for n in net.param_names}
    N = int(rng.integers(1, 4))
    X = rng.normal(size=(N, 2))
    Y = random_targets(net, N, rng)
    params = [net.param_names[0], net.param_names[-1], str(rng.choice(net.param_names))]
    for param in params:
        d = derive(net, param, values, X, Y, lr=0.1)
        assert_every_number(net, d, values, X, Y, 0.1)
    d = derive(net, None, values, X, Y, lr=0.1)
    assert_every_number(net, d, values, X, Y, 0.1)
    table = step(d, "all_gradients").tables[0]
    compiled = net.compile().gradient(values, X, Y)
    by_latex = {to_latex(net.param(n)): n for n in net.param_names}
    assert len(table.rows) == net.n_params
    for r in table.rows:
        name = by_latex[cell(r[0])]
        assert close(number(cell(r[3])), compiled[name])
        assert close(number(cell(r[4]).split(r" \approx")[0]), values[name] - 0.1 * compiled[name])


# ----------------------------------------------------------------------------- seeds, number for number


@pytest.fixture(scope="module")
def seed002():
    return derive_problem(load_problem(DERIVATIONS / "seed002_softplus_ssr.toml"))


def _softplus(t: float) -> float:
    return math.log1p(math.exp(t))


def _seed002_predictions(b3: float) -> list[float]:
    v = dict(SEED_002.values, b3=b3)
    return [
        v["w3"] * _softplus(v["w1"] * x + v["b1"]) + v["w4"] * _softplus(v["w2"] * x + v["b2"]) + v["b3"]
        for x in SEED_002.X
    ]


def _seed002_slope(b3: float) -> float:
    """dSSR/db3 by hand: the sum of -2 (observed - predicted)."""
    return sum(-2.0 * (y - p) for y, p in zip(SEED_002.Y, _seed002_predictions(b3)))


def test_seed002_shows_predictions_residuals_and_ssr_at_b3_zero(seed002):
    md = seed002.to_markdown()
    predicted = _seed002_predictions(0.0)
    for y, p in zip(SEED_002.Y, predicted):
        assert FMT(p) in md and FMT(y - p) in md
    ssr = sum((y - p) ** 2 for y, p in zip(SEED_002.Y, predicted))
    assert round(ssr, 1) == 20.4
    assert rf"{FMT(ssr)} \approx 20.4" in md


def test_seed002_shows_the_slope_in_the_residual_form_and_the_published_numbers(seed002):
    chain = step(seed002, "chain").equations[-1]
    assert r"-2 \left(y^{(n)} - \hat{y}^{(n)}\right)" in chain  # the note's -2 (observed - predicted)
    assert r"= -15.6551 \approx -15.7" in chain
    assert seed002.gradient["b3"] == pytest.approx(_seed002_slope(0.0), rel=1e-12)
    size, update = step(seed002, "update").equations
    assert size.endswith(r"= -1.56551 \approx -1.57")  # the seed's step size
    assert update.endswith(r"= 1.56551 \approx 1.57")
    assert r"b_{3} := b_{3}" in update  # b_3 typeset as b_{3}, not b_{3new}


def test_seed002_descent_steps_match_the_seed_and_a_hand_computation(seed002):
    rows = seed002.descent
    assert round(rows[0][2], 1) == -15.7 and round(rows[0][3], 2) == -1.57 and round(rows[0][4], 2) == 1.57
    assert round(rows[1][1], 2) == 1.57 and round(rows[1][2], 2) == -6.26  # the seed's second slope
    for k, (index, b3, slope, size, new) in enumerate(rows, start=1):
        assert index == k
        assert slope == pytest.approx(_seed002_slope(b3), rel=1e-9, abs=1e-12)
        assert size == pytest.approx(0.1 * slope) and new == pytest.approx(b3 - size)
    assert abs(rows[-1][3]) < 0.001 <= abs(rows[-2][3])  # stops at the first step below tol
    table = step(seed002, "descent").tables[0]
    assert len(table.rows) == len(rows)
    for r, exact in zip(table.rows, rows):
        assert [number(cell(c)) for c in r[1:]] == pytest.approx(list(exact[1:]), rel=6e-6, abs=1e-12)


def test_seed002_shows_no_gradient_of_a_fixed_parameter(seed002):
    text = seed002.to_latex()
    for name in ("w1", "w2", "w3", "w4", "b1", "b2"):
        p = to_latex(SEED_002.network.param(name))
        assert rf"\partial {p}}}" not in text, name
    assert r"\frac{\partial \mathrm{SSR}}{\partial W^{[1]}}" not in text


def test_seed001_has_the_summary_table_and_the_full_matrix_update():
    d = derive_problem(load_problem(DERIVATIONS / "seed001_sigmoid_quadratic.toml"))
    summary = step(d, "summary").tables[0]
    assert [cell(r[0]) for r in summary.rows] == [
        "Output Error",
        "Hidden Error",
        "Weight Gradient",
        "Bias Gradient",
        "Update",
    ]
    update = step(d, "update").equations
    for l in (1, 2):
        assert any(e.startswith(f"W^{{[{l}]}} :=") for e in update)
        assert any(e.startswith(f"b^{{[{l}]}} :=") for e in update)
    assert len(step(d, "chain").tables) == 3  # two paths and their sum


def test_seed000_shows_all_nine_gradients_in_one_table_and_no_expanded_derivatives():
    d = derive_problem(load_problem(DERIVATIONS / "seed000_linear_mse.toml"))
    assert [s.kind for s in d.steps if s.kind in ("chain", "all_gradients")] == ["all_gradients"]
    assert len(step(d, "all_gradients").tables[0].rows) == 9


# ----------------------------------------------------------------------------- structure and notation


def test_steps_in_order_with_and_without_param():
    net = SEED_002.network
    kinds = [s.kind for s in derive(net, "b3", SEED_002.values, SEED_002.X, SEED_002.Y, lr=0.1, tol=0.001).steps]
    assert kinds == ["network", "forward", "loss", "chain", "delta", "summary", "update", "descent"]
    assert [s.kind for s in derive(net).steps] == ["network", "forward", "loss", "delta", "summary"]
    assert [s.kind for s in derive(net, code=True).steps][-1] == "code"


def test_the_code_listing_is_an_appendix_only_when_asked():
    d = derive(SEED_002.network, "b3", SEED_002.values, SEED_002.X, SEED_002.Y)
    assert "mathtt" not in d.to_latex()
    assert r"\mathtt{" in derive(SEED_002.network, "b3", code=True).to_latex()


def test_notation_is_declared_once_and_the_loss_has_its_own_symbol():
    d = derive(SEED_001.network, "w1_1_1", SEED_001.values, SEED_001.X, SEED_001.Y, lr=0.5)
    table = step(d, "network").tables[0]
    symbols = [cell(r[0]) for r in table.rows]
    assert "L = 2" in symbols and any(s.startswith("m = n_{L}") for s in symbols) and "C^{(n)}" in symbols
    for kind in ("mse", "sse", "bce", "cross_entropy"):
        assert LOSS_SYMBOLS[kind] != "L"  # L is the number of layers


def test_f_prime_is_stated_for_every_activation_used():
    d = derive(Network([1, 2, 2, 1], hidden=["softplus", "tanh"], output="sigmoid", loss="bce"))
    eqs = " ".join(step(d, "network").equations)
    assert r"\operatorname{softplus}'(z) = \sigma(z)" in eqs
    assert r"\tanh'(z)" in eqs and r"\sigma'(z)" in eqs


def test_headings_and_prose_use_symbols_not_identifiers():
    d = derive(SEED_001.network, "w1_1_1", SEED_001.values, SEED_001.X, SEED_001.Y)
    md = d.to_markdown()
    assert "w1_1_1" not in md
    assert "## 4. The chain rule for $w^{[1]}_{11}$" in md


def test_samples_keep_the_data_order():
    X, Y = [[3.0], [1.0], [2.0]], [[1.0], [0.0], [1.0]]
    net = Network([1, 1], hidden="identity", output="identity", loss="sse")
    d = derive(net, "b1_1", {"w1_1_1": 1.0, "b1_1": 0.0}, X, Y)
    row = next(r for r in step(d, "forward").tables[0].rows if cell(r[0]) == "x_{1}")
    assert [number(cell(c)) for c in row[1:]] == [3.0, 1.0, 2.0]


# ----------------------------------------------------------------------------- numbers


def test_one_number_format_configurable_digits():
    d = derive(SEED_002.network, "b3", SEED_002.values, SEED_002.X, SEED_002.Y, lr=0.1, digits=4)
    assert r"-15.66 \approx -15.7" in d.to_latex()
    assert "-15.6551" not in d.to_latex()
    with pytest.raises(ValueError, match="digits"):
        derive(SEED_002.network, digits=0)


def test_a_rounded_value_is_shown_only_when_it_keeps_the_change_visible():
    fmt = NumberFormat()
    assert fmt.result(0.149763, old=0.15) == "0.149763"  # "~ 0.15" would hide the update
    assert fmt.result(1.56551, old=0.0) == r"1.56551 \approx 1.57"
    assert fmt.result(2.5) == "2.5"


# ----------------------------------------------------------------------------- API and input


def test_derive_takes_values_x_y_like_verify():
    net = SEED_002.network
    d = derive(net, "b3", SEED_002.values, SEED_002.X, SEED_002.Y)
    assert d.gradient["b3"] == pytest.approx(_seed002_slope(0.0))
    with pytest.raises(TypeError, match="order changed"):
        derive(net, "b3", SEED_002.X, SEED_002.Y, SEED_002.values)
    with pytest.raises(TypeError, match="order changed"):
        derive(net, "b3", SEED_002.X, SEED_002.Y)


def test_bad_input_is_named():
    net = SEED_002.network
    with pytest.raises(TypeError, match="Network"):
        derive("1-2-1")
    with pytest.raises(ValueError, match="w9"):
        derive(net, "w9")
    with pytest.raises(ValueError, match="both X and Y"):
        derive(net, "b3", X=SEED_002.X)
    with pytest.raises(ValueError, match="needs the data"):
        derive(net, "b3", SEED_002.values)
    with pytest.raises(ValueError, match="fixed"):
        derive(net, "b3", X=SEED_002.X, Y=SEED_002.Y, fix={"b3": 0})
    with pytest.raises(ValueError, match="lr"):
        derive(net, "b3", SEED_002.values, SEED_002.X, SEED_002.Y, lr=-1)
    with pytest.raises(ValueError, match="w1"):
        derive(net, "b3", {k: v for k, v in SEED_002.values.items() if k != "w1"}, SEED_002.X, SEED_002.Y)


def test_derive_problem_refuses_an_untrained_parameter():
    with pytest.raises(ValueError, match="not trained"):
        derive_problem(load_problem(DERIVATIONS / "seed002_softplus_ssr.toml"), "w1")


def test_unknown_language_lists_the_valid_ones():
    d = derive(SEED_002.network)
    for method in (d.to_markdown, d.to_latex, d.to_latex_document, d.to_html):
        with pytest.raises(ValueError, match="en, bn"):
            method("fr")


def test_symprop_derive_is_the_function_in_a_fresh_interpreter():
    code = (
        "import symprop, symprop.derivation as D\n"
        "assert symprop.derive is D.derive and symprop.Derivation is D.Derivation\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_output_is_deterministic():
    a = derive(SEED_001.network, "w1_1_1", SEED_001.values, SEED_001.X, SEED_001.Y, lr=0.5)
    b = derive(SEED_001.network, "w1_1_1", SEED_001.values, SEED_001.X, SEED_001.Y, lr=0.5)
    for lang in ("en", "bn"):
        assert a.to_latex_document(lang) == b.to_latex_document(lang)
        assert a.to_html(lang) == b.to_html(lang) and a.to_markdown(lang) == b.to_markdown(lang)


def test_symbolic_derivation_without_data():
    d = derive(SEED_002.network, "w1")
    chain = step(d, "chain")
    assert chain.tables and not d.gradient
    assert r"\operatorname{softplus}" in d.to_latex()


def test_large_networks_say_what_they_do_not_print():
    net = Network([3, 4, 4, 4, 2], hidden="tanh")
    d = derive(net, "w1_1_1")
    assert "too_many_paths" in repr(step(d, "chain").blocks)


# ----------------------------------------------------------------------------- languages and escaping


def test_bengali_throughout_with_the_users_title_as_written():
    d = derive(SEED_002.network, "b3", SEED_002.values, SEED_002.X, SEED_002.Y, lr=0.1, tol=0.001, title="My own title")
    bengali = re.compile("[\u0980-\u09ff]")
    for s in d.steps:
        assert bengali.search(s.title_in("bn")) or s.title_in("bn") in ("Forward Propagation", "Cost Function"), s.kind
        for t in s.tables:
            for c in t.header:
                words = "".join(x for k, x in resolve(c, "bn") if k == "text").strip()
                if words and words not in ("factor", "step size"):
                    assert bengali.search(words), (s.kind, words)
    md = d.to_markdown("bn")
    assert md.startswith("# My own title")
    assert "parameter" not in md.lower().replace("trainable", "")


TRICKY = "A \\ backslash, x^2, 50% & $5 #1 a_b {c} ~d"


def test_titles_with_special_characters_and_blank_lines_render_as_written():
    d = derive(SEED_002.network, title="Line one\n\nline two: " + TRICKY, description="First.\n\n" + TRICKY)
    tex = d.to_latex_document()
    assert r"\textbackslash{}" in tex and r"\textasciicircum{}" in tex and r"\{c\}" in tex
    assert r"\section*{Line one line two" in tex  # a blank line cannot end the title early
    html_ = d.to_html()
    assert "<h1>Line one line two: A \\ backslash, x^2, 50% &amp; $5 #1 a_b {c} ~d</h1>" in html_
    md = d.to_markdown()
    assert md.startswith("# Line one line two: A \\\\ backslash, x^2, 50% & \\$5 \\#1 a\\_b {c} ~d")


def test_a_small_tolerance_is_math_in_every_format():
    d = derive(SEED_002.network, "b3", SEED_002.values, SEED_002.X, SEED_002.Y, lr=0.1, tol=1e-6)
    md = d.to_markdown()
    assert r"$1 \times 10^{-6}$" in md
    html_ = d.to_html()
    assert r"\times" not in html_ and "10^" not in html_


def test_the_figure_highlights_exactly_the_paths_from_the_parameter():
    from symprop.derivation.figure import highlight

    edges, nodes = highlight((2, 3, 2), 1, 0, 1)  # w^{[1]}_{12}: x_2 -> a^{[1]}_1, then both outputs
    assert edges == {(1, 0, 1), (2, 0, 0), (2, 1, 0)}
    assert nodes == {(0, 1), (1, 0), (2, 0), (2, 1)}
    edges, nodes = highlight((2, 3, 2), 2, 1, None)  # b^{[2]}_2: only its own neuron
    assert edges == set() and nodes == {(2, 1)}
    d = derive(Network([2, 3, 2]), "b2_2")
    svg = d.figure_svg()
    assert svg.count('stroke="#c0392b"') == 2  # the neuron's ring and its one arrow into the loss
    assert svg == derive(Network([2, 3, 2]), "b2_2").figure_svg()  # deterministic


def test_wide_matrices_split_into_column_blocks_keep_every_number():
    """A 4-8-8-3 network on 12 samples: Delta, A and the gradient matrices are wider than a line and are
    split into blocks of columns; put back together they are the oracle's numbers."""
    rng = np.random.default_rng(5)
    net = Network([4, 8, 8, 3], hidden="tanh", output="identity", loss="mse")
    values = {n: float(rng.normal(scale=0.5)) for n in net.param_names}
    X, Y = rng.normal(size=(12, 4)), rng.normal(size=(12, 3))
    d = derive(net, None, values, X, Y, lr=0.1)
    delta_eqs = step(d, "delta").equations
    assert any(r"\right." in e and r"\left." in e for e in delta_eqs)
    assert_every_number(net, d, values, X, Y, 0.1)
    o = oracle(net, values, X, Y)
    (D1,) = [e for e in delta_eqs if e.startswith(r"\Delta^{[1]} =")]
    np.testing.assert_allclose(matrices(D1)[-1], o["delta"][1].T, rtol=6e-6, atol=1e-12)


def test_an_absurd_derivation_is_refused_up_front_with_its_estimate():
    from symprop import budget

    huge = Network([100000, 100000, 1])  # 10^10 parameters: refused before one is named
    X = np.zeros((2, 100000))
    with pytest.raises(budget.BudgetError) as err:
        derive(huge, None, {"w1_1_1": 0.0}, X, [[0.0], [1.0]])
    line = str(err.value)
    assert "\n" not in line and line.startswith("refused: the derivation of a network of layers [100000, 100000, 1]")
    assert "derivation numbers" in line and "more than the budget of 60 s" in line
    assert "param_infos" not in huge.__dict__  # no parameter was named
    # the same derivation as the estimate counts it: a small one passes, and a tiny budget refuses it
    net = Network([2, 3, 1])
    values = {n: 0.1 for n in net.param_names}
    derive(net, None, values, [[1, 2]], [3])
    with budget.limit(1e-6), pytest.raises(budget.BudgetError, match="the derivation of a network"):
        derive(net, None, values, [[1, 2]], [3])


def test_long_closed_forms_go_to_an_appendix_broken_over_lines():
    """Seed 001's prediction and d C / d w are too long for one line: they are in an appendix after the
    update, broken over aligned lines no wider than a line, with no number put into them; the main flow
    stays factor by factor."""
    from symprop.derivation.document import WIDTH, measure

    d = derive_problem(load_problem(DERIVATIONS / "seed001_sigmoid_quadratic.toml"))
    kinds = [s.kind for s in d.steps]
    assert kinds.index("closed") > kinds.index("update")
    assert "closed" not in [s.kind for s in d.steps[: kinds.index("update")]]
    eqs = [b for b in step(d, "closed").blocks if hasattr(b, "rows")]
    assert len(eqs) == 3 and all(len(e.rows) > 1 for e in eqs)  # y-hat_1, y-hat_2, dC/dw
    for e in eqs:
        for lhs, _, rhs in e.rows:
            assert measure(lhs) + measure(rhs) <= WIDTH + 4, rhs
            assert not re.search(r"(?<![_{\[])\b\d+\.\d", rhs), rhs  # no decimal number substituted
    # broken at the structure only: the pieces hold the same symbols as the whole closed form
    p = d.network.param(d.param)
    whole = to_latex(p)
    assert any(whole in r for e in eqs for _, _, r in e.rows)


def test_broken_atoms_cut_sums_products_and_function_arguments():
    import sympy as sp

    from symprop.derivation.document import measure, rows
    from symprop.printing import broken_atoms

    x = sp.symbols("x1:30", real=True)
    e = sp.tanh(sp.Add(*[xi * xj for xi, xj in zip(x, x[1:])])) * sp.Max(0, x[0]) + sp.exp(sp.Add(*x))
    atoms = broken_atoms(e, 40, measure)
    assert len(atoms) > 3 and all(measure(a) <= 48 for a in atoms)
    eq = rows("y", atoms)
    for _, _, r in eq.rows:  # every line pairs its brackets and braces
        assert r.count(r"\left") == r.count(r"\right") and r.count("{") == r.count("}"), r
    piecewise = sp.Piecewise((sp.Add(*x), x[0] > 0), (0, True))
    assert broken_atoms(piecewise, 40, measure)  # cannot be cut inside: printed whole
