"""The one contract every run's report keeps, so that the CLI renders and exits the same way.

A run returns a report; it never prints. The CLI decides from ``exit_code`` how the process
ends, prints ``summary()`` (one line, also logged) and, with ``--json``, ``to_json()``.
"""

from __future__ import annotations

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
