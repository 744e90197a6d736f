"""REPL and notebook display: LaTeX/HTML for networks, aligned tables and pretty forms for a terminal."""

from __future__ import annotations

import html
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from .errors import plural
from .progress import Progress  # noqa: F401  (re-exported: the bar lives in symprop.progress, tqdm)
from .spec import Activation, Network

#: how activations are written in LaTeX
_ACT_LATEX = {
    "identity": "",
    "sigmoid": r"\sigma",
    "tanh": r"\tanh",
    "relu": r"\operatorname{relu}",
    "leaky_relu": r"\operatorname{leaky\_relu}",
    "softplus": r"\operatorname{softplus}",
    "elu": r"\operatorname{elu}",
    "silu": r"\operatorname{silu}",
    "softmax": r"\operatorname{softmax}",
}
_LOSS_TITLE = {
    "mse": "mean squared error",
    "sse": "sum of squared residuals (SSR)",
    "quadratic": "quadratic cost",
    "bce": "binary cross-entropy",
    "cross_entropy": "cross-entropy",
}


def _loss_title(net: Network) -> str:
    from .spec import DEFAULT_REDUCTION

    title = _LOSS_TITLE[net.loss_name]
    if net.reduction != DEFAULT_REDUCTION[net.loss_name]:
        title += f", reduction {net.reduction} (scale {net.scale_text})"
    if net.l2:
        title += f", plus {net.l2} * sum(W**2)"
    if net.tie:
        title += "; tied: " + "; ".join(f"{name} = {', '.join(entries)}" for name, entries in net.tie)
    return title


def activation_latex(act: Activation, arg: str) -> str:
    r"""LaTeX of f(arg): ``\sigma(z^{[1]})``; the identity is just ``arg``."""
    name = _ACT_LATEX[act.name]
    if not name:
        return arg
    if act.param_name is not None:
        name += rf"_{{{act.param_name}={_fraction_latex(act.param)}}}"
    return rf"{name}\left({arg}\right)"


def _fraction_latex(value: Any) -> str:
    return str(value) if value.denominator == 1 else rf"\tfrac{{{value.numerator}}}{{{value.denominator}}}"


def loss_latex(net: Network, align: bool = False) -> str:
    """The loss as written in the code: scale(N, m) times the double sum of ell(a, y)."""
    import sympy as sp

    from . import losses

    L = net.depth
    a = sp.Symbol(f"a^{{[{L}]}}_{{ij}}")
    y = sp.Symbol("y_{ij}")
    ell = losses.element(net.loss_name).xreplace({losses.A: a, losses.Y: y})
    scale = losses.scale(net)
    scale_tex = "" if scale == 1 else sp.latex(scale) + " "
    term = sp.latex(ell)
    if isinstance(ell, sp.Add) or ell.could_extract_minus_sign():
        term = rf"\left({term}\right)"
    equals = "&=" if align else "="
    penalty = ""
    if net.l2:  # lam * sum(W**2) over every weight entry of every layer
        penalty = rf" + {sp.latex(sp.Rational(net.l2.numerator, net.l2.denominator))} \sum_{{l=1}}^{{{L}}} \sum_{{j,k}} \left(w^{{[l]}}_{{jk}}\right)^{{2}}"
    return rf"C {equals} {scale_tex}\sum_{{i=1}}^{{N}} \sum_{{j=1}}^{{{net.n_outputs}}} {term}{penalty}"


def network_latex(net: Network) -> str:
    """The forward pass layer by layer and the loss, as one displayed LaTeX block."""
    rows = []
    for l, act in enumerate(net.activations, start=1):
        prev = "x" if l == 1 else f"a^{{[{l - 1}]}}"
        shape = rf"W^{{[{l}]}} \in \mathbb{{R}}^{{{net.layers[l]} \times {net.layers[l - 1]}}}"
        rows.append(
            rf"z^{{[{l}]}} &= W^{{[{l}]}} {prev} + b^{{[{l}]}}, & a^{{[{l}]}} &= "
            rf"{activation_latex(act, f'z^{{[{l}]}}')}, & {shape}"
        )
    rows.append(rf"\hat{{y}} &= a^{{[{net.depth}]}}, & {loss_latex(net, align=True)}")
    body = r" \\ ".join(rows)
    return rf"$$\begin{{aligned}} {body} \end{{aligned}}$$"


def network_html(net: Network) -> str:
    """An HTML summary: the constructor call, a table of layers, and the LaTeX block (MathJax renders it)."""
    head = (
        f"<p><code>{html.escape(repr(net))}</code> &mdash; {plural(net.n_params, 'parameter')}, "
        f"loss: {html.escape(_loss_title(net))}</p>"
    )
    rows = [
        "<tr><th>layer</th><th>neurons</th><th>activation</th><th>parameters</th></tr>",
        f"<tr><td>0 (input)</td><td>{net.layers[0]}</td><td></td><td></td></tr>",
    ]
    for l, act in enumerate(net.activations, start=1):
        names = [p.name for p in net.param_infos if p.layer == l]
        rows.append(
            f"<tr><td>{l}</td><td>{net.layers[l]}</td><td>{html.escape(str(act))}</td>"
            f"<td>{html.escape(_short_list(names))}</td></tr>"
        )
    table = "<table>" + "".join(rows) + "</table>"
    return f'<div class="symprop-network">{head}{table}<p>{html.escape(network_latex(net))}</p></div>'


def _short_list(names: list[str], limit: int = 8) -> str:
    return ", ".join(names) if len(names) <= limit else ", ".join(names[:limit]) + f", ... ({len(names)} in all)"


def network_pretty(net: Network, printer: Any, cycle: bool) -> None:
    """IPython's pretty printer: the constructor call, as ``repr`` gives it."""
    printer.text("Network(...)" if cycle else repr(net))


# --------------------------------------------------------------------------- terminal forms


def pretty(expr: Any, unicode: bool | None = None) -> str:
    """A SymPy expression as 2-D text (unicode when the terminal can show it)."""
    import sympy as sp

    if unicode is None:
        unicode = _can_encode(sys.stdout, "∂σ√")
    import shutil

    return sp.pretty(expr, use_unicode=unicode, num_columns=max(shutil.get_terminal_size((100, 24)).columns, 40))


def _can_encode(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def format_number(value: float, digits: int = 10) -> str:
    """A float in ``digits`` significant digits, without trailing noise (-15.7 rather than -15.70000000)."""
    text = f"{value:.{digits}g}"
    return "0" if text in ("0", "-0") else text


def table(rows: list[list[str]], header: list[str], numeric: tuple[int, ...] = ()) -> str:
    """A plain aligned text table; columns listed in ``numeric`` are right-aligned."""
    cells = [header] + rows
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule] + [line(r) for r in rows])


def gradient_table(gradient: Mapping[Any, Any], values: Mapping[str, Any] | None = None) -> str:
    """An aligned table parameter | value | dL/dparam of a gradient dict (names or symbols -> numbers)."""
    rows = []
    for key, g in gradient.items():
        name = getattr(key, "name", key)
        row = [str(name)]
        if values is not None:
            row.append(format_number(float(values[name])))
        row.append(format_number(float(g)))
        rows.append(row)
    header = ["parameter"] + (["value"] if values is not None else []) + ["dL/dparam"]
    return table(rows, header, numeric=tuple(range(1, len(header))))
