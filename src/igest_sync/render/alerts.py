"""What ``digest`` shows; ``alerts test`` reuses the
check table of ``render``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from igest_sync.render.console import current, emit_json, warn, wrap_words

if TYPE_CHECKING:
    from igest_sync.alerts.digest import DigestReport
    from igest_sync.alerts.outbox import Outcome


def digest_report(report: DigestReport, *, sent: Outcome | None, json_out: bool) -> None:
    """Always shown: a person asked for it (or a script, with --json)."""
    from igest_sync.alerts.digest import digest_lines

    sending = None
    if sent is not None:
        sending = {
            "sent": dict(sent.sent),
            "errors": dict(sent.errors),
        }
    if json_out:
        emit_json({**report.to_json(), "sending": sending})
        return
    # Wrapped here, between words (a line such as the turnover's is longer than a terminal,
    # which would cut it anywhere); a continuation line is indented under its own line.
    width = current().out.width
    for line in digest_lines(report):
        current().out.print(escape(wrap_words(line, width, rest="  ")), soft_wrap=True)
    if sent is None:
        return
    for channel, count in sent.sent.items():
        current().out.print(f"Sent by {channel} ({count} message{'s' if count > 1 else ''}).")
    for channel, error in sent.errors.items():
        warn(f"Not sent by {channel}: {error} (the next run tries again)")
