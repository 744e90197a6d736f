"""Steps of the loss: its definition with its own scale, each sample's cost, the output factor(s) of the
chain rule (d C / d y-hat, or the fused d C / d z for sigmoid + BCE and softmax), the output delta."""

from __future__ import annotations

import numpy as np
import sympy as sp

from ... import losses
from ...printing import to_latex
from ..document import Equation, M, rows
from . import Context, Factor, activation


def _ell(ctx: Context) -> sp.Expr:
    return losses.element(ctx.net.loss_name).xreplace({losses.A: ctx.sy.yhat(), losses.Y: ctx.sy.y()})


def definition(ctx: Context) -> list[Equation]:
    """loss = scale sum_n C^{(n)},  C^{(n)} = sum_j ell(yhat_j, y_j),  ell(yhat, y) = ..."""
    sy, net = ctx.sy, ctx.net
    m = net.n_outputs
    cost = (
        rf"\sum_{{j=1}}^{{m}} \ell\left({to_latex(sy.yhat(None, 'n'))}_{{j}}, {to_latex(sy.y(None, 'n'))}_{{j}}\right)"
        if m > 1
        else rf"\ell\left({to_latex(sy.yhat(None, 'n'))}, {to_latex(sy.y(None, 'n'))}\right)"
    )
    out = [
        rows(to_latex(sy.data_loss), [sy.scale_latex() + r"\sum_{n=1}^{N}", to_latex(sy.cost())]),
        rows(to_latex(sy.cost()), [cost]),
        rows(r"\ell\left(\hat{y}, y\right)", [to_latex(_ell(ctx))]),
    ]
    return out


def total(ctx: Context) -> Equation:
    """The loss with numbers: scale (C^{(1)} + ... + C^{(N)}) = value."""
    sy, nums, fmt = ctx.sy, ctx.nums, ctx.fmt
    costs = nums.costs()
    N = nums.n_samples
    s = sy.scale_latex(N)
    terms = [fmt(costs[0])] + [f"+ {fmt(c)}" if c >= 0 else f"- {fmt(-c)}" for c in costs[1:]]
    summed = (
        ([s + r"\left(" + terms[0]] + terms[1:-1] + [terms[-1] + r"\right)"])
        if s and N > 1
        else ([s + terms[0]] + terms[1:] if s else terms)
    )
    if N == 1 and s:
        summed = [s + r"\cdot " + fmt.factor(costs[0])]
    symbolic = [s + r"\sum_{n=1}^{N}", to_latex(sy.cost())]
    return rows(to_latex(sy.data_loss), symbolic, summed, [ctx.fmt.result(nums.data_loss())])


def objective(ctx: Context) -> Equation:
    """With l2: J = loss + lambda sum_l sum_{j,k} (w^{[l]}_{jk})^2 (the definition)."""
    sy = ctx.sy
    return rows(to_latex(sy.loss), [to_latex(sy.data_loss), "+", sy.penalty()])


def objective_total(ctx: Context) -> list[Equation]:
    """With l2 and numbers: the penalty lambda * (sum of the squared weights) and J = loss + penalty."""
    sy, nums, fmt = ctx.sy, ctx.nums, ctx.fmt
    squares = float(sum(np.sum(W * W) for W in nums.weights))
    lam = float(ctx.net.l2)
    penalty = nums.penalty()
    terms = [fmt(lam), r"\cdot", fmt.factor(squares)]
    return [
        rows(sy.penalty(), terms, [fmt.result(penalty)]),
        rows(
            to_latex(sy.loss),
            [to_latex(sy.data_loss), "+", sy.penalty()],
            [fmt.factor(nums.data_loss()), "+", fmt.factor(penalty)],
            [fmt.result(nums.loss())],
        ),
    ]


def is_squared(ctx: Context) -> bool:
    return ctx.net.loss_name in ("mse", "sse", "quadratic")


def table_rows(ctx: Context) -> list[tuple[str, np.ndarray]]:
    """Rows of the forward table after the layers: the target, the residual y - y-hat (squared losses) and C^{(n)}."""
    sy, nums = ctx.sy, ctx.nums
    out = []
    for j in range(ctx.net.n_outputs):
        jj = j if ctx.net.n_outputs > 1 else None
        out.append((to_latex(sy.y(jj)), nums.Y[:, j]))
    if is_squared(ctx):
        for j in range(ctx.net.n_outputs):
            jj = j if ctx.net.n_outputs > 1 else None
            out.append((rf"{to_latex(sy.y(jj))} - {to_latex(sy.yhat(jj))}", nums.Y[:, j] - nums.A[-1][:, j]))
    out.append((to_latex(sy.cost()), nums.costs()))
    return out


def output_factors(ctx: Context, i: int) -> list[Factor]:
    """The factors of the output stage for output neuron i, each with its number for every sample."""
    sy, net, nums = ctx.sy, ctx.net, ctx.nums
    L = net.depth
    a, z, y = sy.a(L, i), sy.z(L, i), sy.y(i if net.n_outputs > 1 else None)
    yhat = sy.yhat(i if net.n_outputs > 1 else None)
    C = sy.cost()

    def val(arr):
        return arr if nums is not None else np.zeros(0)

    if net.loss_name == "bce":  # sigmoid output: d C / d z collapses to a - y
        return [
            Factor(sy.partial(C, z), f"{to_latex(yhat)} - {to_latex(y)}", val(nums.deltas[L][:, i] if nums else None))
        ]
    if net.output.name == "softmax":
        if net.loss_name == "cross_entropy":
            return [
                Factor(
                    sy.partial(C, z), f"{to_latex(yhat)} - {to_latex(y)}", val(nums.deltas[L][:, i] if nums else None)
                )
            ]
        g = r"\frac{\partial C}{\partial \hat{y}_{k}}"
        expr = rf"{to_latex(yhat)} \left({g.replace('_{k}', '_{' + str(i + 1) + '}')} - \sum_{{k}} {g} \hat{{y}}_{{k}}\right)"
        return [Factor(sy.partial(C, z), expr, val(nums.deltas[L][:, i] if nums else None))]
    if is_squared(ctx):
        g = Factor(
            sy.partial(C, yhat),
            rf"-2 \left({to_latex(y)} - {to_latex(yhat)}\right)",
            val(nums.dC_da[:, i] if nums else None),
        )
    else:  # pragma: no cover - every element-wise-output loss is squared today
        g = Factor(sy.partial(C, yhat), to_latex(losses.element_derivative(net.loss_name)), val(nums.dC_da[:, i]))
    f = activation.factor(ctx, L, i)
    return [g, Factor(sy.partial(yhat, z), f.expression.replace(to_latex(a), to_latex(yhat)), f.values)]


def output_delta(ctx: Context, n: int) -> list[Equation]:
    """delta^{[L](n)} with its numbers."""
    from .dense import column

    sy, net, nums = ctx.sy, ctx.net, ctx.nums
    L = net.depth
    lhs = to_latex(sy.delta(L, None, n))
    yhat, y = to_latex(sy.yhat(None, n)), to_latex(sy.y(None, n))
    if net.loss_name in ("bce", "cross_entropy"):
        general = [f"{yhat} - {y}"]
        numeric = [column(ctx, nums.A[L][n]), "-", column(ctx, nums.Y[n])]
    elif net.output.name == "softmax":
        general = [
            rf"\left(\frac{{\partial {yhat}}}{{\partial {to_latex(sy.z(L, None, n))}}}\right)^{{\mathsf{{T}}}}",
            rf"\nabla_{{\hat{{y}}}} C^{{({n + 1})}}",
        ]
        numeric = []
    else:
        general = [rf"\nabla_{{\hat{{y}}}} C^{{({n + 1})}}", r"\odot", activation.prime_vector(ctx, L, n)]
        numeric = [column(ctx, nums.dC_da[n]), r"\odot", column(ctx, nums.fprime[L][n])]
    return [rows(lhs, *[r for r in (general, numeric) if r], [column(ctx, nums.deltas[L][n])])]


def assumption(ctx: Context) -> list:
    """softmax + cross-entropy: delta = y-hat - y needs each target row to sum to 1 (say so, with the check)."""
    if ctx.net.loss_name != "cross_entropy":
        return []
    sy = ctx.sy
    return [
        M(rf"\sum_{{k}} {to_latex(sy.y(None, 'n'))}_{{k}} = 1"),
        M(r"\partial C^{(n)} / \partial z^{[L]}_{j} = \hat{y}_{j} \sum_{k} y_{k} - y_{j}"),
    ]
