"""The documentation site builds with `mkdocs build --strict` (no broken link, no missing page, API reference
generated from the docstrings)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict_passes(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings")
    env = dict(
        os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    )
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (site / "reference" / "index.html").read_text(encoding="utf-8")
    # the API reference is generated from the docstrings, not written by hand
    assert "A fully connected feed-forward network with its loss." in reference
    assert 'id="symprop.verification.verify"' in reference and "symprop.progress" in reference
    for page in (
        "tutorials/seed000",
        "tutorials/seed001",
        "tutorials/seed002",
        "howto/pytest",
        "howto/pytorch",
        "howto/export",
        "howto/jupyter",
        "notebooks",
        "derivations",
        "verification",
    ):
        assert (site / page / "index.html").is_file(), page
    shutil.rmtree(site)
