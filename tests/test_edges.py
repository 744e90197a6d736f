"""Issue 17's tidy edges, one test each: what a newcomer meets first in Jupyter, the REPL and the README."""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symprop

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from symprop import plotting, progress
from symprop.examples import SEED_002 as E

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


# --------------------------------------------------------------------------- Jupyter shows figures


@pytest.mark.parametrize("draw", ["loss_curve", "network_diagram", "loss_history"])
def test_figures_display_in_ipython_without_magic(draw):
    pytest.importorskip("IPython")
    from IPython.core.formatters import DisplayFormatter
    from PIL import Image

    if draw == "loss_curve":
        fig = plotting.loss_curve(E.network, E.values, E.X, E.Y, "b3")
    elif draw == "network_diagram":
        fig = plotting.network_diagram(E.network, E.values)
    else:
        fig = plotting.loss_history(symprop.descend(E.network, E.values, E.X, E.Y, train="b3", lr=0.1, tol=0.01))
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    data, _ = DisplayFormatter().format(fig)  # what Jupyter does with the cell's value
    assert "image/png" in data
    png = data["image/png"]
    png = png if isinstance(png, bytes) else __import__("base64").b64decode(png)
    image = Image.open(io.BytesIO(png))
    width, height = fig.get_size_inches() * 100
    assert image.size == (round(width), round(height))
    assert len(np.unique(np.asarray(image.convert("L")))) > 10  # a picture, not a blank canvas
    svg = fig._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


# --------------------------------------------------------------------------- deterministic pictures


def test_saved_svg_is_the_same_bytes_every_time_without_a_date(tmp_path):
    fig = plotting.network_diagram(E.network, E.values)
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    plotting.save(fig, a)
    plotting.save(plotting.network_diagram(E.network, E.values), b)
    text = a.read_text(encoding="utf-8")
    assert a.read_bytes() == b.read_bytes()
    assert "<dc:date>" not in text and not re.search(r"20\d\d-\d\d-\d\d", text)
    assert plotting.save(fig, tmp_path / "c.png").read_bytes() == plotting.save(fig, tmp_path / "d.png").read_bytes()
    import matplotlib

    assert matplotlib.rcParams["svg.hashsalt"] is None  # the salt is fixed only while writing


def test_committed_svg_in_docs_img_is_what_save_writes_today(tmp_path):
    committed = (ROOT / "docs" / "img" / "seed002_network.svg").read_text(encoding="utf-8")
    fresh = plotting.save(plotting.network_diagram(E.network, E.values), tmp_path / "n.svg").read_text(encoding="utf-8")
    assert "<dc:date>" not in committed
    assert fresh == committed


# --------------------------------------------------------------------------- the first command just works


def _first_command() -> str:
    return re.search(r"^    (python -m pip install .*)$", README, flags=re.M).group(1)


def test_readme_first_install_brings_the_extras_its_examples_need():
    command = _first_command()
    extras = re.search(r'-e "\.\[([^\]]*)\]"', command)
    assert extras, f"the first command installs no extras: {command}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    installed = " ".join(" ".join(project["optional-dependencies"][e.strip()]) for e in extras.group(1).split(","))
    installed += " " + " ".join(project["dependencies"])
    needs = {"--format html": "latex2mathml", "--plot": "matplotlib"}
    for option, package in needs.items():
        assert option in README  # the README shows the option ...
        assert package in installed, f"README uses {option} but {command!r} does not install {package}"
    assert any(d.startswith("tqdm") for d in project["dependencies"])


def _console_blocks() -> list[list[str]]:
    blocks = re.findall(r"^```console\n(.*?)^```", README, flags=re.S | re.M)
    return [[line[2:].split("  #")[0].strip() for line in b.splitlines() if line.startswith("$ ")] for b in blocks]


def test_readme_example_files_exist_and_its_commands_run_as_written(tmp_path):
    """Every `$` line of the README's console blocks runs (a `cd` carries over), exiting as its comment says."""
    assert (ROOT / "examples" / "problem.toml").is_file() and (ROOT / "examples" / "mygrad.py").is_file()
    ran = 0
    for block in _console_blocks():
        cwd = ROOT
        for line, raw in zip(
            block,
            [
                ln
                for b in re.findall(r"^```console\n(.*?)^```", README, flags=re.S | re.M)
                for ln in b.splitlines()
                if ln.startswith("$ ")
            ][ran:],
        ):
            ran += 1
            argv = shlex.split(line)
            if argv[0] == "cd":
                cwd = cwd / argv[1]
                continue
            argv = [(str(tmp_path / a) if a.endswith((".html", ".png")) else a) for a in argv]  # outputs: elsewhere
            assert argv[0] == "symprop"
            result = subprocess.run(
                [sys.executable, "-m", "symprop", *argv[1:]],
                cwd=cwd,
                env=_env(),
                capture_output=True,
                text=True,
                timeout=600,
            )
            expected = 1 if "exit 1" in raw else 0
            assert result.returncode == expected, f"{line} (in {cwd.name}): {result.returncode}\n{result.stderr}"
    assert ran >= 6
    assert (tmp_path / "seed002.html").is_file() and (tmp_path / "descent.png").is_file()


def test_shipped_backprop_is_right_by_an_independent_oracle():
    """examples/mygrad.py agrees with PyTorch float64 autograd on examples/problem.toml."""
    torch = pytest.importorskip("torch")
    from symprop.problem import load_problem

    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import mygrad
    finally:
        sys.path.remove(str(ROOT / "examples"))
    p = load_problem(ROOT / "examples" / "problem.toml")
    weights, biases = symprop.spec.parse_values(p.network, p.values)
    gw, gb = mygrad.backprop(weights, biases, np.asarray(p.X, float), np.asarray(p.Y, float))
    tw = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in weights]
    tb = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in biases]
    a = torch.tensor(np.asarray(p.X, float))
    for W, b in zip(tw[:-1], tb[:-1]):
        a = torch.tanh(a @ W.T + b)
    out = a @ tw[-1].T + tb[-1]
    torch.nn.functional.mse_loss(out, torch.tensor(np.asarray(p.Y, float))).backward()
    for mine, theirs in zip(gw + gb, tw + tb):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- REPL edges


def test_repr_of_a_derivation_is_short():
    d = symprop.derive(E.network, "b3", E.values, E.X, E.Y)
    text = repr(d)
    assert len(text) < 300 and "\n" not in text
    assert "b3" in text and repr(E.network) in text and "to_markdown" in text
    assert len(d._repr_markdown_()) > 2000  # Jupyter still shows the whole page


def test_counts_of_one_are_singular():
    net = symprop.Network([1, 1, 1])
    with pytest.raises(ValueError) as err:
        net.loss([[1.0]], [[1.0], [2.0]])
    assert "X has 1 sample but" in str(err.value)
    bad = ([np.zeros((1, 2)), np.zeros((1, 1))], [np.zeros(1), np.zeros(1)])
    with pytest.raises(ValueError) as err:
        symprop.verify(lambda w, b, X, Y: (w, b), net, bad, [[1.0]], [[1.0]])
    assert "maps 1 input to 1 neuron" in str(err.value)
    assert not re.search(r"\b1 (inputs|neurons|outputs|samples|parameters)\b", str(err.value))
    from symprop.errors import plural

    assert (plural(1, "output"), plural(3, "output"), plural(1, "entry", "entries"), plural(0, "entry", "entries")) == (
        "1 output",
        "3 outputs",
        "1 entry",
        "0 entries",
    )


@pytest.mark.parametrize("given, canonical", [("ssr", "sse"), ("ce", "cross_entropy"), ("SSR", "sse"), ("mse", "mse")])
def test_loss_alias_is_echoed_as_given(given, canonical):
    net = symprop.Network(
        [1, 2, 1],
        loss=given if canonical != "cross_entropy" else given,
        output="softmax" if canonical == "cross_entropy" else "identity",
    )
    assert f"loss='{given.lower()}'" in repr(net)
    assert net.loss_name == canonical  # the same loss ...
    assert net == symprop.Network(**dict(net.kwargs(), loss=canonical))  # ... and the same network
    assert eval(repr(net), {"Network": symprop.Network}) == net


def test_float_data_leave_no_float_ones_in_closed_forms():
    net = symprop.Network([1, 1], output="identity", loss="sse", naming="flat")
    loss = net.loss([0.0, 1.0, -1.0, 2.0], [1.0, 2.0, 0.0, -3.0])
    assert not any(isinstance(a, sp.Float) for a in loss.atoms(sp.Number)), loss
    assert "1.0" not in str(loss)
    w1, b1 = net.param("w1"), net.param("b1")  # the closed form, written by hand
    assert sp.expand(loss - ((b1 - 1) ** 2 + (b1 + w1 - 2) ** 2 + (b1 - w1) ** 2 + (b1 + 2 * w1 + 3) ** 2)) == 0
    half = net.loss([0.5], [1.0])  # a float that is not whole stays a float
    assert any(isinstance(a, sp.Float) and a == sp.Float(0.5) for a in half.atoms(sp.Number))


def test_descent_steps_are_numbered_from_one_in_traces_and_derivations():
    trace = symprop.descend(E.network, E.values, E.X, E.Y, train=E.train, lr=E.lr, tol=E.tol)
    rows = [line for line in trace.to_markdown().splitlines()[2:] if line.startswith("|")]
    assert [r.split("|")[1].strip() for r in rows] == [str(k) for k in range(1, len(trace.steps) + 1)]
    assert trace.steps[0].number == 1 and trace.steps[-1].number == trace.n_steps
    derivation = (ROOT / "derivations" / "seed002_softplus_ssr.md").read_text(encoding="utf-8")
    table = derivation[derivation.index("Gradient descent on") :]
    numbers = re.findall(r"^\| (\d+) \|", table, flags=re.M)
    assert numbers[0] == "1" and numbers[-1] == str(trace.n_steps)
    assert f"After {trace.n_steps} updates" in derivation and f"after {trace.n_steps} update(s)" in trace.reason


# --------------------------------------------------------------------------- exact mode


def test_evaluate_keeps_fractions_exact():
    net = symprop.Network([1, 1], output="identity", loss="mse", naming="flat")
    X, Y = [Fraction(1, 3), 1, Fraction(-2, 7)], [Fraction(1, 7), 2, Fraction(1, 2)]
    w, b = Fraction(1, 3), Fraction(-2, 9)
    by_hand = sum((w * x + b - y) ** 2 for x, y in zip(X, Y)) / 3  # the mean of the squared residuals
    value = symprop.evaluate(net, net.loss(X, Y, exact=True), {"w1": w, "b1": b})
    assert isinstance(value, sp.Rational) and Fraction(int(value.p), int(value.q)) == by_hand
    slope = symprop.evaluate(net, net.derivative("w1", X, Y, exact=True), {"w1": w, "b1": b})
    assert Fraction(int(slope.p), int(slope.q)) == sum(2 * (w * x + b - y) * x for x, y in zip(X, Y)) / 3
    assert isinstance(symprop.evaluate(net, net.loss(X, Y, exact=True), {"w1": 0.5, "b1": b}), sp.Float)


def test_descend_accepts_a_fraction_learning_rate():
    fraction = symprop.descend(E.network, E.values, E.X, E.Y, train="b3", lr=Fraction(1, 10), tol=E.tol)
    decimal = symprop.descend(E.network, E.values, E.X, E.Y, train="b3", lr=0.1, tol=E.tol)
    assert fraction.lr == 0.1 and fraction.final == decimal.final and fraction.n_steps == decimal.n_steps
    with pytest.raises(TypeError, match="lr"):
        symprop.descend(E.network, E.values, E.X, E.Y, train="b3", lr="0.1")


def test_exact_gradient_at_values_of_a_nonlinear_network_is_numbers():
    torch = pytest.importorskip("torch")
    net = E.network  # softplus hidden layer
    values = {k: Fraction(v).limit_denominator(1000) for k, v in E.values.items()}
    grad = net.gradient(E.X, E.Y, values=values, exact=True)
    assert all(isinstance(g, sp.Number) for g in grad.values()), grad
    # oracle: PyTorch float64 autograd at the same (rational, then rounded) values
    t = {k: torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for k, v in values.items()}
    x, y = (
        torch.tensor([float(v) for v in E.X], dtype=torch.float64),
        torch.tensor([float(v) for v in E.Y], dtype=torch.float64),
    )
    sp_ = torch.nn.functional.softplus
    out = t["w3"] * sp_(t["w1"] * x + t["b1"]) + t["w4"] * sp_(t["w2"] * x + t["b2"]) + t["b3"]
    ((out - y) ** 2).sum().backward()
    for name, g in grad.items():
        assert float(g) == pytest.approx(t[name].grad.item(), rel=1e-12)
    linear = symprop.Network([1, 1], output="identity", loss="mse", naming="flat")
    exact = linear.gradient([1, 2], [0, 1], values={"w1": Fraction(1, 3), "b1": 0}, exact=True)
    w = Fraction(1, 3)
    by_hand = sum(2 * (w * x - y) * x for x, y in ((1, 0), (2, 1))) / 2  # d/dw of the mean of (w x + 0 - y)^2
    assert exact["w1"].is_Rational and exact["w1"] == sp.Rational(by_hand.numerator, by_hand.denominator)


# --------------------------------------------------------------------------- docs


def test_derivations_page_says_bengali_latex_works():
    page = (ROOT / "docs" / "derivations.md").read_text(encoding="utf-8")
    assert not re.search(r"(LaTeX[^.\n]*English only|English only[^.\n]*LaTeX)", page, flags=re.I)
    assert 'to_latex_document("bn")' in page and "lualatex" in page


# --------------------------------------------------------------------------- progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_only_on_a_terminal(monkeypatch):
    monkeypatch.delenv("SYMPROP_PROGRESS", raising=False)
    tty, pipe = _Terminal(), io.StringIO()
    for stream in (tty, pipe):
        with progress.Progress(3, "proving backprop", stream=stream, delay=0, mininterval=0) as bar:
            for name in ("w1", "b1", "w2"):
                bar.update(item=name)
    assert pipe.getvalue() == ""
    assert "proving backprop: 100%" in tty.getvalue() and "3/3" in tty.getvalue() and "w2" in tty.getvalue()
    monkeypatch.setenv("SYMPROP_PROGRESS", "0")
    assert not progress.enabled(_Terminal())
    monkeypatch.setenv("SYMPROP_PROGRESS", "1")
    assert progress.enabled(io.StringIO())


def test_long_work_reports_progress(monkeypatch, capsys):
    """proofs, the exact oracle and regeneration call symprop.progress (forced on, so it draws on captured stderr)."""
    monkeypatch.setenv("SYMPROP_PROGRESS", "1")
    monkeypatch.setattr(
        progress.Progress.__init__, "__defaults__", (None, 0.0, "it", True, 0)
    )  # stream, delay, unit, show, mininterval
    symprop.prove_backprop(symprop.Network([1, 2, 1], hidden="tanh"))
    err = capsys.readouterr().err
    assert "proving backprop" in err and "7/7" in err
    rng = np.random.default_rng(0)
    net = symprop.Network([2, 3, 1], hidden="tanh")
    X, Y = rng.normal(size=(40, 2)), rng.normal(size=(40, 1))
    values = ([rng.normal(size=(3, 2)), rng.normal(size=(1, 3))], [rng.normal(size=3), rng.normal(size=1)])
    assert symprop.verify(symprop.backprop(net, values, X, Y), net, values, X, Y).ok
    assert "exact oracle" in capsys.readouterr().err
