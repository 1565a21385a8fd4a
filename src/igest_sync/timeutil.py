"""Dates as the Portuguese tax authority sees them: in Europe/Lisbon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from igest_sync.errors import UsageError

# Never UTC in its place: in summer that dates a payment between 23:00 and midnight UTC on the
# wrong day. The tzdata dependency makes it found on every system.
LISBON = ZoneInfo("Europe/Lisbon")


def utc_now() -> datetime:
    """Now, in UTC: the system's wall clock (a command reads it as ``composition.wall_clock``)."""
    return datetime.now(UTC)


def lisbon_date(moment: datetime) -> date:
    """The calendar day in Lisbon of an aware (or UTC-naive) moment."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LISBON).date()


def lisbon_moment(day: date, hour: int = 0) -> datetime:
    """``hour`` o'clock of ``day`` on Lisbon's wall clock (its first moment by default)."""
    return datetime.combine(day, time(hour), tzinfo=LISBON)


def lisbon_minute(moment: datetime) -> str:
    """A moment as a person in Portugal reads it: Lisbon's wall clock, to the minute."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LISBON).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Period:
    """From ``first`` to ``last``, both included, as Lisbon calendar days: ``reconcile``'s and
    ``adopt``'s ``--from``/``--to``, refused when it ends before it starts."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise UsageError(
                f"The period ends ({self.last}) before it starts ({self.first}).",
                hint="Pass a --from on or before --to (today, when --to is not given).",
            )

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last
