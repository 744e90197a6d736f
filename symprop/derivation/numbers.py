"""The one number formatter of a derivation: every number on the page is printed here."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..printing import format_number

#: significant digits of every number shown (configurable per derivation: derive(..., digits=))
DIGITS = 6
#: significant digits of the rounded value after \approx (as the seed notes round: -15.7, 1.57)
ROUNDED = 3


class Shown(sp.Symbol):
    """A number as the page shows it: a SymPy atom that prints as its formatted text."""

    def __new__(cls, text: str, value: float) -> Shown:
        obj = super().__new__(cls, text, real=True)
        obj._value = float(value)
        return obj

    @property
    def value(self) -> float:
        return self._value

    def _latex(self, printer) -> str:
        return self.name


@dataclass(frozen=True)
class NumberFormat:
    """``digits`` significant digits for every number; a rounded value only where it keeps a change visible."""

    digits: int = DIGITS
    rounded: int = ROUNDED

    def __post_init__(self) -> None:
        if isinstance(self.digits, bool) or not isinstance(self.digits, int) or not 1 <= self.digits <= 17:
            raise ValueError(f"digits must be an integer from 1 to 17, got {self.digits!r}")

    def __call__(self, x: float) -> str:
        """LaTeX of one number: ``digits`` significant digits, integers without '.0', 10^{k} for tiny/huge."""
        return format_number(float(x), self.digits)

    def atom(self, x: float) -> Shown:
        """The number as a SymPy atom (for matrices and formulas printed by BackpropLatexPrinter)."""
        return Shown(self(x), x)

    def factor(self, x: float) -> str:
        """A number as a factor of a product: a negative one in parentheses."""
        text = self(x)
        return rf"\left({text}\right)" if text.startswith("-") else text

    def result(self, x: float, old: float | None = None) -> str:
        r"""A result: ``digits`` digits, then ``\approx`` the seed-style rounding when that differs and,
        for a new value, still differs from the old value's rounding (so the change stays visible)."""
        text = self(x)
        short = format_number(float(x), self.rounded)
        if short == text or (old is not None and short == format_number(float(old), self.rounded)):
            return text
        return rf"{text} \approx {short}"

    def plain(self, x: float) -> str:
        """The number as plain text (no LaTeX): for file names, never for the page."""
        return f"{float(x):.{self.digits}g}"
