"""symprop: derive and verify backpropagation exactly (SymPy closed forms compiled to NumPy)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it; modules load on first use, so that ``import symprop``
# is fast and ``symprop.reference`` never pulls in SymPy. No public function may share its name with
# a submodule (importing the submodule would rebind the package attribute): hence chainrule.py and
# verification.py rather than derive.py and verify.py (tests/test_api.py checks this).
_EXPORTS: dict[str, str] = {
    "Network": "spec",
    "Activation": "spec",
    "SympropError": "errors",
    "UnsupportedError": "errors",
    "Param": "graph",
    "CompiledNetwork": "compile",
    "backprop": "reference",
    "evaluate": "chainrule",
    "examples": "examples",
    # verification (issue 3)
    "verify": "verification",
    "assert_gradients_match": "verification",
    "finite_difference": "verification",
    "prove_backprop": "proof",
    # derivations (issue 4)
    "derive": "derivation",
    "Derivation": "derivation",
    "to_latex": "printing",
    # descent and pictures (issue 6)
    "descend": "descent",
    # problem files (issue 5)
    "load_problem": "problem",
    # gradient code as people write it (issue 13): layouts, PyTorch
    "Layout": "layout",
    "from_torch": "torch_adapter",
    "verify_torch": "torch_adapter",
    # work budgets (issue 12)
    "budget": "budget",
    # the certified exact oracle (issue 16)
    "certified_gradient": "certified",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'symprop' has no attribute {name!r}")
    mod = importlib.import_module(f".{module}", __name__)
    value = mod if name == module else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs
    from .chainrule import evaluate
    from .compile import CompiledNetwork
    from .errors import SympropError, UnsupportedError
    from .graph import Param
    from .reference import backprop
    from .spec import Activation, Network
