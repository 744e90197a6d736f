"""Issue 16 item 3 / issue 14 item 5: the MLP's numeric reverse pass exists once (symprop.certified.reverse_pass)
and every exact gradient at numbers comes from it: verify's oracle, Network.gradient(values=), grad --exact,
descend(exact=True). Checked against independent oracles: backprop by hand in Fractions, sympy.diff of the
closed form at 50 digits, PyTorch float64 autograd."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

import symprop
from symprop import Network, certified, cli, verification
from symprop.problem import load_problem

torch = pytest.importorskip("torch")


def hand_backprop(layers, act, slope, X, Y, W, b, loss, l2=Fraction(0)):
    """dC/dW, dC/db by the four equations in Fractions, written here independently (rows are samples)."""

    def f(z):
        return z if act == "identity" else max(z, 0) if act == "relu" else (z if z > 0 else slope * z)

    def fp(z):
        return 1 if act == "identity" else (1 if z > 0 else 0) if act == "relu" else (1 if z > 0 else slope)

    L, N, m = len(layers) - 1, len(X), layers[-1]
    scale = {"mse": Fraction(1, N * m), "sse": Fraction(1), "quadratic": Fraction(1, 2 * N)}[loss]
    gW = [[[Fraction(0)] * layers[l] for _ in range(layers[l + 1])] for l in range(L)]
    gb = [[Fraction(0)] * layers[l + 1] for l in range(L)]
    for x, y in zip(X, Y):
        a, zs = [list(x)], [None]
        for l in range(L):
            z = [sum(W[l][j][k] * a[-1][k] for k in range(layers[l])) + b[l][j] for j in range(layers[l + 1])]
            zs.append(z)
            a.append(z if l == L - 1 else [f(v) for v in z])  # identity output
        d = [2 * (a[-1][j] - y[j]) for j in range(m)]  # d/da of (a - y)^2 (the 1/2 of quadratic is in scale)
        for l in range(L, 0, -1):
            for j in range(layers[l]):
                gb[l - 1][j] += scale * d[j]
                for k in range(layers[l - 1]):
                    gW[l - 1][j][k] += scale * d[j] * a[l - 1][k]
            if l > 1:
                d = [
                    sum(W[l - 1][j][k] * d[j] for j in range(layers[l])) * fp(zs[l - 1][k])
                    for k in range(layers[l - 1])
                ]
    for l in range(L):
        for j in range(layers[l + 1]):
            for k in range(layers[l]):
                gW[l][j][k] += 2 * l2 * W[l][j][k]
    return gW, gb


def _fractions(rng, shape):
    return [[Fraction(int(v), 8) for v in row] for row in rng.integers(-12, 13, size=shape)]


@pytest.mark.parametrize(("act", "loss"), [("relu", "mse"), ("leaky_relu", "sse"), ("identity", "quadratic")])
def test_rational_pass_equals_backprop_by_hand_in_fractions(act, loss) -> None:
    rng = np.random.default_rng(3)
    layers = [2, 3, 2]
    hidden = "leaky_relu(0.25)" if act == "leaky_relu" else act
    net = Network(layers, hidden=hidden, output="identity", loss=loss, l2=0.125)
    W = [_fractions(rng, (3, 2)), _fractions(rng, (2, 3))]
    b = [_fractions(rng, (1, 3))[0], _fractions(rng, (1, 2))[0]]
    X, Y = _fractions(rng, (5, 2)), _fractions(rng, (5, 2))
    W[0][0][0], X[0] = Fraction(0), [Fraction(0), Fraction(1)]  # z exactly at the kink for some sample
    b[0][0] = Fraction(0)
    gW, gb = hand_backprop(layers, act, Fraction(1, 4), X, Y, W, b, loss, Fraction(1, 8))
    obj = lambda rows: np.array(rows, dtype=object)
    result = certified.reverse_pass(net, [obj(w) for w in W], [obj(v) for v in b], obj(X), obj(Y))
    assert result.exact and result.arithmetic == "rationals"
    for info in net.param_infos:
        hand = gW[info.layer - 1][info.row][info.col] if info.kind == "w" else gb[info.layer - 1][info.row]
        assert result.fractions[info.name] == hand, info.name
        assert result[info.name] == float(hand) and result.radius[info.name] == 0
    # Network.gradient(values=..., exact=True) gives the same exact Rationals
    values = {
        i.name: (W[i.layer - 1][i.row][i.col] if i.kind == "w" else b[i.layer - 1][i.row]) for i in net.param_infos
    }
    grads = net.gradient(X, Y, values=values, exact=True)
    assert all(isinstance(grads[n], sp.Rational) and grads[n] == sp.Rational(str(result.fractions[n])) for n in grads)


def _torch_gradient(net, W, b, X, Y, act):
    tw = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in W]
    tb = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in b]
    a = torch.tensor(X, dtype=torch.float64)
    for l in range(len(tw)):
        z = a @ tw[l].T + tb[l]
        a = z if l == len(tw) - 1 else getattr(torch, act)(z)
    out = torch.sigmoid(a)
    loss = torch.nn.functional.binary_cross_entropy(out, torch.tensor(Y, dtype=torch.float64))
    loss.backward()
    grads = {}
    for info in net.param_infos:
        t = (tw if info.kind == "w" else tb)[info.layer - 1].grad
        grads[info.name] = float(t[info.index])
    return grads


def test_ball_pass_agrees_with_torch_float64_and_the_closed_form_at_50_digits() -> None:
    rng = np.random.default_rng(5)
    net = Network([3, 4, 2], hidden="tanh", output="sigmoid", loss="bce")
    W = [rng.normal(size=(4, 3)), rng.normal(size=(2, 4))]
    b = [rng.normal(size=4), rng.normal(size=2)]
    X, Y = rng.normal(size=(6, 3)), rng.integers(0, 2, size=(6, 2)).astype(float)
    result = certified.reverse_pass(net, W, b, X, Y)
    assert result.arithmetic == "balls" and result.all_certified
    expected = _torch_gradient(net, W, b, X, Y, "tanh")
    for name in net.param_names:
        assert result[name] == pytest.approx(expected[name], rel=1e-11, abs=1e-14), name
    # Network.gradient(values=) is the same correctly rounded number; sympy.diff of the closed form at 50 digits
    values = symprop.spec.arrays_to_dict(net, W, b)
    grads = net.gradient(X, Y, values=values)
    small = Network([1, 2, 1], hidden="softplus", output="identity", loss="sse")
    v = {"w1_1_1": 3.34, "b1_1": -1.43, "w1_2_1": -3.53, "b1_2": 0.57, "w2_1_1": -1.22, "w2_1_2": -2.30, "b2_1": 0.0}
    Xs, Ys = [[0.0], [0.5], [1.0]], [[0.0], [1.0], [0.0]]
    loss = small.loss(Xs, Ys)
    sub = {small.param(n): sp.Float(x, 60) for n, x in v.items()}
    got = small.gradient(Xs, Ys, values=v, exact=False)
    for name in small.param_names:
        truth = sp.diff(loss, small.param(name)).xreplace(sub).evalf(50)
        assert float(got[name]) == float(truth), name  # correctly rounded: equal to the last bit
    assert all(float(grads[n]) == result[n] for n in net.param_names)


def test_every_exact_gradient_at_numbers_calls_the_one_pass(monkeypatch, tmp_path) -> None:
    calls = []
    real = certified.reverse_pass

    def spy(*args, **kwargs):
        calls.append(kwargs.get("arithmetic", "auto"))
        return real(*args, **kwargs)

    monkeypatch.setattr(certified, "reverse_pass", spy)
    net = Network([1, 2, 1], hidden="softplus", output="identity", loss="sse")
    v = {"w1_1_1": 3.34, "b1_1": -1.43, "w1_2_1": -3.53, "b1_2": 0.57, "w2_1_1": -1.22, "w2_1_2": -2.30, "b2_1": 0.0}
    X, Y = [[0.0], [0.5], [1.0]], [0.0, 1.0, 0.0]
    net.gradient(X, Y, values=v)
    W, b = symprop.spec.parse_values(net, v)
    verification.exact_gradient(net, W, b, np.array(X), np.array([Y]).T)
    symprop.descend(net, v, X, Y, max_steps=2, exact=True)
    path = tmp_path / "p.toml"
    path.write_text(
        '[network]\nlayers = [1, 2, 1]\nhidden = "softplus"\nloss = "sse"\n[data]\nx = [0, 0.5, 1]\n'
        "y = [0, 1, 0]\n[values]\n" + "".join(f"{n} = {x}\n" for n, x in v.items()),
        encoding="utf-8",
    )
    cli.exact_gradient(load_problem(path))
    assert len(calls) == 1 + 1 + 2 + 1
    assert not hasattr(cli, "_reverse_pass_at")


def test_descend_exact_follows_torch_float64_step_by_step() -> None:
    net = Network([1, 2, 1], hidden="softplus", output="identity", loss="sse")
    v = {"w1_1_1": 3.34, "b1_1": -1.43, "w1_2_1": -3.53, "b1_2": 0.57, "w2_1_1": -1.22, "w2_1_2": -2.30, "b2_1": 0.0}
    X, Y = [[0.0], [0.5], [1.0]], [0.0, 1.0, 0.0]
    trace = symprop.descend(net, v, X, Y, lr=0.01, max_steps=5, exact=True)
    p = {n: torch.tensor(x, dtype=torch.float64, requires_grad=True) for n, x in v.items()}
    x = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    sp_ = torch.nn.functional.softplus
    for step in trace.steps:
        pred = (
            p["w2_1_1"] * sp_(p["w1_1_1"] * x + p["b1_1"]) + p["w2_1_2"] * sp_(p["w1_2_1"] * x + p["b1_2"]) + p["b2_1"]
        )
        loss = ((pred - y) ** 2).sum()
        grads = torch.autograd.grad(loss, list(p.values()))
        for (name, _t), g in zip(p.items(), grads):
            assert step.gradient[name] == pytest.approx(float(g), rel=1e-12, abs=1e-13), (step.index, name)
        with torch.no_grad():
            for name in p:
                p[name] -= 0.01 * step.gradient[name]  # the same update, so both follow one path
    assert trace.final["b2_1"] == pytest.approx(p["b2_1"].item(), rel=1e-13)


def test_overflow_in_the_compiled_api_is_one_overflow_warning_not_numpy_warnings() -> None:
    net = Network([1, 2, 1], hidden="softplus", output="identity", loss="sse")
    v = {"w1_1_1": 3.34, "b1_1": -1.43, "w1_2_1": -3.53, "b1_2": 0.57, "w2_1_1": -1.22, "w2_1_2": -2.30, "b2_1": 1e308}
    X, Y = [[0.0], [0.5], [1.0]], [0.0, 1.0, 0.0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.compile().loss_and_gradient(v, X, Y)
        report = symprop.verify(lambda W, b, X, Y: net.compile().gradient_arrays(W, b, X, Y), net, v, X, Y)
        symprop.verification.finite_difference(net, v, X, Y)
    kinds = [type(w.message).__name__ for w in caught]
    assert kinds == ["OverflowWarning"], kinds
    assert "L = inf" in str(caught[0].message) and "\n" not in str(caught[0].message)
    assert not report.ok


def test_grad_exact_is_refused_by_its_estimate_and_otherwise_prints_the_certified_digits(capsys, tmp_path) -> None:
    xs = ", ".join(str(i / 1000) for i in range(5000))
    path = tmp_path / "many.toml"
    path.write_text(
        f'[network]\nlayers = [1, 2, 1]\nhidden = "softplus"\n[data]\nx = [{xs}]\ny = [{xs}]\n'
        '[values]\ninit = "normal"\n',
        encoding="utf-8",
    )
    assert cli.main(["grad", str(path), "--exact", "--budget", "0.1"]) == 2  # about 0.2 s of balls
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the exact gradient (--exact) would take about" in err
    assert "parameter-samples on balls" in err and "grad without --exact (float64)" in err
    assert cli.main(["grad", "seed002", "--exact"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("b3 "))
    # dC/db3 of seed 002 by sympy.diff of the closed form at 50 digits, rounded to 15 significant digits
    net = Network([1, 2, 1], hidden="softplus", output="identity", loss="sse", naming="flat")
    values = {"w1": "3.34", "b1": "-1.43", "w2": "-3.53", "b2": "0.57", "w3": "-1.22", "w4": "-2.30", "b3": "0"}
    loss = net.loss([[0], [sp.Rational(1, 2)], [1]], [0, 1, 0])
    truth = sp.diff(loss, net.param("b3")).xreplace({net.param(n): sp.Rational(v) for n, v in values.items()})
    assert row.split()[2] == str(sp.Float(truth.evalf(50), 15))
