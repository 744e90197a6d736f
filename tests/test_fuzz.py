"""A bounded fuzz run of the problem-file parser and the command line: no traceback, no hang.

Mutated problem files (random keys, types, numbers at the float64 extremes, control characters,
broken TOML, huge sizes) go through ``load_problem`` in-process and through every CLI command in
subprocesses with a timeout. Every outcome must be a Problem / exit 0, or a one-line error with
exit 1 or 2; never a traceback, never a timeout. Marked slow (about a minute; run in CI).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_problem import SEED_002_TOML

from symprop.budget import BudgetError
from symprop.problem import ProblemError, load_problem

ROOT = Path(__file__).resolve().parent.parent

NUMBERS = st.sampled_from(
    [
        "0",
        "-0.0",
        "1e308",
        "-1e308",
        "1e-320",
        "5e-324",
        "1e400",
        "nan",
        "inf",
        "-inf",
        "1e9",
        "123456789012345678901234567890",
        "0.1",
        "-7",
        "1.5",
        "true",
        '"3"',
        "[]",
        "[1, [2]]",
        "{}",
        '"leaky_relu(1e400)"',
        '"\\u001b[31m"',
        '"\\u202e"',
    ]
)
KEYS = st.sampled_from(
    [
        "layers",
        "hidden",
        "output",
        "loss",
        "naming",
        "x",
        "y",
        "csv",
        "x_columns",
        "init",
        "seed",
        "std",
        "w1",
        "b3",
        "params",
        "lr",
        "tol",
        "max_steps",
        "param",
        "title",
        "\\u001b[2J",
        "ünïcode",
        "w1_1_1",
    ]
)
LINES = SEED_002_TOML.splitlines()


@st.composite
def mutated(draw) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "garble"]))
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "replace" and "=" in lines[i]:
            lines[i] = lines[i].split("=")[0] + "= " + draw(NUMBERS)
        elif kind == "insert":
            lines.insert(i, f'"{draw(KEYS)}" = {draw(NUMBERS)}')
        elif kind == "delete":
            del lines[i]
        elif kind == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, max(len(lines[i]) - 1, 0)))]
        else:
            lines[i] = draw(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20))
    if draw(st.booleans()):
        lines = [
            l.replace("layers = [1, 2, 1]", f"layers = [1, {draw(st.sampled_from([0, 3, 100, 10**6]))}, 1]")
            for l in lines
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(text=mutated())
def test_the_parser_gives_a_problem_or_a_clear_error(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "p.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_problem(path)
    except (ProblemError, BudgetError) as exc:
        message = str(exc)
        assert "\n" not in message and "\x1b" not in message and message.startswith(str(path))
    # anything else (KeyError, AttributeError, OverflowError, ...) fails the test with its traceback


COMMANDS = (
    ["show"],
    ["derive"],
    ["grad", "--json"],
    ["grad", "--exact"],
    ["descend", "--max-steps", "50"],
    ["plot", "--kind", "network", "-o", "{dir}/n.svg"],
)


@pytest.mark.slow
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(text=mutated(), command=st.sampled_from(COMMANDS))
def test_the_cli_never_shows_a_traceback_or_hangs(tmp_path_factory, text: str, command: list[str]) -> None:
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "p.toml"
    path.write_text(text, encoding="utf-8")
    args = [a.format(dir=folder) for a in command]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + sys.path))
    result = subprocess.run(
        [sys.executable, "-m", "symprop", args[0], str(path), *args[1:], "--budget", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 2), result.stderr
    if result.returncode:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
