"""derive(): the orchestrator. Its body is the pipeline: check the input, compute the numbers, build
the sections in order, keep the shown numbers for checking."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import budget
from ..spec import Network, as_data, values_mapping
from . import document
from .engine import Numbers, numbers
from .notation import Symbols
from .numbers import DIGITS, NumberFormat
from .steps import Context, sections
from .text import check_lang


@dataclass
class Derivation:
    """The sections of a derivation, the numbers they show, and its renderings."""

    network: Network
    steps: list
    param: str | None = None
    title: str = ""
    gradient: dict[str, float] = field(default_factory=dict)
    updated: dict[str, float] = field(default_factory=dict)
    descent: list[tuple[int, float, float, float, float]] = field(default_factory=list)
    description: str = ""
    #: the numbers the chain-rule section shows: per path its factors (symbol, value per sample) and
    #: product, then the per-sample derivative and the gradient (empty without param or numbers)
    shown: dict = field(default_factory=dict)
    #: the forward and backward numbers behind the page (None without values)
    numbers: Numbers | None = None

    @property
    def display_title(self) -> str:
        return self.title or "Backpropagation derivation"

    def to_latex(self, lang: str = "en") -> str:
        """A LaTeX fragment: one unnumbered subsection per step. The including document needs
        ``LATEX_PACKAGES`` (amsmath, amssymb, longtable, tikz); Bengali also ``BENGALI_PREAMBLE`` (LuaLaTeX)."""
        return document.render_latex_blocks(self.steps, check_lang(lang))

    def to_latex_document(self, lang: str = "en") -> str:
        """A standalone document: English compiles with pdflatex, Bengali (``lang="bn"``) with lualatex."""
        return document.render_latex_document(self.display_title, self.description, self.steps, check_lang(lang))

    def to_markdown(self, lang: str = "en", figure: str | None = None) -> str:
        """Markdown with $$ display blocks; the network figure is the image file ``figure`` (write
        ``figure_svg()`` there), or without it an embedded data URI."""
        return document.render_markdown(self.display_title, self.description, self.steps, check_lang(lang), figure)

    def to_html(self, lang: str = "en") -> str:
        """One self-contained HTML file: MathML and an inline SVG figure, so it shows offline."""
        return document.render_html(self.display_title, self.description, self.steps, check_lang(lang))

    def figure_svg(self) -> str:
        """The network figure as a standalone SVG file's text."""
        fig = next(b for s in self.steps for b in s.blocks if isinstance(b, document.Figure))
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + fig.svg + "\n"

    def __repr__(self) -> str:  # short in a plain REPL; Jupyter shows the page (_repr_markdown_, _repr_html_)
        what = f"dL/d{self.param}" if self.param else "the forward pass and loss"
        return (
            f"<Derivation of {what} for {self.network!r}: {len(self.steps)} steps; "
            f"see .to_markdown(), .to_latex(), .to_html()>"
        )

    def _repr_latex_(self) -> str:
        return "\n".join(
            document.latex_equation(b) for s in self.steps for b in s.blocks if isinstance(b, document.Equation)
        )

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        return self.to_html()


def _check_order(values: Any, X: Any, Y: Any) -> None:
    """derive takes (values, X, Y) like verify; a mapping of values in X's or Y's place is the old order."""
    for what, arg in (("X", X), ("Y", Y)):
        if isinstance(arg, Mapping):
            raise TypeError(
                f"derive takes (net, param, values, X, Y) like verify (the order changed from (X, Y, values)); "
                f"a mapping of parameter values was passed as {what}: write derive(net, param, values, X, Y)"
            )
    if values is not None and not isinstance(values, Mapping) and X is not None and Y is None:
        raise TypeError(
            "derive takes (net, param, values, X, Y) like verify (the order changed from (X, Y, values)); "
            "it got three data-like arguments and no Y: write derive(net, param, values, X, Y) "
            "or derive(net, param, X=X, Y=Y)"
        )


def _positive(what: str, v: Any) -> float | None:
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
        raise ValueError(f"{what} must be a positive number, got {v!r}")
    return None if v is None else float(v)


def _n_samples(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) else 1
    try:
        return len(X)
    except TypeError:
        return 1


def estimate(net: Network, n_samples: int | None, param: bool = True) -> budget.Estimate:
    """The numbers a derivation shows (from the layer sizes alone, no parameter named): every W and b
    with its gradient and update (and without ``param`` the table of every derivative), the forward
    table and the deltas per sample, the matrices of the delta form, the chain-rule tables. Without
    data (``n_samples`` None) the derivation is symbolic: only the parameters are named."""
    if n_samples is None:
        return budget.parameters(net, "the symbolic derivation")
    layers = net.layers
    P = budget.n_params(layers)
    S = sum(layers[1:])
    per_sample = layers[0] + 6 * S + sum(layers[:-1]) + 3 * layers[-1] + 1 + (8 * (2 * net.depth + 2) if param else 0)
    shown = (5 if param else 10) * P + n_samples * per_sample
    what = (
        f"the derivation of a network of {budget._layers(layers)} ({P:,} parameters) on {n_samples:,} samples, "
        f"its pages showing every number"
    )
    return budget.Estimate(what, float(shown), "derivation numbers")


def _guard(net: Any, param: Any, values: Any, X: Any, tol: Any, lr: Any, max_steps: Any) -> None:
    """Refuse an absurd derivation up front, with the estimate (before any parameter is named)."""
    if not isinstance(net, Network):
        return
    n = None if X is None or values is None else _n_samples(X)
    budget.check(
        estimate(net, n, param is not None),
        ["a parameter (param=) instead of every one", "fewer samples", "a smaller network"],
    )
    if n is not None and param is not None and tol is not None and lr is not None and isinstance(max_steps, int):
        budget.check(
            budget.numeric(net, n, passes=2 * max_steps, what=f"the descent trace (up to {max_steps:,} steps)"),
            ["fewer steps (max_steps)", "a larger tol"],
        )


def _context(
    net: Any,
    param: Any,
    values: Any,
    X: Any,
    Y: Any,
    fix: Any,
    lr: Any,
    tol: Any,
    max_steps: Any,
    code: bool,
    digits: int,
) -> Context:
    if not isinstance(net, Network):
        raise TypeError(f"derive needs a symprop Network, got {type(net).__name__}")
    _check_order(values, X, Y)
    name = None if param is None else net.check_name(getattr(param, "name", param))
    if (X is None) != (Y is None):
        raise ValueError("give both X and Y (the data), or neither for the symbolic derivation")
    fixed = {k: float(v) for k, v in values_mapping(net, fix, require_all=False).items()} if fix else None
    if fixed and name in fixed:
        raise ValueError(f'"{name}" is fixed by fix=; it has no derivative. Remove it from fix to differentiate it')
    vals = None
    if values is not None:
        if X is None:
            raise ValueError("values= needs the data X and Y to give numbers; pass X and Y as well")
        vals = {**(fixed or {}), **{k: float(v) for k, v in values_mapping(net, values, require_all=False).items()}}
        missing = [n for n in net.param_names if n not in vals]
        if missing:
            raise ValueError(f"values= misses {len(missing)} parameter(s): {', '.join(missing)}; give every parameter")
    if X is not None:
        X, Y = as_data(net, X, Y)
    lr, tol = _positive("lr", lr), _positive("tol", tol)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    return Context(net, Symbols(net), NumberFormat(digits), name, X, Y, vals, fixed, lr, tol, max_steps, code=code)


def derive(
    net: Network,
    param: Any = None,
    values: Any = None,
    X: Any = None,
    Y: Any = None,
    *,
    fix: Any = None,
    lr: float | None = None,
    tol: float | None = None,
    max_steps: int = 1000,
    code: bool = False,
    digits: int = DIGITS,
    title: str = "",
    description: str = "",
) -> Derivation:
    """The step-by-step derivation of backprop for ``net``: for one parameter, or every one when param is None.

    ``values`` with the data ``X``, ``Y`` adds the numbers (the forward pass per sample, every factor of
    the chain rule, the deltas, the update with learning rate ``lr``); without data the derivation is
    symbolic. ``fix`` holds parameters at their values (they are not trained); ``tol`` (with param,
    values and lr) adds the gradient-descent trace; ``code=True`` adds the code appendix; every number
    is shown with ``digits`` significant digits. A derivation whose estimated cost exceeds the work
    budget (symprop.budget) is refused up front with a ``BudgetError`` giving the estimate.
    """
    _guard(net, param, values, X, tol, lr, max_steps)
    ctx = _context(net, param, values, X, Y, fix, lr, tol, max_steps, code, digits)
    if ctx.values is not None:
        ctx.nums = numbers(net, ctx.values, ctx.X, ctx.Y)
    d = Derivation(net, [], ctx.param, title, description=description, numbers=ctx.nums)
    d.steps.append(sections.network(ctx))
    d.steps.append(sections.forward(ctx))
    d.steps.append(sections.loss_section(ctx))
    if ctx.param is not None:
        step, d.shown = sections.chain(ctx)
        d.steps.append(step)
    elif ctx.has_numbers:
        d.steps.append(sections.all_gradients(ctx))
    d.steps.append(sections.delta(ctx))
    d.steps.append(sections.summary(ctx))
    if ctx.has_numbers:
        grads = ctx.nums.gradient()
        d.gradient = {n: grads[n] for n in ([ctx.param] if ctx.param else ctx.trained)}
        step, d.updated = sections.update(ctx, grads)
        d.steps.append(step)
        if ctx.param is not None and ctx.tol is not None and ctx.lr is not None:
            step, d.descent = sections.descent(ctx)
            d.steps.append(step)
    appendix = sections.closed_appendix(ctx)
    if appendix is not None:
        d.steps.append(appendix)
    if code:
        d.steps.append(sections.code(ctx))
    return d


def derive_problem(problem: Any, param: str | None = None, *, code: bool = False, digits: int = DIGITS) -> Derivation:
    """The derivation a problem file asks for (see symprop.problem)."""
    net = problem.network
    if param is None:
        param = problem.param
    if param is None and problem.train is not None and len(problem.train) == 1:
        param = problem.train[0]
    fix = problem.fixed if problem.train is not None else None
    if param is not None:
        param = net.check_name(param)
        if fix and param in fix:
            raise ValueError(
                f'"{param}" is not trained by this problem ([train] params = {list(problem.train)}); '
                f"choose one of {', '.join(problem.train)}"
            )
    tol = problem.tol if param is not None else None
    title = problem.title or (problem.source.stem if problem.source else "")
    return derive(
        net,
        param,
        problem.values,
        problem.X,
        problem.Y,
        fix=fix or None,
        lr=problem.lr,
        tol=tol,
        max_steps=problem.max_steps,
        code=code,
        digits=digits,
        title=title,
        description=problem.description,
    )


__all__ = ["Derivation", "derive", "derive_problem"]
