"""MaxPool1d/2d and AvgPool1d/2d (torch.nn's names and arguments; inputs (N, C, L) / (N, C, H, W)).

Index notation (one spatial dimension; 2-D adds a second index), window size K, stride s (default K),
padding p, dilation d (MaxPool only), x~ the padded input:

    MaxPool   y[n,c,o] = max_k x~[n,c, s o + d k]
              dC/dx~[n,c,i] = sum over the windows o whose FIRST maximum (row-major order within the window)
              sits at i of delta[n,c,o]
    AvgPool   y[n,c,o] = (1/D) sum_k x~[n,c, s o + k]        (D = K1 K2 with count_include_pad=True)
              dC/dx~[n,c,i] = (1/D) sum over the windows o that contain i of delta[n,c,o]

Ties in MaxPool: the gradient goes to the first maximum of the window in row-major order (as PyTorch's
CPU kernels).  On FLOAT and MP the comparison is the numbers' own; on SYMBOLIC with numeric entries it is
decided exactly (SymPy's comparison of exact numbers: 1/3 and 2/6 tie); on SYMBOLIC with symbols the output
is ``Max(...)`` and the derivative routes delta through ``Piecewise`` conditions "x_k is the first maximum"
(x_k > every earlier entry and x_k >= every later one).  MaxPool's padding never wins: padded places are
-inf (FLOAT), below every entry (MP, exact numbers) or excluded from the window (symbols), as in torch.

Both gather the windows with ``gather_windows`` and add the contributions back with ``fold_windows`` (its
transpose: one vectorised slice-add per kernel offset, none per sample or position).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .conv import _check_input, _crop, _tuple, fold_windows, gather_windows, pad_spatial
from .module import Module, ShapeError

__all__ = ["AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d"]


@dataclass(frozen=True, repr=False)
class _PoolNd(Module):
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] | None = None
    padding: int | tuple[int, ...] = 0

    nd: ClassVar[int] = 0

    def _normalise(self, dilation=None):
        name = type(self).__name__
        nd = self.nd
        k = _tuple(self.kernel_size, nd, f"{name}: kernel_size", 1)
        s = k if self.stride is None or self.stride == () else _tuple(self.stride, nd, f"{name}: stride", 1)
        p = _tuple(self.padding, nd, f"{name}: padding", 0)
        if any(2 * pp > kk for pp, kk in zip(p, k)):
            raise ValueError(f"{name}: padding {p} must be at most half of kernel_size {k} (as torch)")
        object.__setattr__(self, "kernel_size", k)
        object.__setattr__(self, "stride", s)
        object.__setattr__(self, "padding", p)
        if getattr(self, "ceil_mode", False) is not False:
            raise ValueError(f"{name}: only ceil_mode=False is supported, got {self.ceil_mode!r}")

    @property
    def _dil(self):
        return (1,) * self.nd

    def _out_spatial(self, in_shape):
        return _check_input(self, in_shape, self.nd, None, self.kernel_size, self.stride, self.padding, self._dil)

    def out_shape(self, in_shape):
        return tuple(in_shape)[:1] + self._out_spatial(in_shape)

    def _prepare(self, x):
        nd = self.nd
        if x.ndim != nd + 2:
            raise ShapeError(f"{self!r} needs inputs {'(N, C, L)' if nd == 1 else '(N, C, H, W)'}, got {x.shape}")
        self._out_spatial(x.shape[1:])

    def _latex_idx(self):
        outs, ks = (("i",), ("u",)) if self.nd == 1 else (("i", "j"), ("u", "v"))
        terms = []
        for o, kk, ss, dd in zip(outs, ks, self.stride, self._dil):
            terms.append(f"{o if ss == 1 else f'{ss}{o}'}+{kk if dd == 1 else f'{dd}{kk}'}")
        return outs, ks, terms

    def _x(self, x):
        return r"\tilde{" + x + "}" if any(self.padding) else x

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _inside(in_spatial, p):
    """(1, 1, *padded) bool: True at the input's own places, False on the padding."""
    out = np.zeros((1, 1) + tuple(n + 2 * pp for n, pp in zip(in_spatial, p)), dtype=bool)
    out[(Ellipsis,) + tuple(slice(pp, pp + n) for pp, n in zip(p, in_spatial))] = True
    return out


# ----------------------------------------------------------------------------- MaxPool


def _first_max_numeric(flat):
    """flat (K, ...) the windows stacked by kernel offset: (the index of each window's FIRST maximum in
    row-major order, the maxima).  TypeError if two entries cannot be compared (symbols)."""
    idx = np.argmax(flat, axis=0)  # numpy's argmax returns the first maximum
    return idx, np.take_along_axis(flat, idx[None], axis=0)[0]


def _first_max_symbolic(flat, valid):
    """flat (K, ...) windows of SymPy expressions, valid (K, ...) False on padding: (mask of Piecewise
    conditions "entry k is the window's first maximum", Max(...) outputs)."""
    import sympy as sp

    lead = flat.shape[1:]
    mask = np.full(flat.shape, sp.false, dtype=object)
    out = np.empty(lead, dtype=object)
    valid = np.broadcast_to(valid, flat.shape)
    for idx in np.ndindex(*lead):
        entries = [(k, flat[(k,) + idx]) for k in range(flat.shape[0]) if valid[(k,) + idx]]
        out[idx] = sp.Max(*(e for _, e in entries))
        for pos, (k, e) in enumerate(entries):
            conds = [e > g for _, g in entries[:pos]] + [e >= g for _, g in entries[pos + 1 :]]
            mask[(k,) + idx] = sp.And(*conds)
    return mask, out


@dataclass(frozen=True, repr=False)
class _MaxPoolNd(_PoolNd):
    dilation: int | tuple[int, ...] = 1
    return_indices: bool = False
    ceil_mode: bool = False

    def __post_init__(self):
        name = type(self).__name__
        if self.return_indices is not False:
            raise ValueError(f"{name}: return_indices=True is not supported (the layer returns one tensor)")
        self._normalise()
        object.__setattr__(self, "dilation", _tuple(self.dilation, self.nd, f"{name}: dilation", 1))

    @property
    def _dil(self):
        return self.dilation

    def forward(self, ar, x, params, buffers):
        self._prepare(x)
        k, s, p, d = self.kernel_size, self.stride, self.padding, self.dilation
        in_spatial = x.shape[2:]
        o = self._out_spatial(x.shape[1:])
        mask = None
        if not ar.is_object:
            xp = pad_spatial(ar, x, p, p, value=-np.inf)
            flat = gather_windows(xp, k, s, d, o)
            y = np.max(flat, axis=0)
            # the first maximum in row-major window order: equal to the max and no earlier entry was
            mask = np.empty(flat.shape, dtype=bool)
            taken = np.zeros(y.shape, dtype=bool)
            for i in range(flat.shape[0]):
                np.logical_and(flat[i] == y, ~taken, out=mask[i])
                taken |= mask[i]
        else:
            try:  # numbers (MP, or SYMBOLIC with numeric entries): exact comparisons, padding below them all
                low = np.min(x) - 1 if x.size else ar.const(0)
                bool(low < low + 1)
                xp = pad_spatial(ar, x, p, p, value=low)
                idx, y = _first_max_numeric(gather_windows(xp, k, s, d, o))
            except TypeError:  # symbols: Max(...) and Piecewise conditions, padding excluded
                xp = pad_spatial(ar, x, p, p)
                valid = gather_windows(_inside(in_spatial, p), k, s, d, o)
                mask, y = _first_max_symbolic(gather_windows(xp, k, s, d, o), valid)
        if mask is None:
            mask = idx[None] == np.arange(math.prod(k)).reshape((-1,) + (1,) * idx.ndim)
        padded_shape = xp.shape[2:]

        def backprop(dy, need_dx=True):
            cols = ar.where(mask, dy[None], ar.const(0))  # delta routed to each window's first maximum
            return _crop(fold_windows(ar, cols, padded_shape, k, s, d), p, in_spatial), {}

        return y, backprop

    def latex_forward(self, x=r"a^{[l-1]}", y=r"a^{[l]}"):
        outs, ks, terms = self._latex_idx()
        return f"{y}_{{n c {' '.join(outs)}}} = \\max_{{{','.join(ks)}}} {self._x(x)}_{{n c {','.join(terms)}}}"

    def latex_delta(self, dy=r"\delta^{[l]}", dx=r"\delta^{[l-1]}", x=r"a^{[l-1]}"):
        outs, ks, terms = self._latex_idx()
        pos = ("p",) if self.nd == 1 else ("p", "q")
        return (
            f"{dx}_{{n c {' '.join(pos)}}} = \\sum_{{{','.join(outs)}\\,:\\,({','.join(pos)}) = "
            f"\\operatorname{{first\\,argmax}}_{{{','.join(ks)}}} {self._x(x)}_{{n c {','.join(terms)}}}}} "
            f"{dy}_{{n c {' '.join(outs)}}}"
        )

    def extra_repr(self):
        return super().extra_repr() + f", dilation={self.dilation}, ceil_mode={self.ceil_mode}"


@dataclass(frozen=True, repr=False)
class MaxPool1d(_MaxPoolNd):
    """torch.nn.MaxPool1d(kernel_size, stride=None, padding=0, dilation=1); the first maximum gets the gradient."""

    nd: ClassVar[int] = 1


@dataclass(frozen=True, repr=False)
class MaxPool2d(_MaxPoolNd):
    """torch.nn.MaxPool2d(kernel_size, stride=None, padding=0, dilation=1); the first maximum (row-major)
    of each window gets the gradient, as PyTorch."""

    nd: ClassVar[int] = 2


# ----------------------------------------------------------------------------- AvgPool


@dataclass(frozen=True, repr=False)
class _AvgPoolNd(_PoolNd):
    ceil_mode: bool = False
    count_include_pad: bool = True

    def __post_init__(self):
        name = type(self).__name__
        if not isinstance(self.count_include_pad, bool):
            raise TypeError(f"{name}: count_include_pad is a bool, got {self.count_include_pad!r}")
        self._normalise()
        override = getattr(self, "divisor_override", None)
        if override is not None and (
            isinstance(override, bool) or not isinstance(override, (int, np.integer)) or override < 1
        ):
            raise ValueError(f"{name}: divisor_override must be None or a positive integer, got {override!r}")

    def _divisor(self, in_spatial):
        """The divisor per output position: an int, or an int array of the output's spatial shape."""
        override = getattr(self, "divisor_override", None)
        if override is not None:
            return int(override)
        if self.count_include_pad or not any(self.padding):
            return math.prod(self.kernel_size)
        inside = _inside(in_spatial, self.padding).astype(np.int64)
        o = self._out_spatial((1,) + tuple(in_spatial))
        return gather_windows(inside, self.kernel_size, self.stride, self._dil, o).sum(axis=0)[0, 0]

    def forward(self, ar, x, params, buffers):
        self._prepare(x)
        k, s, p = self.kernel_size, self.stride, self.padding
        in_spatial = x.shape[2:]
        o = self._out_spatial(x.shape[1:])
        xp = pad_spatial(ar, x, p, p)
        div = self._divisor(in_spatial)
        if ar.is_object:
            inv = ar.const(1) / ar.asarray(div) if not isinstance(div, int) else ar.const(1) / ar.const(div)
        else:
            inv = 1.0 / np.asarray(div, dtype=np.float64)
        y = ar.sum(gather_windows(xp, k, s, self._dil, o), axis=0) * inv
        padded_shape = xp.shape[2:]

        def backprop(dy, need_dx=True):
            g = dy * inv
            cols = np.broadcast_to(g[None], (math.prod(k),) + g.shape)  # each window entry gets delta / D
            return _crop(fold_windows(ar, cols, padded_shape, k, s, self._dil), p, in_spatial), {}

        return y, backprop

    def latex_forward(self, x=r"a^{[l-1]}", y=r"a^{[l]}"):
        outs, ks, terms = self._latex_idx()
        div = "D" if not self.count_include_pad and any(self.padding) else str(math.prod(self.kernel_size))
        if getattr(self, "divisor_override", None) is not None:
            div = str(self.divisor_override)
        return (
            f"{y}_{{n c {' '.join(outs)}}} = \\frac{{1}}{{{div}}} \\sum_{{{','.join(ks)}}} "
            f"{self._x(x)}_{{n c {','.join(terms)}}}"
        )

    def latex_delta(self, dy=r"\delta^{[l]}", dx=r"\delta^{[l-1]}", x=r"a^{[l-1]}"):
        outs, ks, terms = self._latex_idx()
        pos = ("p",) if self.nd == 1 else ("p", "q")
        div = (
            str(math.prod(self.kernel_size))
            if getattr(self, "divisor_override", None) is None
            else str(self.divisor_override)
        )
        if not self.count_include_pad and any(self.padding):
            div = "D"
        cover = ",".join(f"{pp} = {t}" for pp, t in zip(pos, terms))
        return (
            f"{dx}_{{n c {' '.join(pos)}}} = \\frac{{1}}{{{div}}} \\sum_{{{','.join(outs)},{','.join(ks)}\\,:\\,"
            f"{cover}}} {dy}_{{n c {' '.join(outs)}}}"
        )

    def extra_repr(self):
        return super().extra_repr()


@dataclass(frozen=True, repr=False)
class AvgPool1d(_AvgPoolNd):
    """torch.nn.AvgPool1d(kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True)."""

    nd: ClassVar[int] = 1


@dataclass(frozen=True, repr=False)
class AvgPool2d(_AvgPoolNd):
    """torch.nn.AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
    divisor_override=None)."""

    divisor_override: int | None = None

    nd: ClassVar[int] = 2
