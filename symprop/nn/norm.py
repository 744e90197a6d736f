"""Normalisation layers: LayerNorm and BatchNorm1d (torch's names, arguments, parameters and buffers).

Both normalise with the *biased* variance (divide by the count, as torch does in the forward pass):
x_hat = (x - mu) / sqrt(var + eps), y = weight * x_hat + bias.  The local backward rule over the M
normalised entries is the exact one,

    dx = (1 / sqrt(var + eps)) (g - mean(g) - x_hat mean(g x_hat)),   g = weight * dy,

so BatchNorm1d in training mode couples the samples of the batch (mu and var are batch statistics),
handled exactly.  In evaluation mode BatchNorm1d uses its running_mean/running_var buffers as constants.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .module import Module, ShapeError


def _eps(value, what: str):
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction, np.integer, np.floating)):
        raise TypeError(f"{what}: eps must be a number, got {value!r}")
    if not (math.isfinite(float(value)) and value >= 0):
        raise ValueError(f"{what}: eps must be finite and >= 0, got {value!r}")


def _mean_product(a, b, axes):
    """FLOAT: mean(a * b) over ``axes`` (keepdims) without a temporary when reducing the last axis."""
    if axes == (a.ndim - 1,) and a.ndim == 2:
        return np.einsum("ij,ij->i", a, b)[:, None] / a.shape[-1]
    return np.mean(a * b, axis=axes, keepdims=True)


def _normalize(ar, x, axes, eps, count):
    """x_hat and 1/sqrt(var + eps) over ``axes`` (biased variance)."""
    if not ar.is_object:  # FLOAT: the same formula with fewer passes over memory
        xc = x - np.mean(x, axis=axes, keepdims=True)
        inv = 1.0 / np.sqrt(_mean_product(xc, xc, axes) + float(eps))
        xc *= inv
        return xc, inv
    inv_count = ar.const(Fraction(1, count))
    mu = ar.sum(x, axis=axes, keepdims=True) * inv_count
    xc = x - mu
    var = ar.sum(xc * xc, axis=axes, keepdims=True) * inv_count
    inv = ar.const(1) / ar.sqrt(var + ar.const(eps))
    return xc * inv, inv


def _normalize_backward(ar, g, xhat, inv, axes, count, mgx=None):
    """J^T g for x -> x_hat over ``axes``: inv (g - mean(g) - x_hat mean(g x_hat)).

    ``mgx`` = mean(g x_hat) when the caller has it already."""
    if not ar.is_object:  # FLOAT: in place on one fresh array
        if mgx is None:
            mgx = _mean_product(g, xhat, axes)
        dx = g - np.mean(g, axis=axes, keepdims=True)
        tmp = np.multiply(xhat, mgx)
        dx -= tmp
        dx *= inv
        return dx
    inv_count = ar.const(Fraction(1, count))
    mg = ar.sum(g, axis=axes, keepdims=True) * inv_count
    if mgx is None:
        mgx = ar.sum(g * xhat, axis=axes, keepdims=True) * inv_count
    return inv * (g - mg - xhat * mgx)


@dataclass(frozen=True, repr=False)
class LayerNorm(Module):
    """Normalise each sample over its last len(normalized_shape) dimensions (torch.nn.LayerNorm)."""

    normalized_shape: tuple[int, ...]
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    def __post_init__(self):
        shape = self.normalized_shape
        shape = (shape,) if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool) else shape
        try:
            shape = tuple(shape)
        except TypeError:
            raise TypeError(f"LayerNorm: normalized_shape must be an int or a tuple of ints, got {shape!r}") from None
        if not shape or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be positive integers, got {self.normalized_shape!r}")
        object.__setattr__(self, "normalized_shape", tuple(int(n) for n in shape))
        _eps(self.eps, "LayerNorm")
        for flag in ("elementwise_affine", "bias"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"LayerNorm: {flag} is a bool, got {getattr(self, flag)!r}")

    @property
    def has_weight(self) -> bool:
        return self.elementwise_affine

    @property
    def has_bias(self) -> bool:
        return self.elementwise_affine and self.bias

    def _check(self, in_shape):
        k = len(self.normalized_shape)
        if tuple(in_shape[-k:]) != self.normalized_shape or len(in_shape) < k:
            raise ShapeError(
                f"{self!r} normalises the last dimensions {self.normalized_shape}, but the per-sample input "
                f"shape is {tuple(in_shape)}"
            )

    def param_shapes(self, in_shape):
        self._check(in_shape)
        out = {}
        if self.has_weight:
            out["weight"] = self.normalized_shape
        if self.has_bias:
            out["bias"] = self.normalized_shape
        return out

    def out_shape(self, in_shape):
        self._check(in_shape)
        return tuple(in_shape)

    def forward(self, ar, x, params, buffers):
        if not ar.is_object:
            return self._forward_float(x, params)
        k = len(self.normalized_shape)
        axes = tuple(range(x.ndim - k, x.ndim))
        batch_axes = tuple(range(x.ndim - k))
        count = math.prod(self.normalized_shape)
        xhat, inv = _normalize(ar, x, axes, self.eps, count)
        y = xhat * params["weight"] if self.has_weight else xhat
        if self.has_bias:
            if self.has_weight:
                y += params["bias"]  # y is a fresh array
            else:
                y = y + params["bias"]

        def backprop(dy, need_dx=True):
            grads = {}
            mgx = None
            if self.has_weight:
                w = params["weight"]
                dyx = dy * xhat
                grads["weight"] = ar.sum(dyx, axis=batch_axes)
                g = dy * w
                if not ar.is_object:  # FLOAT: mean(g x_hat) = mean(dy x_hat w), reusing dy x_hat in place
                    dyx *= w
                    mgx = np.mean(dyx, axis=axes, keepdims=True)
            else:
                g = dy
            if self.has_bias:
                grads["bias"] = ar.sum(dy, axis=batch_axes)
            return _normalize_backward(ar, g, xhat, inv, axes, count, mgx), grads

        return y, backprop

    def _forward_float(self, x, params):
        """FLOAT: the same rule on an (M, F) view, row and column sums as BLAS matrix-vector products
        (mean(g) = dy @ w / F, mean(g x_hat) = (dy x_hat) @ w / F), so that few passes touch memory."""
        shape = x.shape
        f = math.prod(self.normalized_shape)
        x2 = x.reshape(-1, f)
        m = x2.shape[0]
        w = params["weight"].reshape(f) if self.has_weight else None
        xhat = x2 - (x2 @ np.full(f, 1.0 / f))[:, None]
        inv = 1.0 / np.sqrt(np.einsum("ij,ij->i", xhat, xhat) / f + float(self.eps))
        xhat *= inv[:, None]
        y = xhat * w if w is not None else xhat.copy()
        if self.has_bias:
            y += params["bias"].reshape(f)

        def backprop(dy, need_dx=True):
            dy2 = dy.reshape(-1, f)
            ones_m = np.ones(m)
            grads = {}
            t = dy2 * xhat
            if w is not None:
                grads["weight"] = (ones_m @ t).reshape(self.normalized_shape)
            if self.has_bias:
                grads["bias"] = (ones_m @ dy2).reshape(self.normalized_shape)
            if not need_dx:
                return None, grads
            if w is not None:
                mgx, mg = (t @ w) / f, (dy2 @ w) / f
                dx = dy2 * w
            else:
                mgx, mg = t.sum(axis=1) / f, dy2.sum(axis=1) / f
                dx = dy2.copy()
            dx -= mg[:, None]
            np.multiply(xhat, mgx[:, None], out=t)
            dx -= t
            dx *= inv[:, None]
            return dx.reshape(shape), grads

        return y.reshape(shape), backprop

    def proof_case(self, in_shape):
        k = len(self.normalized_shape)
        shape = (3,) if k == 1 else (2,) * k
        return dataclasses.replace(self, normalized_shape=shape), shape, 2

    def latex_forward(self, x=r"a^{[l-1]}", y=r"a^{[l]}"):
        core = f"\\frac{{{x} - \\mu}}{{\\sqrt{{\\sigma^2 + \\epsilon}}}}"
        if self.has_bias:
            return f"{y} = \\gamma \\odot {core} + \\beta"
        return f"{y} = \\gamma \\odot {core}" if self.has_weight else f"{y} = {core}"

    def latex_delta(self, dy=r"\delta^{[l]}", dx=r"\delta^{[l-1]}", x=r"a^{[l-1]}"):
        g = f"\\gamma \\odot {dy}" if self.has_weight else dy
        return (
            f"{dx} = \\frac{{1}}{{\\sqrt{{\\sigma^2 + \\epsilon}}}}\\left(g - \\overline{{g}} - \\hat{{x}}\\,"
            f"\\overline{{g \\hat{{x}}}}\\right),\\; g = {g}"
        )

    def extra_repr(self):
        text = f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        return text if self.bias else text + ", bias=False"


@dataclass(frozen=True, repr=False)
class BatchNorm1d(Module):
    """Normalise each channel over the batch (and length) of (N, C) or (N, C, L) inputs (torch.nn.BatchNorm1d)."""

    num_features: int
    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = True
    track_running_stats: bool = True

    def __post_init__(self):
        n = self.num_features
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"BatchNorm1d: num_features must be a positive integer, got {n!r}")
        object.__setattr__(self, "num_features", int(n))
        _eps(self.eps, "BatchNorm1d")
        if self.momentum is not None and (
            isinstance(self.momentum, bool) or not isinstance(self.momentum, (int, float))
        ):
            raise TypeError(f"BatchNorm1d: momentum must be a number or None, got {self.momentum!r}")
        for flag in ("affine", "track_running_stats"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"BatchNorm1d: {flag} is a bool, got {getattr(self, flag)!r}")

    @property
    def uses_batch_stats(self) -> bool:
        """True when the forward pass normalises with the batch statistics (training, or no running stats)."""
        return self.training or not self.track_running_stats

    def _check(self, in_shape):
        if len(in_shape) not in (1, 2) or in_shape[0] != self.num_features:
            raise ShapeError(
                f"{self!r} needs inputs (N, {self.num_features}) or (N, {self.num_features}, L), got per-sample "
                f"shape {tuple(in_shape)}"
            )

    def param_shapes(self, in_shape):
        self._check(in_shape)
        c = (self.num_features,)
        return {"weight": c, "bias": c} if self.affine else {}

    def buffer_shapes(self, in_shape):
        if not self.track_running_stats:
            return {}
        c = (self.num_features,)
        return {"running_mean": c, "running_var": c, "num_batches_tracked": ()}

    def out_shape(self, in_shape):
        self._check(in_shape)
        return tuple(in_shape)

    def forward(self, ar, x, params, buffers):
        axes = (0,) if x.ndim == 2 else (0, 2)
        shape = (-1,) if x.ndim == 2 else (-1, 1)  # a per-channel vector broadcast over (N, C[, L])
        count = x.shape[0] * (1 if x.ndim == 2 else x.shape[2])
        if self.uses_batch_stats and not ar.is_object and x.ndim == 2 and count >= 2:
            return self._forward_float_batch(x, params)
        if self.uses_batch_stats:
            if count < 2:
                raise ShapeError(
                    f"{self!r} in training mode needs more than 1 value per channel (got input shape {x.shape}); "
                    "use a larger batch or model.eval()"
                )
            xhat, inv = _normalize(ar, x, axes, self.eps, count)
        else:
            rm = buffers["running_mean"].reshape(shape)
            rv = buffers["running_var"].reshape(shape)
            inv = ar.const(1) / ar.sqrt(rv + ar.const(self.eps))
            xhat = (x - rm) * inv
        if self.affine:
            w = params["weight"].reshape(shape)
            y = xhat * w + params["bias"].reshape(shape)
        else:
            y = xhat

        def backprop(dy, need_dx=True):
            grads = {}
            g = dy * w if self.affine else dy
            if self.affine:
                grads["weight"] = ar.sum(dy * xhat, axis=axes)
                grads["bias"] = ar.sum(dy, axis=axes)
            if self.uses_batch_stats:
                dx = _normalize_backward(ar, g, xhat, inv, axes, count)
            else:
                dx = g * inv
            return dx, grads

        return y, backprop

    def proof_case(self, in_shape):
        shape = (2,) if len(in_shape) == 1 else (2, 2)
        return dataclasses.replace(self, num_features=2), shape, 3

    def _forward_float_batch(self, x, params):
        """FLOAT, (N, C) in training mode: column sums as BLAS products; with g = w dy per channel,
        mean(g) = w sum(dy) / N and mean(g x_hat) = w sum(dy x_hat) / N are the bias and weight gradients."""
        n = x.shape[0]
        ones = np.ones(n)
        xhat = x - (ones @ x) / n
        inv = 1.0 / np.sqrt(np.einsum("ij,ij->j", xhat, xhat) / n + float(self.eps))
        xhat *= inv
        if self.affine:
            w = params["weight"]
            y = xhat * w
            y += params["bias"]
        else:
            w = None
            y = xhat.copy()

        def backprop(dy, need_dx=True):
            t = dy * xhat
            sum_dy, sum_dyx = ones @ dy, ones @ t
            grads = {"weight": sum_dyx, "bias": sum_dy} if self.affine else {}
            if not need_dx:
                return None, grads
            dx = dy - sum_dy / n
            np.multiply(xhat, sum_dyx / n, out=t)
            dx -= t
            dx *= inv * w if w is not None else inv
            return dx, grads

        return y, backprop

    def latex_forward(self, x=r"a^{[l-1]}", y=r"a^{[l]}"):
        mu, var = (r"\mu_B", r"\sigma_B^2") if self.uses_batch_stats else (r"\hat\mu", r"\hat\sigma^2")
        core = f"\\frac{{{x} - {mu}}}{{\\sqrt{{{var} + \\epsilon}}}}"
        return f"{y} = \\gamma \\odot {core} + \\beta" if self.affine else f"{y} = {core}"

    def latex_delta(self, dy=r"\delta^{[l]}", dx=r"\delta^{[l-1]}", x=r"a^{[l-1]}"):
        g = f"\\gamma \\odot {dy}" if self.affine else dy
        if not self.uses_batch_stats:
            return f"{dx} = \\frac{{{g}}}{{\\sqrt{{\\hat\\sigma^2 + \\epsilon}}}}"
        return (
            f"{dx} = \\frac{{1}}{{\\sqrt{{\\sigma_B^2 + \\epsilon}}}}\\left(g - \\overline{{g}}^B - \\hat{{x}}\\,"
            f"\\overline{{g \\hat{{x}}}}^B\\right),\\; g = {g}"
        )

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )
