"""Spec -> parameter symbols, per-layer z and a for every sample, and the loss expression."""

from __future__ import annotations

import re
from fractions import Fraction
from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from . import activations, losses
from .errors import plural
from .spec import Network, as_matrix, check_targets, class_labels, exact_number, values_mapping

# --------------------------------------------------------------------------- symbols

_DEFAULT_W = re.compile(r"^w(\d+)_(\d+)_(\d+)$")
_DEFAULT_B = re.compile(r"^b(\d+)_(\d+)$")
_FLAT = re.compile(r"^([wb])(\d+)$")


def latex_name(name: str) -> str:
    r"""LaTeX for a parameter name: w2_1_3 -> w^{[2]}_{13}, w1_10_2 -> w^{[1]}_{10,2}, w3 -> w_{3}."""
    m = _DEFAULT_W.match(name)
    if m:
        l, j, k = m.groups()
        sep = "," if int(j) > 9 or int(k) > 9 else ""
        return f"w^{{[{l}]}}_{{{j}{sep}{k}}}"
    m = _DEFAULT_B.match(name)
    if m:
        return f"b^{{[{m.group(1)}]}}_{{{m.group(2)}}}"
    m = _FLAT.match(name)
    if m:
        return f"{m.group(1)}_{{{m.group(2)}}}"
    return name


class Param(sp.Symbol):
    """A real SymPy symbol for a trainable parameter; its LaTeX name follows backprop notation."""

    def __new__(cls, name: str, **assumptions: Any) -> Param:
        assumptions.setdefault("real", True)
        return super().__new__(cls, name, **assumptions)

    @property
    def latex(self) -> str:
        return latex_name(self.name)

    def _latex(self, printer: Any) -> str:
        return self.latex


@cache
def parameter_symbols(net: Network) -> tuple[Param, ...]:
    return tuple(Param(name) for name in net.param_names)


@cache
def input_symbols(net: Network) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"x{i + 1}", real=True) for i in range(net.n_inputs))


@cache
def target_symbols(net: Network) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"y{i + 1}", real=True) for i in range(net.n_outputs))


# --------------------------------------------------------------------------- numbers


def to_sympy(value: Any, exact: bool, what: str) -> sp.Expr:
    """A user number as SymPy: exact -> Rational from its decimal repr (0.1 -> 1/10); else Float."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return sp.Integer(int(value))
    if exact:
        q = exact_number(value, what)
        return sp.Rational(q.numerator, q.denominator)
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            raise ValueError(f"{what} must be finite, got {float(value)!r}")
        return sp.Float(float(value))
    try:
        return sp.sympify(value, strict=True)
    except (sp.SympifyError, TypeError):
        raise TypeError(f"{what} must be a number, got {value!r}") from None


def _data_number(value: Any, exact: bool, what: str) -> sp.Expr:
    """A data entry as SymPy: a whole-valued float (1.0, -1.0) is the Integer it equals, so float data do not
    leave ``1.0*w1`` or ``- 1.0`` in closed forms; other floats stay Floats (exact=True: Rationals)."""
    out = to_sympy(value, exact, what)
    if isinstance(out, sp.Float) and out.is_finite and float(out).is_integer() and abs(float(out)) < 2**53:
        return sp.Integer(int(float(out)))
    return out


def sympy_data(
    net: Network, X: Any, Y: Any | None, exact: bool
) -> tuple[list[list[sp.Expr]], list[list[sp.Expr]] | None]:
    """Data as nested lists of SymPy numbers (or symbols), with the same checks as numeric data."""
    Xo = as_matrix(X, "X", net.n_inputs, numeric=False)
    Yo = None if Y is None else as_matrix(class_labels(net, Y, Xo.shape[0]), "Y", net.n_outputs, numeric=False)
    if Yo is not None and Xo.shape[0] != Yo.shape[0]:
        raise ValueError(f"X has {plural(Xo.shape[0], 'sample')} but Y has {Yo.shape[0]}; they must match")
    out = []
    for arr, what in ((Xo, "X"), (Yo, "Y")):
        if arr is None:
            out.append(None)
            continue
        rows = [[_data_number(v, exact, f"{what}[{i}, {j}]") for j, v in enumerate(row)] for i, row in enumerate(arr)]
        numbers = [v for row in rows for v in row]
        if all(v.is_number for v in numbers):
            bad = [v for v in numbers if not v.is_finite]
            if bad:
                raise ValueError(f"{what} must be finite, got {bad[0]}")
            if what == "Y":
                check_targets(net, np.array([[float(v) for v in row] for row in rows]))
        out.append(rows)
    return out[0], out[1]


def parameter_values(net: Network, fix: Any, exact: bool) -> dict[sp.Symbol, sp.Expr]:
    """Map every parameter symbol to itself, or to its fixed value."""
    params = parameter_symbols(net)
    sub: dict[sp.Symbol, sp.Expr] = dict(zip(params, params))
    if fix:
        for name, value in values_mapping(net, fix, require_all=False).items():
            sub[net.param(name)] = to_sympy(value, exact, f'fixed value of "{name}"')
    return sub


def weight_matrices(
    net: Network, sub: dict[sp.Symbol, sp.Expr]
) -> tuple[list[list[list[sp.Expr]]], list[list[sp.Expr]]]:
    """W[l][j][k] and b[l][j] (0-based l) as SymPy expressions (symbols or fixed values)."""
    W = [[[None] * net.layers[l] for _ in range(net.layers[l + 1])] for l in range(net.depth)]
    b = [[None] * net.layers[l + 1] for l in range(net.depth)]
    symbol = dict(zip(net.param_names, parameter_symbols(net)))
    for info in net.param_infos:
        sym = symbol[net.param_of[info.name]]
        if info.kind == "w":
            W[info.layer - 1][info.row][info.col] = sub[sym]
        else:
            b[info.layer - 1][info.row] = sub[sym]
    return W, b


# --------------------------------------------------------------------------- forward


def forward_sample(net: Network, x: list[sp.Expr], W, b) -> tuple[list[list[sp.Expr]], list[list[sp.Expr]]]:
    """z^{[l]} = W^{[l]} a^{[l-1]} + b^{[l]}, a^{[l]} = f(z^{[l]}) for one sample; A[0] is x."""
    Zs: list[list[sp.Expr]] = [[]]
    As: list[list[sp.Expr]] = [list(x)]
    for l, act in enumerate(net.activations):
        prev = As[-1]
        z = [sp.Add(*[W[l][j][k] * prev[k] for k in range(len(prev))], b[l][j]) for j in range(net.layers[l + 1])]
        Zs.append(z)
        As.append(activations.apply(act, z))
    return Zs, As


def forward(net: Network, X: Any, exact: bool = False, fix: Any = None):
    """For every sample, (Z, A): Z[l], A[l] are lists of closed forms (A[0] = x, Z[0] = [])."""
    sub = parameter_values(net, fix, exact)
    _guard(net, X, sub, exact, "the forward pass as closed forms")
    Xs, _ = sympy_data(net, X, None, exact)
    W, b = weight_matrices(net, sub)
    return [forward_sample(net, x, W, b) for x in Xs]


def _guard(net: Network, X: Any, sub: dict, exact: bool, what: str) -> None:
    """The work budget (symprop.budget): refuse a closed form of absurd size before building it."""
    from .budget import guard_closed_form

    try:
        ndim = np.ndim(X)
        n = 1 if ndim == 0 or (ndim == 1 and net.n_inputs > 1) else int(np.shape(X)[0])
    except (TypeError, ValueError):
        return  # not an array: sympy_data reports it
    guard_closed_form(net, n, exact or any(k is v for k, v in sub.items()), what)


def predict(net: Network, X: Any, exact: bool = False, fix: Any = None) -> sp.Matrix:
    return sp.Matrix([As[-1] for _, As in forward(net, X, exact=exact, fix=fix)])


def loss_expr(net: Network, X: Any, Y: Any, exact: bool = False, fix: Any = None) -> sp.Expr:
    """scale(N, m) * sum over samples and outputs of ell(a, y) (+ lam * sum(W**2) with l2), as a closed form."""
    sub = parameter_values(net, fix, exact)
    _guard(net, X, sub, exact, "the loss as a closed form")
    Xs, Ys = sympy_data(net, X, Y, exact)
    W, b = weight_matrices(net, sub)
    ell = losses.element(net.loss_name)
    terms = []
    for x, y in zip(Xs, Ys):
        _, As = forward_sample(net, x, W, b)
        terms += [ell.xreplace({losses.A: a, losses.Y: t}) for a, t in zip(As[-1], y)]
    return losses.scale_value(net, len(Xs)) * sp.Add(*terms) + l2_penalty(net, W)


def l2_penalty(net: Network, W) -> sp.Expr:
    """lam * sum(W**2) over every weight entry of every layer (0 without l2); a tied weight counts once
    per entry it fills."""
    if not net.l2:
        return sp.S.Zero
    lam = sp.Rational(net.l2.numerator, net.l2.denominator)
    return lam * sp.Add(*[w**2 for layer in W for row in layer for w in row])
