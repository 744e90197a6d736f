"""Each activation: its SymPy form, its derivative and its stable NumPy code, side by side.

Derivative convention at kinks: symprop uses the left derivative, as PyTorch does:
relu'(0) = 0, leaky_relu'(0) = slope, elu'(0) = alpha. (SymPy's own ``diff(Max(z, 0), z)`` is
``Heaviside(z)`` with value 1/2 at 0; symprop never uses it.)
"""

from __future__ import annotations

from functools import cache

import sympy as sp
from sympy import Function, Heaviside, Piecewise, S, exp, log, tanh

from .spec import Activation

# --------------------------------------------------------------------------- SymPy functions
# Each class knows how to differentiate itself (fdiff), evaluate at any precision (_eval_evalf),
# print as LaTeX (_latex) and print as *stable* NumPy code (_numpycode).


def _float_eval(expr_fn, z):
    """Evaluate a rewrite at the precision of a Float argument (auto-evaluation, like exp(0.5))."""
    return expr_fn(z).evalf(sp.core.evalf.prec_to_dps(z._prec))


class Sigmoid(Function):
    r"""The logistic function sigma(z) = 1 / (1 + e^{-z}); sigma' = sigma (1 - sigma)."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return S.Half
        if z is S.Infinity:
            return S.One
        if z is S.NegativeInfinity:
            return S.Zero
        if z.is_Float:
            return _float_eval(lambda t: 1 / (1 + exp(-t)), z)
        return None

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + exp(-z))

    def _eval_evalf(self, prec):
        return (1 / (1 + exp(-self.args[0])))._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_positive(self):
        return self.args[0].is_real

    def _latex(self, printer, exp=None):
        body = rf"\sigma\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _numpycode(self, printer):
        z = printer._print(self.args[0])
        np_ = printer._module_format("numpy")
        # exp(-log(1 + e^{-z})): no overflow warning for any z, full relative accuracy
        return f"{np_}.exp(-{np_}.logaddexp(0, -({z})))"


class Softplus(Function):
    r"""softplus(z) = log(1 + e^z); softplus' = sigma."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return log(2)
        if z.is_Float:
            return _float_eval(lambda t: log(1 + exp(t)), z)
        return None

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])

    def _eval_rewrite_as_log(self, z, **kwargs):
        return log(1 + exp(z))

    _eval_rewrite_as_exp = _eval_rewrite_as_log

    def _eval_evalf(self, prec):
        return log(1 + exp(self.args[0]))._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_positive(self):
        return self.args[0].is_real

    def _latex(self, printer, exp=None):
        body = rf"\operatorname{{softplus}}\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy')}.logaddexp(0, {printer._print(self.args[0])})"


class ReLU(Function):
    r"""relu(z) = max(z, 0); relu'(z) = H(z) with H(0) = 0 (as PyTorch)."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_nonnegative:
            return z
        if z.is_nonpositive:
            return S.Zero
        return None

    def fdiff(self, argindex=1):
        return Heaviside(self.args[0], 0)

    def _eval_rewrite_as_Max(self, z, **kwargs):
        return sp.Max(z, 0)

    def _eval_rewrite_as_Piecewise(self, z, **kwargs):
        return Piecewise((z, z > 0), (0, True))

    def _eval_evalf(self, prec):
        z = self.args[0]._eval_evalf(prec)
        return None if z is None or not z.is_number else (z if z > 0 else S.Zero)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_nonnegative(self):
        return self.args[0].is_real

    def _latex(self, printer, exp=None):
        body = rf"\operatorname{{ReLU}}\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy')}.maximum({printer._print(self.args[0])}, 0.0)"


class LeakyReLU(Function):
    r"""leaky_relu(z; s) = z for z > 0, s z otherwise; derivative 1 or s (s at 0, as PyTorch)."""

    nargs = 2

    @classmethod
    def eval(cls, z, slope):
        if z.is_nonnegative:
            return z
        if z.is_nonpositive:
            return slope * z
        return None

    def fdiff(self, argindex=1):
        z, slope = self.args
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        return Piecewise((S.One, z > 0), (slope, True))

    def _eval_rewrite_as_Piecewise(self, z, slope, **kwargs):
        return Piecewise((z, z > 0), (slope * z, True))

    def _eval_evalf(self, prec):
        z = self.args[0]._eval_evalf(prec)
        if z is None or not z.is_number:
            return None
        return z if z > 0 else (self.args[1] * z)._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _latex(self, printer, exp=None):
        body = rf"\operatorname{{LeakyReLU}}\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _numpycode(self, printer):
        z, s = (printer._print(a) for a in self.args)
        return f"{printer._module_format('numpy')}.where(({z}) > 0, {z}, ({s})*({z}))"


class ELU(Function):
    r"""elu(z; alpha) = z for z > 0, alpha (e^z - 1) otherwise; elu' = 1 or elu + alpha."""

    nargs = 2

    @classmethod
    def eval(cls, z, alpha):
        if z.is_nonnegative:
            return z
        if z.is_Float or (z.is_number and z.is_nonpositive):
            return alpha * (exp(z) - 1)
        return None

    def fdiff(self, argindex=1):
        z, alpha = self.args
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        # for z <= 0: d/dz alpha (e^z - 1) = alpha e^z = elu(z) + alpha (cheap: reuses the activation)
        return Piecewise((S.One, z > 0), (self + alpha, True))

    def _eval_rewrite_as_Piecewise(self, z, alpha, **kwargs):
        return Piecewise((z, z > 0), (alpha * (exp(z) - 1), True))

    _eval_rewrite_as_exp = _eval_rewrite_as_Piecewise

    def _eval_evalf(self, prec):
        z = self.args[0]._eval_evalf(prec)
        if z is None or not z.is_number:
            return None
        return z if z > 0 else (self.args[1] * (exp(z) - 1))._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _latex(self, printer, exp=None):
        body = rf"\operatorname{{ELU}}\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _numpycode(self, printer):
        z, a = (printer._print(t) for t in self.args)
        np_ = printer._module_format("numpy")
        # expm1 of min(z, 0): no overflow for large positive z, accurate near 0
        return f"{np_}.where(({z}) > 0, {z}, ({a})*{np_}.expm1({np_}.minimum({z}, 0.0)))"


# --------------------------------------------------------------------------- registry


@cache
def sympy_form(act: Activation, z: sp.Symbol) -> sp.Expr:
    """a = f(z) for an element-wise activation (softmax is handled per vector, see softmax_forms)."""
    p = None if act.param is None else sp.Rational(act.param.numerator, act.param.denominator)
    forms = {
        "identity": lambda: z,
        "sigmoid": lambda: Sigmoid(z),
        "tanh": lambda: tanh(z),
        "relu": lambda: ReLU(z),
        "leaky_relu": lambda: LeakyReLU(z, p),
        "softplus": lambda: Softplus(z),
        "elu": lambda: ELU(z, p),
        "silu": lambda: z * Sigmoid(z),
    }
    if act.name == "softmax":
        raise ValueError("softmax is a vector function; use softmax_forms")
    return forms[act.name]()


@cache
def derivative_form(act: Activation, z: sp.Symbol) -> sp.Expr:
    """f'(z), exactly, with the convention at kinks documented in this module."""
    return sp.diff(sympy_form(act, z), z)


def softmax_forms(zs: list[sp.Expr]) -> list[sp.Expr]:
    """a_j = e^{z_j} / sum_k e^{z_k} for one sample's output vector."""
    denom = sp.Add(*[exp(z) for z in zs])
    return [exp(z) / denom for z in zs]


#: the placeholder pre-activation used by the element-wise forms
Z = sp.Dummy("z", real=True)


def apply(act: Activation, zs: list[sp.Expr]) -> list[sp.Expr]:
    """Apply an activation to one sample's vector of pre-activations."""
    if act.name == "softmax":
        return softmax_forms(zs)
    f = sympy_form(act, Z)
    return [f.xreplace({Z: zi}) for zi in zs]


def apply_derivative(act: Activation, zs: list[sp.Expr]) -> list[sp.Expr]:
    """f'(z_j) for an element-wise activation."""
    d = derivative_form(act, Z)
    return [d.xreplace({Z: zi}) for zi in zs]
