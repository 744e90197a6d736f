"""The tutorial notebooks (one per seed, docs/notebooks/) run in a fresh Jupyter kernel without any setup or
magic, show their figures as pictures, and print what the committed, executed copies show."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "docs" / "notebooks"
spec = importlib.util.spec_from_file_location("notebook_build", HERE / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def _texts(nb) -> list[str]:
    return [
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"
    ]


@pytest.mark.parametrize("seed", build.SEEDS)
def test_committed_notebook_is_built_from_its_tutorial(seed):
    committed = nbformat.read(HERE / f"{seed}.ipynb", as_version=4)
    fresh = build.notebook(seed)
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], (
        f"docs/notebooks/{seed}.ipynb is stale: run python docs/notebooks/build.py"
    )
    page = (HERE / f"{seed}.md").read_text(encoding="utf-8")
    assert all(c.source in page for c in committed.cells if c.cell_type == "code")


@pytest.mark.parametrize("seed", build.SEEDS)
def test_notebook_runs_and_shows_its_pictures(seed, tmp_path):
    committed = nbformat.read(HERE / f"{seed}.ipynb", as_version=4)
    nb = build.execute(build.notebook(seed), cwd=tmp_path)  # raises CellExecutionError on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    shown = [c for c in nb.cells if c.cell_type == "code" and build._shows_figure(c.source.rsplit("\n", 1)[0])]
    assert shown, "each tutorial ends a cell with a figure, a report or a derivation"
    for cell in shown:  # shown richly with no %matplotlib: figures as PNG, derivations as math, reports as tables
        data = {k for o in cell.outputs for k in o.get("data", {})}
        want = (
            "image/png" if "plotting." in cell.source else "text/markdown" if "derive(" in cell.source else "text/html"
        )
        assert want in data, (cell.source, data)
    assert _texts(nb) == _texts(committed)  # the same numbers as the committed notebook and its page
