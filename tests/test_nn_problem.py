"""[[layers]] problem files, the command line on them, descend and the pytest fixture for symprop.nn models.

Oracles: PyTorch float64 autograd on torch's own modules (gradients), torch.optim.SGD (descent).
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
T = torch.nn

import symprop
from symprop import nn
from symprop.cli import main
from symprop.problem import ProblemError, load_problem

FILE = """
title = "LayerNorm and a residual block"
[[layers]]
type = "Linear"
in_features = 2
out_features = 3
[[layers]]
type = "LayerNorm"
normalized_shape = 3
[[layers]]
type = "Residual"
  [[layers.layers]]
  type = "Linear"
  in_features = 3
  out_features = 3
  [[layers.layers]]
  type = "GELU"
  approximate = "tanh"
[[layers]]
type = "BatchNorm1d"
num_features = 3
training = false
[[layers]]
type = "Linear"
in_features = 3
out_features = 3
[loss]
type = "CrossEntropyLoss"
reduction = "sum"
[data]
x = [[0.1, 0.2], [0.3, -0.4], [1.0, 0.5], [-0.7, 0.25]]
y = [0, 2, 1, 2]
[values]
init = "torch"
seed = 1
"0.bias" = [0.5, -0.25, 0.125]
3.running_mean = [0.1, -0.1, 0.2]
3.running_var = [0.5, 1.5, 2.0]
[train]
params = ["4.bias", "1.weight"]
lr = 0.2
max_steps = 7
"""


class Residual(T.Module):
    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return x + self.block(x)


def torch_model():
    m = T.Sequential(
        T.Linear(2, 3),
        T.LayerNorm(3),
        Residual(T.Sequential(T.Linear(3, 3), T.GELU(approximate="tanh"))),
        T.BatchNorm1d(3),
        T.Linear(3, 3),
    ).double()
    m[3].eval()
    return m


CANDIDATES = """
import torch
from test_nn_problem_model import torch_model

def grad(values, X, Y):
    m = torch_model()
    m.load_state_dict({k: torch.tensor(v) for k, v in values.items()}, strict=False)
    torch.nn.CrossEntropyLoss(reduction="sum")(m(torch.tensor(X)), torch.tensor(Y)).backward()
    return {k: p.grad.numpy() for k, p in m.named_parameters()}

def wrong(values, X, Y):
    g = grad(values, X, Y)
    g["2.block.0.bias"] = g["2.block.0.bias"] + 1e-6
    return g
"""


@pytest.fixture
def problem_file(tmp_path, monkeypatch):
    path = tmp_path / "ln.toml"
    path.write_text(FILE)
    (tmp_path / "cands.py").write_text(CANDIDATES)
    import inspect

    src = "import torch\nT = torch.nn\n" + inspect.getsource(Residual) + "\n" + inspect.getsource(torch_model)
    (tmp_path / "test_nn_problem_model.py").write_text(src)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return path


def torch_gradient(problem):
    m = torch_model()
    m.load_state_dict({k: torch.tensor(v) for k, v in problem.values.items()}, strict=False)
    T.CrossEntropyLoss(reduction="sum")(m(torch.tensor(problem.X)), torch.tensor(problem.Y)).backward()
    return {k: p.grad.numpy() for k, p in m.named_parameters()}


def test_layers_file_loads_as_the_model_with_torch_names(problem_file):
    p = load_problem(problem_file)
    want = nn.Sequential(
        nn.Linear(2, 3),
        nn.LayerNorm(3),
        nn.Residual(nn.Sequential(nn.Linear(3, 3), nn.GELU(approximate="tanh"))),
        nn.BatchNorm1d(3).eval(),
        nn.Linear(3, 3),
    )
    assert p.model == want and p.loss == nn.CrossEntropyLoss(reduction="sum")
    assert p.Y.dtype == np.int64 and p.X.shape == (4, 2)
    assert np.array_equal(p.values["0.bias"], [0.5, -0.25, 0.125]) and np.array_equal(
        p.values["3.running_var"], [0.5, 1.5, 2.0]
    )
    assert p.train == ("4.bias", "1.weight")


def test_cli_grad_json_matches_torch(problem_file, capsys):
    assert main(["grad", str(problem_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    want = torch_gradient(load_problem(problem_file))
    assert list(data["gradient"]) == list(want)
    for k, g in want.items():
        np.testing.assert_allclose(np.array(data["gradient"][k]), g, rtol=1e-12, atol=1e-14)
    assert main(["grad", str(problem_file), "--exact", "--json"]) == 0
    exact = json.loads(capsys.readouterr().out)["exact"]
    np.testing.assert_allclose([float(e) for e in exact["4.bias"]], want["4.bias"], rtol=1e-12)
    assert main(["show", str(problem_file)]) == 0
    assert "parameters: 0.weight (3, 2), 0.bias (3,)" in capsys.readouterr().out


def test_cli_verify_passes_torch_and_blames_the_corrupted_layer(problem_file, capsys):
    assert main(["verify", str(problem_file), "cands:grad"]) == 0
    assert "ok: 0 / 45 parameters mismatched" in capsys.readouterr().out
    assert main(["verify", str(problem_file), "cands:wrong"]) == 1
    out = capsys.readouterr().out
    assert "likely mistake: wrong gradient in module '2.block.0' (Linear); every other layer matches" in out
    assert "module '2.block.0' (Linear): 3 / 12 wrong (weight 0/9, bias 3/3)" in out


def test_cli_descend_matches_torch_sgd(problem_file, capsys):
    assert main(["descend", str(problem_file), "--json"]) == 0
    trace = json.loads(capsys.readouterr().out)["trace"]
    p = load_problem(problem_file)
    m = torch_model()
    m.load_state_dict({k: torch.tensor(v) for k, v in p.values.items()}, strict=False)
    params = [m[4].bias, m[1].weight]
    opt = torch.optim.SGD(params, lr=0.2)
    for _ in range(7):
        opt.zero_grad()
        T.CrossEntropyLoss(reduction="sum")(m(torch.tensor(p.X)), torch.tensor(p.Y)).backward()
        opt.step()
    assert trace["n_steps"] == 7 and set(trace["train"]) == {
        "4.bias[0]",
        "4.bias[1]",
        "4.bias[2]",
        "1.weight[0]",
        "1.weight[1]",
        "1.weight[2]",
    }
    got = [trace["final"][f"4.bias[{i}]"] for i in range(3)] + [trace["final"][f"1.weight[{i}]"] for i in range(3)]
    np.testing.assert_allclose(got, np.concatenate([t.detach().numpy() for t in params]), rtol=1e-12, atol=1e-14)
    assert trace["final"]["0.bias[0]"] == 0.5  # not trained


def test_descend_api_on_a_model_matches_torch_sgd():
    model = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1))
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(6, 2)), rng.normal(size=(6, 1))
    values = nn.init_values(model, (2,), seed=3)
    trace = symprop.descend(model, values, X, Y, lr=0.05, max_steps=10, loss=nn.MSELoss())
    m = T.Sequential(T.Linear(2, 4), T.BatchNorm1d(4), T.Tanh(), T.Linear(4, 1)).double()
    m.load_state_dict({k: torch.tensor(v) for k, v in values.items()})
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    for _ in range(10):
        opt.zero_grad()
        T.MSELoss()(m(torch.tensor(X)), torch.tensor(Y)).backward()
        opt.step()
    from symprop.nn_descent import final_state_dict

    final = final_state_dict(trace, model, (2,))
    for k, p in m.named_parameters():
        np.testing.assert_allclose(final[k], p.detach().numpy(), rtol=1e-12, atol=1e-14)
    with pytest.raises(
        ValueError, match=r'unknown parameter "3.bais".*Did you mean "3.bias"'.replace('"3.bais"', "'3.bais'")
    ):
        symprop.descend(model, values, X, Y, train="3.bais", loss="mse")


def test_gradient_check_fixture_takes_models(gradient_check):
    module = T.Sequential(T.Linear(3, 4), T.LayerNorm(4), T.SiLU(), T.Linear(4, 2)).double()
    X, Y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    (model, loss, _), values = symprop.from_torch(module, T.MSELoss())
    T.MSELoss()(module(X), Y).backward()
    grads = {k: p.grad.numpy() for k, p in module.named_parameters()}
    assert gradient_check(grads, model, values, X, Y, loss=loss)
    bad = dict(grads, **{"1.weight": grads["1.weight"] + 1e-6})
    with pytest.raises(AssertionError, match=r"wrong gradient in module '1' \(LayerNorm\)"):
        gradient_check(bad, model, values, X, Y, loss=loss)
    assert "module '1' (LayerNorm): 4 / 8 wrong" in gradient_check.reports[-1].to_markdown()


def _load(tmp_path, text):
    path = tmp_path / "p.toml"
    path.write_text(textwrap.dedent(text))
    return load_problem(path)


BASE = """
[data]
x = [[0.1, 0.2]]
y = [[1.0]]
[values]
init = "torch"
"""


@pytest.mark.parametrize(
    "layers, message",
    [
        (
            '[[layers]]\ntype = "LayerNrom"\nnormalized_shape = 2\n',
            r'layers\[0\]: unknown layer type .LayerNrom.; valid: .*Did you mean "LayerNorm"\?',
        ),
        (
            '[[layers]]\ntype = "Linear"\nin_feature = 2\nout_features = 1\n',
            r'layers\[0\] \(Linear\): unknown argument .in_feature.; valid: in_features, out_features, bias, training.*Did you mean "in_features"\?',
        ),
        ("[[layers]]\nin_features = 2\n", r"layers\[0\] needs a type"),
        (
            '[[layers]]\ntype = "Residual"\n  [[layers.layers]]\n  type = "Tanhh"\n',
            r'layers\[0\]\.layers\[0\]: unknown layer type .Tanhh.*Did you mean "Tanh"\?',
        ),
        (
            '[[layers]]\ntype = "Dropout"\np = 1.5\n',
            r"layers\[0\] \(Dropout\): Dropout probability has to be between 0 and 1",
        ),
        (
            '[[layers]]\ntype = "Linear"\nin_features = 2\nout_features = 1\n[loss]\ntype = "MSELos"\n',
            r'\[loss\] unknown type .MSELos.*Did you mean "MSELoss"\?',
        ),
        (
            '[[layers]]\ntype = "Linear"\nin_features = 2\nout_features = 1\n[loss]\nreduction = "man"\n',
            r'\[loss\]: MSELoss: unknown reduction .man.*Did you mean "mean"\?',
        ),
        (
            '[[layers]]\ntype = "Linear"\nin_features = 3\nout_features = 1\n',
            r"\[data\] x has samples of shape \(2,\): .*Linear",
        ),
    ],
)
def test_layer_file_mistakes_are_one_line_errors(tmp_path, layers, message):
    with pytest.raises(ProblemError, match=message) as info:
        _load(tmp_path, layers + BASE)
    assert "\n" not in str(info.value)


def test_values_mistakes(tmp_path):
    head = '[[layers]]\ntype = "Linear"\nin_features = 2\nout_features = 1\n[data]\nx = [[0.1, 0.2]]\ny = [1.0]\n'
    with pytest.raises(ProblemError, match=r'\[values\] unknown key\(s\) 0.wieght.*Did you mean "0.weight"\?'):
        _load(tmp_path, head + '[values]\n"0.wieght" = [[1.0, 2.0]]\n"0.bias" = [0.0]\n')
    with pytest.raises(ProblemError, match=r"\[values\] 0.weight has shape \(2,\), expected \(1, 2\)"):
        _load(tmp_path, head + '[values]\n"0.weight" = [1.0, 2.0]\n"0.bias" = [0.0]\n')
    with pytest.raises(ProblemError, match=r"\[values\] missing 0.bias"):
        _load(tmp_path, head + '[values]\n"0.weight" = [[1.0, 2.0]]\n')
    p = _load(tmp_path, head + "[values]\n0.weight = [[1.0, 2.0]]\n0.bias = [0.5]\n")  # dotted keys
    assert np.array_equal(p.values["0.weight"], [[1.0, 2.0]]) and p.Y.shape == (1, 1)
    # hand computation: y_hat = 1*0.1 + 2*0.2 + 0.5 = 1.0 = y, so every gradient is 0
    assert all(np.all(g == 0) for g in nn.gradient(p.model, p.values, p.X, p.Y).values())
    with pytest.raises(ProblemError, match=r"unknown key 'network'.*two kinds of problem file"):
        _load(tmp_path, head + '[values]\ninit = "torch"\n[network]\nlayers = [2, 1]\n')


def test_derive_and_plot_refuse_layer_files_in_one_line(problem_file, capsys):
    assert main(["derive", str(problem_file)]) != 0
    err = capsys.readouterr().err
    assert "symprop derive does not take [[layers]] problem files yet" in err and err.count("\n") == 1
