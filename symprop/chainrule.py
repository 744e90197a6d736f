"""The chain-rule engine: exact deltas and parameter gradients as SymPy closed forms.

Two methods give the same exact derivative:

* ``"reverse"`` (default) runs the four backprop equations symbolically, sample by sample:
  delta^{[L]} = dC/da^{[L]} (.) f'(z^{[L]}), delta^{[l]} = (W^{[l+1]})^T delta^{[l+1]} (.) f'(z^{[l]}),
  dC/dW^{[l]} = delta^{[l]} (a^{[l-1]})^T, dC/db^{[l]} = delta^{[l]}. Each node is built once, so the
  cost grows with the size of the network, not with (parameters x size of the loss).
* ``"diff"`` differentiates the closed-form loss with ``sympy.diff``, one parameter at a time: simple,
  independent of the above, and fine for small networks (it is what the tests compare against).
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from . import activations, losses
from .graph import forward_sample, loss_expr, parameter_symbols, parameter_values, sympy_data, to_sympy, weight_matrices
from .spec import Network, values_mapping

METHODS = ("reverse", "diff")


def output_delta(net: Network, Z: list[sp.Expr], A: list[sp.Expr], y: list[sp.Expr]) -> list[sp.Expr]:
    """delta^{[L]}_j = d ell / d z^{[L]}_j for one sample (before the loss's scale factor)."""
    g = [losses.element_derivative(net.loss_name).xreplace({losses.A: a, losses.Y: t}) for a, t in zip(A, y)]
    if net.output.name == "softmax":
        # Jacobian of softmax: da_j/dz_k = a_j (delta_jk - a_k), so delta_k = a_k (g_k - sum_j g_j a_j)
        s = sp.Add(*[gj * aj for gj, aj in zip(g, A)])
        return [ak * (gk - s) for gk, ak in zip(g, A)]
    return [gj * dj for gj, dj in zip(g, activations.apply_derivative(net.output, Z))]


def reverse_sample(net: Network, x, y, W, b) -> tuple[list[list[sp.Expr]], list[list[sp.Expr]], list[list[sp.Expr]]]:
    """Forward closed forms and the per-layer deltas of one sample: (Z, A, delta), index l = 1..L."""
    Zs, As = forward_sample(net, x, W, b)
    L = net.depth
    deltas: list[list[sp.Expr]] = [[] for _ in range(L + 1)]
    deltas[L] = output_delta(net, Zs[L], As[L], y)
    for l in range(L - 1, 0, -1):
        back = [
            sp.Add(*[W[l][j][k] * deltas[l + 1][j] for j in range(net.layers[l + 1])]) for k in range(net.layers[l])
        ]
        deltas[l] = [bk * dk for bk, dk in zip(back, activations.apply_derivative(net.activations[l - 1], Zs[l]))]
    return Zs, As, deltas


def _free_params(net: Network, sub: dict) -> list[sp.Symbol]:
    return [p for p in parameter_symbols(net) if sub[p] is p]


def sample_terms(net: Network, Xs, Ys, W, b, names: list[str] | None = None) -> Iterator[dict[str, sp.Expr]]:
    """For each sample, dict entry name -> its backprop term: delta^{[l]}_j a^{[l-1]}_k (weights), delta^{[l]}_j
    (biases); ``names`` are weight/bias entries (``net.param_infos``; all by default).

    The gradient is ``scale * sum`` of these over the samples (``combine`` adds l2 and sums ties). W and b may hold symbols or numbers:
    with numbers every node is a number, so nothing grows (``gradient(values=...)`` uses that).
    """
    infos = [net.info(n) for n in names] if names is not None else list(net.param_infos)
    for x, y in zip(Xs, Ys):
        _, As, deltas = reverse_sample(net, x, y, W, b)
        yield {
            i.name: deltas[i.layer][i.row] if i.kind == "b" else deltas[i.layer][i.row] * As[i.layer - 1][i.col]
            for i in infos
        }


KEYS = ("name", "symbol")


class Gradient(dict):
    """dict parameter name -> derivative, as every other gradient of symprop is keyed; a parameter's
    SymPy symbol is accepted too when looking one up (``grads[net.param("w1")]`` is ``grads["w1"]``)."""

    __slots__ = ()

    @staticmethod
    def _name(key: Any) -> Any:
        return key.name if isinstance(key, sp.Symbol) else key

    def __getitem__(self, key: Any) -> sp.Expr:
        return super().__getitem__(self._name(key))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._name(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._name(key), default)


def _keyed(grads: dict[sp.Symbol, sp.Expr], keys: str) -> dict:
    return grads if keys == "symbol" else Gradient((p.name, g) for p, g in grads.items())


def gradient(
    net: Network,
    X: Any,
    Y: Any,
    exact: bool = False,
    fix: Any = None,
    values: Any = None,
    method: str = "reverse",
    keys: str = "name",
) -> dict:
    """dict parameter name -> exact partial derivative of the loss over (X, Y).

    ``keys="symbol"`` keys it by the parameters' SymPy symbols instead (a name-keyed result also
    accepts a symbol for lookups). ``fix`` substitutes known parameters *before* differentiating
    (they drop out of the result); ``values`` evaluates every derivative *after* differentiating
    (exactly when ``exact=True``). When every parameter and datum is then a number, no closed form is
    built: ``symprop.certified.reverse_pass`` (the one numeric reverse pass) gives exact Rationals for a
    network that keeps rationals rational (identity/relu/leaky_relu with mse/sse/quadratic) and otherwise
    the certified, correctly rounded float64 of the exact value as a SymPy Float.

    Symbolic work is checked against the work budget (``symprop.budget``) before it starts: a closed form
    too large to build raises ``BudgetError`` with the estimate and how to proceed.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if keys not in KEYS:
        raise ValueError(f"keys must be one of {', '.join(KEYS)}, got {keys!r}")
    sub = parameter_values(net, fix, exact)
    free = _free_params(net, sub)
    if values is not None:
        mapping = values_mapping(net, values, require_all=False)
        for p in free:
            if p.name in mapping:
                sub[p] = to_sympy(mapping[p.name], exact, f'value of "{p.name}"')
        if method == "reverse":
            numeric = _at_numbers(net, X, Y, exact, sub)
            if numeric is not None:
                return _keyed({p: numeric[p.name] for p in free}, keys)
    n = _n_samples(net, X)
    if method == "diff":
        from .budget import guard_gradient

        guard_gradient(net, n, [p.name for p in free], "differentiating the loss's closed form (method='diff')")
        loss = loss_expr(net, X, Y, exact=exact, fix=fix)
        grads = {p: sp.diff(loss, p) for p in free}
        if values is not None:
            grads = {p: _as_number(substitute(net, g, values, exact)) for p, g in grads.items()}
        return _keyed(grads, keys)
    _guard_reverse(net, n, any(sub[p] is p for p in parameter_symbols(net)) or exact)
    Xs, Ys = sympy_data(net, X, Y, exact)
    W, b = weight_matrices(net, sub)
    entries = [e.name for p in free for e in net.slots(p.name)]
    terms: dict[str, list[sp.Expr]] = {name: [] for name in entries}
    for sample in sample_terms(net, Xs, Ys, W, b, entries):
        for name, term in sample.items():
            terms[name].append(term)
    grads = combine(net, {name: sp.Add(*ts) for name, ts in terms.items()}, len(Xs), W, [p.name for p in free])
    if values is not None:
        grads = {name: _as_number(g) for name, g in grads.items()}
    return _keyed({p: grads[p.name] for p in free}, keys)


def _n_samples(net: Network, X: Any) -> int:
    try:
        ndim = np.ndim(X)
        return 1 if ndim == 0 or (ndim == 1 and net.n_inputs > 1) else int(np.shape(X)[0])
    except (TypeError, ValueError):
        return 1  # not an array: sympy_data reports it


def _guard_reverse(net: Network, n_samples: int, symbolic: bool) -> None:
    """The work budget of the symbolic reverse pass: it builds every z and a of every sample as closed forms
    (what ``Network.loss`` builds) and about one SymPy node per operation of the four equations."""
    from . import budget

    budget.guard_closed_form(
        net, n_samples, symbolic, "the gradient's closed forms (every z and a of the reverse pass)"
    )
    if symbolic:
        budget.check(
            budget.exact_pass(net, n_samples, "the symbolic reverse pass"),
            [
                "fewer samples",
                "values= for every parameter (the exact gradient at numbers is fast)",
                "net.compile() for float64 numbers",
            ],
        )


def _number(v: sp.Expr, exact: bool) -> Any:
    """A SymPy number as what the numeric pass takes: Fraction (exact), int, or float; None if not a number."""
    if v.is_Integer:
        return int(v)
    if v.is_Rational:
        return Fraction(int(v.p), int(v.q))
    if v.is_Float:
        return float(v)
    return None


def _at_numbers(net: Network, X: Any, Y: Any, exact: bool, sub: dict) -> dict[str, sp.Expr] | None:
    """The gradient when every parameter and datum is a number: ``symprop.certified.reverse_pass`` (the one
    numeric reverse pass), exact Rationals where the network keeps rationals rational, else the certified,
    correctly rounded float64 as a SymPy Float. None when something is still a symbol (the symbolic pass then)."""
    from . import budget
    from .certified import reverse_pass

    params = {p.name: _number(v, exact) if v.is_number else None for p, v in sub.items()}
    if any(v is None for v in params.values()):
        return None
    Xs, Ys = sympy_data(net, X, Y, exact)
    data = [[[_number(v, exact) if v.is_number else None for v in row] for row in rows] for rows in (Xs, Ys)]
    if any(v is None for rows in data for row in rows for v in row):
        return None
    budget.check(
        budget.certified(net, len(Xs), what="the exact gradient at numbers"),
        ["fewer samples", "net.compile() for float64 numbers"],
    )
    weights = [np.empty((net.layers[l + 1], net.layers[l]), dtype=object) for l in range(net.depth)]
    biases = [np.empty(net.layers[l + 1], dtype=object) for l in range(net.depth)]
    for info in net.param_infos:
        (weights if info.kind == "w" else biases)[info.layer - 1][info.index] = params[net.param_of[info.name]]
    X_, Y_ = (np.array(rows, dtype=object).reshape(len(rows), -1) for rows in data)
    result = reverse_pass(net, weights, biases, X_, Y_, arithmetic="auto")
    if exact and result.exact:
        return {name: sp.Rational(q.numerator, q.denominator) for name, q in result.fractions.items()}
    # an entry proven exactly 0 (a dead relu unit: radius 0) is the exact zero, not the Float 0.0
    return {
        name: sp.S.Zero if value == 0 and result.radius[name] == 0 else sp.Float(value)
        for name, value in result.items()
    }


#: digits of a gradient evaluated at exact values that is not rational (softplus, exp, ... of Rationals)
VALUE_DPS = 30


def _as_number(expr: sp.Expr) -> sp.Expr:
    """A derivative at given values as a number: Rationals stay exact; a closed form of numbers that is not
    rational (``Softplus(-239/200)``) is evaluated to VALUE_DPS digits; anything with free symbols is kept."""
    if expr.is_Number or expr.free_symbols:
        return expr
    return expr.evalf(VALUE_DPS)


def combine(
    net: Network, sums: dict[str, sp.Expr], n_samples: int, W, names: list[str] | None = None, dps: int | None = None
) -> dict[str, sp.Expr]:
    """Parameter name -> dC/dparam from ``sums``: entry name -> the sum over the samples of its backprop
    term (``sample_terms``). Each entry contributes scale * its sum, plus 2 lam w for a weight entry w
    (``l2``); a tied parameter's gradient is the sum over the entries it fills (the chain rule over its
    uses). ``W`` holds the weight entries (symbols or numbers, as ``weight_matrices``); with ``dps`` the
    scale and lam enter as Floats of that many digits.
    """
    scale: sp.Expr = losses.scale_value(net, n_samples)
    lam: sp.Expr = sp.Rational(net.l2.numerator, net.l2.denominator)
    if dps is not None:
        scale, lam = sp.Float(scale, dps), sp.Float(lam, dps)
    out = {}
    for name in net.param_names if names is None else names:
        parts = []
        for e in net.slots(name):
            term = scale * sums[e.name]
            if net.l2 and e.kind == "w":
                term += 2 * lam * W[e.layer - 1][e.row][e.col]
            parts.append(term)
        out[name] = parts[0] if len(parts) == 1 else sp.Add(*parts)
    return out


def derivative(
    net: Network,
    param: Any,
    X: Any,
    Y: Any,
    exact: bool = False,
    fix: Any = None,
    values: Any = None,
    method: str = "reverse",
) -> sp.Expr:
    """The exact partial derivative of the loss with respect to one parameter (name or symbol)."""
    sym = net.param(getattr(param, "name", param))
    if fix:
        fixed = values_mapping(net, fix, require_all=False)
        if sym.name in fixed:
            raise ValueError(
                f'"{sym.name}" is fixed by fix=; it has no derivative. Remove it from fix to differentiate it'
            )
    return gradient(net, X, Y, exact=exact, fix=fix, values=values, method=method)[sym.name]


def substitute(net: Network, expr: sp.Expr, values: Any, exact: bool = False) -> sp.Expr:
    """Put parameter values into an expression (exact Rationals when ``exact``)."""
    mapping = values_mapping(net, values, require_all=False)
    sub = {net.param(name): to_sympy(v, exact, f'value of "{name}"') for name, v in mapping.items()}
    return expr.xreplace(sub)


def evaluate(net: Network, expr: sp.Expr, values: Any, dps: int = 30) -> sp.Float:
    """Evaluate an expression at parameter values with ``dps`` significant digits (mpmath).

    Float values are taken at their exact binary value, so the result is the true value of the
    expression at the numbers a float64 program sees, correct to about ``dps`` digits.
    """
    mapping = values_mapping(net, values, require_all=False)
    sub = {}
    for name, v in mapping.items():
        if isinstance(v, sp.Basic):
            sub[net.param(name)] = v
        elif isinstance(v, Fraction) or (isinstance(v, (int, np.integer)) and not isinstance(v, bool)):
            q = v if isinstance(v, Fraction) else Fraction(int(v))
            sub[net.param(name)] = sp.Rational(q.numerator, q.denominator)  # exact stays exact
        else:
            sub[net.param(name)] = sp.Float(float(v), dps)
    out = expr.xreplace(sub)
    if out.is_Rational:  # exact values in a rational expression: the exact number (-67/189), not a Float
        return out
    return out.evalf(dps)
