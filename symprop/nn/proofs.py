"""``prove(model)``: each layer kind's local backward rule proved equal to the derivative of its forward.

For every distinct layer kind of the model (and its loss), ``prove`` takes the kind's small proof
instance (``module.proof_case(in_shape)``: the same kind and options on a few entries), runs its forward
and its backward rule in SYMBOLIC arithmetic on generic symbols (inputs x, parameters, an arbitrary
upstream gradient g), and checks, entry by entry,

    backprop(g).dx[i]      == sum_j g[j] d y[j] / d x[i]
    backprop(g).dparam[k]  == sum_j g[j] d y[j] / d param[k]        (sympy.diff of the forward)

Because a model's gradient is the composition of these local rules (the engine's one reverse pass), the
cost grows with the number of distinct kinds, not with the model's size; each kind's result is cached.

Each identity is established symbolically where SymPy can (as built, expand, or as a rational
identity in the function values) and otherwise checked at random points to 40 digits (labelled
"numeric"); a clear difference at a random point disproves the rule and is reported with the kind.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from .arith import SYMBOLIC
from .loss import Loss, as_loss
from .module import Module


@dataclass(frozen=True)
class KindProof:
    """The result for one layer (or loss) kind."""

    kind: str  #: e.g. "Linear", "LayerNorm", "CrossEntropyLoss"
    instance: str  #: repr of the proof instance
    holds: bool
    checks: int  #: the number of entry identities checked
    methods: tuple[tuple[str, int], ...] = ()  #: how they were established (method, count)
    failures: tuple[str, ...] = ()  #: "dx[0, 1]: difference 0.25 at ..." for each identity that fails


@dataclass
class NNProofReport:
    """Which layer kinds' backward rules were proved, and how."""

    kinds: list[KindProof] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(k.holds for k in self.kinds)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failures(self) -> list[KindProof]:
        return [k for k in self.kinds if not k.holds]

    def blame(self) -> str:
        """One line per wrong rule, naming the kind."""
        return "\n".join(
            f"the backward rule of {k.kind} ({k.instance}) is not the derivative of its forward: {k.failures[0]}"
            for k in self.failures
        )

    def __str__(self) -> str:
        head = (
            f"all {len(self.kinds)} layer kinds proved"
            if self.ok
            else f"{len(self.failures)} of {len(self.kinds)} layer kinds have a wrong backward rule"
        )
        lines = [head]
        for k in self.kinds:
            how = ", ".join(f"{n} {m}" for m, n in k.methods)
            lines.append(
                f"  {'ok  ' if k.holds else 'FAIL'} {k.kind:<18} {k.checks:>3} identities ({how})"
                + ("" if k.holds else f"; {k.failures[0]}")
            )
        return "\n".join(lines)

    __repr__ = __str__


# ----------------------------------------------------------------------------- zero tests


def _atomized(expr: sp.Expr) -> sp.Expr:
    """Every function application (exp, tanh, Sigmoid, Piecewise, ...) replaced by a symbol; exp(-u) by 1/E(u)."""
    symbol: dict[sp.Expr, sp.Expr] = {}
    mapping: dict[sp.Expr, sp.Expr] = {}
    for f in expr.atoms(sp.Function):
        if isinstance(f, sp.exp) and f.args[0].could_extract_minus_sign():
            mapping[f] = 1 / symbol.setdefault(sp.exp(-f.args[0]), sp.Dummy())
        else:
            mapping[f] = symbol.setdefault(f, sp.Dummy())
    return expr.xreplace(mapping)


def _residual(diff: sp.Expr, symbols, rng: random.Random) -> tuple[float, dict]:
    worst, point = 0.0, {}
    for _ in range(3):
        point = {
            s: sp.Float(rng.randint(-900, 900) / 1000 if not s.is_positive else rng.randint(100, 900) / 1000, 50)
            for s in symbols
        }
        value = sp.Abs(diff.xreplace(point).evalf(40))
        if not value.is_number or not value.is_finite:
            return float("inf"), point
        worst = max(worst, float(value))
    return worst, point


def _is_zero(diff: sp.Expr, symbols, rng: random.Random) -> tuple[bool, str, str]:
    if diff == 0:
        return True, "as built", ""
    if sp.expand(diff) == 0:
        return True, "expand", ""
    worst, point = _residual(diff, symbols, rng)
    if worst > 1e-30:
        where = ", ".join(f"{s}={float(v):g}" for s, v in list(point.items())[:4])
        return False, "counterexample", f"difference {worst:.3g} at {where}, ..."
    if sp.cancel(sp.together(_atomized(diff))) == 0:
        return True, "rational identity", ""
    return True, "numeric (40 digits, 3 points)", ""


# ----------------------------------------------------------------------------- proving one kind


def _symbols(prefix: str, shape, **assumptions) -> np.ndarray:
    arr = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        arr[idx] = sp.Symbol(f"{prefix}[{','.join(map(str, idx))}]", **assumptions)
    return arr


def _kind_name(m: Any) -> str:
    return type(m).__name__


def _check_rule(
    kind: str, instance: str, y, dy, wrt: dict[str, np.ndarray], got: dict[str, np.ndarray], symbols
) -> KindProof:
    rng = random.Random(0)
    methods: dict[str, int] = {}
    failures = []
    checks = 0
    y_flat, dy_flat = list(np.asarray(y, dtype=object).flat), list(np.asarray(dy, dtype=object).flat)
    for name, arr in wrt.items():
        g = np.asarray(got[name], dtype=object)
        if g.shape != arr.shape:
            failures.append(f"{name} has shape {g.shape}, expected {arr.shape}")
            continue
        for idx in np.ndindex(*arr.shape):
            s = arr[idx]
            expected = sp.Add(*[gj * sp.diff(yj, s) for yj, gj in zip(y_flat, dy_flat)])
            holds, method, residual = _is_zero(sp.sympify(g[idx]) - expected, symbols, rng)
            checks += 1
            methods[method] = methods.get(method, 0) + 1
            if not holds:
                failures.append(f"{name}[{', '.join(map(str, idx))}]: {residual}")
    return KindProof(kind, instance, not failures, checks, tuple(sorted(methods.items())), tuple(failures))


@cache
def prove_module(module: Module, in_shape: tuple[int, ...], n: int) -> KindProof:
    """Prove one module's local backward rule on generic symbols (x of shape (n, *in_shape))."""
    x = _symbols("x", (n,) + tuple(in_shape), real=True)
    pshapes, bshapes = module.param_shapes(in_shape), module.buffer_shapes(in_shape)
    params = {k: _symbols(k, s, real=True) for k, s in pshapes.items()}
    buffers = {
        k: _symbols(k, s, positive=True) if k.endswith("running_var") else _symbols(k, s, real=True)
        for k, s in bshapes.items()
    }
    y, back = module.forward(SYMBOLIC, x, params, buffers)
    dy = _symbols("g", y.shape, real=True)
    dx, grads = back(dy)
    symbols = [s for a in [x, dy, *params.values(), *buffers.values()] for s in np.asarray(a).flat]
    got = {"dx": dx} | {f"d{k}": v for k, v in grads.items()}
    wrt = {"dx": x} | {f"d{k}": v for k, v in params.items()}
    missing = [k for k in wrt if k not in got]
    if missing:
        return KindProof(_kind_name(module), repr(module), False, 0, (), (f"no gradient for {missing[0]}",))
    return _check_rule(_kind_name(module), repr(module), y, dy, wrt, got, symbols)


@cache
def prove_loss(loss: Loss, n: int = 2, c: int = 3) -> KindProof:
    """Prove a loss's gradient wrt the model output equal to sympy.diff of its value (probability targets
    as generic symbols: integer labels are their one-hot special case)."""
    out = _symbols("o", (n, c), positive=True) if _takes_probabilities(loss) else _symbols("o", (n, c), real=True)
    # probability targets as generic symbols (labels are their one-hot special case); NLLLoss takes labels only
    target = np.arange(n) % c if type(loss).__name__ == "NLLLoss" else _symbols("y", (n, c), real=True)
    value, back = loss.forward(SYMBOLIC, out, target)
    dout = back()
    symbols = [s for a in (out, target) for s in a.flat if isinstance(s, sp.Symbol)]
    return _check_rule(
        _kind_name(loss),
        repr(loss),
        np.array([value], dtype=object),
        np.array([sp.S.One], dtype=object),
        {"dout": out},
        {"dout": dout},
        symbols,
    )


def _takes_probabilities(loss: Loss) -> bool:
    return type(loss).__name__ == "BCELoss"


# ----------------------------------------------------------------------------- the model


def _default_in_shape(model: Module) -> tuple[int, ...]:
    first = model
    while first.__class__.__name__ in ("Sequential", "Residual"):
        children = list(first.children())
        if not children:
            break
        first = children[0]
    if hasattr(first, "in_features"):
        return (first.in_features,)
    raise ValueError("prove(model): give in_shape (one sample's input shape), e.g. prove(model, (3,))")


def _cases(module: Module, in_shape, out: list) -> None:
    """Every (proof instance, shape, n): the leaves and the containers' own rules."""
    case = module.proof_case(in_shape)
    if case is not None:
        out.append(case)
    shape = tuple(in_shape)
    if type(module).__name__ == "Residual":
        _cases(module.block, shape, out)
        return
    for _, child in module.named_children():
        _cases(child, shape, out)
        shape = child.out_shape(shape)


def prove(model: Module, in_shape: tuple[int, ...] | None = None, loss: Any = None) -> NNProofReport:
    """Prove the backward rule of every distinct layer kind in ``model`` (and of ``loss`` when given)."""
    if not isinstance(model, Module):
        raise TypeError(f"prove(model): model must be a symprop.nn module, got {type(model).__name__}")
    shape = tuple(in_shape) if in_shape is not None else _default_in_shape(model)
    model.out_shape(shape)  # validates the shapes
    cases: list = []
    _cases(model, shape, cases)
    report = NNProofReport()
    for case in dict.fromkeys(cases):
        report.kinds.append(prove_module(*case))
    if loss is not None:
        report.kinds.append(prove_loss(as_loss(loss)))
    return report
