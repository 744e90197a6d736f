"""Steps of a dense layer z = W a + b: its equation and shapes, its local factors, the hidden delta
through W^T, the gradients delta a^T and delta, and the update of W and b."""

from __future__ import annotations

import numpy as np
import sympy as sp

from ...printing import to_latex
from ..document import rows
from . import Context, Factor


def matrix(ctx: Context, M: np.ndarray) -> str:
    """A numeric matrix (or column vector) through the printer, every entry by the one formatter."""
    M = np.atleast_2d(M)
    # always the matrix environment (sympy switches to array beyond 10 columns): rows() splits a wide
    # one into blocks of columns, and the preamble allows up to MAX_MATRIX_COLUMNS
    return to_latex(sp.Matrix(M.shape[0], M.shape[1], lambda i, j: ctx.fmt.atom(M[i, j])), mat_str="matrix")


def column(ctx: Context, v: np.ndarray) -> str:
    return matrix(ctx, np.asarray(v).reshape(-1, 1))


def forward(ctx: Context, l: int) -> str:
    """z^{[l]} = W^{[l]} a^{[l-1]} + b^{[l]}."""
    sy = ctx.sy
    return rf"{to_latex(sy.z(l))} = {to_latex(sy.W(l))} {to_latex(sy.a(l - 1))} + {to_latex(sy.b(l))}"


def shapes(ctx: Context, l: int) -> str:
    """W^{[l]} in R^{n_l x n_{l-1}}, b^{[l]} in R^{n_l}."""
    sy, n = ctx.sy, ctx.net.layers
    return (
        rf"{to_latex(sy.W(l))} \in {sy.shape(n[l], n[l - 1])},\quad "
        rf"{to_latex(sy.b(l))} \in {sy.shape(n[l])}"
    )


def weight_name(ctx: Context, layer: int, row: int, col: int) -> str:
    for info in ctx.net.param_infos:
        if info.kind == "w" and info.layer == layer and info.row == row and info.col == col:
            return info.name
    raise LookupError(f"no weight at layer {layer}, row {row}, col {col}")


def factor_input(ctx: Context, l: int, j: int, k: int) -> Factor:
    """d z^{[l]}_j / d a^{[l-1]}_k = w^{[l]}_{jk}: the same number for every sample."""
    sy = ctx.sy
    w = ctx.entry_symbol(weight_name(ctx, l, j, k))
    n = ctx.n_samples if ctx.nums is not None else 0
    value = ctx.nums.weights[l - 1][j, k] if ctx.nums is not None else 0.0
    return Factor(sy.partial(sy.z(l, j), sy.a(l - 1, k)), to_latex(w), np.full(n, value))


def factor_param(ctx: Context) -> Factor:
    """d z^{[l]}_j / d theta: the input it multiplies (a weight) or 1 (a bias)."""
    sy, info = ctx.sy, ctx.info
    p = ctx.param_symbol
    n = ctx.n_samples if ctx.nums is not None else 0
    if info.kind == "b":
        return Factor(sy.partial(sy.z(info.layer, info.row), p), "1", np.ones(n))
    values = ctx.nums.A[info.layer - 1][:, info.col] if ctx.nums is not None else np.zeros(0)
    return Factor(sy.partial(sy.z(info.layer, info.row), p), to_latex(sy.a(info.layer - 1, info.col)), values)


def hidden_delta(ctx: Context, l: int, n: int, prime: str) -> list:
    """delta^{[l](n)} = (W^{[l+1]})^T delta^{[l+1](n)} (.) f'(z^{[l](n)}), with the numbers."""
    sy, nums = ctx.sy, ctx.nums
    W = nums.weights[l]  # W^{[l+1]}
    lhs = to_latex(sy.delta(l, None, n))
    general = [
        rf"\left({to_latex(sy.W(l + 1))}\right)^{{\mathsf{{T}}}}",
        to_latex(sy.delta(l + 1, None, n)),
        r"\odot",
        prime,
    ]
    back = W.T @ nums.deltas[l + 1][n]
    numeric = [
        matrix(ctx, W) + r"^{\mathsf{T}}",
        column(ctx, nums.deltas[l + 1][n]),
        r"\odot",
        column(ctx, nums.fprime[l][n]),
    ]
    from ..document import WIDTH, measure

    if measure(" ".join(numeric)) > WIDTH - measure(lhs) - 4:  # too wide for the page: the two vectors only
        numeric = [column(ctx, back), r"\odot", column(ctx, nums.fprime[l][n])]
    return [rows(lhs, general, numeric, [column(ctx, nums.deltas[l][n])])]


def delta_matrix(ctx: Context, l: int) -> str:
    return matrix(ctx, ctx.nums.deltas[l].T)


def gradients(ctx: Context, l: int, weights: bool = True, biases: bool = True) -> list:
    """dL/dW^{[l]} = s Delta^{[l]} (A^{[l-1]})^T and dL/db^{[l]} = s Delta^{[l]} 1, with the numbers."""
    sy, nums, net = ctx.sy, ctx.nums, ctx.net
    N = nums.n_samples
    s = sy.scale_latex(N)
    gw, gb = nums.gradients()
    D = rf"\Delta^{{[{l}]}}"
    A = rf"A^{{[{l - 1}]}}"
    n = net.layers
    out = [
        rows(
            D,
            [
                rf"\left[{to_latex(sy.delta(l, None, 0))} \cdots {to_latex(sy.delta(l, None, N - 1))}\right]"
                if N > 1
                else to_latex(sy.delta(l, None, 0))
            ],
            [delta_matrix(ctx, l), rf"\in {sy.shape(n[l], N)}"],
        )
    ]
    if weights:
        symbolic = [s + D, rf"\left({A}\right)^{{\mathsf{{T}}}}"]
        numeric = [s + matrix(ctx, nums.deltas[l].T), matrix(ctx, nums.A[l - 1])]
        if net.l2:  # + 2 lambda W^{[l]}: the penalty's own derivative
            symbolic += ["+", "2", to_latex(sy.lam), to_latex(sy.W(l))]
            numeric += ["+", "2", r"\cdot", ctx.fmt.factor(float(net.l2)), matrix(ctx, nums.weights[l - 1])]
        out.append(
            rows(
                sy.partial(sy.loss, sy.W(l)),
                symbolic,
                numeric,
                [matrix(ctx, gw[l - 1]), rf"\in {sy.shape(n[l], n[l - 1])}"],
            )
        )
    if biases:
        out.append(
            rows(
                sy.partial(sy.loss, sy.b(l)), [s + D, r"\mathbf{1}"], [column(ctx, gb[l - 1]), rf"\in {sy.shape(n[l])}"]
            )
        )
    return out


def update(ctx: Context, l: int) -> list:
    """W^{[l]} := W^{[l]} - alpha dL/dW^{[l]} and the same for b^{[l]}, with the numbers."""
    sy, nums, fmt = ctx.sy, ctx.nums, ctx.fmt
    gw, gb = nums.gradients()
    W, b = nums.weights[l - 1], nums.biases[l - 1]
    alpha = fmt(ctx.lr)
    return [
        rows(
            to_latex(sy.W(l)),
            [to_latex(sy.W(l)), "-", r"\alpha", sy.partial(sy.loss, sy.W(l))],
            [matrix(ctx, W), "-", alpha, matrix(ctx, gw[l - 1])],
            [matrix(ctx, W - ctx.lr * gw[l - 1])],
            rel=":=",
        ),
        rows(
            to_latex(sy.b(l)),
            [to_latex(sy.b(l)), "-", r"\alpha", sy.partial(sy.loss, sy.b(l))],
            [column(ctx, b), "-", alpha, column(ctx, gb[l - 1])],
            [column(ctx, b - ctx.lr * gb[l - 1])],
            rel=":=",
        ),
    ]
