"""Step-by-step derivations of backprop from the network itself, as LaTeX, Markdown and HTML.

The package, stage by stage:

* ``derive``: the orchestrator (``derive``, ``derive_problem``, ``Derivation``);
* ``engine``: the numbers shown, from the reference backprop;
* ``notation``: one symbol per meaning; ``numbers``: the one number formatter;
* ``steps``: the sections, per layer kind (``dense``, ``activation``, ``loss``) and composed (``sections``);
* ``document``: the document model and its LaTeX, Markdown and HTML renderers; ``figure``: the
  network diagram (TikZ and SVG); ``text``: the words, English and Bengali;
* ``regenerate``: ``symprop regenerate DIR [--check]``.
"""

from .derive import Derivation, derive, derive_problem, estimate
from .document import BENGALI_FONTS, BENGALI_PREAMBLE, LATEX_PACKAGES, Step
from .notation import ACTIVATION_LATEX, LOSS_SYMBOLS
from .numbers import DIGITS, NumberFormat
from .regenerate import COMMAND, OUTPUTS, main, regenerate, render_problem

__all__ = [
    "ACTIVATION_LATEX",
    "BENGALI_FONTS",
    "BENGALI_PREAMBLE",
    "COMMAND",
    "DIGITS",
    "LATEX_PACKAGES",
    "LOSS_SYMBOLS",
    "OUTPUTS",
    "Derivation",
    "NumberFormat",
    "Step",
    "derive",
    "derive_problem",
    "estimate",
    "main",
    "regenerate",
    "render_problem",
]
