"""The certified exact gradient: the engine's numeric reverse pass run on Arb balls (python-flint).

``reverse_pass`` is the MLP's one numeric reverse pass: every exact gradient at numbers (verify's oracle,
``Network.gradient(values=)``, ``symprop grad --exact``, ``descend(exact=True)``) calls it. It runs the pass
(``_pass``) on Arb balls, or on exact FLINT rationals for a network that keeps rationals rational
(``rational_network``), with the same printed element-wise code.

Every number is a ball: a midpoint and a radius that FLINT/Arb guarantees to enclose the exact value.
Floats enter at their exact binary value (``arb(float)`` is exact), the loss's scale and l2's lam enter
as exact rationals, matrix products are ``arb_mat`` products and every element-wise factor (f(z), f'(z),
dell/da, the fused output deltas) is the SymPy derivative of ``symprop.activations`` /
``symprop.losses`` printed into arb code, the way ``symprop.compile`` prints it into NumPy code.

Certification: the pass runs at 96 bits, then 192, 384, ... (``MAX_PREC`` at most) until every
gradient ball lies inside one float64 rounding interval: both ends round to the same float64, so that
float64 *is* the correctly rounded exact gradient. An entry whose ball is exactly 0 (radius 0) is an
exact zero (a dead relu unit, a zero weight). A kink (relu, leaky_relu, elu at z = 0) uses the
convention of ``symprop.activations`` (the left derivative, relu'(0) = 0) when the ball *is* the kink
point (midpoint 0, radius 0); a ball that straddles the kink without being it is refined by precision
(from ``KINK_PREC`` bits on, or at ``MAX_PREC``, both branches are joined, and the radius says so honestly).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from fractions import Fraction
from functools import cache
from operator import mul
from typing import Any, ClassVar

import numpy as np
import sympy as sp
from flint import arb, arb_mat, ctx, fmpq, fmpq_mat

from . import activations, losses
from .activations import ELU, LeakyReLU, ReLU, Sigmoid, Softplus
from .spec import Activation, Network, as_data, parse_values

#: the first and the largest working precision (bits) of the certification loop
MIN_PREC = 96
MAX_PREC = 16384
#: a ball still straddling a kink at this precision is taken as a z exactly at the kink that balls cannot
#: prove (e.g. a - a of two identical units): both branches are joined instead of raising the precision further
KINK_PREC = 1536


class _Refine(Exception):
    """A ball straddles a kink (or is too wide to decide a branch): rerun at a higher precision."""


class _State:
    final = False  # at MAX_PREC: join both branches of a kink instead of asking for more precision
    good_bits = 0  # a cheap element-wise form is kept when its ball has at least this many accurate bits


_state = _State()


# --------------------------------------------------------------------------- arb helpers used by the printed code


def _branch(d: arb) -> bool:
    """True if d > 0 for certain, False if d <= 0 for certain (d exactly 0 included); else refine."""
    if d > 0:
        return True
    if d <= 0:
        return False
    return None  # type: ignore[return-value]


def _pw(flag: bool | None, first: Callable[[], arb], second: Callable[[], arb]) -> arb:
    if flag is None:
        if not _state.final:
            raise _Refine
        return first().union(second())
    return first() if flag else second()


def _step(x: arb, at0: Any) -> arb:
    """Heaviside(x, at0): 1 for x > 0, 0 for x < 0, at0 at the kink point x = 0 exactly."""
    if x > 0:
        return arb(1)
    if x < 0:
        return arb(0)
    if x.is_zero() and x.is_exact():
        return arb(at0)
    if not _state.final:
        raise _Refine
    return arb(0).union(arb(1))


def _sigmoid(x: arb) -> arb:
    return 1 / (1 + (-x).exp())


def _softplus(x: arb) -> arb:
    return x.exp().log1p() if x < 0 else x + (-x).exp().log1p()


def _relu(x: arb) -> arb:
    if x > 0:
        return x
    if x <= 0:
        return arb(0)
    return x.union(arb(0)).nonnegative_part()  # continuous: a straddling ball needs no refinement


def _leaky(x: arb, s: arb) -> arb:
    if x > 0:
        return x
    if x <= 0:
        return s * x
    return x.union(s * x)


def _elu(x: arb, alpha: arb) -> arb:
    if x > 0:
        return x
    if x <= 0:
        return alpha * x.expm1()
    return x.union(alpha * x.expm1())


def _q(p: int, q: int) -> arb:
    return arb(fmpq(p, q))


def _rational_step(x: fmpq, at0: Any) -> fmpq:
    return fmpq(1) if x > 0 else fmpq(0) if x < 0 else fmpq(at0)


def _rational_pw(flag: bool, first: Callable[[], fmpq], second: Callable[[], fmpq]) -> fmpq:
    return first() if flag else second()


def _no_rational_form(*args: Any) -> fmpq:
    raise ArithmeticError("this element-wise form leaves the rationals (exp, log, ...): use the ball arithmetic")


#: the same printed element-wise code run on exact rationals (FLINT's fmpq): comparisons are exact, so a kink is
#: decided exactly (relu'(0) = 0 by the left convention) and nothing is ever refined
_RATIONAL_NAMESPACE = {
    "_state": _state,
    "_pw": _rational_pw,
    "_branch": lambda d: d > 0,
    "_step": _rational_step,
    "_sigmoid": _no_rational_form,
    "_softplus": _no_rational_form,
    "_relu": lambda x: x if x > 0 else fmpq(0),
    "_leaky": lambda x, s: x if x > 0 else s * x,
    "_elu": _no_rational_form,
    "_q": fmpq,
    "arb": fmpq,
}


_NAMESPACE = {
    "_state": _state,
    "_pw": _pw,
    "_branch": _branch,
    "_step": _step,
    "_sigmoid": _sigmoid,
    "_softplus": _softplus,
    "_relu": _relu,
    "_leaky": _leaky,
    "_elu": _elu,
    "_q": _q,
    "arb": arb,
}


# --------------------------------------------------------------------------- SymPy -> arb code


class ArbPrinter:
    """Prints a SymPy expression of the element-wise forms as Python source on arb balls."""

    _methods: ClassVar[dict] = {
        sp.tanh: "tanh",
        sp.exp: "exp",
        sp.log: "log",
        sp.sech: "sech",
        sp.cosh: "cosh",
        sp.sinh: "sinh",
        sp.erf: "erf",
        sp.atan: "atan",
        sp.sqrt: "sqrt",
    }

    def __init__(self, names: dict[sp.Symbol, str]) -> None:
        self.names = names

    def __call__(self, e: sp.Expr) -> str:
        if e.is_Integer:
            return f"arb({int(e)})"
        return self._inner(e)

    def _inner(self, e: sp.Expr) -> str:
        """Like __call__, but integers as Python ints (operands next to a ball; arb ops accept them)."""
        if e.is_Symbol:
            return self.names[e]
        if e.is_Integer:
            return str(int(e))
        if e.is_Rational:
            return f"_q({e.p}, {e.q})"
        if e.is_Add:
            terms = sorted(e.args, key=lambda t: t.could_extract_minus_sign())  # a positive term first
            out = self._inner(terms[0])
            for t in terms[1:]:
                out += f" - {self._inner(-t)}" if t.could_extract_minus_sign() else f" + {self._inner(t)}"
            return f"({out})"
        if e.is_Mul:
            c, rest = e.as_coeff_Mul()
            if c == -1:
                return f"(-{self._inner(rest)})"
            return "(" + " * ".join(self._inner(a) for a in e.args) + ")"
        if e.is_Pow:
            base, ex = e.args
            if ex.is_Integer:
                return f"({self._inner(base)} ** {int(ex)})" if ex > 0 else f"(1 / {self._inner(base)} ** {-int(ex)})"
            if ex == sp.S.Half:
                return f"({self(base)}).sqrt()"
            raise NotImplementedError(f"arb printer: power {e}")
        if isinstance(e, sp.Piecewise):
            return self._piecewise(list(e.args))
        if isinstance(e, sp.Heaviside):
            x, at0 = e.args
            return f"_step({self(x)}, {self(at0)})"
        if isinstance(e, Sigmoid):
            return f"_sigmoid({self(e.args[0])})"
        if isinstance(e, Softplus):
            return f"_softplus({self(e.args[0])})"
        if isinstance(e, ReLU):
            return f"_relu({self(e.args[0])})"
        if isinstance(e, LeakyReLU):
            return f"_leaky({self(e.args[0])}, {self(e.args[1])})"
        if isinstance(e, ELU):
            return f"_elu({self(e.args[0])}, {self(e.args[1])})"
        for fn, method in self._methods.items():
            if isinstance(e, fn):
                return f"({self(e.args[0])}).{method}()"
        raise NotImplementedError(f"arb printer: no arb form for {type(e).__name__} in {e}")

    def _piecewise(self, pieces: list) -> str:
        (value, cond), rest = pieces[0], pieces[1:]
        if cond == sp.true:
            return self(value)
        if not isinstance(cond, (sp.StrictGreaterThan, sp.GreaterThan, sp.StrictLessThan, sp.LessThan)):
            raise NotImplementedError(f"arb printer: condition {cond}")
        # the condition as 'd > 0' (or d >= 0 when at the kink the first piece applies)
        d = cond.lhs - cond.rhs if isinstance(cond, (sp.StrictGreaterThan, sp.GreaterThan)) else cond.rhs - cond.lhs
        if isinstance(cond, (sp.GreaterThan, sp.LessThan)):  # d >= 0 == not (-d > 0)
            flag = f"(lambda t: None if t is None else not t)(_branch({self(-d)}))"
        else:
            flag = f"_branch({self(d)})"
        return f"_pw({flag}, lambda: {self(value)}, lambda: {self._piecewise(rest)})"


def _stable(expr: sp.Expr, z: sp.Symbol) -> sp.Expr:
    """Identities that keep relative accuracy at saturation (exact rewrites, checked by the tests):
    1 - tanh(z)^2 = sech(z)^2, 1 - sigma(z) = sigma(-z), sigma(z) - 1 = -sigma(-z) (as whole sums only)."""
    s = Sigmoid(z)
    rules = [
        ({sp.S.One, -(sp.tanh(z) ** 2)}, sp.sech(z) ** 2),
        ({sp.S.One, -s}, Sigmoid(-z)),
        ({sp.S.NegativeOne, s}, -Sigmoid(-z)),
    ]

    def match(e):
        return e.is_Add and any(set(e.args) == pattern for pattern, _ in rules)

    def rewrite(e):
        return next(new for pattern, new in rules if set(e.args) == pattern)

    return expr.replace(match, rewrite)


def _compile(args: list[sp.Symbol], exprs: list[sp.Expr], name: str) -> tuple[Callable, str]:
    """A Python function of arb balls returning the tuple of ``exprs`` (after common-subexpression elimination)."""
    names = {a: f"_{i}" for i, a in enumerate(args)}
    repl, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("t"))
    lines = [f"def {name}({', '.join(names[a] for a in args)}):"]
    for sym, _sub in repl:
        names[sym] = str(sym)
    printer = ArbPrinter(names)
    for sym, sub in repl:
        lines.append(f"    {sym} = {printer(sub)}")
    lines.append(f"    return ({', '.join(printer(e) for e in reduced)},)")
    return _exec("\n".join(lines) + "\n", name)


def _exec(source: str, name: str, base: dict | None = None) -> tuple[Callable, str]:
    namespace = dict(_NAMESPACE if base is None else base)
    exec(compile(source, f"<symprop.certified {name}>", "exec"), namespace)  # noqa: S102 - our own printed code
    return namespace[name], source


_Z = sp.Symbol("z", real=True)
_Y = sp.Symbol("y", real=True)
_A = sp.Symbol("a", real=True)


def _act(act: Activation) -> sp.Expr:
    return activations.sympy_form(act, activations.Z).xreplace({activations.Z: _Z})


def _act_prime(act: Activation) -> sp.Expr:
    return activations.derivative_form(act, activations.Z).xreplace({activations.Z: _Z})


@cache
def hidden_form(act: Activation) -> tuple[Callable, str]:
    """z -> (f(z), f'(z)) on balls, printed from the SymPy forms of ``symprop.activations``.

    f'(z) is first evaluated in its cheap form in terms of a = f(z) (1 - a^2 for tanh, as the NumPy program
    does); where that ball has lost more than ``_state.loss_bits`` of the working precision (saturation:
    1 - a^2 cancels) the stable form in z is evaluated instead (sech(z)^2). Both are exact identities."""
    f, fp = _act(act), _act_prime(act)
    stable = _stable(fp, _Z)
    fast = fp.subs(f, _A) if act.name != "identity" else fp
    if fast == stable or not fast.has(_A):
        return _compile([_Z], [f, stable], f"hidden_{act.name}")
    names = {_Z: "z", _A: "a"}
    printer = ArbPrinter(names)
    lines = [
        f"def hidden_{act.name}(z):",
        f"    a = {printer(f)}",
        f"    d = {printer(fast)}",
        "    if d.rel_accuracy_bits() < _state.good_bits:",
        f"        d = {_cse_expression(stable, names)}",
        "    return (a, d)",
    ]
    return _exec("\n".join(lines) + "\n", f"hidden_{act.name}")


def _cse_expression(expr: sp.Expr, names: dict) -> str:
    """One expression as arb code (common subexpressions as inline lambdas are not worth it here)."""
    return ArbPrinter(names)(expr)


def _split_in_y(d: sp.Expr) -> sp.Expr:
    """d(y) linear in y as (1 - y) d(0) + y d(1): each part keeps its accuracy for 0/1 targets."""
    if sp.diff(d, _Y, 2) != 0:
        return d
    return (1 - _Y) * _stable(d.subs(_Y, 0), _Z) + _Y * _stable(d.subs(_Y, 1), _Z)


@cache
def output_form(act: Activation, loss: str) -> tuple[Callable, str]:
    """(z, y) -> (a, dell/dz) for an element-wise output: dell/da(f(z), y) f'(z), fused where it cancels."""
    f = _act(act)
    g = losses.element_derivative(loss).xreplace({losses.A: _A, losses.Y: _Y})
    fp_a = _act_prime(act).subs(f, _A) if act.name != "identity" else sp.S.One
    fused = sp.cancel(g * fp_a)  # sigmoid + bce: a - y (the 1/a and 1/(1-a) cancel)
    if sp.denom(sp.together(g)) != 1 and not fused.has(_Z) and sp.denom(sp.together(fused)) == 1:
        d = _split_in_y(sp.expand(fused.xreplace({_A: f})))
    else:
        d = _split_in_y(g.xreplace({_A: f})) * _stable(_act_prime(act), _Z)
    return _compile([_Z, _Y], [f, d], f"output_{act.name}_{loss}")


@cache
def softmax_form(loss: str, m: int) -> tuple[Callable, str]:
    """(a_1..a_m, y_1..y_m) -> the m output deltas of softmax + loss, a_k (g_k - sum_j g_j a_j) (chainrule.output_delta's formula)."""
    A = sp.symbols(f"a1:{m + 1}", real=True)
    Ys = sp.symbols(f"y1:{m + 1}", real=True)
    g = [losses.element_derivative(loss).xreplace({losses.A: a, losses.Y: y}) for a, y in zip(A, Ys)]
    s = sp.Add(*[gj * aj for gj, aj in zip(g, A)])
    deltas = [sp.expand(ak * (gk - s)) for gk, ak in zip(g, A)]
    return _compile([*A, *Ys], deltas, f"softmax_{loss}_{m}")


def _softmax(z: list[arb]) -> list[arb]:
    """a_k = 1 / sum_i e^{z_i - z_k}: every term has relative accuracy, whatever the spread of z."""
    return [1 / sum(((zi - zk).exp() for zi in z), arb(0)) for zk in z]


def _softmax_ce_delta(a: list[arb], y: list[arb]) -> list[arb]:
    """dell/dz_j = a_j sum_k y_k - y_j, written sum_{k != j} (y_k a_j - y_j a_k) (the k = j term is 0 exactly):
    for a one-hot target no term cancels, so a saturated correct class keeps its relative accuracy."""
    m = len(a)
    return [sum((y[k] * a[j] - y[j] * a[k] for k in range(m) if k != j), arb(0)) for j in range(m)]


# --------------------------------------------------------------------------- the pass


def _to_arb(v: Any) -> arb:
    """A number as a ball: a float or an int exactly, a Fraction (e.g. a decimal read exactly) as its rational."""
    if isinstance(v, Fraction):
        return arb(fmpq(v.numerator, v.denominator))
    if isinstance(v, (int, np.integer)):
        return arb(int(v))
    return arb(float(v))


def _to_fmpq(v: Any) -> fmpq:
    """A number as an exact rational: a float at its exact binary value, a Fraction or an int as it is."""
    if isinstance(v, (int, np.integer)):
        return fmpq(int(v))
    q = v if isinstance(v, Fraction) else Fraction(float(v))
    return fmpq(q.numerator, q.denominator)


def _to_arb_mat(arr: np.ndarray) -> arb_mat:
    arr = np.asarray(arr)
    if arr.dtype == object:  # exact numbers (Fractions, ints): rationals enter as balls at the working precision
        return arb_mat([[_to_arb(v) for v in row] for row in arr.tolist()])
    return arb_mat(arr.astype(np.float64).tolist())


def _to_fmpq_mat(arr: np.ndarray) -> fmpq_mat:
    return fmpq_mat([[_to_fmpq(v) for v in row] for row in np.asarray(arr).tolist()])


@cache
def _rational(form: tuple[Callable, str]) -> Callable:
    """The printed element-wise code of ``form`` (hidden_form / output_form) run on exact rationals."""
    source = form[1]
    return _exec(source, source.split("(", 1)[0][4:], _RATIONAL_NAMESPACE)[0]


class Arithmetic:
    """The numbers one run of the reverse pass computes with: a matrix type, how a datum enters, and the
    element-wise forms (printed once from SymPy, see ``hidden_form`` / ``output_form``) run on those numbers."""

    def __init__(
        self,
        name: str,
        mat: type,
        number: Callable[[Any], Any],
        matrix: Callable[[np.ndarray], Any],
        hidden: Callable[[Activation], Callable],
        output: Callable[[Activation, str], Callable],
    ) -> None:
        self.name, self.mat, self.number, self.matrix, self.hidden, self.output = (
            name,
            mat,
            number,
            matrix,
            hidden,
            output,
        )

    def __repr__(self) -> str:
        return f"<symprop.certified arithmetic {self.name}>"


#: FLINT/Arb balls (midpoint and rigorous radius): every activation and loss
BALLS = Arithmetic(
    "balls", arb_mat, _to_arb, _to_arb_mat, lambda act: hidden_form(act)[0], lambda act, loss: output_form(act, loss)[0]
)
#: exact rationals (FLINT fmpq): the networks of ``rational_network`` only
RATIONALS = Arithmetic(
    "rationals",
    fmpq_mat,
    _to_fmpq,
    _to_fmpq_mat,
    lambda act: _rational(hidden_form(act)),
    lambda act, loss: _rational(output_form(act, loss)),
)

#: activations and losses that map rationals to rationals (no exp/log): their gradient is an exact rational
RATIONAL_ACTIVATIONS = frozenset({"identity", "relu", "leaky_relu"})
RATIONAL_LOSSES = frozenset({"mse", "sse", "quadratic"})


def rational_network(net: Network) -> bool:
    """True when every activation and the loss keep rationals rational (identity, relu, leaky_relu; mse, sse,
    quadratic): the gradient at rational values and data is then an exact rational, computed in Fractions."""
    return all(a.name in RATIONAL_ACTIVATIONS for a in net.activations) and net.loss_name in RATIONAL_LOSSES


def _pass(
    net: Network,
    Wm: list,
    bm: list,
    Xt: np.ndarray,
    Yt: np.ndarray,
    block: int,
    progress: Callable[[int, int], None] | None,
    prec: int,
    ar: Arithmetic = BALLS,
) -> tuple[list, list]:
    """Sum over the samples of the backprop terms (before scale and l2): dW[l] (n_l x n_{l-1}), db[l] (n_l x 1).

    The four backprop equations, once, on the numbers of ``ar``: matrix products for z = W a + b, the deltas
    W^T delta and the sums delta a^T; the element-wise factors f(z), f'(z) and the output delta from the
    printed SymPy forms."""
    Mat = ar.mat
    L, n = net.depth, Xt.shape[1]
    dW = [Mat(net.layers[l + 1], net.layers[l]) for l in range(L)]
    db = [Mat(net.layers[l + 1], 1) for l in range(L)]
    hidden = [ar.hidden(act) for act in net.activations[:-1]]
    out_act, loss = net.output, net.loss_name
    for start in range(0, n, block):
        stop = min(n, start + block)
        As = [ar.matrix(Xt[:, start:stop])]
        ones_row = Mat([[1] * (stop - start)])
        Fs: list[list[list]] = [[]]
        for l in range(L - 1):
            Z = (Wm[l] * As[-1] + bm[l] * ones_row).tolist()
            fn = hidden[l]
            a_rows, f_rows = [], []
            for zrow in Z:
                a_row, f_row = zip(*map(fn, zrow))
                a_rows.append(a_row)
                f_rows.append(f_row)
            As.append(Mat([list(r) for r in a_rows]))
            Fs.append(f_rows)
        Z = (Wm[L - 1] * As[-1] + bm[L - 1] * ones_row).tolist()
        Yb = [[ar.number(v) for v in row] for row in Yt[:, start:stop].tolist()]
        m, cols = len(Z), stop - start
        if out_act.name == "softmax":
            D = [[None] * cols for _ in range(m)]
            fn = None if loss == "cross_entropy" else softmax_form(loss, m)[0]
            for c in range(cols):
                a = _softmax([Z[j][c] for j in range(m)])
                y = [Yb[j][c] for j in range(m)]
                d = _softmax_ce_delta(a, y) if fn is None else fn(*a, *y)
                for j in range(m):
                    D[j][c] = d[j]
        else:
            fn = ar.output(out_act, loss)
            D = [[fn(z, y)[1] for z, y in zip(zrow, yrow)] for zrow, yrow in zip(Z, Yb)]
        Dm = Mat(D)
        ones = Mat([[1]] * cols)
        for l in range(L, 0, -1):
            dW[l - 1] += Dm * As[l - 1].transpose()
            db[l - 1] += Dm * ones
            if l > 1:
                back = (Wm[l - 1].transpose() * Dm).tolist()
                Dm = Mat([list(map(mul, brow, frow)) for brow, frow in zip(back, Fs[l - 1])])
        if progress is not None:
            progress(stop, prec)
    return dW, db


def _exact(x: arb) -> tuple[Fraction, Fraction]:
    """(midpoint, radius) of a ball as exact rationals."""
    mm, me = x.mid().man_exp()
    rm, re = x.rad().man_exp()
    mid = Fraction(int(mm)) * (Fraction(2) ** int(me))
    rad = Fraction(int(rm)) * (Fraction(2) ** int(re))
    return mid, rad


def _round(x: arb) -> tuple[float, float, bool]:
    """(float64 value, radius rounded up, certified): certified when the whole ball lies strictly inside the
    rounding interval of one float64 f, i.e. |x - f| < half the gap to f's neighbours on both sides (so the
    exact value rounds to f whatever it is inside the ball)."""
    if not x.is_finite():
        return math.nan, math.inf, False
    if x.is_zero() and x.is_exact():
        return 0.0, 0.0, True
    f = float(x)  # some float near the midpoint; the check below proves (or not) that it is the right one
    if not 2.3e-308 < abs(f) < 1.7e308:
        return _round_exactly(x)
    half = min(f - math.nextafter(f, -math.inf), math.nextafter(f, math.inf) - f) / 2  # exact in float64
    d = x - f  # f has 53 bits next to a midpoint of >= 64: the ball of the difference encloses x - f
    r = float(x.rad())
    r = math.nextafter(r, math.inf) if r else 0.0  # float() of the radius may round down: step up once
    if d < half and d > -half:
        return f, r, True
    return _round_exactly(x)


def _round_all(balls: list[arb]) -> list[tuple[float, float, bool]]:
    """``_round`` for many balls: the candidate floats and their half gaps in NumPy, one comparison each."""
    f = np.array([float(x) for x in balls], dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        half = np.minimum(f - np.nextafter(f, -np.inf), np.nextafter(f, np.inf) - f) / 2
    r = np.array([float(x.rad()) for x in balls], dtype=np.float64)
    r = np.where(r > 0, np.nextafter(r, np.inf), 0.0)  # float() of a radius may round down: step up once
    normal = (np.abs(f) > 2.3e-308) & (np.abs(f) < 1.7e308)
    out = []
    for x, fi, hi, ri, ok in zip(balls, f.tolist(), half.tolist(), r.tolist(), normal.tolist()):
        if ok:
            d = x - fi
            if d < hi and d > -hi:
                out.append((fi, ri, True))
                continue
        out.append(_round(x))
    return out


def _round_exactly(x: arb) -> tuple[float, float, bool]:
    mid, rad = _exact(x)
    lo, hi = _float(mid - rad), _float(mid + rad)
    r = float(rad)
    if Fraction(r) < rad:
        r = math.nextafter(r, math.inf)
    return _float(mid), r, lo == hi and not (lo == 0 and (mid - rad) * (mid + rad) < 0)


def _float(q: Fraction) -> float:
    try:
        return float(q)  # Fraction -> float is correctly rounded (round half to even)
    except OverflowError:
        return math.inf if q > 0 else -math.inf


class CertifiedGradient(dict):
    """dict parameter name -> the correctly rounded float64 exact gradient, with ``radius`` (name -> a
    rigorous bound on |exact - ball midpoint|), ``certified`` (name -> True when the float64 is proven
    to be the correct rounding), ``balls`` (name -> the Arb ball itself), the final ``prec`` in bits and
    the ``seconds`` it took."""

    def __init__(self, prec: int = 0) -> None:
        super().__init__()
        self.radius: dict[str, float] = {}
        self.certified: dict[str, bool] = {}
        #: name -> the final Arb ball (midpoint +/- radius) that encloses the exact gradient
        self.balls: dict[str, arb] = {}
        self.prec = prec
        self.seconds = 0.0
        #: name -> the exact gradient as a Fraction, when the rational arithmetic computed it (else empty)
        self.fractions: dict[str, Fraction] = {}
        #: "balls" or "rationals": the arithmetic of the pass (``reverse_pass``)
        self.arithmetic = "balls"

    @property
    def all_certified(self) -> bool:
        return all(self.certified.values())

    @property
    def exact(self) -> bool:
        """True when every value is known exactly (``fractions``), not only enclosed by a ball."""
        return len(self.fractions) == len(self)


def _check_prec(value: Any, what: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 64:
        raise ValueError(f"{what} must be a whole number of bits >= 64, got {value!r}")
    return int(value)


def _combine(net: Network, dW: list, db: list, Wm: list, scale: Fraction, lam: Fraction, number: type) -> list:
    """The gradient of every parameter (net.param_names order) from the sums of the backprop terms: scale * sum,
    plus 2 lam w for a weight (l2), summed over the entries a tied parameter fills."""
    s = number(fmpq(scale.numerator, scale.denominator))
    two_lam = number(fmpq(2 * lam.numerator, lam.denominator))
    entries: list = []  # every weight/bias entry in net.param_infos order
    for l in range(net.depth):
        g = dW[l] * s
        if lam:
            g += Wm[l] * two_lam
        entries += g.entries() + (db[l] * s).entries()
    if not net.tie:
        return entries
    index = {p.name: i for i, p in enumerate(net.param_infos)}
    return [sum((entries[index[e.name]] for e in net.slots(name)), number(0)) for name in net.param_names]


def rational_arrays(
    net: Network,
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    *,
    block: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> CertifiedGradient:
    """The exact gradient as Fractions (``result.fractions``; ``result[name]`` is its correctly rounded
    float64), for a ``rational_network``: the same pass as ``certified_arrays`` on FLINT's exact rationals.
    Floats enter at their exact binary values, Fractions (object arrays) as they are."""
    if not rational_network(net):
        raise ValueError(
            f"{net!r} leaves the rationals (exp, log, ...): its exact gradient is not a Fraction; "
            "use certified_arrays (ball arithmetic)"
        )
    t0 = time.perf_counter()
    Xt, Yt = np.asarray(X).T, np.asarray(Y).T
    Wm = [_to_fmpq_mat(w) for w in weights]
    bm = [_to_fmpq_mat(np.reshape(np.asarray(b), (-1, 1))) for b in biases]
    dW, db = _pass(net, Wm, bm, Xt, Yt, block, progress, 0, RATIONALS)
    out = CertifiedGradient(prec=0)
    out.arithmetic = "rationals"
    for name, total in zip(net.param_names, _combine(net, dW, db, Wm, net.scale(X.shape[0]), net.l2, fmpq)):
        q = Fraction(int(total.p), int(total.q))
        out[name], out.radius[name], out.certified[name], out.fractions[name] = _float(q), 0.0, True, q
    out.seconds = time.perf_counter() - t0
    return out


ARITHMETICS = ("auto", "balls", "rationals")


def reverse_pass(
    net: Network,
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    *,
    arithmetic: str = "auto",
    min_prec: int = MIN_PREC,
    max_prec: int = MAX_PREC,
    progress: Callable[[int, int], None] | None = None,
) -> CertifiedGradient:
    """THE numeric reverse pass of the MLP: the exact gradient at numbers, in one place.

    Every caller that needs the gradient of a ``Network`` at numbers, exactly (``verify``'s oracle,
    ``Network.gradient(values=...)``, ``symprop grad --exact``, ``descend(exact=True)``), calls this.
    ``weights`` (n_out, n_in) and flat ``biases`` per layer, X (N, n_0) and Y (N, m) with samples as rows:
    float arrays (at their exact binary values) or object arrays of Fractions/ints (exact decimals).

    ``arithmetic``: "rationals" (exact Fractions, ``result.fractions``; only for a ``rational_network``:
    identity/relu/leaky_relu with mse/sse/quadratic), "balls" (FLINT/Arb balls, precision raised until each
    value is certified, ``certified_arrays``) or "auto" (rationals where the network allows, else balls).
    Returns a ``CertifiedGradient``: name -> the correctly rounded float64, with ``radius`` and ``certified``
    per entry. ``progress(samples_done, prec)`` is called after each block of samples.
    """
    if arithmetic not in ARITHMETICS:
        raise ValueError(f"arithmetic must be one of {', '.join(ARITHMETICS)}, got {arithmetic!r}")
    if arithmetic == "rationals" or (arithmetic == "auto" and rational_network(net)):
        return rational_arrays(net, weights, biases, X, Y, progress=progress)
    return certified_arrays(net, weights, biases, X, Y, min_prec=min_prec, max_prec=max_prec, progress=progress)


def certified_arrays(
    net: Network,
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    *,
    min_prec: int = MIN_PREC,
    max_prec: int = MAX_PREC,
    block: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> CertifiedGradient:
    """The certified gradient from arrays (weights (n_out, n_in), flat biases, X and Y with samples as rows).

    Float arrays enter at their exact binary values; object arrays may hold Fractions (or ints), which enter as
    exact rationals (as balls: 1/10 is not a binary number), e.g. the decimals of a problem file read exactly.
    """
    min_prec, max_prec = _check_prec(min_prec, "min_prec"), _check_prec(max_prec, "max_prec")
    if progress is None:  # a bar on a terminal when the pass takes long (symprop.progress; silent otherwise)
        from .progress import bar as _bar

        with _bar(X.shape[0], "exact oracle", unit="sample") as shown:
            return certified_arrays(
                net,
                weights,
                biases,
                X,
                Y,
                min_prec=min_prec,
                max_prec=max_prec,
                block=block,
                progress=lambda done, bits: shown.set(done, f"{bits} bits"),
            )
    t0 = time.perf_counter()
    Xt, Yt = np.ascontiguousarray(X.T), np.ascontiguousarray(Y.T)
    n = X.shape[0]
    scale = net.scale(n)
    lam = net.l2
    saved = ctx.prec
    prec = min(min_prec, max_prec)
    try:
        while True:
            ctx.prec = prec
            _state.final = prec >= max_prec
            _state.good_bits = prec - 12
            try:
                Wm = [_to_arb_mat(w) for w in weights]
                bm = [_to_arb_mat(np.reshape(b, (-1, 1))) for b in biases]
                dW, db = _pass(net, Wm, bm, Xt, Yt, block, progress, prec)
            except _Refine:
                if prec >= KINK_PREC:  # still straddling at this precision: a z that is 0 but not provably so
                    max_prec = prec  # rerun here with both branches joined (the radius says so)
                else:
                    prec = min(2 * prec, max_prec)
                continue
            totals = _combine(net, dW, db, Wm, scale, lam, arb)
            out = CertifiedGradient(prec=prec)
            for name, total, (value, rad, ok) in zip(net.param_names, totals, _round_all(totals)):
                out[name], out.radius[name], out.certified[name] = value, rad, ok
                out.balls[name] = total
            if out.all_certified or prec >= max_prec:
                break
            prec = min(2 * prec, max_prec)
    finally:
        ctx.prec = saved
        _state.final = False
    out.prec = prec
    out.seconds = time.perf_counter() - t0
    bad = [name for name, v in out.items() if not math.isfinite(v) and not out.certified[name]]
    if bad:
        raise ArithmeticError(f"the exact gradient of {bad[0]} is not finite (a ball of {prec} bits is {out[bad[0]]})")
    return out


def certified_gradient(
    net: Network,
    values: Any,
    X: Any,
    Y: Any,
    *,
    min_prec: int = MIN_PREC,
    max_prec: int = MAX_PREC,
    progress: Callable[[int, int], None] | None = None,
) -> CertifiedGradient:
    """The exact gradient of ``net`` at ``values`` on (X, Y), certified by ball arithmetic (FLINT/Arb).

    ``values``: anything ``Network.gradient`` accepts (a dict name -> value, or (weights, biases)).
    Returns a dict name -> float64 that is the correctly rounded exact gradient wherever
    ``result.certified[name]`` (every entry, unless ``max_prec`` bits did not suffice); ``result.radius[name]``
    bounds |exact - midpoint| rigorously. ``progress(samples_done, prec)`` is called after each block of samples.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a symprop.Network, got {type(net).__name__}")
    weights, biases = parse_values(net, values)
    X, Y = as_data(net, X, Y)
    return certified_arrays(net, weights, biases, X, Y, min_prec=min_prec, max_prec=max_prec, progress=progress)


#: measured seconds per unit of work (parameters x samples) at the first precision (docs/certified.md), for estimates
SECONDS_PER_WORK = 2.5e-7


def estimate_seconds(net: Network, n_samples: int) -> float:
    """A rough estimate of the certified pass's time at its first precision (for refusals and progress bars)."""
    elementwise = sum(net.layers[1:]) * n_samples
    return SECONDS_PER_WORK * net.n_params * n_samples + 2e-6 * elementwise
