"""``python -m symprop.derivation DIRECTORY [--check]``: the same as ``symprop regenerate``."""

from .regenerate import main

raise SystemExit(main())
