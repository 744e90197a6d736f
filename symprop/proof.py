"""A symbolic proof that the four backprop equations give the derivative of the closed-form loss."""

from __future__ import annotations

import html
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sympy as sp

from . import activations, losses
from .graph import (
    forward_sample,
    input_symbols,
    l2_penalty,
    parameter_symbols,
    parameter_values,
    target_symbols,
    weight_matrices,
)
from .spec import Activation, Network

Exprs = list[sp.Expr]
#: output_delta(grad_a, z, a, y, act) -> delta^{[L]}, with grad_a = dC/da^{[L]} (one sample)
OutputRule = Callable[[Exprs, Exprs, Exprs, Exprs, Activation], Sequence[sp.Expr]]
#: hidden_delta(W_next, delta_next, z, act) -> delta^{[l]}; W_next is W^{[l+1]}, delta_next a column
HiddenRule = Callable[[sp.Matrix, sp.Matrix, Exprs, Activation], Sequence[sp.Expr]]

ASSUME_ROWS_SUM_TO_ONE = "each target row sums to 1 (y_m = 1 - y_1 - ... - y_{m-1})"


# --------------------------------------------------------------------------- the textbook rules (seed 001)


def textbook_output_delta(grad_a: Exprs, z: Exprs, a: Exprs, y: Exprs, act: Activation) -> list[sp.Expr]:
    """(1) delta^{[L]} = dC/da^{[L]} (.) sigma'(z^{[L]}); softmax: the Jacobian J^T dC/da."""
    if act.name == "softmax":
        # da_j/dz_k = a_j (delta_jk - a_k)  =>  delta_k = a_k (g_k - sum_j g_j a_j)
        s = sp.Add(*[g * aj for g, aj in zip(grad_a, a)])
        return [ak * (gk - s) for gk, ak in zip(grad_a, a)]
    return [g * d for g, d in zip(grad_a, activations.apply_derivative(act, z))]


def softmax_cross_entropy_delta(grad_a: Exprs, z: Exprs, a: Exprs, y: Exprs, act: Activation) -> list[sp.Expr]:
    """(1) for softmax + cross-entropy, one sample: delta^{[L]} = a - y (targets summing to 1)."""
    return [aj - yj for aj, yj in zip(a, y)]


def textbook_hidden_delta(W_next: sp.Matrix, delta_next: sp.Matrix, z: Exprs, act: Activation) -> list[sp.Expr]:
    """(2) delta^{[l]} = (W^{[l+1]})^T delta^{[l+1]} (.) sigma'(z^{[l]})."""
    back = W_next.T * delta_next
    return [back[k] * d for k, d in enumerate(activations.apply_derivative(act, z))]


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Identity:
    """One checked identity: the backprop formula of a parameter against sympy.diff of the loss."""

    parameter: str
    rules: str
    holds: bool
    method: str
    residual: str = ""
    kind: str = ""  # "w" or "b" (a tied parameter mixing both counts as "w"); "" = read from the name

    @property
    def equation(self) -> str:
        is_weight = self.kind == "w" if self.kind else self.parameter.startswith("w")
        kind = "dC/dW = delta a^T" if is_weight else "dC/db = delta"
        return f"{kind} via {self.rules}"


@dataclass
class ProofReport:
    """Which per-parameter identities hold, how each was established, and the assumptions used."""

    network: Network
    identities: list[Identity]
    assumptions: list[str] = field(default_factory=list)
    rules: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(i.holds for i in self.identities)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failures(self) -> list[Identity]:
        return [i for i in self.identities if not i.holds]

    def methods(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for i in self.identities:
            counts[i.method] = counts.get(i.method, 0) + 1
        return counts

    def summary(self) -> str:
        bad = self.failures
        how = ", ".join(f"{n} by {m}" for m, n in self.methods().items())
        state = "PROVED" if self.ok else f"FAILED: {len(bad)} / {len(self.identities)} identities do not hold"
        return f"{state} for {self.network!r} ({how})"

    def blame(self) -> str:
        """Which rule a failure points to: output-layer identities use only (1), the others (1) and (2)."""
        bad = self.failures
        if not bad:
            return ""
        if any(i.rules == "(1)" for i in bad):
            return f"the output delta rule ({self.rules.get('output delta', '(1)')}) does not give dC/dz^[L]"
        return f"the hidden delta rule ({self.rules.get('hidden delta', '(2)')}) is wrong: the output-layer identities hold"

    def __str__(self) -> str:
        lines = [self.summary()] + ([f"cause: {self.blame()}"] if not self.ok else [])
        lines += [f"rule {k}: {v}" for k, v in self.rules.items()]
        lines += [f"assumption: {a}" for a in self.assumptions]
        width = max((len(i.parameter) for i in self.identities), default=0)
        for i in self.identities:
            verdict = "holds" if i.holds else "DOES NOT HOLD"
            extra = f"; residual {i.residual}" if i.residual else ""
            lines.append(f"  {i.parameter.ljust(width)}  {verdict:13}  {i.equation} [{i.method}]{extra}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<ProofReport {self.summary()}>"

    def to_markdown(self) -> str:
        lines = [f"**{self.summary()}**", ""]
        lines += [f"- rule {k}: {v}" for k, v in self.rules.items()]
        lines += [f"- assumption: {a}" for a in self.assumptions]
        lines += ["", "| parameter | identity | holds | established by |", "|:--|:--|:--|:--|"]
        lines += [
            f"| {i.parameter} | {i.equation} | {'yes' if i.holds else '**no**'} | {i.method} |" for i in self.identities
        ]
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        bad = ' style="background:#fdd"'
        rows = "".join(
            f"<tr{'' if i.holds else bad}><td>{html.escape(i.parameter)}</td>"
            f"<td>{html.escape(i.equation)}</td><td>{'yes' if i.holds else 'no'}</td><td>{html.escape(i.method)}</td></tr>"
            for i in self.identities
        )
        notes = "".join(f"<li>{html.escape(a)}</li>" for a in self.assumptions)
        return (
            f"<div><p><b>{html.escape(self.summary())}</b></p>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + "<table><thead><tr><th>parameter</th><th>identity</th><th>holds</th><th>established by</th></tr></thead>"
            + f"<tbody>{rows}</tbody></table></div>"
        )


# --------------------------------------------------------------------------- proving


def _is_zero(diff: sp.Expr, symbols: Sequence[sp.Symbol], seed: int) -> tuple[bool, str, str]:
    """(holds, method, residual) for ``diff == 0``.

    Symbolic steps first (cheap to costly); a random rational point where the difference is
    clearly nonzero disproves the identity; if only the numeric check passes, it is labelled so.
    """
    if diff == 0:
        return True, "symbolic (cancels as built)", ""
    if sp.expand(diff, deep=False) == 0:
        return True, "symbolic (expand)", ""
    # a rational-function identity in the activation values, each treated as an independent symbol
    # (sound: an identity in free symbols stays one for any values they take)
    if sp.cancel(sp.together(_atomized(diff))) == 0:
        return True, "symbolic (rational in the activations)", ""
    worst, point = _numeric_residual(diff, symbols, seed)
    if worst > sp.Float("1e-30"):
        where = ", ".join(f"{s}={float(v):g}" for s, v in list(point.items())[:6])
        return False, "counterexample (40 digits)", f"difference {sp.Float(worst, 4)} at {where}, ..."
    if sp.cancel(sp.together(sp.expand(diff, power_exp=True))) == 0:
        return True, "symbolic (expand + cancel)", ""
    return True, "numeric fallback (40 digits, 3 random points)", sp.sstr(diff)[:200]


def _numeric_residual(diff: sp.Expr, symbols: Sequence[sp.Symbol], seed: int) -> tuple[sp.Float, dict]:
    """The largest |diff| at 3 random rational points (40 digits), and the last point tried."""
    rng = random.Random(seed)
    worst, point = sp.Float(0), {}
    for _ in range(3):
        point = {s: sp.Float(f"{rng.randint(-900, 900) / 1000}", 50) for s in symbols}
        value = sp.Abs(diff.xreplace(point).evalf(40))
        if not value.is_number or not value.is_finite:
            return sp.Float("inf"), point
        worst = max(worst, value)
    return worst, point


def _atomized(expr: sp.Expr) -> sp.Expr:
    """Replace every function application by a symbol (exp(-u) by 1/E(u), so that it pairs with exp(u))."""
    symbol: dict[sp.Expr, sp.Expr] = {}
    mapping: dict[sp.Expr, sp.Expr] = {}
    for f in expr.atoms(sp.Function):
        if isinstance(f, sp.exp) and f.args[0].could_extract_minus_sign():
            mapping[f] = 1 / symbol.setdefault(sp.exp(-f.args[0]), sp.Dummy())
        else:
            mapping[f] = symbol.setdefault(f, sp.Dummy())
    return expr.xreplace(mapping)


def _grad_a(net: Network, a: Exprs, y: Exprs) -> list[sp.Expr]:
    """dC/da_j for one sample: scale(1, m) * ell'(a_j, y_j)."""
    scale = losses.scale_value(net, 1)
    ell = losses.element_derivative(net.loss_name)
    return [scale * ell.xreplace({losses.A: aj, losses.Y: yj}) for aj, yj in zip(a, y)]


def prove_backprop(
    net: Network,
    output_delta: OutputRule | None = None,
    hidden_delta: HiddenRule | None = None,
    assume_targets_sum_to_one: bool = True,
) -> ProofReport:
    """Check, for every parameter of one general sample (x, y symbols), that the four equations

    (1) delta^{[L]} = dC/da^{[L]} (.) sigma'(z^{[L]})   (softmax + cross-entropy: a - y)
    (2) delta^{[l]} = (W^{[l+1]})^T delta^{[l+1]} (.) sigma'(z^{[l]})
    (3) dC/dW^{[l]} = delta^{[l]} (a^{[l-1]})^T        (4) dC/db^{[l]} = delta^{[l]}

    equal ``sympy.diff`` of the closed-form per-sample loss. Pass ``output_delta`` / ``hidden_delta``
    to check other (for instance deliberately wrong) rules.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a symprop.Network, got {type(net).__name__}")
    x, y = list(input_symbols(net)), list(target_symbols(net))
    assumptions: list[str] = []
    rules = {
        "output delta": getattr(output_delta, "__name__", "custom") if output_delta else "textbook (1)",
        "hidden delta": getattr(hidden_delta, "__name__", "custom") if hidden_delta else "textbook (2)",
    }
    softmax_ce = net.loss_name == "cross_entropy"
    if output_delta is None and softmax_ce:
        if assume_targets_sum_to_one:
            output_delta, rules["output delta"] = softmax_cross_entropy_delta, "a - y (softmax + cross-entropy)"
        else:
            rules["output delta"] = "textbook (1) with the softmax Jacobian"
    output_delta = output_delta or textbook_output_delta
    hidden_delta = hidden_delta or textbook_hidden_delta
    substitute: dict[sp.Symbol, sp.Expr] = {}
    if softmax_ce and assume_targets_sum_to_one:
        substitute = {y[-1]: 1 - sp.Add(*y[:-1])}
        assumptions.append(ASSUME_ROWS_SUM_TO_ONE)

    W, b = weight_matrices(net, parameter_values(net, None, False))
    Zs, As = forward_sample(net, x, W, b)
    L = net.depth
    loss = losses.scale_value(net, 1) * sp.Add(
        *[losses.element(net.loss_name).xreplace({losses.A: a, losses.Y: t}) for a, t in zip(As[L], y)]
    ) + l2_penalty(net, W)
    deltas: list[list[sp.Expr]] = [[] for _ in range(L + 1)]
    deltas[L] = _checked(
        output_delta(_grad_a(net, As[L], y), Zs[L], As[L], y, net.output), net.layers[L], "output_delta"
    )
    for l in range(L - 1, 0, -1):
        W_next = sp.Matrix(W[l])
        deltas[l] = _checked(
            hidden_delta(W_next, sp.Matrix(deltas[l + 1]), Zs[l], net.activations[l - 1]), net.layers[l], "hidden_delta"
        )

    if net.l2:
        assumptions.append(f"l2: the loss includes {net.l2} * sum(W**2); each weight's formula adds 2 * {net.l2} * w")
    for name, entries in net.tie:
        assumptions.append(f"tie: {name} fills {', '.join(entries)}; its formula is the sum over those entries")
    lam = sp.Rational(net.l2.numerator, net.l2.denominator)
    symbols = list(parameter_symbols(net)) + x + y
    identities = []
    from .progress import track

    pairs = track(list(zip(net.param_names, parameter_symbols(net))), "proving backprop", item=lambda pair: pair[0])
    for k, (name, p) in enumerate(pairs):
        parts = []
        for info in net.slots(name):
            d = deltas[info.layer][info.row]
            part = d if info.kind == "b" else d * As[info.layer - 1][info.col]
            parts.append(part + 2 * lam * p if net.l2 and info.kind == "w" else part)
        formula = sp.Add(*parts)
        truth = sp.diff(loss, p)
        difference = (formula - truth).xreplace(substitute) if substitute else formula - truth
        holds, method, residual = _is_zero(difference, symbols, seed=k)
        top = min(info.layer for info in net.slots(name))
        used = "(1)" if top == L else f"(1) and (2) x{L - top}"
        kind = "b" if all(info.kind == "b" for info in net.slots(name)) else "w"
        identities.append(Identity(name, used, holds, method, residual, kind))
    return ProofReport(net, identities, assumptions, rules)


def _checked(delta: Sequence[sp.Expr], size: int, rule: str) -> list[sp.Expr]:
    try:
        out = [sp.sympify(d) for d in delta]
    except (TypeError, sp.SympifyError):
        raise TypeError(f"{rule} must return a sequence of SymPy expressions, got {delta!r}") from None
    if len(out) != size:
        raise ValueError(f"{rule} returned {len(out)} entries, expected {size} (one per neuron of the layer)")
    return out
