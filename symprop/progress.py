"""Progress bars for long work (tqdm), one line at the call site.

Drawn on stderr only when stderr is a terminal (as pip does): nothing appears in pipes, logs, CI or
notebooks, and nothing at all for work that ends within ``delay`` seconds. ``SYMPROP_PROGRESS=0``
turns every bar off, ``SYMPROP_PROGRESS=1`` draws them even when stderr is not a terminal.

    with progress.bar(len(samples), "exact gradient") as bar:
        for sample in samples:
            ...
            bar.update(item=name)

    for name in progress.track(names, "proving backprop"):
        ...
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

#: seconds before a bar appears: quick work leaves no trace
DELAY = 0.5


def enabled(stream: TextIO | None = None) -> bool:
    """Whether bars are drawn on ``stream`` (stderr by default): a terminal, unless SYMPROP_PROGRESS says otherwise."""
    setting = os.environ.get("SYMPROP_PROGRESS", "").strip().lower()
    if setting in ("0", "false", "no", "off"):
        return False
    if setting in ("1", "true", "yes", "on"):
        return True
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """One bar: ``update(step=1, item="")`` advances it and shows ``item`` (what is being worked on)."""

    def __init__(
        self,
        total: int | None,
        label: str,
        stream: TextIO | None = None,
        delay: float = DELAY,
        unit: str = "it",
        show: bool = True,
        mininterval: float = 0.1,
    ) -> None:
        from tqdm import tqdm

        self.stream = sys.stderr if stream is None else stream
        self.enabled = bool(show) and enabled(self.stream)
        self.total = None if total is None else max(int(total), 1)
        self.label = label
        self._bar = tqdm(
            total=self.total,
            desc=label,
            file=self.stream,
            delay=delay,
            unit=unit,
            leave=False,
            disable=not self.enabled,
            dynamic_ncols=True,
            mininterval=mininterval,
            miniters=1 if mininterval == 0 else None,
        )

    @property
    def done(self) -> int:
        return int(self._bar.n)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, step: int = 1, item: str = "") -> None:
        if item:
            self._bar.set_postfix_str(item, refresh=False)
        self._bar.update(step)

    def set(self, done: int, item: str = "") -> None:
        """Move the bar to ``done`` (for callbacks that report a running count; a smaller count starts it over)."""
        if int(done) < self.done:
            self._bar.reset(total=self.total)
        self.update(int(done) - self.done, item)

    def close(self) -> None:
        self._bar.close()


def bar(total: int | None, label: str, *, show: bool = True, **kwargs: Any) -> Progress:
    """A progress bar for ``total`` units of work (``show=False``: never drawn, e.g. for small work)."""
    return Progress(total, label, show=show, **kwargs)


def track(
    items: Iterable[T], label: str, total: int | None = None, *, show: bool = True, item: Any = None
) -> Iterator[T]:
    """Iterate over ``items`` with a bar; ``item(x)`` names each element in the bar (e.g. a parameter)."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with Progress(total, label, show=show) as b:
        for x in items:
            yield x
            b.update(item="" if item is None else str(item(x)))
