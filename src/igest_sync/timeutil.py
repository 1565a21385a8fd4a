"""Dates as the Portuguese tax authority sees them: in Europe/Lisbon."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

try:
    LISBON: tzinfo = ZoneInfo("Europe/Lisbon")
except ZoneInfoNotFoundError:  # pragma: no cover - a system without tz data; Lisbon is UTC±1
    LISBON = UTC


def lisbon_date(moment: datetime) -> date:
    """The calendar day in Lisbon of an aware (or UTC-naive) moment."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LISBON).date()
