"""The reference NumPy functions rendered as LaTeX by latexify-py, with matrix notation made right.

latexify-py prints ``W @ x`` and an element-wise ``a * b`` the same way (``\\cdot``) and ``W.T``
literally. Its expression code generator is subclassed here so that ``@`` is a matrix product
(juxtaposition), ``*`` between two arrays is a Hadamard product (``\\odot``), ``*`` with a scalar is
an ordinary product, ``.T`` is ``^{\\mathsf{T}}`` and ``x.sum(axis=1)`` is ``x \\mathbf{1}``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from latexify import parser, transformers
from latexify.codegen import expression_codegen, expression_rules

from . import reference
from .spec import Network

#: how each argument name of the reference functions reads on the page
NAMES: dict[str, str] = {
    "z": "z",
    "a": "a",
    "y": "y",
    "theta": r"\theta",
    "lr": r"\alpha",
    "slope": r"\alpha",
    "alpha": r"\alpha",
    "grad_a": r"\nabla_{a} C",
    "fprime_out": r"f'\left(z^{[L]}\right)",
    "fprime_z": r"f'\left(z^{[l]}\right)",
    "W_next": r"W^{[l+1]}",
    "delta_next": r"\delta^{[l+1]}",
    "delta": r"\delta^{[l]}",
    "a_prev": r"a^{[l-1]}",
    "grad": r"\nabla_{\theta} L",
    "n": "N",
    "m": "m",
}
#: arguments that are numbers, not arrays (so ``*`` with them is not a Hadamard product)
SCALARS: frozenset[str] = frozenset({"lr", "slope", "alpha", "n", "m"})
#: NumPy calls with the mathematics they compute
CALLS: dict[str, Callable[[list[str]], str]] = {
    "exp": lambda a: rf"e^{{{a[0]}}}",
    "expm1": lambda a: rf"\left(e^{{{a[0]}}} - 1\right)",
    "tanh": lambda a: rf"\tanh\left({a[0]}\right)",
    "log": lambda a: rf"\log\left({a[0]}\right)",
    "logaddexp": lambda a: rf"\log\left({_exp_term(a[0])} + {_exp_term(a[1])}\right)",
    "maximum": lambda a: rf"\max\left({a[0]}, {a[1]}\right)",
    "minimum": lambda a: rf"\min\left({a[0]}, {a[1]}\right)",
    "ones_like": lambda a: r"\mathbf{1}",
    "where": lambda a: rf"\begin{{cases}} {a[1]} & {a[0]} \\ {a[2]} & \text{{otherwise}} \end{{cases}}",
    "sigmoid": lambda a: rf"\sigma\left({a[0]}\right)",
}


def _exp_term(arg: str) -> str:
    """e^{arg}, with e^0 written as 1 (logaddexp(0, z) = log(1 + e^z))."""
    return "1" if arg == "0" else rf"e^{{{arg}}}"


def _is_array(node: ast.AST) -> bool:
    """Whether an expression of the reference code is array-valued (it mentions a non-scalar argument)."""
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return any(isinstance(n, ast.Name) and id(n) not in called and n.id not in SCALARS for n in ast.walk(node))


class BackpropCodegen(expression_codegen.ExpressionCodegen):
    """latexify-py's expression code generator with matrix products, Hadamard products and transposes."""

    def visit_Name(self, node: ast.Name) -> str:
        return NAMES.get(node.id, super().visit_Name(node))

    def visit_Constant(self, node: ast.Constant) -> str:
        value = node.value
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return super().visit_Constant(node)

    def visit_Attribute(self, node: ast.Attribute) -> str:
        if node.attr == "T":
            inner = self.visit(node.value)
            if not isinstance(node.value, ast.Name) or "^" in inner:
                inner = rf"\left({inner}\right)"
            return rf"{inner}^{{\mathsf{{T}}}}"
        return super().visit_Attribute(node)

    def visit_Call(self, node: ast.Call) -> str:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "sum":
            axis = next((k.value.value for k in node.keywords if k.arg == "axis"), None)
            inner = self._wrap_operand(func.value, expression_rules.get_precedence(node))
            if axis == 1:
                return rf"{inner} \mathbf{{1}}"
            if axis == 0:
                return rf"\mathbf{{1}}^{{\mathsf{{T}}}} {inner}"
        if isinstance(func, ast.Name) and func.id in CALLS:
            return CALLS[func.id]([self.visit(arg) for arg in node.args])
        return super().visit_Call(node)

    def visit_BinOp(self, node: ast.BinOp) -> str:
        if not isinstance(node.op, (ast.Mult, ast.MatMult)):
            return super().visit_BinOp(node)
        prec = expression_rules.get_precedence(node)
        rule = self._bin_op_rules[type(node.op)]
        lhs = self._wrap_binop_operand(node.left, prec, rule.operand_left)
        rhs = self._wrap_binop_operand(node.right, prec, rule.operand_right)
        if isinstance(node.op, ast.Mult) and _is_array(node.left) and _is_array(node.right):
            return rf"{lhs} \odot {rhs}"
        return f"{lhs} {rhs}"


def function_ast(fn: Callable[..., Any]) -> ast.FunctionDef:
    """The function's AST after latexify-py's own transformations (the numpy prefix trimmed)."""
    tree = parser.parse_function(fn)
    tree = transformers.PrefixTrimmer({"math", "numpy", "np"}).visit(tree)
    fn_def = tree.body[0]
    if not isinstance(fn_def, ast.FunctionDef):
        raise TypeError(f"{fn!r} is not a function defined with def")
    return fn_def


def render(fn: Callable[..., Any], lhs: str | None = None) -> str:
    r"""LaTeX ``lhs = expression`` for a one-line reference function; lhs defaults to its signature."""
    fn_def = function_ast(fn)
    body = [stmt for stmt in fn_def.body if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        raise ValueError(
            f"codeview renders one-line functions (a single return); {fn.__name__} has {len(body)} statements"
        )
    expr = BackpropCodegen().visit(body[0].value)
    if lhs is None:
        args = ", ".join(NAMES.get(a.arg, a.arg) for a in fn_def.args.args)
        name = fn.__name__.replace("_", r"\_")
        lhs = rf"\mathtt{{{name}}}\left({args}\right)"
    return f"{lhs} = {expr}"


def activation_code(name: str) -> list[str]:
    """The forward and derivative functions of one element-wise activation."""
    forward = getattr(reference, name)
    prime = getattr(reference, f"{name}_prime")
    return [render(forward), render(prime)]


def delta_code(net: Network) -> list[str]:
    """The output-delta function this network uses, the hidden delta, the gradients and the update."""
    if net.loss_name == "bce":
        out = [render(reference.sigmoid_bce_delta)]
    elif net.loss_name == "cross_entropy":
        out = [render(reference.softmax_cross_entropy_delta)]
    elif net.output.name == "softmax":
        out = [render(reference.softmax_output_delta)]
    else:
        out = [render(reference.output_delta)]
    extra = ([reference.l2_gradient] if net.l2 else []) + ([reference.tied_gradient] if net.tie else [])
    return out + [
        render(f)
        for f in (reference.hidden_delta, reference.weight_gradient, reference.bias_gradient, *extra, reference.update)
    ]


def loss_code(net: Network) -> list[str]:
    """The per-entry loss and its derivative (or the fused form), and the scale of the sum."""
    ell, prime, _ = reference.LOSSES[net.loss_name]
    scale = reference.scale_function(net)
    funcs = [reference.bce_fused] if net.loss_name == "bce" else [f for f in (ell, prime) if f is not None]
    return [render(f) for f in funcs] + [render(scale)] + ([render(reference.l2_penalty)] if net.l2 else [])


def network_code(net: Network) -> list[str]:
    """Every reference function a backprop step of ``net`` runs, as LaTeX equations."""
    names = []
    for act in net.activations:
        if act.name != "softmax" and act.name not in names:
            names.append(act.name)
    eqs = [eq for name in names for eq in activation_code(name)]
    return eqs + loss_code(net) + delta_code(net)
