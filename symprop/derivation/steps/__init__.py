"""The steps of a derivation, organised per layer kind.

``dense`` (z = W a + b), ``activation`` (a = f(z)) and ``loss`` each contribute their own equations,
local chain-rule factors, delta equations and updates; ``sections`` composes them into the titled
sections of the document. A new layer kind adds its own module beside these and its calls in
``sections`` where its layers occur; the other kinds are untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...spec import Network, ParamInfo
from ..engine import Numbers
from ..notation import Symbols
from ..numbers import NumberFormat


@dataclass
class Context:
    """What every step reads: the network, its notation, the number format, and the numbers (if any)."""

    net: Network
    sy: Symbols
    fmt: NumberFormat
    param: str | None = None
    X: Any = None
    Y: Any = None
    values: dict[str, float] | None = None
    fix: dict[str, float] | None = None
    lr: float | None = None
    tol: float | None = None
    max_steps: int = 1000
    nums: Numbers | None = None
    code: bool = False
    #: the entry of a tied parameter that the chain rule follows (None: param is one entry)
    entry: str | None = None

    @property
    def info(self) -> ParamInfo | None:
        """The weight/bias entry the chain rule follows: ``entry``, else the (untied) parameter's own."""
        if self.entry is not None:
            return self.net.info(self.entry)
        return None if self.param is None or self.tied(self.param) else self.net.info(self.param)

    def tied(self, name: str) -> bool:
        return name in self.net.tied

    def entries(self, name: str) -> tuple[ParamInfo, ...]:
        """The weight/bias entries parameter ``name`` fills (one unless it is tied)."""
        return self.net.slots(name)

    def symbol(self, name: str) -> Any:
        """The symbol of a parameter or of a weight/bias entry: an entry of a tie is written as the entry
        (w_{3}) where the chain rule follows that use, and as its parameter elsewhere."""
        if name in self.net.param_names:
            return self.net.param(name)
        from ...graph import Param

        return Param(name)

    @property
    def param_symbol(self) -> Any:
        """What the chain rule differentiates by: the entry being followed, or the parameter."""
        return self.symbol(self.entry if self.entry is not None else self.param)

    def entry_symbol(self, name: str) -> Any:
        """The symbol that stands in a formula for the weight/bias entry ``name``: its parameter's
        (the tie's symbol for a tied entry), except the entry the chain rule follows."""
        if name == self.entry:
            return self.symbol(name)
        return self.net.param(self.net.param_of[name])

    @property
    def has_numbers(self) -> bool:
        return self.nums is not None

    @property
    def n_samples(self) -> int:
        return self.nums.n_samples if self.nums is not None else 1

    @property
    def trained(self) -> list[str]:
        return [n for n in self.net.param_names if not (self.fix and n in self.fix)]

    @property
    def all_trained(self) -> bool:
        return not self.fix


@dataclass(frozen=True)
class Factor:
    """One local factor of the chain rule: its symbol, its expression and its number for each sample."""

    symbol: str  # \frac{\partial ...}{\partial ...}
    expression: str  # LaTeX of the local derivative
    values: np.ndarray = field(compare=False)  # (N,)
