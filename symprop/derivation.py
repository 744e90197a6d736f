"""Step-by-step derivations of backprop from the network itself, as LaTeX, Markdown and HTML."""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import sympy as sp

from . import activations, losses, narration
from .chainrule import derivative as exact_derivative, output_delta, reverse_sample
from .graph import forward_sample, input_symbols, loss_expr, parameter_values, sympy_data, weight_matrices
from .narration import check_lang
from .printing import Notation, Num, aligned, format_number, to_latex
from .spec import Network, ParamInfo, as_data, values_mapping

#: the symbol of the whole loss, per loss
LOSS_SYMBOLS: dict[str, str] = {"sse": r"\mathrm{SSR}", "mse": "L", "quadratic": "C", "bce": "L", "cross_entropy": "L"}
ACTIVATION_LATEX: dict[str, str] = {
    "identity": r"\mathrm{id}", "sigmoid": r"\sigma", "tanh": r"\tanh", "relu": r"\operatorname{ReLU}",
    "leaky_relu": r"\operatorname{LeakyReLU}", "softplus": r"\operatorname{softplus}", "elu": r"\operatorname{ELU}",
    "silu": r"\operatorname{SiLU}", "softmax": r"\operatorname{softmax}",
}
DIGITS = 6  # significant digits of every number shown
ROUNDED = 3  # significant digits of the rounded value after \approx (as the seed notes round)
MAX_PATHS = 8  # chain-rule paths written out one by one
MAX_CLOSED_FORM = 6000  # characters of LaTeX beyond which a closed form is reported, not printed
MAX_TABLE_ROWS = 30
MAX_NODES = 4000  # expression-tree nodes beyond which a closed form is not even printed
MAX_TIDY_OPS = 300  # softmax closed forms larger than this are not tidied (cancel/factor cost)
THETA = r"\theta"


@dataclass(frozen=True)
class Phrase:
    """A phrase of narration.PHRASES, filled in the language of the output."""

    key: str
    fields: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Step:
    """One titled step: LaTeX equations (display math, no delimiters) and a sentence of narration."""

    kind: str
    equations: tuple[str, ...]
    fields: tuple[tuple[str, Any], ...] = ()

    def _fields(self, lang: str) -> dict[str, Any]:
        return {k: narration.phrase(v.key, lang, **dict(v.fields)) if isinstance(v, Phrase) else v
                for k, v in self.fields}

    def title_in(self, lang: str = "en") -> str:
        return narration.title(self.kind, lang, **self._fields(lang))

    def narration_in(self, lang: str = "en") -> str:
        return narration.sentence(self.kind, lang, **self._fields(lang))

    @property
    def title(self) -> str:
        return self.title_in("en")

    @property
    def narration(self) -> str:
        return self.narration_in("en")


@dataclass
class Derivation:
    """An ordered list of steps, plus the numbers they show (for checking against compiled code)."""

    network: Network
    steps: list[Step]
    param: str | None = None
    title: str = ""
    gradient: dict[str, float] = field(default_factory=dict)
    updated: dict[str, float] = field(default_factory=dict)
    descent: list[tuple[int, float, float, float, float]] = field(default_factory=list)
    #: dC/dparam for one sample as the collected product of the chain-rule factors, in terms of
    #: the intermediate symbols z^{[l]}_j, a^{[l]}_j, x_k, y_j (None without param or with many paths)
    chain_product: sp.Expr | None = None
    description: str = ""

    def to_latex(self, lang: str = "en") -> str:
        """A LaTeX fragment: one unnumbered subsection per step, narration in ``lang``.

        Equations are wrapped in ``\\fiteq`` (defined here if missing; needs graphicx), which scales
        an equation wider than the page down to the text width. Bengali prose (``lang="bn"``) needs
        a preamble that can set Bengali script: see ``BENGALI_PREAMBLE`` (LuaLaTeX).
        """
        check_lang(lang)
        parts = [FITEQ]
        for step in self.steps:
            parts.append(rf"\subsection*{{{_latex_text(step.title_in(lang))}}}")
            parts.append(_latex_text(step.narration_in(lang)))
            parts.extend(rf"\[ \fiteq{{{eq}}} \]" for eq in step.equations)
        return "\n\n".join(parts) + "\n"

    def to_latex_document(self, lang: str = "en") -> str:
        """A standalone document using standard packages only.

        English compiles with pdflatex. Bengali (``lang="bn"``) compiles with ``lualatex``: babel
        switches to a Bengali font (Noto Serif/Sans Bengali, Lohit Bengali, Kalpurush, ...) wherever
        the text is Bengali, and HarfBuzz shapes the conjuncts.
        """
        check_lang(lang)
        title = _latex_text(self.title or "Backpropagation derivation")
        if lang == "bn":
            head = ("% Bengali: compile with lualatex (pdflatex cannot shape Bengali script)\n"
                    "\\documentclass[10pt]{article}\n\\usepackage{amsmath,amssymb}\n" + BENGALI_PREAMBLE)
        else:
            head = "\\documentclass[10pt]{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{amsmath,amssymb}\n"
        return (
            head + "\\usepackage[margin=1.5cm]{geometry}\n\\usepackage{graphicx}\n\\setlength{\\parindent}{0pt}\n"
            f"{FITEQ}\n"
            f"\\begin{{document}}\n\\section*{{{title}}}\n\n{_latex_text(self.description)}\n\n{self.to_latex(lang)}"
            "\n\\end{document}\n"
        )

    def to_markdown(self, lang: str = "en") -> str:
        """Markdown with $$ display blocks (GitHub and Jupyter render them)."""
        check_lang(lang)
        parts = [f"# {self.title or 'Backpropagation derivation'}"] + ([self.description] if self.description else [])
        for number, step in enumerate(self.steps, start=1):
            parts.append(f"## {number}. {step.title_in(lang)}")
            parts.append(step.narration_in(lang))
            parts.extend(f"$$\n{eq}\n$$" for eq in step.equations)
        return "\n\n".join(parts) + "\n"

    def to_html(self, lang: str = "en") -> str:
        """One self-contained HTML file; the math is MathML (latex2mathml), so it shows offline."""
        check_lang(lang)
        convert = _mathml_converter()
        title = html.escape(self.title or "Backpropagation derivation")
        body = [f"<h1>{title}</h1>"] + ([f"<p>{html.escape(self.description)}</p>"] if self.description else [])
        for number, step in enumerate(self.steps, start=1):
            body.append(f"<h2>{number}. {html.escape(step.title_in(lang))}</h2>")
            body.append(f"<p>{html.escape(step.narration_in(lang))}</p>")
            body.extend(f'<div class="eq">{convert(_for_mathml(eq), display="block")}</div>' for eq in step.equations)
        return HTML_TEMPLATE.format(lang=lang, title=title, body="\n".join(body))

    def _repr_latex_(self) -> str:
        return "\n".join(rf"\[ {eq} \]" for step in self.steps for eq in step.equations)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


#: \fiteq{...}: an equation wider than the text is scaled down to the text width (needs graphicx)
FITEQ = (r"\providecommand{\fiteq}[1]{\begingroup\sbox0{$\displaystyle #1$}"
         r"\ifdim\wd0>\linewidth\resizebox{\linewidth}{!}{\usebox0}\else\usebox0\fi\endgroup}")

#: LuaLaTeX preamble lines for Bengali prose among English words and math: babel picks the Bengali
#: font by character (onchar), HarfBuzz shapes it; the first installed font of a common list is used
BENGALI_FONTS = ("Noto Serif Bengali", "Noto Sans Bengali", "Lohit Bengali", "Kalpurush", "SolaimanLipi",
                 "Mukti Narrow", "Shonar Bangla", "Vrinda", "Bangla MN")
BENGALI_PREAMBLE = (
    "\\usepackage{fontspec}\n\\usepackage[english]{babel}\n"
    + "".join(f"\\IfFontExistsTF{{{font}}}{{\\def\\sympropbengalifont{{{font}}}}}{{%\n" for font in BENGALI_FONTS)
    + "\\PackageError{symprop}{No Bengali font found (tried " + ", ".join(BENGALI_FONTS) + ")}"
    + "{Install one, e.g. Debian: apt-get install fonts-noto-core or fonts-lohit-beng-bengali}"
    + "}" * len(BENGALI_FONTS) + "\n"
    "\\babelprovide[import, onchar=ids fonts]{bengali}\n"
    "\\babelfont[bengali]{rm}[Renderer=HarfBuzz, BoldFont=\\sympropbengalifont, BoldFeatures={FakeBold=2}]"
    "{\\sympropbengalifont}\n"
    "\\babelcharproperty{\"0964}[\"0965]{locale}{bengali}\n"  # the danda, shared with Devanagari
)

HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: "Noto Sans", "Noto Sans Bengali", "Lohit Bengali", sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; }}
.eq {{ overflow-x: auto; overflow-y: hidden; margin: 0.6em 0; padding: 0.3em 0; }}
math {{ font-size: 1.15em; }}
mtd {{ math-style: normal; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


def _mathml_converter():
    try:
        from latex2mathml.converter import convert
    except ImportError:
        raise ImportError("to_html needs latex2mathml: pip install 'symprop[html]'") from None
    return convert


def _for_mathml(latex: str) -> str:
    """latex2mathml does not align ``aligned`` rows; a right/left ``array`` shows the same layout."""
    latex = latex.replace(r"\begin{aligned}", r"\begin{array}{rl}").replace(r"\end{aligned}", r"\end{array}")
    return latex.replace(r"\mathopen{}", "").replace(r"\mathclose{}", "")


def _latex_text(text: str) -> str:
    """Plain text safe inside LaTeX (escapes the special characters)."""
    for char, repl in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                       ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):
        text = text.replace(char, repl)
    return text


# ----------------------------------------------------------------------------- notation


def z_(l: int, j: int) -> Notation:
    return Notation(f"z^{{[{l}]}}_{{{j + 1}}}")


def a_(l: int, j: int) -> Notation:
    return Notation(f"x_{{{j + 1}}}" if l == 0 else f"a^{{[{l}]}}_{{{j + 1}}}")


def y_(j: int) -> Notation:
    return Notation(f"y_{{{j + 1}}}")


def partial(num: str, den: str) -> str:
    return rf"\frac{{\partial {num}}}{{\partial {den}}}"


def _num(x: float) -> str:
    """A shown number: DIGITS significant digits, then the seed-style rounding when it differs."""
    text = format_number(x, DIGITS)
    rounded = format_number(x, ROUNDED)
    return text if rounded == text else rf"{text} \approx {rounded}"


def _param_latex(net: Network, name: str) -> str:
    return to_latex(net.param(name))


def _act_latex(net: Network, l: int) -> str:
    return ACTIVATION_LATEX[net.activations[l - 1].name]


def _text(s: str) -> str:
    return rf"\text{{{s}}}"


# ----------------------------------------------------------------------------- inputs


@dataclass
class _Setup:
    net: Network
    param: str | None
    X: Any
    Y: Any
    values: dict[str, Any] | None
    fix: dict[str, Any] | None
    lr: float | None
    tol: float | None
    max_steps: int

    @property
    def has_data(self) -> bool:
        return self.X is not None

    @property
    def n_samples(self) -> int:
        return len(self.X) if self.X is not None else 1

    @property
    def loss_symbol(self) -> str:
        return LOSS_SYMBOLS[self.net.loss_name]


def _setup(net: Network, param: Any, X: Any, Y: Any, values: Any, fix: Any, lr: Any, tol: Any,
           max_steps: Any) -> _Setup:
    if not isinstance(net, Network):
        raise TypeError(f"derive needs a symprop Network, got {type(net).__name__}")
    name = None if param is None else net.info(getattr(param, "name", param)).name
    if (X is None) != (Y is None):
        raise ValueError("give both X and Y (the data), or neither for the one-sample symbolic derivation")
    if X is not None:
        X, Y = _display_data(net, X, Y)
    fixed = values_mapping(net, fix, require_all=False) if fix else None
    if fixed and name in fixed:
        raise ValueError(f'"{name}" is fixed by fix=; it has no derivative. Remove it from fix to differentiate it')
    vals = None
    if values is not None:
        if X is None:
            raise ValueError("values= needs the data X and Y to give numbers; pass X and Y as well")
        vals = {**(fixed or {}), **values_mapping(net, values, require_all=False)}
        missing = [n for n in net.param_names if n not in vals]
        if missing:
            raise ValueError(f"values= misses {len(missing)} parameter(s): {', '.join(missing)}; give every parameter")
    for what, v in (("lr", lr), ("tol", tol)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
            raise ValueError(f"{what} must be a positive number, got {v!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    return _Setup(net, name, X, Y, vals, fixed, None if lr is None else float(lr),
                  None if tol is None else float(tol), max_steps)


def _display_data(net: Network, X: Any, Y: Any) -> tuple[list[list[sp.Expr]], list[list[sp.Expr]]]:
    """Validated data as SymPy numbers that print as written: integers without '.0', others as Floats."""
    Xa, Ya = as_data(net, X, Y)

    def number(v: float) -> sp.Expr:
        return sp.Integer(int(v)) if float(v).is_integer() else sp.Float(repr(float(v)))

    return [[number(v) for v in row] for row in Xa], [[number(v) for v in row] for row in Ya]


# ----------------------------------------------------------------------------- steps


def network_step(s: _Setup) -> Step:
    """Step 1: layer sizes, activations, loss, and the table of parameters."""
    net = s.net
    acts = r",\quad ".join(f"f^{{[{l}]}} = {_act_latex(net, l)}" for l in range(1, net.depth + 1))
    sizes = ", ".join(str(n) for n in net.layers)
    header = rf"n = ({sizes}),\quad {acts},\quad {_text('loss: ')}{s.loss_symbol}"
    rows = [r"\text{parameter} & \text{layer} & \text{from} & \text{to} \\ \hline"]
    for info in net.param_infos:
        source = "1" if info.kind == "b" else to_latex(a_(info.layer - 1, info.col))
        rows.append(rf"{_param_latex(net, info.name)} & {info.layer} & {source} & {to_latex(z_(info.layer, info.row))} \\")
    table = r"\begin{array}{cccc} " + " ".join(rows) + r" \end{array}"
    return Step("network", (header, table), (("layers", f"({sizes})"), ("n_params", net.n_params)))


def _neuron_equations(net: Network) -> list[str]:
    W, b = weight_matrices(net, parameter_values(net, None, False))
    eqs = []
    for l in range(1, net.depth + 1):
        prev = [a_(l - 1, k) for k in range(net.layers[l - 1])]
        zs = [z_(l, j) for j in range(net.layers[l])]
        for j, z in enumerate(zs):
            total = sp.Add(*[W[l - 1][j][k] * prev[k] for k in range(len(prev))], b[l - 1][j])
            eqs.append(f"{to_latex(z)} = {to_latex(total)}")
        outs = activations.apply(net.activations[l - 1], zs)
        eqs.extend(f"{to_latex(a_(l, j))} = {to_latex(out)}" for j, out in enumerate(outs))
    return eqs


def _too_big(expr: sp.Expr, limit: int) -> bool:
    """Whether the expression tree has more than ``limit`` nodes (stops counting early)."""
    return any(i > limit for i, _ in enumerate(sp.preorder_traversal(expr)))


def _closed(lhs: str, expr: sp.Expr, **settings: Any) -> str:
    if _too_big(expr, MAX_NODES):
        return rf"{lhs} = {_text(f'(a closed form of more than {MAX_NODES} terms and symbols, not printed)')}"
    text = aligned(lhs, expr, **settings)
    if len(text) > MAX_CLOSED_FORM:
        return rf"{lhs} = {_text(f'(a closed form of {len(text)} characters of LaTeX, not printed)')}"
    return text


def _output_z(net: Network, rows: list[list[sp.Expr]], fix: Any = None) -> list[list[sp.Expr]]:
    """The closed forms of z^{[L]} for every sample (rows of inputs)."""
    W, b = weight_matrices(net, parameter_values(net, fix, False))
    return [forward_sample(net, x, W, b)[0][-1] for x in rows]


def _z_symbol(L: int, k: int, n: int | None) -> Notation:
    sample = "" if n is None else f"({n + 1})"
    return Notation(f"z^{{[{L}]{sample}}}_{{{k + 1}}}")


def _abbreviations(net: Network, rows: list[list[sp.Expr]], per_sample: bool,
                   fix: Any = None) -> tuple[dict[sp.Expr, sp.Expr], list[tuple[Notation, sp.Expr]]]:
    """For softmax outputs: exp(z) -> e^{z symbol}, and the definitions z symbol = closed form."""
    if net.output.name != "softmax":
        return {}, []
    mapping: dict[sp.Expr, sp.Expr] = {}
    definitions = []
    for n, zs in enumerate(_output_z(net, rows, fix)):
        for k, z in enumerate(zs):
            sym = _z_symbol(net.depth, k, n if per_sample else None)
            mapping[z], mapping[-z] = sym, -sym
            definitions.append((sym, z))
    return mapping, definitions


def _abbreviate(expr: sp.Expr, mapping: dict[sp.Expr, sp.Expr]) -> sp.Expr:
    """Write every e^{closed form of z^{[L]}_k} as e^{z^{[L]}_k} (softmax closed forms stay readable)."""
    if not mapping:
        return expr
    if _too_big(expr, MAX_NODES):
        return expr  # _closed reports it as too large to print
    short = expr.replace(lambda e: isinstance(e, sp.exp) and e.args[0] in mapping, lambda e: sp.exp(mapping[e.args[0]]))
    if _too_big(short, MAX_TIDY_OPS):
        return short
    # each term as one fraction over its softmax denominator (an exact rewrite: cancel, then factor)
    return sp.Add(*[sp.factor(sp.cancel(term)) for term in sp.Add.make_args(short)])


def _definitions(definitions: list[tuple[Notation, sp.Expr]], **settings: Any) -> list[str]:
    return [aligned(to_latex(sym), z, **settings) for sym, z in definitions]


def forward_step(s: _Setup) -> Step:
    """Step 2: the layer equations, per neuron, and the prediction as a closed form."""
    net = s.net
    eqs = [r"a^{[0]} = x"]
    for l in range(1, net.depth + 1):
        eqs.append(rf"z^{{[{l}]}} = W^{{[{l}]}} a^{{[{l - 1}]}} + b^{{[{l}]}},\quad "
                   rf"a^{{[{l}]}} = {_act_latex(net, l)}\left(z^{{[{l}]}}\right)")
    eqs.extend(_neuron_equations(net))
    W, b = weight_matrices(net, parameter_values(net, None, False))
    _, As = forward_sample(net, list(input_symbols(net)), W, b)
    mapping, definitions = _abbreviations(net, [list(input_symbols(net))], per_sample=False)
    eqs.extend(_definitions(definitions))
    for j, out in enumerate(As[-1]):
        eqs.append(_closed(rf"\hat{{y}}_{{{j + 1}}} = a^{{[{net.depth}]}}_{{{j + 1}}}", _abbreviate(out, mapping)))
    return Step("forward", tuple(eqs))


def _scale_latex(net: Network, n: int | None = None) -> str:
    scale = losses.scale(net.loss_name) if n is None else losses.scale_value(net.loss_name, n, net.n_outputs)
    return "" if scale == 1 else to_latex(scale) + " "


def loss_step(s: _Setup) -> Step:
    """Step 3: the loss, in general and as a closed form of every trainable parameter."""
    net = s.net
    ell = to_latex(losses.element(net.loss_name))
    eqs = [
        rf"{s.loss_symbol} = \sum_{{n=1}}^{{N}} C^{{(n)}},\quad C^{{(n)}} = {_scale_latex(net)}"
        rf"\sum_{{j=1}}^{{{net.n_outputs}}} \ell\left(a^{{[{net.depth}](n)}}_{{j}}, y^{{(n)}}_{{j}}\right),\quad "
        rf"\ell(a, y) = {ell}",
    ]
    args = ", ".join(_param_latex(net, n) for n in net.param_names)
    if s.has_data:
        mapping, definitions = _abbreviations(net, s.X, per_sample=True)
        eqs.extend(_definitions(definitions))
        eqs.append(_closed(rf"{s.loss_symbol}\left({args}\right)", _abbreviate(loss_expr(net, s.X, s.Y), mapping)))
        if s.fix:
            free = ", ".join(_param_latex(net, n) for n in net.param_names if n not in s.fix)
            mapping, definitions = _abbreviations(net, s.X, per_sample=True, fix=s.fix)
            eqs.extend(_definitions(definitions, float_digits=DIGITS))
            eqs.append(_closed(rf"{s.loss_symbol}\left({free}\right)",
                               _abbreviate(loss_expr(net, s.X, s.Y, fix=s.fix), mapping), float_digits=DIGITS))
        samples = Phrase("sample") if s.n_samples == 1 else Phrase("samples", (("n", s.n_samples),))
    else:
        mapping, _ = _abbreviations(net, [list(net.inputs)], per_sample=False)
        eqs.append(_closed(rf"C\left({args}\right)", _abbreviate(net.sample_loss(), mapping)))
        samples = Phrase("symbolic_sample")
    return Step("loss", tuple(eqs), (("loss", Phrase(f"loss_{net.loss_name}")), ("samples", samples)))


def _paths(net: Network, info: ParamInfo) -> list[tuple[int, ...]]:
    """Neuron index sequences (layer info.layer .. L) from the parameter's neuron to the outputs."""
    later = [range(net.layers[m]) for m in range(info.layer + 1, net.depth + 1)]
    return [(info.row, *rest) for rest in itertools.product(*later)]


def _output_factors(net: Network, i: int, n_samples: int = 1) -> list[tuple[str, str, sp.Expr]]:
    """(numerator, denominator, expression) of the output stage for output neuron i, per sample."""
    L = net.depth
    A = [a_(L, j) for j in range(net.layers[L])]
    Z = [z_(L, j) for j in range(net.layers[L])]
    Ys = [y_(j) for j in range(net.layers[L])]
    scale = losses.scale_value(net.loss_name, n_samples, net.n_outputs)
    if net.output.name == "softmax":
        delta = output_delta(net, Z, A, Ys)[i]
        return [("C", to_latex(Z[i]), scale * sp.simplify(delta))]
    g = losses.element_derivative(net.loss_name).xreplace({losses.A: A[i], losses.Y: Ys[i]})
    d = activations.derivative_form(net.output, activations.Z).xreplace({activations.Z: Z[i]})
    d = _in_terms_of_a(net.output.name, d, Z[i], A[i])
    return [("C", to_latex(A[i]), scale * g), (to_latex(A[i]), to_latex(Z[i]), d)]


def _in_terms_of_a(act: str, d: sp.Expr, z: sp.Expr, a: sp.Expr) -> sp.Expr:
    """Write sigmoid'(z) as a (1 - a) and tanh'(z) as 1 - a^2, as the notes do."""
    if act == "sigmoid":
        return a * (1 - a)
    if act == "tanh":
        return 1 - a**2
    return d


def _hidden_factors(net: Network, l: int, j: int, i: int) -> list[tuple[str, str, sp.Expr]]:
    """Factors from a^{[l]}_j to z^{[l+1]}_i and from z^{[l]}_j to a^{[l]}_j (element-wise hidden)."""
    act = net.activations[l - 1]
    d = activations.derivative_form(act, activations.Z).xreplace({activations.Z: z_(l, j)})
    d = _in_terms_of_a(act.name, d, z_(l, j), a_(l, j))
    w = net.param(_weight_name(net, l + 1, i, j))
    return [(to_latex(z_(l + 1, i)), to_latex(a_(l, j)), w), (to_latex(a_(l, j)), to_latex(z_(l, j)), d)]


def _weight_name(net: Network, layer: int, row: int, col: int) -> str:
    for info in net.param_infos:
        if info.kind == "w" and info.layer == layer and info.row == row and info.col == col:
            return info.name
    raise LookupError(f"no weight at layer {layer}, row {row}, col {col}")


def _path_factors(net: Network, info: ParamInfo, path: tuple[int, ...], n_samples: int) -> list[tuple[str, str, sp.Expr]]:
    L = net.depth
    factors = _output_factors(net, path[-1], n_samples)
    for offset in range(len(path) - 1, 0, -1):  # hidden layers, from the output back to the parameter
        l = info.layer + offset - 1
        factors += _hidden_factors(net, l, path[offset - 1], path[offset])
    if info.layer < L or net.output.name != "softmax":
        pass
    last = sp.S.One if info.kind == "b" else a_(info.layer - 1, info.col)
    factors.append((to_latex(z_(info.layer, info.row)), _param_latex(net, info.name), last))
    return factors


def _derivative_lhs(s: _Setup, name: str) -> str:
    return partial(s.loss_symbol, _param_latex(s.net, name))


def chain_step(s: _Setup) -> tuple[Step, sp.Expr | None]:
    """Step 4: the chain rule factor by factor, each factor's expression, the product collected."""
    net, name = s.net, s.param
    info = net.info(name)
    p = _param_latex(net, name)
    paths = _paths(net, info)
    eqs = [rf"{_derivative_lhs(s, name)} = \sum_{{n=1}}^{{N}} {partial('C^{(n)}', p)}"]
    collected = None
    if len(paths) <= MAX_PATHS:
        all_factors = [_path_factors(net, info, path, s.n_samples) for path in paths]
        products = [r" \cdot ".join(partial(num, den) for num, den, _ in fs) for fs in all_factors]
        eqs.append(_break(partial("C", p), products))
        seen: dict[str, sp.Expr] = {}
        for fs in all_factors:
            for num, den, expr in fs:
                seen.setdefault(partial(num, den), sp.factor_terms(expr))
        eqs.append(r" \qquad ".join(f"{k} = {to_latex(v)}" for k, v in list(seen.items())[:3]))
        rest = list(seen.items())[3:]
        for start in range(0, len(rest), 3):
            eqs.append(r" \qquad ".join(f"{k} = {to_latex(v)}" for k, v in rest[start:start + 3]))
        collected = sp.factor_terms(sp.Add(*[sp.Mul(*[e for _, _, e in fs]) for fs in all_factors]))
        eqs.append(aligned(partial("C", p), collected))
        simpler = sp.factor_terms(sp.simplify(collected))
        if simpler != collected and len(to_latex(simpler)) < len(to_latex(collected)):
            eqs.append(aligned(partial("C", p), simpler))
    else:
        eqs.append(rf"{partial('C', p)} = \delta^{{[{info.layer}]}}_{{{info.row + 1}}}"
                   + ("" if info.kind == "b" else " " + to_latex(a_(info.layer - 1, info.col))))
    if net.output.name == "softmax":
        eqs.append(_softmax_assumption(net, s.n_samples))
    if s.has_data:
        mapping, _ = _abbreviations(net, s.X, per_sample=True)
        eqs.append(_closed(_derivative_lhs(s, name), _abbreviate(exact_derivative(net, name, s.X, s.Y), mapping)))
        if s.fix:
            mapping, _ = _abbreviations(net, s.X, per_sample=True, fix=s.fix)
            fixed = _abbreviate(exact_derivative(net, name, s.X, s.Y, fix=s.fix), mapping)
            eqs.append(_closed(_derivative_lhs(s, name), fixed, float_digits=DIGITS))
    else:
        mapping, _ = _abbreviations(net, [list(net.inputs)], per_sample=False)
        sample = exact_derivative(net, name, [list(net.inputs)], [list(net.targets)])
        eqs.append(_closed(partial("C", p), _abbreviate(sample, mapping)))
    n = len(paths)
    fields = (("param", name), ("paths", Phrase("path") if n == 1 else Phrase("paths", (("n", n),))))
    return Step("chain", tuple(eqs), fields), collected


def all_gradients_step(s: _Setup) -> Step:
    """Without a chosen parameter: every derivative in delta form (a table) and in closed form."""
    net = s.net
    total = s.loss_symbol if s.has_data else "C"
    rows = [r"\text{parameter} & \text{derivative (delta form)} \\ \hline"]
    for info in net.param_infos:
        entry = rf"\delta^{{[{info.layer}](n)}}_{{{info.row + 1}}}"
        if info.kind == "w":
            entry += rf" a^{{[{info.layer - 1}](n)}}_{{{info.col + 1}}}" if info.layer > 1 else rf" x^{{(n)}}_{{{info.col + 1}}}"
        p = _param_latex(net, info.name)
        rows.append(rf"{p} & {partial(total, p)} = \sum_{{n}} {entry} \\")
    eqs = [r"\begin{array}{ll} " + " ".join(rows) + r" \end{array}"]
    rows_x = s.X if s.has_data else [list(net.inputs)]
    rows_y = s.Y if s.has_data else [list(net.targets)]
    grads = net.gradient(rows_x, rows_y)
    mapping, _ = _abbreviations(net, rows_x, per_sample=s.has_data)
    for name in net.param_names:
        eqs.append(_closed(partial(total, _param_latex(net, name)), _abbreviate(grads[net.param(name)], mapping)))
    return Step("all_gradients", tuple(eqs))


def _softmax_assumption(net: Network, n: int) -> str:
    L = net.depth
    return (rf"\text{{assuming each target row sums to 1, }} \sum_{{k}} y_{{k}} = 1:\quad "
            rf"{partial('C', f'z^{{[{L}]}}')} = {_scale_latex(net, n)}\left(a^{{[{L}]}} - y\right)")


def _break(lhs: str, products: Sequence[str], per_line: int = 1) -> str:
    if len(products) <= per_line:
        return f"{lhs} = " + " + ".join(products)
    lines = [" + ".join(products[i:i + per_line]) for i in range(0, len(products), per_line)]
    return rf"\begin{{aligned}} {lhs} &= " + r" \\ &\quad + ".join(lines) + r" \end{aligned}"


def _delta_general(net: Network) -> list[str]:
    L = net.depth
    hadamard, T = r"\odot", r"^{\mathsf{T}}"
    out = rf"\delta^{{[L]}} = \nabla_{{a^{{[L]}}}} C {hadamard} f'^{{[L]}}\left(z^{{[L]}}\right)"
    if net.output.name == "softmax":  # the softmax Jacobian is not diagonal: no Hadamard product here
        out = (rf"\delta^{{[L]}} = \left({partial('a^{[L]}', 'z^{[L]}')}\right){T} \nabla_{{a^{{[L]}}}} C,\quad "
               rf"{partial('a_{j}', 'z_{k}')} = a_{{j}} \left(\delta_{{jk}} - a_{{k}}\right)")
    return [
        out,
        rf"\delta^{{[l]}} = \left(W^{{[l+1]}}\right){T} \delta^{{[l+1]}} {hadamard} f'^{{[l]}}\left(z^{{[l]}}\right)",
        rf"{partial('C', 'W^{[l]}')} = \delta^{{[l]}} \left(a^{{[l-1]}}\right){T}",
        rf"{partial('C', 'b^{[l]}')} = \delta^{{[l]}}",
        rf"L = {L},\quad \delta^{{[l]}} = {partial('C', 'z^{[l]}')}",
    ]


def _delta_layers(net: Network, n: int) -> list[str]:
    """The four equations instantiated for every layer of this network, entries written out."""
    L = net.depth
    eqs = []
    A = [a_(L, j) for j in range(net.layers[L])]
    if net.output.name == "softmax":
        delta = sp.Matrix([_output_factors(net, i, n)[0][2] for i in range(net.layers[L])])
        eqs.append(rf"\delta^{{[{L}]}} = {to_latex(delta)}")
        eqs.append(_softmax_assumption(net, n))
    else:
        grad = sp.Matrix([_output_factors(net, i, n)[0][2] for i in range(net.layers[L])])
        fprime = sp.Matrix([_output_factors(net, i, n)[1][2] for i in range(net.layers[L])])
        product = sp.Matrix([g * f for g, f in zip(grad, fprime)])
        eqs.append(rf"\delta^{{[{L}]}} = {to_latex(grad)} \odot {to_latex(fprime)} = {to_latex(product)}")
    for l in range(L - 1, 0, -1):
        W = sp.Matrix(net.layers[l + 1], net.layers[l], lambda i, j: net.param(_weight_name(net, l + 1, i, j)))
        d_next = sp.Matrix([Notation(f"\\delta^{{[{l + 1}]}}_{{{i + 1}}}") for i in range(net.layers[l + 1])])
        act = net.activations[l - 1]
        fprime = sp.Matrix([
            _in_terms_of_a(act.name, activations.derivative_form(act, activations.Z).xreplace({activations.Z: z_(l, j)}),
                           z_(l, j), a_(l, j))
            for j in range(net.layers[l])
        ])
        product = sp.Matrix([v * f for v, f in zip(W.T * d_next, fprime)])
        eqs.append(rf"\delta^{{[{l}]}} = {to_latex(W)}^{{\mathsf{{T}}}} {to_latex(d_next)} \odot {to_latex(fprime)}"
                   rf" = {to_latex(product)}")
    return eqs


def _numeric_deltas(s: _Setup) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Delta^{[l]} (n_l x N, one column per sample, scale included) and A^{[l]} (n_l x N), l = 0..L."""
    net = s.net
    Xs, Ys = sympy_data(net, s.X, s.Y, exact=False)
    W, b = weight_matrices(net, parameter_values(net, s.values, exact=False))
    scale = float(losses.scale_value(net.loss_name, len(Xs), net.n_outputs))
    cols_d: list[list[list[float]]] = [[] for _ in range(net.depth + 1)]
    cols_a: list[list[list[float]]] = [[] for _ in range(net.depth + 1)]
    for x, y in zip(Xs, Ys):
        _, As, deltas = reverse_sample(net, x, y, W, b)
        for l in range(net.depth + 1):
            cols_a[l].append([float(sp.N(v, 30)) for v in As[l]])
            if l:
                cols_d[l].append([scale * float(sp.N(v, 30)) for v in deltas[l]])
    D = [np.zeros((0, 0))] + [np.array(c).T for c in cols_d[1:]]
    A = [np.array(c).T for c in cols_a]
    return D, A


def _matrix_latex(M: np.ndarray) -> str:
    rows = [" & ".join(format_number(v, DIGITS) for v in row) for row in np.atleast_2d(M)]
    return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"


def delta_step(s: _Setup) -> tuple[Step, dict[str, float]]:
    """Step 5: the four equations in matrix form, for this network, and with numbers when given."""
    net = s.net
    eqs = _delta_general(net) + _delta_layers(net, s.n_samples)
    if s.param is not None:
        info = net.info(s.param)
        entry = rf"\delta^{{[{info.layer}]}}_{{{info.row + 1}}}"
        rhs = entry if info.kind == "b" else f"{entry} {to_latex(a_(info.layer - 1, info.col))}"
        eqs.append(rf"{partial('C', _param_latex(net, s.param))} = {rhs}")
    numbers: dict[str, float] = {}
    if s.values is not None:
        D, A = _numeric_deltas(s)
        for l in range(net.depth, 0, -1):
            gw, gb = D[l] @ A[l - 1].T, D[l].sum(axis=1)
            eqs.append(rf"\Delta^{{[{l}]}} = {_matrix_latex(D[l])}")
            a_name = "X" if l == 1 else f"A^{{[{l - 1}]}}"
            eqs.append(rf"{partial(s.loss_symbol, f'W^{{[{l}]}}')} = \Delta^{{[{l}]}} \left({a_name}\right)^{{\mathsf{{T}}}}"
                       rf" = {_matrix_latex(gw)},\quad {partial(s.loss_symbol, f'b^{{[{l}]}}')} = \Delta^{{[{l}]}}"
                       rf" \mathbf{{1}} = {_matrix_latex(gb.reshape(-1, 1))}")
            for info in net.param_infos:
                if info.layer == l:
                    numbers[info.name] = float(gb[info.row] if info.kind == "b" else gw[info.row, info.col])
        eqs.append(r"\Delta^{[l]} = \left[\delta^{[l](1)} \cdots \delta^{[l](N)}\right],\quad "
                   r"A^{[l]} = \left[a^{[l](1)} \cdots a^{[l](N)}\right]")
    return Step("delta", tuple(eqs)), numbers


def code_step(s: _Setup) -> Step:
    """The reference NumPy functions this network uses, rendered by latexify-py."""
    from .codeview import network_code

    return Step("code", tuple(network_code(s.net)))


def _substituted(s: _Setup, expr: sp.Expr) -> sp.Expr:
    return expr.xreplace({s.net.param(n): Num(v) for n, v in s.values.items()})


_DOUBLE_PAREN = re.compile(r"\\left\(\\left\((-[0-9.]+)\\right\)")


def _tidy(latex: str) -> str:
    """A negative number first inside parentheses needs no parentheses of its own."""
    return _DOUBLE_PAREN.sub(r"\\left(\1", latex)


def _value(s: _Setup, expr: sp.Expr) -> float:
    from .chainrule import evaluate

    return float(evaluate(s.net, expr, s.values))


def numbers_step(s: _Setup) -> tuple[Step, dict[str, float]]:
    """Step 6: formula, formula with numbers, number (one parameter) or the table (all parameters)."""
    net = s.net
    if s.param is not None:
        formula = exact_derivative(net, s.param, s.X, s.Y)
        lhs = _derivative_lhs(s, s.param)
        value = _value(s, formula)
        mapping, definitions = _abbreviations(net, s.X, per_sample=True)
        shown = _abbreviate(formula, mapping)
        z_values = {sym: Num(float(f"{_value(s, z):.{DIGITS}g}")) for sym, z in definitions}
        eqs = [_closed(lhs, shown)]
        eqs += [rf"{to_latex(sym)} = {format_number(num.value, DIGITS)}" for sym, num in z_values.items()]
        eqs += [_tidy(_closed(lhs, _substituted(s, shown).xreplace(z_values), mul_symbol="dot", float_digits=DIGITS)),
                f"{lhs} = {_num(value)}"]
        return Step("numbers", tuple(eqs), (("summary", Phrase("slope", (("value", format_number(value, DIGITS)),))),)), \
            {s.param: value}
    grads = net.gradient(s.X, s.Y)
    values = {name: _value(s, grads[net.param(name)]) for name in net.param_names}
    rows = [r"\text{parameter} & \text{value} & " + partial(s.loss_symbol, THETA) + r" \\ \hline"]
    rows += [rf"{_param_latex(net, n)} & {format_number(s.values[n])} & {format_number(values[n], DIGITS)} \\"
             for n in net.param_names]
    table = r"\begin{array}{rrr} " + " ".join(rows) + r" \end{array}"
    return Step("numbers", (table,), (("summary", Phrase("slopes", (("n", len(values)),))),)), values


def update_step(s: _Setup, grads: dict[str, float]) -> tuple[Step, dict[str, float]]:
    """Step 7: one gradient-descent update theta_new = theta_old - alpha dL/dtheta."""
    net = s.net
    alpha = r"\alpha" if s.lr is None else format_number(s.lr)
    eqs = [rf"\theta_{{\text{{new}}}} = \theta_{{\text{{old}}}} - \alpha {partial(s.loss_symbol, THETA)}"]
    updated: dict[str, float] = {}
    names = [s.param] if s.param is not None else [n for n in net.param_names if not (s.fix and n in s.fix)]
    rows = []
    for name in names:
        old, g = float(s.values[name]), grads[name]
        if s.lr is None:
            rows.append(rf"{{{_param_latex(net, name)}}}_{{\text{{new}}}} = {format_number(old)} - \alpha \cdot {_paren(g)}")
            continue
        new = old - s.lr * g
        updated[name] = new
        rows.append(rf"{{{_param_latex(net, name)}}}_{{\text{{new}}}} = {format_number(old)} - {alpha} \cdot {_paren(g)}"
                    rf" = {_num(new)}")
    if s.param is not None or len(rows) <= MAX_TABLE_ROWS:
        eqs.extend(rows)
    lr_text = Phrase("lr", (("lr", alpha),)) if s.lr is not None else ""
    return Step("update", tuple(eqs), (("lr_text", lr_text),)), updated


def _paren(x: float) -> str:
    text = format_number(x, DIGITS)
    return rf"\left({text}\right)" if text.startswith("-") else text


def descent_step(s: _Setup) -> tuple[Step, list[tuple[int, float, float, float, float]]]:
    """Gradient descent on the one parameter, the others held at their values, until |step| < tol."""
    net, name = s.net, s.param
    p = net.param(name)
    others = {n: v for n, v in s.values.items() if n != name}
    expr = exact_derivative(net, name, s.X, s.Y, fix=others)
    slope_of = sp.lambdify(p, expr, modules="mpmath")
    value, rows = float(s.values[name]), []
    for step in range(1, s.max_steps + 1):
        slope = float(slope_of(sp.Float(value, 30)))
        size = s.lr * slope
        rows.append((step, value, slope, size, value - size))
        value -= size
        if abs(size) < s.tol:
            break
    converged = abs(rows[-1][3]) < s.tol
    head = (rf"\text{{step}} & {_param_latex(net, name)} & {partial(s.loss_symbol, _param_latex(net, name))} & "
            rf"\text{{step size}} = \alpha \cdot {partial(s.loss_symbol, _param_latex(net, name))} & "
            rf"{_param_latex(net, name)} - \text{{step size}} \\ \hline")
    shown = rows if len(rows) <= MAX_TABLE_ROWS else rows[:MAX_TABLE_ROWS - 5] + [None] + rows[-5:]
    lines = [head]
    for row in shown:
        if row is None:
            lines.append(rf"\vdots & \multicolumn{{4}}{{l}}{{\text{{({len(rows) - MAX_TABLE_ROWS + 5} rows not shown)}}}} \\")
            continue
        lines.append(" & ".join([str(row[0])] + [format_number(v, DIGITS) for v in row[1:]]) + r" \\")
    table = r"\begin{array}{rrrrr} " + " ".join(lines) + r" \end{array}"
    outcome = (Phrase("converged", (("n", len(rows)), ("param", name), ("value", format_number(rows[-1][4], DIGITS))))
               if converged else Phrase("not_converged", (("n", len(rows)),)))
    eqs = (rf"\alpha = {format_number(s.lr)},\quad \text{{stop when }} \left|\alpha {partial(s.loss_symbol, _param_latex(net, name))}\right| < {format_number(s.tol)}", table)
    return Step("descent", eqs, (("param", name), ("tol", format_number(s.tol)), ("outcome", outcome))), rows


# ----------------------------------------------------------------------------- entry points


def derive(net: Network, param: Any = None, X: Any = None, Y: Any = None, values: Any = None, *,
           fix: Any = None, lr: float | None = None, tol: float | None = None, max_steps: int = 1000,
           code: bool = True, title: str = "", description: str = "") -> Derivation:
    """The step-by-step derivation of backprop for ``net`` (one parameter, or all when param is None).

    ``X``/``Y`` give the data (without them the derivation is for one symbolic sample); ``values``
    (with data) adds the numbers and one update with learning rate ``lr``; ``fix`` holds parameters
    at values before differentiating; ``tol`` (with param, values and lr) adds the descent table.
    """
    s = _setup(net, param, X, Y, values, fix, lr, tol, max_steps)
    steps = [network_step(s), forward_step(s), loss_step(s)]
    chain_product = None
    if s.param is not None:
        step, chain_product = chain_step(s)
        steps.append(step)
    else:
        steps.append(all_gradients_step(s))
    delta, delta_numbers = delta_step(s)
    steps.append(delta)
    if code:
        steps.append(code_step(s))
    d = Derivation(net, steps, s.param, title, chain_product=chain_product, description=description)
    if s.values is not None:
        step, d.gradient = numbers_step(s)
        _check_agree(d.gradient, delta_numbers)
        steps.append(step)
        step, d.updated = update_step(s, d.gradient)
        steps.append(step)
        if s.param is not None and s.tol is not None and s.lr is not None:
            step, d.descent = descent_step(s)
            steps.append(step)
    return d


def _check_agree(closed: dict[str, float], delta: dict[str, float]) -> None:
    """The closed-form numbers and the delta-form numbers are two methods; they must agree."""
    for name, value in closed.items():
        other = delta[name]
        if not np.isclose(value, other, rtol=1e-9, atol=1e-12):
            raise AssertionError(f"closed form and delta form disagree on {name}: {value!r} vs {other!r}")


def derive_problem(problem: Any, param: str | None = None, *, code: bool = True) -> Derivation:
    """The derivation a problem file asks for (see symprop.problem)."""
    net = problem.network
    if param is None:
        param = problem.param
    if param is None and problem.train is not None and len(problem.train) == 1:
        param = problem.train[0]
    fix = problem.fixed if problem.train is not None else None
    if param is not None:
        param = net.info(param).name
        if fix and param in fix:
            raise ValueError(f'"{param}" is not trained by this problem ([train] params = {list(problem.train)}); '
                             f"choose one of {', '.join(problem.train)}")
    tol = problem.tol if param is not None else None
    title = problem.title or (problem.source.stem if problem.source else "")
    return derive(net, param, problem.X, problem.Y, problem.values, fix=fix or None, lr=problem.lr, tol=tol,
                  max_steps=problem.max_steps, code=code, title=title, description=problem.description)


# ----------------------------------------------------------------------------- derivations/ directory

#: generated file suffix -> how to render it
OUTPUTS: dict[str, Callable[[Derivation], str]] = {
    ".md": lambda d: d.to_markdown("en"),
    ".bn.md": lambda d: d.to_markdown("bn"),
    ".tex": lambda d: d.to_latex_document("en"),
    ".bn.tex": lambda d: d.to_latex_document("bn"),
    ".html": lambda d: d.to_html("en"),
    ".bn.html": lambda d: d.to_html("bn"),
}
COMMAND = "python -m symprop.derivation derivations/"


def _stamp(suffix: str, source: str) -> str:
    note = f"generated from {source} by `{COMMAND}`; do not edit"
    if suffix.endswith(".tex"):
        return f"% {note}\n"
    return f"<!-- {note} -->\n"


def render_problem(path: str | Path) -> dict[Path, str]:
    """The generated files of one problem file: path -> text (nothing written)."""
    from .problem import load_problem

    path = Path(path)
    derivation = derive_problem(load_problem(path))
    stem = path.with_suffix("")
    return {stem.with_name(stem.name + suffix): _stamp(suffix, path.name) + render(derivation)
            for suffix, render in OUTPUTS.items()}


def regenerate(directory: str | Path, check: bool = False) -> list[Path]:
    """Regenerate every derivation of the problem files (*.toml) in ``directory``.

    Returns the files written, or with ``check=True`` writes nothing and returns the files that
    are missing or differ from what would be generated (stale).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory of problem files (*.toml)")
    problems = sorted(directory.glob("*.toml"))
    if not problems:
        raise ValueError(f"{directory}: no problem files (*.toml) in it")
    changed: list[Path] = []
    for problem in problems:
        for target, text in render_problem(problem).items():
            current = target.read_text(encoding="utf-8") if target.is_file() else None
            if current == text:
                continue
            changed.append(target)
            if not check:
                target.write_text(text, encoding="utf-8")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m symprop.derivation DIRECTORY [--check]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m symprop.derivation",
                                     description="Regenerate the derivations (.md, .tex, .html) of every problem file.")
    parser.add_argument("directory", help="a directory of problem files (*.toml), e.g. derivations/")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a generated file is stale")
    args = parser.parse_args(argv)
    try:
        changed = regenerate(args.directory, check=args.check)
    except ValueError as exc:
        parser.exit(2, f"error: {exc}\n")
    for path in changed:
        print(f"{'stale' if args.check else 'wrote'} {path}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())

