"""The titled sections of a derivation, composed from the layer kinds' steps (dense, activation, loss)."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import sympy as sp

from ... import losses
from ...printing import broken_atoms, to_latex
from ..document import (
    WIDTH,
    Equation,
    Figure,
    M,
    Para,
    Step,
    T,
    Table,
    W,
    measure,
    rows,
    single,
)
from ..figure import Diagram, highlight, to_svg, to_tikz
from ..notation import LOSS_SYMBOLS
from . import Context, Factor, activation, dense, loss

MAX_PATHS = 8  # chain-rule paths written out one by one (beyond: the delta form only)
SAMPLE_COLUMNS = 5  # samples per table (more samples: the table is continued below)
MAX_CLOSED_PARAMS = 40  # closed forms are tried only for networks this small
THETA = sp.Symbol("theta")  # a parameter in general


def _m(latex: str) -> M:
    return M(latex)


def _name(ctx: Context, name: str) -> M:
    return M(to_latex(ctx.symbol(name)))


def _chunks(n: int) -> list[range]:
    return [range(s, min(s + SAMPLE_COLUMNS, n)) for s in range(0, n, SAMPLE_COLUMNS)]


# ----------------------------------------------------------------------------- 1. the network


def figure(ctx: Context) -> Figure:
    net = ctx.net
    edges, nodes = frozenset(), frozenset()
    for info in ctx.entries(ctx.param) if ctx.param is not None else ():  # a tied parameter: all its uses
        e, n = highlight(net.layers, info.layer, info.row, info.col)
        edges, nodes = edges | e, nodes | n
    symbol = LOSS_SYMBOLS[net.loss_name]
    plain = symbol.replace(r"\mathrm{", "").replace("}", "")
    d = Diagram(net.layers, (symbol, plain), edges, nodes, highlight_loss=ctx.param is not None)
    caption = T(W.of("figure_param", param=_name(ctx, ctx.param))) if ctx.param else T(W.of("figure"))
    return Figure(to_svg(d), to_tikz(d), caption)


def network(ctx: Context) -> Step:
    net, sy = ctx.net, ctx.sy
    L = net.depth
    blocks: list = [figure(ctx)]
    sizes = ", ".join(str(n) for n in net.layers)
    blocks.append(
        Para(
            T(
                W.of(
                    "network",
                    L=M(f"L = {L}"),
                    sizes=M(rf"\left({sizes}\right)"),
                    n_params=net.n_params,
                    loss=W.of(f"loss_{net.loss_name}", symbol=M(to_latex(sy.data_loss))),
                )
            )
        )
    )
    if ctx.fix:
        names = ", ".join(to_latex(net.param(n)) for n in ctx.fix)
        blocks.append(
            Para(T(W.of("fixed", fixed=M(names), trained=M(", ".join(to_latex(net.param(n)) for n in ctx.trained)))))
        )
    # the notation, declared once
    header = (T(W.of("h_symbol")), T(W.of("h_meaning")))
    table = [
        (T(M(f"L = {L}")), T(W.of("n_layers"))),
        (T(M(r"n_{l}")), T(W.of("n_l", sizes=M(", ".join(f"n_{{{l}}} = {n}" for l, n in enumerate(net.layers)))))),
        (T(M(rf"m = n_{{L}} = {net.n_outputs}")), T(W.of("m_outputs"))),
    ]
    if ctx.has_numbers:
        table.append((T(M(f"N = {ctx.n_samples}")), T(W.of("n_samples"))))
    table += [
        (T(M(rf"{to_latex(sy.a(0, None, 'n'))}, {to_latex(sy.y(None, 'n'))}")), T(W.of("sample_n"))),
        (T(M(r"z^{[l]} = W^{[l]} a^{[l-1]} + b^{[l]}")), T(W.of("z_meaning"))),
        (T(M(r"a^{[l]} = f^{[l]}\left(z^{[l]}\right),\ a^{[0]} = x")), T(W.of("a_meaning"))),
        (T(M(r"\hat{y} = a^{[L]}")), T(W.of("yhat_meaning"))),
        (T(M(to_latex(sy.cost()))), T(W.of("cost_meaning"))),
        (T(M(to_latex(sy.data_loss))), T(W.of("loss_meaning"))),
        (T(M(f"{to_latex(sy.delta('l'))} = {sy.partial(sy.cost(), sy.z('l'))}")), T(W.of("delta_meaning"))),
    ]
    if net.l2:
        table.append((T(M(f"{to_latex(sy.loss)} = {to_latex(sy.data_loss)} + {sy.penalty()}")), T(W.of("l2_meaning"))))
        table.append((T(M(f"{to_latex(sy.lam)} = {ctx.fmt(float(net.l2))}")), T(W.of("lam_meaning"))))
    if ctx.lr is not None or ctx.has_numbers:
        table.append((T(M(r"\alpha")), T(W.of("alpha_meaning"))))
    blocks.append(Table(header, tuple(table), "ll"))
    if net.tie:
        ties = [
            f"{to_latex(net.param(name))} = " + " = ".join(to_latex(ctx.symbol(e)) for e in entries)
            for name, entries in net.tie
        ]
        blocks.append(Para(T(W.of("tied", ties=M(r",\quad ".join(ties))))))
    acts = ", ".join(rf"f^{{[{l}]}} = {sy.f(l)}" for l in range(1, L + 1))
    blocks.append(Para(T(W.of("activations", acts=M(acts)))))
    blocks.extend(activation.prime_statements(ctx))
    return Step("network", T(W.of("t_network")), blocks)


# ----------------------------------------------------------------------------- 2. the forward pass


#: an appendix closed form longer than this many lines is left out (with its size said)
MAX_APPENDIX_LINES = 30


def _prediction_forms(ctx: Context) -> list[tuple[str, sp.Expr]] | None:
    """(lhs, closed form) of every output for one sample, parameters and inputs as symbols (None when
    the network is too large to try)."""
    net = ctx.net
    if net.n_params > MAX_CLOSED_PARAMS:
        return None
    from ...graph import forward_sample, input_symbols, parameter_values, weight_matrices

    W_, b_ = weight_matrices(net, parameter_values(net, None, False))
    _, As = forward_sample(net, list(input_symbols(net)), W_, b_)
    return [(to_latex(ctx.sy.yhat(j if net.n_outputs > 1 else None)), expr) for j, expr in enumerate(As[-1])]


def _closed_forms(ctx: Context) -> list[Equation]:
    """The prediction as a closed form of the parameters, in the main flow only where it fits one line."""
    forms = _prediction_forms(ctx)
    if not forms or ctx.net.output.name == "softmax":
        return []
    out = []
    for lhs, expr in forms:
        text = to_latex(expr)
        if measure(text) + measure(lhs) + 2 > WIDTH:
            return []
        out.append(rows(lhs, [text]))
    return out


#: closed forms estimated larger than this many terms (symprop.budget) are not built for the appendix
MAX_APPENDIX_TERMS = 250


def _too_long(what: M, terms: float) -> Para:
    return Para(T(W.of("closed_too_long", what=what, n=f"{terms:,.0f}")))


def _broken(ctx: Context, lhs: str, expr: sp.Expr, what: M) -> list:
    """``lhs = expr`` broken over aligned lines, or a note of its size when it would take too many."""
    eq = rows(lhs, broken_atoms(expr, WIDTH - measure(lhs) - 6, measure))
    if len(eq.rows) > MAX_APPENDIX_LINES:
        return [_too_long(what, sum(1 for _ in sp.preorder_traversal(expr)))]
    return [eq]


def closed_appendix(ctx: Context) -> Step | None:
    """Appendix: the closed forms too long for the main flow, broken over lines (the prediction, and
    the derivative of one sample's cost with respect to the parameter), never with numbers put in."""
    from ... import budget

    net, sy = ctx.net, ctx.sy
    if net.n_params > MAX_CLOSED_PARAMS:
        return None
    if budget._forward_sizes(net)[1][-1] > MAX_APPENDIX_TERMS:  # the prediction alone is too long
        return Step(
            "closed", T(W.of("t_closed")), [_too_long(M(to_latex(sy.yhat())), budget._forward_sizes(net)[1][-1])]
        )
    forms = _prediction_forms(ctx)
    blocks: list = []
    if not _closed_forms(ctx):  # the prediction did not fit one line in the main flow
        blocks.append(Para(T(W.of("closed_appendix"))))
        for lhs, expr in forms:
            blocks.extend(_broken(ctx, lhs, expr, M(lhs)))
    terms = budget.gradient_terms(net, 1, ctx.param) if ctx.param is not None and not ctx.tied(ctx.param) else 0
    if ctx.param is not None and terms > MAX_APPENDIX_TERMS:
        blocks.append(_too_long(M(sy.partial(sy.cost(), net.param(ctx.param))), terms))
    elif ctx.param is not None:
        targets = [sy.y(j if net.n_outputs > 1 else None) for j in range(net.n_outputs)]
        ell = losses.element(net.loss_name)
        yhat = [e for _, e in forms]
        cost = sp.Add(*[ell.xreplace({losses.A: a, losses.Y: y}) for a, y in zip(yhat, targets)])
        p = net.param(ctx.param)
        derivative = sp.diff(cost, p)
        lhs = sy.partial(sy.cost(), p)
        one_line = to_latex(derivative)
        if measure(one_line) + measure(lhs) + 2 > WIDTH or blocks:
            blocks.append(Para(T(W.of("closed_derivative", param=_name(ctx, ctx.param)))))
            blocks.extend(_broken(ctx, lhs, derivative, M(lhs)))
    if not blocks:
        return None
    return Step("closed", T(W.of("t_closed")), blocks)


def forward(ctx: Context) -> Step:
    net, sy = ctx.net, ctx.sy
    blocks: list = [Para(T(W.of("forward")))]
    for l in range(1, net.depth + 1):
        lhs, rhs = dense.forward(ctx, l).split(" = ", 1)
        blocks.append(rows(lhs, [rhs + r",\quad", activation.forward(ctx, l) + r",\quad", dense.shapes(ctx, l)]))
    closed = _closed_forms(ctx)
    if closed:
        blocks.append(Para(T(W.of("closed_form"))))
        blocks.extend(closed)
    if not ctx.has_numbers:
        return Step("forward", T(W.of("t_forward")), blocks)
    nums = ctx.nums
    blocks.append(Para(T(W.of("values"))))
    for l in range(1, net.depth + 1):
        blocks.append(
            rows(
                to_latex(sy.W(l)),
                [
                    dense.matrix(ctx, nums.weights[l - 1]) + r",\quad",
                    to_latex(sy.b(l)) + " = " + dense.column(ctx, nums.biases[l - 1]),
                ],
            )
        )
    blocks.append(Para(T(W.of("forward_table", N=M(f"N = {ctx.n_samples}")))))
    lines: list[tuple[str, np.ndarray]] = []
    for k in range(net.n_inputs):
        lines.append((to_latex(sy.a(0, k)), nums.X[:, k]))
    for l in range(1, net.depth + 1):
        act = net.activations[l - 1].name
        for j in range(net.layers[l]):
            label = to_latex(sy.z(l, j))
            if act == "identity":
                label += f" = {to_latex(sy.a(l, j))}"
            lines.append((label, nums.Z[l][:, j]))
        if act != "identity":
            for j in range(net.layers[l]):
                lines.append((to_latex(sy.a(l, j)), nums.A[l][:, j]))
    for j in range(net.n_outputs):
        jj = j if net.n_outputs > 1 else None
        lines.append((rf"{to_latex(sy.yhat(jj))} = {to_latex(sy.a(net.depth, j))}", nums.A[-1][:, j]))
    lines += loss.table_rows(ctx)
    for cols in _chunks(ctx.n_samples):
        header = (T(W.of("h_quantity")),) + tuple(T(M(f"n = {n + 1}")) for n in cols)
        body = tuple((T(M(label)),) + tuple(T(M(ctx.fmt(v[n]))) for n in cols) for label, v in lines)
        blocks.append(Table(header, body, "l" + "r" * len(cols)))
    return Step("forward", T(W.of("t_forward")), blocks)


# ----------------------------------------------------------------------------- 3. the loss


def loss_section(ctx: Context) -> Step:
    name = W.of(f"loss_{ctx.net.loss_name}", symbol=M(to_latex(ctx.sy.data_loss)))
    scale = ctx.sy.scale()
    intro = W.of("loss", loss=name, scale=M(to_latex(scale))) if scale != 1 else W.of("loss_sum", loss=name)
    blocks: list = [Para(T(intro))]
    blocks.extend(loss.definition(ctx))
    if ctx.net.l2:
        lam = M(f"{to_latex(ctx.sy.lam)} = {ctx.fmt(float(ctx.net.l2))}")
        blocks.append(Para(T(W.of("l2_objective", lam=lam, J=M(to_latex(ctx.sy.loss)), lam_=M(to_latex(ctx.sy.lam))))))
        blocks.append(loss.objective(ctx))
    if ctx.has_numbers:
        blocks.append(Para(T(W.of("loss_total"))))
        blocks.append(loss.total(ctx))
        if ctx.net.l2:
            blocks.append(Para(T(W.of("l2_total"))))
            blocks.extend(loss.objective_total(ctx))
    return Step("loss", T(W.of("t_loss")), blocks)


# ----------------------------------------------------------------------------- 4. the chain rule


def paths(ctx: Context) -> list[tuple[int, ...]]:
    """Neuron index sequences (layer info.layer .. L) from the parameter's neuron to the outputs."""
    net, info = ctx.net, ctx.info
    later = [range(net.layers[m]) for m in range(info.layer + 1, net.depth + 1)]
    return [(info.row, *rest) for rest in itertools.product(*later)]


def path_factors(ctx: Context, path: tuple[int, ...]) -> list[Factor]:
    """The local factors along one path, from the loss back to the parameter."""
    info = ctx.info
    factors = loss.output_factors(ctx, path[-1])
    for offset in range(len(path) - 1, 0, -1):
        l = info.layer + offset - 1  # the hidden layer, from the output back
        factors.append(dense.factor_input(ctx, l + 1, path[offset], path[offset - 1]))
        factors.append(activation.factor(ctx, l, path[offset - 1]))
    factors.append(dense.factor_param(ctx))
    return factors


def _path_text(ctx: Context, path: tuple[int, ...]) -> str:
    sy, info = ctx.sy, ctx.info
    nodes = [to_latex(ctx.param_symbol)]
    for offset, j in enumerate(path):
        l = info.layer + offset
        nodes.append(to_latex(sy.z(l, j)))
        if not (l == ctx.net.depth and ctx.net.output.name == "softmax") and not (
            l == ctx.net.depth and ctx.net.loss_name == "bce"
        ):
            nodes.append(
                to_latex(sy.yhat(j if ctx.net.n_outputs > 1 else None)) if l == ctx.net.depth else to_latex(sy.a(l, j))
            )
    nodes.append(to_latex(sy.cost()))
    return r" \to ".join(nodes)


def chain(ctx: Context) -> tuple[Step, dict]:
    """Every path from the parameter to the loss: each factor symbolically, with its numbers, the
    product per sample; the sum over paths, then over samples with the scale; with l2 the penalty's
    term 2 lambda w. A tied parameter: the same for each entry it fills, then the sum of its uses.
    Returns the step and the shown numbers."""
    heading = T(W.of("t_chain", param=_name(ctx, ctx.param)))
    if not ctx.tied(ctx.param):
        blocks, shown = _chain_entry(ctx)
        return Step("chain", heading, blocks), shown
    net, sy, fmt = ctx.net, ctx.sy, ctx.fmt
    p = net.param(ctx.param)
    uses = ctx.entries(ctx.param)
    entry_symbols = [ctx.symbol(e.name) for e in uses]
    blocks: list = [
        Para(
            T(
                W.of(
                    "tied_uses",
                    param=_name(ctx, ctx.param),
                    n=len(uses),
                    entries=M(", ".join(to_latex(e) for e in entry_symbols)),
                )
            )
        )
    ]
    blocks.append(rows(sy.partial(sy.loss, p), [" + ".join(sy.partial(sy.loss, e) for e in entry_symbols)]))
    shown: dict = {"uses": [], "gradient": None}
    for k, use in enumerate(uses, start=1):
        sub = dataclasses.replace(ctx, entry=use.name)
        blocks.append(Para(T(W.of("t_use", k=k, entry=M(to_latex(entry_symbols[k - 1]))))))
        use_blocks, use_shown = _chain_entry(sub)
        blocks.extend(use_blocks)
        shown["uses"].append({"entry": use.name, **use_shown})
    if ctx.has_numbers and all(u["gradient"] is not None for u in shown["uses"]):
        values = [u["gradient"] for u in shown["uses"]]
        total = math.fsum(values)
        shown["gradient"] = total
        blocks.append(Para(T(W.of("tied_sum"))))
        terms = [fmt(values[0])] + [f"+ {fmt(v)}" if v >= 0 else f"- {fmt(-v)}" for v in values[1:]]
        blocks.append(
            rows(
                sy.partial(sy.loss, p),
                [" + ".join(sy.partial(sy.loss, e) for e in entry_symbols)],
                terms,
                [fmt.result(total)],
            )
        )
    return Step("chain", heading, blocks), shown


def _chain_entry(ctx: Context) -> tuple[list, dict]:
    """The chain rule for one weight/bias entry (``ctx.info``), written for the symbol ``ctx.param_symbol``."""
    net, sy, fmt, info = ctx.net, ctx.sy, ctx.fmt, ctx.info
    p = ctx.param_symbol
    all_paths = paths(ctx)
    shown: dict = {"paths": [], "per_sample": None, "data": None, "penalty": None, "gradient": None}
    blocks: list = [
        Para(
            T(
                W.of(
                    "chain",
                    param=M(to_latex(p)),
                    n=len(all_paths),
                    paths=W.of("one_path" if len(all_paths) == 1 else "n_paths", n=len(all_paths)),
                )
            )
        )
    ]
    l2 = bool(net.l2) and info.kind == "w"
    penalty = ["+", "2", to_latex(sy.lam), to_latex(p)] if l2 else []
    blocks.append(
        rows(sy.partial(sy.loss, p), [sy.scale_latex() + r"\sum_{n=1}^{N}", sy.partial(sy.cost(), p), *penalty])
    )
    if len(all_paths) > MAX_PATHS:
        blocks.append(Para(T(W.of("too_many_paths", n=len(all_paths), max=MAX_PATHS))))
        if ctx.has_numbers:  # the number still comes from the delta form
            shown["gradient"] = _entry_gradient(ctx)
        return blocks, shown
    factor_lists = [path_factors(ctx, path) for path in all_paths]
    products = [r" \cdot ".join(f.symbol for f in fs) for fs in factor_lists]
    lhs = sy.partial(sy.cost(), p)
    if len(products) == 1:
        blocks.append(rows(lhs, [a for f in factor_lists[0] for a in (f.symbol, r"\cdot")][:-1]))
    else:
        atoms = []
        for k, fs in enumerate(factor_lists):
            atoms += ([] if k == 0 else ["+"]) + [a for f in fs for a in (f.symbol, r"\cdot")][:-1]
        blocks.append(rows(lhs, atoms))
    if net.loss_name == "cross_entropy":
        blocks.append(Para(T(W.of("assumption", sum=loss.assumption(ctx)[0], general=loss.assumption(ctx)[1]))))
    if not ctx.has_numbers:
        for k, (path, fs) in enumerate(zip(all_paths, factor_lists), start=1):
            blocks.append(Para(T(W.of("path_symbolic", k=k, path=M(_path_text(ctx, path))))))
            header = (T(W.of("h_factor")), T(W.of("h_local")))
            blocks.append(Table(header, tuple((T(M(f.symbol)), T(M(f.expression))) for f in fs), "ll"))
        return blocks, shown
    N = ctx.n_samples
    per_path = []
    for k, (path, fs) in enumerate(zip(all_paths, factor_lists), start=1):
        product = np.prod([f.values for f in fs], axis=0)
        per_path.append(product)
        shown["paths"].append({"factors": [(f.symbol, f.values.copy()) for f in fs], "product": product})
        blocks.append(Para(T(W.of("path", k=k, path=M(_path_text(ctx, path))))))
        for cols in _chunks(N):
            header = (T(W.of("h_factor")), T(W.of("h_local"))) + tuple(T(M(f"n = {n + 1}")) for n in cols)
            body = [(T(M(f.symbol)), T(M(f.expression))) + tuple(T(M(fmt(f.values[n]))) for n in cols) for f in fs]
            body.append(
                (
                    T(W.of("h_product")),
                    T(M(r" \cdot ".join("(" + f.expression + ")" if " " in f.expression else f.expression for f in fs)))
                    if measure(" ".join(f.expression for f in fs)) < 34 - 3 * len(cols)
                    else T(),
                )
                + tuple(T(M(fmt(product[n]))) for n in cols)
            )
            blocks.append(Table(header, tuple(body), "ll" + "r" * len(cols)))
    per_sample = np.sum(per_path, axis=0)
    shown["per_sample"] = per_sample
    if len(all_paths) > 1:
        blocks.append(Para(T(W.of("sum_paths"))))
        for cols in _chunks(N):
            header = (T(W.of("h_path")),) + tuple(T(M(f"n = {n + 1}")) for n in cols)
            body = [
                (T(M(_path_text(ctx, path))),) + tuple(T(M(fmt(v[n]))) for n in cols)
                for path, v in zip(all_paths, per_path)
            ]
            body.append((T(M(lhs)),) + tuple(T(M(fmt(per_sample[n]))) for n in cols))
            blocks.append(Table(header, tuple(body), "l" + "r" * len(cols)))
    s = sy.scale_latex(N)
    terms = [fmt(per_sample[0])] + [f"+ {fmt(v)}" if v >= 0 else f"- {fmt(-v)}" for v in per_sample[1:]]
    if s and N > 1:
        terms = [s + r"\left(" + terms[0]] + terms[1:-1] + [terms[-1] + r"\right)"]
    elif s:
        terms = [s + r"\cdot " + fmt.factor(per_sample[0])]
    data = float(ctx.nums.scale * per_sample.sum())
    shown["data"] = data
    blocks.append(Para(T(W.of("sum_samples"))))
    middle = _residual_form(ctx, factor_lists[0]) if len(all_paths) == 1 else []
    if not l2:
        shown["gradient"] = data
        blocks.append(
            rows(
                sy.partial(sy.loss, p), [sy.scale_latex(N) + r"\sum_{n=1}^{N}", lhs], *middle, terms, [fmt.result(data)]
            )
        )
        return blocks, shown
    # the data term as above, then the penalty's own derivative 2 lambda w at the weight's value
    data_symbol = sy.partial(sy.data_loss, p)
    blocks.append(rows(data_symbol, [sy.scale_latex(N) + r"\sum_{n=1}^{N}", lhs], *middle, terms, [fmt.result(data)]))
    w = ctx.nums.entry(info.name)
    lam = float(net.l2)
    term = 2.0 * lam * w
    gradient = data + term
    shown["penalty"], shown["gradient"] = term, gradient
    blocks.append(Para(T(W.of("l2_weight", param=M(to_latex(p)), term=M(rf"2 {to_latex(sy.lam)} {to_latex(p)}")))))
    blocks.append(
        rows(
            sy.partial(sy.loss, p),
            [data_symbol, "+", "2", to_latex(sy.lam), to_latex(p)],
            [fmt.factor(data), "+", "2", r"\cdot", fmt.factor(lam), r"\cdot", fmt.factor(w)],
            [fmt.factor(data), "+" if term >= 0 else "-", fmt(abs(term))],
            [fmt.result(gradient)],
        )
    )
    return blocks, shown


def _entry_gradient(ctx: Context) -> float:
    """dJ/d(entry) from the delta form (data term and, for a weight, 2 lambda w)."""
    info = ctx.info
    gw, gb = ctx.nums.gradients()
    return float(gb[info.layer - 1][info.row] if info.kind == "b" else gw[info.layer - 1][info.row, info.col])


def _residual_form(ctx: Context, factors: list[Factor]) -> list[list[str]]:
    """For a squared loss along one path, the sum as the notes write it: the sum over the samples of
    -2 (observed - predicted) times d predicted / d theta, first in symbols, then with the numbers."""
    net, sy, fmt = ctx.net, ctx.sy, ctx.fmt
    if not loss.is_squared(ctx) or net.n_outputs != 1 or ctx.n_samples > 6:
        return []
    rest = np.prod([f.values for f in factors[1:]], axis=0)
    yn, yhn = to_latex(sy.y(None, "n")), to_latex(sy.yhat(None, "n"))
    symbolic = [
        sy.scale_latex() + r"\sum_{n=1}^{N}",
        rf"-2 \left({yn} - {yhn}\right)",
        sy.partial(sy.yhat(None, "n"), ctx.param_symbol),
    ]
    numeric = []
    for n in range(ctx.n_samples):
        y, yh = ctx.nums.Y[n, 0], ctx.nums.A[-1][n, 0]
        term = rf"-2 \left({fmt(y)} - {fmt.factor(yh)}\right) \cdot {fmt.factor(rest[n])}"
        numeric.append(term if n == 0 else "+ " + term if not term.startswith("-") else "- " + term[1:].lstrip())
    s = sy.scale_latex(ctx.n_samples)
    if s:
        numeric = (
            [s + r"\left(" + numeric[0]] + numeric[1:-1] + [numeric[-1] + r"\right)"]
            if len(numeric) > 1
            else [s + r"\left(" + numeric[0] + r"\right)"]
        )
    return [symbolic, numeric]


def all_gradients(ctx: Context) -> Step:
    """Without a chosen parameter: every trained parameter's derivative in one table (delta form, number,
    new value)."""
    net, sy, fmt = ctx.net, ctx.sy, ctx.fmt
    grads = ctx.nums.gradient()
    s = sy.scale_latex()
    header = (T(W.of("h_param")), T(W.of("h_value")), T(W.of("h_delta_form")), T(M(sy.partial(sy.loss, THETA)))) + (
        (T(M(rf"\theta - \alpha {sy.partial(sy.loss, THETA)}")),) if ctx.lr else ()
    )
    body = []
    for name in ctx.trained:
        terms = []
        for info in ctx.entries(name):  # a tied parameter: the sum over the entries it fills
            entry = rf"{s}\sum_{{n}} {to_latex(sy.delta(info.layer, info.row, 'n'))}"
            if info.kind == "w":
                entry += " " + to_latex(sy.a(info.layer - 1, info.col, "n"))
                if net.l2:
                    entry += rf" + 2 {to_latex(sy.lam)} {to_latex(net.param(name))}"
            terms.append(entry)
        entry = " + ".join(terms) if len(terms) == 1 else " + ".join(rf"\left({t}\right)" for t in terms)
        old = ctx.nums.value(name)
        row = (T(_name(ctx, name)), T(M(fmt(old))), T(M(entry)), T(M(fmt(grads[name]))))
        if ctx.lr:
            row += (T(M(fmt.result(old - ctx.lr * grads[name], old))),)
        body.append(row)
    blocks = [Para(T(W.of("all_gradients", n=len(body)))), Table(header, tuple(body), "lrlr" + ("r" if ctx.lr else ""))]
    return Step("all_gradients", T(W.of("t_all_gradients")), blocks)


# ----------------------------------------------------------------------------- 5. delta form


def general_equations(ctx: Context) -> list[Equation]:
    net = ctx.net
    L = net.depth
    T_ = r"^{\mathsf{T}}"
    out = []
    if net.loss_name in ("bce", "cross_entropy"):
        out.append(rows(r"\delta^{[L]}", [r"\hat{y} - y"]))
    elif net.output.name == "softmax":
        out.append(
            rows(
                r"\delta^{[L]}",
                [rf"\left(\frac{{\partial \hat{{y}}}}{{\partial z^{{[L]}}}}\right){T_}", r"\nabla_{\hat{y}} C^{(n)}"],
            )
        )
    else:
        out.append(rows(r"\delta^{[L]}", [r"\nabla_{\hat{y}} C^{(n)}", r"\odot", r"f'^{[L]}\left(z^{[L]}\right)"]))
    if L > 1:
        out.append(
            rows(
                r"\delta^{[l]}",
                [rf"\left(W^{{[l+1]}}\right){T_}", r"\delta^{[l+1]}", r"\odot", r"f'^{[l]}\left(z^{[l]}\right)"],
            )
        )
    sy = ctx.sy
    out.append(
        rows(sy.partial(sy.cost(), sy.W("l")), [to_latex(sy.delta("l")), rf"\left({to_latex(sy.a('l-1'))}\right){T_}"])
    )
    out.append(rows(sy.partial(sy.cost(), sy.b("l")), [to_latex(sy.delta("l"))]))
    return out


def delta(ctx: Context) -> Step:
    net, sy = ctx.net, ctx.sy
    L = net.depth
    shapes = ", ".join(rf"\delta^{{[{l}]}} \in {sy.shape(net.layers[l])}" for l in range(1, L + 1))
    blocks: list = [Para(T(W.of("delta", shapes=M(shapes))))]
    blocks.extend(general_equations(ctx))
    if net.loss_name == "cross_entropy" and ctx.param is None:  # (with a parameter, the chain rule said it)
        blocks.append(Para(T(W.of("assumption", sum=loss.assumption(ctx)[0], general=loss.assumption(ctx)[1]))))
    if not ctx.has_numbers:
        return Step("delta", T(W.of("t_delta")), blocks)
    # only what the trained parameters need: deltas down to the lowest trained layer, their gradients
    trained = [info for n in ctx.trained for info in ctx.entries(n)]
    lowest = min(i.layer for i in trained)
    for n in range(ctx.n_samples):
        blocks.append(Para(T(W.of("delta_sample", n=M(f"n = {n + 1}")))))
        blocks.extend(loss.output_delta(ctx, n))
        for l in range(L - 1, lowest - 1, -1):
            blocks.extend(dense.hidden_delta(ctx, l, n, activation.prime_vector(ctx, l, n)))
    scale = sy.scale_latex(ctx.n_samples).strip()
    blocks.append(
        Para(
            T(
                W.of(
                    "delta_gradients" if scale else "delta_gradients_sum",
                    D=M(r"\Delta^{[l]}"),
                    A=M(r"A^{[l-1]} = \left[a^{[l-1](1)} \cdots a^{[l-1](N)}\right]"),
                    scale=M(scale),
                    ones=M(r"\mathbf{1}"),
                )
            )
        )
    )
    if net.l2 and any(i.kind == "w" for i in trained):
        blocks.append(Para(T(W.of("l2_gradients", term=M(rf"2 {to_latex(sy.lam)} {to_latex(sy.W('l'))}")))))
    for l in range(L, lowest - 1, -1):
        kinds = {i.kind for i in trained if i.layer == l}
        if kinds:
            blocks.extend(dense.gradients(ctx, l, weights="w" in kinds, biases="b" in kinds))
    return Step("delta", T(W.of("t_delta")), blocks)


# ----------------------------------------------------------------------------- 6. summary


def summary(ctx: Context) -> Step:
    L = ctx.net.depth
    header = (T(W.of("h_equation")), T(W.of("h_formula")), T(W.of("h_explanation")))
    eqs = general_equations(ctx)
    body = [(T(W.of("output_error")), T(M(" ".join(eqs[0].rows[0]))), T(W.of("output_error_text")))]
    k = 1
    if L > 1:
        body.append((T(W.of("hidden_error")), T(M(" ".join(eqs[1].rows[0]))), T(W.of("hidden_error_text"))))
        k = 2
    body.append((T(W.of("weight_gradient")), T(M(" ".join(eqs[k].rows[0]))), T(W.of("weight_gradient_text"))))
    body.append((T(W.of("bias_gradient")), T(M(" ".join(eqs[k + 1].rows[0]))), T(W.of("bias_gradient_text"))))
    if ctx.net.l2:
        sy = ctx.sy
        body.append(
            (
                T(W.of("l2_summary")),
                T(
                    M(
                        rf"{sy.partial(sy.loss, sy.W('l'))} = {sy.scale_latex()}\sum_{{n}} "
                        rf"{sy.partial(sy.cost(), sy.W('l'))} + 2 {to_latex(sy.lam)} "
                        rf"{to_latex(sy.W('l'))}"
                    )
                ),
                T(W.of("l2_summary_text")),
            )
        )
    W_l = to_latex(ctx.sy.W("l"))
    body.append(
        (
            T(W.of("update")),
            T(M(rf"{W_l} := {W_l} - \alpha {ctx.sy.partial(ctx.sy.loss, ctx.sy.W('l'))}")),
            T(W.of("update_text")),
        )
    )
    return Step("summary", T(W.of("t_summary")), [Table(header, tuple(body), "lll")])


# ----------------------------------------------------------------------------- 7. the update


def update(ctx: Context, grads: dict[str, float]) -> tuple[Step, dict[str, float]]:
    net, sy, fmt = ctx.net, ctx.sy, ctx.fmt
    blocks: list = []
    updated: dict[str, float] = {}
    alpha = r"\alpha" if ctx.lr is None else fmt(ctx.lr)
    if ctx.lr is None:
        blocks.append(Para(T(W.of("update_no_lr"))))
    else:
        blocks.append(Para(T(W.of("update_lr", lr=M(rf"\alpha = {alpha}")))))
    names = [ctx.param] if ctx.param is not None else []
    for name in names:
        p = to_latex(net.param(name))
        old, g = ctx.nums.value(name), grads[name]
        parts = [[p, "-", r"\alpha", sy.partial(sy.loss, net.param(name))]]
        if ctx.lr is not None:
            new = old - ctx.lr * g
            updated[name] = new
            # the step size first, as the notes compute it: learning rate times slope
            blocks.append(Para(T(W.of("step_size"))))
            blocks.append(
                rows(
                    rf"\alpha {sy.partial(sy.loss, net.param(name))}",
                    [alpha, r"\cdot", fmt.factor(g)],
                    [fmt.result(ctx.lr * g)],
                )
            )
            blocks.append(Para(T(W.of("new_value", param=M(p)))))
            parts += [[fmt(old), "-", alpha, r"\cdot", fmt.factor(g)], [fmt.result(new, old)]]
        blocks.append(rows(p, *parts, rel=":="))
    if ctx.lr is not None:
        for name in ctx.trained:
            updated.setdefault(name, ctx.nums.value(name) - ctx.lr * grads[name])
        if ctx.all_trained:
            blocks.append(Para(T(W.of("update_matrices"))))
            for l in range(1, net.depth + 1):
                blocks.extend(dense.update(ctx, l))
        elif ctx.param is None or len(ctx.trained) > 1:
            header = (T(W.of("h_param")), T(W.of("h_old")), T(M(sy.partial(sy.loss, THETA))), T(W.of("h_new")))
            body = tuple(
                (
                    T(_name(ctx, n)),
                    T(M(fmt(ctx.nums.value(n)))),
                    T(M(fmt(grads[n]))),
                    T(M(fmt.result(updated[n], ctx.nums.value(n)))),
                )
                for n in ctx.trained
            )
            blocks.append(Table(header, body, "lrrr"))
    return Step("update", T(W.of("t_update")), blocks), updated


# ----------------------------------------------------------------------------- 8. gradient descent


def descent(ctx: Context) -> tuple[Step, list[tuple[int, float, float, float, float]]]:
    """Gradient descent on the one parameter, the others held at their values, until |step| < tol."""
    from ..engine import numbers

    net, sy, fmt, name = ctx.net, ctx.sy, ctx.fmt, ctx.param
    values = dict(ctx.values)
    rows_: list[tuple[int, float, float, float, float]] = []
    for k in range(1, ctx.max_steps + 1):
        slope = numbers(net, values, ctx.X, ctx.Y).gradient()[name]
        size = ctx.lr * slope
        rows_.append((k, values[name], slope, size, values[name] - size))
        values[name] -= size
        if abs(size) < ctx.tol:
            break
    converged = abs(rows_[-1][3]) < ctx.tol
    p = to_latex(net.param(name))
    d = sy.partial(sy.loss, net.param(name))
    header = (
        T(W.of("h_step")),
        T(M(p)),
        T(M(d)),
        T(W.of("h_step_size"), M(rf"= \alpha {d}")),
        T(W.of("h_new"), " ", M(p)),
    )
    limit = 30
    shown = rows_ if len(rows_) <= limit else rows_[: limit - 5] + [None] + rows_[-5:]
    body = []
    for r in shown:
        if r is None:
            body.append((T(M(r"\vdots")), T(W.of("rows_not_shown", n=len(rows_) - limit + 5)), T(), T(), T()))
            continue
        body.append((T(str(r[0])),) + tuple(T(M(fmt(v))) for v in r[1:]))
    outcome = (
        W.of("converged", n=len(rows_), param=M(p), value=M(fmt.result(rows_[-1][4])))
        if converged
        else W.of("not_converged", n=len(rows_))
    )
    blocks = [
        Para(T(W.of("descent", param=M(p), lr=M(rf"\alpha = {fmt(ctx.lr)}"), tol=M(fmt(ctx.tol))))),
        Table(header, tuple(body), "rrrrr"),
        Para(T(outcome)),
    ]
    return Step("descent", T(W.of("t_descent", param=M(p))), blocks), rows_


# ----------------------------------------------------------------------------- appendix: the code


def code(ctx: Context) -> Step:
    from ...codeview import network_code

    blocks: list = [Para(T(W.of("code")))]
    blocks.extend(single(eq) for eq in network_code(ctx.net))
    return Step("code", T(W.of("t_code")), blocks)
