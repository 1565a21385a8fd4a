"""The ledger's meta: the checkpoint, the listing under way, and the run times.

The checkpoint is the highest Jumpseller order id already seen; a rebuild or backfill listing
notes its first day before its first page and clears it with the checkpoint once its last page
is recorded (``complete_listing``). The run times (``last_run_at``, ``last_success_at``) and the
other keys of the meta table are read and written with ``get_meta`` and ``set_meta``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from igest_sync.errors import StateError
from igest_sync.state.database import SET_META, Params, Store, stamp

# The store's name (Jumpseller's GET /store/info.json), remembered by the runs that talk to
# Jumpseller: `status` titles its report by it and the alerts name the store by it.
STORE_NAME = "store_name"

# The store whose orders this state file records (the code in its external references): a
# state file is one store's. Another store's config on it found its checkpoint and skipped
# every order of the new store, silently.
STORE_CODE = "store_code"

# The run under way ({"command", "pid", "started_at"}), written as a run that changes something
# starts and cleared as it ends: found at the next start, the last one was killed (SIGKILL,
# the machine stopped) and its log ends mid-way; the next run says so in the log.
RUN_UNDERWAY = "run_underway"

# Since when no run has reached each service ({service: moment}), kept from the first run an
# outage stopped: cron's runs keep quiet and the alerts wait until it has lasted.
UNREACHABLE_SINCE = "alerts:unreachable_since"

# The first creation day of the whole listings completed (``listed_from``): the days whose every
# order the ledger holds, so that the cancellation pass can watch them all (``watch_from``).
LISTED_FROM = "listed_from"

# The checkpoint moves forwards only, even if another process moved it meanwhile.
ADVANCE_CHECKPOINT = (
    "INSERT INTO meta(key, value) VALUES('last_order_id', ?) "
    "ON CONFLICT(key) DO UPDATE SET value=excluded.value "
    "WHERE CAST(excluded.value AS INTEGER) > CAST(meta.value AS INTEGER)"
)


def ready_for(path: Path, store: str) -> bool:
    """Whether the state file at ``path`` exists, has this version's schema and is ``store``'s:
    then a connection may write to it (serve's inbox) while another run holds the lock, with
    no opening or migration of its own. A read only; any doubt is False (open it as a run does,
    under the lock, which says what is wrong)."""
    import sqlite3

    from igest_sync.state.schema import SCHEMA_VERSION

    if not path.is_file():
        return False
    try:
        db = sqlite3.connect(path, timeout=1)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            row = db.execute("SELECT value FROM meta WHERE key=?", (STORE_CODE,)).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return False
    return version == SCHEMA_VERSION and row is not None and row[0] == store


class MetaStore(Store):
    """The checkpoint and the listings, on the ledger's database."""

    def require_store(
        self, store: str, path: Path, config_path: Path, *, record: bool = True
    ) -> None:
        """This state file is ``store``'s, or ``StateError`` (exit 4, nothing done) when it is
        another store's: that store's checkpoint would be taken for this one's. A state file
        that is no store's yet becomes ``store``'s (``record``: False for a dry run and the
        commands that write nothing)."""
        bound = self.get_meta(STORE_CODE)
        if not bound:
            if record:
                self.set_meta(STORE_CODE, store)
            return
        if bound != store:
            raise StateError(
                f"The state file {path} belongs to store {bound!r}, not to {store!r} (the "
                f"[jumpseller] store, or login, of {config_path}); nothing was done.",
                hint="Each store needs its own state file: give this one its own with --state "
                "FILE or IGEST_SYNC_HOME (a sandbox tried out with the default state file "
                "leaves it behind: delete that file if it was only the sandbox's).",
            )

    def begin_run(self, command: str, pid: int) -> dict[str, str] | None:
        """Note this run as under way; the one found noted instead, which never ended."""
        raw = self.get_meta(RUN_UNDERWAY)
        self.set_meta(
            RUN_UNDERWAY,
            json.dumps({"command": command, "pid": str(pid), "started_at": self._now()}),
        )
        try:
            earlier = json.loads(raw) if raw else None
        except ValueError:
            return None
        return earlier if isinstance(earlier, dict) else None

    def end_run(self) -> None:
        self.set_meta(RUN_UNDERWAY, "")

    def meta_with_prefix(self, prefix: str) -> dict[str, str]:
        """The meta keys of one concern (``prefix`` and an id), with their values."""
        # A range of the primary key: exact (LIKE ignores case), and no escaping.
        rows = self._rows(
            "SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key",
            (prefix, prefix + "\U0010ffff"),
        )
        return {r["key"]: r["value"] for r in rows}

    def outage_since(self, service: str, now: datetime) -> datetime:
        """Since when no run has reached ``service`` (``now`` for the first run that met it)."""
        outages: dict[str, str] = json.loads(self.get_meta(UNREACHABLE_SINCE) or "{}")
        if service not in outages:
            outages[service] = stamp(now)
            self.set_meta(UNREACHABLE_SINCE, json.dumps(outages))
        return datetime.fromisoformat(outages[service])

    def outages_over(self) -> None:
        """A run got through: every service it needed answered."""
        if json.loads(self.get_meta(UNREACHABLE_SINCE) or "{}"):
            self.set_meta(UNREACHABLE_SINCE, "{}")

    @property
    def checkpoint(self) -> int | None:
        """Highest Jumpseller order id already seen; None before the first run."""
        value = self.get_meta("last_order_id")
        return int(value) if value is not None else None

    def advance_checkpoint(self, order_id: int) -> None:
        current = self.checkpoint
        if current is None or order_id > current:
            self.set_meta("last_order_id", str(order_id))

    # -- complete listings: what lets the checkpoint move ------------------------------------

    @property
    def rebuild_from(self) -> date | None:
        """The first creation day of a rebuild or backfill listing that has not yet completed.

        Set before the listing's first page and cleared with the checkpoint once its last page
        is recorded, so a run killed in between leaves it for the next run: that run lists
        those days again and still looks documents up in iGEST before issuing.
        """
        value = self.get_meta("rebuild_from")
        return date.fromisoformat(value) if value else None

    @property
    def rebuilding(self) -> bool:
        """No complete listing recorded yet (a new or lost state file, or a backfill under way):
        iGEST may hold documents this ledger does not know, so look before issuing."""
        return self.checkpoint is None or self.rebuild_from is not None

    def begin_listing(self, first: date) -> None:
        """A rebuild or backfill listing of the orders created since ``first`` starts."""
        pending = self.rebuild_from
        if pending is None or first < pending:
            self.set_meta("rebuild_from", first.isoformat())

    @property
    def listed_from(self) -> date | None:
        """The first creation day of the whole listings completed (a first run's, a rebuild's,
        a backfill's): the ledger holds every order created since, with the status each had
        when last seen."""
        value = self.get_meta(LISTED_FROM)
        return date.fromisoformat(value) if value else None

    def complete_listing(self, highest: int | None) -> None:
        """A listing was read to its last page and every order in it recorded: the checkpoint
        may pass its highest order, and a rebuild under way is over (one transaction)."""
        statements: list[tuple[str, Params]] = [("DELETE FROM meta WHERE key='rebuild_from'", ())]
        pending, listed = self.rebuild_from, self.listed_from
        if pending is not None and (listed is None or pending < listed):
            statements.append((SET_META, (LISTED_FROM, pending.isoformat())))
        if highest is not None:
            statements.append((ADVANCE_CHECKPOINT, (str(highest),)))
        self._write_many(*statements)
