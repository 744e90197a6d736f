"""symprop: derive and verify backpropagation exactly (SymPy closed forms compiled to NumPy)."""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it; modules load on first use, so that ``import symprop``
# is fast and ``symprop.reference`` never pulls in SymPy.
_EXPORTS: dict[str, str] = {
    "Network": "spec",
    "Activation": "spec",
    "SympropError": "errors",
    "UnsupportedError": "errors",
    "Param": "graph",
    "CompiledNetwork": "compile",
    "backprop": "reference",
    "evaluate": "derive",
    "examples": "examples",
    # verification (issue 3)
    "verify": "verify",
    "assert_gradients_match": "verify",
    "finite_difference": "verify",
    "prove_backprop": "proof",
    # derivations (issue 4)
    "derive": "derivation",
    "Derivation": "derivation",
    "to_latex": "printing",
    # descent and pictures (issue 6)
    "descend": "descent",
    # problem files (issue 5)
    "load_problem": "problem",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'symprop' has no attribute {name!r}")
    mod = importlib.import_module(f".{module}", __name__)
    value = getattr(mod, name, mod) if name == module else getattr(mod, name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Keeps ``symprop.verify`` the function when the submodule of the same name gets imported."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs
    from .compile import CompiledNetwork
    from .derive import evaluate
    from .errors import SympropError, UnsupportedError
    from .graph import Param
    from .reference import backprop
    from .spec import Activation, Network
