"""Gradient descent on a symprop.nn model: ``symprop.descend(model, values, X, Y, loss=..., ...)``.

``descent.descend`` dispatches here for a symprop.nn module.  The trace's parameters are the entries, named
as the reports name them ("0.weight[1,2]"); ``train`` takes state-dict names ("0.weight": every entry of the
tensor), entry names, or None (all).  Gradients come from symprop.nn's float64 reverse pass (one pass per
step); the stopping rules (tol, max_steps, diverged, nonfinite, budget) are ``descend``'s.  ``trace.final``
is a flat {entry: value} dict; ``final_state_dict(trace, model, in_shape)`` gives it back as a state dict.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import nn
from .descent import (
    BLOWUP,
    HISTORY,
    PATIENCE,
    RISE,
    Step,
    Trace,
    Values,
    _check_options,
    _converged_reason,
    _divergence,
    _History,
    _max_steps_reason,
    budget_steps,
)
from .errors import listing, suggest
from .nn.engine import state_arrays
from .nn_verify import entry_names

__all__ = ["ModelTrace", "descend_model", "final_state_dict"]


@dataclass(frozen=True, repr=False)
class ModelTrace(Trace):
    """A Trace of a symprop.nn model (``network`` is the model); parameters are entries "0.weight[1,2]"."""

    loss_fn: Any = None

    def path(self, name: str) -> list[float]:
        if name not in self.final:
            raise ValueError(
                f"unknown parameter entry {name!r}; valid: {listing(self.final)}." + suggest(name, self.final)
            )
        return [s.values[name] for s in self.steps] + [self.final[name]]

    def to_dict(self) -> dict[str, Any]:
        shim = _Names(repr(self.network), tuple(self.final))
        out = Trace.to_dict(dataclasses.replace(self, network=shim))
        out["loss_fn"] = repr(self.loss_fn)
        return out


@dataclass(frozen=True)
class _Names:
    """What Trace.to_dict reads of its network: repr and the parameter names."""

    text: str
    param_names: tuple[str, ...]

    def __repr__(self) -> str:
        return self.text


def _train_entries(shapes: Mapping[str, tuple], train: Any) -> tuple[str, ...]:
    entries = {name: entry_names(name, tuple(s)) for name, s in shapes.items()}
    every = [e for es in entries.values() for e in es]
    if train is None:
        return tuple(every)
    items = [train] if isinstance(train, str) else train
    if not isinstance(items, Iterable):
        raise TypeError(f"train must be None, a state-dict name such as '0.weight' or a list of names, got {train!r}")
    chosen: dict[str, None] = {}
    known = set(every)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(
                f"train lists parameters by state-dict name ('0.weight') or entry ('0.weight[1,2]'), got {item!r}"
            )
        if item in entries:
            chosen.update(dict.fromkeys(entries[item]))
        elif item in known:
            chosen[item] = None
        else:
            raise ValueError(
                f"train names unknown parameter {item!r}; valid: {listing(shapes)} (or one entry such as "
                f"{every[0]!r})." + suggest(item, list(shapes) + every)
            )
    if not chosen:
        raise ValueError(f"train is empty; name at least one of {listing(shapes)}, or None for all")
    return tuple(e for e in every if e in chosen)


def final_state_dict(trace: Trace, model: nn.Module, in_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The trace's final values as a state dict (parameters only)."""
    shapes, _ = nn.state_shapes(model, tuple(in_shape))
    return {
        name: np.array([trace.final[e] for e in entry_names(name, tuple(s))], dtype=np.float64).reshape(s)
        for name, s in shapes.items()
    }


def descend_model(
    model: nn.Module,
    values: Any,
    X: Any,
    Y: Any,
    train: Any = None,
    lr: float = 0.1,
    tol: float | None = None,
    max_steps: int = 1000,
    *,
    loss: Any = "mse",
    l2: Any = 0,
    blowup: float = BLOWUP,
    rise: float = RISE,
    history: int = HISTORY,
    time_limit: float | None = None,
    progress: bool = False,
) -> ModelTrace:
    """``p <- p - lr * dL/dp`` on the ``train`` entries of a symprop.nn model (see the module docstring)."""
    loss = nn.as_loss(loss)
    lr, tol, max_steps, blowup, rise, history = _check_options(lr, tol, max_steps, blowup, rise, history)
    X = np.asarray(X.detach().cpu().numpy() if hasattr(X, "detach") else X, dtype=np.float64)
    Y = np.asarray(Y.detach().cpu().numpy() if hasattr(Y, "detach") else Y)
    Y = Y if Y.dtype.kind in "iu" else Y.astype(np.float64)
    in_shape = X.shape[1:]
    shapes, _ = nn.state_shapes(model, in_shape)
    params, _ = state_arrays(model, values, in_shape, nn.FLOAT)  # validates the state dict
    names = _train_entries(shapes, train)
    sizes = [int(np.prod(s)) for s in shapes.values()]
    theta = np.concatenate([np.asarray(params[k], dtype=np.float64).ravel() for k in shapes]) if sizes else np.zeros(0)
    index = {e: i for i, e in enumerate(e for k, s in shapes.items() for e in entry_names(k, tuple(s)))}
    slots = np.array([index[e] for e in names], dtype=np.intp)
    train_index = {n: i for i, n in enumerate(names)}
    state_buffers = {k: v for k, v in (values or {}).items() if k not in shapes}

    def state() -> dict[str, np.ndarray]:
        out, at = {}, 0
        for (k, s), n in zip(shapes.items(), sizes):
            out[k] = theta[at : at + n].reshape(s)
            at += n
        return out | state_buffers

    initial = {e: float(theta[i]) for e, i in index.items()}
    kept = _History(max(2, min(history, budget_steps(8 * theta.size + 24 * len(names) + 200))))
    stopped, reason, limit, start = "max_steps", "", math.inf, 0.0
    converging, above = False, 0
    deadline = None if time_limit is None else time.monotonic() + float(time_limit)
    value = math.nan
    with np.errstate(all="ignore"):
        for step in range(max_steps + 1):
            value, grads = nn.value_and_gradient(model, state(), X, Y, loss=loss, l2=l2)
            value = float(value)
            if step == 0:
                if not math.isfinite(value):
                    stopped, reason = (
                        "nonfinite",
                        (
                            f"the loss at the starting values is {value} (not finite), so no "
                            "update was made; start from smaller values."
                        ),
                    )
                    break
                start, limit = value, blowup * max(value, 1.0)
            problem = _divergence(value, limit, blowup)
            above = above + 1 if value > rise * max(start, 1.0) else 0
            if not problem and above >= PATIENCE:
                problem = f"the loss stayed above {rise:g} x max(initial loss, 1) for {PATIENCE} updates in a row"
            if problem:
                stopped, reason = "diverged", f"diverged at step {step}: {problem}; lr = {lr:g} is probably too large."
                break
            if converging:
                stopped, reason = "tol", _converged_reason(kept.last, tol)
                break
            if step == max_steps:
                reason = _max_steps_reason(kept.last, max_steps, tol)
                break
            if deadline is not None and step % 16 == 0 and time.monotonic() > deadline:
                stopped, reason = (
                    "budget",
                    (
                        f"stopped after {step} update(s): the time budget of {time_limit:g} s ran "
                        "out; allow more with --budget SECONDS."
                    ),
                )
                break
            flat = np.concatenate([np.asarray(grads[k], dtype=np.float64).ravel() for k in shapes])[slots]
            bad = ~np.isfinite(flat)
            if bad.any():
                stopped = "diverged"
                reason = (
                    f"diverged at step {step}: the slope of {listing([names[i] for i in np.flatnonzero(bad)])} "
                    f"is not finite; lr = {lr:g} is probably too large."
                )
                break
            step_sizes = lr * flat
            kept.add(
                Step(
                    step, Values(index, theta.copy()), value, Values(train_index, flat), Values(train_index, step_sizes)
                )
            )
            theta[slots] -= step_sizes
            converging = tol is not None and float(np.max(np.abs(step_sizes))) < tol
    final = {e: float(theta[i]) for e, i in index.items()}
    return ModelTrace(
        model,
        names,
        lr,
        tol,
        max_steps,
        blowup,
        initial,
        kept.steps(),
        final,
        value,
        stopped,
        reason,
        kept.count,
        loss_fn=loss,
    )
