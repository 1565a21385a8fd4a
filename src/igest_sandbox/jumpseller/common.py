"""Jumpseller wire conventions shared by the store and the order factories: the order status
names and the timestamp format. A leaf module, so that neither needs the other to say them.
"""

from __future__ import annotations

from datetime import UTC, datetime

STATUS_NAMES = {
    "abandoned": "Abandoned",
    "canceled": "Canceled",
    "pending_payment": "Pending Payment",
    "paid": "Paid",
}


def wire_time(moment: datetime | None) -> str | None:
    """Jumpseller's timestamp format: "2026-11-20 14:03:11 UTC"."""
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_wire_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
