"""The document model of a derivation and its three renderers (LaTeX, Markdown, HTML).

A document is a title, a description (the user's own text, shown as written) and steps; a step is
a title and blocks: paragraphs, equations (rows aligned at their relation sign), tables and the
network figure. Words are looked up in ``text.TEXTS`` at render time, so one model renders in every
language; math is LaTeX made by BackpropLatexPrinter and shown inline or displayed, never scaled.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from . import text as words

# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class M:
    """Inline math (LaTeX, no delimiters)."""

    latex: str


@dataclass(frozen=True)
class W:
    """Words: the phrase ``key`` of text.TEXTS in the document's language, fields filled in."""

    key: str
    fields: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, key: str, **fields: Any) -> W:
        return cls(key, tuple(fields.items()))


Part = Union[str, M, W]  # noqa: UP007 (a runtime alias)
Text = tuple  # of Part


def T(*parts: Part) -> Text:
    return tuple(parts)


@dataclass(frozen=True)
class Para:
    parts: Text


@dataclass(frozen=True)
class Equation:
    """Rows (lhs, relation, rhs) of display math; a row with an empty lhs continues the one above."""

    rows: tuple[tuple[str, str, str], ...]

    @property
    def latex(self) -> str:
        return " ".join(f"{l} {r} {x}".strip() for l, r, x in self.rows)


@dataclass(frozen=True)
class Table:
    header: tuple[Text, ...]
    rows: tuple[tuple[Text, ...], ...]
    align: str  # one of l, c, r per column


@dataclass(frozen=True)
class Figure:
    svg: str
    tikz: str
    caption: Text


Block = Union[Para, Equation, Table, Figure]  # noqa: UP007 (a runtime alias)


@dataclass
class Step:
    """One titled section of a derivation."""

    kind: str
    heading: Text
    blocks: list = field(default_factory=list)

    def title_in(self, lang: str = "en") -> str:
        return "".join(t if k == "text" else f"${t}$" for k, t in resolve(self.heading, lang))

    def narration_in(self, lang: str = "en") -> str:
        return "\n\n".join(
            "".join(t if k == "text" else f"${t}$" for k, t in resolve(b.parts, lang))
            for b in self.blocks
            if isinstance(b, Para)
        )

    @property
    def title(self) -> str:
        return self.title_in("en")

    @property
    def narration(self) -> str:
        return self.narration_in("en")

    @property
    def equations(self) -> tuple[str, ...]:
        """The LaTeX of every displayed equation of the step (rows joined)."""
        return tuple(b.latex for b in self.blocks if isinstance(b, Equation))

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]


# ----------------------------------------------------------------------------- words and math


def resolve(parts: Text, lang: str) -> list[tuple[str, str]]:
    """(kind, content) pieces, kind "text" or "math", with every W looked up in ``lang``."""
    out: list[tuple[str, str]] = []
    for part in parts:
        if isinstance(part, M):
            out.append(("math", part.latex))
        elif isinstance(part, W):
            out.extend(_phrase(part, lang))
        else:
            out.append(("text", str(part)))
    return out


def _phrase(w: W, lang: str) -> list[tuple[str, str]]:
    template = words.lookup(w.key, lang)
    fields = {}
    for name, value in w.fields:
        if isinstance(value, M):
            fields[name] = f"${value.latex}$"
        elif isinstance(value, W):
            fields[name] = "".join(t if k == "text" else f"${t}$" for k, t in _phrase(value, lang))
        elif isinstance(value, tuple):
            fields[name] = "".join(t if k == "text" else f"${t}$" for k, t in resolve(value, lang))
        else:
            fields[name] = str(value)
    filled = template.format(**fields)
    pieces = filled.split("$")
    if len(pieces) % 2 == 0:
        raise ValueError(f"unbalanced $ in the phrase {w.key!r} ({lang}): {filled!r}")
    return [("math" if i % 2 else "text", p) for i, p in enumerate(pieces) if p]


# ----------------------------------------------------------------------------- widths and line breaks

#: the widest a displayed row may be, in characters of normal-size math (about 470 pt at 10 pt)
WIDTH = 84
_SCRIPT = 0.7
_COMMAND = re.compile(r"\\([A-Za-z]+|.)")


def measure(latex: str) -> float:
    """The approximate width of LaTeX math in characters (fractions by their wider part, scripts at 70%,
    matrices column by column): a line-breaking guide, checked for real by the PDF and browser tests."""
    return _measure(latex, 0)[0]


def _group(s: str, i: int) -> tuple[str, int]:
    """The braced group starting at s[i] ('{...}') or one token; returns (content, end index)."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        return "", i
    if s[i] == "{":
        depth = 0
        for k in range(i, len(s)):
            depth += {"{": 1, "}": -1}.get(s[k], 0)
            if depth == 0:
                return s[i + 1 : k], k + 1
        return s[i + 1 :], len(s)
    if s[i] == "\\":
        m = _COMMAND.match(s, i)
        return m.group(0), m.end()
    return s[i], i + 1


def _env(s: str, i: int, name: str) -> tuple[str, int]:
    end = s.find(rf"\end{{{name}}}", i)
    end = len(s) if end < 0 else end
    return s[i:end], end + len(rf"\end{{{name}}}")


_ZERO = {
    "left",
    "right",
    "mathopen",
    "mathclose",
    "displaystyle",
    "textstyle",
    "mathrm",
    "operatorname",
    "mathbf",
    "mathsf",
    "mathtt",
    "mathbb",
    "hat",
    "bigl",
    "bigr",
    "Big",
    "quad",
    "qquad",
}


_OPERATORS = {"tanh", "sinh", "cosh", "log", "ln", "exp", "sin", "cos", "max", "min", "sgn", "arg"}


def _measure(s: str, i: int) -> tuple[float, int]:
    width = 0.0
    while i < len(s):
        c = s[i]
        if c in " &":
            i += 1
        elif c in "^_":
            content, i = _group(s, i + 1)
            width += _SCRIPT * _measure(content, 0)[0]
        elif c == "{" or c == "}":
            if c == "{":
                content, i = _group(s, i)
                width += _measure(content, 0)[0]
            else:
                i += 1
        elif c == "\\":
            m = _COMMAND.match(s, i)
            name = m.group(1)
            i = m.end()
            if name == "frac":
                num, i = _group(s, i)
                den, i = _group(s, i)
                width += max(_measure(num, 0)[0], _measure(den, 0)[0]) + 0.6
            elif name == "begin":
                env, i = _group(s, i)
                if env in ("matrix", "bmatrix", "pmatrix", "cases", "array"):
                    if env == "array":
                        _, i = _group(s, i)
                    body, i = _env(s, i, env)
                    rows = [r.split("&") for r in body.split(r"\\")]
                    cols = max(len(r) for r in rows)
                    width += sum(max((measure(r[c]) for r in rows if c < len(r)), default=0) for c in range(cols))
                    width += 1.2 * cols + 1
            elif name == "text":
                content, i = _group(s, i)
                width += 0.9 * len(content)
            elif name in ("quad",):
                width += 2
            elif name == "qquad":
                width += 4
            elif name in _OPERATORS:  # an upright name: as wide as its letters
                width += 0.9 * len(name)
            elif name in _ZERO or name in ("end",):
                if name == "end":
                    _, i = _group(s, i)
            elif len(name) == 1 and not name.isalpha():
                width += 0.5 if name in ",;:!" else 1
            else:
                width += 1.6 if name in ("odot", "cdot", "times", "approx", "le", "ge", "sum") else 1
        elif c in "=+-<>":
            width += 1.8
            i += 1
        else:
            width += 1
            i += 1
    return width, i


_MATRIX_OPEN = r"\left[\begin{matrix}"
_MATRIX_CLOSE = r"\end{matrix}\right]"
_LEFT = re.compile(r"\\left(?![A-Za-z])")
_RIGHT = re.compile(r"\\right(?![A-Za-z])")


def split_matrix(atom: str, budget: float) -> list[str]:
    """An atom holding a matrix wider than ``budget`` as pieces of at most that width: the matrix's
    columns in blocks, the bracket opened on the first block and closed on the last (``\\right.`` /
    ``\\left.`` in between), so that a wide matrix continues on the next line at normal size."""
    if measure(atom) <= budget:
        return [atom]
    start = atom.find(_MATRIX_OPEN)
    if start < 0:
        return [atom]
    body_start = start + len(_MATRIX_OPEN)
    end = atom.find(_MATRIX_CLOSE, body_start)
    if end < 0 or r"\begin{matrix}" in atom[body_start:end]:
        return [atom]
    prefix, suffix = atom[:start], atom[end + len(_MATRIX_CLOSE) :]
    cells = [row.split("&") for row in atom[body_start:end].split(r"\\")]
    n_cols = max(len(r) for r in cells)
    if n_cols < 2:
        if measure(suffix) > budget / 2:  # the wide part is later in the atom
            return [prefix + atom[start : end + len(_MATRIX_CLOSE)]] + split_matrix(suffix, budget)
        return [atom]
    widths = [max((measure(r[c]) for r in cells if c < len(r)), default=0) + 1.2 for c in range(n_cols)]
    room = budget - 2 - max(measure(prefix), measure(suffix))
    blocks, current, used = [], [], 0.0
    for c, w in enumerate(widths):
        if current and used + w > room:
            blocks.append(current)
            current, used = [], 0.0
        current.append(c)
        used += w
    blocks.append(current)
    per = -(-n_cols // len(blocks))  # as many blocks, of even widths
    even = [list(range(c, min(c + per, n_cols))) for c in range(0, n_cols, per)]
    if len(even) == len(blocks) and all(sum(widths[c] for c in cols) <= room for cols in even):
        blocks = even
    if len(blocks) == 1:
        return [prefix + atom[start : end + len(_MATRIX_CLOSE)]] + (split_matrix(suffix, budget) if suffix else [])
    pieces = []
    for k, cols in enumerate(blocks):
        body = r" \\ ".join(" & ".join(r[c].strip() if c < len(r) else "" for c in cols) for r in cells)
        opening = r"\left[" if k == 0 else r"\left."
        closing = r"\right]" if k == len(blocks) - 1 else r"\right."
        pieces.append(opening + r"\begin{matrix}" + body + r"\end{matrix}" + closing)
    pieces[0] = prefix + pieces[0]
    return pieces[:-1] + split_matrix(pieces[-1] + suffix, budget)


def _balanced(lines: list[str]) -> list[str]:
    """Each line's ``\\left``/``\\right`` paired within the line (a bracket left open at a line break is
    closed there by ``\\right.`` and reopened on the next line by ``\\left.``): LaTeX and MathML need it."""
    out, carry = [], 0
    for line in lines:
        text = r"\left. " * carry + line
        depth = len(_LEFT.findall(text)) - len(_RIGHT.findall(text))
        if depth < 0:  # a closing bracket whose opening is not in the line
            text = r"\left. " * -depth + text
            depth = 0
        out.append(text + r" \right." * depth)
        carry = depth
    return out


def rows(lhs: str, *rhss: Sequence[str] | str, rel: str = "=", width: float = WIDTH) -> Equation:
    """``lhs = rhs_1 = rhs_2 ...``, each right side a list of atoms joined by spaces; a row that would be
    wider than ``width`` is broken at atoms onto continuation lines, aligned at the relation sign; a
    matrix wider than a line is split into blocks of columns (``split_matrix``)."""
    out: list[tuple[str, str, str]] = []
    budget = width - measure(lhs) - 2
    for k, rhs in enumerate(rhss):
        relation = rel if k == 0 else "="
        atoms = [
            piece
            for a in ([rhs] if isinstance(rhs, str) else [a for a in rhs if a])
            for piece in split_matrix(a, budget - 2)
        ]
        lines: list[list[str]] = []
        line: list[str] = []
        for atom in atoms:
            trial = " ".join(line + [atom])
            if line and measure(trial) > budget - (0 if not lines else 2):
                lines.append(line)
                line = [atom]
            else:
                line.append(atom)
        if line:
            lines.append(line)
        for i, text in enumerate(_balanced([" ".join(x) for x in lines])):
            out.append((lhs if not out else "", relation if i == 0 else "", text if i == 0 else r"\quad " + text))
    return Equation(tuple(out))


def single(latex: str) -> Equation:
    """A displayed line without a relation to align at."""
    return Equation((("", "", latex),))


# ----------------------------------------------------------------------------- LaTeX

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
}
_LATEX_RE = re.compile(r"[\\{}^~&%$#_]")


def latex_text(s: str) -> str:
    """Plain text safe in LaTeX, every special character escaped in one pass (so ``\\`` and ``^`` show)."""
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group(0)], s)


def one_line(s: str) -> str:
    """A title on one line: runs of white space (blank lines too) become one space."""
    return " ".join(s.split())


def paragraphs(s: str) -> list[str]:
    """The user's description as paragraphs (split at blank lines), each on one line."""
    return [one_line(p) for p in re.split(r"\n\s*\n", s) if p.strip()]


def _latex_parts(parts: Text, lang: str, display: bool = False) -> str:
    style = r"\displaystyle " if display else ""
    return "".join(latex_text(t) if k == "text" else f"${style}{t}$" for k, t in resolve(parts, lang))


def latex_equation(eq: Equation) -> str:
    if len(eq.rows) == 1:
        l, r, x = eq.rows[0]
        return rf"\[ {l} {r} {x} \]".replace("  ", " ")
    lines = []
    for l, r, x in eq.rows:
        lines.append(f"{l} &{r} {x}".strip() if r else f"{l} & {x}")
    return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"


#: rows per tabular (a longer table continues in the next one, header repeated, so it can break across pages)
TABLE_ROWS = 24


def latex_table(t: Table, lang: str) -> str:
    head = " & ".join(_latex_parts(c, lang, True) for c in t.header) + r" \\ \hline"
    body = [" & ".join(_latex_parts(c, lang, True) for c in row) + r" \\" for row in t.rows]
    chunks = [body[i : i + TABLE_ROWS] for i in range(0, len(body), TABLE_ROWS)] or [[]]
    stretch = "2.2" if any(r"\frac" in row for row in body) else "1.35"  # room for display fractions
    return "\n\n".join(
        "\\begin{center}\\renewcommand{\\arraystretch}{"
        + stretch
        + "}\n\\begin{tabular}{"
        + t.align
        + "}\n"
        + head
        + "\n"
        + "\n".join(chunk)
        + "\n\\end{tabular}\n\\end{center}"
        for chunk in chunks
    )


def render_latex_blocks(steps: Sequence[Step], lang: str) -> str:
    parts = []
    for number, step in enumerate(steps, start=1):
        parts.append(rf"\subsection*{{{number}. {_latex_parts(step.heading, lang)}}}")
        for block in step.blocks:
            if isinstance(block, Para):
                parts.append(_latex_parts(block.parts, lang))
            elif isinstance(block, Equation):
                parts.append(latex_equation(block))
            elif isinstance(block, Table):
                parts.append(latex_table(block, lang))
            elif isinstance(block, Figure):
                parts.append(
                    "\\begin{center}\n" + block.tikz + "\n\n" + _latex_parts(block.caption, lang) + "\n\\end{center}"
                )
    return "\n\n".join(parts) + "\n"


#: LuaLaTeX preamble lines for Bengali prose among English words and math: babel picks the Bengali
#: font by character (onchar), HarfBuzz shapes it; the first installed font of a common list is used
BENGALI_FONTS = (
    "Noto Serif Bengali",
    "Noto Sans Bengali",
    "Lohit Bengali",
    "Kalpurush",
    "SolaimanLipi",
    "Mukti Narrow",
    "Shonar Bangla",
    "Vrinda",
    "Bangla MN",
)
BENGALI_PREAMBLE = (
    "\\usepackage{fontspec}\n\\usepackage[english]{babel}\n"
    + "".join(f"\\IfFontExistsTF{{{font}}}{{\\def\\sympropbengalifont{{{font}}}}}{{%\n" for font in BENGALI_FONTS)
    + "\\PackageError{symprop}{No Bengali font found (tried "
    + ", ".join(BENGALI_FONTS)
    + ")}"
    + "{Install one, e.g. Debian: apt-get install fonts-noto-core or fonts-lohit-beng-bengali}"
    + "}" * len(BENGALI_FONTS)
    + "\n"
    "\\babelprovide[import, onchar=ids fonts]{bengali}\n"
    "\\babelfont[bengali]{rm}[Renderer=HarfBuzz, BoldFont=\\sympropbengalifont, BoldFeatures={FakeBold=2}]"
    "{\\sympropbengalifont}\n"
    '\\babelcharproperty{"0964}["0965]{locale}{bengali}\n'  # the danda, shared with Devanagari
)
#: packages a fragment (Derivation.to_latex) needs in the including document's preamble
LATEX_PACKAGES = "\\usepackage{amsmath,amssymb}\n\\usepackage{tikz}\n\\setcounter{MaxMatrixCols}{64}\n"


def render_latex_document(title: str, description: str, steps: Sequence[Step], lang: str) -> str:
    if lang == "bn":
        head = (
            "% Bengali: compile with lualatex (pdflatex cannot shape Bengali script)\n"
            "\\documentclass[10pt]{article}\n" + LATEX_PACKAGES + BENGALI_PREAMBLE
        )
    else:
        head = "\\documentclass[10pt]{article}\n\\usepackage[T1]{fontenc}\n" + LATEX_PACKAGES
    desc = "\n\n".join(latex_text(p) for p in paragraphs(description))
    # a matrix wider than a line is never scaled or cut: rows() splits it into blocks of columns
    geometry = "margin=1.5cm"
    return (
        head + f"\\usepackage[{geometry}]{{geometry}}\n\\setlength{{\\parindent}}{{0pt}}\n"
        "\\setlength{\\parskip}{0.5em}\n\\allowdisplaybreaks\n"
        f"\\begin{{document}}\n\\section*{{{latex_text(one_line(title))}}}\n\n{desc}\n\n"
        f"{render_latex_blocks(steps, lang)}\n\\end{{document}}\n"
    )


# ----------------------------------------------------------------------------- Markdown

_MD_RE = re.compile(r"([\\`*_\[\]<>$#|])")


def markdown_text(s: str) -> str:
    """Plain text shown as written in Markdown (its punctuation escaped)."""
    return _MD_RE.sub(r"\\\1", s)


def _md_parts(parts: Text, lang: str, cell: bool = False) -> str:
    out = []
    for k, t in resolve(parts, lang):
        if k == "text":
            out.append(t.replace("|", r"\|") if cell else t)
        else:
            t = t.replace("|", r"\vert ") if cell else t
            out.append(rf"$\displaystyle {t}$" if cell else f"${t}$")
    return "".join(out)


def markdown_equation(eq: Equation) -> str:
    if len(eq.rows) == 1:
        l, r, x = eq.rows[0]
        return f"$$\n{' '.join(p for p in (l, r, x) if p)}\n$$"
    lines = [f"{l} &{r} {x}".strip() if r else f"{l} & {x}" for l, r, x in eq.rows]
    return "$$\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n$$"


def render_markdown(title: str, description: str, steps: Sequence[Step], lang: str, figure: str | None = None) -> str:
    parts = [f"# {markdown_text(one_line(title))}"] + [markdown_text(p) for p in paragraphs(description)]
    for number, step in enumerate(steps, start=1):
        parts.append(f"## {number}. {_md_parts(step.heading, lang)}")
        for block in step.blocks:
            if isinstance(block, Para):
                parts.append(_md_parts(block.parts, lang))
            elif isinstance(block, Equation):
                parts.append(markdown_equation(block))
            elif isinstance(block, Table):
                head = "| " + " | ".join(_md_parts(c, lang, True) for c in block.header) + " |"
                rule = "|" + "|".join({"l": ":--", "c": ":-:", "r": "--:"}[a] for a in block.align) + "|"
                body = ["| " + " | ".join(_md_parts(c, lang, True) for c in row) + " |" for row in block.rows]
                parts.append("\n".join([head, rule] + body))
            elif isinstance(block, Figure):
                src = figure or ("data:image/svg+xml;base64," + base64.b64encode(block.svg.encode()).decode())
                alt = "".join(resolve_t for _, resolve_t in resolve(block.caption, lang)).strip()  # math as its LaTeX
                parts.append(f"![{markdown_text(alt)}]({src})\n\n{_md_parts(block.caption, lang)}")
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- HTML

_BOLD_DIGITS = {str(d): chr(0x1D7CE + d) for d in range(10)}
_BOLD_LETTERS = {
    **{chr(65 + i): chr(0x1D400 + i) for i in range(26)},
    **{chr(97 + i): chr(0x1D41A + i) for i in range(26)},
}
_VARIANT = re.compile(r'<(mi|mn)( mathvariant="(bold|monospace|sans-serif)")>([^<]*)</\1>')


def _fix_mathml(mathml: str) -> str:
    """Chromium shows mathvariant only as "normal": bold becomes the Unicode bold letter or digit (the
    ones-vector), monospace and sans-serif become CSS fonts (code names, the transpose T)."""

    def sub(m: re.Match) -> str:
        tag, variant, content = m.group(1), m.group(3), m.group(4)
        if variant == "bold":
            table = _BOLD_DIGITS if tag == "mn" else _BOLD_LETTERS
            if all(ch in table for ch in content):
                return f"<{tag}>{''.join(table[ch] for ch in content)}</{tag}>"
            return f'<{tag} style="font-weight: bold">{content}</{tag}>'
        family = "monospace" if variant == "monospace" else "sans-serif"
        return f'<{tag} mathvariant="normal" class="{family}">{content}</{tag}>'

    mathml = _VARIANT.sub(sub, mathml)
    # a function name (log, tanh, softplus) after a factor needs the thin space TeX puts before it
    return _FUNCTION.sub(r'\1<mspace width="0.167em"/>\2', mathml)


_FUNCTION = re.compile(r"(</mi>|</mn>|</mrow>)(<m[io]>(?:log|exp|ln|tanh|sin|cos|max|min|[A-Za-z]{4,})</m[io]>)")


def _mathml_converter():
    try:
        from latex2mathml.converter import convert
    except ImportError:
        raise ImportError("to_html needs latex2mathml: pip install 'symprop[html]'") from None
    return convert


def _mathml(latex: str, display: bool = False) -> str:
    convert = _mathml_converter()
    latex = latex.replace(r"\mathopen{}", "").replace(r"\mathclose{}", "")
    return _fix_mathml(convert((r"\displaystyle " if display else "") + latex))


def _html_parts(parts: Text, lang: str, display: bool = False) -> str:
    return "".join(html.escape(t) if k == "text" else _mathml(t, display) for k, t in resolve(parts, lang))


def html_equation(eq: Equation) -> str:
    cells = []
    for l, r, x in eq.rows:
        if r:
            cells.append(
                f'<span class="lhs">{_mathml(l, True) if l else ""}</span>'
                f'<span class="rel">{_mathml(r, True)}</span>'
                f'<span class="rhs">{_mathml(x, True)}</span>'
            )
        else:
            cells.append(
                f'<span class="lhs">{_mathml(l, True) if l else ""}</span><span class="rel"></span>'
                f'<span class="rhs">{_mathml(x, True)}</span>'
            )
    return '<div class="eq">' + "".join(cells) + "</div>"


HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: {fonts}; line-height: 1.45; max-width: 62em; margin: 2em auto; padding: 0 1em; color: #111; }}
math {{ font-family: "Latin Modern Math", "STIX Two Math", "DejaVu Math TeX Gyre", math; font-size: 1.12em; }}
.eq {{ display: grid; grid-template-columns: max-content max-content max-content; justify-content: center;
      align-items: baseline; column-gap: 0.35em; row-gap: 0.55em; margin: 0.9em 0; overflow-x: auto; overflow-y: hidden; padding: 0.35em 0; }}
.eq .lhs {{ text-align: right; }} .eq .rhs {{ text-align: left; }}
.monospace {{ font-family: "DejaVu Sans Mono", "Latin Modern Mono", monospace; }}
.sans-serif {{ font-family: "DejaVu Sans", sans-serif; }}
table {{ border-collapse: collapse; margin: 0.9em auto; }}
th, td {{ padding: 0.35em 0.8em; }}
thead th {{ border-bottom: 1.5px solid #111; }}
td.r, th.r {{ text-align: right; }} td.l, th.l {{ text-align: left; }} td.c, th.c {{ text-align: center; }}
figure {{ text-align: center; margin: 1em 0; }}
figure svg {{ max-width: 100%; height: auto; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
#: the page font: a Latin font first (English text and digits never fall to a Bengali font), then Bengali
HTML_FONTS = {
    "en": '"DejaVu Serif", "Liberation Serif", "Noto Serif", "Times New Roman", serif',
    "bn": '"DejaVu Serif", "Liberation Serif", "Noto Serif Bengali", "Noto Sans Bengali", '
    '"Lohit Bengali", "Kalpurush", "SolaimanLipi", "Vrinda", serif',
}


def render_html(title: str, description: str, steps: Sequence[Step], lang: str) -> str:
    head = html.escape(one_line(title))
    body = [f"<h1>{head}</h1>"] + [f"<p>{html.escape(p)}</p>" for p in paragraphs(description)]
    for number, step in enumerate(steps, start=1):
        body.append(f"<h2>{number}. {_html_parts(step.heading, lang)}</h2>")
        for block in step.blocks:
            if isinstance(block, Para):
                body.append(f"<p>{_html_parts(block.parts, lang)}</p>")
            elif isinstance(block, Equation):
                body.append(html_equation(block))
            elif isinstance(block, Table):
                head_row = "".join(
                    f'<th class="{a}">{_html_parts(c, lang, True)}</th>' for c, a in zip(block.header, block.align)
                )
                rows_html = "".join(
                    "<tr>"
                    + "".join(f'<td class="{a}">{_html_parts(c, lang, True)}</td>' for c, a in zip(row, block.align))
                    + "</tr>"
                    for row in block.rows
                )
                body.append(f"<table><thead><tr>{head_row}</tr></thead><tbody>{rows_html}</tbody></table>")
            elif isinstance(block, Figure):
                body.append(f"<figure>{block.svg}<figcaption>{_html_parts(block.caption, lang)}</figcaption></figure>")
    return HTML_TEMPLATE.format(lang=lang, title=head, fonts=HTML_FONTS[lang], body="\n".join(body))
