"""Flatten (torch.nn.Flatten): merge dimensions start_dim..end_dim of the (N, ...) tensor."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .module import Module, ShapeError


@dataclass(frozen=True, repr=False)
class Flatten(Module):
    """Flatten(start_dim=1, end_dim=-1); dims count the batch dimension (as torch); the batch dimension
    itself cannot be merged (start_dim >= 1)."""

    start_dim: int = 1
    end_dim: int = -1

    def __post_init__(self):
        for name in ("start_dim", "end_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"Flatten: {name} must be an integer, got {v!r}")

    def _range(self, ndim: int) -> tuple[int, int]:
        s, e = self.start_dim, self.end_dim
        if not (-ndim <= s < ndim and -ndim <= e < ndim):
            raise ShapeError(f"{self!r}: dimension out of range for a {ndim}-dimensional input (N, ...)")
        s, e = s % ndim, e % ndim
        if s == 0:
            raise ShapeError(f"{self!r}: symprop keeps the batch dimension 0 separate; use start_dim >= 1")
        if s > e:
            raise ShapeError(f"{self!r}: start_dim must not come after end_dim (for a {ndim}-dimensional input)")
        return s, e

    def out_shape(self, in_shape):
        full = (1,) + tuple(in_shape)
        s, e = self._range(len(full))
        return tuple(full[1:s]) + (math.prod(full[s : e + 1]),) + tuple(full[e + 1 :])

    def forward(self, ar, x, params, buffers):
        shape = x.shape
        y = x.reshape((shape[0],) + self.out_shape(shape[1:]))
        return y, lambda dy, need_dx=True: (dy.reshape(shape), {})

    def proof_case(self, in_shape):
        return self, tuple(min(d, 2) for d in in_shape), 2

    def latex_forward(self, x=r"a^{[l-1]}", y=r"a^{[l]}"):
        return f"{y} = \\operatorname{{vec}}\\left({x}\\right)"

    def latex_delta(self, dy=r"\delta^{[l]}", dx=r"\delta^{[l-1]}", x=r"a^{[l-1]}"):
        return f"{dx} = \\operatorname{{reshape}}\\left({dy}\\right)"

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
