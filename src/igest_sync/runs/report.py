"""The one contract every run's report keeps, so that the CLI renders and exits the same way.

A run returns a report; it never prints. The CLI decides from ``exit_code`` how the process
ends, prints ``summary()`` (one line, also logged) and, with ``--json``, ``to_json()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Report(Protocol):
    @property
    def exit_code(self) -> int:
        """0 when nothing needs a person, else an ``errors.ExitCode`` value."""
        ...

    def summary(self) -> str:
        """One line for the terminal and the log: what the run did."""
        ...

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (the CLI adds ``"schema"``)."""
        ...


@runtime_checkable
class Attended(Protocol):
    """A report whose notices a person must hear of through ``[alerts]`` (``invoice``,
    ``resend``, ``approve``, ``credit``, and ``serve``'s batches and sweeps alike): the one
    place that says which of them go to the alerts; ``alerts.dispatch`` decides when each is
    sent, and reminded."""

    @property
    def alert_notices(self) -> Sequence[str]: ...


def some_of(names: Sequence[object], most: int) -> str:
    """``a, b, c and 4 more``: the first ``most`` of ``names``, and how many are left out."""
    shown = ", ".join(str(name) for name in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def counted(n: int, noun: str) -> str:
    """``1 draft``, ``2 drafts``: a count and its noun, as the summaries say them."""
    return f"{n} {noun}" + ("" if n == 1 else "s")
