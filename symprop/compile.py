"""Compile a network's exact loss and gradient to one NumPy program that keeps the layer structure.

The program is the four backprop equations in matrix form, as generated Python source:
matrix products for the chain rule across layers, and for every element-wise factor (f'(z), dell/da,
the fused output deltas) the exact SymPy derivative printed as numerically stable NumPy code after
common-subexpression elimination. Nothing here differentiates an expanded loss, so derive + compile
costs the same for 10 parameters as for 10,000. ``CompiledNetwork.source`` shows the program.

Speed: the samples are processed in blocks of rows (``block_rows``, about 256 KiB per work array),
so a block's whole forward and backward pass runs on arrays that stay in the CPU cache and the sums
over samples (loss, dW, db) accumulate block by block; on wide layers this makes the gradient about
1.5x faster than one pass over the whole batch. The work arrays live in a per-thread workspace whose
size does not depend on the batch, matrix products write into it (``numpy.matmul(..., out=)``), and
element-wise factors are evaluated by in-place ufunc calls (``numpy.multiply(A1, A1, out=F1)``) where
their form allows, so a gradient call allocates only its results. The closed-form expanded
derivatives (``Network.gradient``) are never built here; they stay available for printing.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from . import activations, losses
from .errors import warn_nonfinite
from .spec import Activation, Network, as_data, as_matrix, gradient_to_dict, parse_values


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
#: the targets of the current block of rows in the generated program
Y_SYM = sp.Symbol("Yb", real=True)
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
    sp.tanh: "tanh",
    sp.exp: "exp",
    sp.log: "log",
    sp.sin: "sin",
    sp.cos: "cos",
    sp.sinh: "sinh",
    sp.cosh: "cosh",
    sp.Abs: "absolute",
}
# activations with a stable NumPy form, as chains of in-place steps from input {i} to output {o}
_CHAINS: dict[type, tuple[str, ...]] = {
    activations.Sigmoid: (
        "numpy.negative({i}, out={o})",
        "numpy.logaddexp(0.0, {o}, out={o})",
        "numpy.negative({o}, out={o})",
        "numpy.exp({o}, out={o})",
    ),
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
    den = [f.base**-f.exp for f in arrays if f.is_Pow and f.exp.is_number and f.exp.is_negative]
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
    """z = a W^T + b and a = f(z) per layer, for one block of rows (A0 = that block of X).

    Z^{[l]} is overwritten by A^{[l]} unless l is in ``keep_z``. With ``fresh_output`` the last layer
    is written straight into the caller's result rows ``_out[_i:_j]`` instead of a work array.
    """
    lines = ["A0 = X[_i:_j]"]
    for l, act in enumerate(net.activations, start=1):
        width = net.layers[l]
        last_fresh = l == net.depth and fresh_output
        target = "_out[_i:_j]" if last_fresh else f"_ws['Z{l}']"
        if not last_fresh:
            buffers[f"Z{l}"] = width
        lines.append(f"Z{l} = numpy.matmul(A{l - 1}, W[{l - 1}].T, out={target})")
        lines.append(f"Z{l} += b[{l - 1}]")
        if act.name == "identity":
            lines.append(f"A{l} = Z{l}")
        elif act.name == "softmax" and last_fresh:
            lines += [f"Z{l}[...] = _softmax(Z{l})", f"A{l} = Z{l}"]
        elif act.name == "softmax":
            lines.append(f"A{l} = _softmax(Z{l})")
        else:
            Z = sp.Symbol(f"Z{l}", real=True)
            form = _act_form(act, Z)
            if (l not in keep_z or last_fresh) and _single_path(form, Z):
                lines += _into(form, f"Z{l}") + [f"A{l} = Z{l}"]
            elif last_fresh:  # no in-place form: compute, then copy into the result rows
                lines += _elementwise(f"Z{l}[...]", form) + [f"A{l} = Z{l}"]
            else:
                lines += _into_buffer(f"A{l}", form, buffers, width)
    return lines


def _loss_lines(net: Network) -> list[str]:
    """``ell`` = the per-entry loss over one block (stable fused forms for bce and cross-entropy)."""
    L, loss = net.depth, net.loss_name
    if loss == "bce":  # sigmoid output: ell = softplus(z) - y z, stable for any z
        return [f"ell = numpy.logaddexp(0, Z{L}) - Yb * Z{L}"]
    if loss == "cross_entropy":  # softmax output: ell = sum(y) logsumexp(z) - sum(y z)
        return [f"ell = Yb.sum(axis=1) * _logsumexp(Z{L}) - (Yb * Z{L}).sum(axis=1)"]
    sub = {losses.A: sp.Symbol(f"A{L}", real=True), losses.Y: Y_SYM}
    return _elementwise("ell", losses.element(loss).xreplace(sub))


def _output_delta(net: Network, buffers: dict[str, int]) -> tuple[list[str], sp.Expr | None]:
    """Lines computing D^{[L]} = dC/dz^{[L]}, scale included, and the element-wise form used (if any)."""
    L, loss, out = net.depth, net.loss_name, net.output.name
    ZL, AL = (sp.Symbol(s, real=True) for s in (f"Z{L}", f"A{L}"))
    scale = losses.scale(net).xreplace({losses.N: N_SYM, losses.M: M_SYM})
    if loss == "cross_entropy":
        return [f"D{L} = A{L} * Yb.sum(axis=1, keepdims=True) - Yb", f"D{L} *= {_code(scale)}"], None
    if out == "softmax":
        g = losses.element_derivative(loss).xreplace({losses.A: AL, losses.Y: Y_SYM})
        lines = _elementwise("G", g) + [f"D{L} = A{L} * (G - (G * A{L}).sum(axis=1, keepdims=True))"]
        return lines + [f"D{L} *= {_code(scale)}"], None
    if loss == "bce":  # sigmoid output: dell/dz = a - y
        form = AL - Y_SYM
    else:
        g = losses.element_derivative(loss).xreplace({losses.A: AL, losses.Y: Y_SYM})
        form = sp.factor_terms(g * _act_derivative(net.output, ZL, AL))
    form = sp.Mul(scale, form)
    return _into_buffer(f"D{L}", form, buffers, net.layers[L]), form


def _backward_lines(net: Network, buffers: dict[str, int], products: dict[str, tuple[int, ...]]) -> list[str]:
    """The four equations from D^{[L]} down, for one block: dW, db accumulate over blocks and
    D^{[l-1]} = (D^{[l]} W^{[l]}) * f'(z). Matrix products write into work arrays (``out=``)."""
    lines = _output_delta(net, buffers)[0]
    for l in range(net.depth, 0, -1):
        rows, cols = net.layers[l], net.layers[l - 1]
        products[f"gW{l - 1}"], products[f"gb{l - 1}"] = (rows, cols), (rows,)
        # dC/dW^{[l]} = (D^{[l]})^T A^{[l-1]} and dC/db^{[l]} = 1^T D^{[l]}: sums over this block's samples
        lines.append(f"dW[{l - 1}] += numpy.matmul(D{l}.T, A{l - 1}, out=_ws['gW{l - 1}'])")
        lines.append(f"db[{l - 1}] += numpy.matmul(_ones, D{l}, out=_ws['gb{l - 1}'])")
        if l > 1:
            width = net.layers[l - 1]
            buffers[f"D{l - 1}"] = width
            lines.append(f"D{l - 1} = numpy.matmul(D{l}, W[{l - 1}], out=_ws['D{l - 1}'])")
            act = net.activations[l - 2]
            if act.name != "identity":
                Z, A = sp.Symbol(f"Z{l - 1}", real=True), sp.Symbol(f"A{l - 1}", real=True)
                lines += _scale_by(f"D{l - 1}", _act_derivative(act, Z, A), f"F{l - 1}", buffers, width)
    return lines


def _z_needed_by_gradient(net: Network) -> set[int]:
    """Layers whose pre-activation Z^{[l]} the backward pass or the loss reads (so a must not overwrite it)."""
    keep = {
        l
        for l in range(1, net.depth)
        if sp.Symbol(f"Z{l}", real=True)
        in _act_derivative(
            net.activations[l - 1], sp.Symbol(f"Z{l}", real=True), sp.Symbol(f"A{l}", real=True)
        ).free_symbols
    }
    form = _output_delta(net, {})[1]
    if (
        net.loss_name in ("bce", "cross_entropy")
        or form is None
        or sp.Symbol(f"Z{net.depth}", real=True) in form.free_symbols
    ):
        keep.add(net.depth)
    return keep


#: target size of one per-row work array, in float64 entries (256 KiB): a block's arrays stay in cache
BLOCK_ENTRIES = 32_768
MIN_BLOCK_ROWS, MAX_BLOCK_ROWS = 64, 8_192


def block_rows(net: Network) -> int:
    """Default rows per block: about BLOCK_ENTRIES entries in the widest layer's work array."""
    return max(MIN_BLOCK_ROWS, min(MAX_BLOCK_ROWS, BLOCK_ENTRIES // max(net.layers)))


def generate_source(net: Network) -> str:
    """The Python source of ``_forward``, ``_loss``, ``_gradient`` and their workspace ``_buffers``.

    Each function walks the samples in blocks of rows (``_B`` = the workspace's row count): the whole
    forward and backward pass of one block runs on small work arrays that stay in the CPU cache, and
    the sums over samples (loss, dW, db) accumulate across blocks.
    """
    L = net.depth
    buffers: dict[str, int] = {}
    products: dict[str, tuple[int, ...]] = {}
    fused = {net.depth} if net.loss_name in ("bce", "cross_entropy") else set()
    fwd_only = _forward_lines(net, buffers, set(), fresh_output=True)
    fwd_loss = _forward_lines(net, buffers, fused, fresh_output=False)
    fwd_grad = _forward_lines(net, buffers, _z_needed_by_gradient(net), fresh_output=False)
    loss_lines = _loss_lines(net)
    scale = _code(losses.scale(net).xreplace({losses.N: N_SYM, losses.M: M_SYM}))
    total = "_total" if scale == "1" else f"{scale} * _total"
    # l2: lam * sum(W**2) over every weight entry joins the loss, 2 lam W each weight's gradient
    decay: list[str] = []
    if net.l2:
        lam, twice = repr(float(net.l2)), repr(float(2 * net.l2))
        total = f"{total} + {lam} * ({' + '.join(f'numpy.vdot(W[{l}], W[{l}])' for l in range(L))})"
        decay = [f"dW[{l}] += {twice} * W[{l}]" for l in range(L)]
    bwd = _backward_lines(net, buffers, products)
    rows = sorted(buffers)

    def fn(name: str, args: str, body: list[str]) -> str:
        return f"def {name}({args}):\n" + "".join(f"    {line}\n" for line in body)

    def blocks(body: list[str], targets: bool) -> list[str]:
        """Loop over row blocks; ``_ws`` is the workspace cut to the block's row count."""
        return (
            [
                "for _i in range(0, N, _B):",
                "    _j = min(_i + _B, N)",
                "    _ws = _work if _j - _i == _B else _rows(_work, _j - _i)",
            ]
            + (["    Yb = Y[_i:_j]"] if targets else [])
            + ["    " + line for line in body]
        )

    head = ["N = X.shape[0]", "if _work is None:", "    _work = _buffers()", "_B = _work['_ones'].shape[0]"]
    shapes = ", ".join(
        [f"{name!r}: numpy.empty((B, {width}))" for name, width in sorted(buffers.items())]
        + [f"{name!r}: numpy.empty({shape!r})" for name, shape in sorted(products.items())]
        + ["'_ones': numpy.ones(B)"]
    )
    cut = ", ".join(f"{name!r}: _work[{name!r}][:r]" for name in rows + ["_ones"])
    zeros_w = ", ".join(f"numpy.zeros(({a}, {b}))" for a, b in zip(net.layers[1:], net.layers))
    zeros_b = ", ".join(f"numpy.zeros({a})" for a in net.layers[1:])
    src = [
        f"# symprop: compiled exact loss and gradient for {net!r}\n"
        "# Samples are processed in blocks of _B rows; _work holds the (_B, n) float64 work arrays and the\n"
        "# per-block products, reused across calls (see _buffers); _rows cuts it for the last, shorter block.\n"
        f"_ROWS = {block_rows(net)}\n",
        fn("_buffers", "B=_ROWS", [f"return {{{shapes}}}"]),
        fn("_rows", "_work, r", [f"return {{**_work, {cut}}}"]),
        fn(
            "_forward",
            "W, b, X, _work=None",
            head + [f"_out = numpy.empty((N, {net.layers[-1]}))"] + blocks(fwd_only, targets=False) + ["return _out"],
        ),
        fn(
            "_loss",
            "W, b, X, Y, _work=None",
            head
            + ["m = Y.shape[1]", "_total = 0.0"]
            + blocks(fwd_loss + loss_lines + ["_total += ell.sum()"], targets=True)
            + [f"return float({total})"],
        ),
        fn(
            "_gradient",
            "W, b, X, Y, want_loss=False, _work=None",
            head
            + ["m = Y.shape[1]", "_total = 0.0", f"dW = [{zeros_w}]", f"db = [{zeros_b}]"]
            + blocks(
                fwd_grad
                + ["if want_loss:"]
                + ["    " + s for s in loss_lines]
                + ["    _total += ell.sum()"]
                + ["_ones = _ws['_ones']"]
                + bwd,
                targets=True,
            )
            + decay
            + [f"loss = float({total}) if want_loss else None", "return loss, dW, db"],
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

    Samples are processed in blocks of ``block_rows`` rows (default: ``block_rows(net)``, about 256 KiB
    per work array) so each block's forward and backward pass stays in the CPU cache. Each thread keeps
    one workspace of (block_rows, n) arrays, whatever the batch size, so repeated calls allocate only
    their results; ``release_workspace()`` frees it.
    """

    def __init__(self, net: Network, block_rows: int | None = None) -> None:
        if block_rows is not None and (
            isinstance(block_rows, bool) or not isinstance(block_rows, int) or block_rows < 1
        ):
            raise ValueError(f"block_rows must be a positive integer (rows of samples per block), got {block_rows!r}")
        self.net = net
        self.source = generate_source(net)
        namespace: dict[str, Any] = {"numpy": np, "_softmax": _softmax, "_logsumexp": _logsumexp}
        exec(compile(self.source, f"<symprop compiled {net!r}>", "exec"), namespace)
        self.block_rows = namespace["_ROWS"] if block_rows is None else block_rows
        self._buffers = namespace["_buffers"]
        self._forward = namespace["_forward"]
        self._loss = namespace["_loss"]
        self._gradient = namespace["_gradient"]
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"<CompiledNetwork of {self.net!r}>"

    def _workspace(self) -> dict[str, np.ndarray]:
        work = getattr(self._local, "workspace", None)
        if work is None:
            work = self._local.workspace = self._buffers(self.block_rows)
        return work

    def release_workspace(self) -> None:
        """Free the cached work arrays of every thread (they are made again on the next call)."""
        self._local = threading.local()

    # -------------------------------------------------------------- validated, name-keyed API
    def forward(self, values: Any, X: Any) -> np.ndarray:
        """Predictions, shape (N, n_L)."""
        W, b = parse_values(self.net, values)
        X = as_matrix(X, "X", self.net.n_inputs)
        with np.errstate(all="ignore"):  # overflow gives inf/nan, reported by one OverflowWarning
            out = self._forward(W, b, X, self._workspace())
        warn_nonfinite("the forward pass", [("the largest |prediction|", float(np.max(np.abs(out), initial=0.0)))])
        return out

    def loss(self, values: Any, X: Any, Y: Any) -> float:
        W, b = parse_values(self.net, values)
        X, Y = as_data(self.net, X, Y)
        with np.errstate(all="ignore"):
            loss = self._loss(W, b, X, Y, self._workspace())
        warn_nonfinite("the loss", [("L", float(loss))])
        return loss

    def gradient(self, values: Any, X: Any, Y: Any) -> dict[str, float]:
        """dict parameter name -> dL/dparam at these values."""
        return self.loss_and_gradient(values, X, Y)[1]

    def loss_and_gradient(self, values: Any, X: Any, Y: Any) -> tuple[float, dict[str, float]]:
        W, b = parse_values(self.net, values)
        X, Y = as_data(self.net, X, Y)
        with np.errstate(all="ignore"):  # overflow gives inf/nan, reported by one OverflowWarning
            loss, dW, db = self._gradient(W, b, X, Y, True, self._workspace())
        grads = gradient_to_dict(self.net, dW, db)
        warn_nonfinite(
            "the loss or its gradient",
            [("L", float(loss)), *((f"dL/d{n}", g) for n, g in grads.items())],
            "; net.gradient(X, Y, values=...) gives the exact values",
        )
        return loss, grads

    # -------------------------------------------------------------- array API (hot loops)
    def gradient_arrays(self, weights, biases, X, Y, check: bool = True):
        """(grad_weights, grad_biases) in the W^{[l]} convention; ``check=False`` skips validation.

        One derivative per weight/bias *entry*: a tied parameter's gradient is the sum over its entries
        (``spec.gradient_to_dict``)."""
        if check:
            weights, biases = parse_values(self.net, (weights, biases))
            X, Y = as_data(self.net, X, Y)
        with np.errstate(all="ignore"):  # overflow gives inf/nan; the name-keyed API warns once
            _, dW, db = self._gradient(weights, biases, X, Y, False, self._workspace())
        return dW, db

    def loss_arrays(self, weights, biases, X, Y, check: bool = True) -> float:
        if check:
            weights, biases = parse_values(self.net, (weights, biases))
            X, Y = as_data(self.net, X, Y)
        with np.errstate(all="ignore"):
            return self._loss(weights, biases, X, Y, self._workspace())

    def forward_arrays(self, weights, biases, X) -> np.ndarray:
        return self._forward(weights, biases, X, self._workspace())


@lru_cache(maxsize=128)
def compile_network(net: Network) -> CompiledNetwork:
    """Compile (once per network spec; the result is cached)."""
    return CompiledNetwork(net)
