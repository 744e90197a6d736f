"""The activations: ONE registry entry per kind, and the torch-named modules that use it.

Each ``ActivationEntry`` holds everything about one activation: its torch name, LaTeX name, derivative
convention at kinks, a bound on |f''| (for tolerances), a sentence of text, and its forward and local
backward rule written once against the arithmetic (``symprop.nn.arith``).  Nothing else in
``symprop.nn`` keeps a table of activations; ``REGISTRY`` maps the canonical name to the entry.

Kinks follow PyTorch: the left derivative (relu'(0) = 0, leaky_relu'(0) = negative_slope,
elu'(0) = alpha); Softplus returns x where beta x > threshold, as torch does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .module import Module, ShapeError


@dataclass(frozen=True)
class ActivationEntry:
    """One activation kind: facts, notation, forward and local backward rule."""

    name: str  #: canonical name ("relu", "leaky_relu", "gelu", ...)
    torch_name: str  #: the torch.nn class name
    latex: str  #: LaTeX of f (applied as f\left(z\right))
    latex_derivative: str  #: LaTeX of f'(z) in terms of z (and a = f(z))
    kink: str  #: the derivative convention at kinks ("" when smooth)
    #: sup |f''| over the reals: a number, or a function of the module (when it depends on its parameters)
    curvature: float | Callable[[Any], float]
    text: str  #: one sentence for documents
    #: f(ar, x, module) -> y, or (y, saved) to hand intermediate values to the backward rule
    forward: Callable[[Any, np.ndarray, Any], Any]
    #: f'(x) dy: backward(ar, x, y, dy, module, saved=None) -> dx
    backward: Callable[..., np.ndarray]


REGISTRY: dict[str, ActivationEntry] = {}


def _register(entry: ActivationEntry) -> ActivationEntry:
    REGISTRY[entry.name] = entry
    return entry


# ----------------------------------------------------------------------------- the entries
_register(
    ActivationEntry(
        "identity",
        "Identity",
        r"\operatorname{id}",
        "1",
        "",
        0.0,
        "the identity: a = z.",
        lambda ar, x, m: x,
        lambda ar, x, y, dy, m, saved=None: dy,
    )
)
_register(
    ActivationEntry(
        "relu",
        "ReLU",
        r"\operatorname{ReLU}",
        r"H(z)",
        "relu'(0) = 0 (the left derivative, as PyTorch)",
        0.0,
        "the rectified linear unit max(z, 0).",
        lambda ar, x, m: ar.relu(x),
        lambda ar, x, y, dy, m, saved=None: ar.relu_backward(x, dy),
    )
)
_register(
    ActivationEntry(
        "leaky_relu",
        "LeakyReLU",
        r"\operatorname{LeakyReLU}",
        r"\begin{cases}1 & z > 0\\ s & z \le 0\end{cases}",
        "leaky_relu'(0) = negative_slope (the left derivative, as PyTorch)",
        0.0,
        "z for z > 0 and negative_slope * z otherwise.",
        lambda ar, x, m: ar.leaky_relu(x, ar.const(m.negative_slope)),
        lambda ar, x, y, dy, m, saved=None: dy * ar.where(ar.gt(x, 0), ar.const(1), ar.const(m.negative_slope)),
    )
)
_register(
    ActivationEntry(
        "sigmoid",
        "Sigmoid",
        r"\sigma",
        r"\sigma(z)\left(1 - \sigma(z)\right)",
        "",
        math.sqrt(3) / 18,
        "the logistic function 1 / (1 + e^{-z}).",
        lambda ar, x, m: ar.sigmoid(x),
        lambda ar, x, y, dy, m, saved=None: dy * (y * (ar.const(1) - y)),
    )
)
_register(
    ActivationEntry(
        "tanh",
        "Tanh",
        r"\tanh",
        r"1 - \tanh^2(z)",
        "",
        4 / (3 * math.sqrt(3)),
        "the hyperbolic tangent.",
        lambda ar, x, m: ar.tanh(x),
        lambda ar, x, y, dy, m, saved=None: dy * (ar.const(1) - y * y),
    )
)


def _softplus_forward(ar, x, m):
    beta = ar.const(m.beta)
    bx = x * beta
    soft = ar.softplus(bx) if m.beta == 1 else ar.softplus(bx) * ar.const(1 / _exact(m.beta))
    if m.threshold == math.inf:
        return soft
    return ar.where(ar.gt(bx, ar.const(m.threshold)), x, soft)


def _softplus_backward(ar, x, y, dy, m, saved=None):
    bx = x * ar.const(m.beta)
    if m.threshold == math.inf:
        return dy * ar.sigmoid(bx)
    return dy * ar.where(ar.gt(bx, ar.const(m.threshold)), ar.const(1), ar.sigmoid(bx))


_register(
    ActivationEntry(
        "softplus",
        "Softplus",
        r"\operatorname{softplus}",
        r"\sigma(\beta z)",
        "x itself where beta x > threshold (derivative 1 there), as PyTorch",
        lambda m: float(m.beta) / 4,
        "log(1 + e^{beta z}) / beta, smooth relu.",
        _softplus_forward,
        _softplus_backward,
    )
)
_register(
    ActivationEntry(
        "elu",
        "ELU",
        r"\operatorname{ELU}",
        r"\begin{cases}1 & z > 0\\ a + \alpha & z \le 0\end{cases}",
        "elu'(0) = alpha (the left derivative, as PyTorch)",
        lambda m: abs(float(m.alpha)),
        "z for z > 0 and alpha (e^z - 1) otherwise.",
        lambda ar, x, m: ar.elu(x, ar.const(m.alpha)),
        lambda ar, x, y, dy, m, saved=None: dy * ar.where(ar.gt(x, 0), ar.const(1), y + ar.const(m.alpha)),
    )
)


def _silu_backward(ar, x, y, dy, m, saved=None):
    s = ar.sigmoid(x)
    one = ar.const(1)
    return dy * (s * (one + x * (one - s)))


_register(
    ActivationEntry(
        "silu",
        "SiLU",
        r"\operatorname{SiLU}",
        r"\sigma(z)\left(1 + z\left(1 - \sigma(z)\right)\right)",
        "",
        0.5,
        "z sigma(z) (swish).",
        lambda ar, x, m: x * ar.sigmoid(x),
        _silu_backward,
    )
)

#: the tanh approximation's constant, as torch writes it
GELU_TANH_C = Fraction(44715, 1000000)


def _gelu_forward(ar, x, m):
    half, one = ar.const(Fraction(1, 2)), ar.const(1)
    if m.approximate == "tanh":
        c = ar.sqrt(ar.const(2) / ar.pi())
        t = ar.tanh(c * (x + ar.const(GELU_TANH_C) * x * x * x))
        return half * x * (one + t), t
    cdf = half * (one + ar.erf(x / ar.sqrt(ar.const(2))))
    return x * cdf, cdf


def _gelu_backward(ar, x, y, dy, m, saved=None):
    half, one = ar.const(Fraction(1, 2)), ar.const(1)
    if m.approximate == "tanh":
        c = ar.sqrt(ar.const(2) / ar.pi())
        k = ar.const(GELU_TANH_C)
        t = saved if saved is not None else ar.tanh(c * (x + k * x * x * x))
        return dy * (half * (one + t) + half * x * (one - t * t) * c * (one + ar.const(3) * k * x * x))
    cdf = saved if saved is not None else half * (one + ar.erf(x / ar.sqrt(ar.const(2))))
    if not ar.is_object:  # FLOAT: the same formula in place on one fresh array
        d = np.square(x)
        d *= -0.5
        np.exp(d, out=d)
        d *= x
        d *= 1.0 / math.sqrt(2 * math.pi)
        d += cdf
        d *= dy
        return d
    pdf = ar.exp(-(x * x) * half) / ar.sqrt(ar.const(2) * ar.pi())
    return dy * (cdf + x * pdf)


_register(
    ActivationEntry(
        "gelu",
        "GELU",
        r"\operatorname{GELU}",
        r"\Phi(z) + z \varphi(z)",
        "",
        2 / math.sqrt(2 * math.pi),
        "z Phi(z), Phi the standard normal CDF (approximate='tanh': torch's tanh formula).",
        _gelu_forward,
        _gelu_backward,
    )
)


def _exact(value) -> Fraction:
    from ..spec import exact_number

    return exact_number(value, "an activation parameter")


# ----------------------------------------------------------------------------- the modules


@dataclass(frozen=True, repr=False)
class _Elementwise(Module):
    """An element-wise activation: forward and backward come from its REGISTRY entry."""

    entry_name = "identity"

    @property
    def entry(self) -> ActivationEntry:
        return REGISTRY[self.entry_name]

    def curvature_bound(self) -> float:
        """sup |f''| of this activation (with its parameters), for tolerances."""
        c = self.entry.curvature
        return float(c(self)) if callable(c) else float(c)

    def forward(self, ar, x, params, buffers):
        entry = self.entry
        y = entry.forward(ar, x, self)
        saved = None
        if isinstance(y, tuple):
            y, saved = y

        def backprop(dy, need_dx=True):
            return entry.backward(ar, x, y, dy, self, saved), {}

        return y, backprop

    def proof_case(self, in_shape):
        return self, (3,), 2  # element-wise: the rule does not depend on the shape

    def latex_forward(self, x=r"z^{[l]}", y=r"a^{[l]}"):
        return f"{y} = {self.entry.latex}\\left({x}\\right)"

    def latex_delta(self, dy=r"\frac{\partial C}{\partial a^{[l]}}", dx=r"\delta^{[l]}", x=r"z^{[l]}"):
        return f"{dx} = {dy} \\odot {self.entry.latex}'\\left({x}\\right)"


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return value


@dataclass(frozen=True, repr=False)
class Identity(_Elementwise):
    entry_name = "identity"


@dataclass(frozen=True, repr=False)
class ReLU(_Elementwise):
    entry_name = "relu"


@dataclass(frozen=True, repr=False)
class Sigmoid(_Elementwise):
    entry_name = "sigmoid"


@dataclass(frozen=True, repr=False)
class Tanh(_Elementwise):
    entry_name = "tanh"


@dataclass(frozen=True, repr=False)
class SiLU(_Elementwise):
    entry_name = "silu"


@dataclass(frozen=True, repr=False)
class LeakyReLU(_Elementwise):
    negative_slope: float = 0.01
    entry_name = "leaky_relu"

    def __post_init__(self):
        _number(self.negative_slope, "LeakyReLU: negative_slope")

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


@dataclass(frozen=True, repr=False)
class ELU(_Elementwise):
    alpha: float = 1.0
    entry_name = "elu"

    def __post_init__(self):
        _number(self.alpha, "ELU: alpha")

    def extra_repr(self):
        return f"alpha={self.alpha}"


@dataclass(frozen=True, repr=False)
class Softplus(_Elementwise):
    beta: float = 1.0
    threshold: float = 20.0
    entry_name = "softplus"

    def __post_init__(self):
        _number(self.beta, "Softplus: beta")
        if not (isinstance(self.threshold, float) and self.threshold == math.inf):
            _number(self.threshold, "Softplus: threshold")  # inf is allowed: no linear region
        if self.beta <= 0:
            raise ValueError(f"Softplus: beta must be > 0, got {self.beta!r}")

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


GELU_APPROXIMATIONS = ("none", "tanh")


@dataclass(frozen=True, repr=False)
class GELU(_Elementwise):
    approximate: str = "none"
    entry_name = "gelu"

    def __post_init__(self):
        if self.approximate not in GELU_APPROXIMATIONS:
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh' (as torch), got {self.approximate!r}")

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


@dataclass(frozen=True, repr=False)
class Softmax(Module):
    """y = exp(x) / sum(exp(x)) along ``dim`` (of the full (N, ...) tensor, as torch)."""

    dim: int = -1

    def __post_init__(self):
        if isinstance(self.dim, bool) or not isinstance(self.dim, (int, np.integer)):
            raise TypeError(f"Softmax: dim must be an integer (torch's dim), got {self.dim!r}")

    def _axis(self, ndim: int) -> int:
        if not -ndim <= self.dim < ndim:
            raise ShapeError(f"{self!r}: dim={self.dim} is out of range for a {ndim}-dimensional input (N, ...)")
        return self.dim % ndim

    def out_shape(self, in_shape):
        self._axis(len(in_shape) + 1)
        return tuple(in_shape)

    def forward(self, ar, x, params, buffers):
        axis = self._axis(x.ndim)
        if ar.is_object:
            e = ar.exp(x)
        else:
            e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        y = e / ar.sum(e, axis=axis, keepdims=True)

        def backprop(dy, need_dx=True):
            return y * (dy - ar.sum(dy * y, axis=axis, keepdims=True)), {}

        return y, backprop

    def proof_case(self, in_shape):
        return self, tuple(min(d, 3) for d in in_shape), 2

    def latex_forward(self, x=r"z^{[l]}", y=r"a^{[l]}"):
        return f"{y}_j = \\frac{{e^{{{x}_j}}}}{{\\sum_k e^{{{x}_k}}}}"

    def latex_delta(self, dy=r"\frac{\partial C}{\partial a^{[l]}}", dx=r"\delta^{[l]}", x=r"z^{[l]}"):
        return f"{dx}_j = a_j \\left(({dy})_j - \\sum_k ({dy})_k a_k\\right)"

    def extra_repr(self):
        return f"dim={self.dim}"


#: torch class name -> symprop.nn class, for every activation module
ACTIVATION_MODULES = {
    cls.__name__: cls for cls in (Identity, ReLU, LeakyReLU, Sigmoid, Tanh, Softplus, ELU, SiLU, GELU, Softmax)
}
