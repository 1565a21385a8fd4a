"""Alerts: the merchant hears of a stuck order by email or chat, once, and gets a digest.

The core of it (no typer, no rich; it never prints): ``events`` says what happened,
``message`` writes it, ``email`` and ``webhook`` send it, ``outbox`` records and sends what
every run found (``dispatch``, the one entry point), ``digest`` sums up a period,
``spool`` keeps alerts about a state file that cannot be used, and ``probe`` answers
``check`` and ``alerts test``.
"""

from __future__ import annotations

from igest_sync.alerts.outbox import Outcome, dispatch

__all__ = ["Outcome", "dispatch"]
