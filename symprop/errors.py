"""Error types and the helpers that build clear messages for bad input."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# Error policy (as in latexify-py):
#   * wrong input from the user (a bad size, an unknown name, a NaN)  -> ValueError / TypeError
#     whose message names the offending thing and what would be valid;
#   * a valid request that symprop does not support                   -> UnsupportedError;
#   * anything else that goes wrong inside symprop                      -> SympropError.


class SympropError(Exception):
    """Base class for errors raised by symprop itself."""


class UnsupportedError(SympropError, ValueError):
    """A well-formed request that symprop does not support (e.g. softmax in a hidden layer)."""


class OverflowWarning(RuntimeWarning):
    """A float64 result is not finite because an intermediate overflowed (one warning per call, naming what
    overflowed and where the exact value comes from; NumPy's own RuntimeWarnings stay inside symprop)."""


def warn_nonfinite(what: str, values: Iterable[tuple[str, float]], hint: str = "") -> None:
    """One OverflowWarning if any (name, value) is not finite: 'the gradient is not finite in float64: ...'."""
    import math
    import warnings

    bad = [(n, v) for n, v in values if not math.isfinite(v)]
    if bad:
        shown = ", ".join(f"{n} = {v}" for n, v in bad[:4]) + (f" ({len(bad) - 4} more)" if len(bad) > 4 else "")
        warnings.warn(
            f"{what} is not finite in float64 (an intermediate overflowed): {shown}{hint}",
            OverflowWarning,
            stacklevel=3,
        )


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean "x"?' when a close match exists, else ''."""
    match = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f' Did you mean "{match[0]}"?' if match else ""


def listing(names: Iterable[str], limit: int = 12) -> str:
    """Format names as 'a, b, c' (capped, with a count of the rest)."""
    names = list(names)
    head = ", ".join(names[:limit])
    return head + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def printable(text: str) -> str:
    """Text safe to echo on a terminal: control characters (escape sequences, bidi overrides) are
    shown escaped, as ``\\x1b`` or ``\\u202e``."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 output', '2 outputs' (``many`` for irregular plurals: plural(n, "entry", "entries"))."""
    return f"{n} {word if n == 1 else many or word + 's'}"
