"""pytest plugin: a ``gradient_check`` fixture, a summary line and ``--symprop-report=PATH`` (Markdown)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# symprop.verify (and with it SymPy) is imported only when a test calls the fixture: this module
# is loaded by every pytest run in an environment where symprop is installed.

_REPORTS = pytest.StashKey[list]()


class GradientCheck:
    """Callable fixture object: ``gradient_check(candidate, net, values, X, Y, **options)``."""

    def __init__(self, reports: list, nodeid: str) -> None:
        self._reports = reports
        self.nodeid = nodeid
        self.reports: list[Any] = []

    def __call__(self, candidate: Any, net: Any, values: Any, X: Any, Y: Any, **options: Any) -> Any:
        """Check like ``symprop.assert_gradients_match`` and remember the report."""
        __tracebackhide__ = True
        from symprop.verification import verify

        options.setdefault("label", self.nodeid)
        report = verify(candidate, net, values, X, Y, **options)
        self.reports.append(report)
        self._reports.append((self.nodeid, report))
        if not report.ok:
            raise AssertionError(report.failure_message())
        return report


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("symprop", "symprop gradient checks")
    group.addoption(
        "--symprop-report",
        action="store",
        default=None,
        metavar="PATH",
        help="write every symprop gradient-check report to PATH as Markdown",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORTS] = []


@pytest.fixture
def gradient_check(request: pytest.FixtureRequest) -> GradientCheck:
    """Assert a hand-written gradient equals the exact one; reports are kept for the summary."""
    return GradientCheck(request.config.stash[_REPORTS], request.node.nodeid)


def summary_line(reports: list) -> str:
    failed = sum(1 for _, r in reports if not r.ok)
    return f"symprop: {len(reports)} gradient check{'s' if len(reports) != 1 else ''}, {failed} failed"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    reports = config.stash.get(_REPORTS, [])
    path = config.getoption("symprop_report")
    if reports:
        terminalreporter.write_line(summary_line(reports))
    if path:
        written = write_markdown(Path(path), reports)
        terminalreporter.write_line(f"symprop: report written to {written}")


def write_markdown(path: Path, reports: list) -> Path:
    """All reports as one Markdown file (a section per check)."""
    parts = ["# symprop gradient checks", "", summary_line(reports), ""]
    for nodeid, report in reports:
        parts += [f"## {nodeid}", "", report.to_markdown()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
