"""Progress on stderr for commands that can take more than a couple of seconds.

Shown only when stderr is a terminal, so logs, pipes and CI output stay clean; the environment
variable ONEREG_PROGRESS=1 forces it on (tests, `script` sessions), ONEREG_PROGRESS=0 off. Rich
is imported only when progress is shown, so a quiet command pays nothing for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress

ENV = "ONEREG_PROGRESS"
_ON, _OFF = ("1", "yes", "true", "on"), ("0", "no", "false", "off")

# advance(description, completed=None, total=None): name the step now under way, and how far
Advance = Callable[..., None]


def wanted() -> bool:
    """True when progress should be drawn: forced by ONEREG_PROGRESS, else stderr is a tty."""
    setting = os.environ.get(ENV, "").strip().lower()
    if setting in _ON:
        return True
    if setting in _OFF:
        return False
    return sys.stderr.isatty()


@contextmanager
def bars() -> Iterator[Progress | None]:
    """A rich Progress on stderr, or None when progress is not wanted."""
    if not wanted():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, force_terminal=True)
    with Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield progress


@contextmanager
def steps(title: str, total: int) -> Iterator[Advance]:
    """One bar for a command made of `total` steps; `advance("reading routes")` marks the start
    of the next step (the bar shows `title: step`), `advance(None)` the end of the last."""
    with bars() as progress:
        if progress is None:
            yield _nothing
            return
        task = progress.add_task(title, total=total)
        started = [0]

        def advance(step: str | None = None, **_: object) -> None:
            if started[0]:
                progress.advance(task)
            started[0] += 1
            if step is not None:
                progress.update(task, description=f"{title}: {step}")

        yield advance
        progress.update(task, completed=total, description=title)


def _nothing(*_: object, **__: object) -> None:
    """Progress not wanted: every report is dropped."""
