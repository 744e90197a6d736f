"""symprop.nn models through symprop's entry points: verify / assert_gradients_match, from_torch / verify_torch.

The oracle of every "passes" test is PyTorch float64 autograd on torch's own modules (the candidate is torch's
.grad); a "catches" test corrupts ONE layer's gradient by 1e-6 and the report must blame that layer only.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
T = torch.nn

import symprop
from symprop import nn
from symprop.errors import UnsupportedError
from symprop.nn_verify import ModelGradientReport

D = torch.float64


class Residual(T.Module):
    """symprop's Residual in torch: y = x + block(x) (torch has no such module)."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return x + self.block(x)


class _Wrong(Residual):
    def forward(self, x):
        return 2 * x + self.block(x)


NotResidual = type("Residual", (_Wrong,), {})  # named as symprop reads it, but computing 2x + block(x)


def data_array(n_in, n=6, seed=0, n_out=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, *n_in if isinstance(n_in, tuple) else (n_in,), dtype=D, generator=g)
    return X, torch.randn(n, n_out, dtype=D, generator=g)


def torch_models():
    """(name, torch module, loss, input shape, target kind): every module symprop.nn supports."""
    torch.manual_seed(0)
    bn_eval = T.Sequential(T.Linear(3, 4), T.BatchNorm1d(4), T.Tanh(), T.Linear(4, 2)).double()
    with torch.no_grad():
        bn_eval[1].running_mean.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        bn_eval[1].running_var.copy_(torch.tensor([0.5, 2.0, 1.5, 1.0]))
    bn_eval.eval()
    drop_eval = T.Sequential(T.Linear(3, 5), T.Dropout(0.4), T.SiLU(), T.Linear(5, 2)).double().eval()
    return [
        (
            "layernorm_gelu",
            T.Sequential(T.Linear(3, 4), T.LayerNorm(4), T.GELU(), T.Linear(4, 2)).double(),
            T.MSELoss(),
            3,
            2,
        ),
        (
            "batchnorm_train_gelu_tanh",
            T.Sequential(T.Linear(3, 4), T.BatchNorm1d(4), T.GELU(approximate="tanh"), T.Linear(4, 3)).double(),
            T.CrossEntropyLoss(),
            3,
            "labels3",
        ),
        ("batchnorm_eval", bn_eval, T.MSELoss(reduction="sum"), 3, 2),
        ("dropout_eval", drop_eval, T.L1Loss(), 3, 2),
        (
            "residual_nested",
            T.Sequential(
                T.Linear(3, 4),
                Residual(T.Sequential(T.LayerNorm(4, elementwise_affine=False), T.Linear(4, 4), T.ELU(0.7))),
                T.Sequential(T.Linear(4, 3), T.Softplus()),
                T.Linear(3, 2, bias=False),
            ).double(),
            T.MSELoss(),
            3,
            2,
        ),
        (
            "flatten_softmax",
            T.Sequential(T.Flatten(), T.Linear(6, 3), T.LeakyReLU(0.1), T.Linear(3, 3), T.Softmax(dim=-1)).double(),
            T.MSELoss(),
            (2, 3),
            3,
        ),
        (
            "sigmoid_bce",
            T.Sequential(T.Linear(3, 3), T.ReLU(), T.Identity(), T.Linear(3, 1), T.Sigmoid()).double(),
            T.BCELoss(),
            3,
            "binary",
        ),
        (
            "logits_bce",
            T.Sequential(T.Linear(3, 3), T.LayerNorm(3, bias=False), T.Linear(3, 2)).double(),
            T.BCEWithLogitsLoss(reduction="sum"),
            3,
            "binary2",
        ),
    ]


def _targets(kind, n=6):
    g = torch.Generator().manual_seed(7)
    if kind == "labels3":
        return torch.randint(0, 3, (n,), generator=g)
    if kind == "binary":
        return torch.rand(n, 1, dtype=D, generator=g)
    if kind == "binary2":
        return (torch.rand(n, 2, dtype=D, generator=g) > 0.5).double()
    return torch.randn(n, kind, dtype=D, generator=g)


MODELS = {name: rest for name, *rest in torch_models()}


def _case(name):
    module, loss, n_in, kind = torch_models()[list(MODELS).index(name)][1:]
    X, _ = data_array(n_in)
    return module, loss, X, _targets(kind)


def torch_grad(module, loss, X, Y):
    for p in module.parameters():
        p.grad = None
    loss(module(X), Y).backward()
    return {k: p.grad.detach().numpy().copy() for k, p in module.named_parameters()}


# --------------------------------------------------------------------------- verify for nn models


@pytest.mark.parametrize("name", list(MODELS))
def test_verify_torch_passes_every_supported_module(name):
    module, loss, X, Y = _case(name)
    report = symprop.verify_torch(module, X, Y, loss=loss, nn=True)
    assert isinstance(report, ModelGradientReport)
    assert report.ok, report.failure_message()
    assert {r.name.partition("[")[0] for r in report.rows} == {k for k, _ in module.named_parameters()}
    assert report.oracle.startswith("symprop.nn reverse pass in MP")


@pytest.mark.parametrize("name", list(MODELS))
def test_verify_torch_blames_the_one_corrupted_layer(name):
    module, loss, X, Y = _case(name)
    for target, param in module.named_parameters():
        hook = param.register_hook(lambda g: g + 1e-6)
        try:
            report = symprop.verify_torch(module, X, Y, loss=loss, nn=True)
        finally:
            hook.remove()
        prefix = target.rpartition(".")[0]
        assert not report.ok, target
        assert report.blamed() == [prefix], (target, report.layer_summary())
        bad = {r.name.partition("[")[0] for r in report.failures}
        assert bad == {target}, target
        assert f"wrong gradient in module {prefix!r}" in report.failure_message()


def test_verify_nn_model_with_torch_gradient_as_dict_list_and_either_argument_order():
    module, loss, X, Y = _case("residual_nested")
    (model, ours, _), values = symprop.from_torch(module, loss)
    grads = torch_grad(module, loss, X, Y)
    assert symprop.verify(grads, model, values, X.numpy(), Y.numpy(), loss=ours)
    assert symprop.verify(list(grads.values()), model, values, X.numpy(), Y.numpy(), loss="mse")
    assert symprop.verify(model, values, X.numpy(), Y.numpy(), grads, loss=ours)
    assert symprop.assert_gradients_match(grads, model, values, X, Y, loss=ours)
    bad = dict(grads, **{"2.0.bias": grads["2.0.bias"] + np.array([0, 1e-6, 0])})
    with pytest.raises(AssertionError, match=r"wrong gradient in module '2\.0' \(Linear\); every other layer matches"):
        symprop.assert_gradients_match(bad, model, values, X, Y, loss=ours)
    report = symprop.verify(bad, model, values, X, Y, loss=ours)
    assert [r.name for r in report.failures] == ["2.0.bias[1]"]
    assert "module '2.0' (Linear): 1 / 15 wrong (weight 0/12, bias 1/3)" in report.layer_summary()


def test_callable_candidate_gets_the_state_dict_and_float32_gets_float32_tolerances():
    module, loss, X, Y = _case("layernorm_gelu")
    (model, ours, _), values = symprop.from_torch(module, loss)

    def backprop(vals, X_, Y_):
        m = T.Sequential(T.Linear(3, 4), T.LayerNorm(4), T.GELU(), T.Linear(4, 2)).to(torch.as_tensor(X_).dtype)
        m.load_state_dict({k: torch.as_tensor(v) for k, v in vals.items()})
        T.MSELoss()(m(torch.as_tensor(X_)), torch.as_tensor(Y_)).backward()
        return {k: p.grad.numpy() for k, p in m.named_parameters()}

    assert symprop.verify(backprop, model, values, X, Y, loss=ours)
    report = symprop.verify(backprop, model, values, X, Y, loss=ours, dtype="float32")
    assert report.ok and report.dtype == "float32" and report.cond == 32.0


def test_candidate_mistakes_are_one_line_problems():
    module, loss, X, Y = _case("layernorm_gelu")
    (model, ours, _), values = symprop.from_torch(module, loss)
    grads = torch_grad(module, loss, X, Y)
    report = symprop.verify({**grads, "1.wieght": grads["1.weight"]}, model, values, X, Y, loss=ours)
    assert not report.ok and any('Did you mean "1.weight"' in p for p in report.problems)
    report = symprop.verify({**grads, "0.weight": grads["0.weight"].T}, model, values, X, Y, loss=ours)
    assert any("'0.weight' has shape (3, 4), expected (4, 3) (transposed?)" in p for p in report.problems)
    assert all(r.status == "missing" for r in report.rows if r.name.startswith("0.weight"))
    report = symprop.verify(list(grads.values())[:-1], model, values, X, Y, loss=ours)
    assert any("got 5 gradient arrays, expected 6" in p for p in report.problems)

    def crashes(vals, X_, Y_):
        raise RuntimeError("boom")

    report = symprop.verify(crashes, model, values, X, Y, loss=ours)
    assert not report.ok and "RuntimeError: boom" in report.crash
    with pytest.raises(TypeError, match="loss= and l2= are for symprop.nn models"):
        net = symprop.Network([1, 1])
        symprop.verify({}, net, {"w1": 1.0, "b1": 0.0}, [[1.0]], [[1.0]], loss="mse")


def test_float64_oracle_above_the_budget_is_noted(monkeypatch):
    import symprop.nn_verify as nv

    module, loss, X, Y = _case("batchnorm_train_gelu_tanh")
    (model, ours, _), values = symprop.from_torch(module, loss)
    grads = torch_grad(module, loss, X, Y)
    monkeypatch.setattr(nv, "EXACT_BUDGET", 10)
    report = symprop.verify(grads, model, values, X, Y, loss=ours)
    assert report.ok and report.oracle == nv.FLOAT_ORACLE
    assert any("above the multi-precision oracle's budget" in n for n in report.notes)
    assert symprop.verify(grads, model, values, X, Y, loss=ours, oracle="exact").oracle == nv.MP_ORACLE


def test_l2_penalty_matches_torch():
    module, loss, X, Y = _case("layernorm_gelu")
    (model, ours, _), values = symprop.from_torch(module, loss)
    for p in module.parameters():
        p.grad = None
    lam = 0.05
    (loss(module(X), Y) + lam * sum((module[i].weight ** 2).sum() for i in (0, 3))).backward()
    grads = {k: p.grad.numpy() for k, p in module.named_parameters()}
    assert symprop.verify(grads, model, values, X, Y, loss=ours, l2=lam)
    assert not symprop.verify(grads, model, values, X, Y, loss=ours)
    assert symprop.verify_torch(module, X, Y, loss, l2=lam)


# --------------------------------------------------------------------------- from_torch / verify_torch


def test_from_torch_maps_modules_arguments_modes_and_state_dict():
    module, loss, X, _Y = _case("residual_nested")
    (model, ours, l2), values = symprop.from_torch(module, loss)
    assert repr(model[1]).startswith("Residual(") and model[1].block[0] == nn.LayerNorm(4, elementwise_affine=False)
    assert model[1].block[2] == nn.ELU(0.7) and model[3] == nn.Linear(3, 2, bias=False)
    assert list(values) == list(module.state_dict()) and ours == nn.MSELoss() and l2 == 0
    want = module(X).detach().numpy()
    np.testing.assert_allclose(nn.forward(model, values, X.numpy()), want, rtol=1e-13, atol=1e-14)
    bn, *_ = _case("batchnorm_eval")
    (m2, _, _), v2 = symprop.from_torch(bn, T.MSELoss())
    assert not m2[1].training and np.array_equal(v2["1.running_var"], [0.5, 2.0, 1.5, 1.0])
    # plain Linear + activation stacks keep the Network path; nn=True forces the model path
    mlp = T.Sequential(T.Linear(2, 3), T.Tanh(), T.Linear(3, 1)).double()
    assert isinstance(symprop.from_torch(mlp)[0], symprop.Network)
    (m3, _, _), _ = symprop.from_torch(mlp, nn=True)
    assert m3 == nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))


def test_verify_torch_training_batchnorm_leaves_running_stats_and_reads_dropout_masks():
    torch.manual_seed(3)
    module = T.Sequential(T.Linear(3, 5), T.BatchNorm1d(5), T.ReLU(), T.Dropout(0.3), T.Linear(5, 2)).double()
    X, Y = data_array(3, n=8, n_out=2)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    report = symprop.verify_torch(module, X, Y, T.MSELoss())
    assert report.ok, report.failure_message()
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    module[4].weight.register_hook(lambda g: g + 1e-6)
    assert symprop.verify_torch(module, X, Y, T.MSELoss()).blamed() == ["4"]


def test_float32_torch_model_passes_with_float32_tolerances():
    torch.manual_seed(1)
    module = T.Sequential(T.Linear(3, 4), T.LayerNorm(4), T.GELU(), T.Linear(4, 2))
    X, Y = data_array(3, n_out=2)
    report = symprop.verify_torch(module, X.float(), Y.float(), T.MSELoss())
    assert report.ok and report.dtype == "float32", report.failure_message()


def test_verify_torch_refuses_what_it_cannot_read():
    X, Y = data_array(3, n_out=3)
    fake = T.Sequential(T.Linear(3, 3), NotResidual(T.Sequential(T.Linear(3, 3)))).double()
    with pytest.raises(ValueError, match="forward differs from symprop's reading"):
        symprop.verify_torch(fake, X, Y, T.MSELoss())
    with pytest.raises(UnsupportedError, match=r"module '1': Conv1d is not supported.*Linear, ReLU"):
        symprop.verify_torch(T.Sequential(T.Linear(3, 3), T.Conv1d(1, 1, 1)).double(), X, Y, T.MSELoss())
    with pytest.raises(UnsupportedError, match="HuberLoss is not supported"):
        symprop.verify_torch(T.Sequential(T.Linear(3, 3), T.GELU()).double(), X, Y, T.HuberLoss())
    with pytest.raises(UnsupportedError, match="label_smoothing"):
        symprop.verify_torch(
            T.Sequential(T.Linear(3, 3), T.GELU()).double(),
            X,
            torch.tensor([0, 1, 2, 0, 1, 2]),
            T.CrossEntropyLoss(label_smoothing=0.1),
        )
    with pytest.raises(UnsupportedError, match="Dropout.*training mode.*eval"):
        symprop.from_torch(T.Sequential(T.Linear(3, 3), T.Dropout(0.5)))
