"""One symbol per meaning, declared once per document.

L is the number of layers (weight layers), n_l the width of layer l, m = n_L the number of outputs,
N the number of samples; C^{(n)} is the cost of sample n (the sum of the per-entry losses), and the
loss has its own symbol (SSR, MSE, C, BCE, CE) = scale * sum_n C^{(n)}, the scale being the loss's own
normalisation (symprop.losses.scale). Every symbol is a SymPy object printed by BackpropLatexPrinter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp

from .. import losses
from ..printing import Notation, to_latex
from ..spec import Network

#: the symbol of the whole loss, per loss (the seeds' own symbols: SSR in seed 002, C in seed 001)
LOSS_SYMBOLS: dict[str, str] = {
    "sse": r"\mathrm{SSR}",
    "mse": r"\mathrm{MSE}",
    "quadratic": "C",
    "bce": r"\mathrm{BCE}",
    "cross_entropy": r"\mathrm{CE}",
}
#: how each activation is written
ACTIVATION_LATEX: dict[str, str] = {
    "identity": r"\mathrm{id}",
    "sigmoid": r"\sigma",
    "tanh": r"\tanh",
    "relu": r"\operatorname{ReLU}",
    "leaky_relu": r"\operatorname{LeakyReLU}",
    "softplus": r"\operatorname{softplus}",
    "elu": r"\operatorname{ELU}",
    "silu": r"\operatorname{SiLU}",
    "softmax": r"\operatorname{softmax}",
}


class Partial(sp.Expr):
    r"""\frac{\partial num}{\partial den} of two symbols (a local factor of the chain rule)."""

    def __new__(cls, num: sp.Basic, den: sp.Basic) -> Partial:
        return super().__new__(cls, num, den)

    def _latex(self, printer: Any) -> str:
        num, den = (printer._print(a) for a in self.args)
        return rf"\frac{{\partial {num}}}{{\partial {den}}}"


def sym(latex: str) -> Notation:
    """A symbol whose LaTeX is given (z^{[1](2)}_{1}); printed as is."""
    return Notation(latex)


def _sample(n: int | None) -> str:
    return "" if n is None else f"({n + 1})" if isinstance(n, int) else f"({n})"


@dataclass(frozen=True)
class Symbols:
    """The notation of one document."""

    net: Network

    # ------------------------------------------------------------------ scalar quantities
    def z(self, l: int, j: int | None = None, n: int | str | None = None) -> Notation:
        sub = "" if j is None else f"_{{{j + 1}}}"
        return sym(f"z^{{[{l}]{_sample(n)}}}{sub}")

    def a(self, l: int, j: int | None = None, n: int | str | None = None) -> Notation:
        if l == 0:
            sub = "" if j is None else f"_{{{j + 1}}}"
            return sym(f"x^{{{_sample(n)}}}{sub}" if n is not None else f"x{sub}")
        sub = "" if j is None else f"_{{{j + 1}}}"
        return sym(f"a^{{[{l}]{_sample(n)}}}{sub}")

    def y(self, j: int | None = None, n: int | str | None = None) -> Notation:
        sub = "" if j is None else f"_{{{j + 1}}}"
        return sym(f"y^{{{_sample(n)}}}{sub}" if n is not None else f"y{sub}")

    def yhat(self, j: int | None = None, n: int | str | None = None) -> Notation:
        sub = "" if j is None else f"_{{{j + 1}}}"
        return sym(rf"\hat{{y}}^{{{_sample(n)}}}{sub}" if n is not None else rf"\hat{{y}}{sub}")

    def delta(self, l: int | str, j: int | None = None, n: int | str | None = None) -> Notation:
        sub = "" if j is None else f"_{{{j + 1}}}"
        return sym(rf"\delta^{{[{l}]{_sample(n)}}}{sub}")

    def W(self, l: int | str) -> Notation:
        return sym(f"W^{{[{l}]}}")

    def b(self, l: int | str) -> Notation:
        return sym(f"b^{{[{l}]}}")

    def cost(self, n: int | str | None = "n") -> Notation:
        """The cost of one sample."""
        return sym(f"C^{{{_sample(n)}}}")

    @property
    def loss(self) -> Notation:
        """What gradient descent minimises: the loss, or with an l2 penalty the objective J."""
        return sym("J") if self.net.l2 else self.data_loss

    @property
    def data_loss(self) -> Notation:
        """The loss itself (its own symbol), without any penalty."""
        return sym(LOSS_SYMBOLS[self.net.loss_name])

    @property
    def lam(self) -> Notation:
        return sym(r"\lambda")

    def lam_value(self) -> sp.Expr:
        """The l2 coefficient as the exact number the network holds."""
        return sp.Rational(self.net.l2.numerator, self.net.l2.denominator)

    def penalty(self) -> str:
        """lambda sum_l sum_{j,k} (w^{[l]}_{jk})^2."""
        return to_latex(self.lam) + r" \sum_{l=1}^{L} \sum_{j,k} \left(w^{[l]}_{jk}\right)^{2}"

    def param(self, name: str) -> sp.Symbol:
        return self.net.param(name)

    def latex(self, obj: Any) -> str:
        return to_latex(obj)

    def partial(self, num: Any, den: Any) -> str:
        return to_latex(Partial(_as_sym(num), _as_sym(den)))

    def f(self, l: int) -> str:
        """The activation of layer l as written (sigma, tanh, ...)."""
        return ACTIVATION_LATEX[self.net.activations[l - 1].name]

    def shape(self, rows: int, cols: int | None = None) -> str:
        dims = str(rows) if cols is None else rf"{rows} \times {cols}"
        return rf"\mathbb{{R}}^{{{dims}}}"

    # ------------------------------------------------------------------ the loss
    def scale(self) -> sp.Expr:
        """The loss's normalisation as an expression of N and m (losses.scale)."""
        return losses.scale(self.net)  # follows the network's reduction

    def scale_value(self, n_samples: int) -> sp.Rational:
        return losses.scale_value(self.net, n_samples)

    def scale_latex(self, n_samples: int | None = None) -> str:
        """The scale as a factor (empty when it is 1): \\frac{1}{N m}, or its value for N samples."""
        s = self.scale() if n_samples is None else self.scale_value(n_samples)
        return "" if s == 1 else to_latex(s) + " "


def _as_sym(obj: Any) -> sp.Basic:
    return obj if isinstance(obj, sp.Basic) else sym(str(obj))


#: f'(z) of each activation, written as the notes write it: (forward form, derivative form)
def activation_prime_latex(name: str, param: Any = None) -> tuple[str, str]:
    """``(f'(z) written in z, the same in a = f(z) when that is the usual form)`` for one activation."""
    p = "" if param is None else to_latex(sp.nsimplify(param))
    return {
        "identity": (r"\mathrm{id}'(z) = 1", ""),
        "sigmoid": (r"\sigma'(z) = \sigma(z)\left(1 - \sigma(z)\right)", r"= a (1 - a)"),
        "tanh": (r"\tanh'(z) = 1 - \tanh^{2}(z)", r"= 1 - a^{2}"),
        "relu": (r"\operatorname{ReLU}'(z) = \begin{cases} 1 & z > 0 \\ 0 & z \le 0 \end{cases}", ""),
        "leaky_relu": (
            rf"\operatorname{{LeakyReLU}}'(z) = \begin{{cases}} 1 & z > 0 \\ {p} & z \le 0 \end{{cases}}",
            "",
        ),
        "softplus": (r"\operatorname{softplus}'(z) = \sigma(z) = \frac{1}{1 + e^{-z}}", ""),
        "elu": (
            rf"\operatorname{{ELU}}'(z) = \begin{{cases}} 1 & z > 0 \\ {p} e^{{z}} & z \le 0 \end{{cases}}",
            rf"= a + {p} \;(z \le 0)",
        ),
        "silu": (r"\operatorname{SiLU}'(z) = \sigma(z)\left(1 + z \left(1 - \sigma(z)\right)\right)", ""),
        "softmax": (
            r"\frac{\partial a_{j}}{\partial z_{k}} = \begin{cases} a_{j} \left(1 - a_{j}\right) & j = k \\ "
            r"-a_{j} a_{k} & j \ne k \end{cases}",
            "",
        ),
    }[name]


def local_prime(act: Any, z: sp.Symbol, a: sp.Symbol) -> sp.Expr:
    """f'(z) of one neuron as the factor tables write it: a (1 - a) for sigma, 1 - a^2 for tanh, sigma(z)
    for softplus, f'(z) by name for the piecewise ones (their cases are stated once, in the notation)."""
    from .. import activations

    name = act.name
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a**2
    if name in ("relu", "leaky_relu", "elu"):
        return sym(ACTIVATION_LATEX[name] + r"'\left(" + to_latex(z) + r"\right)")
    return activations.derivative_form(act, activations.Z).xreplace({activations.Z: z})
