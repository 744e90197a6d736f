"""Gradient descent on a network's exact compiled gradient, recorded step by step as a trace."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import listing, suggest
from .graph import latex_name
from .spec import Network, arrays_to_dict, as_data, parse_values

#: why a run stopped
STOP_REASONS = ("tol", "max_steps", "diverged")

#: a loss is "exploding" when it exceeds BLOWUP * max(initial loss, 1)
BLOWUP = 1e6


# --------------------------------------------------------------------------- the trace


@dataclass(frozen=True)
class Step:
    """One update: the values before it, the loss there, the slopes and the step sizes lr * slope."""

    index: int
    values: dict[str, float]
    loss: float
    gradient: dict[str, float]
    step_size: dict[str, float]

    @property
    def new_values(self) -> dict[str, float]:
        """The trained parameters after this update: old value - step size."""
        return {name: self.values[name] - size for name, size in self.step_size.items()}


@dataclass(frozen=True)
class Trace:
    """A gradient-descent run: every step, the final values and why it stopped."""

    network: Network
    train: tuple[str, ...]
    lr: float
    tol: float | None
    max_steps: int
    blowup: float
    initial: dict[str, float]
    steps: list[Step]
    final: dict[str, float]
    final_loss: float
    stopped: str
    reason: str

    @property
    def converged(self) -> bool:
        """True when the run stopped because every step size fell below ``tol``."""
        return self.stopped == "tol"

    @property
    def losses(self) -> list[float]:
        """The loss before every update, then the loss at the final values."""
        return [s.loss for s in self.steps] + [self.final_loss]

    def path(self, name: str) -> list[float]:
        """The values one parameter took: before every update, then its final value."""
        self.network.check_name(name)
        return [s.values[name] for s in self.steps] + [self.final[name]]

    def __repr__(self) -> str:
        return (
            f"<Trace {self.stopped} after {len(self.steps)} step(s), lr={self.lr}, train={listing(self.train)}, "
            f"final loss {_fmt(self.final_loss, 6)}>"
        )

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with stable keys (shape documented in docs/descent.md)."""
        return {
            "network": repr(self.network),
            "parameters": list(self.network.param_names),
            "train": list(self.train),
            "lr": self.lr,
            "tol": self.tol,
            "max_steps": self.max_steps,
            "blowup": self.blowup,
            "stopped": self.stopped,
            "converged": self.converged,
            "reason": self.reason,
            "n_steps": len(self.steps),
            "initial": _json_floats(self.initial),
            "final": _json_floats(self.final),
            "final_loss": _json_float(self.final_loss),
            "steps": [
                {
                    "index": s.index,
                    "loss": _json_float(s.loss),
                    "values": _json_floats(s.values),
                    "gradient": _json_floats(s.gradient),
                    "step_size": _json_floats(s.step_size),
                    "new_values": _json_floats(s.new_values),
                }
                for s in self.steps
            ],
        }

    # ----------------------------------------------------------------- tables
    def rows(self, digits: int = 4, limit: int | None = None) -> list[tuple[str, str, str, str, str, str]]:
        """Table rows (step, parameter, loss, slope, step size, new value) as formatted text.

        ``limit`` keeps the first and last steps of a long run (``limit`` steps in all) and puts one
        row saying how many were left out in between.
        """
        out = []
        for s in _shown(self.steps, limit):
            if s is None:
                left_out = len(self.steps) - limit
                out.append(("…", f"({left_out} steps left out)", "", "", "", ""))
                continue
            for i, name in enumerate(self.train):
                loss = _fmt(s.loss, digits) if i == 0 else ""
                out.append((str(s.index), name, loss, _fmt(s.gradient[name], digits),
                            _fmt(s.step_size[name], digits), _fmt(s.new_values[name], digits)))
        return out

    def to_markdown(self, digits: int = 4, summary: bool = True, limit: int | None = None) -> str:
        """A Markdown table, one row per (step, trained parameter), then the stopping reason."""
        head = "| step | parameter | loss | slope ∂L/∂p | step size α·slope | new value |"
        lines = [head, "|---:|:---|---:|---:|---:|---:|"]
        for r in self.rows(digits, limit):
            name = r[1] if r[0] == "…" else f"`{r[1]}`"
            lines.append("| " + " | ".join((r[0], name) + r[2:]) + " |")
        if summary:
            lines += ["", f"Final loss {_fmt(self.final_loss, digits)}. Stopped ({self.stopped}): {self.reason}"]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:  # Jupyter
        return self.to_markdown(limit=20)

    def to_latex(self, digits: int = 4, limit: int | None = None) -> str:
        """A LaTeX tabular, one row per (step, trained parameter)."""
        lines = [
            r"\begin{tabular}{rlrrrr}",
            r"\hline",
            r"step & parameter & loss $L$ & slope $\partial L / \partial p$ & step size $\alpha \, \partial L / \partial p$"
            r" & new value \\",
            r"\hline",
        ]
        for r in self.rows(digits, limit):
            if r[0] == "…":
                lines.append(f"\\multicolumn{{6}}{{c}}{{$\\vdots$ {r[1]}}} \\\\")
                continue
            cells = [r[0], f"${latex_name(r[1])}$"] + [f"${_latex_num(c)}$" if c else "" for c in r[2:]]
            lines.append(" & ".join(cells) + r" \\")
        lines += [r"\hline", r"\end{tabular}"]
        return "\n".join(lines)

    def update_equations(self, digits: int = 4, loss_symbol: str = "L") -> list[str]:
        r"""One LaTeX equation per update with the numbers put in.

        ``b_{3}^{\text{new}} = b_{3} - \alpha \frac{\partial L}{\partial b_{3}} = 0 - 0.1 (-15.66) = 1.566``
        """
        out = []
        for s in self.steps:
            for name in self.train:
                p = latex_name(name)
                numbers = (
                    f"{_latex_num(_fmt(s.values[name], digits))} - {_latex_num(_fmt(self.lr, digits))} "
                    f"({_latex_num(_fmt(s.gradient[name], digits))})"
                )
                new = f"{{{p}}}" if "^" in p else p  # no double superscript: {w^{[1]}_{11}}^{new}
                out.append(
                    f"{new}^{{\\text{{new}}}} = {p} - \\alpha \\frac{{\\partial {loss_symbol}}}{{\\partial {p}}} "
                    f"= {numbers} = {_latex_num(_fmt(s.new_values[name], digits))}"
                )
        return out


# --------------------------------------------------------------------------- formatting


def _shown(steps: list[Step], limit: int | None) -> list[Step | None]:
    """All steps, or the first and last ones with None where the rest are left out."""
    if limit is None:
        return list(steps)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 2:
        raise ValueError(f"limit must be None or a whole number >= 2, got {limit!r}")
    if len(steps) <= limit:
        return list(steps)
    tail = limit // 3
    return list(steps[: limit - tail]) + [None] + list(steps[len(steps) - tail:])


def _fmt(x: float, digits: int) -> str:
    """``digits`` significant figures, without a trailing '.0'; 'inf' / 'nan' for non-finite numbers."""
    if not math.isfinite(x):
        return str(x)
    text = format(x, f".{digits}g")
    return "0" if text in ("-0", "0") else text


def _latex_num(text: str) -> str:
    """1e-05 -> 1 \\times 10^{-5}; inf -> \\infty."""
    if text in ("inf", "-inf", "nan"):
        return {"inf": r"\infty", "-inf": r"-\infty", "nan": r"\mathrm{NaN}"}[text]
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa} \\times 10^{{{int(exponent)}}}"
    return text


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _json_floats(d: Mapping[str, float]) -> dict[str, float | None]:
    return {k: _json_float(v) for k, v in d.items()}


# --------------------------------------------------------------------------- validation


def _number(value: Any, what: str, valid: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number ({valid}), got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{what} must be {valid}, got {value!r}")
    return number


def check_network(net: Any, what: str = "descend") -> Network:
    if not isinstance(net, Network):
        raise TypeError(f"{what} needs a symprop Network such as Network([1, 2, 1]), got {type(net).__name__}")
    return net


def train_names(net: Network, train: Any) -> tuple[str, ...]:
    """The names of the parameters to move: None = all; a name, a symbol, or an iterable of them."""
    if train is None:
        return net.param_names
    items = [train] if isinstance(train, str) or hasattr(train, "name") else train
    if not isinstance(items, Iterable):
        raise TypeError(f"train must be None, a parameter name or a list of names, got {train!r}")
    names: list[str] = []
    for item in items:
        name = getattr(item, "name", item)
        if not isinstance(name, str):
            raise TypeError(f"train lists parameters by name or symbol, got {item!r}")
        if name not in names:
            names.append(name)
    unknown = [n for n in names if n not in net.param_names]
    if unknown:
        raise ValueError(
            f"train names unknown parameter(s) {listing(unknown)} for {net!r}; valid: "
            f"{listing(net.param_names, limit=40)}.{suggest(unknown[0], net.param_names)}"
        )
    if not names:
        raise ValueError(f"train is empty; name at least one of {listing(net.param_names, limit=40)}, or None for all")
    return tuple(n for n in net.param_names if n in names)


def _check_options(lr: Any, tol: Any, max_steps: Any, blowup: Any) -> tuple[float, float | None, int, float]:
    lr = _number(lr, "lr (the learning rate)", "a finite number > 0")
    tol = None if tol is None else _number(tol, "tol (the step-size threshold)", "None or a finite number > 0")
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 0:
        raise ValueError(f"max_steps must be a whole number >= 0, got {max_steps!r}")
    blowup = _number(blowup, "blowup", "a finite number > 1")
    if blowup <= 1:
        raise ValueError(f"blowup must be a finite number > 1, got {blowup!r}")
    return lr, tol, int(max_steps), blowup


# --------------------------------------------------------------------------- the run


def descend(
    net: Network,
    X: Any,
    Y: Any,
    values: Any,
    train: Any = None,
    lr: float = 0.1,
    tol: float | None = None,
    max_steps: int = 1000,
    *,
    blowup: float = BLOWUP,
) -> Trace:
    """Gradient descent ``p <- p - lr * dL/dp`` on the ``train`` parameters; the others stay as given.

    Gradients come from the compiled exact gradient (``net.compile()``). The run stops

    * ``"tol"`` when every trained parameter's step size ``|lr * dL/dp|`` is below ``tol``
      (that last, tiny update is still applied, as in seed 002);
    * ``"max_steps"`` after ``max_steps`` updates;
    * ``"diverged"`` when the loss (or a slope) is not finite, or the loss explodes: exceeds
      ``blowup * max(initial loss, 1)`` (1e6 by default). The exploding state is ``trace.final``.
    """
    names = train_names(check_network(net), train)
    lr, tol, max_steps, blowup = _check_options(lr, tol, max_steps, blowup)
    weights, biases = parse_values(net, values)
    X, Y = as_data(net, X, Y)
    compiled = net.compile()
    initial = arrays_to_dict(net, weights, biases)
    slots = {n: net.slots(n) for n in names}  # the entries each parameter fills (several when tied)
    steps: list[Step] = []
    stopped, reason, limit = "max_steps", "", math.inf
    converging = False
    with np.errstate(all="ignore"):  # overflow is detected and reported below, never printed
        for index in range(max_steps + 1):
            loss = float(compiled.loss_arrays(weights, biases, X, Y, check=False))
            if index == 0:
                limit = blowup * max(loss, 1.0) if math.isfinite(loss) else math.inf
            problem = _divergence(loss, limit, blowup)
            if problem:
                stopped, reason = "diverged", f"diverged at step {index}: {problem}; lr = {lr:g} is probably too large."
                break
            if converging:
                stopped, reason = "tol", _converged_reason(steps[-1], tol)
                break
            if index == max_steps:
                reason = _max_steps_reason(steps, max_steps, tol)
                break
            dW, db = compiled.gradient_arrays(weights, biases, X, Y, check=False)
            slopes = {n: math.fsum(float((dW if p.kind == "w" else db)[p.layer - 1][p.index]) for p in entries)
                      for n, entries in slots.items()}
            bad = [n for n, g in slopes.items() if not math.isfinite(g)]
            if bad:
                stopped = "diverged"
                reason = f"diverged at step {index}: the slope of {listing(bad)} is not finite; lr = {lr:g} is probably too large."
                break
            before = arrays_to_dict(net, weights, biases)
            sizes = {n: lr * g for n, g in slopes.items()}
            steps.append(Step(index, before, loss, slopes, sizes))
            for n, entries in slots.items():
                for p in entries:
                    (weights if p.kind == "w" else biases)[p.layer - 1][p.index] -= sizes[n]
            converging = tol is not None and max(abs(s) for s in sizes.values()) < tol
    return Trace(net, names, lr, tol, max_steps, blowup, initial, steps,
                 arrays_to_dict(net, weights, biases), loss, stopped, reason)


def _divergence(loss: float, limit: float, blowup: float) -> str:
    """'' when the loss is fine, else what went wrong."""
    if not math.isfinite(loss):
        return f"the loss became {loss} (not finite)"
    if loss > limit:
        return f"the loss {loss:.4g} exploded past {blowup:g} x max(initial loss, 1) = {limit:.4g}"
    return ""


def _converged_reason(last: Step, tol: float | None) -> str:
    name, size = max(last.step_size.items(), key=lambda item: abs(item[1]))
    return (
        f"converged after {last.index + 1} update(s): every step size |lr * slope| fell below tol = {tol:g} "
        f"(largest {abs(size):.3g}, for {name})."
    )


def _max_steps_reason(steps: list[Step], max_steps: int, tol: float | None) -> str:
    if not steps:
        return "max_steps = 0: no update was made."
    name, size = max(steps[-1].step_size.items(), key=lambda item: abs(item[1]))
    if tol is None:
        return f"made max_steps = {max_steps} update(s) (no tol given); the last step size was {abs(size):.3g} for {name}."
    return (
        f"made max_steps = {max_steps} update(s) without converging: the last step size {abs(size):.3g} "
        f"(for {name}) is still not below tol = {tol:g}."
    )
