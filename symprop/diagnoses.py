"""What a wrong gradient most likely is: recompute the gradient with each classic mistake made, and match.

``mistaken_backprop`` is the four equations in NumPy (samples as rows), with one mistake switched on:

* ``fprime_of_a``:      f'(a^[l]) instead of f'(z^[l]) in layer l (equation 1 or 2);
* ``missing_fprime``:   the factor f'(z^[l]) dropped in layer l;
* ``no_transpose``:     delta^[l] = W^[l+1] delta^[l+1] (no transpose; a square W^[l+1] only);
* ``wrong_input_in_dW``: dC/dW^[l] = delta^[l] s^T with s = a^[k] (k != l-1) or z^[k] of the same width.

``diagnose`` compares the candidate with each mistaken gradient within the candidate's own per-entry
tolerance, and also recognises a constant factor (``scale``, ``sign``), a square layer's gradient
returned transposed (``transposed``), weights and biases exchanged (``swapped_pair``) and mismatches
confined to one layer (``layer``). The result is a list, best first; it is empty for a passing report.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from . import reference
from .spec import DEFAULT_REDUCTION, Network, gradient_to_dict

#: every diagnosis id, in the order they are ranked when several match
IDS = (
    "swapped_pair",
    "transposed",
    "sign",
    "scale",
    "fprime_of_a",
    "missing_fprime",
    "no_transpose",
    "wrong_input_in_dW",
    "l2",
    "layer",
)

#: l2 mistakes: (multiple of the right penalty gradient 2 lam W, what it means)
L2_MISTAKES = (
    (0.0, "the l2 penalty's gradient 2 lam W is missing (lam = {lam})"),
    (0.5, "the l2 penalty's gradient is lam W, not 2 lam W (d/dW of lam W^2 is 2 lam W; lam = {lam})"),
    (2.0, "the l2 penalty's gradient is 4 lam W, not 2 lam W (lam = {lam} counted twice?)"),
)

EQUATIONS = {
    1: "(1) delta^[L] = dC/da^[L] (.) f'(z^[L])",
    2: "(2) delta^[l] = (W^[l+1])^T delta^[l+1] (.) f'(z^[l])",
    3: "(3) dC/dW^[l] = delta^[l] (a^[l-1])^T",
    4: "(4) dC/db^[l] = delta^[l]",
}


@dataclass(frozen=True)
class Diagnosis:
    """One likely mistake: a stable ``id``, a ``message`` for people, and where it is."""

    id: str
    message: str
    layer: int | None = None
    factor: float | None = None

    def __str__(self) -> str:
        return f"[{self.id}] {self.message}"


# --------------------------------------------------------------------------- the mistaken backprop


def _fprime(act, z, a):
    return reference.ACTIVATIONS[act.name][1](z, a, None if act.param is None else float(act.param))


def _f(act, z):
    return reference.ACTIVATIONS[act.name][0](z, None if act.param is None else float(act.param))


def mistakes(net: Network) -> list[tuple[str, int, Any]]:
    """Every (mistake, layer, source) that ``mistaken_backprop`` can make in this network."""
    L, out = net.depth, []
    for l, act in enumerate(net.activations, start=1):
        if act.name in ("identity", "softmax") or (l == L and net.loss_name == "cross_entropy"):
            continue
        out.append(("fprime_of_a", l, None))
        out.append(("missing_fprime", l, None))
    for l in range(1, L):
        n_out, n_in = net.weight_shapes()[l]  # W^[l+1]
        if n_out == n_in:
            out.append(("no_transpose", l, None))
    for l in range(1, L + 1):
        width = net.layers[l - 1]
        for k in range(0, L + 1):
            if net.layers[k] != width:
                continue
            if k != l - 1:
                out.append(("wrong_input_in_dW", l, ("a", k)))
            if k >= 1:
                out.append(("wrong_input_in_dW", l, ("z", k)))
    return out


def mistaken_backprop(
    net: Network,
    weights,
    biases,
    X,
    Y,
    mistake: str | None = None,
    layer: int | None = None,
    source: tuple[str, int] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(dC/dW, dC/db) by the four equations, with ``mistake`` made in ``layer`` (None: the correct gradient)."""
    Zs, As = reference.forward(net, weights, biases, X)
    n, m = Y.shape
    scale = reference.loss_scale(net, n, m)
    L = net.depth
    out_act = net.output
    z, a = Zs[L], As[L]
    at_output = layer == L and mistake in ("fprime_of_a", "missing_fprime")
    with np.errstate(all="ignore"):
        if out_act.name == "softmax":
            if net.loss_name == "cross_entropy":
                delta = a * Y.sum(axis=1, keepdims=True) - Y
            else:
                g = 2.0 * (a - Y)
                delta = a * (g - (g * a).sum(axis=1, keepdims=True))
        elif net.loss_name == "bce" and not at_output:
            delta = a - Y
        else:
            g = (a - Y) / (a * (1.0 - a)) if net.loss_name == "bce" else 2.0 * (a - Y)
            fp = _fprime(out_act, z, a)
            if at_output:
                fp = _fprime(out_act, a, _f(out_act, a)) if mistake == "fprime_of_a" else 1.0
            delta = g * fp
        delta = delta * scale
        gw: list[np.ndarray] = [None] * L  # type: ignore[list-item]
        gb: list[np.ndarray] = [None] * L  # type: ignore[list-item]
        for l in range(L, 0, -1):
            inp = As[l - 1]
            if mistake == "wrong_input_in_dW" and layer == l and source is not None:
                inp = As[source[1]] if source[0] == "a" else Zs[source[1]]
            gw[l - 1] = delta.T @ inp + 2.0 * float(net.l2) * weights[l - 1]  # the l2 penalty, if any
            gb[l - 1] = delta.sum(axis=0)
            if l > 1:
                W = weights[l - 1]
                back = delta @ (W.T if mistake == "no_transpose" and layer == l - 1 else W)
                act = net.activations[l - 2]
                fp = _fprime(act, Zs[l - 1], As[l - 1])
                if layer == l - 1 and mistake == "fprime_of_a":
                    fp = _fprime(act, As[l - 1], _f(act, As[l - 1]))
                elif layer == l - 1 and mistake == "missing_fprime":
                    fp = 1.0
                delta = back * fp
    return gw, gb


# --------------------------------------------------------------------------- matching


@dataclass
class _Entry:
    name: str
    kind: str
    layer: int
    index: tuple[int, ...]
    expected: float
    actual: float
    tol: float
    passed: bool
    layers: frozenset = frozenset()  # every layer the parameter fills (several for a tied one)


def _entries(net: Network, rows) -> list[_Entry]:
    """One entry per parameter with a finite value; a tied parameter has no single index (index None)."""
    out = []
    for row in rows:
        slots = net.slots(row.name)
        if math.isfinite(row.actual):
            first = slots[0]
            out.append(
                _Entry(
                    row.name,
                    first.kind,
                    first.layer,
                    first.index if len(slots) == 1 else None,
                    row.expected,
                    row.actual,
                    row.tol,
                    row.passed,
                    frozenset(p.layer for p in slots),
                )
            )
    return out


def _close(actual: float, predicted: float, tol: float, eps: float) -> bool:
    return abs(actual - predicted) <= 2.0 * tol + 32.0 * eps * abs(predicted)


def _scale_of(entries: list[_Entry], eps: float) -> float | None:
    """c when every entry is c times its expected value (c != 1), else None."""
    num = sum(e.actual * e.expected for e in entries)
    den = sum(e.expected * e.expected for e in entries)
    if den == 0 or not entries:
        return None
    c = num / den
    if not math.isfinite(c) or c == 0:
        return None
    if all(_close(e.actual, c * e.expected, (1 + abs(c)) * e.tol, eps) for e in entries):
        if all(_close(e.actual, e.expected, e.tol, eps) for e in entries):
            return None
        return c
    return None


def _fraction_text(c: float) -> str:
    """c as a short fraction when it is one (10, 1/5, 5/2), else 6 significant digits."""
    f = Fraction(c).limit_denominator(1000)
    if abs(float(f) - c) <= 1e-9 * abs(c):
        return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"
    return f"{c:.10g}"


def _piece(key: str, power: int, net: Network, n: int, m: int) -> tuple[bool, str]:
    """(plausible for this loss, text) for one factor N, m or 2 to the power +-1 in c = actual / expected."""
    from .spec import HALVED, loss_scale

    loss = (
        net.loss_name if net.reduction == DEFAULT_REDUCTION.get(net.loss_name) else f"{net.loss_name} ({net.reduction})"
    )
    over_samples = loss_scale(net.loss_name, net.reduction, 2, 1) != loss_scale(net.loss_name, net.reduction, 1, 1)
    over_outputs = loss_scale(net.loss_name, net.reduction, 1, 2) != loss_scale(net.loss_name, net.reduction, 1, 1)
    halved = net.loss_name in HALVED
    squared = net.loss_name in ("mse", "sse", "quadratic")
    if key == "N":
        if power > 0:
            return over_samples, (
                f"summed over the N = {n} samples where {loss} averages (sum vs mean)"
                if over_samples
                else f"a factor N = {n} too large (the samples counted twice?)"
            )
        return not over_samples, (
            f"divided by N = {n} where {loss} sums over the samples (mean vs sum)"
            if not over_samples
            else f"divided by N = {n} once too often (a mean of a mean)"
        )
    if key == "m":
        if power > 0:
            return over_outputs, (
                f"missing the 1/m: {loss} averages over the m = {m} outputs too (a mean over N*m entries)"
                if over_outputs
                else f"a factor m = {m} (the outputs) too large"
            )
        return not over_outputs, (
            f"divided by the m = {m} outputs, which {loss} does not average over"
            if not over_outputs
            else f"divided by the m = {m} outputs once too often"
        )
    if power > 0:
        if halved:
            return True, f"missing the 1/2 of {loss} (sum (a - y)^2 with a 1/2 in front)"
        return False, "a factor 2 too large (the 2 of d(a - y)^2/da counted twice, or a 1/2 this loss does not have)"
    if squared and not halved:
        return True, f"the 2 of d(a - y)^2/da = 2 (a - y) dropped ({loss} has no 1/2)"
    return False, "a factor 2 too small (a 1/2 that this loss does not have)"


def explain_factor(c: float, net: Network, n_samples: int) -> list[str]:
    """Likely causes of a constant factor c = actual / expected, most plausible first: products of N, m and 2
    to the powers -1, 0, 1 (each piece judged against the loss's own normalisation)."""
    n_outputs = net.n_outputs
    base = {"2": 2, "N": n_samples, "m": n_outputs}
    found = []
    scale = float(net.scale(n_samples))
    if scale != 1 and abs(abs(c) * scale - 1) <= 1e-6:
        found.append(
            (
                -1,
                0,
                f"the gradient of the plain sum of the per-entry losses, without the loss's normalisation "
                f"{net.scale_text} (= {_fraction_text(scale)} here)",
            )
        )
    for powers in itertools.product((-1, 0, 1), repeat=3):
        if not any(powers) or any(p and size == 1 for p, size in zip(powers, base.values())):
            continue  # a factor of size 1 (one sample, one output) explains nothing
        value = 1.0
        for (_key, size), p in zip(base.items(), powers):
            value *= size**p
        if abs(value - abs(c)) <= 1e-6 * abs(c):
            pieces = [_piece(key, p, net, n_samples, n_outputs) for key, p in zip(base, powers) if p]
            up = "*".join(key for key, p in zip(base, powers) if p > 0) or "1"
            down = "*".join(key for key, p in zip(base, powers) if p < 0)
            name = up if not down else f"{up}/({down})" if "*" in down else f"{up}/{down}"
            implausible = sum(1 for ok, _ in pieces if not ok)
            found.append((implausible, len(pieces), f"c = {name}: " + " and ".join(text for _, text in pieces)))
    found.sort(key=lambda t: (t[0], t[1]))
    return [text for *_, text in found]


def _layer_equation(net: Network, l: int, kinds: set[str]) -> str:
    if kinds == {"w"}:
        return f"the weight gradient, equation {EQUATIONS[3].replace('[l]', f'[{l}]').replace('[l-1]', f'[{l - 1}]')}"
    if kinds == {"b"}:
        return f"the bias gradient, equation {EQUATIONS[4].replace('[l]', f'[{l}]')} summed over the samples"
    if l == net.depth:
        return f"the output delta, equation {EQUATIONS[1]}"
    return f"delta^[{l}], equation " + EQUATIONS[2].replace("[l+1]", f"[{l + 1}]").replace("[l]", f"[{l}]")


def diagnose(net: Network, weights, biases, X, Y, rows, eps: float, flags: tuple[str, ...] = ()) -> list[Diagnosis]:
    """Likely mistakes of a failing candidate, best first (empty when every row passes and no flags)."""
    entries = _entries(net, rows)
    found: list[Diagnosis] = []
    if "swapped_pair" in flags:
        found.append(
            Diagnosis(
                "swapped_pair",
                "weights and biases exchanged: the pair came back as (grad_biases, "
                "grad_weights); return them in the layout's order, or pass layout order=bw",
            )
        )
    if "transposed" in flags:
        found.append(
            Diagnosis(
                "transposed",
                "every weight gradient came back transposed ((n_in, n_out)); "
                "return dC/dW^[l] with W's shape, or pass layout weights=in_out",
            )
        )
    for flag in flags:
        if isinstance(flag, tuple) and flag[0] == "transposed":
            l = flag[1]
            found.append(
                Diagnosis(
                    "transposed",
                    f"dC/dW^[{l}] came back transposed (shape {net.weight_shapes()[l - 1][::-1]}): "
                    f"it is delta^[{l}] (a^[{l - 1}])^T, with W^[{l}]'s shape",
                    layer=l,
                )
            )
    if all(e.passed for e in entries) and len(entries) == len(rows):
        return found
    if not entries:
        return found
    n, m = Y.shape

    # constant factor over everything (scale, sign), then over all weights or all biases
    c = _scale_of(entries, eps)
    if c is not None:
        if abs(c + 1) <= 1e-6:
            found.append(
                Diagnosis(
                    "sign",
                    "every entry has the wrong sign (c = -1): the error written y - a instead "
                    "of a - y, or a gradient ascent step's sign",
                    factor=-1.0,
                )
            )
        else:
            causes = explain_factor(c, net, n)
            sign = "; the sign is flipped as well" if c < 0 else ""
            cause = (
                ("likely cause: " + "; or ".join(causes[:3])) if causes else "no simple cause (N, m or 2) explains it"
            )
            found.append(
                Diagnosis(
                    "scale",
                    f"every entry is off by one constant factor c = {_fraction_text(c)} "
                    f"(actual = c * expected; N = {n} sample{'s' * (n != 1)}, m = {m} output{'s' * (m != 1)}): {cause}{sign}",
                    factor=c,
                )
            )

    # recomputed mistakes
    for mistake, layer, source in mistakes(net):
        gw, gb = mistaken_backprop(net, weights, biases, X, Y, mistake, layer, source)
        pred = gradient_to_dict(net, gw, gb)
        if not all(math.isfinite(v) for v in pred.values()):
            continue
        if not all(_close(e.actual, pred[e.name], e.tol, eps) for e in entries):
            continue
        if all(_close(pred[e.name], e.expected, e.tol, eps) for e in entries):
            continue  # this mistake changes nothing here
        found.append(_mistake_diagnosis(net, mistake, layer, source))

    if net.l2:  # the penalty lam * sum(W**2) left out or with the wrong factor
        gw, gb = mistaken_backprop(net, weights, biases, X, Y)
        for k, text in L2_MISTAKES:
            shifted = [g + (k - 1.0) * 2.0 * float(net.l2) * w for g, w in zip(gw, weights)]
            pred = gradient_to_dict(net, shifted, gb)
            if all(_close(e.actual, pred[e.name], e.tol, eps) for e in entries):
                found.append(Diagnosis("l2", text.format(lam=net.l2)))

    failing = [e for e in entries if not e.passed]
    if not failing and len(entries) < len(rows):
        return found
    # a square layer's weight gradient transposed, a layer's weights and biases exchanged
    for l, (n_out, n_in) in enumerate(net.weight_shapes(), start=1):
        others_pass = all(e.passed for e in entries if l not in e.layers)
        layer_w = [e for e in entries if e.layer == l and e.kind == "w" and e.index is not None]
        layer_b = [e for e in entries if e.layer == l and e.kind == "b" and e.index is not None]
        if not others_pass or not any(not e.passed for e in layer_w + layer_b):
            continue
        if n_out == n_in and n_out > 1 and all(e.passed for e in layer_b) and len(layer_w) == n_out * n_in:
            grid = {e.index: e for e in layer_w}
            if all(
                _close(e.actual, grid[e.index[::-1]].expected, max(e.tol, grid[e.index[::-1]].tol), eps)
                for e in layer_w
            ):
                found.append(
                    Diagnosis(
                        "transposed",
                        f"dC/dW^[{l}] ({n_out}x{n_in}, square) came back transposed: "
                        f"it is delta^[{l}] (a^[{l - 1}])^T, not a^[{l - 1}] (delta^[{l}])^T",
                        layer=l,
                    )
                )

    # weights and biases exchanged (layers with one input, where dC/dW^[l] and dC/db^[l] have n entries each)
    swapped = []
    for l, (n_out, n_in) in enumerate(net.weight_shapes(), start=1):
        w_of = {e.index[0]: e for e in entries if e.layer == l and e.kind == "w" and e.index is not None}
        b_of = {e.index[0]: e for e in entries if e.layer == l and e.kind == "b" and e.index is not None}
        if (
            n_in != 1
            or len(w_of) != n_out
            or len(b_of) != n_out
            or all(e.passed for e in (*w_of.values(), *b_of.values()))
        ):
            continue
        if all(
            _close(w_of[j].actual, b_of[j].expected, max(w_of[j].tol, b_of[j].tol), eps)
            and _close(b_of[j].actual, w_of[j].expected, max(w_of[j].tol, b_of[j].tol), eps)
            for j in w_of
        ):
            swapped.append(l)
    if swapped and set().union(*(e.layers for e in failing)) <= set(swapped):
        where = f"layer {swapped[0]}" if len(swapped) == 1 else "layers " + ", ".join(map(str, swapped))
        found.append(
            Diagnosis(
                "swapped_pair",
                f"the weight and bias gradients of {where} are exchanged (dC/dW has the "
                "values of dC/db and the other way round): check the order of what you return",
                layer=swapped[0] if len(swapped) == 1 else None,
            )
        )

    # constant factor on a part (all weights, all biases)
    if c is None:
        for kind, what in (("b", "bias"), ("w", "weight")):
            part = [e for e in entries if e.kind == kind]
            rest = [e for e in entries if e.kind != kind]
            cp = _scale_of(part, eps) if part and all(e.passed for e in rest) else None
            if cp is not None:
                causes = explain_factor(cp, net, n)
                cause = (
                    ("likely cause: " + "; or ".join(causes[:3]))
                    if causes
                    else "no simple cause (N, m or 2) explains it"
                )
                found.append(
                    Diagnosis(
                        "scale",
                        f"every {what} gradient is off by one constant factor c = "
                        f"{_fraction_text(cp)} (the other gradients are right): {cause}",
                        factor=cp,
                    )
                )

    # mismatches confined to one layer
    layers = set().union(*(e.layers for e in failing)) | _missing_layers(net, rows)
    if len(layers) == 1 and net.depth > 1:
        (l,) = layers
        kinds = {e.kind for e in failing}
        total = sum(1 for name in net.param_names if any(p.layer == l for p in net.slots(name)))
        part = [e for e in entries if e.layer == l and e.kind in kinds]
        cl = _scale_of(part, eps) if len(part) > 1 else None
        factor = f"; those entries are off by one constant factor c = {_fraction_text(cl)}" if cl is not None else ""
        found.append(
            Diagnosis(
                "layer",
                f"the mismatches are confined to layer {l} ({len(failing)} of its {total} "
                f"entries wrong; every other layer matches{factor}): check {_layer_equation(net, l, kinds)}",
                layer=l,
                factor=cl,
            )
        )
    # a factor with no simple cause (N, m, 2) ranks after any recomputed mistake that explains the entries
    recomputed = {"fprime_of_a", "missing_fprime", "no_transpose", "wrong_input_in_dW"}
    has_recomputed = any(d.id in recomputed for d in found)

    def rank(d: Diagnosis) -> tuple[int, int]:
        unexplained = d.id == "scale" and "no simple cause" in d.message and has_recomputed
        return (IDS.index("wrong_input_in_dW") if unexplained else IDS.index(d.id), int(unexplained))

    found.sort(key=rank)
    return found


def _missing_layers(net: Network, rows) -> set[int]:
    return {p.layer for row in rows if not math.isfinite(row.actual) for p in net.slots(row.name)}


def _mistake_diagnosis(net: Network, mistake: str, layer: int, source) -> Diagnosis:
    act = net.activations[layer - 1]
    eq = 1 if layer == net.depth else 2
    if mistake == "fprime_of_a":
        msg = (
            f"f' evaluated at a instead of z in layer {layer} ({act}'(a^[{layer}]) where equation ({eq}) needs "
            f"{act}'(z^[{layer}]))"
        )
    elif mistake == "missing_fprime":
        msg = f"the factor {act}'(z^[{layer}]) is missing from delta^[{layer}] (equation ({eq}))"
    elif mistake == "no_transpose":
        msg = (
            f"W^[{layer + 1}] used where equation (2) has its transpose: delta^[{layer}] = (W^[{layer + 1}])^T "
            f"delta^[{layer + 1}] (.) f'(z^[{layer}])"
        )
    else:
        kind, k = source
        msg = (
            f"dC/dW^[{layer}] uses {kind}^[{k}] where equation (3) has a^[{layer - 1}]: "
            f"dC/dW^[{layer}] = delta^[{layer}] (a^[{layer - 1}])^T"
        )
    return Diagnosis(mistake, msg, layer=layer)
