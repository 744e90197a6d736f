"""symprop.from_torch / verify_torch: PyTorch's own backward() checked against the exact gradient."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is optional (pip install symprop[torch])")
nn = torch.nn

import symprop  # noqa: E402
from symprop.errors import UnsupportedError  # noqa: E402


def mlp(dtype, last=None, widths=(3, 5, 4, 2), act=nn.Tanh):
    torch.manual_seed(7)
    mods = []
    for i in range(len(widths) - 1):
        mods.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            mods.append(act() if not isinstance(act, tuple) else act[i % len(act)]())
    if last is not None:
        mods.append(last)
    return nn.Sequential(*mods).to(dtype)


def data(dtype, n=7, n_in=3, n_out=2, kind="real"):
    g = torch.Generator().manual_seed(3)
    X = torch.randn(n, n_in, generator=g, dtype=dtype)
    if kind == "labels":
        return X, torch.randint(0, n_out, (n,), generator=g)
    if kind == "probs":
        return X, torch.softmax(torch.randn(n, n_out, generator=g, dtype=dtype), dim=1)
    if kind == "unit":
        return X, torch.rand(n, n_out, generator=g, dtype=dtype)
    return X, torch.randn(n, n_out, generator=g, dtype=dtype)


CASES = [
    ("mse mean", None, lambda: nn.MSELoss(), "real"),
    ("mse sum", None, lambda: nn.MSELoss(reduction="sum"), "real"),
    ("bce with logits", None, lambda: nn.BCEWithLogitsLoss(), "unit"),
    ("bce with logits sum", None, lambda: nn.BCEWithLogitsLoss(reduction="sum"), "unit"),
    ("bce after sigmoid", nn.Sigmoid(), lambda: nn.BCELoss(), "unit"),
    ("cross entropy labels", None, lambda: nn.CrossEntropyLoss(), "labels"),
    ("cross entropy probabilities", None, lambda: nn.CrossEntropyLoss(), "probs"),
    ("cross entropy sum", None, lambda: nn.CrossEntropyLoss(reduction="sum"), "labels"),
    ("symprop name sse", None, lambda: "sse", "real"),
    ("symprop quadratic with softmax", nn.Softmax(dim=-1), lambda: "quadratic", "real"),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name, last, loss, kind", CASES, ids=[c[0] for c in CASES])
def test_real_sequential_models_pass(dtype, name, last, loss, kind):
    acts = (nn.Tanh, lambda: nn.LeakyReLU(0.2)) if "sum" in name else (nn.Softplus, nn.Sigmoid)
    model = mlp(dtype, last, act=acts)
    X, Y = data(dtype, kind=kind)
    report = symprop.verify_torch(model, X, Y, loss=loss())
    assert report.ok, report.failure_message()
    assert report.dtype == ("float32" if dtype == torch.float32 else "float64")
    assert report.diagnoses == []


def test_rows_are_named_as_the_state_dict_with_an_index_and_hold_the_torch_gradient():
    model = mlp(torch.float64, act=nn.ReLU)
    X, Y = data(torch.float64)
    report = symprop.verify_torch(model, X, Y, loss=nn.MSELoss())
    names = [r.name for r in report.rows]
    assert (
        "0.weight[1,2]" in names and "4.bias[1]" in names and len(names) == sum(p.numel() for p in model.parameters())
    )
    assert report["0.weight[1,2]"].actual == float(model[0].weight.grad[1, 2])
    # independent oracle: torch.autograd.grad of the same loss in float64
    model.zero_grad()
    loss = nn.MSELoss()(model(X), Y)
    (g,) = torch.autograd.grad(loss, [model[2].bias])
    assert report["2.bias[3]"].expected == pytest.approx(float(g[3]), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("layer", [0, 2, 4])
def test_a_hook_scaling_one_layer_by_1e6_is_caught_and_only_that_layer_blamed(layer):
    model = mlp(torch.float64, act=nn.Tanh)
    X, Y = data(torch.float64)
    handle = model[layer].weight.register_hook(lambda g: g * (1 + 1e-6))
    try:
        report = symprop.verify_torch(model, X, Y, loss=nn.MSELoss())
    finally:
        handle.remove()
    assert not report
    failing = {r.name.split(".")[0] for r in report.failures}
    assert failing == {str(layer)}
    assert all(r.name.startswith(f"{layer}.weight") for r in report.failures)
    first = report.diagnoses[0]
    assert first.id == "layer" and first.layer == [0, 2, 4].index(layer) + 1
    assert f"module '{layer}'" in first.message and "1.000001" in first.message
    message = report.failure_message()
    assert f"layer {first.layer} (module '{layer}')" in message and "worst: " + report.failures[0].name in message


def test_float32_model_gets_float32_tolerances_and_still_catches_1e3():
    model = mlp(torch.float32, act=nn.Sigmoid)
    X, Y = data(torch.float32)
    assert symprop.verify_torch(model, X, Y, loss=nn.MSELoss()).ok
    handle = model[2].bias.register_hook(lambda g: g * (1 + 1e-3))
    try:
        report = symprop.verify_torch(model, X, Y, loss=nn.MSELoss())
    finally:
        handle.remove()
    assert {r.name for r in report.failures} == {f"2.bias[{j}]" for j in range(4)}


def test_from_torch_gives_the_network_and_values():
    model = nn.Sequential(
        nn.Linear(2, 3), nn.LeakyReLU(0.25), nn.Linear(3, 3), nn.ELU(0.5), nn.Linear(3, 1), nn.Sigmoid()
    )
    net, (W, b) = symprop.from_torch(model, loss=nn.BCELoss())
    assert net.layers == (2, 3, 3, 1) and [str(a) for a in net.hidden] == ["leaky_relu(0.25)", "elu(0.5)"]
    assert str(net.output) == "sigmoid" and net.loss_name == "bce"
    assert np.array_equal(W[1], model[2].weight.detach().double().numpy()) and b[2].shape == (1,)
    logits, _ = symprop.from_torch(nn.Sequential(nn.Linear(2, 4)), loss=nn.CrossEntropyLoss(reduction="sum"))
    assert str(logits.output) == "softmax" and logits.loss_name == "cross_entropy" and logits.reduction == "sum"


def test_unsupported_modules_and_losses_say_what_is_supported():
    # GELU, Linear(bias=False), L1Loss and Softmax before CrossEntropyLoss (what torch computes) are symprop.nn
    # models now (issue 14): from_torch gives (ModelLoss, state dict) for them, see tests/test_nn_integration.py
    with pytest.raises(UnsupportedError, match=r"module '1': Conv1d is not supported; supported modules: Linear, ReLU"):
        symprop.from_torch(nn.Sequential(nn.Linear(2, 2), nn.Conv1d(1, 1, 1), nn.Linear(2, 1)))
    with pytest.raises(UnsupportedError, match="CrossEntropyLoss takes logits"):
        symprop.from_torch(nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=1)), loss=nn.CrossEntropyLoss(), nn=False)
    with pytest.raises(UnsupportedError, match="bias=False"):
        symprop.from_torch(nn.Sequential(nn.Linear(2, 2, bias=False)), nn=False)
    with pytest.raises(UnsupportedError, match="reduction='none'"):
        symprop.from_torch(nn.Sequential(nn.Linear(2, 2)), loss=nn.MSELoss(reduction="none"))
    with pytest.raises(UnsupportedError, match="L1Loss is not supported"):
        symprop.from_torch(nn.Sequential(nn.Linear(2, 2)), loss=nn.L1Loss(), nn=False)
    for module, loss in (
        (nn.Sequential(nn.Linear(2, 2), nn.GELU(), nn.Linear(2, 1)), nn.MSELoss()),
        (nn.Sequential(nn.Linear(2, 2, bias=False)), nn.L1Loss()),
    ):
        (model, ours, _), values = symprop.from_torch(module, loss=loss)
        assert list(values) == list(module.state_dict()) and type(ours).__name__ == type(loss).__name__


class FusedTanh(nn.Module):
    """tanh written as 2 sigmoid(2x) - 1, with its own backward."""

    class _F(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = 2 * torch.sigmoid(2 * x) - 1
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * (1 - y * y)

    def forward(self, x):
        return self._F.apply(x)


class SloppyTanh(FusedTanh):
    """The same forward, a backward that forgets the square: 1 - y."""

    class _F(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = 2 * torch.sigmoid(2 * x) - 1
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * (1 - y)


def test_declared_equivalents_forward_compared_then_backward_checked():
    X, Y = data(torch.float64)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), FusedTanh(), nn.Linear(4, 2)).double()
    with pytest.raises(UnsupportedError, match="FusedTanh is not supported"):
        symprop.verify_torch(model, X, Y, loss=nn.MSELoss())
    assert symprop.verify_torch(model, X, Y, loss=nn.MSELoss(), equivalents={FusedTanh: "tanh"}).ok
    with pytest.raises(ValueError, match=r"declared equal to sigmoid but its forward differs at z = "):
        symprop.verify_torch(model, X, Y, loss=nn.MSELoss(), equivalents={FusedTanh: "sigmoid"})
    sloppy = nn.Sequential(nn.Linear(3, 4), SloppyTanh(), nn.Linear(4, 2)).double()
    sloppy.load_state_dict(model.state_dict())
    report = symprop.verify_torch(sloppy, X, Y, loss=nn.MSELoss(), equivalents={SloppyTanh: "tanh"})
    assert not report and {r.name.split(".")[0] for r in report.failures} == {"0"}


def test_nested_sequentials_are_named_as_the_state_dict():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.Tanh()), nn.Linear(4, 2)).double()
    X, Y = data(torch.float64)
    report = symprop.verify_torch(model, X, Y, loss=nn.MSELoss())
    assert report.ok and "0.0.weight[3,2]" in [r.name for r in report.rows]
    assert set(model.state_dict()) == {"0.0.weight", "0.0.bias", "1.weight", "1.bias"}


def test_a_shared_parameter_is_a_tied_one_and_l2_is_added_to_the_loss():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    model[2].bias = model[0].bias  # one bias vector used by two layers
    X, Y = data(torch.float64)
    report = symprop.verify_torch(model, X, Y, loss=nn.MSELoss(), l2=0.01)
    assert report.ok, report.failure_message()
    names = [r.name for r in report.rows]
    assert "0.bias[2]" in names and not any(n.startswith("2.bias") for n in names)
    assert len(names) == sum(p.numel() for p in model.parameters())  # named_parameters() counts it once
    # independent oracle: torch.autograd.grad of the same loss, written out here
    loss = nn.MSELoss()(model(X), Y) + 0.01 * sum((m.weight**2).sum() for m in (model[0], model[2], model[4]))
    (g,) = torch.autograd.grad(loss, [model[0].bias])
    assert report["0.bias[2]"].expected == pytest.approx(float(g[2]), rel=1e-12)
    net, _ = symprop.from_torch(model, loss=nn.MSELoss(), l2=0.01)
    assert net.tie and float(net.l2) == 0.01 and net.n_params == len(names)
