"""Gradient descent on a network's exact compiled gradient, recorded step by step as a trace."""

from __future__ import annotations

import decimal
import math
import numbers
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import listing, suggest
from .graph import latex_name
from .spec import Network, arrays_to_dict, as_data, parse_values

#: why a run stopped: converged, out of steps, diverged, the starting loss was not finite, out of time
STOP_REASONS = ("tol", "max_steps", "diverged", "nonfinite", "budget")

#: a loss is "exploding" when it exceeds BLOWUP * max(initial loss, 1)
BLOWUP = 1e6
#: ... or when it stays above RISE * max(initial loss, 1) for PATIENCE updates in a row (a saturated
#: likelihood loss such as bce grows only linearly in the weights, so it may never reach BLOWUP)
RISE = 1e3
PATIENCE = 10
#: at most this many steps are kept in a trace; beyond it the history is thinned (see Trace.n_steps)
HISTORY = 10_000
#: and at most about this many bytes of parameter values (a wide network keeps fewer steps)
HISTORY_BYTES = 2**27


class Values(Mapping):
    """A read-only mapping name -> float over one float64 vector (a step's values without a dict per step)."""

    __slots__ = ("_index", "_data")

    def __init__(self, index: Mapping[str, int], data: np.ndarray) -> None:
        self._index = index
        self._data = data

    def __getitem__(self, name: str) -> float:
        return float(self._data[self._index[name]])

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return repr(dict(self))


# --------------------------------------------------------------------------- the trace


@dataclass(frozen=True)
class Step:
    """One update: the values before it, the loss there, the slopes and the step sizes lr * slope."""

    index: int
    values: Mapping[str, float]
    loss: float
    gradient: Mapping[str, float]
    step_size: Mapping[str, float]

    @property
    def number(self) -> int:
        """The update's number counted from 1, as tables and derivations show it (``index`` counts from 0)."""
        return self.index + 1

    @property
    def new_values(self) -> dict[str, float]:
        """The trained parameters after this update: old value - step size."""
        return {name: self.values[name] - size for name, size in self.step_size.items()}


@dataclass(frozen=True)
class Trace:
    """A gradient-descent run: its steps, the final values and why it stopped.

    ``steps`` holds every update of a run of up to ``HISTORY`` updates; a longer run keeps the first
    half of that many and a thinned record of the rest (every 2nd, 4th, ... update, and always the
    last one), so memory stays bounded whatever ``max_steps`` is. ``n_steps`` is the number of
    updates made; ``thinned`` says whether some were left out of ``steps``.
    """

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
    n_steps: int = field(default=-1)

    def __post_init__(self) -> None:
        if self.n_steps < 0:
            object.__setattr__(self, "n_steps", len(self.steps))

    @property
    def thinned(self) -> bool:
        """True when the run made more updates than ``steps`` keeps."""
        return self.n_steps > len(self.steps)

    @property
    def converged(self) -> bool:
        """True when the run stopped because every step size fell below ``tol``."""
        return self.stopped == "tol"

    @property
    def losses(self) -> list[float]:
        """The loss before every kept update, then the loss at the final values."""
        return [s.loss for s in self.steps] + [self.final_loss]

    def path(self, name: str) -> list[float]:
        """The values one parameter took: before every update, then its final value."""
        self.network.check_name(name)
        return [s.values[name] for s in self.steps] + [self.final[name]]

    def __repr__(self) -> str:
        return (
            f"<Trace {self.stopped} after {self.n_steps} step(s), lr={self.lr}, train={listing(self.train)}, "
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
            "n_steps": self.n_steps,
            "steps_kept": len(self.steps),
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
    def rows(
        self, digits: int = 4, limit: int | None = None, params: int | None = None
    ) -> list[tuple[str, str, str, str, str, str]]:
        """Table rows (step, parameter, loss, slope, step size, new value) as formatted text.

        ``limit`` keeps the first and last steps of a long run (``limit`` steps in all) and puts one
        row saying how many were left out in between; ``params`` shows at most that many trained
        parameters per step (the first ones) and one row saying how many more there are.
        """
        out = []
        shown = self.train if params is None or len(self.train) <= params else self.train[:params]
        for s in _shown(self.steps, limit):
            if s is None:
                left_out = len(self.steps) - limit
                out.append(("…", f"({left_out} steps left out)", "", "", "", ""))
                continue
            new = {name: s.values[name] - s.step_size[name] for name in shown}
            for i, name in enumerate(shown):
                loss = _fmt(s.loss, digits) if i == 0 else ""
                out.append(
                    (
                        str(s.number),
                        name,
                        loss,
                        _fmt(s.gradient[name], digits),
                        _fmt(s.step_size[name], digits),
                        _fmt(new[name], digits),
                    )
                )
            if len(shown) < len(self.train):
                out.append(("…", f"({len(self.train) - len(shown)} more parameters)", "", "", "", ""))
        return out

    def to_markdown(
        self, digits: int = 4, summary: bool = True, limit: int | None = None, params: int | None = None
    ) -> str:
        """A Markdown table, one row per (step, trained parameter), then the stopping reason."""
        head = "| step | parameter | loss | slope ∂L/∂p | step size α·slope | new value |"
        lines = [head, "|---:|:---|---:|---:|---:|---:|"]
        for r in self.rows(digits, limit, params):
            name = r[1] if r[0] == "…" else f"`{r[1]}`"
            lines.append("| " + " | ".join((r[0], name) + r[2:]) + " |")
        if summary:
            if self.thinned:
                lines += [
                    "",
                    f"The run made {self.n_steps} updates; the table shows the {len(self.steps)} kept "
                    "(the first ones, then a thinned record and the last).",
                ]
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
            new_values = s.new_values
            for name in self.train:
                p = latex_name(name)
                numbers = (
                    f"{_latex_num(_fmt(s.values[name], digits))} - {_latex_num(_fmt(self.lr, digits))} "
                    f"({_latex_num(_fmt(s.gradient[name], digits))})"
                )
                new = f"{{{p}}}" if "^" in p else p  # no double superscript: {w^{[1]}_{11}}^{new}
                out.append(
                    f"{new}^{{\\text{{new}}}} = {p} - \\alpha \\frac{{\\partial {loss_symbol}}}{{\\partial {p}}} "
                    f"= {numbers} = {_latex_num(_fmt(new_values[name], digits))}"
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
    return list(steps[: limit - tail]) + [None] + list(steps[len(steps) - tail :])


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
    # any real number: int, float, NumPy scalars, Fraction, Decimal, SymPy numbers (descent itself runs in float64)
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, decimal.Decimal)):
        raise TypeError(f"{what} must be a number ({valid}), got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):  # a SymPy expression that is not a number
        raise TypeError(f"{what} must be a number ({valid}), got {value!r}") from None
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
    names: dict[str, None] = {}  # ordered and O(1) membership: a network may have millions of parameters
    for item in items:
        name = getattr(item, "name", item)
        if not isinstance(name, str):
            raise TypeError(f"train lists parameters by name or symbol, got {item!r}")
        names[name] = None
    known = net._slots  # the parameter names (a tied group by its own name), O(1) membership
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"train names unknown parameter(s) {listing(unknown)} for {net!r}; valid: "
            f"{listing(net.param_names, limit=40)}.{suggest(unknown[0], net.param_names)}"
        )
    if not names:
        raise ValueError(f"train is empty; name at least one of {listing(net.param_names, limit=40)}, or None for all")
    return tuple(n for n in net.param_names if n in names)


def _whole(value: Any, what: str) -> int:
    """A whole number >= 0; 1e9 (a float with no fraction, as TOML and JSON write big numbers) is accepted."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a whole number >= 0, got {value!r}")
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        value = int(value)
    if not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{what} must be a whole number >= 0, got {value!r}")
    return int(value)


def _check_options(
    lr: Any, tol: Any, max_steps: Any, blowup: Any, rise: Any = RISE, history: Any = HISTORY
) -> tuple[float, float | None, int, float, float, int]:
    lr = _number(lr, "lr (the learning rate)", "a finite number > 0")
    tol = None if tol is None else _number(tol, "tol (the step-size threshold)", "None or a finite number > 0")
    max_steps = _whole(max_steps, "max_steps")
    blowup = _number(blowup, "blowup", "a finite number > 1")
    if blowup <= 1:
        raise ValueError(f"blowup must be a finite number > 1, got {blowup!r}")
    rise = _number(rise, "rise", "a finite number > 1")
    if rise <= 1:
        raise ValueError(f"rise must be a finite number > 1, got {rise!r}")
    history = _whole(history, "history")
    if history < 2:
        raise ValueError(f"history must be a whole number >= 2 (steps kept in the trace), got {history!r}")
    return lr, tol, max_steps, blowup, rise, history


def _check_order(net: Network, values: Any, X: Any, Y: Any, what: str = "descend") -> None:
    """descend (and the plots) used to take (net, X, Y, values): say so when a caller still passes that order."""

    def values_like(obj: Any) -> bool:
        return isinstance(obj, Mapping) or (
            isinstance(obj, (tuple, list))
            and len(obj) == 2
            and all(
                isinstance(part, (list, tuple)) and len(part) == net.depth and all(np.ndim(a) >= 1 for a in part)
                for part in obj
            )
        )

    if not isinstance(values, Mapping) and (values_like(Y) or isinstance(X, Mapping)):
        raise TypeError(
            f"{what} takes (net, values, X, Y), like verify; the argument order changed and this call looks like "
            f"the old order (net, X, Y, values): write {what}(net, values, X, Y, ...)"
        )


# --------------------------------------------------------------------------- the run


class _History:
    """The steps a trace keeps: the first ``head``, then every ``stride``-th (stride doubling when full)."""

    def __init__(self, limit: int) -> None:
        self.head_size = limit // 2
        self.tail_size = max(limit - self.head_size - 1, 1)
        self.head: list[Step] = []
        self.tail: list[Step] = []
        self.stride = 1
        self.last: Step | None = None
        self.count = 0

    def add(self, step: Step) -> None:
        self.count += 1
        self.last = step
        if len(self.head) < self.head_size:
            self.head.append(step)
            return
        offset = step.index - self.head_size
        if offset % self.stride == 0:
            self.tail.append(step)
            if len(self.tail) > self.tail_size:
                self.stride *= 2
                self.tail = [s for s in self.tail if (s.index - self.head_size) % self.stride == 0]

    def steps(self) -> list[Step]:
        kept = self.head + self.tail
        if self.last is not None and (not kept or kept[-1] is not self.last):
            kept.append(self.last)
        return kept


def descend(
    net: Network,
    values: Any,
    X: Any,
    Y: Any,
    train: Any = None,
    lr: float = 0.1,
    tol: float | None = None,
    max_steps: int = 1000,
    *,
    blowup: float = BLOWUP,
    rise: float = RISE,
    history: int = HISTORY,
    time_limit: float | None = None,
    progress: bool = False,
    loss: Any = None,
    l2: Any = None,
    exact: bool = False,
) -> Trace:
    """Gradient descent ``p <- p - lr * dL/dp`` on the ``train`` parameters; the others stay as given.

    ``values`` are the starting values (a dict name -> number, or (weights, biases)); X and Y the
    data, as for ``verify``. Gradients come from the compiled exact gradient (``net.compile()``).
    The run stops

    * ``"tol"`` when every trained parameter's step size ``|lr * dL/dp|`` is below ``tol``
      (that last, tiny update is still applied, as in seed 002);
    * ``"max_steps"`` after ``max_steps`` updates;
    * ``"diverged"`` when the loss (or a slope) stops being finite, or the loss explodes: exceeds
      ``blowup * max(initial loss, 1)`` (1e6 by default), or stays above ``rise * max(initial loss, 1)``
      (1e3) for 10 updates in a row, which catches the likelihood losses (bce grows only linearly in
      saturated weights). The exploding state is ``trace.final``;
    * ``"nonfinite"`` when the loss at the starting values is already not finite (no update is made);
    * ``"budget"`` when ``time_limit`` seconds have passed (the CLI sets it from ``--budget``).

    ``exact=True`` takes every step's slopes from the certified exact gradient at the current float64
    values (``symprop.certified.reverse_pass``: each slope is the correctly rounded exact derivative)
    instead of the compiled float64 program; the work budget is checked for the whole run first.

    The trace keeps at most ``history`` steps (fewer for wide networks: about 128 MiB of values);
    a longer run is thinned (``trace.n_steps`` counts every update). Without ``tol`` the whole run
    of ``max_steps`` updates is certain, so its cost is checked against the work budget
    (``symprop.budget``) first. ``progress`` draws a progress bar on a terminal.

    A symprop.nn model (with ``loss=`` and ``l2=``; values a state dict) runs ``nn_descent.descend_model``.
    """
    from .nn.module import Module

    if isinstance(net, Module):
        from .nn_descent import descend_model

        if exact:
            from .errors import UnsupportedError

            raise UnsupportedError(
                "descend(exact=True) works for a Network; for a symprop.nn model use the "
                "float64 gradient (exact=False) and check it with symprop.verify"
            )
        return descend_model(
            net,
            values,
            X,
            Y,
            train,
            lr,
            tol,
            max_steps,
            loss="mse" if loss is None else loss,
            l2=l2 or 0,
            blowup=blowup,
            rise=rise,
            history=history,
            time_limit=time_limit,
            progress=progress,
        )
    if loss is not None or l2 is not None:
        raise TypeError("loss= and l2= are for symprop.nn models; a Network carries its own (Network(..., loss=, l2=))")
    check_network(net)
    _check_order(net, values, X, Y)
    names = train_names(net, train)
    lr, tol, max_steps, blowup, rise, history = _check_options(lr, tol, max_steps, blowup, rise, history)
    weights, biases = parse_values(net, values)
    X, Y = as_data(net, X, Y)
    from . import budget

    cost = budget.numeric(
        net, X.shape[0], passes=2 * max_steps, what=f"gradient descent of max_steps = {max_steps} updates without tol"
    )
    if exact:
        cost = budget.certified(
            net, X.shape[0], passes=max_steps, what=f"exact gradient descent of up to max_steps = {max_steps} updates"
        )
    if tol is None or exact:
        budget.check(
            cost,
            ["fewer steps (--max-steps / max_steps)", "a tol (the run then stops when it converges)"]
            + (["exact=False (the compiled float64 gradient)"] if exact else []),
        )
    compiled = net.compile()
    theta = np.concatenate([part for w, b in zip(weights, biases) for part in (w.ravel(), b)])
    weights, biases = _views(net, theta)
    initial = arrays_to_dict(net, weights, biases)
    # theta holds every weight/bias entry (net.param_infos order); a tied parameter fills several
    entry = {p.name: i for i, p in enumerate(net.param_infos)}
    index = {n: entry[net.slots(n)[0].name] for n in net.param_names}  # where each parameter's value is read
    slot_of = [[entry[p.name] for p in net.slots(n)] for n in names]
    flat_slots = np.array([i for slots in slot_of for i in slots], dtype=np.intp)
    owner = np.repeat(np.arange(len(names)), [len(slots) for slots in slot_of])
    train_index = {n: i for i, n in enumerate(names)}
    per_step = 8 * theta.size + 24 * len(names) + 200
    kept = _History(max(2, min(history, budget_steps(per_step))))
    stopped, reason, limit = "max_steps", "", math.inf
    converging, above = False, 0
    deadline = None if time_limit is None else time.monotonic() + float(time_limit)
    bar = _progress(max_steps, progress and budget.long(cost))
    with bar, np.errstate(all="ignore"):  # overflow is detected and reported below, never printed
        for step in range(max_steps + 1):
            loss = float(compiled.loss_arrays(weights, biases, X, Y, check=False))
            if step == 0:
                if not math.isfinite(loss):
                    stopped, reason = (
                        "nonfinite",
                        (
                            f"the loss at the starting values is {loss} (not finite), so no update was made: "
                            "the values or the data overflow the forward pass; start from smaller values."
                        ),
                    )
                    break
                start = loss
                limit = blowup * max(loss, 1.0)
            problem = _divergence(loss, limit, blowup)
            above = above + 1 if loss > rise * max(start, 1.0) else 0
            if not problem and above >= PATIENCE:
                problem = (
                    f"the loss stayed above {rise:g} x max(initial loss, 1) = {rise * max(start, 1.0):.4g} for "
                    f"{PATIENCE} updates in a row (now {loss:.4g}, {loss / start if start else math.inf:.3g} "
                    "times the initial loss)"
                )
            if problem:
                stopped, reason = "diverged", f"diverged at step {step}: {problem}; lr = {lr:g} is probably too large."
                break
            if converging:
                stopped, reason = "tol", _converged_reason(kept.last, tol)
                break
            if step == max_steps:
                reason = _max_steps_reason(kept.last, max_steps, tol)
                break
            if deadline is not None and step % 64 == 0 and time.monotonic() > deadline:
                stopped, reason = (
                    "budget",
                    (
                        f"stopped after {step} update(s): the time budget of {time_limit:g} s ran out before tol or "
                        f"max_steps = {max_steps} was reached; allow more with --budget SECONDS."
                    ),
                )
                break
            if exact:
                grad = _exact_slopes(net, weights, biases, X, Y, names)
            else:
                dW, db = compiled.gradient_arrays(weights, biases, X, Y, check=False)
                entries = np.concatenate([part for w, b in zip(dW, db) for part in (np.ravel(w), np.ravel(b))])
                grad = np.bincount(owner, weights=entries[flat_slots], minlength=len(names))  # sum over each tie's uses
            bad = ~np.isfinite(grad)
            if bad.any():
                stopped = "diverged"
                reason = (
                    f"diverged at step {step}: the slope of {listing([names[i] for i in np.flatnonzero(bad)])} "
                    f"is not finite; lr = {lr:g} is probably too large."
                )
                break
            sizes = lr * grad
            kept.add(
                Step(step, Values(index, theta.copy()), loss, Values(train_index, grad), Values(train_index, sizes))
            )
            theta[flat_slots] -= sizes[owner]
            converging = tol is not None and float(np.max(np.abs(sizes))) < tol
            if step % 64 == 63:
                bar.update(64)
    return Trace(
        net,
        names,
        lr,
        tol,
        max_steps,
        blowup,
        initial,
        kept.steps(),
        arrays_to_dict(net, weights, biases),
        loss,
        stopped,
        reason,
        kept.count,
    )


def _exact_slopes(net: Network, weights, biases, X, Y, names: Sequence[str]) -> np.ndarray:
    """The certified exact gradient (a tied parameter's summed over its uses exactly), correctly rounded."""
    from .certified import reverse_pass

    try:
        result = reverse_pass(net, weights, biases, X, Y)
    except ArithmeticError:  # an overflowed value: the run reports the non-finite slope
        return np.full(len(names), np.nan)
    return np.array([result[n] for n in names], dtype=np.float64)


def budget_steps(per_step_bytes: int) -> int:
    """How many steps fit in HISTORY_BYTES."""
    return max(2, HISTORY_BYTES // max(per_step_bytes, 1))


def _views(net: Network, theta: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """weights and biases as views into one parameter vector (in the network's parameter order)."""
    weights, biases, at = [], [], 0
    for rows, cols in net.weight_shapes():
        weights.append(theta[at : at + rows * cols].reshape(rows, cols))
        at += rows * cols
        biases.append(theta[at : at + rows])
        at += rows
    return weights, biases


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, step: int = 1) -> None:
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from .display import Progress

    return Progress(total, "descend")


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


def _max_steps_reason(last: Step | None, max_steps: int, tol: float | None) -> str:
    if last is None:
        return "max_steps = 0: no update was made."
    name, size = max(last.step_size.items(), key=lambda item: abs(item[1]))
    if tol is None:
        return (
            f"made max_steps = {max_steps} update(s) (no tol given); the last step size was {abs(size):.3g} for {name}."
        )
    return (
        f"made max_steps = {max_steps} update(s) without converging: the last step size {abs(size):.3g} "
        f"(for {name}) is still not below tol = {tol:g}."
    )
