"""Conv1d/Conv2d, MaxPool1d/2d, AvgPool1d/2d (issue 15) against independent oracles.

* PyTorch float64 autograd on the same state dict: random small CNNs (1-D and 2-D; stride, padding,
  dilation; both poolings), with exact ties in max-pool windows (integer inputs and weights, and ReLU
  zeros), on FLOAT, MP(50) and SYMBOLIC (exact numbers, then evaluated);
* sympy.diff of each kind's forward on generic symbols: the local backward rule (input delta and
  parameter gradients) is the derivative of the forward (polynomial kinds exactly; MaxPool at random
  distinct rational points, plus the tie convention against torch);
* bad arguments give one-line errors.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

torch = pytest.importorskip("torch")

from symprop import nn
from symprop.nn import (
    FLOAT,
    MP,
    SYMBOLIC,
    AvgPool1d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    CrossEntropyLoss,
    Flatten,
    Linear,
    MaxPool1d,
    MaxPool2d,
    MSELoss,
    ReLU,
    Sequential,
    ShapeError,
    Tanh,
)
from symprop.nn.conv import input_delta_full_correlation

DTYPE = torch.float64


def to_torch(m):
    T = torch.nn
    kind = type(m).__name__
    if kind == "Sequential":
        return T.Sequential(*(to_torch(c) for c in m))
    if kind in ("Conv1d", "Conv2d"):
        return getattr(T, kind)(
            m.in_channels,
            m.out_channels,
            m.kernel_size,
            stride=m.stride,
            padding=m.padding,
            dilation=m.dilation,
            bias=m.bias,
            dtype=DTYPE,
        )
    if kind in ("MaxPool1d", "MaxPool2d"):
        return getattr(T, kind)(m.kernel_size, stride=m.stride, padding=m.padding, dilation=m.dilation)
    if kind == "AvgPool1d":
        return T.AvgPool1d(m.kernel_size, stride=m.stride, padding=m.padding, count_include_pad=m.count_include_pad)
    if kind == "AvgPool2d":
        return T.AvgPool2d(
            m.kernel_size,
            stride=m.stride,
            padding=m.padding,
            count_include_pad=m.count_include_pad,
            divisor_override=m.divisor_override,
        )
    if kind == "Linear":
        return T.Linear(m.in_features, m.out_features, bias=m.bias, dtype=DTYPE)
    if kind == "Flatten":
        return T.Flatten(m.start_dim, m.end_dim)
    return getattr(T, kind)()


def torch_gradient(model, values, X, Y, loss_fn):
    tm = to_torch(model)
    tm.load_state_dict({k: torch.tensor(v) for k, v in values.items()})
    xt = torch.tensor(X, dtype=DTYPE, requires_grad=True)
    value = loss_fn(tm(xt), torch.as_tensor(Y))
    value.backward()
    return float(value.detach()), {k: p.grad.numpy() for k, p in tm.named_parameters()}


def evaluated(a):
    return np.array([float(sp.N(e, 30)) for e in np.asarray(a, dtype=object).flat]).reshape(np.shape(a))


def check(model, values, X, Y, loss, torch_loss, ariths, rtol=1e-10, atol=1e-12):
    t_value, t_grad = torch_gradient(model, values, X, Y, torch_loss)
    for ar in ariths:
        value, grad = nn.value_and_gradient(model, values, X, Y, loss=loss, arith=ar)
        if ar is SYMBOLIC:
            value, grad = float(sp.N(value, 30)), {k: evaluated(g) for k, g in grad.items()}
        assert float(value) == pytest.approx(t_value, rel=rtol, abs=atol), ar
        assert list(grad) == list(t_grad), ar
        for k in t_grad:
            np.testing.assert_allclose(
                np.asarray(grad[k], dtype=float), t_grad[k], rtol=rtol, atol=atol, err_msg=f"{ar} {k}"
            )


def random_cnn(rng, nd):
    """A random small CNN: conv (random stride/padding/dilation), ReLU, a pooling, conv or not, Flatten, Linear."""
    Conv, Max, Avg = (Conv1d, MaxPool1d, AvgPool1d) if nd == 1 else (Conv2d, MaxPool2d, AvgPool2d)
    size = int(rng.integers(7, 10))
    cin, c1 = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    k = tuple(int(v) for v in rng.integers(1, 4, size=nd))
    layers = [
        Conv(
            cin,
            c1,
            k if nd == 2 else k[0],
            stride=int(rng.integers(1, 3)),
            padding=int(rng.integers(0, 2)),
            dilation=int(rng.integers(1, 3)),
            bias=bool(rng.integers(0, 2)),
        ),
        ReLU(),
    ]
    pk = int(rng.integers(2, 4))
    pool_kw = {"kernel_size": pk, "stride": int(rng.integers(1, pk + 1)), "padding": int(rng.integers(0, pk // 2 + 1))}
    if rng.integers(0, 2):
        layers.append(Max(**pool_kw, dilation=int(rng.integers(1, 3)) if pool_kw["padding"] == 0 else 1))
    else:
        layers.append(Avg(**pool_kw, count_include_pad=bool(rng.integers(0, 2))))
    if rng.integers(0, 2):
        layers += [Conv(c1, 2, 2, padding=1), Tanh()]
    in_shape = (cin,) + (size,) * nd
    body = Sequential(*layers)
    try:
        flat = int(np.prod(body.out_shape(in_shape)))
    except ShapeError:
        return random_cnn(rng, nd)
    return Sequential(*layers, Flatten(), Linear(flat, 3)), in_shape


@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("seed", range(6))
def test_random_cnn_float_mp_torch(nd, seed):
    rng = np.random.default_rng(100 * nd + seed)
    model, in_shape = random_cnn(rng, nd)
    values = {k: v + 0.3 * rng.normal(size=v.shape) for k, v in nn.init_values(model, in_shape, seed=seed).items()}
    X = rng.normal(size=(3,) + in_shape)
    Y = rng.integers(0, 3, size=3)
    check(model, values, X, Y, CrossEntropyLoss(), torch.nn.functional.cross_entropy, (FLOAT, MP(50)))


@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("seed", range(3))
def test_random_cnn_exact_ties_all_arithmetics(nd, seed):
    """Integer inputs and weights: conv outputs are exact integers, so max-pool windows hold exact ties
    (also ReLU's zeros); FLOAT, MP and SYMBOLIC all route the gradient to the first maximum, as torch."""
    rng = np.random.default_rng(7 + 10 * nd + seed)
    model, in_shape = random_cnn(rng, nd)
    values = {
        k: rng.integers(-1, 2, size=v.shape).astype(float)
        for k, v in nn.init_values(model, in_shape, seed=seed).items()
    }
    X = rng.integers(-2, 3, size=(2,) + in_shape).astype(float)
    Y = rng.normal(size=(2, 3))
    check(model, values, X, Y, MSELoss(), torch.nn.functional.mse_loss, (FLOAT, MP(50), SYMBOLIC))


@pytest.mark.parametrize(
    "pool",
    [
        MaxPool2d(2),
        MaxPool2d(3, stride=1, padding=1),
        MaxPool2d(2, dilation=2, stride=1),
        MaxPool1d(3, stride=2, padding=1),
    ],
)
def test_maxpool_exact_tie_goes_to_first_maximum(pool):
    """Windows full of equal entries: the gradient goes to the first entry (row-major) only, as torch."""
    nd = pool.nd
    X = np.ones((1, 1) + (5,) * nd)
    X[(0, 0) + (2,) * nd] = 2.0  # one strict maximum among the ties
    model = Sequential(pool, Flatten())
    out = int(np.prod(model.out_shape(X.shape[1:])))
    Y = np.arange(out, dtype=float).reshape(1, out)
    xt = torch.tensor(X, requires_grad=True)
    torch.nn.functional.mse_loss(to_torch(model)(xt), torch.tensor(Y)).backward()
    for ar in (FLOAT, MP(30), SYMBOLIC):
        x = ar.asarray(X)
        y, back = model.forward(ar, x, {}, {})
        dy = ar.asarray(2 * (np.asarray(y, dtype=float) - Y) / Y.size)
        dx, _ = back(dy)
        dx = np.asarray(dx, dtype=float)
        np.testing.assert_array_equal(dx != 0, xt.grad.numpy() != 0, err_msg=str(ar))  # who gets the gradient
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-14, atol=0, err_msg=str(ar))


def test_symbolic_tie_is_decided_exactly():
    """1/3 and 2/6 tie exactly; 1/3 and the double nearest 1/3 do not (SYMBOLIC compares exact numbers)."""
    x = np.array([[[sp.Rational(1, 3), sp.Rational(2, 6), sp.Rational(1, 4)]]], dtype=object)
    y, back = MaxPool1d(3).forward(SYMBOLIC, x, {}, {})
    assert y[0, 0, 0] == sp.Rational(1, 3)
    dx, _ = back(np.array([[[sp.Integer(1)]]], dtype=object))
    assert list(dx.flat) == [1, 0, 0]
    x2 = np.array([[[sp.Rational(1, 3), sp.Rational(*Fraction(1 / 3).as_integer_ratio()), 0]]], dtype=object)
    dx2, _ = MaxPool1d(3).forward(SYMBOLIC, x2, {}, {})[1](np.array([[[sp.Integer(1)]]], dtype=object))
    assert list(dx2.flat) == [1, 0, 0]  # 1/3 > 0.33333333333333331483...
    x3 = np.array([[[sp.Rational(*Fraction(1 / 3).as_integer_ratio()), sp.Rational(1, 3), 0]]], dtype=object)
    dx3, _ = MaxPool1d(3).forward(SYMBOLIC, x3, {}, {})[1](np.array([[[sp.Integer(1)]]], dtype=object))
    assert list(dx3.flat) == [0, 1, 0]


# ----------------------------------------------------------------------------- local rules = derivatives


def _symbols(name, shape):
    arr = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        arr[idx] = sp.Symbol(f"{name}{'_'.join(map(str, idx))}", real=True)
    return arr


def _local_check(layer, in_shape, points=None):
    """d(sum y * g)/dx and /dparams from sympy.diff of the forward equal the layer's backprop(g)."""
    x = _symbols("x", (1,) + in_shape)
    params = {k: _symbols(k[0], s) for k, s in layer.param_shapes(in_shape).items()}
    y, back = layer.forward(SYMBOLIC, x, params, {})
    g = _symbols("g", y.shape)
    C = sum((a * b for a, b in zip(y.flat, g.flat)), sp.S.Zero)
    dx, grads = back(g)
    pairs = [(dx, x)] + [(grads[k], params[k]) for k in params]
    assert set(grads) == set(params)
    for rule, wrt in pairs:
        for r, v in zip(rule.flat, wrt.flat):
            d = sp.diff(C, v)
            if points is None:
                assert sp.expand(r - d) == 0, (layer, v)
            else:
                for pt in points:
                    assert sp.simplify((r - d).subs(pt)) == 0, (layer, v, pt)


@pytest.mark.parametrize(
    "layer,in_shape",
    [
        (Conv1d(2, 2, 2, stride=2, padding=1, dilation=2), (2, 5)),
        (Conv1d(1, 2, 3, padding=1, bias=False), (1, 4)),
        (Conv2d(2, 1, (2, 3), stride=(2, 1), padding=(1, 0), dilation=(1, 2)), (2, 4, 5)),
        (AvgPool1d(3, stride=2, padding=1), (1, 6)),
        (AvgPool2d(2, stride=1, padding=1, count_include_pad=False), (1, 3, 3)),
        (AvgPool2d(3, stride=2, padding=1, divisor_override=4), (2, 4, 4)),
    ],
)
def test_local_rule_is_the_derivative_exactly(layer, in_shape):
    _local_check(layer, in_shape)


@pytest.mark.parametrize(
    "layer,in_shape",
    [
        (MaxPool1d(2), (1, 4)),
        (MaxPool1d(3, stride=2, padding=1, dilation=1), (1, 5)),
        (MaxPool2d(2, stride=1), (1, 3, 3)),
        (MaxPool2d((2, 2), stride=2, padding=1), (1, 3, 3)),
    ],
)
def test_maxpool_local_rule_is_the_derivative_at_distinct_points(layer, in_shape):
    rng = np.random.default_rng(3)
    n = int(np.prod(in_shape))
    out = int(np.prod(layer.out_shape(in_shape)))
    points = []
    for _ in range(3):
        vals = rng.permutation(n)  # distinct entries: no ties, the derivative exists
        pt = {
            sp.Symbol(f"x0_{'_'.join(map(str, idx))}", real=True): sp.Rational(int(v), 7)
            for idx, v in zip(np.ndindex(*in_shape), vals)
        }
        pt |= {
            sp.Symbol(f"g{'_'.join(map(str, idx))}", real=True): sp.Integer(int(rng.integers(-3, 4)))
            for idx in np.ndindex(1, *layer.out_shape(in_shape))
        }
        points.append(pt)
    assert out >= 1
    _local_check(layer, in_shape, points)


def test_full_correlation_with_flipped_kernel_equals_the_float_fast_path():
    """FLOAT's col2im input delta and the full correlation of the stretched delta with the flipped kernel
    (what MP/SYMBOLIC run) are the same numbers; a kernel that is NOT flipped gives different ones."""
    rng = np.random.default_rng(0)
    layer = Conv2d(2, 3, (2, 3), stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    x = rng.normal(size=(2, 2, 7, 8))
    w = rng.normal(size=(3, 2, 2, 3))
    y, back = layer.forward(FLOAT, x, {"weight": w, "bias": np.zeros(3)}, {})
    dy = rng.normal(size=y.shape)
    dx, _ = back(dy)
    full = input_delta_full_correlation(
        FLOAT, dy, w, layer.kernel_size, layer.stride, layer.padding, layer.dilation, x.shape[2:]
    )
    np.testing.assert_allclose(full, dx, rtol=1e-12, atol=1e-12)
    unflipped = input_delta_full_correlation(
        FLOAT, dy, w[:, :, ::-1, ::-1], layer.kernel_size, layer.stride, layer.padding, layer.dilation, x.shape[2:]
    )
    assert np.abs(unflipped - dx).max() > 1e-3


def test_closed_form_derivative_matches_gradient():
    """The SymPy closed form of a tiny CNN (conv, ReLU, max-pool, dense) differentiated by sympy.diff at a
    point equals the FLOAT reverse pass there."""
    model = Sequential(Conv1d(1, 1, 2), ReLU(), MaxPool1d(2), Flatten(), Linear(2, 1))
    X = np.array([[[0.5, -1.0, 2.0, 1.5, -0.5]]])
    Y = np.array([[0.25]])
    values = {
        "0.weight": np.array([[[0.75, -0.5]]]),
        "0.bias": np.array([0.125]),
        "4.weight": np.array([[1.5, -2.0]]),
        "4.bias": np.array([0.5]),
    }
    L = nn.closed_form(model, X, Y, loss="mse")
    syms = nn.parameter_symbols(model, X.shape[1:])
    point = {s: sp.nsimplify(values[k][idx]) for k, arr in syms.items() for idx, s in np.ndenumerate(arr)}
    g = nn.gradient(model, values, X, Y, loss="mse")
    for k, arr in syms.items():
        for idx, s in np.ndenumerate(arr):
            assert float(sp.diff(L, s).subs(point).doit()) == pytest.approx(g[k][idx], abs=1e-12), (k, idx)


# ----------------------------------------------------------------------------- structure and errors


def test_parameter_names_shapes_and_repr_as_torch():
    for m, in_shape in (
        (Conv2d(3, 6, 5, stride=2, padding=1, bias=False), (3, 12, 12)),
        (Conv1d(2, 4, 3, dilation=2), (2, 9)),
    ):
        t = to_torch(m)
        assert {k: tuple(v.shape) for k, v in t.state_dict().items()} == m.param_shapes(in_shape)
        assert repr(m) == repr(t)
        assert m.out_shape(in_shape) == tuple(t(torch.zeros((1,) + in_shape, dtype=DTYPE)).shape[1:])
    for m in (MaxPool2d(3, stride=2, padding=1), AvgPool1d(4, padding=2), MaxPool1d(2, dilation=2)):
        in_shape = (2, 9) if m.nd == 1 else (2, 9, 9)
        assert m.out_shape(in_shape) == tuple(to_torch(m)(torch.zeros((1,) + in_shape, dtype=DTYPE)).shape[1:])


def test_frozen_and_hashable():
    m = Conv2d(1, 2, 3)
    assert m == Conv2d(1, 2, (3, 3)) and hash(m) == hash(Conv2d(1, 2, (3, 3)))
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        m.stride = 2


@pytest.mark.parametrize(
    "make,exc,words",
    [
        (lambda: Conv2d(2, 4, 3, groups=2), ValueError, "groups=1"),
        (lambda: Conv2d(2, 4, 0), ValueError, "kernel_size"),
        (lambda: Conv2d(2, 4, (3,)), TypeError, "tuple of 2"),
        (lambda: Conv1d(0, 4, 3), ValueError, "in_channels"),
        (lambda: Conv2d(1, 1, 3, stride=2, padding="same"), ValueError, "same"),
        (lambda: Conv2d(1, 1, 3, padding="full"), ValueError, "'valid' or 'same'"),
        (lambda: Conv2d(1, 1, 3, padding_mode="reflect"), ValueError, "padding_mode"),
        (lambda: Conv2d(1, 1, 3, bias=1), TypeError, "bias"),
        (lambda: MaxPool2d(2, padding=2), ValueError, "at most half"),
        (lambda: MaxPool2d(2, ceil_mode=True), ValueError, "ceil_mode"),
        (lambda: MaxPool1d(2, return_indices=True), ValueError, "return_indices"),
        (lambda: AvgPool2d(2, divisor_override=0), ValueError, "divisor_override"),
        (lambda: AvgPool1d(-1), ValueError, "kernel_size"),
    ],
)
def test_bad_arguments_one_line_errors(make, exc, words):
    with pytest.raises(exc) as info:
        make()
    msg = str(info.value)
    assert words in msg and "\n" not in msg


@pytest.mark.parametrize(
    "layer,in_shape,words",
    [
        (Conv2d(3, 4, 3), (2, 8, 8), "3 input channels"),
        (Conv2d(1, 4, 5), (1, 3, 3), "smaller than the dilated kernel"),
        (Conv1d(1, 4, 2), (1, 4, 4), "(N, C, L)"),
        (MaxPool2d(2), (1, 4), "(N, C, H, W)"),
        (AvgPool1d(5), (1, 3), "smaller"),
    ],
)
def test_shape_errors(layer, in_shape, words):
    with pytest.raises(ShapeError) as info:
        layer.out_shape(in_shape)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_fan_in_used_by_init_values():
    m = Sequential(Conv2d(2, 3, 3))
    v = nn.init_values(m, (2, 5, 5), seed=0)
    bound = 1 / np.sqrt(2 * 9)
    assert np.abs(v["0.weight"]).max() <= bound and np.abs(v["0.weight"]).max() > bound / 2


def test_latex_hooks():
    c = Conv2d(1, 1, 2, stride=2, padding=1, dilation=2)
    assert r"\tilde{a^{[l-1]}}" in c.latex_forward() and "2i+2u" in c.latex_forward()
    assert "K_{1}-1-u" in c.latex_delta() and r"\frac{\partial C}{\partial W_{f c u v}}" in c.latex_delta()
    assert r"\max_{u}" in MaxPool1d(2).latex_forward()
    assert "first" in MaxPool2d(2).latex_delta()
    assert r"\frac{1}{4}" in AvgPool2d(2).latex_forward()
    for m in (c, MaxPool2d(2), AvgPool1d(3)):
        for text in (m.latex_forward(), m.latex_delta()):
            assert text.count("{") == text.count("}")
