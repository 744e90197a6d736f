"""symprop.nn against PyTorch float64 autograd: the same model, the same state dict, the same gradient.

The torch models are built here with torch.nn's own modules (Residual, which torch lacks, is the only
hand-written one: forward x + block(x)); Dropout is torch's own, its random mask reproduced by seeding;
torch's autograd computes the oracle gradient.  FLOAT, MP(50) and SYMBOLIC (exact numbers, then
evaluated) must all agree with it.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

torch = pytest.importorskip("torch")

from symprop import nn
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

DTYPE = torch.float64


class TorchResidual(torch.nn.Module):
    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return x + self.block(x)


def to_torch(m):
    """The torch.nn module with the same constructor arguments and mode (walks by class name)."""
    tm = _to_torch(m)
    tm.training = m.training  # this module only: torch's train() would recurse into the children
    return tm


def _to_torch(m):
    T = torch.nn
    kind = type(m).__name__
    if kind == "Sequential":
        return T.Sequential(*(to_torch(c) for c in m))
    if kind == "Residual":
        return TorchResidual(to_torch(m.block))
    if kind == "Linear":
        return T.Linear(m.in_features, m.out_features, bias=m.bias, dtype=DTYPE)
    if kind == "LayerNorm":
        return T.LayerNorm(
            m.normalized_shape, eps=m.eps, elementwise_affine=m.elementwise_affine, bias=m.bias, dtype=DTYPE
        )
    if kind == "BatchNorm1d":
        return T.BatchNorm1d(
            m.num_features,
            eps=m.eps,
            momentum=m.momentum,
            affine=m.affine,
            track_running_stats=m.track_running_stats,
            dtype=DTYPE,
        )
    if kind == "Dropout":
        return T.Dropout(m.p)
    if kind == "LeakyReLU":
        return T.LeakyReLU(m.negative_slope)
    if kind == "ELU":
        return T.ELU(m.alpha)
    if kind == "Softplus":
        return T.Softplus(m.beta, m.threshold)
    if kind == "GELU":
        return T.GELU(approximate=m.approximate)
    if kind == "Softmax":
        return T.Softmax(dim=m.dim)
    if kind == "Flatten":
        return T.Flatten(m.start_dim, m.end_dim)
    return getattr(T, kind)()


def torch_gradient(model, values, X, Y, loss_fn, seed=None):
    tm = to_torch(model)
    state = {k: torch.tensor(v) for k, v in values.items()}
    for k, v in tm.state_dict().items():
        if k.endswith("num_batches_tracked"):
            state[k] = v
    tm.load_state_dict(state)
    if seed is not None:
        torch.manual_seed(seed)
    out = tm(torch.tensor(X, dtype=DTYPE))
    value = loss_fn(out, torch.as_tensor(Y))
    value.backward()
    return float(value.detach()), {k: p.grad.numpy() for k, p in tm.named_parameters()}


def torch_dropout_mask(shape, p, seed):
    """The mask torch's Dropout draws first after torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    return (torch.nn.functional.dropout(torch.ones(shape, dtype=DTYPE), p, training=True) != 0).numpy()


def random_values(model, in_shape, seed):
    rng = np.random.default_rng(seed)
    values = nn.init_values(model, in_shape, seed=seed)
    out = {}
    for k, v in values.items():
        if k.endswith("num_batches_tracked"):
            continue
        if k.endswith("running_var"):
            out[k] = rng.uniform(0.5, 2.0, size=v.shape)
        elif k.endswith("running_mean"):
            out[k] = rng.normal(size=v.shape)
        else:
            out[k] = v + 0.3 * rng.normal(size=v.shape)
    return out


def check(model, X, Y, loss, torch_loss, *, ariths=None, seed=None, rtol=1e-10, atol=1e-12, vseed=0):
    values = random_values(model, X.shape[1:], vseed)
    t_value, t_grad = torch_gradient(model, values, X, Y, torch_loss, seed=seed)
    for ar in ariths or (FLOAT, MP(50)):
        value, grad = nn.value_and_gradient(model, values, X, Y, loss=loss, arith=ar)
        if ar is SYMBOLIC:
            value = sp.N(value, 20)
            grad = {k: np.array([sp.N(e, 20) for e in g.flat], dtype=object).reshape(g.shape) for k, g in grad.items()}
        assert float(value) == pytest.approx(t_value, rel=rtol, abs=atol), ar
        assert set(grad) == set(t_grad), ar
        for k in t_grad:
            np.testing.assert_allclose(
                np.asarray(grad[k], dtype=float), t_grad[k], rtol=rtol, atol=atol, err_msg=f"{ar} {k}"
            )


def data_array(n, d, out, seed=0):
    rng = np.random.default_rng(seed + 100)
    return rng.normal(size=(n, d)), rng.normal(size=(n, out))


MSE = torch.nn.MSELoss()

# ----------------------------------------------------------------------------- every layer kind

KINDS = [
    pytest.param(ReLU(), id="ReLU"),
    pytest.param(LeakyReLU(0.2), id="LeakyReLU"),
    pytest.param(Sigmoid(), id="Sigmoid"),
    pytest.param(Tanh(), id="Tanh"),
    pytest.param(Softplus(), id="Softplus"),
    pytest.param(Softplus(beta=2.0, threshold=1.0), id="Softplus-threshold"),
    pytest.param(ELU(0.5), id="ELU"),
    pytest.param(SiLU(), id="SiLU"),
    pytest.param(GELU(), id="GELU"),
    pytest.param(GELU(approximate="tanh"), id="GELU-tanh"),
    pytest.param(Identity(), id="Identity"),
    pytest.param(Softmax(dim=-1), id="Softmax"),
    pytest.param(Softmax(dim=0), id="Softmax-dim0"),
    pytest.param(LayerNorm(4), id="LayerNorm"),
    pytest.param(LayerNorm(4, elementwise_affine=False), id="LayerNorm-noaffine"),
    pytest.param(LayerNorm(4, bias=False), id="LayerNorm-nobias"),
    pytest.param(BatchNorm1d(4), id="BatchNorm1d-train"),
    pytest.param(BatchNorm1d(4).eval(), id="BatchNorm1d-eval"),
    pytest.param(BatchNorm1d(4, affine=False, track_running_stats=False).eval(), id="BatchNorm1d-nostats"),
    pytest.param(Dropout(0.5).eval(), id="Dropout-eval"),
    pytest.param(Linear(4, 4, bias=False), id="Linear-nobias"),
    pytest.param(Residual(Sequential(Linear(4, 4), Tanh())), id="Residual"),
    pytest.param(Flatten(), id="Flatten"),
]


@pytest.mark.parametrize("layer", KINDS)
def test_each_layer_kind_matches_torch_on_every_arithmetic(layer):
    model = Sequential(Linear(3, 4), layer, Linear(4, 2))
    X, Y = data_array(3, 3, 2)
    check(model, X, Y, "mse", MSE)
    # SYMBOLIC (exact numbers in SymPy, then evaluated) on a smaller batch: the expressions grow fast
    model = Sequential(Linear(2, 4), layer, Linear(4, 1))
    X, Y = data_array(2, 2, 1)
    check(model, X, Y, "mse", MSE, ariths=(SYMBOLIC,))


def test_dropout_in_training_mode_with_torchs_own_mask():
    seed, p = 1234, 0.4
    mask = torch_dropout_mask((5, 4), p, seed)
    assert 0 < mask.sum() < mask.size  # the test means something
    model = Sequential(Linear(3, 4), Dropout(p, mask=mask), Tanh(), Linear(4, 2))
    X, Y = data_array(5, 3, 2)
    check(model, X, Y, "mse", MSE, seed=seed, ariths=(FLOAT, MP(50), SYMBOLIC))


def test_kinks_follow_torch_at_exact_zeros():
    # inputs and weights chosen so that the pre-activations are exactly 0 for some entries
    model = Sequential(Linear(2, 3), ReLU(), Linear(3, 3), LeakyReLU(0.1), Linear(3, 3), ELU(0.5), Linear(3, 1))
    X = np.array([[0.0, 0.0], [1.0, -1.0], [2.0, 0.5]])
    Y = np.array([[0.5], [-0.5], [1.0]])
    values = random_values(model, (2,), 3)
    values["0.bias"] = np.array([0.0, 0.0, 0.0])
    values["0.weight"] = np.array([[1.0, 1.0], [0.5, -1.0], [1.0, 2.0]])
    _, t_grad = torch_gradient(model, values, X, Y, MSE)
    for ar in (FLOAT, MP(50)):
        grad = nn.gradient(model, values, X, Y, arith=ar)
        for k in t_grad:
            np.testing.assert_allclose(np.asarray(grad[k], dtype=float), t_grad[k], rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- random models


def _random_model(rng, width):
    acts = [ReLU, Tanh, Sigmoid, SiLU, GELU, lambda: GELU("tanh"), lambda: LeakyReLU(0.05), lambda: ELU(1.3), Softplus]
    layers = [Linear(3, width)]
    for _ in range(rng.integers(2, 5)):
        choice = rng.integers(0, 5)
        if choice == 0:
            layers.append(LayerNorm(width, elementwise_affine=bool(rng.integers(0, 2))))
        elif choice == 1:
            layers.append(BatchNorm1d(width))
        elif choice == 2:
            inner = [Linear(width, width), acts[rng.integers(len(acts))]()]
            if rng.integers(0, 2):
                inner = [Sequential(*inner), LayerNorm(width)]
            layers.append(Residual(Sequential(*inner)))
        elif choice == 3:
            layers.append(Sequential(Linear(width, width), acts[rng.integers(len(acts))]()))
        else:
            layers.append(acts[rng.integers(len(acts))]())
    layers.append(Linear(width, 3))
    return Sequential(*layers)


@pytest.mark.parametrize("seed", range(6))
def test_random_nested_models_match_torch(seed):
    rng = np.random.default_rng(seed)
    model = _random_model(rng, int(rng.integers(2, 5)))
    if seed % 3 == 2:
        model = model.eval()
    X, Y = data_array(4, 3, 3, seed)
    check(model, X, Y, "mse", MSE, vseed=seed)


# ----------------------------------------------------------------------------- losses and reductions


def _probs(rng, n, c):
    p = rng.uniform(0.1, 1.0, size=(n, c))
    return p / p.sum(axis=1, keepdims=True)


LOSSES = []
for red in ("mean", "sum"):
    LOSSES += [
        pytest.param(nn.MSELoss(red), torch.nn.MSELoss(reduction=red), "real", id=f"MSELoss-{red}"),
        pytest.param(nn.L1Loss(red), torch.nn.L1Loss(reduction=red), "real", id=f"L1Loss-{red}"),
        pytest.param(
            nn.CrossEntropyLoss(red), torch.nn.CrossEntropyLoss(reduction=red), "labels", id=f"CE-labels-{red}"
        ),
        pytest.param(nn.CrossEntropyLoss(red), torch.nn.CrossEntropyLoss(reduction=red), "probs", id=f"CE-probs-{red}"),
        pytest.param(nn.NLLLoss(red), torch.nn.NLLLoss(reduction=red), "labels", id=f"NLLLoss-{red}"),
        pytest.param(nn.BCELoss(red), torch.nn.BCELoss(reduction=red), "binary", id=f"BCELoss-{red}"),
        pytest.param(
            nn.BCEWithLogitsLoss(red), torch.nn.BCEWithLogitsLoss(reduction=red), "binary", id=f"BCEWithLogits-{red}"
        ),
    ]
# symprop's own: "sse", "quadratic", "batchmean", and the strings
LOSSES += [
    pytest.param("sse", torch.nn.MSELoss(reduction="sum"), "real", id="sse"),
    pytest.param(
        "quadratic",
        lambda o, y: torch.nn.functional.mse_loss(o, y, reduction="sum") / (2 * o.shape[0]),
        "real",
        id="quadratic",
    ),
    pytest.param(
        nn.MSELoss("batchmean"),
        lambda o, y: torch.nn.functional.mse_loss(o, y, reduction="sum") / o.shape[0],
        "real",
        id="MSELoss-batchmean",
    ),
    pytest.param("cross_entropy", torch.nn.CrossEntropyLoss(), "labels", id="cross_entropy"),
    pytest.param("bce_with_logits", torch.nn.BCEWithLogitsLoss(), "binary", id="bce_with_logits"),
    pytest.param("bce", torch.nn.BCELoss(), "binary", id="bce"),
    pytest.param("mse", torch.nn.MSELoss(), "real", id="mse"),
]


@pytest.mark.parametrize(("loss", "torch_loss", "target"), LOSSES)
def test_losses_and_reductions_match_torch(loss, torch_loss, target):
    rng = np.random.default_rng(11)
    n, c = 5, 3
    X = rng.normal(size=(n, 3))
    bce = isinstance(loss, nn.BCELoss) or loss == "bce"
    model = Sequential(Linear(3, 4), Tanh(), Linear(4, c), *([Sigmoid()] if bce else []))
    Y = {
        "real": lambda: rng.normal(size=(n, c)),
        "labels": lambda: rng.integers(0, c, size=n),
        "probs": lambda: _probs(rng, n, c),
        "binary": lambda: rng.integers(0, 2, size=(n, c)).astype(float),
    }[target]()
    check(model, X, Y, loss, torch_loss)
    # SYMBOLIC on a one-layer model and two samples
    small = Sequential(Linear(3, c), *([Sigmoid()] if bce else []))
    check(small, X[:2], Y[:2], loss, torch_loss, ariths=(SYMBOLIC,))


def test_l2_adds_twice_lambda_times_each_linear_weight():
    model = Sequential(Linear(3, 4), LayerNorm(4), Tanh(), Linear(4, 2))
    X, Y = data_array(4, 3, 2)
    values = random_values(model, (3,), 5)
    lam = 0.05
    _, t_grad = torch_gradient(model, values, X, Y, MSE)
    grad = nn.gradient(model, values, X, Y, l2=lam)
    for k in t_grad:
        extra = 2 * lam * values[k] if k in ("0.weight", "3.weight") else 0
        np.testing.assert_allclose(grad[k], t_grad[k] + extra, rtol=1e-10, atol=1e-12)


def test_torch_tensors_are_accepted_as_values():
    model = Sequential(Linear(3, 2))
    X, Y = data_array(2, 3, 2)
    values = random_values(model, (3,), 0)
    a = nn.gradient(model, values, X, Y)
    b = nn.gradient(model, {k: torch.tensor(v) for k, v in values.items()}, torch.tensor(X), torch.tensor(Y))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize(
    "first",
    [
        BatchNorm1d(2),
        BatchNorm1d(2).eval(),
        LayerNorm((2, 3)),
        LayerNorm((3,), elementwise_affine=False),
        Softmax(dim=1),
        GELU(),
    ],
    ids=["BatchNorm1d-NCL", "BatchNorm1d-NCL-eval", "LayerNorm-2d", "LayerNorm-last", "Softmax-dim1", "GELU"],
)
def test_three_dimensional_inputs_match_torch(first):
    model = Sequential(first, Flatten(), Linear(6, 2))
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 2))
    check(model, X, Y, "mse", MSE)
