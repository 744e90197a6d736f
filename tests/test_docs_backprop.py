"""Every code block of docs/your-backprop.md runs and its assertions hold (hand-written backprop in each layout)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "your-backprop.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_the_page_has_a_block_for_each_common_layout():
    text = "\n".join(BLOCKS)
    assert len(BLOCKS) >= 5
    for needle in ('samples="each_column"', 'weights="in_out"', "samples=columns", "verify_torch"):
        assert needle in text


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_block_runs(index, capsys):
    code = BLOCKS[index]
    if "import torch" in code:
        pytest.importorskip("torch")
    exec(compile(code, f"{PAGE.name}[block {index}]", "exec"), {"__name__": f"docs_block_{index}"})
