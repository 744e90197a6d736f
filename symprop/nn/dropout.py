"""Dropout (torch.nn.Dropout): identity in evaluation mode; in training mode y = x * mask / (1 - p)
with a FIXED mask given by the user (symprop is exact, so it draws no random numbers).

The mask has the full input shape (N, *in_shape) and entries 0 or 1, as torch's Bernoulli mask;
p = 1 gives zeros, as torch.  ``Dropout(0.5, mask=m)``; the mask is kept as a nested tuple so that the
module stays frozen and hashable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .module import Module, ShapeError


def _freeze(mask: Any):
    if mask is None:
        return None
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    arr = np.asarray(mask)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"Dropout: mask must be an array of 0s and 1s, got dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(f"Dropout: mask must have the input's full shape (N, ...), got shape {arr.shape}")
    bad = ~((arr == 0) | (arr == 1))
    if bad.any():
        raise ValueError(f"Dropout: mask entries must be 0 or 1 (which inputs are kept), got {arr[bad].ravel()[0]!r}")
    return _to_tuple(arr.astype(np.int8))


def _to_tuple(arr: np.ndarray):
    return tuple(_to_tuple(a) for a in arr) if arr.ndim else int(arr)


@dataclass(frozen=True, repr=False)
class Dropout(Module):
    """Dropout(p=0.5, mask=None): eval mode is the identity; training mode needs ``mask``."""

    p: float = 0.5
    mask: Any = None

    def __post_init__(self):
        p = self.p
        if isinstance(p, bool) or not isinstance(p, (int, float, Fraction, np.integer, np.floating)):
            raise TypeError(f"Dropout: p must be a number in [0, 1], got {p!r}")
        if not (math.isfinite(float(p)) and 0 <= p <= 1):
            raise ValueError(f"Dropout probability has to be between 0 and 1, but got {p!r}")
        object.__setattr__(self, "mask", _freeze(self.mask))

    @property
    def mask_array(self) -> np.ndarray | None:
        return None if self.mask is None else np.array(self.mask, dtype=np.float64)

    def forward(self, ar, x, params, buffers):
        if not self.training or self.p == 0:
            return x, lambda dy, need_dx=True: (dy, {})
        if self.mask is None:
            raise ValueError(
                f"Dropout(p={self.p}) in training mode needs a fixed mask: Dropout({self.p}, mask=m) with m of the "
                f"input's shape {x.shape} (0 = dropped, 1 = kept), or use model.eval()"
            )
        m = self.mask_array
        if m.shape != x.shape:
            raise ShapeError(f"Dropout: mask has shape {m.shape} but the input has shape {x.shape}; they must match")
        if self.p == 1:
            factor = ar.zeros(x.shape)
        else:
            factor = ar.asarray(m) * ar.const(1 / (1 - _exact(self.p)))
        y = x * factor

        def backprop(dy, need_dx=True):
            return dy * factor, {}

        return y, backprop

    def proof_case(self, in_shape):
        if not self.training or self.p == 0:
            return self, (3,), 2
        return Dropout(self.p, mask=[[1, 0, 1], [0, 1, 1]], training=True), (3,), 2

    def latex_forward(self, x=r"a^{[l-1]}", y=r"a^{[l]}"):
        if not self.training:
            return f"{y} = {x}"
        return f"{y} = \\frac{{m \\odot {x}}}{{1 - p}}"

    def latex_delta(self, dy=r"\delta^{[l]}", dx=r"\delta^{[l-1]}", x=r"a^{[l-1]}"):
        if not self.training:
            return f"{dx} = {dy}"
        return f"{dx} = \\frac{{m \\odot {dy}}}{{1 - p}}"

    def extra_repr(self):
        return f"p={self.p}, inplace=False" + ("" if self.mask is None else ", mask=...")


def _exact(value) -> Fraction:
    from ..spec import exact_number

    return exact_number(value, "Dropout p")
