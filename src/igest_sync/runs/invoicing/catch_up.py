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

import logging
from datetime import date, timedelta

from igest_sync.models import IssuedDocument, WorkState
from igest_sync.references import store_prefix
from igest_sync.runs.services import IgestApi
from igest_sync.state.ledger import Ledger

log = logging.getLogger("igest_sync.invoice")

Known = dict[str, list[IssuedDocument]]


class CatchUp:
    """The days listed so far, and what the listing found (by reference)."""

    def __init__(self, igest: IgestApi, ledger: Ledger, store: str, start: date | None) -> None:
        self.igest = igest
        self.ledger = ledger
        self.ours = store_prefix(store)
        self.start = start
        self.listed_from: date | None = None  # the first day listed, once there is a listing
        self.known: Known = {}

    def seed(self, known: Known, since: date | None) -> None:
        """The run listed iGEST from ``since`` already (a first run or a rebuild, None: all of
        it): those days answer from that listing; an order paid before them is still looked
        up in the days before (``cover``)."""
        for ref, docs in known.items():
            held = self.known.setdefault(ref, [])
            ids = {d.id for d in held}  # serve's units share one: a document counted once
            held.extend(d for d in docs if d.id not in ids)
        day = since or date.min
        if self.listed_from is None or day < self.listed_from:
            self.listed_from = day

    def cover(self, since: date | None) -> Known:
        """The documents dated on or after ``since`` (the payment day of the order about to be
        looked up; None: from the start date, or all), listing the days not yet listed."""
        day = since or self.start
        listed = self.listed_from
        if listed is not None and (listed == date.min or (day is not None and day >= listed)):
            return self.known  # those days are listed already
        before = listed - timedelta(days=1) if listed is not None else None
        unknown = 0
        for doc in self.igest.find_documents(date_from=day, date_to=before):
            ref = doc.external_reference
            if not ref:
                continue
            self.known.setdefault(ref, []).append(doc)
            unknown += ref.startswith(self.ours) and ":credit" not in ref and not self._known(ref)
        self.listed_from = day or date.min
        if unknown:
            log.warning(
                "iGEST holds %d documents issued since %s that the state file does not know "
                "(put back from an older copy?): looking them up before issuing, and listing "
                "the orders again from that day",
                unknown,
                day,
            )
            if day is not None:
                self.ledger.begin_listing(day)
        return self.known

    def _known(self, ref: str) -> bool:
        """The ledger knows this invoice: recorded final, or its work may have reached iGEST."""
        order_id = ref.removeprefix(self.ours)
        work = self.ledger.work(int(order_id)) if order_id.isdigit() else None
        return work is not None and (work.state == WorkState.FINAL or work.phase is not None)
