"""The pytest plugin, driven through real pytest sessions with pytester."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import numpy  # noqa: F401  (imported once here: pytester's in-process runs cannot re-import numpy)
import pytest
import sympy  # noqa: F401

import symprop.verification  # noqa: F401

pytest_plugins = ["pytester"]

TESTS = """
import numpy as np
from symprop import examples, reference

EX = examples.SEED_001
NET = EX.network


def good(W, b, X, Y):
    return reference.backprop_arrays(NET, W, b, X, Y)


def halved_output_bias(W, b, X, Y):
    gw, gb = reference.backprop_arrays(NET, W, b, X, Y)
    return gw, [gb[0], gb[1] / 2]


def test_good(gradient_check):
    report = gradient_check(good, NET, EX.values, EX.X, EX.Y)
    assert report.ok


def test_good_twice(gradient_check):
    gradient_check(good, NET, EX.values, EX.X, EX.Y)
    gradient_check(good, NET, EX.values, EX.X, EX.Y, rtol=1e-9)
    assert len(gradient_check.reports) == 2


def test_bad(gradient_check):
    gradient_check(halved_output_bias, NET, EX.values, EX.X, EX.Y)


def test_without_checks():
    assert True
"""


def test_entry_point_is_registered():
    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names.get("symprop") == "symprop.pytest_plugin"


def test_fixture_summary_line_and_failure_message(pytester: pytest.Pytester):
    pytester.makepyfile(test_grads=TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*symprop: 4 gradient checks, 1 failed*"])
    result.stdout.fnmatch_lines(["*2 / 17 parameters mismatched*", "*b2_1*", "*worst: b2_*"])
    assert "symprop/verification.py" not in result.stdout.str()  # __tracebackhide__: no frames from inside symprop


def test_markdown_report_option(pytester: pytest.Pytester):
    pytester.makepyfile(test_grads=TESTS)
    out = pytester.path / "reports" / "grads.md"
    result = pytester.runpytest(f"--symprop-report={out}")
    result.assert_outcomes(passed=3, failed=1)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# symprop gradient checks")
    assert "symprop: 4 gradient checks, 1 failed" in text
    assert text.count("## test_grads.py::test_good_twice") == 2
    assert text.count("| parameter | expected |") == 4
    assert "**FAILED: 2 / 17 parameters mismatched**" in text
    result.stdout.fnmatch_lines([f"*symprop: report written to {out}*"])


def test_xdist_workers_send_their_reports_to_one_summary_and_file(pytester: pytest.Pytester):
    """With -n 2 the checks run in two processes; the summary and the file still count all four, once."""
    pytest.importorskip("xdist")
    pytester.makepyfile(test_grads=TESTS)
    out = pytester.path / "grads.md"
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", f"--symprop-report={out}")
    result.assert_outcomes(passed=3, failed=1)
    assert result.stdout.str().count("symprop: 4 gradient checks, 1 failed") == 1
    assert result.stdout.str().count("symprop: report written to") == 1
    text = out.read_text(encoding="utf-8")
    assert "symprop: 4 gradient checks, 1 failed" in text
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections == [
        "## test_grads.py::test_bad",
        "## test_grads.py::test_good",
        "## test_grads.py::test_good_twice",
        "## test_grads.py::test_good_twice",
    ]
    assert text.count("| parameter | expected |") == 4 and "**FAILED: 2 / 17 parameters mismatched**" in text


def test_crashed_xdist_worker_is_reported_not_hidden(pytester: pytest.Pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_grads=TESTS + "\n\ndef test_crash():\n    import os\n    os._exit(3)\n")
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.stdout.fnmatch_lines(["*symprop: xdist worker gw* crashed; its gradient checks are missing*"])


def test_no_summary_without_checks(pytester: pytest.Pytester):
    pytester.makepyfile(test_plain="def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "gradient check" not in result.stdout.str()


def test_option_is_listed_in_help(pytester: pytest.Pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--symprop-report=PATH*"])


def test_plugin_import_does_not_load_sympy_or_numpy():
    code = "import sys, symprop.pytest_plugin; print('sympy' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
