"""Conv1d, Conv2d (torch.nn's names, arguments and parameter shapes; zero padding; groups = 1).

Index notation (one spatial dimension shown; 2-D adds a second index everywhere), input x (N, C, L)
zero-padded by p on each side (x~), kernel w (F, C, K), stride s, dilation d, output length
O = floor((L + 2p - d(K-1) - 1) / s) + 1:

    forward            z[n,f,o]  = b[f] + sum_{c,k} w[f,c,k] x~[n,c, s o + d k]
    kernel gradient    dC/dw[f,c,k] = sum_{n,o} delta[n,f,o] x~[n,c, s o + d k]
                       (the correlation of the input with the delta)
    bias gradient      dC/db[f]  = sum_{n,o} delta[n,f,o]
    input delta        dC/dx~[n,c,i] = sum_{f,k} w[f,c,K-1-k] D[n,f, i + d k]  -> crop the padding
                       (the FULL correlation of the delta with the FLIPPED kernel), where D is delta
                       with s-1 zeros inserted between its entries (stride) and d(K-1) zeros padded on
                       each side (full): D[n,f, d(K-1) + s o] = delta[n,f,o].

The forward and the kernel gradient are written once for every arithmetic: im2col (one strided copy per
kernel offset) and one matmul (BLAS on FLOAT, numpy's object matmul on MP/SYMBOLIC).  The input delta is
computed on MP/SYMBOLIC as the full correlation itself (a sliding-window view of the stretched delta,
tensordot with the flipped kernel: ``input_delta_full_correlation``); on FLOAT as the same sum grouped by
kernel offset, W^T delta folded back into the input (col2im), which skips the inserted and border zeros.
No Python loop runs over samples or positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .module import Module, ShapeError

__all__ = [
    "Conv1d",
    "Conv2d",
    "conv_out_size",
    "fold_windows",
    "gather_windows",
    "input_delta_full_correlation",
    "window_view",
]


# ----------------------------------------------------------------------------- argument checks


def _tuple(value, nd: int, what: str, minimum: int) -> tuple[int, ...]:
    """An int or a tuple of nd ints (torch's _single/_pair), each >= minimum."""
    items = (value,) * nd if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"{what} must be an int or a tuple of {nd} ints, got {value!r}") from None
    if len(items) != nd or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items):
        raise TypeError(f"{what} must be an int or a tuple of {nd} ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{what} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in items)


def conv_out_size(length: int, k: int, s: int, p: int, d: int) -> int:
    """floor((L + 2p - d(k-1) - 1) / s) + 1 (torch's output size, ceil_mode=False)."""
    return (length + 2 * p - d * (k - 1) - 1) // s + 1


def _check_input(layer, in_shape, nd: int, channels: int | None, k, s, p, d) -> tuple[int, ...]:
    """The per-sample output spatial shape; ShapeError naming the layer when the input does not fit."""
    in_shape = tuple(in_shape)
    dims = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
    if len(in_shape) != nd + 1:
        raise ShapeError(f"{layer!r} needs inputs {dims}, got per-sample shape {in_shape}")
    if channels is not None and in_shape[0] != channels:
        raise ShapeError(f"{layer!r} needs {channels} input channels, got per-sample shape {in_shape}")
    out = tuple(conv_out_size(n, *a) for n, a in zip(in_shape[1:], zip(k, s, p, d)))
    if any(o < 1 for o in out):
        raise ShapeError(
            f"{layer!r}: the (padded) input {in_shape} is smaller than the dilated kernel "
            f"{tuple(dd * (kk - 1) + 1 for kk, dd in zip(k, d))}"
        )
    return out


# ----------------------------------------------------------------------------- window helpers (shared with pool.py)


def pad_spatial(ar, x: np.ndarray, before: tuple[int, ...], after: tuple[int, ...], value=None) -> np.ndarray:
    """x (N, C, *S) with the last len(before) axes padded (zeros of ``ar`` unless ``value`` is given)."""
    if not any(before) and not any(after):
        return x
    nd = len(before)
    shape = x.shape[:-nd] + tuple(n + a + b for n, a, b in zip(x.shape[-nd:], before, after))
    if ar.is_object:
        out = ar.zeros(shape) if value is None else np.full(shape, value, dtype=object)
    else:
        out = np.zeros(shape, dtype=x.dtype) if value is None else np.full(shape, value, dtype=x.dtype)
    out[(Ellipsis,) + tuple(slice(a, a + n) for a, n in zip(before, x.shape[-nd:]))] = x
    return out


def window_view(xp: np.ndarray, k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...]) -> np.ndarray:
    """The windows of the (already padded) xp (N, C, *S) as a view (N, C, *O, *K):
    view[n, c, o..., k...] = xp[n, c, s o + d k ...]."""
    nd = len(k)
    ext = tuple(dd * (kk - 1) + 1 for kk, dd in zip(k, d))
    win = sliding_window_view(xp, ext, axis=tuple(range(xp.ndim - nd, xp.ndim)))
    return win[(Ellipsis,) + tuple(slice(None, None, ss) for ss in s) + tuple(slice(None, None, dd) for dd in d)]


def offset_slices(off, s, d, o) -> tuple:
    """The slices of a padded (.., *S) array read by kernel offset ``off`` at every output position:
    positions s o + d off, o = 0..O-1 (one strided slice per spatial dimension)."""
    return (Ellipsis,) + tuple(slice(dd * kk, dd * kk + ss * (oo - 1) + 1, ss) for kk, ss, dd, oo in zip(off, s, d, o))


def gather_windows(xp: np.ndarray, k, s, d, o) -> np.ndarray:
    """The windows of xp (..., *S) stacked by kernel offset (row-major): (prod K, ..., *O), a copy made with
    one strided slice per kernel offset (none per sample or position)."""
    offsets = list(np.ndindex(*k))
    out = np.empty((len(offsets),) + xp.shape[: xp.ndim - len(k)] + tuple(o), dtype=xp.dtype)
    for i, off in enumerate(offsets):
        out[i] = xp[offset_slices(off, s, d, o)]
    return out


def fold_windows(ar, cols: np.ndarray, padded_shape: tuple[int, ...], k, s, d) -> np.ndarray:
    """The transpose of ``gather_windows``: cols (prod K, ..., *O) added back into an array (..., *padded_shape)
    at the places each window entry was read from.  One vectorised slice-add per kernel offset."""
    nd = len(k)
    o = cols.shape[-nd:]
    lead = cols.shape[1:-nd]
    shape = lead + tuple(padded_shape)
    out = ar.zeros(shape) if ar.is_object else np.zeros(shape, cols.dtype)
    for i, off in enumerate(np.ndindex(*k)):
        out[offset_slices(off, s, d, o)] += cols[i]
    return out


def _full_delta(ar, dy, k, s, p, d, in_spatial):
    """D: dy (N, F, *O) with s-1 zeros between entries and d(K-1) zeros on each side (the 'full' border),
    plus, on the right, the rows of the padded input that no window reached (L + 2p - ((O-1)s + d(K-1) + 1)),
    so that the full correlation with the dilated kernel has exactly the padded input's length."""
    nd = len(k)
    o = dy.shape[-nd:]
    border = tuple(dd * (kk - 1) for kk, dd in zip(k, d))
    stretched = tuple((oo - 1) * ss + 1 for oo, ss in zip(o, s))
    rest = tuple(n + 2 * pp - (st + b) for n, pp, st, b in zip(in_spatial, p, stretched, border))
    shape = dy.shape[:-nd] + tuple(st + 2 * b + r for st, b, r in zip(stretched, border, rest))
    full = ar.zeros(shape) if ar.is_object else np.zeros(shape, dtype=dy.dtype)
    full[(Ellipsis,) + tuple(slice(b, b + st, ss) for b, st, ss in zip(border, stretched, s))] = dy
    return full


def _crop(xp, p, in_spatial):
    if not any(p):
        return xp
    return xp[(Ellipsis,) + tuple(slice(pp, pp + n) for pp, n in zip(p, in_spatial))]


def input_delta_full_correlation(ar, dy, w, k, s, p, d, in_spatial):
    """dC/dx for a convolution: the FULL correlation of the stretched delta D with the FLIPPED kernel,
    dC/dx~[n,c,i] = sum_{f,k} w[f,c,K-1-k] D[n,f,i+dk], then the padding cropped.  Used on MP/SYMBOLIC (and
    by the tests on FLOAT); FLOAT computes the same sum as fold(W^T delta), see ``_ConvNd.forward``."""
    nd = len(k)
    full = _full_delta(ar, dy, k, s, p, d, in_spatial)
    dwin = window_view(full, k, (1,) * nd, d)  # (N, F, *Lp, *K), a view
    flipped = w[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
    k_axes = list(range(2 + nd, 2 + 2 * nd))
    dxp = np.tensordot(dwin, flipped, axes=([1] + k_axes, [0] + list(range(2, 2 + nd))))  # (N, *Lp, C)
    return _crop(np.moveaxis(dxp, -1, 1), p, in_spatial)


# ----------------------------------------------------------------------------- the layer kinds


@dataclass(frozen=True, repr=False)
class _ConvNd(Module):
    in_channels: int
    out_channels: int
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] = 1
    padding: int | tuple[int, ...] | str = 0
    dilation: int | tuple[int, ...] = 1
    groups: int = 1
    bias: bool = True
    padding_mode: str = "zeros"

    nd: ClassVar[int] = 0
    l2_params: ClassVar[tuple[str, ...]] = ("weight",)

    def __post_init__(self) -> None:
        name = type(self).__name__
        for what in ("in_channels", "out_channels"):
            v = getattr(self, what)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: {what} must be a positive integer, got {v!r}")
            object.__setattr__(self, what, int(v))
        if isinstance(self.groups, bool) or not isinstance(self.groups, (int, np.integer)):
            raise TypeError(f"{name}: groups must be an integer, got {self.groups!r}")
        if self.groups != 1:
            raise ValueError(f"{name}: only groups=1 is supported (got groups={self.groups!r})")
        if self.padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got {self.padding_mode!r}")
        if not isinstance(self.bias, bool):
            raise TypeError(f"{name}: bias is a bool (whether the layer has a bias), got {self.bias!r}")
        nd = self.nd
        k = _tuple(self.kernel_size, nd, f"{name}: kernel_size", 1)
        s = _tuple(self.stride, nd, f"{name}: stride", 1)
        d = _tuple(self.dilation, nd, f"{name}: dilation", 1)
        pad = self.padding
        if isinstance(pad, str):
            if pad == "valid":
                pad = 0
            elif pad == "same":
                if any(ss != 1 for ss in s):
                    raise ValueError(f"{name}: padding='same' is not supported for strided convolutions (as torch)")
                totals = [dd * (kk - 1) for kk, dd in zip(k, d)]
                if any(t % 2 for t in totals):
                    raise ValueError(
                        f"{name}: padding='same' with an even dilated kernel needs uneven padding; "
                        "give the padding as integers"
                    )
                pad = tuple(t // 2 for t in totals)
            else:
                raise ValueError(
                    f"{name}: padding must be an int, a tuple of {nd} ints, 'valid' or 'same', got {pad!r}"
                )
        p = _tuple(pad, nd, f"{name}: padding", 0)
        for what, v in (("kernel_size", k), ("stride", s), ("padding", p), ("dilation", d)):
            object.__setattr__(self, what, v)

    # ----------------------------------------------------------------- structure
    def fan_in(self, in_shape=None) -> int:
        """in_channels * prod(kernel_size): torch's init bound is 1/sqrt(fan_in)."""
        return self.in_channels * math.prod(self.kernel_size)

    def _out_spatial(self, in_shape):
        return _check_input(
            self, in_shape, self.nd, self.in_channels, self.kernel_size, self.stride, self.padding, self.dilation
        )

    def param_shapes(self, in_shape):
        self._out_spatial(in_shape)
        shapes = {"weight": (self.out_channels, self.in_channels) + self.kernel_size}
        if self.bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def out_shape(self, in_shape):
        return (self.out_channels,) + self._out_spatial(in_shape)

    # ----------------------------------------------------------------- forward and local backward rule
    def forward(self, ar, x, params, buffers):
        nd, k, s, p, d = self.nd, self.kernel_size, self.stride, self.padding, self.dilation
        if x.ndim != nd + 2:
            raise ShapeError(f"{self!r} needs inputs {'(N, C, L)' if nd == 1 else '(N, C, H, W)'}, got {x.shape}")
        n, c, in_spatial = x.shape[0], self.in_channels, x.shape[2:]
        o = self._out_spatial(x.shape[1:])
        f, kk = self.out_channels, math.prod(k)
        w = params["weight"]
        # im2col: cols[k, c, n, o] = x~[n, c, s o + d k] (one strided copy per kernel offset)
        xp = pad_spatial(ar, x, p, p)
        cols = gather_windows(np.moveaxis(xp, 1, 0), k, s, d, o).reshape(kk * c, -1)  # (K C, N O)
        wmat = w.reshape(f, c, kk).transpose(0, 2, 1).reshape(f, kk * c)  # wmat[f, (k, c)] = w[f, c, k]
        # z[f, n, o] = sum_{c, k} w[f, c, k] x~[n, c, s o + d k] (+ b[f])
        z = ar.matmul(wmat, cols).reshape((f, n) + o)
        if self.bias:
            z = z + params["bias"].reshape((f, 1) + (1,) * nd)
        y = np.moveaxis(z, 0, 1)
        if not ar.is_object:
            y = np.ascontiguousarray(y)

        def backprop(dy, need_dx=True):
            dyt = np.moveaxis(dy, 1, 0).reshape(f, -1)  # (F, N O)
            # kernel gradient: the correlation of the (padded) input with the delta,
            # dC/dw[f, c, k] = sum_{n, o} delta[n, f, o] x~[n, c, s o + d k]
            gw = ar.matmul(dyt, cols.T).reshape(f, kk, c).transpose(0, 2, 1).reshape(w.shape)
            grads = {"weight": gw}
            if self.bias:
                grads["bias"] = ar.sum(dyt, axis=1)
            if not need_dx:  # the model's first layer: its input needs no gradient
                return None, grads
            if ar.is_object:
                # the full correlation of the delta with the flipped kernel, written as such
                dx = input_delta_full_correlation(ar, dy, w, k, s, p, d, in_spatial)
            else:
                # FLOAT: the same sum, grouped by kernel offset: W^T delta folded back (col2im); it skips the
                # s-1 inserted zeros and the full border, which the full correlation would multiply out
                dcols = (wmat.T @ dyt).reshape((kk, c, n) + o)
                dxp = fold_windows(ar, dcols, xp.shape[2:], k, s, d)  # (C, N, *padded)
                dx = np.ascontiguousarray(np.moveaxis(_crop(dxp, p, in_spatial), 0, 1))
            return dx, grads

        return y, backprop

    # ----------------------------------------------------------------- notation
    def _idx(self):
        """(output index, kernel index, input index expression) in LaTeX for this layer's dimensions."""
        outs, ks = (("i",), ("u",)) if self.nd == 1 else (("i", "j"), ("u", "v"))
        terms = []
        for o, kk, ss, dd in zip(outs, ks, self.stride, self.dilation):
            a = o if ss == 1 else f"{ss}{o}"
            b = kk if dd == 1 else f"{dd}{kk}"
            terms.append(f"{a}+{b}")
        return outs, ks, terms

    def latex_forward(self, x=r"a^{[l-1]}", y=r"z^{[l]}"):
        outs, ks, terms = self._idx()
        xt = r"\tilde{" + x + "}" if any(self.padding) else x
        b = " + b_{f}" if self.bias else ""
        return (
            f"{y}_{{n f {' '.join(outs)}}} = \\sum_{{c}} \\sum_{{{','.join(ks)}}} W_{{f c {' '.join(ks)}}}\\, "
            f"{xt}_{{n c {','.join(terms)}}}{b}"
        )

    def latex_kernel_gradient(self, dy=r"\delta^{[l]}", x=r"a^{[l-1]}"):
        outs, ks, terms = self._idx()
        xt = r"\tilde{" + x + "}" if any(self.padding) else x
        return (
            f"\\frac{{\\partial C}}{{\\partial W_{{f c {' '.join(ks)}}}}} = \\sum_{{n}} \\sum_{{{','.join(outs)}}} "
            f"{dy}_{{n f {' '.join(outs)}}}\\, {xt}_{{n c {','.join(terms)}}}"
        )

    def latex_delta(self, dy=r"\delta^{[l]}", dx=r"\delta^{[l-1]}", x=r"a^{[l-1]}"):
        outs, ks, _ = self._idx()
        pos = ("p",) if self.nd == 1 else ("p", "q")
        flips = [f"K_{{{m}}}-1-{kk}" for m, kk in zip(range(1, self.nd + 1), ks)] if self.nd > 1 else [f"K-1-{ks[0]}"]
        shifted = [f"{pp}+{kk}" if dd == 1 else f"{pp}+{dd}{kk}" for pp, kk, dd in zip(pos, ks, self.dilation)]
        strided = "" if all(ss == 1 for ss in self.stride) else r"\text{ ($s-1$ zeros between entries)}"
        rule = (
            f"{dx}_{{n c {' '.join(pos)}}} = \\sum_{{f}} \\sum_{{{','.join(ks)}}} W_{{f c {','.join(flips)}}}\\, "
            f"\\hat{{{dy}}}_{{n f {','.join(shifted)}}}"
        )
        parts = [rule + strided, self.latex_kernel_gradient(dy, x)]
        if self.bias:
            parts.append(
                f"\\frac{{\\partial C}}{{\\partial b_f}} = \\sum_{{n,{','.join(outs)}}} {dy}_{{n f {' '.join(outs)}}}"
            )
        return ",\\quad ".join(parts)

    def extra_repr(self) -> str:
        nd = self.nd
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * nd:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            text += f", dilation={self.dilation}"
        if not self.bias:
            text += ", bias=False"
        return text


@dataclass(frozen=True, repr=False)
class Conv1d(_ConvNd):
    """torch.nn.Conv1d: inputs (N, C, L), weight (out_channels, in_channels, K), bias (out_channels,)."""

    nd: ClassVar[int] = 1


@dataclass(frozen=True, repr=False)
class Conv2d(_ConvNd):
    """torch.nn.Conv2d: inputs (N, C, H, W), weight (out_channels, in_channels, K1, K2), bias (out_channels,)."""

    nd: ClassVar[int] = 2
