"""The public API: every exported name resolves, and none is shadowed by a submodule of the same name."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import symprop


def test_no_public_function_shares_a_name_with_a_submodule():
    submodules = {m.name for m in pkgutil.iter_modules(symprop.__path__)}
    clashes = {name for name, module in symprop._EXPORTS.items() if name in submodules and name != module}
    assert not clashes


def test_every_export_resolves_even_after_importing_every_submodule():
    code = (
        "import importlib, pkgutil, symprop\n"
        "for m in pkgutil.iter_modules(symprop.__path__):\n"
        "    if m.name not in ('__main__', 'cli'):\n"
        "        importlib.import_module('symprop.' + m.name)\n"
        "assert callable(symprop.derive) and callable(symprop.verify) and callable(symprop.descend)\n"
        "assert symprop.derive is importlib.import_module('symprop.derivation').derive\n"
        "assert symprop.verify is importlib.import_module('symprop.verification').verify\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_all_names_are_importable():
    for name in symprop.__all__:
        assert getattr(symprop, name) is not None
    assert importlib.import_module("symprop.chainrule").gradient
