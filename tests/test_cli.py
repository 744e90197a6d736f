"""The command line as a user runs it: subprocesses on problem files, exit codes, --json shapes, messages."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from test_problem import SEED_002_TOML  # tests/ is on sys.path (rootdir-relative import mode)

from symprop import cli, reference
from symprop.display import Progress
from symprop.problem import load_problem

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "derivations").glob("*.toml"))

SEED_000_TOML = """\
[network]
layers = [2, 2, 1]
hidden = "linear"
output = "linear"
loss = "mse"
[data]
x = [[8, 8], [7, 9], [6, 10], [5, 12]]
y = [4, 5, 6, 7]
[values]
w1_1_1 = 0.1
w1_1_2 = 0.1
w1_2_1 = 0.1
w1_2_2 = 0.1
b1_1 = 0
b1_2 = 0
w2_1_1 = 0.1
w2_1_2 = 0.1
b2_1 = 0
"""

# a hand-written backprop for the seed-002 network (softplus hidden layer, identity output, SSR)
CANDIDATES = """\
import numpy as np

def _grads(weights, biases, X, Y, factor):
    W1, W2 = weights
    b1, b2 = biases
    Z1 = X @ W1.T + b1
    A1 = np.log1p(np.exp(Z1))
    A2 = A1 @ W2.T + b2
    D2 = factor * (A2 - Y)
    D1 = (D2 @ W2) / (1 + np.exp(-Z1))
    return [D1.T @ X, D2.T @ A1], [D1.sum(0), D2.sum(0)]

def good(weights, biases, X, Y):
    return _grads(weights, biases, X, Y, 2.0)

def forgets_the_two(weights, biases, X, Y):
    return _grads(weights, biases, X, Y, 1.0)

def crashes(weights, biases, X, Y):
    return 1 / 0
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "symprop", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


@pytest.fixture()
def seed002(tmp_path: Path) -> Path:
    path = tmp_path / "seed002.toml"
    path.write_text(SEED_002_TOML, encoding="utf-8")
    return path


@pytest.fixture()
def seed000(tmp_path: Path) -> Path:
    path = tmp_path / "seed000.toml"
    path.write_text(SEED_000_TOML, encoding="utf-8")
    return path


def softplus(z: float) -> float:
    return math.log1p(math.exp(z))


def seed002_loss(v: dict[str, float]) -> float:
    """SSR of the seed-002 network written out by hand."""
    pred = [
        v["w3"] * softplus(v["w1"] * x + v["b1"]) + v["w4"] * softplus(v["w2"] * x + v["b2"]) + v["b3"]
        for x in (0.0, 0.5, 1.0)
    ]
    return sum((p - y) ** 2 for p, y in zip(pred, (0.0, 1.0, 0.0)))


SEED_002_VALUES = {"w1": 3.34, "b1": -1.43, "w2": -3.53, "b2": 0.57, "w3": -1.22, "w4": -2.30, "b3": 0.0}


def seed000_exact_gradient() -> dict[str, Fraction]:
    """dC/dparam of seed 000 by the chain rule, by hand, in Fractions (MSE over N = 4 samples)."""
    X = [(8, 8), (7, 9), (6, 10), (5, 12)]
    Y = [4, 5, 6, 7]
    w = Fraction(1, 10)  # every weight; every bias is 0
    grad = {
        n: Fraction(0) for n in ("w1_1_1", "w1_1_2", "w1_2_1", "w1_2_2", "b1_1", "b1_2", "w2_1_1", "w2_1_2", "b2_1")
    }
    for (x1, x2), y in zip(X, Y):
        h = w * x1 + w * x2  # both hidden neurons
        yhat = w * h + w * h
        dC = 2 * (yhat - y) / 4  # d/dyhat of (1/N) (yhat - y)^2
        for j in (1, 2):
            grad[f"w2_1_{j}"] += dC * h
            grad[f"b1_{j}"] += dC * w
            grad[f"w1_{j}_1"] += dC * w * x1
            grad[f"w1_{j}_2"] += dC * w * x2
        grad["b2_1"] += dC
    return grad


# --------------------------------------------------------------------------- subprocess runs


def test_no_arguments_prints_help_with_the_example_and_exits_0() -> None:
    result = run()
    assert result.returncode == 0, result.stderr
    assert "symprop derive" in result.stdout and "verify FILE MOD:FUNC" in result.stdout
    assert result.stderr == ""
    if SHIPPED:  # the example command names a real shipped file
        command = next(
            line.strip() for line in result.stdout.splitlines() if line.strip().startswith("symprop derive ")
        )
        assert (ROOT / command.split()[-1]).is_file() or Path(command.split()[-1]).is_file()


def test_show(seed002: Path) -> None:
    result = run("show", str(seed002))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Network([1, 2, 1], hidden='softplus', output='identity', loss='ssr', naming='flat')" in out
    assert "parameters (7):" in out and "w4    w[2][0, 1]" in out
    # the closed form keeps the file's inputs exact: x = 1/2 gives w1/2, not 0.5*w1
    assert "Softplus(b1 + w1/2)" in out
    # with w1..w4, b1, b2 fixed, C(b3) = sum over x of (b3 - (y - rest(x)))^2; the constants by hand:
    v = SEED_002_VALUES
    rest = [v["w3"] * softplus(v["w1"] * x + v["b1"]) + v["w4"] * softplus(v["w2"] * x + v["b2"]) for x in (0, 0.5, 1)]
    line = next(line for line in out.splitlines() if line.strip().startswith("C(b3) = "))
    printed = sorted(float(c) for c in re.findall(r"\(b3 - ([0-9.]+)\)\*\*2", line))
    assert printed == pytest.approx(sorted(y - r for y, r in zip((0.0, 1.0, 0.0), rest)), rel=1e-13)


def test_show_latex(seed002: Path) -> None:
    result = run("show", str(seed002), "--latex")
    assert result.returncode == 0, result.stderr
    assert r"w_{3} \operatorname{softplus}\left(b_{1} + \frac{w_{1}}{2}\right)" in result.stdout


def test_derive_markdown_has_the_published_numbers(seed002: Path) -> None:
    result = run("derive", str(seed002))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("# Seed 002\n")
    assert r"\approx -15.7" in out and r"\approx 1.57" in out  # the note's slope and new b3
    assert "-6.26204" in out  # the note's second slope, -6.26


def test_derive_tex_document_and_bangla_html_to_files(seed002: Path, tmp_path: Path) -> None:
    tex = tmp_path / "seed002.tex"
    result = run("derive", str(seed002), "--format", "tex", "-o", str(tex))
    assert result.returncode == 0 and result.stdout == "", result.stderr
    text = tex.read_text(encoding="utf-8")
    assert text.startswith("\\documentclass") and text.rstrip().endswith("\\end{document}")
    html = tmp_path / "seed002.html"
    result = run("derive", str(seed002), "--format", "html", "--lang", "bn", "-o", str(html))
    assert result.returncode == 0, result.stderr
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and any("\u0980" <= ch <= "\u09ff" for ch in page)  # Bengali script


def test_built_in_example_by_name_outside_a_checkout(tmp_path: Path) -> None:
    """From any directory: the seed's slope -15.7 and new b3 1.57, by example name."""
    result = run("derive", "seed002", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert r"\approx -15.7" in result.stdout and r"\approx 1.57" in result.stdout
    result = run("grad", "seed003", cwd=tmp_path)
    assert result.returncode == 2
    assert "no such problem file (nor a built-in example: seed002, seed000, seed001)" in result.stderr


def test_derive_bangla_tex_and_latex(seed002: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["derive", str(seed002), "--format", "tex", "--lang", "bn"]) == 0
    document = capsys.readouterr().out
    assert document.startswith("% Bengali: compile with lualatex") and "\\babelprovide" in document
    assert cli.main(["derive", str(seed002), "--format", "latex", "--lang", "bn"]) == 0
    fragment = capsys.readouterr().out
    assert "\\documentclass" not in fragment and any("\u0980" <= ch <= "\u09ff" for ch in fragment)


def test_derive_latex_fragment_in_process(seed002: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["derive", str(seed002), "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert "\\documentclass" not in out and "\\begin{document}" not in out
    assert "b_{3}" in out


def test_grad_json_matches_hand_derivatives_and_the_published_step(seed002: Path) -> None:
    result = run("grad", str(seed002), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"version", "file", "network", "loss_name", "loss", "values", "gradient"}
    assert data["version"] == 1 and data["loss_name"] == "sse" and data["file"] == str(seed002)
    assert list(data["gradient"]) == ["w1", "w2", "b1", "b2", "w3", "w4", "b3"]
    assert data["loss"] == pytest.approx(seed002_loss(SEED_002_VALUES), rel=1e-12)
    # seed 002: step size = slope x 0.1 = -1.57 at b3 = 0
    assert round(0.1 * data["gradient"]["b3"], 2) == -1.57
    for name, slope in data["gradient"].items():  # central differences of the hand-written loss
        h = 1e-6
        up, down = dict(SEED_002_VALUES), dict(SEED_002_VALUES)
        up[name] += h
        down[name] -= h
        assert slope == pytest.approx((seed002_loss(up) - seed002_loss(down)) / (2 * h), rel=1e-7), name


def test_grad_exact_json_gives_the_hand_computed_fractions(seed000: Path) -> None:
    result = run("grad", str(seed000), "--exact", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    hand = seed000_exact_gradient()
    assert list(data["exact"]) == list(hand)
    for name, entry in data["exact"].items():
        assert set(entry) == {"rational", "text", "float"}
        assert entry["rational"] is True
        assert Fraction(entry["text"]) == hand[name], name
        assert data["gradient"][name] == pytest.approx(float(hand[name]), rel=1e-12)
    assert data["exact"]["b2_1"]["text"] == "-207/20"


def test_grad_exact_text_says_when_a_value_is_not_rational(seed002: Path) -> None:
    result = run("grad", str(seed002), "--exact")
    assert result.returncode == 0, result.stderr
    assert "not rational" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("b3 "))
    exact_text = row.split()[2]
    assert row.split()[3] == "no"
    assert float(exact_text) == pytest.approx(-15.6551083805777, rel=1e-13)  # 15 digits of the exact value
    h = 1e-6
    up, down = dict(SEED_002_VALUES, b3=h), dict(SEED_002_VALUES, b3=-h)
    assert float(exact_text) == pytest.approx((seed002_loss(up) - seed002_loss(down)) / (2 * h), rel=1e-8)


def test_descend_json_and_plot_follow_seed_002(seed002: Path, tmp_path: Path) -> None:
    figure = tmp_path / "descent.png"
    result = run("descend", str(seed002), "--json", "--plot", str(figure))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"version", "file", "network", "train", "lr", "tol", "max_steps", "trace"}
    assert data["train"] == ["b3"] and data["lr"] == 0.1 and data["tol"] == 0.001 and data["max_steps"] == 1000
    steps = data["trace"]["steps"]
    # the published numbers: slope -15.7 -> step -1.57 -> b3 = 1.57; then slope -6.26
    assert round(steps[0]["step_size"]["b3"], 2) == -1.57 and round(steps[0]["new_values"]["b3"], 2) == 1.57
    assert round(steps[1]["gradient"]["b3"], 2) == -6.26
    assert data["trace"]["stopped"] == "tol"
    # independent check of the end point: dSSR/db3 = 2 sum(pred - y) = 0 at the optimum, b3* = mean(y - rest)
    v = SEED_002_VALUES
    rest = [v["w3"] * softplus(v["w1"] * x + v["b1"]) + v["w4"] * softplus(v["w2"] * x + v["b2"]) for x in (0, 0.5, 1)]
    b3_star = sum(y - r for y, r in zip((0.0, 1.0, 0.0), rest)) / 3
    assert data["trace"]["final"]["b3"] == pytest.approx(b3_star, abs=0.01)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_descend_flags_override_the_file(seed002: Path) -> None:
    result = run("descend", str(seed002), "--train", "b3,w3", "--lr", "0.01", "--max-steps", "2")
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [line.split("|")[2].strip() for line in table] == ["`w3`", "`b3`", "`w3`", "`b3`"]  # network order
    assert "Stopped (max_steps)" in result.stdout
    # step 0 with lr = 0.01: step size of b3 = 0.01 * dSSR/db3 (hand central difference)
    h = 1e-6
    slope = (seed002_loss(dict(SEED_002_VALUES, b3=h)) - seed002_loss(dict(SEED_002_VALUES, b3=-h))) / (2 * h)
    assert table[1].split("|")[5].strip() == f"{0.01 * slope:.4g}"


def test_plot_network_writes_an_svg(seed002: Path, tmp_path: Path) -> None:
    out = tmp_path / "net.svg"
    result = run("plot", str(seed002), "--kind", "network", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "<svg" in out.read_text(encoding="utf-8")


def test_verify_passes_a_correct_function_and_fails_a_wrong_one(seed002: Path, tmp_path: Path) -> None:
    (tmp_path / "mygrad.py").write_text(CANDIDATES, encoding="utf-8")
    ok = run("verify", str(seed002), "mygrad:good", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "0 / 7 parameters mismatched" in ok.stdout
    bad = run("verify", str(seed002), "mygrad:forgets_the_two", cwd=tmp_path)
    assert bad.returncode == 1
    assert "7 / 7 parameters mismatched" in bad.stdout and "FAIL" in bad.stdout
    assert "mygrad:forgets_the_two does not match the exact gradient" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grad", "{dir}/missing.toml"], "symprop grad: error: {dir}/missing.toml: no such problem file"),
        (["show", "{dir}/bad.toml"], "symprop show: error: {dir}/bad.toml: not valid TOML: "),
        (["grad", "{dir}/unknown_key.toml"], "symprop grad: error: {dir}/unknown_key.toml: [train] unknown key 'rate'"),
        (
            ["descend", "{dir}/seed002.toml", "--train", "b33"],
            "symprop descend: error: --train: unknown parameter 'b33'; valid: w1, w2, b1, b2, w3, w4, b3. Did you mean \"b3\"?",
        ),
    ],
    ids=["missing file", "bad TOML", "unknown key", "unknown parameter"],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, seed002: Path, args: list[str], message: str) -> None:
    (tmp_path / "bad.toml").write_text("[network]\nlayers = [1, 2, 1\n", encoding="utf-8")
    (tmp_path / "unknown_key.toml").write_text(SEED_002_TOML.replace("lr = 0.1", "rate = 0.1"), encoding="utf-8")
    result = run(*[a.format(dir=tmp_path) for a in args])
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(dir=tmp_path)), result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run("grad", str(tmp_path / "missing.toml"), "--debug")
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr and "ProblemError" in result.stderr


# --------------------------------------------------------------------------- in-process (cheap) checks


def test_bad_usage_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], seed002: Path) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["grad", str(seed002), "--format", "md"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized arguments: --format md" in err
    with pytest.raises(SystemExit) as info:
        cli.main(["derive", str(seed002), "--format", "pdf"])
    assert info.value.code == 2
    assert "invalid choice: 'pdf'" in capsys.readouterr().err


def test_verify_a_crashing_function_fails_with_its_error(capsys, seed002: Path, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "crashy.py").write_text(CANDIDATES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert cli.main(["verify", str(seed002), "crashy:crashes"]) == 1
    assert "crashy:crashes raised ZeroDivisionError: division by zero" in capsys.readouterr().err
    assert cli.main(["verify", str(seed002), "crashy:good_one"]) == 2
    assert (
        "module 'crashy' has no function 'good_one'; it has: crashes, forgets_the_two, good" in capsys.readouterr().err
    )
    assert cli.main(["verify", str(seed002), "nosuchmodule_xyz:f"]) == 2
    assert "cannot import module 'nosuchmodule_xyz'" in capsys.readouterr().err
    assert cli.main(["verify", str(seed002), "crashy"]) == 2
    assert "is not MODULE:FUNCTION" in capsys.readouterr().err


def test_option_values_are_checked(capsys, seed002: Path, tmp_path: Path) -> None:
    assert cli.main(["descend", str(seed002), "--lr", "-0.1"]) == 2
    assert "--lr must be positive, got -0.1" in capsys.readouterr().err
    assert cli.main(["plot", str(seed002), "--kind", "network", "-o", str(tmp_path / "x.pdf")]) == 2
    assert "the figure must be a .png or .svg file" in capsys.readouterr().err
    assert cli.main(["plot", str(seed002), "--kind", "lrs", "--lrs", "0.1,fast", "-o", str(tmp_path / "x.png")]) == 2
    assert "--lrs must be comma-separated numbers" in capsys.readouterr().err
    assert cli.main(["derive", str(seed002), "--param", "w9"]) == 2
    assert "--param: unknown parameter 'w9'" in capsys.readouterr().err


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal() -> None:
    tty, pipe = _FakeTerminal(), io.StringIO()
    for stream in (tty, pipe):
        with Progress(4, "exact gradient", stream=stream, delay=0.0, mininterval=0) as bar:
            for name in ("w1", "w2", "b1", "b2"):
                bar.update(item=name)
    assert pipe.getvalue() == ""
    drawn = tty.getvalue()  # a tqdm bar (symprop.progress)
    assert "exact gradient:  25%" in drawn and "1/4" in drawn and "w1" in drawn
    assert "exact gradient: 100%" in drawn and "4/4" in drawn and "b2" in drawn
    assert drawn.endswith("\r")  # the line is cleared at the end


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_grad_on_every_shipped_example_agrees_with_reference_backprop(path: Path, capsys) -> None:
    assert cli.main(["grad", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    problem = load_problem(path)
    expected = reference.backprop(problem.network, problem.values, problem.X, problem.Y)
    assert list(data["gradient"]) == list(expected)
    np.testing.assert_allclose(list(data["gradient"].values()), list(expected.values()), rtol=1e-9, atol=1e-12)


RELU_TOML = """\
[network]
layers = [2, 2, 1]
hidden = "relu"
output = "identity"
loss = "quadratic"
[data]
x = [[0.5, -1.5], [2, 0.25], [-1, 1]]
y = [1.5, -0.5, 0.75]
[values]
w1_1_1 = 0.3
w1_1_2 = -0.7
w1_2_1 = 1.1
w1_2_2 = 0.2
b1_1 = 0.1
b1_2 = -0.4
w2_1_1 = 0.9
w2_1_2 = -1.3
b2_1 = 0.05
"""


def relu_exact_gradient() -> dict[str, Fraction]:
    """Backprop of the relu 2-2-1 quadratic-cost problem above, by hand, in Fractions."""
    F = lambda s: Fraction(s)  # noqa: E731
    X = [(F("0.5"), F("-1.5")), (F(2), F("0.25")), (F(-1), F(1))]
    Y = [F("1.5"), F("-0.5"), F("0.75")]
    W1 = [[F("0.3"), F("-0.7")], [F("1.1"), F("0.2")]]
    b1 = [F("0.1"), F("-0.4")]
    W2 = [F("0.9"), F("-1.3")]
    b2 = F("0.05")
    g = {n: Fraction(0) for n in ("w1_1_1", "w1_1_2", "w1_2_1", "w1_2_2", "b1_1", "b1_2", "w2_1_1", "w2_1_2", "b2_1")}
    for x, y in zip(X, Y):
        z = [W1[j][0] * x[0] + W1[j][1] * x[1] + b1[j] for j in range(2)]
        a = [max(zj, 0) for zj in z]
        out = W2[0] * a[0] + W2[1] * a[1] + b2
        d2 = (out - y) / len(X)  # C = 1/(2N) sum (out - y)^2
        g["b2_1"] += d2
        for j in range(2):
            g[f"w2_1_{j + 1}"] += d2 * a[j]
            d1 = d2 * W2[j] * (1 if z[j] > 0 else 0)
            g[f"b1_{j + 1}"] += d1
            for k in range(2):
                g[f"w1_{j + 1}_{k + 1}"] += d1 * x[k]
    return g


def test_exact_gradient_is_rational_through_relu_and_decimal_through_tanh(tmp_path: Path) -> None:
    relu = load_problem(_write(tmp_path / "relu.toml", RELU_TOML))
    exact = cli.exact_gradient(relu)
    hand = relu_exact_gradient()
    assert {n: Fraction(e["text"]) for n, e in exact.items()} == hand
    assert all(e["rational"] for e in exact.values())
    tanh = load_problem(_write(tmp_path / "tanh.toml", RELU_TOML.replace('"relu"', '"tanh"')))
    exact = cli.exact_gradient(tanh)
    expected = reference.backprop(tanh.network, tanh.values, tanh.X, tanh.Y)
    assert not any(e["rational"] for e in exact.values())
    for name, entry in exact.items():
        assert len(entry["text"].lstrip("-").replace(".", "").lstrip("0")) <= 16  # 15 significant digits
        assert float(entry["text"]) == pytest.approx(expected[name], rel=1e-13, abs=1e-15), name


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_show_on_every_shipped_example(path: Path, capsys) -> None:
    assert cli.main(["show", str(path)]) == 0
    out = capsys.readouterr().out
    problem = load_problem(path)
    assert f"network: {problem.network!r}" in out and f"parameters ({problem.network.n_params}):" in out
    assert all(f"\n  {name} " in out for name in problem.network.param_names)


def test_derive_reproduces_the_shipped_seed_002_markdown(capsys) -> None:
    path = ROOT / "derivations" / "seed002_softplus_ssr.toml"
    if not path.is_file():
        pytest.skip("derivations/seed002_softplus_ssr.toml is not in this checkout")
    assert cli.main(["derive", str(path)]) == 0
    out = capsys.readouterr().out

    def without_figure(text: str) -> str:  # on stdout the figure is embedded; the shipped file links its .svg
        return re.sub(r"!\[[^\]]*\]\([^)]*\)", "![figure]", text).strip()

    assert out.strip() and without_figure(out) in without_figure(path.with_suffix(".md").read_text(encoding="utf-8"))


def test_derive_markdown_to_a_file_writes_its_figure_beside_it(seed002: Path, tmp_path: Path) -> None:
    out = tmp_path / "seed002.md"
    assert cli.main(["derive", str(seed002), "-o", str(out)]) == 0
    assert "![" in out.read_text(encoding="utf-8") and "(seed002.svg)" in out.read_text(encoding="utf-8")
    assert (tmp_path / "seed002.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_regenerate_command(tmp_path: Path, capsys) -> None:
    shutil.copy(ROOT / "derivations" / "seed002_softplus_ssr.toml", tmp_path)
    assert cli.main(["regenerate", str(tmp_path), "--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert cli.main(["regenerate", str(tmp_path)]) == 0
    assert cli.main(["regenerate", str(tmp_path), "--check"]) == 0
    assert cli.main(["regenerate", str(tmp_path / "nowhere")]) == 2
    assert "not a directory of problem files" in capsys.readouterr().err


def test_derive_code_appendix_on_request(seed002: Path, capsys) -> None:
    assert cli.main(["derive", str(seed002), "--format", "latex"]) == 0
    assert r"\mathtt{" not in capsys.readouterr().out
    assert cli.main(["derive", str(seed002), "--format", "latex", "--code"]) == 0
    assert r"\mathtt{" in capsys.readouterr().out


def test_intro_points_to_the_built_in_example_without_a_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_derivations_dir", lambda: tmp_path / "no-derivations")
    assert cli.example_command() == "symprop derive seed002"
    monkeypatch.chdir(tmp_path)
    from symprop.problem import load_problem

    assert load_problem(cli.example_command().split()[-1]).param == "b3"  # the command it prints works here
