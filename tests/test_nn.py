"""symprop.nn: the layer architecture.  Oracles: the MLP engine (Network.gradient, itself tested against
hand Fractions and sympy.diff), sympy.diff of closed forms, MP vs FLOAT, torch float64 (test_nn_torch.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from symprop import Network, nn
from symprop.examples import EXAMPLES
from symprop.nn import (
    ELU,
    FLOAT,
    GELU,
    MP,
    SYMBOLIC,
    BatchNorm1d,
    Dropout,
    Flatten,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    ReLU,
    Residual,
    Sequential,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from symprop.spec import as_data


def _close(a, b, rtol=1e-12, atol=1e-13):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- the MLP shorthand


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_seed_networks_convert_with_the_same_gradient(name):
    ex = EXAMPLES[name]
    net = ex.network
    model, loss, l2 = net.to_sequential()
    X, Y = as_data(net, ex.X, ex.Y)
    expected = net.gradient(ex.X, ex.Y, values=ex.values)
    state = nn.network_state_dict(net, ex.values)
    for arith in (FLOAT, MP(40)):
        got = nn.network_gradient(net, nn.gradient(model, state, X, Y, loss=loss, l2=l2, arith=arith))
        for p in net.param_names:
            assert float(got[p]) == pytest.approx(float(expected[p]), rel=1e-12, abs=1e-14), p


@pytest.mark.parametrize(
    "kwargs",
    [
        {"layers": [2, 3, 2], "hidden": "tanh", "output": "sigmoid", "loss": "bce"},
        {"layers": [3, 4, 3], "hidden": "relu", "output": "softmax", "loss": "cross_entropy"},
        {"layers": [2, 3, 3, 1], "hidden": ["leaky_relu(0.2)", "elu(0.5)"], "output": "identity", "loss": "sse"},
        {"layers": [2, 2, 2], "hidden": "softplus", "output": "identity", "loss": "quadratic", "reduction": "sum"},
        {"layers": [2, 3, 1], "hidden": "silu", "output": "identity", "loss": "mse", "l2": 0.01},
        {"layers": [2, 2, 2], "hidden": "sigmoid", "output": "identity", "loss": "mse", "reduction": "batchmean"},
    ],
)
def test_network_conversion_matches_the_mlp_engine(kwargs):
    net = Network(**kwargs)
    model, loss, l2 = net.to_sequential()
    rng = np.random.default_rng(7)
    X = rng.normal(size=(4, net.n_inputs))
    if net.loss_name == "cross_entropy":
        Y = rng.integers(0, net.n_outputs, size=4)
    elif net.loss_name == "bce":
        Y = rng.integers(0, 2, size=(4, net.n_outputs)).astype(float)
    else:
        Y = rng.normal(size=(4, net.n_outputs))
    values = {p: float(v) for p, v in zip(net.param_names, rng.normal(size=net.n_params))}
    expected = net.gradient(X, Y, values=values)
    Xa, Ya = as_data(net, X, Y)
    got = nn.network_gradient(net, nn.gradient(model, nn.network_state_dict(net, values), Xa, Ya, loss=loss, l2=l2))
    for p in net.param_names:
        assert got[p] == pytest.approx(float(expected[p]), rel=1e-10, abs=1e-12), p


# ----------------------------------------------------------------------------- arithmetics agree


def _all_layers_model():
    return Sequential(
        Linear(3, 4),
        LayerNorm(4),
        GELU(),
        Residual(Sequential(Linear(4, 4), BatchNorm1d(4), SiLU(), Linear(4, 4, bias=False))),
        LayerNorm(4, elementwise_affine=False),
        Tanh(),
        Linear(4, 3),
        Softplus(beta=2.0),
        Linear(3, 3),
        LeakyReLU(0.1),
        ELU(0.7),
        Sigmoid(),
        Identity(),
        GELU(approximate="tanh"),
        ReLU(),
        Linear(3, 2),
    )


def test_float_and_mp_gradients_agree_on_every_layer():
    model = _all_layers_model()
    rng = np.random.default_rng(3)
    values = nn.init_values(model, (3,), seed=1)
    values = {
        k: v + 0.1 * rng.normal(size=v.shape) if not k.endswith("num_batches_tracked") else v for k, v in values.items()
    }
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    g_float = nn.gradient(model, values, X, Y)
    g_mp = nn.gradient(model, values, X, Y, arith=MP(50))
    assert list(g_float) == list(nn.state_shapes(model, (3,))[0])
    for k in g_float:
        assert g_float[k].shape == g_mp[k].shape
        _close(g_float[k], g_mp[k], rtol=1e-10, atol=1e-12)


def test_symbolic_reverse_pass_equals_sympy_diff_of_the_closed_form():
    model = Sequential(Linear(2, 2), Tanh(), Residual(Sequential(Linear(2, 2), Sigmoid())), Linear(2, 1))
    X, Y = [[1, 2], [sp.Rational(1, 2), -1]], [[1], [0]]
    expr = nn.closed_form(model, X, Y, "mse")
    grads = nn.gradient(model, None, X, Y, loss="mse", arith=SYMBOLIC)
    syms = nn.parameter_symbols(model, (2,))
    flat = [s for a in syms.values() for s in a.flat]
    point = [(i % 7 - 3) / 5 for i in range(len(flat))]
    for name, arr in syms.items():
        for idx in np.ndindex(arr.shape):
            diff = sp.lambdify(flat, sp.diff(expr, arr[idx]) - grads[name][idx], "numpy")
            assert abs(diff(*point)) < 1e-10, (name, idx)


def test_parameter_symbols_are_named_like_the_state_dict():
    model = Sequential(Linear(2, 3), ReLU(), Residual(Sequential(Linear(3, 3))))
    syms = nn.parameter_symbols(model, (2,))
    assert list(syms) == ["0.weight", "0.bias", "2.block.0.weight", "2.block.0.bias"]
    assert syms["0.weight"].shape == (3, 2)
    assert syms["0.weight"][1, 0].name == "0.weight[1,0]"
    assert sp.latex(syms["0.weight"][1, 0]) == "W^{[0]}_{1 0}"


# ----------------------------------------------------------------------------- torch conventions


def test_state_dict_names_and_shapes_follow_torch():
    model = Sequential(
        Linear(2, 3),
        Sequential(Linear(3, 4), BatchNorm1d(4)),
        Residual(Sequential(Linear(4, 4))),
        LayerNorm(4, bias=False),
    )
    params, buffers = nn.state_shapes(model, (2,))
    assert params == {
        "0.weight": (3, 2),
        "0.bias": (3,),
        "1.0.weight": (4, 3),
        "1.0.bias": (4,),
        "1.1.weight": (4,),
        "1.1.bias": (4,),
        "2.block.0.weight": (4, 4),
        "2.block.0.bias": (4,),
        "3.weight": (4,),
    }
    assert buffers == {"1.1.running_mean": (4,), "1.1.running_var": (4,), "1.1.num_batches_tracked": ()}


def test_reprs_follow_torch():
    assert repr(Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"
    assert repr(LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(GELU(approximate="tanh")) == "GELU(approximate='tanh')"
    assert repr(LayerNorm(4)) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True)"
    assert repr(BatchNorm1d(4)) == "BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert repr(Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(Softmax()) == "Softmax(dim=-1)"


def test_containers_iterate_like_torch():
    model = Sequential(Linear(2, 3), ReLU(), Linear(3, 1))
    assert len(model) == 3
    assert [n for n, _ in model.named_children()] == ["0", "1", "2"]
    assert model[2] == Linear(3, 1)
    assert model[-1] is model.modules[-1]
    assert len(model[:2]) == 2


# ----------------------------------------------------------------------------- frozen data


def test_modules_are_frozen_and_hash_equal():
    a = Sequential(Linear(2, 3), ReLU(), Residual(Sequential(Linear(3, 3))))
    b = Sequential(Linear(2, 3), ReLU(), Residual(Sequential(Linear(3, 3))))
    assert a == b and hash(a) == hash(b)
    assert a != Sequential(Linear(2, 3), Tanh(), Residual(Sequential(Linear(3, 3))))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.extra = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        a[0].in_features = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.modules = ()
    assert {a: 1}[b] == 1


def test_train_and_eval_return_copies_in_the_other_mode():
    model = Sequential(Linear(2, 2), BatchNorm1d(2), Dropout(0.5))
    assert model.training and model[1].training
    ev = model.eval()
    assert not ev.training and not ev[1].training and not ev[2].training
    assert model.training  # unchanged
    assert ev.train() == model


# ----------------------------------------------------------------------------- errors


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        Linear(0, 2)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        GELU("erf")
    model = Sequential(Linear(2, 3))
    values = nn.init_values(model, (2,))
    with pytest.raises(ValueError, match='unknown state-dict name.*"?0.wieght'):
        nn.gradient(model, values | {"0.wieght": np.zeros((3, 2))}, np.zeros((1, 2)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="missing value.*0.bias"):
        nn.gradient(model, {"0.weight": values["0.weight"]}, np.zeros((1, 2)), np.zeros((1, 3)))
    with pytest.raises(nn.ShapeError, match="in_features=2"):
        nn.gradient(model, values, np.zeros((1, 5)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="needs a fixed mask"):
        nn.gradient(Sequential(Linear(2, 3), Dropout(0.2)), values, np.zeros((1, 2)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="unknown loss"):
        nn.gradient(model, values, np.zeros((1, 2)), np.zeros((1, 3)), loss="mse2")


# ----------------------------------------------------------------------------- prove


def test_prove_names_and_proves_every_kind_once():
    model = Sequential(
        Linear(5, 6),
        LayerNorm(6),
        ReLU(),
        Residual(Sequential(Linear(6, 6), BatchNorm1d(6), GELU("tanh"))),
        Residual(Sequential(Linear(6, 6), BatchNorm1d(6), GELU("tanh"))),
        Dropout(0.5, mask=np.ones((2, 6))),
        Linear(6, 4),
        Softmax(),
    )
    report = nn.prove(model, (5,), loss="cross_entropy")
    assert report.ok, str(report)
    kinds = [k.kind for k in report.kinds]
    assert kinds == [
        "Sequential",
        "Linear",
        "LayerNorm",
        "ReLU",
        "Residual",
        "BatchNorm1d",
        "GELU",
        "Dropout",
        "Softmax",
        "CrossEntropyLoss",
    ]
    assert all(k.checks > 0 for k in report.kinds)


@pytest.mark.parametrize(
    "kind",
    [
        Sigmoid(),
        Tanh(),
        Softplus(beta=2.0, threshold=1.0),
        ELU(0.5),
        SiLU(),
        GELU(),
        LeakyReLU(0.3),
        Identity(),
        LayerNorm(3, elementwise_affine=False),
        BatchNorm1d(3).eval(),
        Flatten(),
        Softmax(dim=0),
    ],
)
def test_prove_each_remaining_kind(kind):
    report = nn.prove(Sequential(kind), (3,))
    assert report.ok, str(report)


@pytest.mark.parametrize(
    "loss", ["mse", "sse", "quadratic", "l1", "bce", "bce_with_logits", "nll", nn.MSELoss("batchmean")]
)
def test_prove_losses(loss):
    report = nn.prove(Sequential(Linear(2, 3)), loss=loss)
    assert report.ok, str(report)


@dataclasses.dataclass(frozen=True, repr=False)
class WrongTanh(Tanh):
    """A planted mistake: tanh' written as 1 - y instead of 1 - y^2."""

    def forward(self, ar, x, params, buffers):
        y = ar.tanh(x)
        return y, lambda dy, need_dx=True: (dy * (ar.const(1) - y), {})


@dataclasses.dataclass(frozen=True, repr=False)
class WrongLayerNorm(LayerNorm):
    """A planted mistake: the mean(g x_hat) term of the LayerNorm delta forgotten."""

    def forward(self, ar, x, params, buffers):
        y, back = super().forward(ar, x, params, buffers)

        def wrong(dy, need_dx=True):
            dx, grads = back(dy)
            xc = x - ar.mean(x, axis=-1, keepdims=True)
            return dx + xc * ar.mean(dy * xc, axis=-1, keepdims=True), grads

        return y, wrong


def test_prove_disproves_a_planted_wrong_rule_and_names_its_kind():
    model = Sequential(Linear(2, 3), WrongTanh(), Linear(3, 3), WrongLayerNorm(3), ReLU(), Linear(3, 1))
    report = nn.prove(model, (2,))
    assert not report.ok
    assert {k.kind for k in report.failures} == {"WrongTanh", "WrongLayerNorm"}
    assert "WrongTanh" in report.blame() and "dx[" in report.blame()
    assert all(k.holds for k in report.kinds if k.kind in ("Linear", "ReLU", "Sequential"))


def test_ties_are_refused_clearly():
    from symprop.errors import UnsupportedError

    net = Network([1, 2, 1], tie={"bh": ["b1_1", "b1_2"]})
    with pytest.raises(UnsupportedError, match="tie"):
        net.to_sequential()
    model = Sequential(Linear(1, 1))
    with pytest.raises(UnsupportedError, match="tie"):
        nn.gradient(model, nn.init_values(model, (1,)), np.zeros((1, 1)), np.zeros((1, 1)), tie={"a": ["b"]})


def test_dropout_masks_are_frozen_data():
    a = Dropout(0.5, mask=np.array([[1, 0], [0, 1]]))
    b = Dropout(0.5, mask=[[1, 0], [0, 1]])
    assert a == b and hash(a) == hash(b)
    assert a != Dropout(0.5, mask=[[1, 1], [0, 1]])
    with pytest.raises(ValueError, match="0 or 1"):
        Dropout(0.5, mask=[[0.5, 1]])


def test_the_docs_page_example_runs(capsys):
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "nn.md").read_text(encoding="utf-8")
    for block in re.findall(r"```python\n(.*?)```", page, re.DOTALL):
        exec(compile(block, "docs/nn.md", "exec"), {})  # noqa: S102 - the page is ours
    assert "layer kinds proved" in capsys.readouterr().out


def test_target_shapes_are_checked_not_reshaped():
    model = Sequential(Linear(1, 2))
    values = nn.init_values(model, (1,))
    with pytest.raises(nn.ShapeError, match=r"target has shape \(1, 4\)"):
        nn.gradient(model, values, np.ones((2, 1)), np.ones((1, 4)))
    one = Sequential(Linear(1, 1))
    v1 = nn.init_values(one, (1,))
    a = nn.gradient(one, v1, np.ones((3, 1)), np.arange(3.0))
    b = nn.gradient(one, v1, np.ones((3, 1)), np.arange(3.0)[:, None])
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_mp_reads_exact_numbers_at_its_precision():
    ar = MP(40)
    third = ar.asarray(np.array([sp.Rational(1, 3)], dtype=object))[0]
    assert abs(third * 3 - 1) < 1e-38
    assert abs(ar.const(0.1) * 10 - 1) < 1e-38  # 0.1 read decimal-faithfully as 1/10
    assert ar.asarray(np.array([0.1]))[0] == ar.ctx.mpf(0.1)  # a float array: the double's exact value
