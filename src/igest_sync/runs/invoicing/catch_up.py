"""The run's listing of what iGEST issued since the orders it sends without a look-up (or whose
work a rebuild recorded as unverified) were paid; it answers their look-ups.

A state file put back from an older copy does not know the documents issued after the copy was
taken: its checkpoint and open orders would have a run issue them again without looking (the
"look before issuing" rule covered only an empty or rebuilding ledger). An order's invoice, if
one exists, is dated on or after the day the order was paid, so a listing from that day finds
it whatever the ledger knows; the ledger's own news (its newest document, its last run) does
not, once the copy has recorded anything newer.

Cost: one ``GET /documents?date_from=`` per process that issues (a page per 100 documents of
those days: new orders are paid today): per ``invoice`` run, and once for ``serve``'s worker,
whose units share one ``CatchUp`` (after it, every document this state file's runs issue is
recorded in it, and ``serve`` keeps the file open: a copy put back under it is not seen). It
is widened to earlier days (``date_to``: only those not yet listed) for an order paid before
them, a retry; nothing in a quiet run. A document with our reference that the ledger does not
know means it is behind: a rebuild from that day is noted (``Ledger.begin_listing``) before
the run issues anything, so the next runs list the orders again and look everything up until
one complete listing is recorded.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta

from igest_sync.models import DocumentStatus, IssuedDocument, Phase, WorkState
from igest_sync.references import store_prefix
from igest_sync.runs.services import IgestApi
from igest_sync.state.ledger import Ledger

log = logging.getLogger("igest_sync.invoice")

Known = dict[str, list[IssuedDocument]]
# The documents of ours the state file did not know, as the last listing that met some found
# them (their ids): met again with others, a second issuer is at work, not an older copy.
UNKNOWN_KEY = "catch_up:unknown_documents"
UNKNOWN_KEPT = 10_000  # a first run's listing of a busy store's year
UNKNOWN_RECENT = timedelta(days=7)
# One text (the numbers are in the log): a notice is reminded, and alerted, by its text.
ANOTHER_ISSUER = (
    "iGEST holds invoices of this store that this state file did not issue, issued since an "
    "earlier run met others like them: either this state file was put back from an older copy "
    "(a backup restored), or another igest-sync issues for the same store with a state file of "
    "its own (another user, IGEST_SYNC_HOME or --state; cron and serve apart). This run looked "
    "them up and issued nothing twice. If no copy was put back, run every igest-sync of a store "
    "on one state file: the other may not look first (the log names the documents)."
)


class CatchUp:
    """The days listed so far, and what the listing found (by reference)."""

    def __init__(
        self,
        igest: IgestApi,
        ledger: Ledger,
        store: str,
        start: date | None,
        *,
        refresh_every: timedelta | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.igest = igest
        self.ledger = ledger
        self.ours = store_prefix(store)
        self.start = start
        self.listed_from: date | None = None  # the first day listed, once there is a listing
        # serve keeps one listing for days: what another integration issued since it was made
        # (the hosted app left on) is read again, the asked days up to today, at most this
        # often. A run's listing is its own, made as it starts: None.
        self.refresh_every = refresh_every
        self.clock = clock
        self._listed_at: datetime | None = None
        # Bumped whenever the listing changes: what is computed from it (the documents not
        # ours, by the order they name) is computed once per version, not once per order.
        self.version = 0
        self.known: Known = {}
        self.notices: list[str] = []  # for a person: taken by the run's report
        # The documents earlier runs found unknown (read at this listing's first finding), and
        # this listing's own: a later day listed after an earlier one is not another issuer.
        self._earlier: set[str] | None = None
        self._found: set[str] = set()
        # The run's workers look up, list and take notices in parallel: one listing at a time
        # (two workers listing the same days counted each document twice: "iGEST holds 4
        # final documents" of an order with one). Re-entered by the notice it may make.
        self._lock = threading.RLock()

    def seed(self, known: Known, since: date | None) -> None:
        """The run listed iGEST from ``since`` already (a first run or a rebuild, None: all of
        it): those days answer from that listing; an order paid before them is still looked
        up in the days before (``cover``)."""
        unknown = []
        for ref, docs in known.items():
            held = self.known.setdefault(ref, [])
            ids = {d.id for d in held}  # serve's units share one: a document counted once
            held.extend(d for d in docs if d.id not in ids)
            if self._not_ours(ref, unverified=True):
                unknown += [d for d in docs if d.status == DocumentStatus.FINAL]
        if unknown:
            self._another_issuer(unknown)
        self.version += 1
        day = since or date.min
        if self.listed_from is None or day < self.listed_from:
            self.listed_from = day

    def cover(self, since: date | None) -> Known:
        """The documents dated on or after ``since`` (the payment day of the order about to be
        looked up; None: from the start date, or all), listing the days not yet listed."""
        with self._lock:
            return self._cover(since)

    def _stale(self) -> bool:
        if self.refresh_every is None or self.clock is None or self._listed_at is None:
            return False
        # Listed "in the future": by a clock that has stepped back since; read again.
        age = self.clock() - self._listed_at
        return age >= self.refresh_every or age < timedelta(0)

    def _cover(self, since: date | None) -> Known:
        day = since or self.start
        listed = self.listed_from
        covered = listed is not None and (listed == date.min or (day is not None and day >= listed))
        if covered and (day is None or not self._stale()):
            return self.known  # those days are listed already
        # Stale (serve): the asked days again, up to today; else only the days before them.
        before = listed - timedelta(days=1) if listed is not None and not covered else None
        unknown: list[IssuedDocument] = []
        # Every page first: a listing that fails on a later page is listed again by the next
        # look-up, and its first pages must not be counted twice.
        for doc in list(self.igest.find_documents(date_from=day, date_to=before)):
            # Kept under "" without a reference: an invoice made by hand may name its order
            # in its notes (``hold.invoiced_elsewhere``); no look-up by reference meets it.
            ref = doc.external_reference or ""
            held = self.known.setdefault(ref, [])
            # Listed again (serve's refresh): this copy replaces the one seen before: another
            # integration's draft since finalized, its invoice since annulled.
            seen = next((i for i, d in enumerate(held) if d.id == doc.id), None)
            if seen is None:
                held.append(doc)
            else:
                held[seen] = doc
            if ref and self._not_ours(ref):
                unknown.append(doc)
        self.version += 1
        if not covered:
            self.listed_from = day or date.min
        if self.clock is not None:
            self._listed_at = self.clock()
        strange = [d for d in unknown if d.status == DocumentStatus.FINAL]
        if strange:
            self._another_issuer(strange)
        if unknown:
            log.warning(
                "iGEST holds %d documents issued since %s that the state file does not know "
                "(put back from an older copy?): looking them up before issuing, and listing "
                "the orders again from that day",
                len(unknown),
                day,
            )
            if day is not None:
                self.ledger.meta.begin_listing(day)
        return self.known

    def _another_issuer(self, unknown: list[IssuedDocument]) -> None:
        """A new state file, or a copy put back, is behind once: its first run, or the rebuild
        that follows, learns those documents. New ones met by a later listing were issued
        meanwhile by another igest-sync with a state file of its own, which also issues what
        this one does (twice, unless it looks first)."""
        now = self.ledger.db.now()
        with self._lock:
            if self._earlier is None:
                last = json.loads(self.ledger.meta.get_meta(UNKNOWN_KEY) or "{}")
                # A finding of long ago says nothing of today's (a copy put back may carry one).
                recent = isinstance(last, dict) and "at" in last
                recent = recent and now - datetime.fromisoformat(last["at"]) < UNKNOWN_RECENT
                self._earlier = set(last["ids"]) if recent else set()
            earlier = self._earlier
            new = [d for d in unknown if d.id not in earlier and d.id not in self._found]
            self._found |= {d.id for d in unknown}
            # Kept with what earlier runs found: a document that stays unknown (an earlier
            # install's, before the start date) is not "new" to a later, wider listing.
            ids = sorted(earlier | self._found)[-UNKNOWN_KEPT:]
            self.ledger.meta.set_meta(UNKNOWN_KEY, json.dumps({"at": now.isoformat(), "ids": ids}))
            if earlier and new:
                some = ", ".join(f"{d.number or d.id} ({d.external_reference})" for d in new)
                log.error("%s New: %s", ANOTHER_ISSUER, some)
                if ANOTHER_ISSUER not in self.notices:
                    self.notices.append(ANOTHER_ISSUER)

    def take_notices(self) -> list[str]:
        """What this listing has for a person, once (serve's units share one listing)."""
        with self._lock:
            taken, self.notices = self.notices, []
        return taken

    def _not_ours(self, ref: str, *, unverified: bool = False) -> bool:
        """An invoice of this store's that the ledger does not know: not recorded final, and
        no work of ours that may have reached iGEST. ``unverified``: work a first run or a
        rebuild recorded without looking counts as not known either (the listing being
        seeded is that look)."""
        if not ref.startswith(self.ours) or ":credit" in ref:
            return False
        order_id = ref.removeprefix(self.ours)
        work = self.ledger.works.work(int(order_id)) if order_id.isdigit() else None
        if work is None or work.state == WorkState.FINAL:
            return work is None
        return work.phase is None or (unverified and work.phase == Phase.UNVERIFIED)
