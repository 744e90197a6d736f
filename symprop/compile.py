"""Compile a network's exact loss and gradient to one NumPy program that keeps the layer structure.

The program is the four backprop equations in matrix form, as generated Python source:
matrix products for the chain rule across layers, and for every element-wise factor (f'(z), dell/da,
the fused output deltas) the exact SymPy derivative printed as numerically stable NumPy code after
common-subexpression elimination. Nothing here differentiates an expanded loss, so derive + compile
costs the same for 10 parameters as for 10,000. ``CompiledNetwork.source`` shows the program.

Speed: the (N, n) arrays of a call live in a per-thread workspace that is reused while N stays the
same, and element-wise factors are evaluated by in-place ufunc calls (``numpy.multiply(A1, A1,
out=F1)``) where their form allows, so a gradient call allocates only its results. The closed-form
expanded derivatives (``Network.gradient``) are never built here; they stay available for printing.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from . import activations, losses
from .spec import Network, Activation, arrays_to_dict, as_data, as_matrix, parse_values


class _Printer(NumPyPrinter):
    """NumPy printer with cheaper forms for the step functions of relu and friends."""

    def _print_Heaviside(self, expr):
        z, h0 = expr.args
        op = ">=" if h0 == 1 else ">"
        if h0 not in (0, 1):
            return super()._print_Heaviside(expr)
        return f"(({self._print(z)}) {op} 0).astype(float)"

    def _print_Piecewise(self, expr):
        # Piecewise((u, cond), (v, True)) -> numpy.where(cond, u, v)
        if len(expr.args) == 2 and expr.args[1].cond == sp.true:
            (u, cond), (v, _) = expr.args
            return f"numpy.where({self._print(cond)}, {self._print(u)}, {self._print(v)})"
        return super()._print_Piecewise(expr)

    def _print_Rational(self, expr):
        return repr(float(expr)) if expr.q != 1 else str(expr.p)


_printer = _Printer({"fully_qualified_modules": True, "inline": True, "allow_unknown_functions": False})

#: the sample count and output count: scalars in the generated program, every other symbol is an array
N_SYM, M_SYM = sp.Symbol("N"), sp.Symbol("m")
_SCALARS = frozenset({N_SYM, M_SYM})


def _code(expr: sp.Expr) -> str:
    return _printer.doprint(expr)


def _elementwise(target: str, expr: sp.Expr, op: str = "=") -> list[str]:
    """Source lines computing ``target op expr`` with common subexpressions hoisted."""
    replacements, (reduced,) = sp.cse([expr], symbols=sp.numbered_symbols("_t"), optimizations="basic")
    lines = [f"{sym} = {_code(sub)}" for sym, sub in replacements]
    lines.append(f"{target} {op} {_code(reduced)}")
    return lines


# --------------------------------------------------------------------------- in-place ufunc code
# ``_into(expr, out)`` writes lines that leave ``expr`` in the preallocated array ``out`` using ufunc
# calls with ``out=``: each step reads its operands and overwrites ``out``, so ``out`` must not be an
# operand of ``expr`` (see ``_single_path`` for the one safe exception). Sub-expressions without an
# in-place form are printed as ordinary NumPy operands (allocating), so every expression is covered.

_UNARY: dict[type, str] = {
    sp.tanh: "tanh", sp.exp: "exp", sp.log: "log", sp.sin: "sin", sp.cos: "cos",
    sp.sinh: "sinh", sp.cosh: "cosh", sp.Abs: "absolute",
}
# activations with a stable NumPy form, as chains of in-place steps from input {i} to output {o}
_CHAINS: dict[type, tuple[str, ...]] = {
    activations.Sigmoid: ("numpy.negative({i}, out={o})", "numpy.logaddexp(0.0, {o}, out={o})",
                          "numpy.negative({o}, out={o})", "numpy.exp({o}, out={o})"),
    activations.Softplus: ("numpy.logaddexp(0.0, {i}, out={o})",),
    activations.ReLU: ("numpy.maximum({i}, 0.0, out={o})",),
}


def _is_array(expr: sp.Expr) -> bool:
    return bool(expr.free_symbols - _SCALARS)


def _into(expr: sp.Expr, out: str) -> list[str] | None:
    """In-place lines computing ``expr`` into ``out``, or None when ``expr`` is a bare operand."""
    if expr.is_Symbol or not _is_array(expr):
        return None
    if expr.is_Add:
        return _sum_into(expr, out)
    if expr.is_Mul:
        return _product_into(expr, out)
    if expr.is_Pow:
        return _power_into(expr, out)
    return _call_into(expr, out)


def _source(expr: sp.Expr, out: str) -> tuple[list[str], str]:
    """(lines, operand): ``expr`` computed into ``out`` if it has an in-place form, else printed inline."""
    lines = _into(expr, out)
    return (lines, out) if lines is not None else ([], _code(expr))


def _sum_into(expr: sp.Add, out: str) -> list[str] | None:
    scalar = sp.Add(*[t for t in expr.args if not _is_array(t)])
    terms = [(-t, True) if t.could_extract_minus_sign() else (t, False) for t in expr.args if _is_array(t)]
    if scalar != 0:
        terms.append((scalar, False))
    (first, negated), rest = terms[0], terms[1:]
    lines = _into(first, out)
    if lines is None:  # a bare operand: combine it with the next term in one call
        (second, second_neg), rest = rest[0], rest[1:]
        if negated == second_neg:
            lines = [f"numpy.add({_code(first)}, {_code(second)}, out={out})"]
        else:
            a, b = (second, first) if negated else (first, second)
            lines, negated = [f"numpy.subtract({_code(a)}, {_code(b)}, out={out})"], False
    for term, neg in rest:  # out holds -acc when negated, else acc
        if negated and not neg:
            lines.append(f"numpy.subtract({_code(term)}, {out}, out={out})")
            negated = False
        else:
            op = "subtract" if neg != negated else "add"
            lines.append(f"numpy.{op}({out}, {_code(term)}, out={out})")
    if negated:
        lines.append(f"numpy.negative({out}, out={out})")
    return lines


def _product_into(expr: sp.Mul, out: str) -> list[str] | None:
    scalar = sp.Mul(*[f for f in expr.args if not _is_array(f)])
    arrays = [f for f in expr.args if _is_array(f)]
    den = [f.base ** -f.exp for f in arrays if f.is_Pow and f.exp.is_number and f.exp.is_negative]
    num = [f for f in arrays if not (f.is_Pow and f.exp.is_number and f.exp.is_negative)]
    if not num:
        return None
    first, rest = num[0], num[1:]
    lines = _into(first, out)
    if lines is None:  # a bare operand: combine it with the next factor in one call
        if rest:
            lines, rest = [f"numpy.multiply({_code(first)}, {_code(rest[0])}, out={out})"], rest[1:]
        elif den:
            lines, den = [f"numpy.divide({_code(first)}, {_code(den[0])}, out={out})"], den[1:]
        else:
            lines, scalar = [f"numpy.multiply({_code(first)}, {_code(scalar)}, out={out})"], sp.S.One
    lines += [f"numpy.multiply({out}, {_code(f)}, out={out})" for f in rest]
    lines += [f"numpy.divide({out}, {_code(d)}, out={out})" for d in den]
    if scalar == -1:
        lines.append(f"numpy.negative({out}, out={out})")
    elif scalar != 1:
        lines.append(f"numpy.multiply({out}, {_code(scalar)}, out={out})")
    return lines


def _power_into(expr: sp.Pow, out: str) -> list[str] | None:
    base, e = expr.args
    if _is_array(e):
        return None
    lines, src = _source(base, out)
    if e == 2:
        return lines + [f"numpy.multiply({src}, {src}, out={out})"]
    if e == -1:
        return lines + [f"numpy.divide(1.0, {src}, out={out})"]
    if e == sp.S.Half:
        return lines + [f"numpy.sqrt({src}, out={out})"]
    return lines + [f"numpy.power({src}, {_code(e)}, out={out})"]


def _call_into(expr: sp.Expr, out: str) -> list[str] | None:
    kind = type(expr)
    if kind is sp.Heaviside and expr.args[1] in (0, 1):
        lines, src = _source(expr.args[0], out)
        op = "greater_equal" if expr.args[1] == 1 else "greater"
        return lines + [f"numpy.{op}({src}, 0.0, out={out})"]
    if kind in _UNARY:
        lines, src = _source(expr.args[0], out)
        return lines + [f"numpy.{_UNARY[kind]}({src}, out={out})"]
    if kind in _CHAINS:
        lines, src = _source(expr.args[0], out)
        steps = _CHAINS[kind]
        return lines + [steps[0].format(i=src, o=out)] + [s.format(o=out) for s in steps[1:]]
    return None


def _single_path(expr: sp.Expr, sym: sp.Symbol) -> bool:
    """True when ``expr`` reaches the array ``sym`` once, through steps with no other array operand.

    Then ``_into(expr, str(sym))`` may overwrite ``sym`` itself: each step reads only the running
    value, element by element, before writing it.
    """
    if expr == sym:
        return True
    arrays = [a for a in expr.args if _is_array(a)]
    return len(arrays) == 1 and _single_path(arrays[0], sym) and _into(expr, str(sym)) is not None


def _cse_into(expr: sp.Expr, out: str) -> list[str] | None:
    """Like ``_into``, after hoisting common subexpressions into temporaries (``_t0 = ...``)."""
    replacements, (reduced,) = sp.cse([expr], symbols=sp.numbered_symbols("_t"), optimizations="basic")
    lines = _into(reduced, out)
    if lines is None:
        return None
    return [f"{sym} = {_code(sub)}" for sym, sub in replacements] + lines


def _into_buffer(target: str, expr: sp.Expr, buffers: dict[str, int], width: int) -> list[str]:
    """``target = expr``: in place into the workspace array ``target`` when possible, else with CSE."""
    lines = _cse_into(expr, target)
    if lines is None or target in {str(s) for s in expr.free_symbols}:
        return _elementwise(target, expr)
    buffers[target] = width
    return [f"{target} = _ws[{target!r}]"] + lines


def _scale_by(target: str, expr: sp.Expr, scratch: str, buffers: dict[str, int], width: int) -> list[str]:
    """``target *= expr``, with ``expr`` evaluated in place into the workspace array ``scratch``."""
    lines = _cse_into(expr, scratch)
    if lines is None:
        return _elementwise(target, expr, op="*=")
    buffers[scratch] = width
    return [f"{scratch} = _ws[{scratch!r}]"] + lines + [f"{target} *= {scratch}"]


# --------------------------------------------------------------------------- the program


def _act_form(act: Activation, Z: sp.Symbol) -> sp.Expr:
    return activations.sympy_form(act, activations.Z).xreplace({activations.Z: Z})


def _act_derivative(act: Activation, Z: sp.Symbol, A: sp.Symbol) -> sp.Expr:
    """f'(z) written with the activation a = f(z) wherever that saves work (1 - a^2 for tanh)."""
    f = activations.sympy_form(act, activations.Z)
    d = activations.derivative_form(act, activations.Z)
    if act.name != "identity":
        d = d.subs(f, A)
    return d.xreplace({activations.Z: Z})


def _forward_lines(net: Network, buffers: dict[str, int], keep_z: set[int], fresh_output: bool) -> list[str]:
    """z = a W^T + b and a = f(z) per layer; Z^{[l]} is overwritten by A^{[l]} unless l is in ``keep_z``."""
    lines = ["A0 = X"]
    for l, act in enumerate(net.activations, start=1):
        width = net.layers[l]
        if l == net.depth and fresh_output:  # the caller keeps this array
            lines.append(f"Z{l} = A{l - 1} @ W[{l - 1}].T")
        else:
            buffers[f"Z{l}"] = width
            lines.append(f"Z{l} = numpy.matmul(A{l - 1}, W[{l - 1}].T, out=_ws['Z{l}'])")
        lines.append(f"Z{l} += b[{l - 1}]")
        if act.name == "identity":
            lines.append(f"A{l} = Z{l}")
        elif act.name == "softmax":
            lines.append(f"A{l} = _softmax(Z{l})")
        else:
            Z = sp.Symbol(f"Z{l}", real=True)
            form = _act_form(act, Z)
            if l not in keep_z and _single_path(form, Z):
                lines += _into(form, f"Z{l}") + [f"A{l} = Z{l}"]
            elif l == net.depth and fresh_output:  # the caller keeps A^{[L]}: not a workspace array
                lines += _elementwise(f"A{l}", form)
            else:
                lines += _into_buffer(f"A{l}", form, buffers, width)
    return lines


def _loss_lines(net: Network) -> list[str]:
    """``ell`` = the per-entry loss over the batch (stable fused forms for bce and cross-entropy)."""
    L, loss = net.depth, net.loss_name
    if loss == "bce":  # sigmoid output: ell = softplus(z) - y z, stable for any z
        return [f"ell = numpy.logaddexp(0, Z{L}) - Y * Z{L}"]
    if loss == "cross_entropy":  # softmax output: ell = sum(y) logsumexp(z) - sum(y z)
        return [f"ell = Y.sum(axis=1) * _logsumexp(Z{L}) - (Y * Z{L}).sum(axis=1)"]
    sub = {losses.A: sp.Symbol(f"A{L}", real=True), losses.Y: sp.Symbol("Y", real=True)}
    return _elementwise("ell", losses.element(loss).xreplace(sub))


def _output_delta(net: Network, buffers: dict[str, int]) -> tuple[list[str], sp.Expr | None]:
    """Lines computing D^{[L]} = dC/dz^{[L]}, scale included, and the element-wise form used (if any)."""
    L, loss, out = net.depth, net.loss_name, net.output.name
    ZL, AL, Ysym = (sp.Symbol(s, real=True) for s in (f"Z{L}", f"A{L}", "Y"))
    scale = losses.scale(loss).xreplace({losses.N: N_SYM, losses.M: M_SYM})
    if loss == "cross_entropy":
        return [f"D{L} = A{L} * Y.sum(axis=1, keepdims=True) - Y", f"D{L} *= {_code(scale)}"], None
    if out == "softmax":
        g = losses.element_derivative(loss).xreplace({losses.A: AL, losses.Y: Ysym})
        lines = _elementwise("G", g) + [f"D{L} = A{L} * (G - (G * A{L}).sum(axis=1, keepdims=True))"]
        return lines + [f"D{L} *= {_code(scale)}"], None
    if loss == "bce":  # sigmoid output: dell/dz = a - y
        form = AL - Ysym
    else:
        g = losses.element_derivative(loss).xreplace({losses.A: AL, losses.Y: Ysym})
        form = sp.factor_terms(g * _act_derivative(net.output, ZL, AL))
    form = sp.Mul(scale, form)
    return _into_buffer(f"D{L}", form, buffers, net.layers[L]), form


def _backward_lines(net: Network, buffers: dict[str, int]) -> list[str]:
    """The four equations from D^{[L]} down: dW, db per layer and D^{[l-1]} = (D^{[l]} W^{[l]}) * f'(z)."""
    lines = _output_delta(net, buffers)[0]
    for l in range(net.depth, 0, -1):
        lines.append(f"dW[{l - 1}] = D{l}.T @ A{l - 1}")
        lines.append(f"db[{l - 1}] = _ones @ D{l}")  # sum over samples as one BLAS matrix-vector product
        if l > 1:
            width = net.layers[l - 1]
            lines.append(f"D{l - 1} = D{l} @ W[{l - 1}]")
            act = net.activations[l - 2]
            if act.name != "identity":
                Z, A = sp.Symbol(f"Z{l - 1}", real=True), sp.Symbol(f"A{l - 1}", real=True)
                lines += _scale_by(f"D{l - 1}", _act_derivative(act, Z, A), f"F{l - 1}", buffers, width)
    return lines


def _z_needed_by_gradient(net: Network) -> set[int]:
    """Layers whose pre-activation Z^{[l]} the backward pass or the loss reads (so a must not overwrite it)."""
    keep = {l for l in range(1, net.depth) if sp.Symbol(f"Z{l}", real=True) in
            _act_derivative(net.activations[l - 1], sp.Symbol(f"Z{l}", real=True),
                            sp.Symbol(f"A{l}", real=True)).free_symbols}
    form = _output_delta(net, {})[1]
    if net.loss_name in ("bce", "cross_entropy") or form is None or sp.Symbol(f"Z{net.depth}", real=True) in form.free_symbols:
        keep.add(net.depth)
    return keep


def generate_source(net: Network) -> str:
    """The Python source of ``_forward``, ``_loss``, ``_gradient`` and their workspace ``_buffers``."""
    L = net.depth
    buffers: dict[str, int] = {}
    fused = {net.depth} if net.loss_name in ("bce", "cross_entropy") else set()
    fwd_only = _forward_lines(net, buffers, set(), fresh_output=True)
    fwd_loss = _forward_lines(net, buffers, fused, fresh_output=False)
    fwd_grad = _forward_lines(net, buffers, _z_needed_by_gradient(net), fresh_output=False)
    loss_lines = _loss_lines(net)
    scale = _code(losses.scale(net.loss_name).xreplace({losses.N: N_SYM, losses.M: M_SYM}))
    total = "ell.sum()" if scale == "1" else f"{scale} * ell.sum()"
    bwd = _backward_lines(net, buffers)
    head = ["N = X.shape[0]", "m = Y.shape[1]", "if _ws is None:", "    _ws = _buffers(N)"]
    ones = ["_ones = _ws['_ones']"]

    def fn(name: str, args: str, body: list[str]) -> str:
        return f"def {name}({args}):\n" + "".join(f"    {line}\n" for line in body)

    shapes = ", ".join([f"{name!r}: numpy.empty((N, {width}))" for name, width in sorted(buffers.items())]
                       + ["'_ones': numpy.ones(N)"])
    src = [
        f"# symprop: compiled exact loss and gradient for {net!r}\n"
        "# _ws: workspace of (N, n) float64 arrays, reused across calls with the same N (see _buffers)\n",
        fn("_buffers", "N", [f"return {{{shapes}}}"]),
        fn("_forward", "W, b, X, _ws=None", ["if _ws is None:", "    _ws = _buffers(X.shape[0])"]
           + fwd_only + [f"return A{L}"]),
        fn("_loss", "W, b, X, Y, _ws=None", head + fwd_loss + loss_lines + [f"return float({total})"]),
        fn(
            "_gradient",
            "W, b, X, Y, want_loss=False, _ws=None",
            head + fwd_grad
            + ["loss = None", "if want_loss:"] + ["    " + s for s in loss_lines]
            + [f"    loss = float({total})", f"dW = [None] * {L}", f"db = [None] * {L}"] + ones
            + bwd + ["return loss, dW, db"],
        ),
    ]
    return "\n".join(src)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1)
    return top + np.log(np.exp(z - top[:, None]).sum(axis=1))


class CompiledNetwork:
    """Fast float64 loss, prediction and exact gradient of one network (see ``source``).

    Each thread keeps one workspace of (N, n) arrays for the last batch size N it used, so repeated
    calls with the same N allocate only their results; ``release_workspace()`` frees it.
    """

    def __init__(self, net: Network) -> None:
        self.net = net
        self.source = generate_source(net)
        namespace: dict[str, Any] = {"numpy": np, "_softmax": _softmax, "_logsumexp": _logsumexp}
        exec(compile(self.source, f"<symprop compiled {net!r}>", "exec"), namespace)
        self._buffers = namespace["_buffers"]
        self._forward = namespace["_forward"]
        self._loss = namespace["_loss"]
        self._gradient = namespace["_gradient"]
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"<CompiledNetwork of {self.net!r}>"

    def _workspace(self, n_samples: int) -> dict[str, np.ndarray]:
        cached = getattr(self._local, "workspace", None)
        if cached is None or cached[0] != n_samples:
            cached = (n_samples, self._buffers(n_samples))
            self._local.workspace = cached
        return cached[1]

    def release_workspace(self) -> None:
        """Free the cached work arrays of every thread (they are made again on the next call)."""
        self._local = threading.local()

    # -------------------------------------------------------------- validated, name-keyed API
    def forward(self, values: Any, X: Any) -> np.ndarray:
        """Predictions, shape (N, n_L)."""
        W, b = parse_values(self.net, values)
        X = as_matrix(X, "X", self.net.n_inputs)
        return self._forward(W, b, X, self._workspace(X.shape[0]))

    def loss(self, values: Any, X: Any, Y: Any) -> float:
        W, b = parse_values(self.net, values)
        X, Y = as_data(self.net, X, Y)
        return self._loss(W, b, X, Y, self._workspace(X.shape[0]))

    def gradient(self, values: Any, X: Any, Y: Any) -> dict[str, float]:
        """dict parameter name -> dL/dparam at these values."""
        return self.loss_and_gradient(values, X, Y)[1]

    def loss_and_gradient(self, values: Any, X: Any, Y: Any) -> tuple[float, dict[str, float]]:
        W, b = parse_values(self.net, values)
        X, Y = as_data(self.net, X, Y)
        loss, dW, db = self._gradient(W, b, X, Y, True, self._workspace(X.shape[0]))
        return loss, arrays_to_dict(self.net, dW, db)

    # -------------------------------------------------------------- array API (hot loops)
    def gradient_arrays(self, weights, biases, X, Y, check: bool = True):
        """(grad_weights, grad_biases) in the W^{[l]} convention; ``check=False`` skips validation."""
        if check:
            weights, biases = parse_values(self.net, (weights, biases))
            X, Y = as_data(self.net, X, Y)
        _, dW, db = self._gradient(weights, biases, X, Y, False, self._workspace(len(X)))
        return dW, db

    def loss_arrays(self, weights, biases, X, Y, check: bool = True) -> float:
        if check:
            weights, biases = parse_values(self.net, (weights, biases))
            X, Y = as_data(self.net, X, Y)
        return self._loss(weights, biases, X, Y, self._workspace(len(X)))

    def forward_arrays(self, weights, biases, X) -> np.ndarray:
        return self._forward(weights, biases, X, self._workspace(len(X)))


@lru_cache(maxsize=128)
def compile_network(net: Network) -> CompiledNetwork:
    """Compile (once per network spec; the result is cached)."""
    return CompiledNetwork(net)
