"""pytest plugin: a ``gradient_check`` fixture, a summary line and ``--symprop-report=PATH`` (Markdown).

Under pytest-xdist (``-n``) each worker sends its reports to the controller when it finishes, so the
summary line and the report file cover every check of the run, written once by the controller.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

# symprop.verify (and with it SymPy) is imported only when a test calls the fixture: this module
# is loaded by every pytest run in an environment where symprop is installed.

_REPORTS = pytest.StashKey[list]()
_LOST = pytest.StashKey[list]()  # ids of xdist workers that crashed before sending their reports
_WORKER_KEY = "symprop_reports"


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
    config.stash[_LOST] = []
    path = config.getoption("symprop_report", None)
    if path and not _is_xdist_worker(config):  # refuse a bad path now, not after the whole run
        target = Path(path)
        if target.is_dir():
            raise pytest.UsageError(
                f"--symprop-report {path}: is a directory; give a file name such as {path}/symprop.md"
            )
        if target.exists() and not target.is_file():
            return  # a device such as /dev/null
        parent = target.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise pytest.UsageError(f"--symprop-report {path}: cannot write in {parent}")


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


class ReceivedReport:
    """A report that came from an xdist worker: what the summary and the Markdown file need."""

    def __init__(self, ok: bool, markdown: str) -> None:
        self.ok = ok
        self._markdown = markdown

    def to_markdown(self) -> str:
        return self._markdown


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_xdist_worker(config):  # plain data only: it travels to the controller over execnet
        config.workeroutput[_WORKER_KEY] = [
            (nodeid, bool(r.ok), r.to_markdown()) for nodeid, r in config.stash.get(_REPORTS, [])
        ]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: collect a finished worker's reports (the hook exists only with xdist)."""
    received = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if received is None:
        if error is not None:
            node.config.stash[_LOST].append(getattr(getattr(node, "gateway", None), "id", "?"))
        return
    reports = node.config.stash[_REPORTS]
    reports.extend((nodeid, ReceivedReport(ok, markdown)) for nodeid, ok, markdown in received)
    reports.sort(key=lambda item: item[0])  # workers finish in any order; one order for every run


@pytest.fixture
def gradient_check(request: pytest.FixtureRequest) -> GradientCheck:
    """Assert a hand-written gradient equals the exact one; reports are kept for the summary."""
    return GradientCheck(request.config.stash[_REPORTS], request.node.nodeid)


def summary_line(reports: list) -> str:
    failed = sum(1 for _, r in reports if not r.ok)
    return f"symprop: {len(reports)} gradient check{'s' if len(reports) != 1 else ''}, {failed} failed"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _is_xdist_worker(config):  # the controller reports for everyone
        return
    reports = config.stash.get(_REPORTS, [])
    path = config.getoption("symprop_report")
    if reports:
        terminalreporter.write_line(summary_line(reports))
    for worker in config.stash.get(_LOST, []):
        terminalreporter.write_line(
            f"symprop: xdist worker {worker} crashed; its gradient checks are missing from this summary and the report"
        )
    if path:
        written = write_markdown(Path(path), reports)
        terminalreporter.write_line(f"symprop: report written to {written}")


def write_markdown(path: Path, reports: list) -> Path:
    """All reports as one Markdown file (a section per check)."""
    parts = ["# symprop gradient checks", "", summary_line(reports), ""]
    for nodeid, report in reports:
        parts += [f"## {nodeid}", "", report.to_markdown()]
    from symprop.atomic import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, "\n".join(parts), what="--symprop-report")  # a temporary file renamed into place
    return path
