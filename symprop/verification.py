"""Gradient reports: check hand-written backprop against the exact symbolic gradient."""

from __future__ import annotations

import html
import math
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import reference
from .errors import listing, suggest
from .layout import Layout, Reader, labels_of, penalty_gradient, read_data, read_values, result_dtype, sample_factor
from .spec import Activation, Network, ParamInfo, as_data, gradient_to_dict, parse_values

# --------------------------------------------------------------------------- tolerances
#
# Every entry gets its own tolerance
#
#     tol = atol + rtol * |expected| + c * eps(dtype) * magnitude
#
# where ``magnitude`` is a first-order bound on how much rounding any correct implementation of
# the four backprop equations can accumulate in that entry: the same equations run on absolute
# values, with every subtraction (a - y, the sum in z = W a + b, the sum in W^T delta) replaced by
# an addition of magnitudes, and forward-pass rounding carried into the backward pass (see
# ``magnitudes``). For a well-conditioned entry magnitude ~ |expected| and the tolerance is
# ~ c * eps relative; for an entry that is a small sum of large terms of both signs it grows to
# what no float implementation can beat. ``cond`` was measured (docs/verification.md): over 2,000
# random problems the largest error of correct float64/float32 implementations was below 1.6 eps
# magnitude, so cond = 16 (float64) and 32 (float32) leave a margin of 10x or more.


@dataclass(frozen=True)
class Tolerance:
    """Default tolerance of one dtype: tol = atol + rtol |expected| + cond * eps * magnitude."""

    rtol: float
    atol: float
    cond: float
    eps: float


TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=0.0, atol=0.0, cond=16.0, eps=float(np.finfo(np.float64).eps)),
    "float32": Tolerance(rtol=0.0, atol=0.0, cond=32.0, eps=float(np.finfo(np.float32).eps)),
    # float16 (eps 9.8e-4, largest 65504): measured over 400 random problems computed in float16 the largest
    # error was 0.82 eps*magnitude, so cond = 8 keeps the margin of 10x (docs/verification.md)
    "float16": Tolerance(rtol=0.0, atol=0.0, cond=8.0, eps=float(np.finfo(np.float16).eps)),
}

#: the exact (certified, symprop.certified) oracle is used when parameters x samples is at most this
EXACT_BUDGET = 10**6
#: digits of the old heuristic (working_digits); the certified oracle chooses its precision itself
EXACT_DPS = 50
#: report.oracle when the certified exact oracle gave the expected values
EXACT_ORACLE = "exact (certified, FLINT/Arb balls)"
ORACLES = ("auto", "exact", "compiled")
STATUSES = ("ok", "mismatch", "nan", "inf", "missing")


def dtype_name(dtype: Any) -> str:
    """'float64', 'float32' or 'float16' for any spelling of those dtypes (else a ValueError)."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"dtype must be one of {', '.join(TOLERANCES)}, got {dtype!r}") from None
    if name not in TOLERANCES:
        raise ValueError(f"dtype must be one of {', '.join(TOLERANCES)}, got {name}")
    return name


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Row:
    """One parameter: expected vs actual, the errors and the tolerance that judged them."""

    name: str
    expected: float
    actual: float
    tol: float
    status: str
    #: the certified oracle's rigorous bound on |exact - its midpoint| (None for the float64 oracle); the expected
    #: value is the correctly rounded exact gradient whenever the ball lies in one float64 rounding interval
    radius: float | None = None

    @property
    def abs_err(self) -> float:
        return abs(self.actual - self.expected) if math.isfinite(self.actual) else math.inf

    @property
    def rel_err(self) -> float:
        if not math.isfinite(self.actual):
            return math.inf
        if self.expected == 0:
            return 0.0 if self.actual == 0 else math.inf
        return self.abs_err / abs(self.expected)

    @property
    def passed(self) -> bool:
        return self.status == "ok"

    @property
    def badness(self) -> float:
        """abs error / tolerance (inf for NaN, inf or missing values)."""
        if self.status in ("nan", "inf", "missing"):
            return math.inf
        if self.tol == 0:
            return 0.0 if self.abs_err == 0 else math.inf
        return self.abs_err / self.tol


HEADERS = ("parameter", "expected", "actual", "abs err", "rel err", "tol", "result")


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.10g}" if x == 0 or 1e-4 <= abs(x) < 1e6 else f"{x:.9e}"


def _err(x: float) -> str:
    return f"{x:.2e}"


def _cells(row: Row, radius: bool = False) -> tuple[str, ...]:
    result = "pass" if row.passed else f"FAIL ({row.status})" if row.status != "mismatch" else "FAIL"
    extra = (("-" if row.radius is None else _err(row.radius)),) if radius else ()
    if row.status == "missing":
        return (row.name, _fmt(row.expected), "-", "-", "-", _err(row.tol), *extra, result)
    return (
        row.name,
        _fmt(row.expected),
        _fmt(row.actual),
        _err(row.abs_err),
        _err(row.rel_err),
        _err(row.tol),
        *extra,
        result,
    )


def _headers(radius: bool) -> tuple[str, ...]:
    return HEADERS[:-1] + ("radius",) + HEADERS[-1:] if radius else HEADERS


@dataclass
class GradientReport:
    """Per-parameter comparison of a candidate gradient with the exact one; truthy when all match."""

    network: Network
    rows: list[Row]
    problems: list[str] = field(default_factory=list)
    dtype: str = "float64"
    rtol: float = 0.0
    atol: float = 0.0
    cond: float = 0.0
    oracle: str = "exact"
    label: str = ""
    layout: Layout = field(default_factory=Layout)
    #: likely mistakes, best first (symprop.diagnoses); empty when the check passes
    diagnoses: list = field(default_factory=list)
    #: what the candidate raised, if it crashed (one line), else None
    crash: str | None = None
    #: row name -> symprop parameter name, when rows are named otherwise (verify_torch: '0.weight[1,2]')
    aliases: dict = field(default_factory=dict)
    #: what each weight layer 1..L is called by the caller (verify_torch: "module '0'"), for the summaries
    layer_names: list = field(default_factory=list)
    #: remarks on the oracle (e.g. the float64 fallback above the certified budget); they do not fail the check
    notes: list = field(default_factory=list)

    @property
    def has_radius(self) -> bool:
        """True when the expected values are certified balls: the tables then show their radii."""
        return any(r.radius is not None for r in self.rows)

    # ------------------------------------------------------------------ verdict
    @property
    def ok(self) -> bool:
        return not self.problems and all(r.passed for r in self.rows)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failures(self) -> list[Row]:
        """Failing rows, worst first."""
        return sorted((r for r in self.rows if not r.passed), key=lambda r: -r.badness)

    @property
    def worst(self) -> Row | None:
        """The row with the largest error relative to its tolerance."""
        return max(self.rows, key=lambda r: r.badness, default=None)

    def __getitem__(self, name: str) -> Row:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no parameter {name!r}; valid: {listing(r.name for r in self.rows)}")

    # ------------------------------------------------------------------ text
    def header(self) -> str:
        what = f" ({self.label})" if self.label else ""
        return (
            f"gradient check{what} of {self.network!r}: rtol={self.rtol:g}, atol={self.atol:g}, "
            f"plus {self.cond:g}*eps*magnitude per entry; dtype {self.dtype}; oracle {self.oracle}"
            + ("" if self.layout.is_default else f"; layout {self.layout}")
        )

    def layer_summary(self) -> str:
        """How many entries are wrong in each layer, e.g. 'layer 1: 12 / 16 wrong (W 12/12, b 0/4); ...'."""
        parts = []
        for l in range(1, self.network.depth + 1):
            counts = {}
            for kind in "wb":  # a tied parameter counts in every layer it fills
                rows = [
                    r
                    for r in self.rows
                    if self.aliases.get(r.name, r.name) in self.network.param_names
                    and any(
                        p.layer == l and p.kind == kind for p in self.network.slots(self.aliases.get(r.name, r.name))
                    )
                ]
                counts[kind] = (sum(1 for r in rows if not r.passed), len(rows))
            bad = counts["w"][0] + counts["b"][0]
            total = counts["w"][1] + counts["b"][1]
            called = f" ({self.layer_names[l - 1]})" if len(self.layer_names) >= l else ""
            parts.append(
                f"layer {l}{called}: {bad} / {total} wrong (W {counts['w'][0]}/{counts['w'][1]}, "
                f"b {counts['b'][0]}/{counts['b'][1]})"
            )
        return "per layer: " + "; ".join(parts)

    def diagnosis_lines(self) -> list[str]:
        if not self.diagnoses:
            return []
        lines = [f"likely mistake: {self.diagnoses[0]}"]
        lines += [f"  also consistent: {d}" for d in self.diagnoses[1:]]
        return lines

    def summary(self) -> str:
        bad = len(self.failures)
        state = "ok" if self.ok else "FAILED"
        return f"{state}: {bad} / {len(self.rows)} parameters mismatched" + (
            f"; {len(self.problems)} problem(s)" if self.problems else ""
        )

    def __str__(self) -> str:
        heads = _headers(self.has_radius)
        table = [heads] + [_cells(r, self.has_radius) for r in self.rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(heads))]
        lines = [
            self.header(),
            *[f"note: {n}" for n in self.notes],
            *[f"problem: {p}" for p in self.problems],
            self.summary(),
        ]
        if not self.ok:
            lines += [*self.diagnosis_lines(), self.layer_summary()]
        last = len(heads) - 1
        for k, cells in enumerate(table):
            lines.append(
                "  ".join(c.ljust(w) if i in (0, last) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
            )
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<GradientReport {self.summary()} for {self.network!r}>"

    def to_dict(self) -> dict:
        """A JSON-ready summary: verdict, oracle, notes, problems and per-parameter rows (with ``radius``:
        the certified oracle's error bound, None for the float64 oracle; non-finite numbers as strings)."""

        def num(x: float | None):
            return x if x is None or math.isfinite(x) else str(x)

        return {
            "ok": self.ok,
            "oracle": self.oracle,
            "dtype": self.dtype,
            "rtol": self.rtol,
            "atol": self.atol,
            "cond": self.cond,
            "notes": list(self.notes),
            "problems": list(self.problems),
            "diagnoses": [str(d) for d in self.diagnoses],
            "rows": [
                {
                    "name": r.name,
                    "expected": num(r.expected),
                    "actual": num(r.actual),
                    "tol": num(r.tol),
                    "radius": num(r.radius),
                    "status": r.status,
                }
                for r in self.rows
            ],
        }

    def to_markdown(self) -> str:
        lines = [f"**{self.summary()}** — {self.header()}", ""]
        lines += [f"- note: {n}" for n in self.notes] + [f"- problem: {p}" for p in self.problems]
        lines += [""] if self.problems or self.notes else []
        if not self.ok:
            lines += [f"- {line.strip()}" for line in self.diagnosis_lines()] + [f"- {self.layer_summary()}", ""]
        heads = _headers(self.has_radius)
        lines.append("| " + " | ".join(heads) + " |")
        lines.append("|" + "|".join([":--"] + ["--:"] * (len(heads) - 2) + [":--"]) + "|")
        lines += ["| " + " | ".join(_cells(r, self.has_radius)).replace("`", "") + " |" for r in self.rows]
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in _headers(self.has_radius))
        body = []
        for r in self.rows:
            style = "" if r.passed else ' style="background:#fdd"'
            body.append(f"<tr{style}>" + "".join(f"<td>{esc(c)}</td>" for c in _cells(r, self.has_radius)) + "</tr>")
        problems = "".join(f"<li>note: {esc(n)}</li>" for n in self.notes)
        problems += "".join(f"<li>{esc(p)}</li>" for p in self.problems)
        if not self.ok:
            problems += "".join(
                f"<li>{esc(line.strip())}</li>" for line in self.diagnosis_lines() + [self.layer_summary()]
            )
        return (
            f"<div><p><b>{esc(self.summary())}</b><br><small>{esc(self.header())}</small></p>"
            + (f"<ul>{problems}</ul>" if problems else "")
            + f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        )

    def failure_message(self, limit: int = 10) -> str:
        """The assertion message, in numpy.testing.assert_allclose's order."""
        lines = [
            "Gradients not equal to the exact gradient to tolerance "
            f"rtol={self.rtol:g}, atol={self.atol:g} (+ {self.cond:g}*eps*magnitude per entry, "
            f"dtype {self.dtype}, oracle {self.oracle})",
            f"network: {self.network!r}" + (f"; {self.label}" if self.label else ""),
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
        if bad:
            table = [HEADERS[:-1] + ("",)] + [
                _cells(r)[:-1] + ("" if r.status == "mismatch" else r.status,) for r in bad[:limit]
            ]
            widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
            for cells in table:
                lines.append(
                    " "
                    + "  ".join(
                        c.ljust(w) if i in (0, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
                    ).rstrip()
                )
            if len(bad) > limit:
                lines.append(f" ... and {len(bad) - limit} more mismatched parameter(s)")
            lines.append(f"worst: {bad[0].name}: " + formula(self.network, self.aliases.get(bad[0].name, bad[0].name)))
        return "\n".join(lines)


# --------------------------------------------------------------------------- formulas


def formula(net: Network, name: str, max_chars: int = 400) -> str:
    """The backprop formula of one parameter and (for small networks) its exact per-sample form."""
    if name in net.tied:
        uses = " + ".join(f"dC/d[{e}]" for e in net.tied[name])
        return f"dC/d{name} = {uses}  (the tied parameter {name} fills {', '.join(net.tied[name])}: its gradient sums its uses)"
    info = net.info(name)
    l, j = info.layer, info.row + 1
    scale = net.scale_text
    factor = "" if info.kind == "b" else f" a^[{l - 1}]_{info.col + 1}"
    l2 = f" + 2 * {net.l2} * {name}" if net.l2 and info.kind == "w" else ""
    text = (
        f"dC/d{name} = {scale} * sum_n d(ell_n)/dz^[{l}]_{j}{factor}{l2}  (delta^[{l}]_{j}{factor} summed over samples)"
    )
    if net.n_params > 60:
        return text
    import sympy as sp

    from .chainrule import gradient

    per_sample = gradient(net, [list(net.inputs)], [list(net.targets)])[net.param(name)]
    closed = sp.sstr(per_sample)
    if len(closed) > max_chars:
        closed = closed[:max_chars] + " ..."
    return text + f"; one sample (x, y): {closed}"


# --------------------------------------------------------------------------- the expected gradient


def working_digits(
    net: Network, weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray, base: int = EXACT_DPS
) -> int:
    """A-priori digits: ``base`` plus what saturation can cancel (e^{-2|z|} next to 1). The certified oracle no
    longer needs this guess (it raises its precision until every ball is certified); kept as an estimate."""
    Zs, _ = reference.forward(net, weights, biases, X)
    zmax = max(float(np.max(np.abs(z))) for z in Zs[1:])
    return base + int(math.ceil(2 * zmax / math.log(10)))


def exact_gradient(
    net: Network,
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    dps: int | None = None,
) -> dict[str, float]:
    """The exact gradient at the binary values of the floats: ``symprop.certified.reverse_pass``, the one
    numeric reverse pass (exact Fractions for a network that keeps rationals rational, else FLINT/Arb balls).

    Every float (parameter or datum) enters at its exact binary value; a ball's precision is raised until it lies
    in one float64 rounding interval, so the result is the true gradient at the numbers a float program sees,
    correctly rounded to float64 (``result.radius`` and ``result.certified`` say so per entry; radius 0 for
    exact Fractions). ``dps``, if given, is the least number of decimal digits the balls start from.
    """
    from .certified import MAX_PREC, MIN_PREC, reverse_pass

    start = MIN_PREC if dps is None else max(MIN_PREC, math.ceil(dps * math.log2(10)))
    return reverse_pass(net, weights, biases, X, Y, min_prec=start, max_prec=max(start, MAX_PREC))


#: max |f''| of each activation (0 for piecewise-linear ones): carries z's rounding into f'(z)
CURVATURE = {
    "identity": 0.0,
    "relu": 0.0,
    "leaky_relu": 0.0,
    "sigmoid": 0.1,
    "tanh": 0.77,
    "softplus": 0.25,
    "silu": 0.5,
}


def _fp_curvature(act: Activation) -> float:
    """max |f''(z)|; for elu it is alpha (alpha e^z for z < 0)."""
    return float(act.param) if act.name == "elu" else CURVATURE[act.name]


def magnitudes(
    net: Network, weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray, Y: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-entry rounding magnitudes: the four equations on absolute values (see module comment)."""
    Zs, As = reference.forward(net, weights, biases, X)
    absW = [np.abs(w) for w in weights]
    amag, fpmag = [np.abs(X)], [None]
    for l, act in enumerate(net.activations, start=1):
        zmag = amag[-1] @ absW[l - 1].T + np.abs(biases[l - 1])
        a = As[l]
        if act.name == "softmax":
            amag.append(np.abs(a) + a * (zmag + (a * zmag).sum(axis=1, keepdims=True)))
            fpmag.append(None)
            continue
        p = None if act.param is None else float(act.param)
        fp = np.abs(reference.ACTIVATIONS[act.name][1](Zs[l], a, p))
        amag.append(np.abs(a) + fp * zmag)
        fpmag.append(fp + _fp_curvature(act) * zmag)
    n, m = Y.shape
    scale = reference.loss_scale(net, n, m)
    am, ym = amag[-1], np.abs(Y)
    if net.loss_name == "bce":
        delta = am + ym
    elif net.loss_name == "cross_entropy":
        delta = am * ym.sum(axis=1, keepdims=True) + ym
    else:
        g = 2.0 * (am + ym)
        delta = am * (g + (g * am).sum(axis=1, keepdims=True)) if net.output.name == "softmax" else g * fpmag[-1]
    delta = delta * scale
    L = net.depth
    mw: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    mb: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    for l in range(L, 0, -1):
        mw[l - 1] = delta.T @ amag[l - 1] + 2.0 * float(net.l2) * absW[l - 1]
        mb[l - 1] = delta.sum(axis=0)
        if l > 1:
            delta = (delta @ absW[l - 1]) * fpmag[l - 1]
    return mw, mb


def _choose_oracle(net: Network, n_samples: int, oracle: str) -> str:
    if oracle not in ORACLES:
        raise ValueError(f"oracle must be one of {', '.join(ORACLES)}, got {oracle!r}" + suggest(str(oracle), ORACLES))
    if oracle == "auto":
        return "exact" if net.n_params * n_samples <= EXACT_BUDGET else "compiled"
    return oracle


def _guard(net: Network, n_samples: int, used: str) -> None:
    """The work budget (symprop.budget): refuse an oracle run too long to wait for, before it starts."""
    from . import budget

    if used == "exact":
        budget.check(
            budget.certified(net, n_samples, what="the certified exact oracle (oracle='exact')"),
            [
                "fewer samples",
                f"oracle='auto' or 'compiled' (the float64 program above parameters x samples = {EXACT_BUDGET:,})",
            ],
        )
    else:
        budget.check(
            budget.numeric(net, n_samples, passes=4, what="the float64 oracle and the tolerances"),
            ["fewer samples", "a smaller network"],
        )


def expected_gradient(net: Network, weights, biases, X, Y, oracle: str = "auto") -> tuple[dict[str, float], str]:
    """(name -> expected value, the oracle used): the certified exact gradient (a ``CertifiedGradient``, with
    ``radius`` and ``certified`` per entry), or the compiled float64 program (above ``EXACT_BUDGET``)."""
    used = _choose_oracle(net, X.shape[0], oracle)
    _guard(net, X.shape[0], used)
    if used == "exact":
        try:
            return exact_gradient(net, weights, biases, X, Y), EXACT_ORACLE
        except ArithmeticError:
            if oracle == "exact":
                raise
    dW, db = net.compile().gradient_arrays(weights, biases, X, Y, check=False)
    return gradient_to_dict(net, dW, db), "compiled float64"


def _settle_uncertified(net: Network, weights, biases, X, Y, expected: dict, eps: float) -> tuple[dict, dict]:
    """(expected values, per-row eps) with the entries the certified oracle could not certify (a z exactly at a
    kink that balls cannot prove, e.g. two identical units subtracted) taken from the float64 program when its
    value lies inside the certified ball (the ball proves nothing better); those rows get the compiled
    oracle's eps. Every other entry keeps its certified value."""
    certified = getattr(expected, "certified", None)
    bad = [name for name, ok in (certified or {}).items() if not ok]
    if not bad:
        return expected, {}
    dW, db = net.compile().gradient_arrays(weights, biases, X, Y, check=False)
    compiled = gradient_to_dict(net, dW, db)
    values, row_eps = dict(expected), {}
    for name in bad:
        if abs(compiled[name] - expected[name]) <= expected.radius[name]:
            values[name] = compiled[name]
            row_eps[name] = eps + TOLERANCES["float64"].eps
    return values, row_eps


def _oracle_notes(net: Network, n_samples: int, oracle: str, expected: dict, used: str) -> list[str]:
    notes = []
    work = net.n_params * n_samples
    if oracle == "auto" and used.startswith("compiled") and work > EXACT_BUDGET:
        notes.append(
            f"parameters x samples = {work:,} is above the certified oracle's budget of {EXACT_BUDGET:,}: "
            "the expected values come from the compiled float64 program (oracle='exact' forces the "
            "certified one)"
        )
    certified = getattr(expected, "certified", None)
    if certified:
        bad = [name for name, ok in certified.items() if not ok]
        if bad:
            notes.append(
                f"{len(bad)} expected value(s) ({listing(bad)}) could not be certified to the last float64 "
                f"bit at {expected.prec} bits (a kink that balls cannot decide): their expected values are the float64 "
                "program's, which lie inside the certified balls; see their radius"
            )
    return notes


# --------------------------------------------------------------------------- the candidate


def _where(candidate: Any) -> str:
    return f"the candidate {getattr(candidate, '__name__', type(candidate).__name__)}()"


def _call_site(exc: BaseException) -> str:
    """' (at file.py:12)': the innermost frame of the traceback outside NumPy and symprop."""
    skip = (os.path.dirname(np.__file__), os.path.dirname(__file__))
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(skip)]
    return f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""


def _shapes(arrays: Sequence[np.ndarray]) -> str:
    return ", ".join(str(a.shape) for a in arrays)


class _Crash(Exception):
    """The candidate raised (or exited); the message is the report's ``crash`` line."""


def _run(candidate: Callable, args: tuple, layout: Layout, given: str) -> Any:
    try:
        return candidate(*args)
    except (Exception, SystemExit) as exc:
        # the command line wraps a user's function so that its exceptions say MODULE:FUNCTION raised ...
        inner = exc.__cause__ if type(exc).__name__ == "CandidateError" and exc.__cause__ is not None else exc
        if isinstance(exc, SystemExit):
            what = f"{_where(candidate)} exited (SystemExit({exc.code!r})) instead of returning a gradient"
        elif inner is exc:
            what = f"{_where(candidate)} raised {type(exc).__name__}: {exc}"
        else:
            what = str(exc)
        hint = ""
        if isinstance(inner, ValueError) and any(k in str(inner) for k in ("broadcast", "shape", "align", "dimension")):
            hint = (
                " (a shape error inside your code: it was given the arrays of the layout below; "
                "if your code holds them differently, pass layout=symprop.Layout(...))"
            )
        raise _Crash(f"{what}{_call_site(inner)}{hint}; it was called in {layout.describe()} with {given}") from exc


def candidate_gradient(
    candidate: Any, net: Network, weights, biases, X, Y, dtype: str, layout: Any = None
) -> tuple[dict[str, float], list[str], str | None]:
    """(name -> actual value, problems, dtype the candidate returned) for any kind of candidate."""
    result, problems, returned, _, _ = _candidate(candidate, net, weights, biases, X, Y, dtype, Layout.parse(layout))
    return result, problems, returned


def _candidate(
    candidate: Any, net: Network, weights, biases, X, Y, dtype: str, layout: Layout, labels: np.ndarray | None = None
):
    """(values, problems, returned dtype, crash line or None, flags for the diagnoses).

    ``labels``: cross_entropy class labels as the user gave them; the candidate gets them instead of Y's one-hot rows.
    """
    problems: list[str] = []
    dtypes: set[str] = set()
    reader = Reader(net, layout, problems, dtypes, X.shape[0])
    if not callable(candidate):
        got = reader.result(candidate, "the candidate is a")
        return got, problems, result_dtype(dtypes), None, tuple(reader.flags)
    cast = np.dtype(dtype).type
    W_in = [layout.weights_out(w).astype(cast) for w in weights]
    b_in = [layout.bias_out(b).astype(cast) for b in biases]
    where = f"{_where(candidate)} returned"
    given = f"weights {_shapes(W_in)}; biases {_shapes(b_in)}"
    try:
        if not layout.per_sample:
            Xc = layout.data_out(X).astype(cast)
            Yc = labels.copy() if labels is not None else layout.data_out(Y).astype(cast)
            result = _run(candidate, (W_in, b_in, Xc, Yc), layout, f"{given}; X {Xc.shape}; Y {Yc.shape} ({dtype})")
            got = reader.result(result, where)
        else:
            got = {}
            for i in range(X.shape[0]):
                x = layout.sample_out(X[i]).astype(cast)
                y = labels[i] if labels is not None else layout.sample_out(Y[i]).astype(cast)
                args = ([w.copy() for w in W_in], [b.copy() for b in b_in], x, y)
                result = _run(candidate, args, layout, f"{given}; x {x.shape}; y {np.shape(y)} ({dtype}), sample {i}")
                term = reader.result(result, where)
                if problems:
                    problems[:] = [f"sample {i}: {p}" for p in problems]
                    got = {}
                    break
                for name, value in term.items():
                    got[name] = got.get(name, 0.0) + value
            factor = sample_factor(net, X.shape[0])
            penalty = penalty_gradient(net, weights)  # l2 is not a per-sample term: added once
            got = {name: value * factor + penalty.get(name, 0.0) for name, value in got.items()}
    except _Crash as crash:
        return {}, [str(crash)], None, str(crash), ()
    problems = [f"{where.split(' returned')[0]}: {p}" for p in problems]
    return got, problems, result_dtype(dtypes), None, tuple(dict.fromkeys(reader.flags))


# --------------------------------------------------------------------------- public API


def verify(
    candidate: Any,
    net: Network,
    values: Any,
    X: Any,
    Y: Any,
    rtol: float | None = None,
    atol: float | None = None,
    dtype: Any = None,
    *,
    oracle: str = "auto",
    label: str = "",
    layout: Any = None,
    loss: Any = None,
    l2: Any = None,
) -> GradientReport:
    """Compare a candidate gradient with the exact gradient of ``net`` at ``values`` on (X, Y).

    ``candidate``: a callable ``fn(weights, biases, X, Y) -> (grad_weights, grad_biases)`` (it is called
    with arrays of ``dtype``), a dict name -> value, a dict of layer arrays ``W1, b1, ...``, or a pair.
    ``layout`` (a ``symprop.Layout``, a dict or a string such as ``"samples=columns,weights=in_out"``)
    says how the values, X, Y, the candidate's arguments and its result are laid out; the default is
    samples as rows, weights (n_out, n_in), flat biases, ``(grad_weights, grad_biases)``.
    ``dtype`` (float64, float32 or float16) picks the default tolerances; by default it is the
    candidate's own: the least precise floating dtype it returns.
    ``oracle``: "exact" (the exact gradient certified by ball arithmetic: every expected value is the correctly
    rounded exact gradient, ``Row.radius`` its rigorous error bound), "compiled" (the float64 program built
    from the same exact derivatives; its own rounding is added to the tolerance) or "auto" (exact up to
    parameters x samples = ``EXACT_BUDGET`` = 10^6, then compiled, with a note in the report).
    A failing report has ``diagnoses``: the likely mistakes, best first (symprop.diagnoses).
    A symprop.nn model (``Sequential(...)``) instead of a Network is checked by ``symprop.nn_verify.verify_model``
    (its ``loss=`` and ``l2=``; the candidate a state dict of gradients).
    """
    nn_model = _nn_dispatch(candidate, net, values, X, Y)
    if nn_model is not None:
        from .nn_verify import verify_model

        candidate, net, values, X, Y = nn_model
        return verify_model(
            candidate,
            net,
            values,
            X,
            Y,
            rtol=rtol,
            atol=atol,
            dtype=dtype,
            oracle=oracle,
            label=label,
            layout=layout,
            loss="mse" if loss is None else loss,
            l2=l2 or 0,
        )
    if loss is not None or l2 is not None:
        raise TypeError("loss= and l2= are for symprop.nn models; a Network carries its own (Network(..., loss=, l2=))")
    if not isinstance(net, Network):
        raise TypeError(f"net must be a symprop.Network, got {type(net).__name__}")
    layout = Layout.parse(layout)
    weights, biases = parse_values(net, read_values(net, layout, values))
    labels = labels_of(net, Y, None)
    X, Y = read_data(net, layout, X, Y)
    _guard(net, X.shape[0], _choose_oracle(net, X.shape[0], oracle))  # before the candidate runs: refuse up front
    actual, problems, returned, crash, flags = _candidate(
        candidate, net, weights, biases, X, Y, dtype_name(dtype or "float64"), layout, labels
    )
    dname = dtype_name(dtype) if dtype is not None else (returned or "float64")
    tol = TOLERANCES[dname]
    rtol = tol.rtol if rtol is None else _nonneg(rtol, "rtol")
    atol = tol.atol if atol is None else _nonneg(atol, "atol")
    with np.errstate(all="ignore"):  # float64 overflow in the oracle or the tolerances is in the report, not a warning
        expected, used = expected_gradient(net, weights, biases, X, Y, oracle)
        mw, mb = magnitudes(net, weights, biases, X, Y)
        mags = gradient_to_dict(net, mw, mb)
        eps = tol.eps + (TOLERANCES["float64"].eps if used.startswith("compiled") else 0.0)
        # below tiny (underflow) only absolute accuracy is possible; float16's tiny (6e-5) is large next to its
        # gradients, so there the absolute floor is its smallest subnormal times the number of samples
        tiny = (
            float(np.finfo(dname).tiny)
            if dname != "float16"
            else float(np.finfo(np.float16).smallest_subnormal) * X.shape[0]
        )
        radius = getattr(expected, "radius", {})
        values, row_eps = _settle_uncertified(net, weights, biases, X, Y, expected, eps)
        rows = [
            _row(
                name,
                values[name],
                actual.get(name),
                atol + rtol * abs(values[name]) + tol.cond * (row_eps.get(name, eps) * mags[name] + tiny),
                radius.get(name),
            )
            for name in net.param_names
        ]
        report = GradientReport(
            net,
            rows,
            problems,
            dname,
            rtol,
            atol,
            tol.cond,
            used,
            label,
            layout,
            crash=crash,
            notes=_oracle_notes(net, X.shape[0], oracle, expected, used),
        )
        if not report.ok and crash is None:
            from .diagnoses import diagnose

            report.diagnoses = diagnose(net, weights, biases, X, Y, rows, eps, flags)
    return report


def _nn_dispatch(candidate: Any, net: Any, values: Any, X: Any, Y: Any) -> tuple | None:
    """(candidate, model, values, X, Y) when the model is a symprop.nn module, else None; also accepts the
    order verify(model, values, X, Y, candidate)."""
    from .nn.module import Module

    if isinstance(net, Module):
        return candidate, net, values, X, Y
    if isinstance(candidate, Module) and not isinstance(net, Network):
        return Y, candidate, net, values, X
    return None


def _nonneg(x: Any, what: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a non-negative number, got {x!r}") from None
    if not (v >= 0 and math.isfinite(v)):
        raise ValueError(f"{what} must be a non-negative finite number, got {x!r}")
    return v


def _row(info: ParamInfo | str, expected: float, actual: float | None, tol: float, radius: float | None = None) -> Row:
    name = info if isinstance(info, str) else info.name  # a parameter name (a tied one has no ParamInfo)
    if actual is None:
        return Row(name, expected, math.nan, tol, "missing", radius)
    if math.isnan(actual):
        return Row(name, expected, actual, tol, "nan", radius)
    if math.isinf(actual):
        return Row(name, expected, actual, tol, "inf", radius)
    return Row(name, expected, actual, tol, "ok" if abs(actual - expected) <= tol else "mismatch", radius)


def assert_gradients_match(
    candidate: Any,
    net: Network,
    values: Any,
    X: Any,
    Y: Any,
    rtol: float | None = None,
    atol: float | None = None,
    dtype: Any = None,
    *,
    oracle: str = "auto",
    label: str = "",
    layout: Any = None,
    loss: Any = None,
    l2: Any = None,
) -> GradientReport:
    """Like ``verify`` but raise AssertionError (assert_allclose-style message) unless all match."""
    __tracebackhide__ = True
    report = verify(
        candidate,
        net,
        values,
        X,
        Y,
        rtol=rtol,
        atol=atol,
        dtype=dtype,
        oracle=oracle,
        label=label,
        layout=layout,
        loss=loss,
        l2=l2,
    )
    if not report.ok:
        raise AssertionError(report.failure_message())
    return report


# --------------------------------------------------------------------------- finite differences

FD_METHODS = ("forward", "backward", "central")


def finite_difference(
    net: Network, values: Any, X: Any, Y: Any, method: str = "central", eps: float | None = None
) -> dict[str, float]:
    """dict name -> finite-difference estimate of dC/dparam, from the float64 loss.

    The default step is h = eps^(1/2) max(1, |theta|) (forward/backward) or eps^(1/3) max(1, |theta|)
    (central), which balances truncation against rounding; the result is still only good to about
    1e-8 (one-sided) or 1e-10 (central) relative: see ``compare_finite_difference``.
    """
    if method not in FD_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(FD_METHODS)}, got {method!r}" + suggest(str(method), FD_METHODS)
        )
    if eps is not None:
        eps = _nonneg(eps, "eps")
        if eps == 0:
            raise ValueError("eps must be positive, got 0")
    weights, biases = parse_values(net, values)
    X, Y = as_data(net, X, Y)
    loss = net.compile().loss_arrays
    machine = float(np.finfo(np.float64).eps)
    base = machine ** (1 / 3 if method == "central" else 1 / 2)
    out = {}
    for name in net.param_names:
        slots = net.slots(name)  # a tied parameter moves every entry it fills
        first = slots[0]
        theta = float((weights if first.kind == "w" else biases)[first.layer - 1][first.index])
        h = eps if eps is not None else base * max(1.0, abs(theta))

        def at(shift: float) -> float:
            for p in slots:
                (weights if p.kind == "w" else biases)[p.layer - 1][p.index] = theta + shift
            try:
                return loss(weights, biases, X, Y, check=False)
            finally:
                for p in slots:
                    (weights if p.kind == "w" else biases)[p.layer - 1][p.index] = theta

        with np.errstate(all="ignore"):  # a non-finite estimate is reported by verify, not by NumPy
            hi = at(h) if method != "backward" else at(0.0)
            lo = at(-h) if method != "forward" else at(0.0)
        out[name] = (hi - lo) / (2 * h if method == "central" else h)
    return out


def compare_finite_difference(
    net: Network, values: Any, X: Any, Y: Any, method: str = "central", eps: float | None = None
) -> GradientReport:
    """A report of the finite-difference gradient against the exact one (to show its accuracy)."""
    fd = finite_difference(net, values, X, Y, method=method, eps=eps)
    step = "default step" if eps is None else f"h={eps:g}"
    return verify(fd, net, values, X, Y, label=f"{method} finite differences, {step}")
