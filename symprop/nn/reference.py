"""The independent reference: forward and backward of every layer kind of ``symprop.nn``, in NumPy only.

This module is the oracle the engine is checked against, so it is written by hand and shares no source
with the engine: it imports no SymPy and nothing from symprop except ``symprop.errors`` (a test runs it
with ``sympy`` blocked in ``sys.modules``). Layouts, argument names and conventions are PyTorch's:

* every layer kind has a forward ``name(x, ...)`` and a backward ``name_backward(dy, x, ...)`` taking the
  same arguments after ``dy`` (the gradient of the loss with respect to the layer's output). Layers without
  parameters return ``dx``; layers with parameters return ``(dx, {"weight": dW, "bias": db})`` (keys as
  torch's parameter names, ``bias`` only when there is one);
* losses: ``name(input, target, reduction="mean")`` returns the loss (a float) and
  ``name_backward(input, target, reduction="mean")`` its gradient with respect to ``input``;
* ``forward(model, state_dict, X)`` and ``gradient(model, state_dict, X, Y, loss=..., reduction=...)``
  walk a model (a ``torch.nn.Sequential`` of supported torch modules, nested ones included, or symprop's
  own ``Sequential``/``Residual``) by class name and torch attribute names, and return gradients keyed as
  the state dict ("0.weight", "1.0.bias", ...).

Conventions at kinks and ties are PyTorch's: relu'(0) = 0; leaky_relu'(0) = negative_slope; elu'(0) =
alpha; d|x|/dx at 0 is 0 (l1); softplus is the identity above ``threshold`` (in units of beta * x); a
max-pooling window sends its gradient to its FIRST maximum in row-major order (padding is -inf and never
wins). Plain loops over kernel offsets are used where they keep the index arithmetic visible; everything
else is vectorised over samples, channels and positions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from symprop.errors import UnsupportedError, listing, suggest

# ============================================================================= activations
# Each f(x) beside its backward dx = dy * f'(x), with torch's value of f' at the kinks.


def identity(x):
    return np.asarray(x, dtype=float)


def identity_backward(dy, x):
    return np.asarray(dy, dtype=float)


def relu(x):
    return np.maximum(x, 0.0)


def relu_backward(dy, x):
    return dy * (x > 0)  # relu'(0) = 0, as torch (threshold_backward on the output)


def leaky_relu(x, negative_slope=0.01):
    return np.where(x > 0, x, negative_slope * x)


def leaky_relu_backward(dy, x, negative_slope=0.01):
    return dy * np.where(x > 0, 1.0, negative_slope)  # slope at 0, as torch


def sigmoid(x):
    x = np.asarray(x, dtype=float)
    return np.exp(-np.logaddexp(0.0, -x))  # 1 / (1 + e^-x) without overflow


def sigmoid_backward(dy, x):
    s = sigmoid(x)
    return dy * s * (1.0 - s)


def tanh(x):
    return np.tanh(x)


def tanh_backward(dy, x):
    t = np.tanh(x)
    return dy * (1.0 - t * t)


def softplus(x, beta=1.0, threshold=20.0):
    x = np.asarray(x, dtype=float)
    bx = beta * x
    return np.where(bx > threshold, x, np.logaddexp(0.0, bx) / beta)  # linear above the threshold


def softplus_backward(dy, x, beta=1.0, threshold=20.0):
    bx = beta * np.asarray(x, dtype=float)
    return dy * np.where(bx > threshold, 1.0, sigmoid(bx))


def elu(x, alpha=1.0):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_backward(dy, x, alpha=1.0):
    x = np.asarray(x, dtype=float)
    return dy * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))  # alpha at 0, as torch


def silu(x):
    return x * sigmoid(x)


def silu_backward(dy, x):
    s = sigmoid(x)
    return dy * s * (1.0 + x * (1.0 - s))


_erf_objects = np.frompyfunc(math.erf, 1, 1)


def _erf(x):
    """erf elementwise: NumPy has none, so math.erf (accurate to about an ulp) entry by entry."""
    x = np.asarray(x, dtype=float)
    return _erf_objects(x).astype(float) if x.size else np.zeros(x.shape)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


def gelu(x, approximate="none"):
    x = np.asarray(x, dtype=float)
    if _gelu_mode(approximate) == "tanh":
        return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x**3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))  # x Phi(x)


def gelu_backward(dy, x, approximate="none"):
    x = np.asarray(x, dtype=float)
    if _gelu_mode(approximate) == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x**3))
        du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * x * x)
        return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return dy * (cdf + x * pdf)  # d/dx [x Phi(x)] = Phi(x) + x phi(x)


def _gelu_mode(approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f'GELU approximate must be "none" or "tanh" (as torch), got {approximate!r}')
    return approximate


def softmax(x, dim=-1):
    x = np.asarray(x, dtype=float)
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def softmax_backward(dy, x, dim=-1):
    s = softmax(x, dim)
    return s * (dy - (dy * s).sum(axis=dim, keepdims=True))  # J^T dy with J = diag(s) - s s^T


def log_softmax(x, dim=-1):
    x = np.asarray(x, dtype=float)
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def log_softmax_backward(dy, x, dim=-1):
    dy = np.asarray(dy, dtype=float)
    return dy - np.exp(log_softmax(x, dim)) * dy.sum(axis=dim, keepdims=True)  # dy - s sum(dy)


# ============================================================================= shape and masking


def flatten(x, start_dim=1, end_dim=-1):
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        return x.reshape(1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a {x.ndim}-d input")
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1 :])


def flatten_backward(dy, x, start_dim=1, end_dim=-1):
    return np.asarray(dy, dtype=float).reshape(np.shape(x))


def dropout(x, p=0.5, training=False, mask=None):
    """Eval mode: the identity. Training mode: x * mask / (1 - p) for the given 0/1 mask (torch draws it)."""
    x = np.asarray(x, dtype=float)
    if not training:
        return x.copy()
    return x * _dropout_scale(x.shape, p, mask)


def dropout_backward(dy, x, p=0.5, training=False, mask=None):
    dy = np.asarray(dy, dtype=float)
    if not training:
        return dy.copy()
    return dy * _dropout_scale(np.shape(x), p, mask)


def _dropout_scale(shape, p, mask):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1], got {p!r}")
    if mask is None:
        if p == 0.0:
            return np.ones(shape)  # nothing is dropped: torch's mask is all ones
        raise ValueError("dropout in training mode needs its mask (an array of 0 and 1 shaped as the input)")
    mask = np.asarray(mask, dtype=float)
    if not np.all((mask == 0) | (mask == 1)):
        bad = float(mask[(mask != 0) & (mask != 1)].ravel()[0])
        raise ValueError(f"dropout mask entries must be 0 or 1 (dropped or kept), got {bad!r}")
    try:
        mask = np.broadcast_to(mask, shape)
    except ValueError:
        raise ValueError(f"dropout mask of shape {mask.shape} does not fit the input of shape {tuple(shape)}") from None
    if p == 1.0:
        return np.zeros(shape)  # torch: everything dropped
    return mask / (1.0 - p)


# ============================================================================= linear


def linear(x, weight, bias=None):
    """y = x W^T + b for x (..., in), weight (out, in), bias (out,)."""
    x, weight = np.asarray(x, dtype=float), np.asarray(weight, dtype=float)
    _check_linear(x, weight, bias)
    y = x @ weight.T
    return y if bias is None else y + bias


def linear_backward(dy, x, weight, bias=None):
    x, weight, dy = (
        np.asarray(x, dtype=float),
        np.asarray(weight, dtype=float),
        np.asarray(dy, dtype=float),
    )
    _check_linear(x, weight, bias)
    x2, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, weight.shape[0])
    grads = {"weight": dy2.T @ x2}  # dL/dW_ij = sum_n dy_ni x_nj
    if bias is not None:
        grads["bias"] = dy2.sum(axis=0)
    return dy @ weight, grads  # dL/dx = dy W


def _check_linear(x, weight, bias):
    if weight.ndim != 2:
        raise ValueError(f"linear weight must be (out_features, in_features), got shape {weight.shape}")
    if x.shape[-1:] != weight.shape[1:]:
        raise ValueError(
            f"linear input has {x.shape[-1:] or 'no'} features (shape {x.shape}) but weight {weight.shape} "
            f"expects {weight.shape[1]}"
        )
    if bias is not None and np.shape(bias) != (weight.shape[0],):
        raise ValueError(f"linear bias must have shape ({weight.shape[0]},), got {np.shape(bias)}")


# ============================================================================= normalisation


def _normalize(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)  # biased variance, as torch normalises
    inv_std = 1.0 / np.sqrt(var + eps)
    return (x - mean) * inv_std, inv_std


def _normalize_backward(g, xhat, inv_std, axes):
    """dx for xhat = (x - mean) / sqrt(var + eps) with the statistics over ``axes``, given g = dL/dxhat.

    Every x in a group moves its mean and variance, so dx = inv_std (g - mean(g) - xhat mean(g xhat)).
    """
    return inv_std * (g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True))


def _norm_axes_layer(x, normalized_shape):
    shape = tuple(normalized_shape) if np.ndim(normalized_shape) else (int(normalized_shape),)
    k = len(shape)
    if k == 0 or x.shape[x.ndim - k :] != shape or x.ndim < k:
        raise ValueError(f"layer_norm normalized_shape {shape} does not match the last dims of the input {x.shape}")
    return tuple(range(x.ndim - k, x.ndim))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    x = np.asarray(x, dtype=float)
    xhat, _ = _normalize(x, _norm_axes_layer(x, normalized_shape), eps)
    y = xhat if weight is None else xhat * weight
    return y if bias is None else y + bias


def layer_norm_backward(dy, x, normalized_shape, weight=None, bias=None, eps=1e-5):
    x, dy = np.asarray(x, dtype=float), np.asarray(dy, dtype=float)
    axes = _norm_axes_layer(x, normalized_shape)
    xhat, inv_std = _normalize(x, axes, eps)
    g = dy if weight is None else dy * weight
    outer = tuple(range(x.ndim - len(axes)))  # the sample axes: parameters are shared over them
    grads = {}
    if weight is not None:
        grads["weight"] = (dy * xhat).sum(axis=outer)
    if bias is not None:
        grads["bias"] = dy.sum(axis=outer)
    return _normalize_backward(g, xhat, inv_std, axes), grads


def _bn_axes(x, num_features):
    if x.ndim < 2:
        raise ValueError(f"batch_norm expects input (N, C) or (N, C, ...), got shape {x.shape}")
    if num_features is not None and x.shape[1] != num_features:
        raise ValueError(f"batch_norm has {num_features} features but the input {x.shape} has {x.shape[1]} channels")
    return (0,) + tuple(range(2, x.ndim))


def _channel(v, ndim):
    return np.asarray(v, dtype=float).reshape((1, -1) + (1,) * (ndim - 2))


def _bn_statistics(x, running_mean, running_var, training, eps):
    """xhat and 1/std; training (or no running stats) uses the batch's, eval the running ones as constants."""
    axes = _bn_axes(x, None)
    if training or running_mean is None or running_var is None:
        count = x.size // x.shape[1]
        if training and count <= 1:
            raise ValueError(f"batch_norm in training mode needs more than 1 value per channel, got input {x.shape}")
        xhat, inv_std = _normalize(x, axes, eps)
        return xhat, inv_std, True
    inv_std = 1.0 / np.sqrt(_channel(running_var, x.ndim) + eps)
    return (x - _channel(running_mean, x.ndim)) * inv_std, inv_std, False


def batch_norm(
    x,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    training=True,
    eps=1e-5,
):
    """torch.nn.functional.batch_norm's value (the running statistics are not updated here)."""
    x = np.asarray(x, dtype=float)
    _bn_axes(x, None if weight is None else np.size(weight))
    xhat, _, _ = _bn_statistics(x, running_mean, running_var, training, eps)
    y = xhat if weight is None else xhat * _channel(weight, x.ndim)
    return y if bias is None else y + _channel(bias, x.ndim)


def batch_norm_backward(
    dy,
    x,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    training=True,
    eps=1e-5,
):
    """Training mode couples the samples (every sample moves the batch mean and variance); eval does not."""
    x, dy = np.asarray(x, dtype=float), np.asarray(dy, dtype=float)
    axes = _bn_axes(x, None if weight is None else np.size(weight))
    xhat, inv_std, batch_stats = _bn_statistics(x, running_mean, running_var, training, eps)
    g = dy if weight is None else dy * _channel(weight, x.ndim)
    dx = _normalize_backward(g, xhat, inv_std, axes) if batch_stats else g * inv_std
    grads = {}
    if weight is not None:
        grads["weight"] = (dy * xhat).sum(axis=axes)
    if bias is not None:
        grads["bias"] = dy.sum(axis=axes)
    return dx, grads


# ============================================================================= residual


def residual(x, block: Callable):
    """y = x + block(x)."""
    return np.asarray(x, dtype=float) + block(x)


def residual_backward(dy, block_backward: Callable):
    """dx = dy + J_block^T dy, where ``block_backward(dy)`` returns the block's input gradient."""
    return np.asarray(dy, dtype=float) + block_backward(dy)


# ============================================================================= convolution
# Cross-correlation as torch: y[n, o, i] = b[o] + sum_{c, k} w[o, c, k] x_pad[n, c, i * stride + k * dilation].
# One loop over the kernel offsets k; for each, the input positions it reads form a strided slice.


def _tuple(value, d, what):
    if isinstance(value, (int, np.integer)):
        return (int(value),) * d
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * d
    if len(value) != d:
        raise ValueError(f"{what} must be an int or a tuple of {d} ints, got {value}")
    return value


def _conv_padding(padding, d, kernel, dilation, stride):
    """Per spatial dim (before, after): ints as torch (zeros both sides), "valid" = 0, "same" (stride 1)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * d
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError("padding='same' needs stride 1 (as torch)")
            total = [dl * (k - 1) for k, dl in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in total)  # the extra zero goes after, as torch
        raise ValueError(f"padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    return tuple((p, p) for p in _tuple(padding, d, "padding"))


def _offset_slices(offsets, step, stride, out_shape):
    """The slices of the padded input that kernel offset ``offsets`` reads for every output position."""
    return (slice(None), slice(None)) + tuple(
        slice(k * dl, k * dl + s * (n - 1) + 1, s) for k, dl, s, n in zip(offsets, step, stride, out_shape)
    )


def _conv_setup(x, weight, bias, stride, padding, dilation, d):
    x, weight = np.asarray(x, dtype=float), np.asarray(weight, dtype=float)
    layout = "(N, C, L)" if d == 1 else "(N, C, H, W)"
    if x.ndim != d + 2:
        raise ValueError(f"conv{d}d expects input {layout}, got shape {x.shape}")
    if weight.ndim != d + 2:
        raise ValueError(
            f"conv{d}d weight must be (out_channels, in_channels, {'k' if d == 1 else 'kh, kw'}), got {weight.shape}"
        )
    if weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"conv{d}d weight {weight.shape} expects {weight.shape[1]} input channels, input {x.shape} has {x.shape[1]}"
        )
    if bias is not None and np.shape(bias) != (weight.shape[0],):
        raise ValueError(f"conv{d}d bias must have shape ({weight.shape[0]},), got {np.shape(bias)}")
    kernel = weight.shape[2:]
    stride, dilation = _tuple(stride, d, "stride"), _tuple(dilation, d, "dilation")
    pads = _conv_padding(padding, d, kernel, dilation, stride)
    xp = np.pad(x, ((0, 0), (0, 0)) + pads)
    out = tuple((xp.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(d))
    if any(n <= 0 for n in out):
        raise ValueError(f"conv{d}d: the input {x.shape} padded by {pads} is smaller than the dilated kernel {kernel}")
    return x, weight, xp, pads, kernel, stride, dilation, out


def _conv_forward(x, weight, bias, stride, padding, dilation, d):
    x, weight, xp, _, kernel, stride, dilation, out = _conv_setup(x, weight, bias, stride, padding, dilation, d)
    y = np.zeros((x.shape[0], weight.shape[0]) + out)
    for offsets in itertools.product(*(range(k) for k in kernel)):
        patch = xp[_offset_slices(offsets, dilation, stride, out)]  # (N, C, *out)
        y += np.einsum("nc...,oc->no...", patch, weight[(slice(None), slice(None)) + offsets])
    if bias is not None:
        y += np.asarray(bias, dtype=float).reshape((1, -1) + (1,) * d)
    return y


def _conv_backward(dy, x, weight, bias, stride, padding, dilation, d):
    x, weight, xp, pads, kernel, stride, dilation, out = _conv_setup(x, weight, bias, stride, padding, dilation, d)
    dy = np.asarray(dy, dtype=float)
    dxp, dw = np.zeros_like(xp), np.zeros_like(weight)
    for offsets in itertools.product(*(range(k) for k in kernel)):
        where = _offset_slices(offsets, dilation, stride, out)
        w_k = (slice(None), slice(None)) + offsets
        summed = [0] + list(range(2, d + 2))  # samples and output positions
        dw[w_k] = np.tensordot(dy, xp[where], axes=(summed, summed))  # correlate the input with the delta
        dxp[where] += np.einsum("no...,oc->nc...", dy, weight[w_k])  # scatter the delta back through w
    inner = tuple(slice(lo, xp.shape[2 + i] - hi) for i, (lo, hi) in enumerate(pads))
    grads = {"weight": dw}
    if bias is not None:
        grads["bias"] = dy.sum(axis=(0,) + tuple(range(2, d + 2)))
    return dxp[(slice(None), slice(None)) + inner], grads


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    return _conv_forward(x, weight, bias, stride, padding, dilation, 1)


def conv1d_backward(dy, x, weight, bias=None, stride=1, padding=0, dilation=1):
    return _conv_backward(dy, x, weight, bias, stride, padding, dilation, 1)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    return _conv_forward(x, weight, bias, stride, padding, dilation, 2)


def conv2d_backward(dy, x, weight, bias=None, stride=1, padding=0, dilation=1):
    return _conv_backward(dy, x, weight, bias, stride, padding, dilation, 2)


# ============================================================================= pooling


def _pool_setup(x, kernel_size, stride, padding, dilation, d, name):
    x = np.asarray(x, dtype=float)
    if x.ndim != d + 2:
        raise ValueError(f"{name} expects input {'(N, C, L)' if d == 1 else '(N, C, H, W)'}, got shape {x.shape}")
    kernel = _tuple(kernel_size, d, "kernel_size")
    stride = (
        kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _tuple(stride, d, "stride")
    )
    padding, dilation = _tuple(padding, d, "padding"), _tuple(dilation, d, "dilation")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{name}: padding {padding} must be at most half the kernel_size {kernel} (as torch)")
    out = tuple(
        (x.shape[2 + i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(d)
    )
    if any(n <= 0 for n in out):
        raise ValueError(f"{name}: the input {x.shape} padded by {padding} is smaller than the window {kernel}")
    pads = ((0, 0), (0, 0)) + tuple((p, p) for p in padding)
    real = np.pad(np.ones((1, 1) + x.shape[2:], dtype=bool), pads, constant_values=False)
    return x, kernel, stride, padding, dilation, out, pads, real


def _max_pool_argmax(x, kernel_size, stride, padding, dilation, d, name):
    x, kernel, stride, padding, dilation, out, pads, real = _pool_setup(
        x, kernel_size, stride, padding, dilation, d, name
    )
    xp = np.pad(x, pads, constant_values=-np.inf)
    best = np.full(x.shape[:2] + out, -np.inf)
    arg = np.full(x.shape[:2] + out, -1)
    # Walk each window in row-major order; an entry takes over only if STRICTLY larger (or NaN), so
    # the first maximum keeps the gradient at ties, as torch's CPU kernel. Padding never takes over.
    for p, offsets in enumerate(itertools.product(*(range(k) for k in kernel))):
        where = _offset_slices(offsets, dilation, stride, out)
        v = xp[where]
        take = real[where] & ((arg < 0) | (v > best) | np.isnan(v))
        best, arg = np.where(take, v, best), np.where(take, p, arg)
    return x, xp, best, arg, kernel, stride, dilation, out, pads


def _max_pool_backward(dy, x, kernel_size, stride, padding, dilation, d, name):
    x, xp, _, arg, kernel, stride, dilation, out, pads = _max_pool_argmax(
        x, kernel_size, stride, padding, dilation, d, name
    )
    dy = np.asarray(dy, dtype=float)
    dxp = np.zeros_like(xp)
    for p, offsets in enumerate(itertools.product(*(range(k) for k in kernel))):
        dxp[_offset_slices(offsets, dilation, stride, out)] += np.where(arg == p, dy, 0.0)
    inner = tuple(slice(lo, xp.shape[2 + i] - hi) for i, (lo, hi) in enumerate(pads[2:]))
    return dxp[(slice(None), slice(None)) + inner]


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1):
    return _max_pool_argmax(x, kernel_size, stride, padding, dilation, 1, "max_pool1d")[2]


def max_pool1d_backward(dy, x, kernel_size, stride=None, padding=0, dilation=1):
    return _max_pool_backward(dy, x, kernel_size, stride, padding, dilation, 1, "max_pool1d")


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1):
    return _max_pool_argmax(x, kernel_size, stride, padding, dilation, 2, "max_pool2d")[2]


def max_pool2d_backward(dy, x, kernel_size, stride=None, padding=0, dilation=1):
    return _max_pool_backward(dy, x, kernel_size, stride, padding, dilation, 2, "max_pool2d")


def _avg_pool_divisor(real, kernel, stride, out, count_include_pad, divisor_override):
    """Per output position: the number the window's sum is divided by (torch's rule without ceil_mode)."""
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError("avg_pool divisor_override must be nonzero")
        return float(divisor_override)
    if count_include_pad:
        return float(np.prod(kernel))  # every window lies inside the padded input
    count = np.zeros((1, 1) + out)
    for offsets in itertools.product(*(range(k) for k in kernel)):
        count += real[_offset_slices(offsets, (1,) * len(kernel), stride, out)]
    return count


def _avg_pool(
    x,
    kernel_size,
    stride,
    padding,
    count_include_pad,
    divisor_override,
    d,
    name,
    dy=None,
):
    x, kernel, stride, padding, _, out, pads, real = _pool_setup(x, kernel_size, stride, padding, 1, d, name)
    divisor = _avg_pool_divisor(real, kernel, stride, out, count_include_pad, divisor_override)
    unit = (1,) * d
    xp = np.pad(x, pads)  # zeros
    if dy is None:
        y = np.zeros(x.shape[:2] + out)
        for offsets in itertools.product(*(range(k) for k in kernel)):
            y += xp[_offset_slices(offsets, unit, stride, out)]
        return y / divisor
    share = np.asarray(dy, dtype=float) / divisor  # every entry of a window gets dy / divisor
    dxp = np.zeros_like(xp)
    for offsets in itertools.product(*(range(k) for k in kernel)):
        dxp[_offset_slices(offsets, unit, stride, out)] += share
    inner = tuple(slice(p, p + n) for p, n in zip(padding, x.shape[2:]))
    return dxp[(slice(None), slice(None)) + inner]


def avg_pool1d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    return _avg_pool(x, kernel_size, stride, padding, count_include_pad, None, 1, "avg_pool1d")


def avg_pool1d_backward(dy, x, kernel_size, stride=None, padding=0, count_include_pad=True):
    return _avg_pool(x, kernel_size, stride, padding, count_include_pad, None, 1, "avg_pool1d", dy=dy)


def avg_pool2d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    count_include_pad=True,
    divisor_override=None,
):
    return _avg_pool(
        x,
        kernel_size,
        stride,
        padding,
        count_include_pad,
        divisor_override,
        2,
        "avg_pool2d",
    )


def avg_pool2d_backward(
    dy,
    x,
    kernel_size,
    stride=None,
    padding=0,
    count_include_pad=True,
    divisor_override=None,
):
    return _avg_pool(
        x,
        kernel_size,
        stride,
        padding,
        count_include_pad,
        divisor_override,
        2,
        "avg_pool2d",
        dy=dy,
    )


# ============================================================================= losses
# loss = scale * sum of elements; "mean" divides by the number of elements (torch), "sum" does not,
# "batchmean" divides by N. cross_entropy and nll have one element per sample (and per extra position).

REDUCTIONS = ("mean", "sum", "batchmean")


def _reduction(reduction, name):
    if reduction not in REDUCTIONS:
        valid = "mean, sum (as torch), batchmean (divide by N)"
        if reduction == "none":
            raise UnsupportedError(f'{name}: reduction "none" gives no scalar loss to differentiate; valid: {valid}')
        raise ValueError(
            f"{name}: unknown reduction {reduction!r}; valid: {valid}." + suggest(str(reduction), REDUCTIONS)
        )
    return reduction


def _scale(reduction, n_elements, n_samples, name):
    reduction = _reduction(reduction, name)
    if reduction == "sum":
        return 1.0
    return 1.0 / (n_samples if reduction == "batchmean" else n_elements)


def _pair(input, target, name):
    a, y = np.asarray(input, dtype=float), np.asarray(target, dtype=float)
    if a.shape != y.shape:
        raise ValueError(f"{name}: input shape {a.shape} and target shape {y.shape} differ")
    return a, y


def _samples(a):
    return a.shape[0] if a.ndim else 1


def mse(input, target, reduction="mean"):
    a, y = _pair(input, target, "mse")
    return float(_scale(reduction, a.size, _samples(a), "mse") * ((a - y) ** 2).sum())


def mse_backward(input, target, reduction="mean"):
    a, y = _pair(input, target, "mse")
    return _scale(reduction, a.size, _samples(a), "mse") * 2.0 * (a - y)


def sse(input, target, reduction="sum"):
    """The sum of squares (reduction "sum"); under "mean" it is mse."""
    return mse(input, target, reduction)


def sse_backward(input, target, reduction="sum"):
    return mse_backward(input, target, reduction)


def quadratic(input, target, reduction="batchmean"):
    """The textbook quadratic cost 1/(2N) sum (a - y)^2; its 1/2 stays under every reduction."""
    return 0.5 * mse(input, target, reduction)


def quadratic_backward(input, target, reduction="batchmean"):
    return 0.5 * mse_backward(input, target, reduction)


def l1(input, target, reduction="mean"):
    a, y = _pair(input, target, "l1")
    return float(_scale(reduction, a.size, _samples(a), "l1") * np.abs(a - y).sum())


def l1_backward(input, target, reduction="mean"):
    a, y = _pair(input, target, "l1")
    return _scale(reduction, a.size, _samples(a), "l1") * np.sign(a - y)  # sign(0) = 0, as torch


def bce(input, target, reduction="mean"):
    """Binary cross-entropy on probabilities; each log is clamped at -100, as torch."""
    a, y = _pair(input, target, "bce")
    _check_probabilities(a, "bce input")
    ell = -(y * np.maximum(_log(a), -100.0) + (1.0 - y) * np.maximum(_log(1.0 - a), -100.0))
    return float(_scale(reduction, a.size, _samples(a), "bce") * ell.sum())


def bce_backward(input, target, reduction="mean"):
    a, y = _pair(input, target, "bce")
    _check_probabilities(a, "bce input")
    # torch: (a - y) / max(a (1 - a), EPSILON), its EPSILON = 1e-12 held as a float32
    eps = float(np.float32(1e-12))
    scale = _scale(reduction, a.size, _samples(a), "bce")
    return scale * (a - y) / np.maximum(a * (1.0 - a), eps)


def _log(v):
    with np.errstate(divide="ignore"):
        return np.log(v)


def _check_probabilities(a, what):
    if np.any((a < 0) | (a > 1)):
        raise ValueError(f"{what} must be probabilities in [0, 1] (apply a sigmoid, or use bce_with_logits)")


def bce_with_logits(input, target, reduction="mean"):
    z, y = _pair(input, target, "bce_with_logits")
    ell = np.logaddexp(0.0, z) - y * z  # softplus(z) - y z = -[y log s(z) + (1 - y) log(1 - s(z))]
    return float(_scale(reduction, z.size, _samples(z), "bce_with_logits") * ell.sum())


def bce_with_logits_backward(input, target, reduction="mean"):
    z, y = _pair(input, target, "bce_with_logits")
    return _scale(reduction, z.size, _samples(z), "bce_with_logits") * (sigmoid(z) - y)


def _class_rows(input, target, name):
    """Scores as rows (samples x classes) with the class dim last: (N, C) or (N, C, d1, ...) as torch."""
    x = np.asarray(input, dtype=float)
    if x.ndim < 2:
        raise ValueError(f"{name} expects input (N, C) or (N, C, d1, ...), got shape {x.shape}")
    rows = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    t = np.asarray(target)
    labels = np.issubdtype(t.dtype, np.integer)
    if labels:
        if t.shape != x.shape[:1] + x.shape[2:]:
            raise ValueError(f"{name}: integer labels must have shape {x.shape[:1] + x.shape[2:]}, got {t.shape}")
        t = t.reshape(-1)
    else:
        if t.shape != x.shape:
            raise ValueError(
                f"{name}: class-probability targets must have the input's shape {x.shape}, got {t.shape} "
                "(integer class labels must have an integer dtype)"
            )
        t = np.moveaxis(t.astype(float), 1, -1).reshape(-1, x.shape[1])
    return x, rows, t, labels


def _from_rows(rows, x):
    return np.moveaxis(rows.reshape(x.shape[:1] + x.shape[2:] + x.shape[1:2]), -1, 1)


def _label_mask(t, n_classes, ignore_index, name):
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= n_classes))
    if np.any(bad):
        raise ValueError(
            f"{name}: label {t[bad][0]} is out of range for {n_classes} classes (valid 0..{n_classes - 1})"
        )
    return keep


def _log_softmax_rows(rows):
    shifted = rows - rows.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _ce_parts(input, target, reduction, ignore_index, name):
    x, rows, t, labels = _class_rows(input, target, name)
    logp = _log_softmax_rows(rows)
    if labels:
        keep = _label_mask(t, rows.shape[1], ignore_index, name)
        picked = np.zeros(rows.shape)
        picked[np.nonzero(keep)[0], t[keep]] = 1.0  # one-hot rows, zero for ignored samples
        count = int(keep.sum())  # torch's mean divides by the number of samples not ignored
    else:
        picked, count = t, rows.shape[0]
    scale = _scale(reduction, count, x.shape[0], name) if count else (np.nan if reduction == "mean" else 1.0)
    return x, rows, logp, picked, scale


def cross_entropy(input, target, reduction="mean", ignore_index=-100):
    """Cross-entropy on logits with integer labels or class-probability targets (torch.nn.CrossEntropyLoss)."""
    _, _, logp, picked, scale = _ce_parts(input, target, reduction, ignore_index, "cross_entropy")
    return float(scale * -(picked * logp).sum())


def cross_entropy_backward(input, target, reduction="mean", ignore_index=-100):
    x, _, logp, picked, scale = _ce_parts(input, target, reduction, ignore_index, "cross_entropy")
    rows = np.exp(logp) * picked.sum(axis=1, keepdims=True) - picked  # softmax * sum(y) - y
    return _from_rows(scale * rows, x)


def nll(input, target, reduction="mean", ignore_index=-100):
    """Negative log-likelihood of integer labels given log-probabilities (torch.nn.NLLLoss)."""
    _, rows, picked, scale = _nll_parts(input, target, reduction, ignore_index)
    return float(scale * -(picked * rows).sum())


def nll_backward(input, target, reduction="mean", ignore_index=-100):
    x, _, picked, scale = _nll_parts(input, target, reduction, ignore_index)
    return _from_rows(-scale * picked, x)


def _nll_parts(input, target, reduction, ignore_index):
    x, rows, t, labels = _class_rows(input, target, "nll")
    if not labels:
        raise ValueError("nll: target must be integer class labels (NLLLoss takes no class probabilities)")
    keep = _label_mask(t, rows.shape[1], ignore_index, "nll")
    picked = np.zeros(rows.shape)
    picked[np.nonzero(keep)[0], t[keep]] = 1.0
    count = int(keep.sum())
    scale = _scale(reduction, count, x.shape[0], "nll") if count else (np.nan if reduction == "mean" else 1.0)
    return x, rows, picked, scale


#: loss name -> (value, gradient with respect to the input) and the reduction it has without one
LOSSES: dict[str, tuple[Callable, Callable, str]] = {
    "mse": (mse, mse_backward, "mean"),
    "sse": (sse, sse_backward, "sum"),
    "quadratic": (quadratic, quadratic_backward, "batchmean"),
    "l1": (l1, l1_backward, "mean"),
    "bce": (bce, bce_backward, "mean"),
    "bce_with_logits": (bce_with_logits, bce_with_logits_backward, "mean"),
    "cross_entropy": (cross_entropy, cross_entropy_backward, "mean"),
    "nll": (nll, nll_backward, "mean"),
}

#: torch loss classes and functional names -> our names
LOSS_ALIASES = {
    "mseloss": "mse",
    "mse_loss": "mse",
    "ssr": "sse",
    "l1loss": "l1",
    "l1_loss": "l1",
    "bceloss": "bce",
    "binary_cross_entropy": "bce",
    "bcewithlogitsloss": "bce_with_logits",
    "binary_cross_entropy_with_logits": "bce_with_logits",
    "crossentropyloss": "cross_entropy",
    "nllloss": "nll",
    "nll_loss": "nll",
    "quadraticloss": "quadratic",
}


def _resolve_loss(loss, reduction):
    """(name, reduction, extra kwargs) from a loss name or a torch loss object (by its class name)."""
    extra: dict[str, Any] = {}
    if isinstance(loss, str):
        key = loss.strip().lower()
        name = LOSS_ALIASES.get(key, key)
        if name not in LOSSES:
            choices = list(LOSSES) + [cls for cls in _TORCH_LOSSES]
            raise ValueError(f"unknown loss {loss!r}; valid: {listing(choices, 20)}." + suggest(loss, choices))
        return name, LOSSES[name][2] if reduction is None else reduction, extra
    cls = type(loss).__name__
    if cls not in _TORCH_LOSSES:
        raise UnsupportedError(
            f"unsupported loss {cls}; supported: {', '.join(_TORCH_LOSSES)} or a name ({', '.join(LOSSES)})"
        )
    name = LOSS_ALIASES[cls.lower()]
    own = getattr(loss, "reduction", LOSSES[name][2])
    if reduction is not None and reduction != own:
        raise ValueError(f"loss {cls} has reduction={own!r} but reduction={reduction!r} was also given")
    for attr, default in (
        ("weight", None),
        ("pos_weight", None),
        ("label_smoothing", 0.0),
    ):
        value = getattr(loss, attr, default)
        if (value is not None) if default is None else (value != default):
            raise UnsupportedError(f"{cls} with {attr}={value!r} is not supported (only the default {default!r})")
    if name in ("cross_entropy", "nll"):
        extra["ignore_index"] = getattr(loss, "ignore_index", -100)
    return name, own, extra


_TORCH_LOSSES = (
    "MSELoss",
    "L1Loss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "NLLLoss",
    "QuadraticLoss",  # symprop's textbook 1/(2N) sum (a - y)^2 (reduction "batchmean" by default)
)


def loss_value(loss, input, target, reduction=None):
    """The loss as a float; ``reduction=None`` is the loss's own (torch: "mean"; sse: "sum"; quadratic: 1/(2N))."""
    name, reduction, extra = _resolve_loss(loss, reduction)
    return LOSSES[name][0](input, target, reduction, **extra)


def loss_backward(loss, input, target, reduction=None):
    """d loss / d input."""
    name, reduction, extra = _resolve_loss(loss, reduction)
    return LOSSES[name][1](input, target, reduction, **extra)


# ============================================================================= the model walk
# _walk(module, path) returns (y, backward): backward(dy) returns dx and adds the layer's parameter
# gradients into the shared dict under their state-dict names (thinc's (Y, backprop) pattern).


_ABSENT = object()  # a module attribute that is not there (then the state dict decides)


class _Walk:
    def __init__(self, state_dict: Mapping[str, Any], masks: Mapping[str, Any] | None):
        self.state = {str(k): v for k, v in state_dict.items()}
        self.masks = dict(masks or {})
        self.used: set[str] = set()
        self.grads: dict[str, np.ndarray] = {}
        self.first_path: dict[int, str] = {}  # id(module) -> where it first ran (torch: tied weights)

    def param(self, module, path, attr, required):
        """The state-dict array ``path + attr``; whether it must exist follows the module's attribute."""
        key = path + attr
        declared = getattr(module, attr, _ABSENT)
        present = key in self.state
        if declared is None or declared is False:  # the module has none (torch: bias=False)
            if present:
                raise ValueError(f"state dict has {key!r} but {type(module).__name__} at {_where(path)} has no {attr}")
            return None
        if not present:
            if required or declared is not _ABSENT:
                raise ValueError(
                    f"state dict lacks {key!r} ({type(module).__name__} at {_where(path)}); it has: "
                    f"{listing(sorted(self.state))}" + suggest(key, self.state)
                )
            return None
        self.used.add(key)
        return _as_array(self.state[key], key)

    def buffer(self, path, attr):
        key = path + attr
        if key in self.state:
            self.used.add(key)
            return _as_array(self.state[key], key)
        return None

    def add(self, key, value):
        self.grads[key] = self.grads.get(key, 0.0) + value


def _as_array(value, key):
    if hasattr(value, "detach"):  # a torch tensor given directly
        value = value.detach().cpu().double().numpy()
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"state dict entry {key!r} is not an array of numbers: {type(value).__name__}") from None


def _where(path):
    return repr(path[:-1]) if path else "the top"


def _check_shape(array, shape, key):
    if array is not None and array.shape != tuple(shape):
        hint = " (looks transposed)" if array.shape == tuple(shape)[::-1] and len(shape) == 2 else ""
        raise ValueError(f"state dict {key!r} has shape {array.shape}, expected {tuple(shape)}{hint}")


def _children(module):
    """(name, child) in forward order. torch's named_children() skips a module instance met twice
    (Sequential(act, act) runs act twice), so a torch container is read from its ``_modules``."""
    modules = getattr(module, "_modules", None)
    if isinstance(modules, Mapping):
        return [(name, child) for name, child in modules.items() if child is not None]
    if hasattr(module, "named_children"):
        return list(module.named_children())
    return [(str(i), child) for i, child in enumerate(module)]


def _sequential(walk, module, path, x):
    backs = []
    for name, child in _children(module):
        x, back = _layer(walk, child, f"{path}{name}.", x)
        backs.append(back)

    def backward(dy):
        for back in reversed(backs):  # apply the chain rule from the last layer to the first
            dy = back(dy)
        return dy

    return x, backward


def _residual(walk, module, path, x):
    block = getattr(module, "block", None)
    if block is None:
        raise ValueError(f"Residual at {_where(path)} has no attribute 'block'")
    fx, block_back = _layer(walk, block, f"{path}block.", x)
    if fx.shape != x.shape:
        raise ValueError(
            f"Residual at {_where(path)}: block maps {x.shape} to {fx.shape}; x + block(x) needs equal shapes"
        )
    return x + fx, lambda dy: residual_backward(dy, block_back)


def _linear(walk, module, path, x):
    w = walk.param(module, path, "weight", True)
    b = walk.param(module, path, "bias", False)
    out_f, in_f = (
        getattr(module, "out_features", w.shape[0]),
        getattr(module, "in_features", w.shape[-1]),
    )
    _check_shape(w, (out_f, in_f), path + "weight")
    _check_shape(b, (out_f,), path + "bias")
    if x.shape[-1:] != (in_f,):
        raise ValueError(f"Linear at {_where(path)} has in_features={in_f} but its input has shape {x.shape}")

    def backward(dy):
        dx, grads = linear_backward(dy, x, w, b)
        _collect(walk, path, grads)
        return dx

    return linear(x, w, b), backward


def _collect(walk, path, grads):
    for attr, g in grads.items():
        walk.add(path + attr, g)


def _elementwise(fwd, bwd, **kwargs):
    def run(walk, module, path, x):
        return fwd(x, **kwargs), lambda dy: bwd(dy, x, **kwargs)

    return run


def _activation(walk, module, path, x):
    cls = type(module).__name__
    kwargs: dict[str, Any] = {}
    if cls == "LeakyReLU":
        kwargs["negative_slope"] = float(module.negative_slope)
    elif cls == "Softplus":
        kwargs.update(
            beta=float(getattr(module, "beta", 1.0)),
            threshold=float(getattr(module, "threshold", 20.0)),
        )
    elif cls == "ELU":
        kwargs["alpha"] = float(getattr(module, "alpha", 1.0))
    elif cls == "GELU":
        kwargs["approximate"] = getattr(module, "approximate", "none")
    elif cls in ("Softmax", "LogSoftmax"):
        dim = getattr(module, "dim", None)
        kwargs["dim"] = (0 if x.ndim in (0, 1, 3) else 1) if dim is None else int(dim)  # torch's implicit dim
        if not -x.ndim <= kwargs["dim"] < x.ndim:
            raise ValueError(f"{cls} at {_where(path)}: dim={dim} is out of range for an input of shape {x.shape}")
    fwd, bwd = _ACTIVATIONS[cls]
    return _elementwise(fwd, bwd, **kwargs)(walk, module, path, x)


_ACTIVATIONS = {
    "Identity": (identity, identity_backward),
    "ReLU": (relu, relu_backward),
    "LeakyReLU": (leaky_relu, leaky_relu_backward),
    "Sigmoid": (sigmoid, sigmoid_backward),
    "Tanh": (tanh, tanh_backward),
    "Softplus": (softplus, softplus_backward),
    "ELU": (elu, elu_backward),
    "SiLU": (silu, silu_backward),
    "GELU": (gelu, gelu_backward),
    "Softmax": (softmax, softmax_backward),
    "LogSoftmax": (log_softmax, log_softmax_backward),
}


def _flatten(walk, module, path, x):
    kwargs = {
        "start_dim": int(getattr(module, "start_dim", 1)),
        "end_dim": int(getattr(module, "end_dim", -1)),
    }
    return _elementwise(flatten, flatten_backward, **kwargs)(walk, module, path, x)


def _dropout(walk, module, path, x):
    p, training = (
        float(getattr(module, "p", 0.5)),
        bool(getattr(module, "training", False)),
    )
    mask = None
    if training and p > 0.0:
        key = path[:-1]
        mask = walk.masks.get(key)
        if mask is None:
            mask = getattr(module, "mask", None)
        if mask is None:
            raise ValueError(
                f"Dropout at {_where(path)} is in training mode: give its 0/1 mask (masks={{{key!r}: array}}) "
                "or put the model in eval mode"
            )
        mask = np.asarray(mask.detach().numpy() if hasattr(mask, "detach") else mask, dtype=float)
        if mask.shape != x.shape:
            raise ValueError(f"Dropout mask at {_where(path)} has shape {mask.shape}, the input has {x.shape}")
    kwargs = {"p": p, "training": training, "mask": mask}
    return _elementwise(dropout, dropout_backward, **kwargs)(walk, module, path, x)


def _layer_norm(walk, module, path, x):
    shape = module.normalized_shape
    shape = tuple(shape) if np.ndim(shape) else (int(shape),)
    eps = float(getattr(module, "eps", 1e-5))
    affine = bool(getattr(module, "elementwise_affine", True))
    w = walk.param(module, path, "weight", True) if affine else None
    b = walk.param(module, path, "bias", False) if affine else None
    _check_shape(w, shape, path + "weight")
    _check_shape(b, shape, path + "bias")
    if x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(f"LayerNorm at {_where(path)} normalizes over {shape} but its input has shape {x.shape}")

    def backward(dy):
        dx, grads = layer_norm_backward(dy, x, shape, w, b, eps)
        _collect(walk, path, grads)
        return dx

    return layer_norm(x, shape, w, b, eps), backward


def _batch_norm(walk, module, path, x):
    cls = type(module).__name__
    c = int(module.num_features)
    eps = float(getattr(module, "eps", 1e-5))
    affine = bool(getattr(module, "affine", True))
    training = bool(getattr(module, "training", False))
    w = walk.param(module, path, "weight", True) if affine else None
    b = walk.param(module, path, "bias", False) if affine else None
    _check_shape(w, (c,), path + "weight")
    _check_shape(b, (c,), path + "bias")
    rm, rv = walk.buffer(path, "running_mean"), walk.buffer(path, "running_var")
    walk.buffer(path, "num_batches_tracked")
    tracks = bool(getattr(module, "track_running_stats", True))
    if not training and tracks and (rm is None or rv is None):
        raise ValueError(
            f"{cls} at {_where(path)} is in eval mode: the state dict needs {path + 'running_mean'!r} and "
            f"{path + 'running_var'!r}"
        )
    if not tracks:
        rm = rv = None
    _check_shape(rm, (c,), path + "running_mean")
    _check_shape(rv, (c,), path + "running_var")
    want = {"BatchNorm1d": (2, 3), "BatchNorm2d": (4,)}[cls]
    if x.ndim not in want or x.shape[1] != c:
        layouts = {"BatchNorm1d": "(N, C) or (N, C, L)", "BatchNorm2d": "(N, C, H, W)"}[cls]
        raise ValueError(f"{cls}({c}) at {_where(path)} expects input {layouts} with C = {c}, got {x.shape}")

    def backward(dy):
        dx, grads = batch_norm_backward(dy, x, rm, rv, w, b, training, eps)
        _collect(walk, path, grads)
        return dx

    return batch_norm(x, rm, rv, w, b, training, eps), backward


def _conv(walk, module, path, x):
    cls = type(module).__name__
    d = int(cls[-2])
    if getattr(module, "groups", 1) != 1:
        raise UnsupportedError(f"{cls} at {_where(path)} has groups={module.groups}; only groups=1 is supported")
    if getattr(module, "padding_mode", "zeros") != "zeros":
        raise UnsupportedError(
            f"{cls} at {_where(path)} has padding_mode={module.padding_mode!r}; only 'zeros' is supported"
        )
    w = walk.param(module, path, "weight", True)
    b = walk.param(module, path, "bias", False)
    if hasattr(module, "out_channels") and hasattr(module, "kernel_size"):
        shape = (module.out_channels, module.in_channels) + _tuple(module.kernel_size, d, "kernel_size")
        _check_shape(w, shape, path + "weight")
    kwargs = {
        "stride": getattr(module, "stride", 1),
        "padding": getattr(module, "padding", 0),
        "dilation": getattr(module, "dilation", 1),
    }
    fwd, bwd = (conv1d, conv1d_backward) if d == 1 else (conv2d, conv2d_backward)
    try:
        y = fwd(x, w, b, **kwargs)
    except ValueError as err:
        raise ValueError(f"{cls} at {_where(path)}: {err}") from None

    def backward(dy):
        dx, grads = bwd(dy, x, w, b, **kwargs)
        _collect(walk, path, grads)
        return dx

    return y, backward


def _pool(walk, module, path, x):
    cls = type(module).__name__
    d = int(cls[-2])
    if getattr(module, "ceil_mode", False):
        raise UnsupportedError(f"{cls} at {_where(path)} has ceil_mode=True; only ceil_mode=False is supported")
    if getattr(module, "return_indices", False):
        raise UnsupportedError(f"{cls} at {_where(path)} has return_indices=True; its output would be a tuple")
    kwargs = {
        "kernel_size": module.kernel_size,
        "stride": getattr(module, "stride", None),
        "padding": getattr(module, "padding", 0),
    }
    if cls.startswith("Max"):
        kwargs["dilation"] = getattr(module, "dilation", 1)
        fwd, bwd = (max_pool1d, max_pool1d_backward) if d == 1 else (max_pool2d, max_pool2d_backward)
    else:
        kwargs["count_include_pad"] = bool(getattr(module, "count_include_pad", True))
        if d == 2:
            kwargs["divisor_override"] = getattr(module, "divisor_override", None)
        fwd, bwd = (avg_pool1d, avg_pool1d_backward) if d == 1 else (avg_pool2d, avg_pool2d_backward)
    try:
        y = fwd(x, **kwargs)
    except ValueError as err:
        raise ValueError(f"{cls} at {_where(path)}: {err}") from None
    return y, lambda dy: bwd(dy, x, **kwargs)


_LAYERS: dict[str, Callable] = {
    "Sequential": _sequential,
    "Residual": _residual,
    "Linear": _linear,
    **{cls: _activation for cls in _ACTIVATIONS},
    "Flatten": _flatten,
    "Dropout": _dropout,
    "LayerNorm": _layer_norm,
    "BatchNorm1d": _batch_norm,
    "BatchNorm2d": _batch_norm,
    "Conv1d": _conv,
    "Conv2d": _conv,
    "MaxPool1d": _pool,
    "MaxPool2d": _pool,
    "AvgPool1d": _pool,
    "AvgPool2d": _pool,
}

#: the module class names the walk supports (torch's, plus symprop's Residual)
SUPPORTED_MODULES = tuple(_LAYERS)


def _layer(walk, module, path, x):
    cls = type(module).__name__
    run = _LAYERS.get(cls)
    if run is None:
        raise UnsupportedError(f"unsupported module {cls} at {_where(path)}; supported: {', '.join(SUPPORTED_MODULES)}")
    if cls != "Dropout":  # each run of a Dropout has its own mask, keyed by where it runs
        first = walk.first_path.setdefault(id(module), path)
        if first != path:
            # the same instance again (tied weights): torch names its parameters once, at the first
            # place, and adds up the gradients of every use there; the duplicate state-dict names
            # (state_dict() lists them) hold the same values and get no gradient of their own
            walk.used.update(k for k in walk.state if k.startswith(path))
            path = first
    return run(walk, module, path, x)


def _run(model, state_dict, X, masks):
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}")
    walk = _Walk(state_dict, masks)
    x = _as_array(X, "X")
    y, backward = _layer(walk, model, "", x)
    unused = sorted(set(walk.state) - walk.used)
    if unused:
        raise ValueError(f"state dict entries not used by the model: {listing(unused)}")
    unknown = sorted(set(walk.masks) - _dropout_paths(model, ""))
    if unknown:
        raise ValueError(f"masks given for {listing(unknown)}, which are not Dropout layers of the model")
    return walk, y, backward


def _dropout_paths(module, path):
    cls = type(module).__name__
    if cls == "Dropout":
        return {path[:-1]}
    if cls == "Sequential":
        return set().union(*[_dropout_paths(c, f"{path}{n}.") for n, c in _children(module)] or [set()])
    if cls == "Residual":
        return _dropout_paths(module.block, f"{path}block.")
    return set()


def forward(model, state_dict, X, masks=None):
    """The model's output for the batch X, with the parameters (and BatchNorm buffers) of ``state_dict``.

    ``masks`` maps a Dropout's name ("1", "0.2", ...) to its 0/1 mask when it is in training mode.
    """
    return _run(model, state_dict, X, masks)[1]


def value_and_gradient(model, state_dict, X, Y, loss="mse", reduction=None, masks=None):
    """(loss, {state-dict name: gradient}) for every parameter of the model (buffers excluded)."""
    walk, y, backward = _run(model, state_dict, X, masks)
    name, reduction, extra = _resolve_loss(loss, reduction)
    target = Y.detach().cpu().numpy() if hasattr(Y, "detach") else np.asarray(Y)
    if name in ("cross_entropy", "nll") and np.issubdtype(target.dtype, np.integer):
        pass  # integer labels stay integers
    else:
        target = target.astype(float)
    value_fn, grad_fn, _ = LOSSES[name]
    value = value_fn(y, target, reduction, **extra)
    backward(grad_fn(y, target, reduction, **extra))  # seeds the reverse pass with dL/d(output)
    return value, {key: np.asarray(g, dtype=float) for key, g in walk.grads.items()}


def gradient(model, state_dict, X, Y, loss="mse", reduction=None, masks=None):
    """{state-dict name: dL/dparameter}, as PyTorch's ``param.grad`` after ``loss_fn(model(X), Y).backward()``.

    ``loss`` is a name ("mse", "sse", "quadratic", "l1", "bce", "bce_with_logits", "cross_entropy", "nll")
    or a torch loss object (MSELoss, CrossEntropyLoss, ...: its class name and ``.reduction`` are used).
    ``reduction=None`` means the loss's own: torch's "mean" for torch losses, "sum" for sse, 1/(2N) for
    quadratic.
    """
    return value_and_gradient(model, state_dict, X, Y, loss, reduction, masks)[1]
