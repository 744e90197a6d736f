"""Steps of an element-wise activation layer a = f(z): its equation, f' stated once, its local factor."""

from __future__ import annotations

import numpy as np

from ...printing import to_latex
from ..document import Equation, rows
from ..notation import activation_prime_latex, local_prime
from . import Context, Factor


def forward(ctx: Context, l: int) -> str:
    """a^{[l]} = f(z^{[l]})."""
    sy = ctx.sy
    return rf"{to_latex(sy.a(l))} = {sy.f(l)}\left({to_latex(sy.z(l))}\right)"


def used(ctx: Context) -> list:
    """The activations of the network, each once, in layer order."""
    seen, out = set(), []
    for act in ctx.net.activations:
        if act.name not in seen:
            seen.add(act.name)
            out.append(act)
    return out


def prime_statements(ctx: Context) -> list[Equation]:
    """f'(z) of every activation used, as the notes write it (softplus' = sigma, sigma' = sigma (1 - sigma))."""
    out = []
    for act in used(ctx):
        lhs_rhs, in_a = activation_prime_latex(act.name, act.param)
        lhs, rhs = lhs_rhs.split(" = ", 1)
        out.append(rows(lhs, *([rhs, in_a[2:]] if in_a else [rhs])))
    return out


def factor(ctx: Context, l: int, j: int) -> Factor:
    """d a^{[l]}_j / d z^{[l]}_j = f'(z^{[l]}_j), with its number for every sample (reference f')."""
    sy, act = ctx.sy, ctx.net.activations[l - 1]
    z, a = sy.z(l, j), sy.a(l, j)
    values = ctx.nums.fprime[l][:, j] if ctx.nums is not None else np.zeros(0)
    return Factor(sy.partial(a, z), to_latex(local_prime(act, z, a)), values)


def prime_vector(ctx: Context, l: int, n: int) -> str:
    """f'(z^{[l](n)}) as LaTeX."""
    return rf"{ctx.sy.f(l)}'\left({to_latex(ctx.sy.z(l, None, n))}\right)"
