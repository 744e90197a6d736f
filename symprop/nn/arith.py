"""The arithmetic interface: one forward/backward per layer kind, run on several number kinds.

A layer's ``forward(ar, x, params, buffers)`` calls only the methods below (and Python's ``+ - * /``
and ``@`` on the arrays ``ar`` returns), so the same code computes

* ``FLOAT``       -- numpy float64 arrays: the fast path (BLAS matmuls);
* ``MP(dps)``     -- numpy object arrays of ``mpmath`` numbers at ``dps`` decimal digits, in a private
                     mpmath context (no global precision is touched): the multi-precision oracle;
* ``SYMBOLIC``    -- numpy object arrays of SymPy expressions: closed forms and the symbolic reverse
                     pass.  The kinked activations are symprop's SymPy Functions (``symprop.activations``:
                     ``ReLU``, ``LeakyReLU``, ``ELU``, ``Sigmoid``, ``Softplus``), so the derivative
                     convention at kinks (the left derivative, relu'(0) = 0, as PyTorch) and the LaTeX
                     have one source.

Kinks are explicit functions (``relu``, ``step``) or ``where(cond, a, b)``: with numbers the condition is
known and one branch is taken; with symbols SYMBOLIC builds a ``Piecewise``.  ``step(x)`` is 1 for x > 0
and 0 otherwise (H(0) = 0: the left derivative of relu at 0, as PyTorch).

Constants (``ar.const``) take Python ints, floats (read decimal-faithfully: 0.1 is 1/10 in MP and
SYMBOLIC, as everywhere in symprop), Fractions and SymPy numbers.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["FLOAT", "MP", "SYMBOLIC", "Arith", "FloatArith", "MPArith", "SymbolicArith"]


def _fraction(value: Any) -> Fraction:
    from ..spec import exact_number

    return exact_number(value, "a constant")


class Arith:
    """The operations layers use.  Subclasses implement them for one number kind."""

    name = "abstract"
    #: True when arrays hold Python objects (MP, SYMBOLIC): no in-place BLAS tricks, no float dtype
    is_object = False

    # ----------------------------------------------------------------- construction
    def asarray(self, x: Any) -> np.ndarray:
        raise NotImplementedError

    def const(self, value: Any) -> Any:
        """A scalar constant of this number kind."""
        raise NotImplementedError

    def zeros(self, shape: tuple) -> np.ndarray:
        raise NotImplementedError

    def ones(self, shape: tuple) -> np.ndarray:
        return self.zeros(shape) + self.const(1)

    def full(self, shape: tuple, value: Any) -> np.ndarray:
        return self.zeros(shape) + self.const(value)

    # ----------------------------------------------------------------- linear algebra and reductions
    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a @ b

    def sum(self, x: np.ndarray, axis: Any = None, keepdims: bool = False) -> Any:
        return np.sum(x, axis=axis, keepdims=keepdims)

    def mean(self, x: np.ndarray, axis: Any = None, keepdims: bool = False) -> Any:
        count = x.size if axis is None else math.prod(x.shape[a] for a in np.atleast_1d(axis))
        return self.sum(x, axis=axis, keepdims=keepdims) * self.const(Fraction(1, count))

    def max(self, x: np.ndarray, axis: Any = None, keepdims: bool = False) -> Any:
        """Only for numerical stabilisation (FLOAT); exact kinds return 0 (no overflow to avoid)."""
        return self.const(0)

    # ----------------------------------------------------------------- element-wise functions
    def exp(self, x):
        raise NotImplementedError

    def log(self, x):
        raise NotImplementedError

    def log1p(self, x):
        raise NotImplementedError

    def tanh(self, x):
        raise NotImplementedError

    def erf(self, x):
        raise NotImplementedError

    def sqrt(self, x):
        raise NotImplementedError

    def sigmoid(self, x):
        raise NotImplementedError

    def softplus(self, x):
        """log(1 + e^x), stable."""
        raise NotImplementedError

    def relu(self, x):
        raise NotImplementedError

    def step(self, x):
        """H(x) with H(0) = 0: relu's (left) derivative, as PyTorch."""
        raise NotImplementedError

    def relu_backward(self, x, dy):
        """dy * step(x)."""
        return dy * self.step(x)

    def abs(self, x):
        raise NotImplementedError

    def sign(self, x):
        """sign(x) with sign(0) = 0 (abs's derivative at 0 as PyTorch)."""
        raise NotImplementedError

    def gt(self, x, c):
        """x > c element-wise (numbers: bools; SYMBOLIC with symbols: relations)."""
        return x > c

    def leaky_relu(self, x, slope):
        """x for x > 0, slope x otherwise."""
        return self.where(self.gt(x, 0), x, x * slope)

    def elu(self, x, alpha):
        """x for x > 0, alpha (e^x - 1) otherwise."""
        return self.where(self.gt(x, 0), x, (self.exp(x) - self.const(1)) * alpha)

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    def pi(self):
        raise NotImplementedError

    # ----------------------------------------------------------------- context
    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


# =========================================================================== FLOAT


class FloatArith(Arith):
    """numpy float64: the fast path."""

    name = "FLOAT"

    def asarray(self, x):
        if hasattr(x, "detach"):  # a torch tensor
            x = x.detach().cpu().numpy()
        return np.asarray(x, dtype=np.float64)

    def const(self, value):
        return float(value)

    def zeros(self, shape):
        return np.zeros(shape)

    def ones(self, shape):
        return np.ones(shape)

    def max(self, x, axis=None, keepdims=False):
        return np.max(x, axis=axis, keepdims=keepdims)

    def sum(self, x, axis=None, keepdims=False):
        if axis in (0, (0,)) and x.ndim == 2 and not keepdims and x.flags.c_contiguous:
            return np.ones(x.shape[0]) @ x  # column sums as one BLAS pass
        return np.sum(x, axis=axis, keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return np.mean(x, axis=axis, keepdims=keepdims)

    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    log1p = staticmethod(np.log1p)
    tanh = staticmethod(np.tanh)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)

    def erf(self, x):
        try:
            from scipy.special import erf
        except ImportError:  # pragma: no cover - scipy is usually present
            erf = np.vectorize(math.erf, otypes=[float])
        return erf(x)

    def sigmoid(self, x):
        # exp(-log(1 + e^{-x})): no overflow warning for any x, full relative accuracy
        return np.exp(-np.logaddexp(0.0, -x))

    def softplus(self, x):
        return np.logaddexp(0.0, x)

    def relu(self, x):
        return np.maximum(x, 0.0)

    def elu(self, x, alpha):
        # expm1 of min(x, 0): no overflow for large positive x, accurate near 0
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))

    def step(self, x):
        return (x > 0).astype(np.float64)

    def relu_backward(self, x, dy):
        """dy * step(x) in one pass."""
        return np.multiply(dy, x > 0)

    def pi(self):
        return math.pi


# =========================================================================== MP


class MPArith(Arith):
    """numpy object arrays of mpmath numbers at ``dps`` digits (a private mpmath context)."""

    is_object = True

    def __init__(self, dps: int = 50) -> None:
        if isinstance(dps, bool) or not isinstance(dps, int) or dps < 5:
            raise ValueError(f"MP(dps): dps is the number of decimal digits, an integer >= 5, got {dps!r}")
        import mpmath

        self.dps = dps
        self.ctx = mpmath.MPContext()
        self.ctx.dps = dps
        ctx = self.ctx
        self._mpf = np.frompyfunc(self._to_mpf, 1, 1)
        self._exp = np.frompyfunc(ctx.exp, 1, 1)
        self._log = np.frompyfunc(ctx.log, 1, 1)
        self._log1p = np.frompyfunc(ctx.log1p, 1, 1)
        self._tanh = np.frompyfunc(ctx.tanh, 1, 1)
        self._erf = np.frompyfunc(ctx.erf, 1, 1)
        self._sqrt = np.frompyfunc(ctx.sqrt, 1, 1)
        self._abs = np.frompyfunc(abs, 1, 1)
        zero, one = ctx.mpf(0), ctx.mpf(1)
        self._relu = np.frompyfunc(lambda v: v if v > 0 else zero, 1, 1)
        self._step = np.frompyfunc(lambda v: one if v > 0 else zero, 1, 1)
        self._sign = np.frompyfunc(lambda v: one if v > 0 else (-one if v < 0 else zero), 1, 1)
        self._sigmoid = np.frompyfunc(lambda v: one / (one + ctx.exp(-v)), 1, 1)
        self._softplus = np.frompyfunc(lambda v: ctx.log1p(ctx.exp(v)), 1, 1)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"MP({self.dps})"

    def _to_mpf(self, v: Any):
        ctx = self.ctx
        if isinstance(v, ctx.mpf):
            return v
        if isinstance(v, (float, np.floating)):
            return ctx.mpf(float(v))  # the double's exact binary value
        if isinstance(v, (int, np.integer, bool, np.bool_)):
            return ctx.mpf(int(v))
        if isinstance(v, Fraction):
            return ctx.mpf(v.numerator) / v.denominator
        if getattr(v, "is_Rational", False):  # SymPy Integer/Rational
            return ctx.mpf(int(v.p)) / int(v.q)
        try:  # mpmath numbers of another context, SymPy Floats, Decimals
            return ctx.mpf(str(v)) if not hasattr(v, "_mpf_") else ctx.mpf(v)
        except (TypeError, ValueError):
            raise TypeError(f"MP arithmetic needs real numbers, got {v!r} ({type(v).__name__})") from None

    def asarray(self, x):
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        arr = np.asarray(x)
        if arr.dtype == object or arr.ndim == 0:
            return np.asarray(self._mpf(arr), dtype=object)
        return np.asarray(self._mpf(arr.astype(np.float64) if arr.dtype.kind in "fc" else arr), dtype=object)

    def const(self, value):
        if isinstance(value, self.ctx.mpf):
            return value
        if isinstance(value, float):
            value = _fraction(value)
        return self._to_mpf(value)

    def zeros(self, shape):
        out = np.empty(shape, dtype=object)
        out.fill(self.ctx.mpf(0))
        return out

    def exp(self, x):
        return self._exp(x)

    def log(self, x):
        return self._log(x)

    def log1p(self, x):
        return self._log1p(x)

    def tanh(self, x):
        return self._tanh(x)

    def erf(self, x):
        return self._erf(x)

    def sqrt(self, x):
        return self._sqrt(x)

    def abs(self, x):
        return self._abs(x)

    def sign(self, x):
        return self._sign(x)

    def sigmoid(self, x):
        return self._sigmoid(x)

    def softplus(self, x):
        return self._softplus(x)

    def relu(self, x):
        return self._relu(x)

    def step(self, x):
        return self._step(x)

    def where(self, cond, a, b):
        return np.where(np.asarray(cond, dtype=bool), a, b)

    def pi(self):
        return +self.ctx.pi


def MP(dps: int = 50) -> MPArith:
    """Multi-precision arithmetic at ``dps`` decimal digits."""
    return MPArith(dps)


# =========================================================================== SYMBOLIC


class SymbolicArith(Arith):
    """numpy object arrays of SymPy expressions (constants exact: 0.1 is 1/10)."""

    name = "SYMBOLIC"
    is_object = True

    def __init__(self) -> None:
        import sympy as sp

        from .. import activations as A

        self.sp = sp
        self._sympify = np.frompyfunc(self._to_expr, 1, 1)
        self._exp = np.frompyfunc(sp.exp, 1, 1)
        self._log = np.frompyfunc(sp.log, 1, 1)
        self._log1p = np.frompyfunc(lambda v: sp.log(1 + v), 1, 1)
        self._tanh = np.frompyfunc(sp.tanh, 1, 1)
        self._erf = np.frompyfunc(sp.erf, 1, 1)
        self._sqrt = np.frompyfunc(sp.sqrt, 1, 1)
        self._abs = np.frompyfunc(sp.Abs, 1, 1)
        self._sign = np.frompyfunc(sp.sign, 1, 1)
        self._sigmoid = np.frompyfunc(A.Sigmoid, 1, 1)
        self._softplus = np.frompyfunc(A.Softplus, 1, 1)
        self._relu = np.frompyfunc(A.ReLU, 1, 1)
        # relu's derivative exactly as ReLU.fdiff writes it: Heaviside(z, 0), H(0) = 0
        self._step = np.frompyfunc(lambda v: sp.Heaviside(v, 0), 1, 1)
        self._gt = np.frompyfunc(lambda v, c: sp.sympify(v) > c, 2, 1)
        self._where = np.frompyfunc(self._where1, 3, 1)
        self.A = A

    def _to_expr(self, v: Any):
        sp = self.sp
        if isinstance(v, sp.Basic):
            return v
        if isinstance(v, (bool, np.bool_)):
            return sp.Integer(int(v))
        if isinstance(v, (int, np.integer)):
            return sp.Integer(int(v))
        f = _fraction(v)
        return sp.Rational(f.numerator, f.denominator)

    def _where1(self, cond, a, b):
        sp = self.sp
        if cond is True or cond is sp.true or (isinstance(cond, (bool, np.bool_)) and cond):
            return a
        if cond is False or cond is sp.false or isinstance(cond, (bool, np.bool_)):
            return b
        return sp.Piecewise((a, cond), (b, True))

    def asarray(self, x):
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        if isinstance(x, self.sp.MatrixBase):
            x = x.tolist()
        arr = np.asarray(x, dtype=object)
        return np.asarray(self._sympify(arr), dtype=object) if arr.size else arr

    def const(self, value):
        return self._to_expr(value)

    def zeros(self, shape):
        out = np.empty(shape, dtype=object)
        out.fill(self.sp.S.Zero)
        return out

    def exp(self, x):
        return self._exp(x)

    def log(self, x):
        return self._log(x)

    def log1p(self, x):
        return self._log1p(x)

    def tanh(self, x):
        return self._tanh(x)

    def erf(self, x):
        return self._erf(x)

    def sqrt(self, x):
        return self._sqrt(x)

    def abs(self, x):
        return self._abs(x)

    def sign(self, x):
        return self._sign(x)

    def sigmoid(self, x):
        return self._sigmoid(x)

    def softplus(self, x):
        return self._softplus(x)

    def relu(self, x):
        return self._relu(x)

    def step(self, x):
        return self._step(x)

    def leaky_relu(self, x, slope):
        return np.frompyfunc(lambda v: self.A.LeakyReLU(v, slope), 1, 1)(x)

    def elu(self, x, alpha):
        return np.frompyfunc(lambda v: self.A.ELU(v, alpha), 1, 1)(x)

    def gt(self, x, c):
        return self._gt(x, c)

    def where(self, cond, a, b):
        cond, a, b = np.broadcast_arrays(
            np.asarray(cond, dtype=object), np.asarray(a, dtype=object), np.asarray(b, dtype=object)
        )
        return np.asarray(self._where(cond, a, b), dtype=object)

    def pi(self):
        return self.sp.pi


FLOAT = FloatArith()
SYMBOLIC = SymbolicArith()
