"""Every Python example in README.md and docs/ runs, and the output it shows is the output it prints.

The blocks of one page run in order in one namespace, as a reader would run them, in a scratch directory
(with derivations/, examples/ and docs/img/ beside it; a block whose first line is ``# run in examples/``
runs there). Blocks of ``>>>`` lines are doctests: every output line is checked. In other blocks a
``print(...)  # text`` line shows what it prints: each part of ``text`` between ``...`` must appear in the
printed output, in order. Excerpts that are not meant to run on their own (signatures, generated code) are
fenced ```` ```py ```` instead of ```` ```python ````.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import io
import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").rglob("*.md") if "notebooks" not in p.parts)
BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.S | re.M)


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def shown_output(line: str) -> str | None:
    """The text after ``#`` on a ``print(...)`` line (None when the line shows nothing)."""
    tokens = list(__import__("tokenize").generate_tokens(io.StringIO(line).readline))
    comments = [t.string for t in tokens if t.type == __import__("tokenize").COMMENT]
    if not comments or not line.lstrip().startswith("print("):
        return None
    return comments[-1][1:].strip()


def check_shown(shown: str, printed: str, where: str) -> None:
    at = 0
    for part in (p.strip() for p in shown.split("...")):
        if not part:
            continue
        found = printed.find(part, at)
        assert found >= 0, f"{where}: the page shows {shown!r} but it printed:\n{printed}"
        at = found + len(part)


def run_block(code: str, namespace: dict, where: str) -> None:
    if code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(code, namespace, where, where, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        out = io.StringIO()
        runner.run(test, out=out.write, clear_globs=False)
        namespace.update(test.globs)  # the next block sees what this one defined
        assert runner.failures == 0, out.getvalue()
        return
    tree = ast.parse(code)
    lines = code.splitlines()
    for stmt in tree.body:
        source = ast.get_source_segment(code, stmt)
        module = ast.Module(body=[stmt], type_ignores=[])
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(module, where, "exec"), namespace)
        shown = (
            shown_output(source + lines[stmt.end_lineno - 1][stmt.end_col_offset :])
            if isinstance(stmt, ast.Expr)
            else None
        )
        if shown and source.startswith("print("):
            check_shown(shown, buffer.getvalue(), f"{where} line {stmt.lineno}")


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    for name in ("derivations", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "docs" / "img").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


CASES = [(page, i) for page in PAGES for i in range(len(blocks(page)))]


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_python_example_runs_with_its_shown_output(page, scratch, monkeypatch):
    codes = blocks(page)
    if any("import torch" in code for code in codes):
        pytest.importorskip("torch")
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(codes):
        where = f"{page.relative_to(ROOT)}[block {i}]"
        here = scratch / "examples" if code.startswith("# run in examples/") else scratch
        monkeypatch.chdir(here)
        added = str(here) not in os.sys.path
        if added:
            os.sys.path.insert(0, str(here))
        try:
            run_block(code, namespace, where)
        finally:
            if added:
                os.sys.path.remove(str(here))


def test_the_checker_catches_a_wrong_shown_output():
    with pytest.raises(AssertionError, match="the page shows"):
        run_block('print("ok: 0 / 3")   # ok: 1 / 3\n', {}, "self-test")
    run_block('print("ok: 0 / 3 parameters mismatched")   # ok: ... parameters\n', {}, "self-test")
    with pytest.raises(AssertionError):
        run_block(">>> 1 + 1\n3\n", {}, "self-test")
