"""LaTeX in backprop notation: a LatexPrinter subclass, number formatting and line breaking."""

from __future__ import annotations

import math
from typing import Any

import sympy as sp
from sympy.printing.latex import LatexPrinter


class Notation(sp.Symbol):
    r"""A real symbol whose name *is* its LaTeX, for intermediate quantities such as z^{[1]}_{2}."""

    def __new__(cls, latex: str, **assumptions: Any) -> Notation:
        assumptions.setdefault("real", True)
        return super().__new__(cls, latex, **assumptions)

    def _latex(self, printer: Any) -> str:
        return self.name


class Num(sp.Symbol):
    """A number that stays as written inside a formula (no evaluation), as handcalcs shows it."""

    def __new__(cls, value: float | int) -> Num:
        return super().__new__(cls, format_number(value), real=True)

    @property
    def value(self) -> float:
        return float(self.name)

    def _latex(self, printer: Any) -> str:
        return rf"\left({self.name}\right)" if self.name.startswith("-") else self.name


def format_number(value: float | int, digits: int | None = None) -> str:
    """Shortest round-trip text of a number (or ``digits`` significant digits); integers lose '.0'."""
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"cannot print the non-finite number {x!r}")
    if digits is not None:
        text = f"{x:.{digits}g}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    else:
        text = repr(x)
        if "e" in text:
            mantissa, exponent = text.split("e")
            return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    if text in ("-0", "-0.0"):
        text = "0"
    if text.endswith(".0"):
        text = text[:-2]
    return text


class BackpropLatexPrinter(LatexPrinter):
    r"""LaTeX for backprop: \partial derivatives, \odot Hadamard products, ^{\mathsf{T}} transposes.

    Parameters print through their own ``_latex`` (w^{[l]}_{jk}, or w_{3} with flat names).
    Setting ``float_digits`` rounds every Float to that many significant digits.
    """

    printmethod = "_latex"
    _default_settings: dict[str, Any] = {
        **LatexPrinter._default_settings,
        "hadamard_symbol": r"\odot",
        "transpose_symbol": r"\mathsf{T}",
        "float_digits": None,
    }

    def _print_Float(self, expr: sp.Float) -> str:
        digits = self._settings["float_digits"]
        if digits is None:
            return super()._print_Float(expr)
        return format_number(float(expr), digits)

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        denominator = []
        total = 0
        for variable, count in expr.variable_count:
            var = self._print(variable)
            denominator.append(rf"\partial {var}" if count == 1 else rf"\partial {var}^{{{count}}}")
            total += count
        top = r"\partial" if total == 1 else rf"\partial^{{{total}}}"
        body = self.parenthesize(expr.expr, sp.printing.precedence.PRECEDENCE["Mul"], strict=True)
        return rf"\frac{{{top}}}{{{' '.join(denominator)}}} {body}"

    def _print_HadamardProduct(self, expr: Any) -> str:
        symbol = f" {self._settings['hadamard_symbol']} "
        # a matrix product binds tighter than the Hadamard product (as in the seed notes)
        return symbol.join(
            self._print(arg)
            if isinstance(arg, sp.MatMul)
            else self.parenthesize(arg, sp.printing.precedence.PRECEDENCE["Mul"], strict=True)
            for arg in expr.args
        )

    def _print_Transpose(self, expr: Any) -> str:
        arg = expr.arg
        inner = self._print(arg)
        if not isinstance(arg, sp.MatrixSymbol) or "^" in inner:
            inner = rf"\left({inner}\right)"
        return f"{inner}^{{{self._settings['transpose_symbol']}}}"


def to_latex(expr: Any, **settings: Any) -> str:
    """LaTeX for ``expr`` in backprop notation (settings as for sympy.latex, plus float_digits)."""
    return BackpropLatexPrinter(settings).doprint(expr)


def aligned(lhs: str, rhs: Any, width: int = 160, **settings: Any) -> str:
    r"""``lhs = rhs``; a long sum (or product) is broken over lines of about ``width`` characters in aligned."""
    printer = BackpropLatexPrinter(settings)
    whole = printer.doprint(rhs)
    if len(whole) <= width or not isinstance(rhs, (sp.Add, sp.Mul)):
        return f"{lhs} = {whole}"
    lines: list[str] = []
    current = ""
    for op, text in _chunks(printer, rhs, width):
        if not current:
            current = text if op in ("+", "") else f"{op} {text}"
        elif len(current) + len(text) + 3 > width and len(current) > width // 3:
            lines.append(current)
            current = f"{op} {text}"
        else:
            current += f" {op} {text}"
    lines.append(current)
    body = r" \\ &\quad ".join(lines)
    if len(lhs) > width // 2:  # a long left side gets a line of its own
        return rf"\begin{{aligned}} & {lhs} \\ &= {body} \end{{aligned}}"
    return rf"\begin{{aligned}} {lhs} &= {body} \end{{aligned}}"


def _chunks(printer: BackpropLatexPrinter, expr: sp.Expr, width: int) -> list[tuple[str, str]]:
    """(operator, LaTeX) pieces: the terms of a sum, long products split into their factors."""
    terms = printer._as_ordered_terms(expr, order=None) if isinstance(expr, sp.Add) else [expr]
    chunks: list[tuple[str, str]] = []
    for term in terms:
        sign = "+"
        if term.could_extract_minus_sign() and isinstance(expr, sp.Add):
            sign, term = "-", -term
        text = printer.doprint(term)
        if len(text) <= 2 * width or not isinstance(term, sp.Mul):
            chunks.append((sign, text))
            continue
        factors = [printer.parenthesize(f, sp.printing.precedence.PRECEDENCE["Mul"]) for f in _factors(term)]
        chunks.append((sign, factors[0]))
        chunks.extend((r"\cdot", f) for f in factors[1:])
    if chunks and chunks[0][0] == "-":
        chunks[0] = ("-", chunks[0][1])
    return chunks


def _factors(term: sp.Mul) -> list[sp.Expr]:
    """The factors of a product, numeric coefficient first, denominators as one 1/(...) factor."""
    numer, denom = sp.fraction(term)
    parts = list(sp.Mul.make_args(numer))
    if denom != 1:
        parts.append(sp.Pow(denom, -1, evaluate=False))
    return sorted(parts, key=lambda f: (not f.is_number, sp.default_sort_key(f)))


_GROUPING = ("tanh", "sinh", "cosh", "log", "ln", "sin", "cos", "exp")


def _ungroup(before: str, after: str) -> tuple[str | None, str]:
    """Drop the braces that only group a function's argument around the cut (``\\tanh{\\left(`` ...
    ``\\right)}``), since a line break cannot fall inside braces; (None, after) when braces of another
    kind (a fraction, a script) enclose the cut."""
    import re

    depth, opened = 0, []
    for i, c in enumerate(before):
        if c == "{":
            opened.append(i)
        elif c == "}" and opened:
            opened.pop()
    depth = len(opened)
    if not depth:
        return before, after
    for i in reversed(opened):
        m = re.search(r"\\([A-Za-z]+)(\^\{[^{}]*\})?$", before[:i])
        if not m or m.group(1) not in _GROUPING:
            return None, after
        before = before[:i] + before[i + 1 :]
    closes = 0
    chars = list(after)
    level = 0
    for i, c in enumerate(chars):
        if c == "{":
            level += 1
        elif c == "}":
            if level:
                level -= 1
            else:
                chars[i] = ""
                closes += 1
                if closes == depth:
                    break
    return before, "".join(chars)


class _Hole(sp.Symbol):
    """A placeholder printed as a marker, so that the LaTeX around one argument can be cut at it."""

    def _latex(self, printer: Any) -> str:
        return r"\SYMPROPHOLE"


_HOLE = _Hole("symprop_hole")


def broken_atoms(expr: Any, width: float, measure: Any = len, **settings: Any) -> list[str]:
    r"""The LaTeX of ``expr`` as pieces each at most about ``width`` wide (``measure`` of a piece), cut
    where SymPy's own structure allows: between the terms of a sum, between the factors of a product,
    and around the argument of a function or the base of a power (``\tanh\left(`` ... ``\right)``). A
    line breaker joins the pieces; brackets cut open are closed and reopened at each line break.
    """
    printer = BackpropLatexPrinter(settings)
    printed: dict = {}

    def doprint(e: sp.Basic) -> str:
        if e not in printed:
            printed[e] = printer.doprint(e)
        return printed[e]

    def atoms(e: sp.Basic) -> list[str]:
        text = doprint(e)
        if measure(text) <= width:
            return [text]
        if isinstance(e, sp.Add):
            out: list[str] = []
            for k, term in enumerate(printer._as_ordered_terms(e, order=None)):
                sign = "+"
                if term.could_extract_minus_sign():
                    sign, term = "-", -term
                parts = atoms(term) if not isinstance(term, sp.Add) else [r"\left("] + atoms(term) + [r"\right)"]
                if k == 0:
                    out += ([f"- {parts[0]}"] + parts[1:]) if sign == "-" else parts
                else:
                    out += [f"{sign} {parts[0]}"] + parts[1:]
            return out
        if isinstance(e, sp.Mul):
            sign = ""
            if e.could_extract_minus_sign():
                sign, e = "-", -e
            factors = _factors(e)
            # the short factors (numbers, symbols) lead as one product, so that no "2" stands alone on a line
            short = [f for f in factors if measure(doprint(f)) <= 8]
            long_ = [f for f in factors if measure(doprint(f)) > 8]
            out = []
            for k, factor in enumerate(long_):
                if isinstance(factor, sp.Add):
                    parts = [r"\left(" + p if i == 0 else p for i, p in enumerate(atoms(factor))]
                    parts[-1] += r"\right)"
                else:
                    parts = atoms(factor)
                if k > 0:
                    parts[0] = r"\cdot " + parts[0]
                out += parts
            if short:
                lead = printer.doprint(sp.Mul(*short, evaluate=False)) if len(short) > 1 else printer.doprint(short[0])
                out = [lead + " " + out[0]] + out[1:] if out and measure(lead + out[0]) <= width else [lead] + out
            if sign:
                out[0] = "- " + out[0]
            return out
        if e.args and not isinstance(
            e, (sp.Piecewise, sp.Derivative, sp.Subs)
        ):  # a function or a power: cut around its widest argument
            widest = max(e.args, key=lambda a: len(doprint(a)))
            if isinstance(e, sp.exp):
                shell = r"\exp\left(\SYMPROPHOLE\right)"  # not e^{...}: a superscript cannot be cut
            elif isinstance(e, sp.Pow) and e.exp == -1:
                shell = r"\left(\SYMPROPHOLE\right)^{-1}"  # not \frac{1}{...}
            else:
                try:
                    shell = printer.doprint(e.xreplace({widest: _HOLE}))
                except (TypeError, ValueError):  # an expression that cannot hold a placeholder
                    return [text]
            if shell.count(r"\SYMPROPHOLE") == 1 and widest is not e:
                before, after = _ungroup(*shell.split(r"\SYMPROPHOLE"))
                if before is None:  # the argument sits inside a braced group that cannot be opened
                    return [text]
                inner = atoms(widest)
                if isinstance(widest, sp.Add) and isinstance(e, sp.Pow) and not before.rstrip().endswith(r"\left("):
                    before, after = before + r"\left(", r"\right)" + after
                inner[0] = before + inner[0]
                inner[-1] = inner[-1] + after
                return inner
        return [text]

    return atoms(sp.sympify(expr))
