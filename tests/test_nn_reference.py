"""symprop.nn.reference, the independent NumPy oracle, against PyTorch float64 autograd.

Every plain forward/backward pair is compared with torch.nn.functional on random small inputs (plus the
exact kinks and ties where conventions matter), and the model walk (``forward``/``gradient``) with
``param.grad`` of real ``torch.nn`` models, nested and residual ones included.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F
from torch import nn

from symprop.errors import UnsupportedError
from symprop.nn import reference as R

TOL = {"rtol": 1e-10, "atol": 1e-12}


def rng(seed=0):
    return np.random.default_rng(seed)


def t(a, grad=True):
    return torch.tensor(np.asarray(a, dtype=float), dtype=torch.float64, requires_grad=grad)


def torch_vjp(fn, dy, *arrays):
    """fn(*tensors) and the gradients of sum(fn * dy) with respect to every array (PyTorch autograd)."""
    ts = [t(a) for a in arrays]
    out = fn(*ts)
    out.backward(torch.as_tensor(dy, dtype=torch.float64))
    return out.detach().numpy(), [x.grad.numpy() if x.grad is not None else np.zeros(x.shape) for x in ts]


def close(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **{**TOL, **kw})


# ============================================================================= activations

KINKS = np.array([0.0, -0.0, 1e-300, -1e-300, 25.0, -25.0, 10.5, 21.0, -40.0, 700.0])

ACTIVATIONS = [
    ("relu", R.relu, R.relu_backward, F.relu, {}),
    (
        "leaky_relu",
        R.leaky_relu,
        R.leaky_relu_backward,
        lambda x: F.leaky_relu(x, 0.2),
        {"negative_slope": 0.2},
    ),
    ("leaky_relu_default", R.leaky_relu, R.leaky_relu_backward, F.leaky_relu, {}),
    ("sigmoid", R.sigmoid, R.sigmoid_backward, torch.sigmoid, {}),
    ("tanh", R.tanh, R.tanh_backward, torch.tanh, {}),
    ("softplus", R.softplus, R.softplus_backward, F.softplus, {}),
    (
        "softplus_beta",
        R.softplus,
        R.softplus_backward,
        lambda x: F.softplus(x, 2.0, 5.0),
        {"beta": 2.0, "threshold": 5.0},
    ),
    ("elu", R.elu, R.elu_backward, F.elu, {}),
    ("elu_alpha", R.elu, R.elu_backward, lambda x: F.elu(x, 0.7), {"alpha": 0.7}),
    ("silu", R.silu, R.silu_backward, F.silu, {}),
    ("gelu", R.gelu, R.gelu_backward, F.gelu, {}),
    (
        "gelu_tanh",
        R.gelu,
        R.gelu_backward,
        lambda x: F.gelu(x, approximate="tanh"),
        {"approximate": "tanh"},
    ),
    ("identity", R.identity, R.identity_backward, lambda x: x * 1.0, {}),
]


@pytest.mark.parametrize("name,fwd,bwd,tfn,kw", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_matches_torch_including_kinks(name, fwd, bwd, tfn, kw):
    x = np.concatenate([rng(1).normal(scale=3.0, size=40), KINKS, [2.5, 10.0, 10.000001]])
    dy = rng(2).normal(size=x.shape)
    y_t, (dx_t,) = torch_vjp(tfn, dy, x)
    close(fwd(x, **kw), y_t)
    close(bwd(dy, x, **kw), dx_t)


def test_kink_conventions_are_torchs():
    zero = np.array([0.0])
    assert R.relu_backward(np.ones(1), zero)[0] == 0.0
    assert R.leaky_relu_backward(np.ones(1), zero, negative_slope=0.3)[0] == 0.3
    assert R.elu_backward(np.ones(1), zero, alpha=0.7)[0] == 0.7
    for name in ("relu", "leaky_relu", "elu"):
        tz = t(zero)
        getattr(F, name)(tz).backward(torch.ones(1))
        ours = getattr(R, name + "_backward")(np.ones(1), zero)
        assert tz.grad.item() == ours[0], name


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_matches_torch(dim, name):
    x = rng(3).normal(size=(3, 4, 5)) * 4
    dy = rng(4).normal(size=x.shape)
    y_t, (dx_t,) = torch_vjp(lambda a: getattr(F, name)(a, dim=dim), dy, x)
    close(getattr(R, name)(x, dim), y_t)
    close(getattr(R, name + "_backward")(dy, x, dim), dx_t)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match='"none" or "tanh"'):
        R.gelu(np.zeros(2), approximate="erf")


# ============================================================================= shapes, dropout, linear


@pytest.mark.parametrize("start,end", [(1, -1), (0, -1), (1, 2), (2, 3), (0, 0)])
def test_flatten_matches_torch(start, end):
    x = rng(5).normal(size=(2, 3, 4, 5))
    y_t = torch.flatten(t(x, False), start, end).numpy()
    y = R.flatten(x, start, end)
    close(y, y_t)
    dy = rng(6).normal(size=y.shape)
    _, (dx_t,) = torch_vjp(lambda a: torch.flatten(a, start, end), dy, x)
    close(R.flatten_backward(dy, x, start, end), dx_t)


def test_dropout_eval_is_identity():
    x = rng(7).normal(size=(4, 6))
    dy = rng(8).normal(size=x.shape)
    y_t, (dx_t,) = torch_vjp(lambda a: F.dropout(a, 0.4, training=False), dy, x)
    close(R.dropout(x, 0.4, training=False), y_t)
    close(R.dropout_backward(dy, x, 0.4, training=False), dx_t)


@pytest.mark.parametrize("p", [0.25, 0.5, 0.9])
def test_dropout_training_with_torchs_own_mask(p):
    # torch draws the mask; read it off the output (x has no zeros) and give it to the oracle
    x = rng(9).normal(size=(5, 7)) + 10.0
    dy = rng(10).normal(size=x.shape)
    torch.manual_seed(123)
    y_t, (dx_t,) = torch_vjp(lambda a: F.dropout(a, p, training=True), dy, x)
    mask = (y_t != 0).astype(float)
    assert 0 < mask.sum() < mask.size
    close(R.dropout(x, p, training=True, mask=mask), y_t)
    close(R.dropout_backward(dy, x, p, training=True, mask=mask), dx_t)


def test_dropout_p_one_drops_everything_and_needs_a_mask():
    x = np.ones((2, 3))
    close(
        R.dropout(x, 1.0, training=True, mask=np.ones((2, 3))),
        F.dropout(t(x, False), 1.0, True).numpy(),
    )
    with pytest.raises(ValueError, match="needs its mask"):
        R.dropout(x, 0.5, training=True)
    with pytest.raises(ValueError, match=r"mask of shape \(4,\) does not fit"):
        R.dropout(x, 0.5, training=True, mask=np.ones(4))


@pytest.mark.parametrize("shape,bias", [((5, 3), True), ((5, 3), False), ((2, 4, 3), True)])
def test_linear_matches_torch(shape, bias):
    g = rng(11)
    x, w, b = g.normal(size=shape), g.normal(size=(4, 3)), g.normal(size=4)
    dy = g.normal(size=shape[:-1] + (4,))
    if bias:
        y_t, (dx_t, dw_t, db_t) = torch_vjp(F.linear, dy, x, w, b)
    else:
        y_t, (dx_t, dw_t) = torch_vjp(F.linear, dy, x, w)
    bb = b if bias else None
    close(R.linear(x, w, bb), y_t)
    dx, grads = R.linear_backward(dy, x, w, bb)
    close(dx, dx_t)
    close(grads["weight"], dw_t)
    assert ("bias" in grads) == bias
    if bias:
        close(grads["bias"], db_t)


def test_linear_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"input has \(3,\) features .* expects 4"):
        R.linear(np.zeros((2, 3)), np.zeros((5, 4)))


# ============================================================================= normalisation


@pytest.mark.parametrize(
    "xshape,nshape,affine,bias",
    [
        ((6, 5), (5,), True, True),
        ((6, 5), (5,), False, False),
        ((3, 4, 5), (4, 5), True, True),
        ((3, 4, 5), (5,), True, False),
    ],
)
def test_layer_norm_matches_torch(xshape, nshape, affine, bias):
    g = rng(12)
    x = g.normal(size=xshape) * 2 + 1
    w, b = g.normal(size=nshape), g.normal(size=nshape)
    dy = g.normal(size=xshape)
    eps = 1e-3
    arrays = [x] + ([w] if affine else []) + ([b] if bias else [])

    def tfn(a, *params):
        weight = params[0] if affine else None
        bb = params[1] if bias else None
        return F.layer_norm(a, nshape, weight, bb, eps)

    y_t, grads_t = torch_vjp(tfn, dy, *arrays)
    ww, bb = (w if affine else None), (b if bias else None)
    close(R.layer_norm(x, nshape, ww, bb, eps), y_t)
    dx, grads = R.layer_norm_backward(dy, x, nshape, ww, bb, eps)
    close(dx, grads_t[0])
    if affine:
        close(grads["weight"], grads_t[1])
    if bias:
        close(grads["bias"], grads_t[2])
    assert set(grads) == {k for k, on in (("weight", affine), ("bias", bias)) if on}


@pytest.mark.parametrize("xshape", [(8, 3), (4, 3, 5), (3, 3, 2, 2)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_torch(xshape, training, affine):
    g = rng(13)
    x = g.normal(size=xshape) * 3 - 1
    c = xshape[1]
    rm, rv = g.normal(size=c), g.uniform(0.5, 2.0, size=c)
    w, b = g.normal(size=c), g.normal(size=c)
    dy = g.normal(size=xshape)

    def tfn(a, *params):
        weight, bb = (params[0], params[1]) if affine else (None, None)
        running_mean, running_var = (
            torch.tensor(rm),
            torch.tensor(rv),
        )  # torch updates copies in training
        return F.batch_norm(a, running_mean, running_var, weight, bb, training=training, eps=1e-4)

    y_t, grads_t = torch_vjp(tfn, dy, *([x, w, b] if affine else [x]))
    ww, bb = (w, b) if affine else (None, None)
    close(R.batch_norm(x, rm, rv, ww, bb, training=training, eps=1e-4), y_t)
    dx, grads = R.batch_norm_backward(dy, x, rm, rv, ww, bb, training=training, eps=1e-4)
    close(dx, grads_t[0])
    if affine:
        close(grads["weight"], grads_t[1])
        close(grads["bias"], grads_t[2])


def test_batch_norm_training_couples_the_samples():
    # moving one sample changes every other sample's output in training mode, none in eval mode
    x = rng(14).normal(size=(5, 2))
    dy = np.zeros_like(x)
    dy[0] = 1.0
    dx_train, _ = R.batch_norm_backward(dy, x, np.zeros(2), np.ones(2), training=True)
    dx_eval, _ = R.batch_norm_backward(dy, x, np.zeros(2), np.ones(2), training=False)
    assert np.all(np.abs(dx_train[1:]) > 0)
    assert np.all(dx_eval[1:] == 0)


def test_batch_norm_training_needs_two_values_per_channel():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        R.batch_norm(np.ones((1, 3)), training=True)


def test_residual_adds_the_identity_path():
    w = rng(15).normal(size=(3, 3))
    x = rng(16).normal(size=(4, 3))
    dy = rng(17).normal(size=x.shape)
    y_t, (dx_t, _) = torch_vjp(lambda a, ww: a + torch.tanh(F.linear(a, ww)), dy, x, w)
    y = R.residual(x, lambda a: R.tanh(R.linear(a, w)))
    close(y, y_t)

    def block_backward(d):
        z = R.linear(x, w)
        return R.linear_backward(R.tanh_backward(d, z), x, w)[0]

    close(R.residual_backward(dy, block_backward), dx_t)


# ============================================================================= convolution

CONV1D = [
    dict(stride=1, padding=0, dilation=1),
    dict(stride=2, padding=1, dilation=1),
    dict(stride=1, padding=2, dilation=2),
    dict(stride=3, padding=1, dilation=2),
    dict(stride=1, padding="same", dilation=2),
    dict(stride=1, padding="same", dilation=1),
    dict(stride=2, padding="valid", dilation=1),
]


@pytest.mark.parametrize("kw", CONV1D, ids=str)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_conv1d_matches_torch(kw, bias, k):
    g = rng(18)
    x, w, b = g.normal(size=(2, 3, 11)), g.normal(size=(4, 3, k)), g.normal(size=4)
    tfn = (lambda a, ww, bb: F.conv1d(a, ww, bb, **kw)) if bias else (lambda a, ww: F.conv1d(a, ww, None, **kw))
    y_ref = F.conv1d(t(x, False), t(w, False), None, **kw).numpy()
    dy = g.normal(size=y_ref.shape)
    y_t, grads_t = torch_vjp(tfn, dy, *([x, w, b] if bias else [x, w]))
    bb = b if bias else None
    close(R.conv1d(x, w, bb, **kw), y_t)
    dx, grads = R.conv1d_backward(dy, x, w, bb, **kw)
    close(dx, grads_t[0])
    close(grads["weight"], grads_t[1])
    if bias:
        close(grads["bias"], grads_t[2])
    else:
        assert "bias" not in grads


CONV2D = [
    dict(stride=1, padding=0, dilation=1),
    dict(stride=2, padding=1, dilation=1),
    dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1)),
    dict(stride=(2, 3), padding=(1, 2), dilation=(1, 2)),
    dict(stride=1, padding="same", dilation=(1, 2)),
]


@pytest.mark.parametrize("kw", CONV2D, ids=str)
@pytest.mark.parametrize("kernel", [(2, 2), (3, 2), (1, 3)])
def test_conv2d_matches_torch(kw, kernel):
    g = rng(19)
    x, w, b = (
        g.normal(size=(2, 3, 7, 8)),
        g.normal(size=(4, 3) + kernel),
        g.normal(size=4),
    )
    y_ref = F.conv2d(t(x, False), t(w, False), None, **kw).numpy()
    dy = g.normal(size=y_ref.shape)
    y_t, (dx_t, dw_t, db_t) = torch_vjp(lambda a, ww, bb: F.conv2d(a, ww, bb, **kw), dy, x, w, b)
    close(R.conv2d(x, w, b, **kw), y_t)
    dx, grads = R.conv2d_backward(dy, x, w, b, **kw)
    close(dx, dx_t)
    close(grads["weight"], dw_t)
    close(grads["bias"], db_t)


def test_conv_errors_name_layouts_and_sizes():
    with pytest.raises(ValueError, match=r"conv2d expects input \(N, C, H, W\), got shape \(3, 4, 4\)"):
        R.conv2d(np.zeros((3, 4, 4)), np.zeros((2, 3, 2, 2)))
    with pytest.raises(ValueError, match="expects 3 input channels, input .* has 2"):
        R.conv1d(np.zeros((1, 2, 5)), np.zeros((2, 3, 2)))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        R.conv1d(np.zeros((1, 1, 3)), np.zeros((1, 1, 2)), dilation=3)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        R.conv1d(np.zeros((1, 1, 5)), np.zeros((1, 1, 2)), stride=2, padding="same")


# ============================================================================= pooling

POOL1D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=4, stride=3, padding=2),
]


@pytest.mark.parametrize("kw", POOL1D, ids=str)
def test_avg_pool1d_matches_torch(kw):
    for count_include_pad in (True, False):
        x = rng(20).normal(size=(2, 3, 10))

        def tfn(a, count_include_pad=count_include_pad):
            return F.avg_pool1d(a, count_include_pad=count_include_pad, **kw)

        y_ref = tfn(t(x, False)).numpy()
        dy = rng(21).normal(size=y_ref.shape)
        y_t, (dx_t,) = torch_vjp(tfn, dy, x)
        close(R.avg_pool1d(x, count_include_pad=count_include_pad, **kw), y_t)
        close(
            R.avg_pool1d_backward(dy, x, count_include_pad=count_include_pad, **kw),
            dx_t,
        )


@pytest.mark.parametrize(
    "kw",
    POOL1D
    + [
        dict(kernel_size=2, stride=1, dilation=2),
        dict(kernel_size=3, dilation=2, padding=1),
    ],
    ids=str,
)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool1d_matches_torch(kw, ties):
    g = rng(22)
    # ties: integers from a small set, so most windows hold their maximum more than once
    x = g.integers(0, 3, size=(2, 3, 10)).astype(float) if ties else g.normal(size=(2, 3, 10))
    y_ref = F.max_pool1d(t(x, False), **kw).numpy()
    # integer dy: every routed sum is exact, so any misrouted gradient shows as an inequality
    dy = g.integers(-9, 10, size=y_ref.shape).astype(float)
    y_t, (dx_t,) = torch_vjp(lambda a: F.max_pool1d(a, **kw), dy, x)
    close(R.max_pool1d(x, **kw), y_t)
    np.testing.assert_array_equal(R.max_pool1d_backward(dy, x, **kw), dx_t)


POOL2D = [
    dict(kernel_size=2),
    dict(kernel_size=(2, 3), stride=(1, 2)),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1)),
]


@pytest.mark.parametrize("kw", POOL2D, ids=str)
def test_avg_pool2d_matches_torch(kw):
    x = rng(23).normal(size=(2, 2, 7, 6))
    for extra in (
        dict(count_include_pad=True),
        dict(count_include_pad=False),
        dict(divisor_override=5),
    ):

        def tfn(a, extra=extra):
            return F.avg_pool2d(a, **kw, **extra)

        y_ref = tfn(t(x, False)).numpy()
        dy = rng(24).normal(size=y_ref.shape)
        y_t, (dx_t,) = torch_vjp(tfn, dy, x)
        close(R.avg_pool2d(x, **kw, **extra), y_t)
        close(R.avg_pool2d_backward(dy, x, **kw, **extra), dx_t)


@pytest.mark.parametrize("kw", POOL2D + [dict(kernel_size=2, stride=1, dilation=(2, 1))], ids=str)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool2d_matches_torch(kw, ties):
    g = rng(25)
    x = g.integers(-1, 2, size=(2, 2, 7, 6)).astype(float) if ties else g.normal(size=(2, 2, 7, 6))
    y_ref = F.max_pool2d(t(x, False), **kw).numpy()
    dy = g.integers(-9, 10, size=y_ref.shape).astype(float)  # exact sums, as above
    y_t, (dx_t,) = torch_vjp(lambda a: F.max_pool2d(a, **kw), dy, x)
    close(R.max_pool2d(x, **kw), y_t)
    np.testing.assert_array_equal(R.max_pool2d_backward(dy, x, **kw), dx_t)


def test_max_pool2d_tie_goes_to_the_first_maximum_in_row_major_order():
    # one 2x2 window holding 5 at (0, 1) and (1, 0): the row-major first, (0, 1), gets the gradient
    x = np.array([[[[1.0, 5.0], [5.0, 2.0]]]])
    dx = R.max_pool2d_backward(np.array([[[[7.0]]]]), x, kernel_size=2)
    np.testing.assert_array_equal(dx, [[[[0.0, 7.0], [0.0, 0.0]]]])
    tx = t(x)
    F.max_pool2d(tx, 2).backward(torch.tensor([[[[7.0]]]], dtype=torch.float64))
    np.testing.assert_array_equal(dx, tx.grad.numpy())
    # a constant window (all tied): the top-left entry; a padded window never routes to padding
    x = np.full((1, 1, 3, 3), -2.0)
    dx = R.max_pool2d_backward(np.ones((1, 1, 2, 2)), x, kernel_size=2, stride=2, padding=1)
    tx = t(x)
    F.max_pool2d(tx, 2, 2, 1).backward(torch.ones(1, 1, 2, 2, dtype=torch.float64))
    np.testing.assert_array_equal(dx, tx.grad.numpy())
    assert dx.sum() == 4.0


def test_pool_padding_larger_than_half_the_kernel_is_refused_as_torch():
    with pytest.raises(ValueError, match="at most half the kernel_size"):
        R.max_pool1d(np.zeros((1, 1, 6)), kernel_size=2, padding=2)


# ============================================================================= losses

REGRESSION = [
    ("mse", lambda a, y, r: F.mse_loss(a, y, reduction=r)),
    ("l1", lambda a, y, r: F.l1_loss(a, y, reduction=r)),
    ("bce", lambda a, y, r: F.binary_cross_entropy(a, y, reduction=r)),
    (
        "bce_with_logits",
        lambda a, y, r: F.binary_cross_entropy_with_logits(a, y, reduction=r),
    ),
]


@pytest.mark.parametrize("name,tfn", REGRESSION, ids=[r[0] for r in REGRESSION])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_elementwise_losses_match_torch(name, tfn, reduction):
    g = rng(26)
    a = g.uniform(0.02, 0.98, size=(6, 3)) if name == "bce" else g.normal(size=(6, 3)) * 3
    y = g.uniform(0, 1, size=(6, 3)) if name.startswith("bce") else g.normal(size=(6, 3))
    if name == "l1":
        y[0, 0] = a[0, 0]  # |a - y| at its kink: torch's sign(0) = 0
    at = t(a)
    value_t = tfn(at, t(y, False), reduction)
    value_t.backward()
    assert getattr(R, name)(a, y, reduction) == pytest.approx(value_t.item(), rel=1e-12)
    close(getattr(R, name + "_backward")(a, y, reduction), at.grad.numpy())


def test_bce_at_saturated_probabilities_is_torchs_clamped_value():
    a, y = np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    at = t(a)
    value_t = F.binary_cross_entropy(at, t(y, False), reduction="sum")
    value_t.backward()
    assert R.bce(a, y, "sum") == pytest.approx(value_t.item(), rel=1e-12)
    close(R.bce_backward(a, y, "sum"), at.grad.numpy())


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_sse_and_quadratic_are_the_textbook_sums(reduction):
    from fractions import Fraction

    a = np.array([[0.5, -1.0], [2.0, 0.25], [1.0, 1.0]])
    y = np.array([[0.0, 1.0], [1.5, 0.25], [-1.0, 2.0]])
    total = sum((Fraction(p) - Fraction(q)) ** 2 for p, q in zip(a.ravel(), y.ravel()))
    assert R.sse(a, y) == float(total)  # default "sum"
    assert R.quadratic(a, y) == float(total / (2 * 3))  # default 1/(2N)
    # gradients against torch: sse = torch's sum-reduced mse; quadratic = half of it over N
    at = t(a)
    (F.mse_loss(at, t(y, False), reduction="sum") / 6).backward()
    close(R.quadratic_backward(a, y), at.grad.numpy())
    assert R.sse(a, y, reduction) == pytest.approx(F.mse_loss(t(a, False), t(y, False), reduction=reduction).item())
    assert R.quadratic(a, y, "sum") == float(total / 2)
    assert R.quadratic(a, y, "mean") == float(total / (2 * 6))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("target_kind", ["labels", "probabilities"])
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2)])
def test_cross_entropy_matches_torch(reduction, target_kind, shape):
    g = rng(27)
    z = g.normal(size=shape) * 3
    if target_kind == "labels":
        y = g.integers(0, shape[1], size=shape[:1] + shape[2:])
        yt = torch.tensor(y)
    else:
        y = g.uniform(size=shape)
        y = y / y.sum(axis=1, keepdims=True) * 1.3  # rows need not sum to 1: torch still differentiates
        yt = t(y, False)
    zt = t(z)
    value_t = F.cross_entropy(zt, yt, reduction=reduction)
    value_t.backward()
    assert R.cross_entropy(z, y, reduction) == pytest.approx(value_t.item(), rel=1e-12)
    close(R.cross_entropy_backward(z, y, reduction), zt.grad.numpy())


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_nll_and_ignore_index_match_torch(reduction):
    g = rng(28)
    logp = np.log(R.softmax(g.normal(size=(6, 3)), 1))
    y = np.array([0, 2, 1, -100, 2, 0])
    for name, tfn in (("nll", F.nll_loss), ("cross_entropy", F.cross_entropy)):
        xt = t(logp)
        value_t = tfn(xt, torch.tensor(y), reduction=reduction)
        value_t.backward()
        assert getattr(R, name)(logp, y, reduction) == pytest.approx(value_t.item(), rel=1e-12)
        close(getattr(R, name + "_backward")(logp, y, reduction), xt.grad.numpy())


def test_loss_errors():
    with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
        R.cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(UnsupportedError, match='reduction "none" gives no scalar'):
        R.mse(np.zeros(2), np.zeros(2), "none")
    with pytest.raises(ValueError, match="unknown reduction 'meen'.*Did you mean \"mean\""):
        R.mse(np.zeros(2), np.zeros(2), "meen")
    with pytest.raises(ValueError, match=r"input shape \(2,\) and target shape \(3,\) differ"):
        R.mse(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="must be probabilities"):
        R.bce(np.array([1.5]), np.array([1.0]))
    with pytest.raises(ValueError, match="unknown loss 'msee'.*Did you mean"):
        R.loss_value("msee", np.zeros(2), np.zeros(2))


# ============================================================================= the model walk


class Residual(nn.Module):
    """What symprop.nn.Residual is (torch has none): y = x + block(x), child named "block"."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return x + self.block(x)


def state_of(model):
    return {k: v.detach().double().numpy().copy() for k, v in model.state_dict().items()}


def torch_grads(model, X, Y, loss_fn):
    model.zero_grad()
    out = model(X)
    loss = loss_fn(out, Y)
    loss.backward()
    return (
        out.detach().numpy(),
        loss.item(),
        {k: p.grad.numpy() for k, p in model.named_parameters()},
    )


def check_model(model, X, Y, loss_fn, loss_arg=None, masks=None, reduction=None):
    model = model.double()
    state = state_of(model)  # before the forward pass: torch's training BatchNorm updates its buffers
    Xt = torch.tensor(X, dtype=torch.float64)
    Yt = torch.tensor(Y) if np.issubdtype(np.asarray(Y).dtype, np.integer) else torch.tensor(Y, dtype=torch.float64)
    out_t, loss_t, grads_t = torch_grads(model, Xt, Yt, loss_fn)
    close(R.forward(model, state, X, masks=masks), out_t)
    value, grads = R.value_and_gradient(
        model,
        state,
        X,
        Y,
        loss=loss_fn if loss_arg is None else loss_arg,
        reduction=reduction,
        masks=masks,
    )
    assert value == pytest.approx(loss_t, rel=1e-12)
    assert set(grads) == set(grads_t)
    for key in grads_t:
        close(grads[key], grads_t[key], err_msg=key)
    return grads


ALL_ACTIVATIONS = [
    nn.ReLU(),
    nn.LeakyReLU(0.1),
    nn.Sigmoid(),
    nn.Tanh(),
    nn.Softplus(beta=1.5, threshold=3.0),
    nn.ELU(0.5),
    nn.SiLU(),
    nn.GELU(),
    nn.GELU(approximate="tanh"),
    nn.Identity(),
]


@pytest.mark.parametrize("act", ALL_ACTIVATIONS, ids=repr)
def test_mlp_with_each_activation(act):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), act, nn.Linear(5, 3), nn.Softmax(dim=1))
    g = rng(30)
    check_model(model, g.normal(size=(7, 4)), g.normal(size=(7, 3)), nn.MSELoss())


@pytest.mark.parametrize(
    "loss_fn,kind",
    [
        (nn.MSELoss(reduction="sum"), "real"),
        (nn.L1Loss(), "real"),
        (nn.CrossEntropyLoss(), "labels"),
        (nn.CrossEntropyLoss(reduction="sum"), "probabilities"),
        (nn.BCEWithLogitsLoss(), "unit"),
        (nn.NLLLoss(), "labels"),
    ],
    ids=repr,
)
def test_nested_sequential_with_torch_loss_objects(loss_fn, kind):
    torch.manual_seed(1)
    tail = nn.LogSoftmax(dim=1) if isinstance(loss_fn, nn.NLLLoss) else nn.Identity()
    inner = nn.Sequential(nn.Linear(5, 5), nn.Sequential(nn.Tanh(), nn.Linear(5, 4, bias=False)))
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), inner, tail)
    g = rng(31)
    X = g.normal(size=(6, 3))
    Y = {
        "real": g.normal(size=(6, 4)),
        "labels": g.integers(0, 4, size=6),
        "unit": g.uniform(size=(6, 4)),
        "probabilities": R.softmax(g.normal(size=(6, 4)), 1),
    }[kind]
    grads = check_model(model, X, Y, loss_fn)
    assert "2.1.1.weight" in grads and "2.1.1.bias" not in grads


def test_loss_given_by_name_and_reduction():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid())
    g = rng(32)
    X, Y = g.normal(size=(5, 3)), g.uniform(size=(5, 2))
    check_model(model, X, Y, nn.BCELoss(reduction="sum"), loss_arg="bce", reduction="sum")
    check_model(model, X, Y, nn.MSELoss(), loss_arg="MSELoss")
    sse = lambda out, y: ((out - y) ** 2).sum()
    check_model(model, X, Y, sse, loss_arg="sse")
    quad = lambda out, y: ((out - y) ** 2).sum() / (2 * len(y))
    check_model(model, X, Y, quad, loss_arg="quadratic")
    with pytest.raises(ValueError, match="has reduction='mean' but reduction='sum' was also given"):
        R.gradient(model, state_of(model.double()), X, Y, loss=nn.MSELoss(), reduction="sum")


@pytest.mark.parametrize("training", [True, False])
def test_layer_norm_batch_norm_dropout_residual_model(training):
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Linear(4, 6),
        nn.BatchNorm1d(6),
        nn.GELU(),
        Residual(nn.Sequential(nn.LayerNorm(6), nn.Linear(6, 6), nn.Dropout(0.3), nn.SiLU())),
        nn.LayerNorm(6, elementwise_affine=False),
        nn.Linear(6, 3),
    ).double()
    with torch.no_grad():  # non-trivial running statistics and affine parameters
        model[1].running_mean.copy_(torch.randn(6))
        model[1].running_var.copy_(torch.rand(6) + 0.5)
        model[1].weight.copy_(torch.randn(6))
        model[3].block[0].bias.copy_(torch.randn(6))
    model.train(training)
    g = rng(33)
    X, Y = g.normal(size=(8, 4)), g.integers(0, 3, size=8)
    masks = None
    if training:
        # torch draws the dropout mask: record it with a hook, then give it to the oracle
        seen = {}
        hook = model[3].block[2].register_forward_hook(lambda m, i, o: seen.update(mask=(o != 0).double().numpy()))
        torch.manual_seed(4)
        model(torch.tensor(X))
        hook.remove()
        masks = {"3.block.2": seen["mask"]}
        torch.manual_seed(4)  # the same mask again in check_model's torch pass
    grads = check_model(model, X, Y, nn.CrossEntropyLoss(), masks=masks)
    assert {"3.block.0.weight", "3.block.1.bias", "1.weight"} <= set(grads)
    assert not any(k.startswith("4.") for k in grads)  # LayerNorm without affine has no parameters


def test_batchnorm_without_running_stats_uses_batch_statistics_in_eval():
    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Linear(3, 4),
        nn.BatchNorm1d(4, track_running_stats=False, affine=False),
        nn.Tanh(),
    ).eval()
    g = rng(34)
    check_model(model, g.normal(size=(6, 3)), g.normal(size=(6, 4)), nn.MSELoss())


def test_cnn_2d_with_every_conv_and_pool_option():
    torch.manual_seed(6)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, stride=(1, 2), padding=1, dilation=(2, 1)),
        nn.ReLU(),
        nn.MaxPool2d(2, stride=1, padding=1),
        nn.Conv2d(3, 4, (2, 3), bias=False, padding="same"),
        nn.BatchNorm2d(4),
        nn.AvgPool2d(2, padding=1, count_include_pad=False),
        nn.Flatten(),
        nn.Linear(4 * 4 * 3, 3),
    )
    g = rng(35)
    X = g.normal(size=(3, 2, 7, 8))
    out = model.double()(torch.tensor(X))
    assert out.shape == (3, 3)
    grads = check_model(model, X, g.integers(0, 3, size=3), nn.CrossEntropyLoss())
    assert "3.bias" not in grads


def test_cnn_2d_with_exact_ties_in_max_pool_windows():
    torch.manual_seed(7)
    conv = nn.Conv2d(1, 1, 1, bias=False)  # a 1x1 kernel of 1: the pool sees the input, ties included
    with torch.no_grad():
        conv.weight.fill_(1.0)
    model = nn.Sequential(conv, nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4, 2))
    X = np.array(
        [
            [
                [
                    [1.0, 3.0, 0.0, 0.0],
                    [3.0, 2.0, 0.0, 0.0],
                    [2.0, 2.0, 5.0, 1.0],
                    [2.0, 2.0, 1.0, 5.0],
                ]
            ]
        ]
    )
    check_model(model, np.concatenate([X, -X]), np.array([[1.0, 0.0], [0.0, 1.0]]), nn.MSELoss())


def test_cnn_1d():
    torch.manual_seed(8)
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3, stride=2, padding=2, dilation=2),
        nn.ELU(),
        nn.MaxPool1d(3, stride=2, padding=1, dilation=1),
        nn.BatchNorm1d(3),
        nn.AvgPool1d(2, stride=1, padding=1),
        nn.Flatten(),
        nn.Linear(3 * 5, 2),
    )
    g = rng(36)
    X = g.normal(size=(4, 2, 13))
    assert model.double()(torch.tensor(X)).shape == (4, 2)
    check_model(model, X, g.normal(size=(4, 2)), nn.MSELoss(reduction="sum"))


def test_softmax_module_with_implicit_and_explicit_dim():
    torch.manual_seed(9)
    model = nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=-1))
    g = rng(37)
    check_model(model, g.normal(size=(5, 3)), g.normal(size=(5, 4)), nn.MSELoss())


def test_a_model_that_only_mirrors_torch_attributes():
    """symprop's own Sequential has torch's class names and attributes but is no torch.nn.Module."""

    class Sequential:
        def __init__(self, *layers):
            self.layers = layers

        def named_children(self):
            return [(str(i), layer) for i, layer in enumerate(self.layers)]

    class Linear:
        def __init__(self, in_features, out_features, bias=True):
            self.in_features, self.out_features, self.bias = (
                in_features,
                out_features,
                bias,
            )

    class LayerNorm:
        def __init__(self, n):
            self.normalized_shape, self.eps, self.elementwise_affine = (n,), 1e-5, True

    class Tanh:
        pass

    class Residual:
        def __init__(self, block):
            self.block = block

    mirror = Sequential(
        Linear(3, 4),
        Residual(Sequential(LayerNorm(4), Tanh(), Linear(4, 4, bias=False))),
        Linear(4, 2),
    )
    torch.manual_seed(10)
    model = nn.Sequential(
        nn.Linear(3, 4),
        globals()["Residual"](nn.Sequential(nn.LayerNorm(4), nn.Tanh(), nn.Linear(4, 4, bias=False))),
        nn.Linear(4, 2),
    ).double()
    state = state_of(model)
    g = rng(38)
    X, Y = g.normal(size=(5, 3)), g.normal(size=(5, 2))
    _, _, grads_t = torch_grads(model, torch.tensor(X), torch.tensor(Y), nn.MSELoss())
    grads = R.gradient(mirror, state, X, Y, loss="mse")
    assert set(grads) == set(grads_t) == set(state)
    for key in grads_t:
        close(grads[key], grads_t[key], err_msg=key)
    with pytest.raises(
        ValueError,
        match=r"state dict has '1.block.2.bias' but Linear at '1.block.2' has no bias",
    ):
        R.gradient(mirror, {**state, "1.block.2.bias": np.zeros(4)}, X, Y)


# ============================================================================= errors of the walk


def test_unsupported_module_is_named_with_its_place():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Conv3d(1, 1, 1))
    with pytest.raises(
        UnsupportedError,
        match=r"^unsupported module Conv3d at '2'; supported: Sequential, Residual, Linear, ",
    ):
        R.forward(model, state_of(model), np.zeros((1, 2)))
    nested = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.Hardtanh()))
    with pytest.raises(UnsupportedError, match=r"unsupported module Hardtanh at '0.1'"):
        R.forward(nested, state_of(nested), np.zeros((1, 2)))
    conv = nn.Sequential(nn.Conv2d(2, 2, 1, groups=2))
    with pytest.raises(UnsupportedError, match="groups=2; only groups=1"):
        R.forward(conv, state_of(conv), np.zeros((1, 2, 3, 3)))
    pool = nn.Sequential(nn.MaxPool2d(2, ceil_mode=True))
    with pytest.raises(UnsupportedError, match="ceil_mode=True"):
        R.forward(pool, {}, np.zeros((1, 1, 3, 3)))
    with pytest.raises(UnsupportedError, match="CrossEntropyLoss with label_smoothing=0.1"):
        R.gradient(
            nn.Sequential(),
            {},
            np.zeros((2, 3)),
            np.array([0, 1]),
            loss=nn.CrossEntropyLoss(label_smoothing=0.1),
        )
    with pytest.raises(UnsupportedError, match="unsupported loss HuberLoss"):
        R.gradient(nn.Sequential(), {}, np.zeros((2, 3)), np.zeros((2, 3)), loss=nn.HuberLoss())


def test_state_dict_errors_name_the_key():
    model = nn.Sequential(nn.Linear(3, 2), nn.Sequential(nn.Linear(2, 2)))
    state = state_of(model)
    X, Y = np.zeros((4, 3)), np.zeros((4, 2))
    missing = {k: v for k, v in state.items() if k != "1.0.bias"}
    with pytest.raises(ValueError, match=r"state dict lacks '1.0.bias' \(Linear at '1.0'\)"):
        R.gradient(model, missing, X, Y)
    with pytest.raises(
        ValueError,
        match=r"'0.weight' has shape \(3, 2\), expected \(2, 3\) \(looks transposed\)",
    ):
        R.gradient(model, {**state, "0.weight": state["0.weight"].T}, X, Y)
    with pytest.raises(ValueError, match="state dict entries not used by the model: 2.weight"):
        R.gradient(model, {**state, "2.weight": np.zeros(2)}, X, Y)
    with pytest.raises(
        ValueError,
        match=r"Linear at the top has in_features=3|Linear at '0' has in_features=3",
    ):
        R.gradient(model, state, np.zeros((4, 5)), Y)


def test_dropout_and_batchnorm_mode_errors():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    with pytest.raises(
        ValueError,
        match=r"Dropout at '1' is in training mode: give its 0/1 mask \(masks=\{'1': array\}\)",
    ):
        R.forward(model, state_of(model), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="masks given for 0, which are not Dropout layers"):
        R.forward(
            model.eval(),
            state_of(model),
            np.zeros((3, 2)),
            masks={"0": np.ones((3, 2))},
        )
    bn = nn.Sequential(nn.BatchNorm1d(2)).eval()
    state = {k: v for k, v in state_of(bn).items() if not k.endswith("running_var")}
    with pytest.raises(
        ValueError,
        match=r"BatchNorm1d at '0' is in eval mode: the state dict needs '0.running_mean' and '0.running_var'",
    ):
        R.forward(bn, state, np.zeros((3, 2)))


# ============================================================================= independence


_NO_SYMPY_RUN = """
import sys
sys.modules["sympy"] = None  # any import of sympy now fails
import numpy as np
{load}

class Sequential:
    def __init__(self, *layers): self.layers = layers
    def named_children(self): return [(str(i), m) for i, m in enumerate(self.layers)]
class Linear:
    in_features, out_features = 2, 2
class GELU:
    approximate = "tanh"

state = {{"0.weight": np.eye(2), "0.bias": np.zeros(2), "2.weight": np.eye(2), "2.bias": np.ones(2)}}
grads = R.gradient(Sequential(Linear(), GELU(), Linear()), state, np.ones((3, 2)), np.zeros((3, 2)))
assert sorted(grads) == sorted(state), grads
assert not any(m == "sympy" or m.startswith("sympy.") for m in sys.modules if sys.modules[m] is not None)
loaded = sorted(m for m in sys.modules if m == "symprop" or m.startswith("symprop."))
print(loaded)
"""


def _run_without_sympy(load):
    code = _NO_SYMPY_RUN.format(load=load)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_reference_file_imports_no_sympy_and_nothing_from_symprop_but_errors():
    # loaded from its file, so that only its own imports run (not symprop.nn's package __init__)
    path = Path(R.__file__)
    load = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('reference_alone', {str(path)!r})\n"
        "R = importlib.util.module_from_spec(spec); spec.loader.exec_module(R)"
    )
    assert _run_without_sympy(load) == "['symprop', 'symprop.errors']"


def test_symprop_nn_reference_imports_without_sympy():
    # the ordinary import path: symprop.nn's package __init__ must not pull SymPy in either
    _run_without_sympy("from symprop.nn import reference as R")


def test_dropout_p_zero_in_training_needs_no_mask_and_masks_are_zero_or_one():
    torch.manual_seed(11)
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.0), nn.Tanh())
    g = rng(39)
    check_model(model, g.normal(size=(4, 3)), g.normal(size=(4, 3)), nn.MSELoss())
    with pytest.raises(ValueError, match=r"mask entries must be 0 or 1 \(dropped or kept\), got 0.5"):
        R.dropout(np.ones(2), 0.5, training=True, mask=np.array([1.0, 0.5]))


def test_symprop_quadratic_loss_object_by_class_name():
    class QuadraticLoss:  # symprop.nn's own loss class: 1/(2N) sum (a - y)^2 by default
        reduction = "batchmean"

    a, y = rng(40).normal(size=(4, 3)), rng(41).normal(size=(4, 3))
    assert R.loss_value(QuadraticLoss(), a, y) == pytest.approx(((a - y) ** 2).sum() / 8, rel=1e-14)
    at = t(a)
    (((at - t(y, False)) ** 2).sum() / 8).backward()
    close(R.loss_backward(QuadraticLoss(), a, y), at.grad.numpy())


def test_symprop_nn_models_walk_like_their_torch_twins():
    """symprop.nn's own Sequential/Residual/... (issue 14) against the torch model with the same layers."""
    import symprop.nn as snn

    if not hasattr(snn, "Sequential"):
        pytest.skip("symprop.nn's layer classes (issue 14) are not on this branch yet")
    torch.manual_seed(12)
    g = rng(42)
    X, Y = g.normal(size=(6, 3)), g.integers(0, 2, size=6)
    tm = nn.Sequential(
        nn.Linear(3, 4),
        nn.BatchNorm1d(4),
        nn.GELU(approximate="tanh"),
        Residual(nn.Sequential(nn.LayerNorm(4), nn.Linear(4, 4, bias=False), nn.Softplus(beta=2.0))),
        nn.Dropout(0.4),
        nn.Linear(4, 2),
    ).double()
    seen = {}
    hook = tm[4].register_forward_hook(lambda m, i, o: seen.update(mask=(o != 0).double().numpy()))
    state = state_of(tm)
    _, _, grads_t = torch_grads(tm, torch.tensor(X), torch.tensor(Y), nn.CrossEntropyLoss())
    hook.remove()
    sm = snn.Sequential(
        snn.Linear(3, 4),
        snn.BatchNorm1d(4),
        snn.GELU(approximate="tanh"),
        snn.Residual(snn.Sequential(snn.LayerNorm(4), snn.Linear(4, 4, bias=False), snn.Softplus(beta=2.0))),
        snn.Dropout(0.4, mask=seen["mask"]),
        snn.Linear(4, 2),
    )
    grads = R.gradient(sm, state, X, Y, loss=snn.CrossEntropyLoss())
    assert set(grads) == set(grads_t)
    for key in grads_t:
        close(grads[key], grads_t[key], err_msg=key)


def test_a_bare_module_is_a_model_with_unprefixed_names():
    torch.manual_seed(13)
    g = rng(43)
    X, Y = g.normal(size=(4, 3)), g.normal(size=(4, 2))
    assert set(check_model(nn.Linear(3, 2), X, Y, nn.MSELoss())) == {"weight", "bias"}
    block = Residual(nn.Sequential(nn.Linear(3, 3), nn.ELU()))
    assert set(check_model(block, X, g.normal(size=(4, 3)), nn.L1Loss())) == {
        "block.0.weight",
        "block.0.bias",
    }
    with pytest.raises(UnsupportedError, match="^unsupported module Conv3d at the top; supported: "):
        R.forward(nn.Conv3d(1, 1, 1), {}, np.zeros((1, 1, 2, 2, 2)))


def _random_block(g, width, depth):
    """A random stack of width-preserving layers, nested Sequentials and Residual blocks included."""
    layers = []
    for _ in range(int(g.integers(1, 4))):
        kind = g.choice(
            ["linear", "act", "ln", "bn", "drop", "res", "seq"] if depth < 2 else ["linear", "act", "ln", "bn"]
        )
        if kind == "linear":
            layers.append(nn.Linear(width, width, bias=bool(g.integers(0, 2))))
        elif kind == "act":
            layers.append(ALL_ACTIVATIONS[int(g.integers(len(ALL_ACTIVATIONS)))])
        elif kind == "ln":
            layers.append(nn.LayerNorm(width, elementwise_affine=bool(g.integers(0, 2))))
        elif kind == "bn":
            layers.append(nn.BatchNorm1d(width, affine=bool(g.integers(0, 2))))
        elif kind == "drop":
            layers.append(nn.Dropout(0.3))
        elif kind == "res":
            layers.append(Residual(_random_block(g, width, depth + 1)))
        else:
            layers.append(_random_block(g, width, depth + 1))
    return nn.Sequential(*layers)


@pytest.mark.parametrize("seed", range(12))
def test_random_nested_residual_models_match_torch(seed):
    g = rng(100 + seed)
    torch.manual_seed(seed)
    width, n = 4, 6
    model = nn.Sequential(nn.Linear(3, width), _random_block(g, width, 0), nn.Linear(width, 3)).double()
    training = bool(g.integers(0, 2))
    model.train(training)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape))
            elif name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape) + 0.5)
    X = g.normal(size=(n, 3))
    masks = {}
    if training:  # record torch's dropout masks, then replay the same draw
        hooks = []
        for name, m in model.named_modules():
            if isinstance(m, nn.Dropout):
                hooks.append(
                    m.register_forward_hook(lambda m, i, o, name=name: masks.update({name: (o != 0).double().numpy()}))
                )
        torch.manual_seed(seed)
        model(torch.tensor(X))
        for h in hooks:
            h.remove()
        torch.manual_seed(seed)
    loss_fn, Y = [
        (nn.MSELoss(), g.normal(size=(n, 3))),
        (nn.CrossEntropyLoss(), g.integers(0, 3, size=n)),
        (nn.BCEWithLogitsLoss(reduction="sum"), g.uniform(size=(n, 3))),
    ][seed % 3]
    check_model(model, X, Y, loss_fn, masks=masks or None)


def test_a_module_instance_used_twice_runs_twice_and_ties_its_weights():
    # torch's named_children() lists a repeated instance once, but Sequential runs it every time;
    # named_parameters() names a tied Linear once (first place) with the sum of both uses' gradients
    torch.manual_seed(14)
    act, shared = nn.GELU(), nn.Linear(3, 3)
    model = nn.Sequential(shared, act, act, shared, nn.Tanh(), nn.Linear(3, 2))
    g = rng(44)
    grads = check_model(model, g.normal(size=(5, 3)), g.normal(size=(5, 2)), nn.MSELoss())
    assert "0.weight" in grads and "3.weight" not in grads


def _random_cnn(g, d):
    """Conv/pool stacks with random stride, padding, dilation and window sizes that keep a valid size."""
    conv, maxp, avgp, bn = (
        (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d, nn.BatchNorm1d)
        if d == 1
        else (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.BatchNorm2d)
    )
    size, channels = 9, 2
    layers = []
    for _ in range(int(g.integers(1, 4))):
        kind = g.choice(["conv", "max", "avg", "bn", "act"])
        if kind == "conv":
            k, s, dl = (
                int(g.integers(1, 4)),
                int(g.integers(1, 3)),
                int(g.integers(1, 3)),
            )
            p = int(g.integers(0, 3))
            out = (size + 2 * p - dl * (k - 1) - 1) // s + 1
            if out < 2:
                continue
            c_out = int(g.integers(1, 4))
            layers.append(
                conv(
                    channels,
                    c_out,
                    k,
                    stride=s,
                    padding=p,
                    dilation=dl,
                    bias=bool(g.integers(0, 2)),
                )
            )
            size, channels = out, c_out
        elif kind in ("max", "avg"):
            k = int(g.integers(1, 4))
            s, p = int(g.integers(1, k + 1)), int(g.integers(0, k // 2 + 1))
            dl = int(g.integers(1, 3)) if kind == "max" else 1
            out = (size + 2 * p - dl * (k - 1) - 1) // s + 1
            if out < 2:
                continue
            if kind == "max":
                layers.append(maxp(k, stride=s, padding=p, dilation=dl))
            else:
                layers.append(avgp(k, stride=s, padding=p, count_include_pad=bool(g.integers(0, 2))))
            size = out
        elif kind == "bn":
            layers.append(bn(channels))
        else:
            layers.append(ALL_ACTIVATIONS[int(g.integers(len(ALL_ACTIVATIONS)))])
    layers += [nn.Flatten(), nn.Linear(channels * size**d, 3)]
    return nn.Sequential(*layers), (2,) + (9,) * d


@pytest.mark.parametrize("seed", range(10))
def test_random_cnns_match_torch(seed):
    g = rng(300 + seed)
    torch.manual_seed(seed)
    model, shape = _random_cnn(g, 1 + seed % 2)
    # seeds 0, 3, 6, 9: integer inputs, so max-pool windows hold exact ties
    X = g.integers(-2, 3, size=(3,) + shape).astype(float) if seed % 3 == 0 else g.normal(size=(3,) + shape)
    check_model(model, X, g.integers(0, 3, size=3), nn.CrossEntropyLoss())
