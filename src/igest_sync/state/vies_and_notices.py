"""The ledger's checks: VIES answers (one clear answer per number and day) and the notices
already shown to a person (so that a run repeats one only when it is due)."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import date, datetime, timedelta

from igest_sync.models import ViesCheck, ViesStatus
from igest_sync.state.database import Store, stamp


class ChecksStore(Store):
    """VIES answers and notices shown, on the ledger's database."""

    # -- notices shown ----------------------------------------------------------------------

    def notice_shown_at(self, text: str) -> datetime | None:
        """When a run last printed this notice for a person, if it did."""
        value = self.get_meta(_notice_key(text))
        return datetime.fromisoformat(value) if value else None

    def mark_notice_shown(self, text: str, at: datetime) -> None:
        """Remember that ``text`` was printed at ``at``; forget notices not seen for 30 days,
        so that the table does not grow with every error message ever printed."""
        stale = stamp(at - timedelta(days=30))
        self._write_many(
            ("DELETE FROM meta WHERE key LIKE 'notice:%' AND value < ?", (stale,)),
            (
                (
                    "INSERT INTO meta(key, value) VALUES(?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value"
                ),
                (_notice_key(text), stamp(at)),
            ),
        )

    # -- VIES checks ------------------------------------------------------------------------

    def vies_answer(self, country: str, number: str, day: date) -> ViesCheck | None:
        """The clear answer (valid or invalid) VIES gave on ``day`` for this number, if any.

        An unavailable answer is kept too but not returned: the next run asks VIES again.
        """
        rows = self._rows(
            "SELECT * FROM vies_checks WHERE country=? AND number=? AND checked_on=? "
            "AND status IN (?, ?)",
            (country, number, day.isoformat(), ViesStatus.VALID, ViesStatus.INVALID),
        )
        return _vies(rows[0]) if rows else None

    def record_vies_check(self, check: ViesCheck) -> None:
        """Keep a check; a clear answer is never replaced by a later unavailable one that day."""
        self._write(
            "INSERT INTO vies_checks(country, number, checked_on, status, consultation, detail,"
            " checked_at) VALUES(?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(country, number, checked_on) DO UPDATE SET status=excluded.status,"
            " consultation=excluded.consultation, detail=excluded.detail,"
            " checked_at=excluded.checked_at"
            " WHERE vies_checks.status NOT IN ('valid', 'invalid')"
            " OR excluded.status IN ('valid', 'invalid')",
            (
                check.country,
                check.number,
                check.checked_on.isoformat(),
                str(check.status),
                check.consultation,
                check.detail,
                self._now(),
            ),
        )


def _vies(r: sqlite3.Row) -> ViesCheck:
    return ViesCheck(
        country=r["country"],
        number=r["number"],
        status=ViesStatus(r["status"]),
        checked_on=date.fromisoformat(r["checked_on"]),
        consultation=r["consultation"],
        detail=r["detail"],
    )


def _notice_key(text: str) -> str:
    return "notice:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
