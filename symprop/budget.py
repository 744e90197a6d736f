"""Work budgets: estimate the cost of symbolic, exact and numeric work before doing it.

Every estimate is a count in the work's own unit (terms of a closed form, exact operations,
floating-point operations, parameters) turned into seconds by a conservative rate measured on an
ordinary laptop. Work whose estimate exceeds the budget (60 s unless changed) is refused up front
with a :class:`BudgetError` that gives the estimate and how to proceed; work above
``PROGRESS_SECONDS`` is "long but sane" and shows progress on a terminal.

The budget is ``limit(seconds)`` (a context manager), else the environment variable
``SYMPROP_BUDGET`` (seconds), else ``DEFAULT_SECONDS``; ``symprop ... --budget SECONDS`` sets it
for one command. The rates only need to be right within a factor of a few: the work this guards
against (a closed form of 10^50 terms, 10^10 parameters) is absurd by many orders of magnitude.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

DEFAULT_SECONDS = 60.0
PROGRESS_SECONDS = 2.0
ENV = "SYMPROP_BUDGET"

#: seconds per unit of work (conservative: measured rates, rounded up)
RATES = {
    "terms": 5e-5,  # building and printing one node of a SymPy closed form
    "exact operations": 4e-5,  # one SymPy Rational/Float operation of the exact reverse pass
    # one parameter x one sample of the certified pass (symprop.certified): 2.5e-7 measured at 96 bits, times 4
    # for the reruns at higher precision that saturated or cancelling entries ask for
    "parameter-samples on balls": 1e-6,
    "flops": 2e-9,  # one float64 multiply-add in the compiled program, with Python overhead
    "parameters": 2e-5,  # naming, reading and tabulating one parameter (Python objects per name)
    "bytes": 5e-7,  # reading one byte of a problem file or CSV (TOML/CSV parsing in Python)
    "figure elements": 3e-3,  # one labelled matplotlib artist
    "output numbers": 3e-6,  # formatting one number into a table or JSON
    "derivation numbers": 3e-4,  # one number on a derivation's pages: built, printed to LaTeX and MathML
}

_BUDGET: ContextVar[float | None] = ContextVar("symprop_budget", default=None)


class BudgetError(ValueError):
    """Work refused up front because its estimated cost exceeds the budget (exit status 2 on the CLI)."""

    def __init__(self, message: str, estimate: Estimate) -> None:
        super().__init__(message)
        self.estimate = estimate


@dataclass(frozen=True)
class Estimate:
    """What some work is, how much of it there is (``amount`` ``unit``) and how long it should take."""

    what: str
    amount: float
    unit: str

    @property
    def seconds(self) -> float:
        return self.amount * RATES[self.unit]

    def __str__(self) -> str:
        return f"{self.what}: about {_count(self.amount)} {self.unit}, {_duration(self.seconds)}"


def _count(x: float) -> str:
    if not math.isfinite(x):
        return "infinitely many"
    return f"{x:,.0f}" if x < 1e6 else f"{x:.2g}"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds > 3.15e9:
        return "longer than a century"
    if seconds < 120:
        return f"about {seconds:.2g} s"
    if seconds < 7200:
        return f"about {seconds / 60:.0f} min"
    if seconds < 172800:
        return f"about {seconds / 3600:.0f} hours"
    if seconds < 3.15e7:
        return f"about {seconds / 86400:.0f} days"
    return f"about {seconds / 3.15e7:.2g} years"


# --------------------------------------------------------------------------- the budget


def seconds_allowed() -> float:
    """The current budget in seconds: ``limit()``, else $SYMPROP_BUDGET, else DEFAULT_SECONDS."""
    value = _BUDGET.get()
    if value is not None:
        return value
    text = os.environ.get(ENV)
    if text:
        try:
            return check_seconds(float(text), f"${ENV}")
        except ValueError:
            raise ValueError(f"${ENV} must be a positive number of seconds, got {text!r}") from None
    return DEFAULT_SECONDS


def check_seconds(value: Any, what: str = "budget") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, got {value!r}")
    value = float(value)
    if not value > 0 or math.isnan(value):
        raise ValueError(f"{what} must be a positive number of seconds (inf for no limit), got {value!r}")
    return value


@contextlib.contextmanager
def limit(seconds: float | None) -> Iterator[float]:
    """Within this block, refuse work estimated to take longer than ``seconds`` (``math.inf``: no limit;
    None leaves the budget as it is)."""
    if seconds is None:
        yield seconds_allowed()
        return
    token = _BUDGET.set(check_seconds(seconds))
    try:
        yield seconds
    finally:
        _BUDGET.reset(token)


def check(estimate: Estimate, hints: Sequence[str] = (), budget: float | None = None) -> Estimate:
    """Raise BudgetError when ``estimate`` exceeds the budget; else return it (``.seconds`` tells
    the caller whether to show progress)."""
    allowed = seconds_allowed() if budget is None else check_seconds(budget)
    if estimate.seconds > allowed:
        ways = list(hints) + [
            f"a larger budget (--budget SECONDS, symprop.budget.limit(seconds) or ${ENV}; now {allowed:g} s)"
        ]
        raise BudgetError(
            f"refused: {estimate.what} would take {_duration(estimate.seconds)} "
            f"({_count(estimate.amount)} {estimate.unit}), more than the budget of {allowed:g} s. "
            f"To proceed: {'; or '.join(ways)}",
            estimate,
        )
    return estimate


def long(estimate: Estimate) -> bool:
    """Long but sane: worth a progress bar or a notice."""
    return estimate.seconds >= PROGRESS_SECONDS


# --------------------------------------------------------------------------- what a network costs


def n_params(layers: Sequence[int]) -> int:
    """Weights and biases of a fully connected network, from its layer sizes alone (no names built)."""
    return sum(layers[l] * layers[l + 1] + layers[l + 1] for l in range(len(layers) - 1))


def flops_per_sample(layers: Sequence[int]) -> float:
    """Multiply-adds of one forward and backward pass (forward, delta, dW: three per weight)."""
    return 3.0 * sum(layers[l] * layers[l + 1] for l in range(len(layers) - 1)) + 10.0 * sum(layers[1:])


def parameters(net: Any, what: str = "setting up the network's named parameters") -> Estimate:
    return Estimate(
        f"{what} ({net.n_params if _small(net) else n_params(net.layers):,} parameters of {_layers(net.layers)})",
        float(n_params(net.layers)),
        "parameters",
    )


def _small(net: Any) -> bool:
    return "param_infos" in getattr(net, "__dict__", {})


def _layers(layers: Sequence[int]) -> str:
    if len(layers) > 8:
        return f"layers [{layers[0]}, {layers[1]}, ..., {layers[-1]}] ({len(layers) - 1} weight layers)"
    return f"layers {list(layers)}"


def numeric(net: Any, n_samples: int, passes: float = 1.0, what: str = "the compiled gradient") -> Estimate:
    """``passes`` compiled forward + backward passes over ``n_samples`` samples."""
    return Estimate(what, passes * max(n_samples, 1) * flops_per_sample(net.layers), "flops")


def reading(n_bytes: int, what: str) -> Estimate:
    return Estimate(what, float(n_bytes), "bytes")


# --------------------------------------------------------------------------- closed-form sizes
# The closed forms are trees: z^{[l]}_j = sum_k w_jk a^{[l-1]}_k + b_j repeats every a^{[l-1]}_k, so
# the number of terms of the loss (what printing, simplifying or substituting visits) is a product
# of the layer widths. It is computed here from the layer sizes and the number of copies of z each
# activation form (and its derivative) holds, never by building the expression.


@cache
def _copies(act: Any, width: int) -> tuple[float, float]:
    """(copies of z in a = f(z), copies of z in f'(z)) for one neuron of a layer of ``width``."""
    import sympy as sp

    from . import activations

    n = width if act.name == "softmax" else 1
    zs = [sp.Symbol(f"_z{i}", real=True) for i in range(n)]
    a = activations.apply(act, zs)[0]
    if act.name == "softmax":
        return float(_occurrences(a, set(zs))), float(n * _occurrences(a, set(zs)))
    d = activations.apply_derivative(act, zs)[0]
    return float(max(_occurrences(a, {zs[0]}), 1)), float(max(_occurrences(d, {zs[0]}), 1))


def _occurrences(expr: Any, symbols: set) -> int:
    import sympy as sp

    return sum(1 for node in sp.preorder_traversal(expr) if node in symbols)


@cache
def _loss_copies(loss: str) -> tuple[float, float]:
    """(copies of a in ell(a, y), copies of a in d ell / d a)."""
    from . import losses

    return (
        float(max(_occurrences(losses.element(loss), {losses.A}), 1)),
        float(max(_occurrences(losses.element_derivative(loss), {losses.A}), 1)),
    )


def _forward_sizes(net: Any) -> tuple[list[float], list[float]]:
    """Terms of z^{[l]}_j and a^{[l]}_j (one sample, every parameter a symbol), l = 0..L."""
    size_z, size_a = [0.0], [1.0]
    for l, act in enumerate(net.activations, start=1):
        z = net.layers[l - 1] * (size_a[-1] + 2.0) + 2.0
        copies, _ = _copies(act, net.layers[l])
        size_z.append(z)
        size_a.append(copies * z + 1.0)
    return size_z, size_a


def loss_terms(net: Any, n_samples: int) -> float:
    """Terms of the loss as a closed form of every parameter over ``n_samples`` samples."""
    _, size_a = _forward_sizes(net)
    copies, _ = _loss_copies(net.loss_name)
    return max(n_samples, 1) * net.n_outputs * (copies * size_a[-1] + 4.0) + 2.0


def delta_terms(net: Any) -> list[float]:
    """Terms of delta^{[l]}_j of one sample (index l = 1..L; entry 0 unused)."""
    size_z, size_a = _forward_sizes(net)
    L = net.depth
    _, g = _loss_copies(net.loss_name)
    _, d = _copies(net.output, net.n_outputs)
    deltas = [0.0] * (L + 1)
    deltas[L] = g * size_a[L] + d * size_z[L] + 2.0
    for l in range(L - 1, 0, -1):
        _, d = _copies(net.activations[l - 1], net.layers[l])
        deltas[l] = net.layers[l + 1] * (deltas[l + 1] + 2.0) + d * size_z[l] + 2.0
    return deltas


def gradient_terms(net: Any, n_samples: int, param: str | None = None) -> float:
    """Terms of dC/dparam as a closed form (every parameter's, summed, when ``param`` is None)."""
    size_z, size_a = _forward_sizes(net)
    deltas = delta_terms(net)
    n = max(n_samples, 1)
    if param is not None:
        info = net.info(param)
        extra = size_a[info.layer - 1] + 1.0 if info.kind == "w" else 0.0
        return n * (deltas[info.layer] + extra)
    total = 0.0
    for l in range(1, net.depth + 1):
        outs, ins = net.layers[l], net.layers[l - 1]
        total += outs * ins * (deltas[l] + size_a[l - 1] + 1.0) + outs * deltas[l]
    return n * total


def closed_form(
    net: Any, n_samples: int, what: str, param: str | None = None, loss: bool = True, gradient: bool = False
) -> Estimate:
    """The closed forms a command prints: the loss and/or the derivative(s)."""
    terms = (loss_terms(net, n_samples) if loss else 0.0) + (gradient_terms(net, n_samples, param) if gradient else 0.0)
    return Estimate(what, terms, "terms")


# --------------------------------------------------------------------------- the reverse passes


def exact_pass(net: Any, n_samples: int, what: str = "the symbolic reverse pass") -> Estimate:
    """SymPy operations of the symbolic reverse pass over every sample (about one node per operation)."""
    ops = max(n_samples, 1) * (flops_per_sample(net.layers) + 2.0 * n_params(net.layers) + 20.0 * sum(net.layers))
    return Estimate(what, ops, "exact operations")


def certified(net: Any, n_samples: int, passes: float = 1.0, what: str = "the exact gradient") -> Estimate:
    """``passes`` runs of the one numeric reverse pass (``symprop.certified.reverse_pass``) over ``n_samples``."""
    # each datum is read as an exact decimal and enters as a ball once (about 10 units), then every pass
    # costs about one unit per parameter and four per element-wise factor, per sample
    per_sample = passes * (n_params(net.layers) + 4.0 * sum(net.layers[1:])) + 10.0 * (net.layers[0] + net.layers[-1])
    work = max(n_samples, 1) * per_sample
    return Estimate(what, work, "parameter-samples on balls")


def guard_closed_form(net: Any, n_samples: int, symbolic: bool, what: str = "the loss as a closed form") -> None:
    """Refuse building a closed form too large to use (graph.forward / graph.loss_expr call this).

    ``symbolic`` is False when every parameter is a float and the data are floats: SymPy then
    evaluates every node to one number and nothing grows.
    """
    if symbolic:
        check(
            closed_form(net, n_samples, what),
            ["fewer samples", "fix= more parameters at values", "net.compile() for float64 numbers"],
        )


def guard_gradient(
    net: Any, n_samples: int, free: Sequence[str] | None = None, what: str = "the gradient as closed forms"
) -> None:
    """Refuse symbolic derivatives too large to use (their closed forms as trees, what printing,
    ``sympy.diff`` or substituting visits): ``chainrule.gradient(method="diff")`` calls it, and it is the
    guard for ``symprop.derive`` when some parameters are symbols. ``free`` names the parameters left
    symbolic (None: all; a tied name counts every entry it fills); with every parameter a number nothing
    grows and nothing is checked. Raises ``BudgetError`` (one line: the estimate and how to proceed).

    The symbolic reverse pass (``Network.gradient`` with symbols) builds shared subexpressions rather than
    trees; it is guarded by the loss's closed-form size and ``exact_pass`` instead (``chainrule``).
    """
    if free is not None and not free:
        return
    size_z, size_a = _forward_sizes(net)
    deltas = delta_terms(net)
    if free is None:
        terms = gradient_terms(net, n_samples)
    else:
        terms = 0.0
        for name in free:
            for info in net.slots(name):  # a tied parameter: every entry it fills
                terms += deltas[info.layer] + (size_a[info.layer - 1] + 1.0 if info.kind == "w" else 0.0)
        terms *= max(n_samples, 1)
    check(
        Estimate(what, terms, "terms"),
        ["fewer samples", "fewer symbolic parameters (fix= or values=)", "net.compile() for float64 numbers"],
    )
