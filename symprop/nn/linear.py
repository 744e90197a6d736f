"""Linear: y = x W^T + b (torch.nn.Linear: weight (out_features, in_features), bias (out_features,))."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .module import Module, ShapeError


def _positive_int(value, what: str) -> int:
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True, repr=False)
class Linear(Module):
    """y = x W^T + b over the last dimension (extra leading dimensions allowed, as torch)."""

    in_features: int
    out_features: int
    bias: bool = True

    l2_params: ClassVar[tuple[str, ...]] = ("weight",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_features", _positive_int(self.in_features, "Linear: in_features"))
        object.__setattr__(self, "out_features", _positive_int(self.out_features, "Linear: out_features"))
        if not isinstance(self.bias, bool):
            raise TypeError(f"Linear: bias is a bool (whether the layer has a bias), got {self.bias!r}")

    def _check(self, in_shape):
        if not in_shape or in_shape[-1] != self.in_features:
            raise ShapeError(
                f"{self!r} needs inputs whose last dimension is in_features={self.in_features}, "
                f"got per-sample shape {tuple(in_shape)}"
            )

    def param_shapes(self, in_shape):
        self._check(in_shape)
        shapes = {"weight": (self.out_features, self.in_features)}
        if self.bias:
            shapes["bias"] = (self.out_features,)
        return shapes

    def out_shape(self, in_shape):
        self._check(in_shape)
        return tuple(in_shape[:-1]) + (self.out_features,)

    def forward(self, ar, x, params, buffers):
        w = params["weight"]
        y = ar.matmul(x, w.T)
        if self.bias:
            y += params["bias"]  # in place: y is a fresh array

        def backprop(dy, need_dx=True):
            x2 = x.reshape(-1, self.in_features)
            dy2 = dy.reshape(-1, self.out_features)
            grads = {"weight": ar.matmul(dy2.T, x2)}
            if self.bias:
                grads["bias"] = ar.sum(dy2, axis=0)
            return (ar.matmul(dy, w) if need_dx else None), grads

        return y, backprop

    def proof_case(self, in_shape):
        return Linear(3, 2, bias=self.bias, training=self.training), (3,), 2

    def latex_forward(self, x=r"a^{[l-1]}", y=r"z^{[l]}"):
        return f"{y} = W {x} + b" if self.bias else f"{y} = W {x}"

    def latex_delta(self, dy=r"\delta^{[l]}", dx=r"\delta^{[l-1]}", x=r"a^{[l-1]}"):
        parts = [f"{dx} = W^\\top {dy}", f"\\frac{{\\partial C}}{{\\partial W}} = {dy} \\left({x}\\right)^\\top"]
        if self.bias:
            parts.append(f"\\frac{{\\partial C}}{{\\partial b}} = {dy}")
        return ",\\quad ".join(parts)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias}"
