"""The REPL and notebook flow: reprs that read like the call, LaTeX/HTML display, pretty terminal forms."""

from __future__ import annotations

import doctest
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sympy as sp

from symprop import Network
from symprop.display import format_number, gradient_table, network_latex, pretty

ROOT = Path(__file__).resolve().parent.parent

NETWORKS = [
    Network([1, 2, 1], hidden="softplus", output="identity", loss="ssr", naming="flat"),
    Network([2, 3, 2], hidden="sigmoid", output="sigmoid", loss="quadratic"),
    Network([3, 4, 4, 2], hidden=["tanh", "leaky_relu(0.2)"], output="softmax", loss="ce"),
    Network([3, 2, 1], hidden="elu(alpha=0.5)", output="sigmoid", loss="bce"),
    Network([2, 1], output="linear", loss="mse"),
]


@pytest.mark.parametrize("net", NETWORKS, ids=repr)
def test_repr_reads_like_the_call_that_built_it(net: Network) -> None:
    text = repr(net)
    assert text.startswith("Network([")
    rebuilt = eval(text, {"Network": Network})  # the repr is a valid constructor call ...
    assert rebuilt == net and repr(rebuilt) == text  # ... of the same network
    assert Network(**net.kwargs()) == net  # the same arguments as a dict (a problem file's [network] table)


def test_repr_of_the_seed_002_network_is_exactly_the_call() -> None:
    assert repr(NETWORKS[0]) == "Network([1, 2, 1], hidden='softplus', output='identity', loss='ssr', naming='flat')"
    assert repr(NETWORKS[2]) == (
        "Network([3, 4, 4, 2], hidden=['tanh', 'leaky_relu(0.2)'], output='softmax', loss='ce', naming='default')"
    )


def test_repr_latex_writes_the_forward_pass_and_the_loss() -> None:
    latex = NETWORKS[1]._repr_latex_()
    assert latex.startswith(r"$$\begin{aligned}") and latex.endswith(r"\end{aligned}$$")
    rows = latex[len(r"$$\begin{aligned} ") : -len(r" \end{aligned}$$")].split(r" \\ ")
    assert rows == [
        r"z^{[1]} &= W^{[1]} x + b^{[1]}, & a^{[1]} &= \sigma\left(z^{[1]}\right), & W^{[1]} \in \mathbb{R}^{3 \times 2}",
        r"z^{[2]} &= W^{[2]} a^{[1]} + b^{[2]}, & a^{[2]} &= \sigma\left(z^{[2]}\right), & W^{[2]} \in \mathbb{R}^{2 \times 3}",
        # seed 001's quadratic cost C = 1/(2n) sum ||y - a||^2
        r"\hat{y} &= a^{[2]}, & C &= \frac{1}{2 N} \sum_{i=1}^{N} \sum_{j=1}^{2} \left(a^{[2]}_{ij} - y_{ij}\right)^{2}",
    ]
    assert r"\operatorname{leaky\_relu}_{slope=\tfrac{1}{5}}\left(z^{[2]}\right)" in NETWORKS[2]._repr_latex_()
    assert r"\operatorname{elu}_{alpha=\tfrac{1}{2}}" in NETWORKS[3]._repr_latex_()
    bce = NETWORKS[3]._repr_latex_()
    assert r"C &= \frac{1}{N m} \sum_{i=1}^{N} \sum_{j=1}^{1} \left(- y_{ij} \log" in bce


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.cells: list[str] = []
        self.balanced = True

    def handle_starttag(self, tag: str, attrs) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.balanced &= bool(self.stack) and self.stack.pop() == tag

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in ("td", "th"):
            self.cells.append(data)


def test_repr_html_is_a_balanced_table_of_layers() -> None:
    parser = _Collector()
    parser.feed(NETWORKS[0]._repr_html_())
    assert parser.balanced and not parser.stack
    assert parser.cells[:4] == ["layer", "neurons", "activation", "parameters"]
    assert ["1", "2", "softplus", "w1, w2, b1, b2"] == parser.cells[6:10]
    assert ["2", "1", "identity", "w3, w4, b3"] == parser.cells[10:14]


def test_ipython_pretty_printer_shows_the_repr() -> None:
    IPython = pytest.importorskip("IPython")
    from IPython.lib.pretty import pretty as ipython_pretty

    assert IPython is not None
    assert ipython_pretty(NETWORKS[0]) == repr(NETWORKS[0])
    assert ipython_pretty([NETWORKS[4]]) == f"[{NETWORKS[4]!r}]"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (.ci/run installs it)")
def test_repr_latex_compiles_with_pdflatex(tmp_path: Path) -> None:
    body = "\n".join(network_latex(net) for net in NETWORKS)
    doc = "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n" + body + "\n\\end{document}\n"
    (tmp_path / "nets.tex").write_text(doc, encoding="utf-8")
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "nets.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "nets.pdf").stat().st_size > 1000


def test_the_tour_flow_with_independent_checks() -> None:
    net = NETWORKS[0]
    X, Y = [0, 0.5, 1], [0, 1, 0]
    fixed = {"w1": 3.34, "b1": -1.43, "w2": -3.53, "b2": 0.57, "w3": -1.22, "w4": -2.30}
    b3 = net.param("b3")
    slope = sp.expand(net.derivative("b3", X, Y, fix=fixed))
    # by hand: dSSR/db3 = 2 sum (b3 + r(x) - y) with r(x) = w3 softplus(w1 x + b1) + w4 softplus(w2 x + b2)
    softplus = lambda z: sp.log(1 + sp.exp(z))  # noqa: E731
    r = [
        fixed["w3"] * softplus(fixed["w1"] * x + fixed["b1"]) + fixed["w4"] * softplus(fixed["w2"] * x + fixed["b2"])
        for x in X
    ]
    constant = float(2 * sum(ri - yi for ri, yi in zip(r, Y)))
    poly = sp.Poly(slope, b3)
    assert poly.degree() == 1 and float(poly.coeff_monomial(b3)) == 6.0
    assert float(poly.coeff_monomial(1)) == pytest.approx(constant, rel=1e-14)
    assert round(0.1 * float(slope.subs(b3, 0)), 2) == -1.57  # the seed's step size
    # the optimum: slope = 0 at b3 = -constant / 6
    (root,) = sp.solve(slope, b3)
    assert float(root) == pytest.approx(-constant / 6, rel=1e-14)
    # the sample gradient of a 1-1 linear SSR net factors as the chain rule says: 2 x (w x + b - y)
    lin = Network([1, 1], output="linear", loss="sse", naming="flat")
    w, b, x, y = lin.param("w1"), lin.param("b1"), lin.inputs[0], lin.targets[0]
    assert sp.expand(lin.sample_gradient()[w] - 2 * x * (w * x + b - y)) == 0


def test_tour_document_runs() -> None:
    result = doctest.testfile(
        str(ROOT / "docs" / "tour.md"),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted >= 15 and result.failed == 0


def test_terminal_forms() -> None:
    net = NETWORKS[0]
    expr = net.sample_gradient()[net.param("w3")]
    assert "Softplus(b₁ + w₁⋅x₁)" in pretty(expr, unicode=True)
    assert "Softplus(b1 + w1*x1)" in pretty(expr, unicode=False)
    assert format_number(-15.655108380577747) == "-15.65510838" and format_number(-0.0) == "0"
    table = gradient_table({"w1": 0.5, "b1": -12.25}, {"w1": 1, "b1": 0}).splitlines()
    assert table == [
        "parameter  value  dL/dparam",
        "---------  -----  ---------",
        "w1             1        0.5",
        "b1             0     -12.25",
    ]
