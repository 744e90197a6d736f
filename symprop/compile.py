"""Compile a network's exact loss and gradient to one NumPy program that keeps the layer structure.

The program is the four backprop equations in matrix form, as generated Python source:
matrix products for the chain rule across layers, and for every element-wise factor (f'(z), dell/da,
the fused output deltas) the exact SymPy derivative printed as numerically stable NumPy code after
common-subexpression elimination. Nothing here differentiates an expanded loss, so derive + compile
costs the same for 10 parameters as for 10,000. ``CompiledNetwork.source`` shows the program.
"""

from __future__ import annotations

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


def _code(expr: sp.Expr) -> str:
    return _printer.doprint(expr)


def _elementwise(target: str, expr: sp.Expr, op: str = "=") -> list[str]:
    """Source lines computing ``target op expr`` with common subexpressions hoisted."""
    replacements, (reduced,) = sp.cse([expr], symbols=sp.numbered_symbols("_t"), optimizations="basic")
    lines = [f"{sym} = {_code(sub)}" for sym, sub in replacements]
    lines.append(f"{target} {op} {_code(reduced)}")
    return lines


def _act_forward(act: Activation, Z: sp.Symbol) -> list[str] | str:
    if act.name == "identity":
        return []
    if act.name == "softmax":
        return [f"{_a(Z)} = _softmax({Z})"]
    return _elementwise(_a(Z), activations.sympy_form(act, activations.Z).xreplace({activations.Z: Z}))


def _a(Z: sp.Symbol) -> str:
    return "A" + str(Z)[1:]


def _act_derivative(act: Activation, Z: sp.Symbol, A: sp.Symbol) -> sp.Expr:
    """f'(z) written with the activation a = f(z) wherever that saves work (1 - a^2 for tanh)."""
    f = activations.sympy_form(act, activations.Z)
    d = activations.derivative_form(act, activations.Z)
    if act.name != "identity":
        d = d.subs(f, A)
    return d.xreplace({activations.Z: Z})


def generate_source(net: Network) -> str:
    """The Python source of ``_forward``, ``_loss`` and ``_gradient`` for this network."""
    L = net.depth
    Zs = [sp.Symbol(f"Z{l}", real=True) for l in range(L + 1)]
    As = [sp.Symbol(f"A{l}", real=True) for l in range(L + 1)]
    Ysym = sp.Symbol("Y", real=True)
    Nsym, Msym = sp.Symbol("N"), sp.Symbol("m")

    fwd: list[str] = ["A0 = X"]
    for l in range(1, L + 1):
        fwd.append(f"Z{l} = A{l - 1} @ W[{l - 1}].T")
        fwd.append(f"Z{l} += b[{l - 1}]")
        act = net.activations[l - 1]
        fwd += _act_forward(act, Zs[l]) if act.name != "identity" else [f"A{l} = Z{l}"]

    out, loss = net.output.name, net.loss_name
    scale = _code(losses.scale(loss).xreplace({losses.N: Nsym, losses.M: Msym}))
    AL, ZL = f"A{L}", f"Z{L}"
    if loss == "bce":  # sigmoid output: ell = softplus(z) - y z, stable for any z
        loss_lines = [f"ell = numpy.logaddexp(0, {ZL}) - Y * {ZL}"]
        delta_lines = [f"D{L} = {AL} - Y"]
    elif loss == "cross_entropy":  # softmax output: ell = sum(y) logsumexp(z) - sum(y z)
        loss_lines = [f"ell = Y.sum(axis=1) * _logsumexp({ZL}) - (Y * {ZL}).sum(axis=1)"]
        delta_lines = [f"D{L} = {AL} * Y.sum(axis=1, keepdims=True) - Y"]
    else:
        sub = {losses.A: As[L], losses.Y: Ysym}
        loss_lines = _elementwise("ell", losses.element(loss).xreplace(sub))
        g = losses.element_derivative(loss).xreplace(sub)
        if out == "softmax":
            delta_lines = _elementwise("G", g) + [f"D{L} = {AL} * (G - (G * {AL}).sum(axis=1, keepdims=True))"]
        else:
            delta_lines = _elementwise(f"D{L}", g * _act_derivative(net.output, Zs[L], As[L]))
    head = ["N = X.shape[0]", "m = Y.shape[1]"]

    bwd = list(delta_lines) + ([] if scale == "1" else [f"D{L} *= {scale}"])
    total = "ell.sum()" if scale == "1" else f"{scale} * ell.sum()"
    for l in range(L, 0, -1):
        bwd.append(f"dW[{l - 1}] = D{l}.T @ A{l - 1}")
        bwd.append(f"db[{l - 1}] = D{l}.sum(axis=0)")
        if l > 1:
            bwd.append(f"D{l - 1} = D{l} @ W[{l - 1}]")
            act = net.activations[l - 2]
            if act.name != "identity":
                bwd += _elementwise(f"D{l - 1}", _act_derivative(act, Zs[l - 1], As[l - 1]), op="*=")

    def fn(name: str, args: str, body: list[str]) -> str:
        return f"def {name}({args}):\n" + "".join(f"    {line}\n" for line in body)

    src = [
        f"# symprop: compiled exact loss and gradient for {net!r}\n",
        fn("_forward", "W, b, X", fwd + [f"return A{L}"]),
        fn("_loss", "W, b, X, Y", head + fwd + loss_lines + [f"return float({total})"]),
        fn(
            "_gradient",
            "W, b, X, Y, want_loss=False",
            head + fwd
            + ["loss = None", "if want_loss:"] + ["    " + s for s in loss_lines]
            + [f"    loss = float({total})", f"dW = [None] * {L}", f"db = [None] * {L}"]
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
    """Fast float64 loss, prediction and exact gradient of one network (see ``source``)."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.source = generate_source(net)
        namespace: dict[str, Any] = {"numpy": np, "_softmax": _softmax, "_logsumexp": _logsumexp}
        exec(compile(self.source, f"<symprop compiled {net!r}>", "exec"), namespace)
        self._forward = namespace["_forward"]
        self._loss = namespace["_loss"]
        self._gradient = namespace["_gradient"]

    def __repr__(self) -> str:
        return f"<CompiledNetwork of {self.net!r}>"

    # -------------------------------------------------------------- validated, name-keyed API
    def forward(self, values: Any, X: Any) -> np.ndarray:
        """Predictions, shape (N, n_L)."""
        W, b = parse_values(self.net, values)
        return self._forward(W, b, as_matrix(X, "X", self.net.n_inputs))

    def loss(self, values: Any, X: Any, Y: Any) -> float:
        W, b = parse_values(self.net, values)
        X, Y = as_data(self.net, X, Y)
        return self._loss(W, b, X, Y)

    def gradient(self, values: Any, X: Any, Y: Any) -> dict[str, float]:
        """dict parameter name -> dL/dparam at these values."""
        return self.loss_and_gradient(values, X, Y)[1]

    def loss_and_gradient(self, values: Any, X: Any, Y: Any) -> tuple[float, dict[str, float]]:
        W, b = parse_values(self.net, values)
        X, Y = as_data(self.net, X, Y)
        loss, dW, db = self._gradient(W, b, X, Y, True)
        return loss, arrays_to_dict(self.net, dW, db)

    # -------------------------------------------------------------- array API (hot loops)
    def gradient_arrays(self, weights, biases, X, Y, check: bool = True):
        """(grad_weights, grad_biases) in the W^{[l]} convention; ``check=False`` skips validation."""
        if check:
            weights, biases = parse_values(self.net, (weights, biases))
            X, Y = as_data(self.net, X, Y)
        _, dW, db = self._gradient(weights, biases, X, Y, False)
        return dW, db

    def loss_arrays(self, weights, biases, X, Y, check: bool = True) -> float:
        if check:
            weights, biases = parse_values(self.net, (weights, biases))
            X, Y = as_data(self.net, X, Y)
        return self._loss(weights, biases, X, Y)

    def forward_arrays(self, weights, biases, X) -> np.ndarray:
        return self._forward(weights, biases, X)


@lru_cache(maxsize=128)
def compile_network(net: Network) -> CompiledNetwork:
    """Compile (once per network spec; the result is cached)."""
    return CompiledNetwork(net)
