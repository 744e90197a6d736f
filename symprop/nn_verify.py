"""Gradient checks for symprop.nn models: ``verify(candidate, model, values, X, Y, loss=...)``.

``symprop.verify`` / ``assert_gradients_match`` dispatch here when the model is a ``symprop.nn`` module
(``verify_model`` below); a ``Network`` keeps its own path (the certified oracle, the MLP diagnoses).

* The oracle is symprop.nn's reverse pass in multi-precision arithmetic (``MP(EXACT_DPS)``, every float at its
  exact binary value) up to parameters x samples = ``EXACT_BUDGET`` (10^5); above it the FLOAT
  (float64) reverse pass, with a note in the report (``oracle="exact"`` forces MP, ``"compiled"`` FLOAT).
* The candidate: a dict {state-dict name: array} ("0.weight": (out, in) as torch), a list/tuple of arrays in
  parameter order (as ``model.parameters()``), torch tensors accepted, or a callable
  ``fn(values, X, Y) -> either of those`` called with float arrays of ``dtype``.
* One row per entry, named as ``verify_torch`` names them ("0.weight[1,2]", "1.block.0.bias[0]").
* Tolerance per entry: ``atol + rtol |expected| + cond * eps * magnitude`` (``verification.TOLERANCES``), where
  ``magnitude`` bounds the size of the terms a float implementation sums for that entry: ``|expected|`` plus
  the largest entry of its tensor plus ``sum_n max|delta_n| * max(1, max|a|) * depth`` (delta: every layer's
  incoming gradient for sample n, a: every layer's input, measured by a float64 pass), plus ``2 l2 |p|`` for
  the penalised weights.  This is a deliberately loose first-order bound (no per-layer absolute-value rules):
  far below any 1e-6 mistake for the models symprop.nn takes, and never below the rounding of a float sum
  that cancels to 0 (the Linear bias before a training-mode BatchNorm1d has the exact gradient 0).
* The report (``ModelGradientReport``, a ``GradientReport``) summarises per layer (leaf module) and blames
  the layer(s) whose gradient is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import nn
from .errors import listing, suggest
from .nn.engine import check_model, data_array, state_arrays
from .nn.module import Module, Residual, Sequential
from .verification import (
    EXACT_DPS,
    ORACLES,
    TOLERANCES,
    GradientReport,
    Row,
    _nonneg,
    _row,
    dtype_name,
)

__all__ = ["ModelGradientReport", "candidate_state_dict", "entry_names", "is_model", "verify_model"]

#: the MP oracle is used up to parameters x samples = EXACT_BUDGET (measured: 1,860 parameters x 64 samples, a
#: LayerNorm/BatchNorm/GELU model, takes ~20 s in MP(50) on a shared 2-core machine, 0.4 s in float64)
EXACT_BUDGET = 10**5
MP_ORACLE = f"symprop.nn reverse pass in MP({EXACT_DPS}) (exact binary inputs)"
FLOAT_ORACLE = "symprop.nn reverse pass in float64"


def is_model(obj: Any) -> bool:
    """True for a symprop.nn module (the models ``verify_model`` checks)."""
    return isinstance(obj, Module)


def _np(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def one_line(model: Module) -> str:
    """The model's torch-style repr on one line."""
    return " ".join(repr(model).split()).replace("( ", "(").replace(" )", ")")


def entry_names(name: str, shape: tuple) -> list[str]:
    """Row names of one tensor's entries: "0.weight[1,2]" (a 0-d tensor: its name)."""
    if not shape:
        return [name]
    return [f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape)]


def _module_of(name: str) -> str:
    return name.rpartition(".")[0]


# --------------------------------------------------------------------------- report


@dataclass
class ModelGradientReport(GradientReport):
    """A GradientReport for a symprop.nn model: rows per entry, summary per layer (leaf module)."""

    loss: Any = None
    #: state-dict name -> shape, in parameter order
    shapes: dict = field(default_factory=dict)
    #: module prefix ("0", "1.block.0") -> its kind ("Linear", "LayerNorm")
    kinds: dict = field(default_factory=dict)

    def header(self) -> str:
        what = f" ({self.label})" if self.label else ""
        return (
            f"gradient check{what} of {one_line(self.network)} with {self.loss!r}: rtol={self.rtol:g}, atol={self.atol:g}, "
            f"plus {self.cond:g}*eps*magnitude per entry; dtype {self.dtype}; oracle {self.oracle}"
        )

    def _tensor_of(self, row: Row) -> str:
        return row.name.partition("[")[0]

    def layer_counts(self) -> dict[str, dict[str, tuple[int, int]]]:
        """module prefix -> {parameter: (wrong, total)}, in parameter order."""
        out: dict[str, dict[str, list[int]]] = {}
        for row in self.rows:
            tensor = self._tensor_of(row)
            module, _, leaf = tensor.rpartition(".")
            cell = out.setdefault(module, {}).setdefault(leaf, [0, 0])
            cell[0] += 0 if row.passed else 1
            cell[1] += 1
        return {m: {p: (c[0], c[1]) for p, c in d.items()} for m, d in out.items()}

    def blamed(self) -> list[str]:
        """The module prefixes with at least one wrong entry."""
        return [m for m, d in self.layer_counts().items() if any(w for w, _ in d.values())]

    def _called(self, module: str) -> str:
        kind = self.kinds.get(module, "")
        name = f"module {module!r}" if module else "the module"
        return f"{name} ({kind})" if kind else name

    def layer_summary(self) -> str:
        parts = []
        for module, counts in self.layer_counts().items():
            bad = sum(w for w, _ in counts.values())
            total = sum(t for _, t in counts.values())
            inner = ", ".join(f"{p} {w}/{t}" for p, (w, t) in counts.items())
            parts.append(f"{self._called(module)}: {bad} / {total} wrong ({inner})")
        return "per layer: " + "; ".join(parts)

    def diagnosis_lines(self) -> list[str]:
        blamed = self.blamed()
        if not blamed or self.crash is not None:
            return []
        others = [m for m in self.layer_counts() if m not in blamed]
        line = "wrong gradient in " + listing(self._called(m) for m in blamed)
        if others:
            line += "; every other layer matches"
        return [f"likely mistake: {line}"]

    def failure_message(self, limit: int = 10) -> str:
        lines = [
            (
                "Gradients not equal to the exact gradient to tolerance "
                f"rtol={self.rtol:g}, atol={self.atol:g} (+ {self.cond:g}*eps*magnitude per entry, "
                f"dtype {self.dtype}, oracle {self.oracle})"
            ),
            f"model: {one_line(self.network)}; loss {self.loss!r}" + (f"; {self.label}" if self.label else ""),
        ]
        lines += [f"note: {n}" for n in self.notes] + [f"problem: {p}" for p in self.problems]
        bad = self.failures
        lines.append(f"{len(bad)} / {len(self.rows)} parameters mismatched")
        lines += self.diagnosis_lines()
        lines.append(self.layer_summary())
        finite = [r for r in bad if r.status == "mismatch"]
        if finite:
            lines.append(f"Max absolute difference: {max(r.abs_err for r in finite):.6g}")
            lines.append(f"Max relative difference: {max(r.rel_err for r in finite):.6g}")
        for r in bad[:limit]:
            lines.append(
                f" {r.name}: expected {r.expected:.10g}, actual {r.actual:.10g}, tol {r.tol:.2e}"
                + ("" if r.status == "mismatch" else f" ({r.status})")
            )
        if len(bad) > limit:
            lines.append(f" ... and {len(bad) - limit} more mismatched parameter(s)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<ModelGradientReport {self.summary()} for {one_line(self.network)}>"

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["loss"] = repr(self.loss)
        out["blamed"] = self.blamed()
        return out


# --------------------------------------------------------------------------- the candidate


def candidate_state_dict(
    candidate: Any, shapes: Mapping[str, tuple], problems: list[str], dtypes: set[str] | None = None
) -> dict[str, np.ndarray]:
    """{state-dict name: float64 array} from a dict or a list in parameter order; shape and name mistakes
    become problems (one line each) and the entry is left out (its rows are 'missing')."""
    names = list(shapes)
    if isinstance(candidate, Mapping):
        items = list(candidate.items())
        unknown = [str(k) for k, _ in items if k not in shapes]
        for k in unknown:
            problems.append(f"unknown parameter {k!r}; valid: {listing(names)}." + suggest(k, names))
        items = [(k, v) for k, v in items if k in shapes]
    elif isinstance(candidate, (list, tuple)):
        if len(candidate) != len(names):
            problems.append(
                f"got {len(candidate)} gradient arrays, expected {len(names)} (one per parameter, in order: "
                f"{listing(names)})"
            )
        items = list(zip(names, candidate))
    else:
        raise TypeError(
            "the candidate must be a dict {state-dict name: array}, a list of arrays in parameter order, "
            f"or a callable returning one; got {type(candidate).__name__}"
        )
    out = {}
    for name, value in items:
        if value is None:
            continue
        arr = _np(value)
        if arr.dtype.kind not in "fiu":
            problems.append(f"gradient of {name!r} has dtype {arr.dtype}; expected floats")
            continue
        if arr.shape != tuple(shapes[name]):
            if arr.size == int(np.prod(shapes[name])) and arr.ndim <= 1 or arr.shape == tuple(shapes[name])[::-1]:
                hint = " (transposed?)" if arr.shape == tuple(shapes[name])[::-1] and arr.ndim == 2 else ""
            else:
                hint = ""
            problems.append(f"gradient of {name!r} has shape {arr.shape}, expected {tuple(shapes[name])}{hint}")
            continue
        if dtypes is not None and arr.dtype.kind == "f":
            dtypes.add(arr.dtype.name)
        out[name] = arr.astype(np.float64)
    return out


def _least_precise(dtypes: set[str]) -> str | None:
    for name in ("float16", "float32", "float64"):
        if name in dtypes:
            return name
    return None


# --------------------------------------------------------------------------- magnitudes


@dataclass(frozen=True, repr=False, eq=False)
class _Probe(Module):
    """A leaf that records its input and its incoming gradient (for the magnitude bound)."""

    leaf: Module = None  # type: ignore[assignment]
    log: list = None  # type: ignore[assignment]

    def param_shapes(self, in_shape):
        return self.leaf.param_shapes(in_shape)

    def buffer_shapes(self, in_shape):
        return self.leaf.buffer_shapes(in_shape)

    def out_shape(self, in_shape):
        return self.leaf.out_shape(in_shape)

    def forward(self, ar, x, params, buffers):
        y, back = self.leaf.forward(ar, x, params, buffers)
        self.log.append(("a", x))

        def backprop(dy, need_dx=True):
            self.log.append(("delta", dy))
            return back(dy, need_dx=need_dx)

        return y, backprop


def _probed(model: Module, log: list) -> Module:
    if isinstance(model, Sequential):
        return Sequential(*[_probed(m, log) for m in model], training=model.training)
    if isinstance(model, Residual):
        return Residual(_probed(model.block, log), training=model.training)
    if any(True for _ in model.named_children()):
        raise TypeError(
            f"{type(model).__name__}: an unknown container; symprop.nn containers are Sequential and Residual"
        )
    return _Probe(leaf=model, log=log, training=model.training)


def _magnitudes(
    model: Module, values: Any, X: np.ndarray, Y: Any, loss: Any, l2: Any, expected: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    log: list = []
    probed = _probed(model, log)
    ar = nn.FLOAT
    x = data_array(ar, X)
    params, buffers = state_arrays(model, values, x.shape[1:], ar)
    out, back = probed.forward(ar, x, params, buffers)
    _, loss_back = nn.as_loss(loss).forward(ar, out, Y)
    back(loss_back())
    n = x.shape[0]
    deltas = [np.abs(v).reshape(n, -1).max(axis=1) for k, v in log if k == "delta" and np.size(v)]
    inputs = [float(np.max(np.abs(v))) for k, v in log if k == "a" and np.size(v)]
    depth = max(1, len(deltas))
    per_sample = np.max(deltas, axis=0) if deltas else np.ones(n)
    scale = float(per_sample.sum()) * max([1.0, *inputs]) * depth
    penal = set(nn.l2_names(model, x.shape[1:])) if l2 else set()
    mags = {}
    for name, g in expected.items():
        g = np.abs(np.asarray(g, dtype=np.float64))
        m = g + (float(g.max()) if g.size else 0.0) + scale
        if name in penal:
            m = m + 2 * abs(float(l2)) * np.abs(np.asarray(params[name], dtype=np.float64))
        mags[name] = m
    return mags


# --------------------------------------------------------------------------- the check


def _expected(model, values, X, Y, loss, l2, oracle, n_params):
    if oracle not in ORACLES:
        raise ValueError(f"oracle must be one of {', '.join(ORACLES)}, got {oracle!r}" + suggest(str(oracle), ORACLES))
    work = n_params * X.shape[0]
    use_mp = oracle == "exact" or (oracle == "auto" and work <= EXACT_BUDGET)
    notes = []
    if use_mp:
        grads = nn.gradient(model, values, X, Y, loss=loss, arith=nn.MP(EXACT_DPS), l2=l2)
        used = MP_ORACLE
    else:
        grads = nn.gradient(model, values, X, Y, loss=loss, arith=nn.FLOAT, l2=l2)
        used = FLOAT_ORACLE
        if oracle == "auto":
            notes.append(
                f"parameters x samples = {work:,} is above the multi-precision oracle's budget of "
                f"{EXACT_BUDGET:,}: the expected values come from symprop.nn's float64 reverse pass "
                "(oracle='exact' forces MP)"
            )
    return (
        {
            k: np.vectorize(float, otypes=[np.float64])(v) if np.size(v) else np.asarray(v, dtype=np.float64)
            for k, v in grads.items()
        },
        used,
        notes,
    )


def _float_values(values: Mapping) -> dict[str, np.ndarray]:
    return {k: np.asarray(_np(v), dtype=np.float64) for k, v in values.items()}


def verify_model(
    candidate: Any,
    model: Module,
    values: Any,
    X: Any,
    Y: Any,
    rtol: float | None = None,
    atol: float | None = None,
    dtype: Any = None,
    *,
    loss: Any = "mse",
    l2: Any = 0,
    oracle: str = "auto",
    label: str = "",
    layout: Any = None,
    module_names: Mapping[str, str] | None = None,
) -> ModelGradientReport:
    """Compare a candidate gradient of a symprop.nn model with symprop.nn's exact (MP) gradient.

    ``values``: the state dict; ``loss``: a symprop.nn loss (``CrossEntropyLoss()``) or its name ("mse");
    ``module_names`` (optional): module prefix -> what the report calls its kind (verify_torch passes torch's
    class names).  See the module docstring for candidates, oracle and tolerance.
    """
    check_model(model)
    if layout is not None:
        raise TypeError(
            "layout= applies to Network candidates; a symprop.nn model's gradient is a state dict (torch's shapes)"
        )
    if not isinstance(values, Mapping):
        raise TypeError(
            f"values must be a state dict {{name: array}} (model.state_dict() in torch), got {type(values).__name__}"
        )
    loss = nn.as_loss(loss)
    values = _float_values(values)
    X = np.asarray(_np(X), dtype=np.float64)
    Y = _np(Y)
    Y = Y if Y.dtype.kind in "iu" else np.asarray(Y, dtype=np.float64)
    in_shape = X.shape[1:]
    shapes, _ = nn.state_shapes(model, in_shape)
    problems: list[str] = []
    dtypes: set[str] = set()
    crash = None
    if callable(candidate):
        cast = np.dtype(dtype_name(dtype or "float64")).type
        args = (
            {k: v.astype(cast) for k, v in values.items()},
            X.astype(cast),
            Y.copy() if Y.dtype.kind in "iu" else Y.astype(cast),
        )
        where = f"the candidate {getattr(candidate, '__name__', type(candidate).__name__)}()"
        try:
            result = candidate(*args)
        except Exception as exc:  # noqa: BLE001 - the candidate's own bug: reported, not raised
            crash = f"{where} raised {type(exc).__name__}: {exc}"
            result = {}
            problems.append(crash)
        actual = candidate_state_dict(result, shapes, problems, dtypes) if crash is None else {}
    else:
        actual = candidate_state_dict(candidate, shapes, problems, dtypes)
    dname = dtype_name(dtype) if dtype is not None else (_least_precise(dtypes) or "float64")
    tol = TOLERANCES[dname]
    rtol = tol.rtol if rtol is None else _nonneg(rtol, "rtol")
    atol = tol.atol if atol is None else _nonneg(atol, "atol")
    n_params = sum(int(np.prod(s)) for s in shapes.values())
    expected, used, notes = _expected(model, values, X, Y, loss, l2, oracle, n_params)
    mags = _magnitudes(model, values, X, Y, loss, l2, expected)
    eps = tol.eps + (TOLERANCES["float64"].eps if used == FLOAT_ORACLE else 0.0)
    tiny = float(np.finfo(dname).tiny) * X.shape[0]
    rows = []
    for name, shape in shapes.items():
        exp = expected[name].reshape(-1)
        act = actual[name].reshape(-1) if name in actual else None
        mag = mags[name].reshape(-1)
        for i, row_name in enumerate(entry_names(name, tuple(shape))):
            e = float(exp[i])
            t = atol + rtol * abs(e) + tol.cond * (eps * float(mag[i]) + tiny)
            rows.append(_row(row_name, e, None if act is None else float(act[i]), t))
    kinds = {prefix: leaf.kind for prefix, leaf, _ in model.leaves(tuple(in_shape))}
    kinds |= dict(module_names or {})
    return ModelGradientReport(
        model,
        rows,
        problems,
        dname,
        rtol,
        atol,
        tol.cond,
        used,
        label,
        crash=crash,
        notes=notes,
        loss=loss,
        shapes=dict(shapes),
        kinds=kinds,
    )


def assert_model_gradients_match(candidate: Any, model: Module, values: Any, X: Any, Y: Any, **options: Any):
    """``verify_model`` raising AssertionError (with the per-layer blame) unless every entry matches."""
    __tracebackhide__ = True
    report = verify_model(candidate, model, values, X, Y, **options)
    if not report.ok:
        raise AssertionError(report.failure_message())
    return report
