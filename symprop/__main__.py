"""``python -m symprop``: the command line (see symprop.cli)."""

from __future__ import annotations

import os
import sys

# ``python -m`` puts the current directory first on sys.path; symprop is already imported by now, so
# drop it: a file there named like a library (mpmath.py, sympy.py, numpy.py) must never be imported
# in place of the library. ``symprop verify`` looks for the candidate's module there explicitly.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from .cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
