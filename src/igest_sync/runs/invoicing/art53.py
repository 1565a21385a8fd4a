"""The small-business VAT exemption (art. 53 CIVA as redesigned by Decreto-Lei 35/2025, in force
since 1 July 2025), for a merchant who declares it (``[invoice] vat_regime = "art53"``; M10 on
the documents).

- The calendar year's **turnover** is counted from iGEST, not from the ledger: every final
  document of the entity in every series (the hosted app's, those made by hand, ours),
  invoices (FT, FR, FS) minus credit notes (NC), by their net totals (under the exemption a
  document's net and gross totals are the same).
- From ``art53_notice_percent`` of 15,000 EUR: a notice (and an alert), once a year.
- Past 15,000 EUR: an alert, once: the regime ends on 1 January and AT must be told within
  15 working days. Credit notes that bring the year back under re-arm it (and say so).
- A dry run tells the notices its real run would give, counting what it would issue, in
  "would" (``Art53Guard.would_notices``), and writes nothing: the real run still tells each.
- An order whose document would take the year past 18,750 EUR is refused, never issued as M10:
  VAT is due from that very document. The refusal names the keys to change. So is every
  exempt order paid after it (payment order decides: a draft approved later than an order
  paid after it is counted on its own), and every exempt document of a year after one that
  passed 15,000 EUR (the exemption ended on 1 January); a closed year's turnover is listed
  each day of January, then kept. A refusal counts this run's own documents too (a draft
  waiting for approval is not final yet) and says so.

**Cost.** The year's documents are listed once a week; in between, the sum up to the day
before yesterday (days that are closed) is kept in the ledger's meta (``art53_turnover:<year>``)
and each reading lists only the documents dated since then: a reading costs one listing of
about two days of documents (a request per 100 documents), however many runs and documents
the year has had, plus, once a week, one listing of the year (a request per 100 documents of
the year so far). A run reads the turnover only when it has an exempt document to issue, and
for the notices after a run, ``resend`` or ``approve`` that issued something (else once a
day: ``InvoiceRun.turnover_notices``); ``credit`` reads it after its credit note
(``Art53Guard.after_credit``) and ``check`` reads it too.
A document finalized later but dated on a day already counted (iGEST allows it in a series
whose last document is older) is seen by the next weekly recount.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from igest_sync.config import InvoiceConfig
from igest_sync.errors import ApiError, AuthError, OrderRejected
from igest_sync.fiscal.exemptions import SMALL_BUSINESS_CODE
from igest_sync.fiscal.money import eur
from igest_sync.models import (
    DocumentDraft,
    DocumentStatus,
    DocumentType,
    IssuedDocument,
    Kind,
    OrderStatus,
    WorkState,
)
from igest_sync.references import external_reference
from igest_sync.runs.invoicing.intra_eu import VatCheckPending
from igest_sync.runs.services import IgestApi
from igest_sync.state.ledger import Ledger

log = logging.getLogger("igest_sync.invoice")

ART53 = "art53"
EXEMPTION_CODE = SMALL_BUSINESS_CODE
THRESHOLD = Decimal("15000.00")  # past it: the regime ends on 1 January of the next year
CEILING = Decimal("18750.00")  # past it (15,000 + 25 %): VAT is due at once
SALES = (DocumentType.FT, DocumentType.FR, DocumentType.FS)
CREDIT = DocumentType.NC
CACHE_KEY = "art53_turnover:{year}"
# A closed year's turnover (the exemption needs the last) and the day it was listed. Not the
# key of versions before the day was kept ("art53_year_total:<year>", a bare number, never
# read again): one of those still running beside this one (a serve not yet restarted after an
# upgrade) would fail on this JSON.
YEAR_KEY = "art53_year_listed:{year}"
SHARE_KEY = "art53_share_notice:{year}"
OVER_KEY = "art53_over_15000:{year}"
# The order that took the year past 18,750 EUR (refused as exempt; its amount, to count it
# again): the exemption ended there, so every later exempt document of the year is refused
# too, whatever its amount. Only a document makes that final: while the order is not invoiced,
# credit notes may make room for it, and it is then issued exempt first (resend).
CROSSED_KEY = "art53_crossed_18750:{year}"
# How every refusal of an exempt document begins.
_REFUSED = "refused under the small-business exemption (art. 53 CIVA): "
# The day a run last got as far as its turnover notices (a run killed before them, after it
# read the count to admit a document, leaves its notices to the next run).
NOTICED_KEY = "art53_noticed_on"
TELL_AT_WORKING_DAYS = 15
# The whole year is listed again this often: a document dated on a day already counted (a
# backdated one, in a series of its own) is seen within a week.
FULL_RECOUNT = timedelta(days=7)

# Both spellings of the domestic codes: [invoice.exemptions] wins over the older pair, so a
# hint that named only one would leave M10 on the documents.
_CHARGE_VAT = (
    'charge VAT from now on: set [invoice] vat_regime = "normal", clear the "M10" exemption '
    "codes ([invoice.exemptions] domestic_goods and domestic_shipping, or the older [invoice] "
    "product_exemption_code and shipping_exemption_code), give the products their VAT rate in "
    "Jumpseller, register for VAT with AT (ask your accountant)"
)
CHARGE_VAT_HINT = _CHARGE_VAT + ", then `igest-sync resend {order}`"
# An order refused as exempt was paid without VAT: changing the store cannot change it, and
# resend would refuse it again for its 0 % lines.
PAID_WITHOUT_VAT_HINT = (
    _CHARGE_VAT + ". This order was paid without VAT, so no run can issue it with VAT from "
    "Jumpseller: issue it by hand in iGEST, the VAT included in what the customer paid, with "
    "the external reference {reference}; `igest-sync resend {order}` then adopts it"
)


def paid_without_vat_hint(store: str, order_id: int) -> str:
    """How to invoice an order refused as exempt, naming the very reference that ``resend``
    looks up (a reference copied wrong makes ``resend`` issue a second document)."""
    return PAID_WITHOUT_VAT_HINT.format(
        order=order_id, reference=external_reference(store, order_id)
    )


def room_left(year: int, total: Decimal) -> str:
    """What the year's turnover ``total`` leaves before each threshold, or how far past one it
    is (never a negative amount left), with what happens past each (``check``, the digest)."""
    if total > CEILING:
        return (
            f"{eur(total - CEILING)} over {eur(CEILING)}: VAT is due; no exempt (M10) document "
            "is issued"
        )
    ends = f"the exemption ends on 1 January {year + 1}"
    vat = f"{eur(CEILING)} (past it, VAT is due at once)"
    if total > THRESHOLD:
        return (
            f"{eur(total - THRESHOLD)} over {eur(THRESHOLD)}, so {ends}; "
            f"{eur(CEILING - total)} left before {vat}"
        )
    return (
        f"{eur(THRESHOLD - total)} left before {eur(THRESHOLD)} (past it, {ends}) and "
        f"{eur(CEILING - total)} before {vat}"
    )


def signed_net(doc: IssuedDocument) -> Decimal:
    """What a final document adds to the turnover: + an invoice, - a credit note, 0 otherwise."""
    if doc.status != DocumentStatus.FINAL:
        return Decimal(0)
    if doc.type in SALES:
        return doc.net_total
    if doc.type == CREDIT:
        return -doc.net_total
    return Decimal(0)


def exempt_as_m10(draft: DocumentDraft) -> bool:
    return any(line.exemption_code == EXEMPTION_CODE for line in draft.lines)


def _adds(draft: DocumentDraft) -> Decimal:
    """What a document adds to the turnover once final: its net total, as iGEST counts it
    (``signed_net``). The same as its gross when every line is M10; not when an M10 line
    sits beside one that charges VAT (an OSS sale's goods at the customer's rate, its
    shipping exempt), whose VAT is no turnover."""
    return draft.net_total


@dataclass(frozen=True)
class _Admitted:
    """A document this run admitted (counted before iGEST holds it as final)."""

    order: int
    amount: Decimal
    held: bool  # a draft left waiting for approval (review mode): not final, maybe never


def _paid_first(first: dict[str, Any], paid: datetime | None, order_id: int) -> bool:
    """Whether the crossing order ``first`` was paid before the order ``order_id`` (paid at
    ``paid``). Unknown (no payment time, a record of an older version): taken as before."""
    if paid is None or not first.get("paid"):
        return True
    return (datetime.fromisoformat(first["paid"]), int(first["order"])) < (paid, order_id)


@dataclass(frozen=True)
class Turnover:
    """The year's turnover as last read: ``total`` on ``today``, and what is left."""

    year: int
    total: Decimal
    notice_share: Decimal  # the amount of the early notice (80 % of 15,000 by default)

    @property
    def to_threshold(self) -> Decimal:
        return THRESHOLD - self.total

    @property
    def to_ceiling(self) -> Decimal:
        return CEILING - self.total

    @property
    def head(self) -> str:
        return f"{eur(self.total)} invoiced in {self.year} (credit notes deducted)"

    def describe(self) -> str:
        return f"{self.head}: {room_left(self.year, self.total)}"

    def to_json(self) -> dict[str, object]:
        return {
            "year": self.year,
            "turnover": f"{self.total:.2f}",
            "left_to_15000": f"{self.to_threshold:.2f}",
            "left_to_18750": f"{self.to_ceiling:.2f}",
        }


def read_turnover(ledger: Ledger, igest: IgestApi, today: date, *, keep: bool = True) -> Decimal:
    """The calendar year's turnover up to ``today``, from iGEST at a bounded cost (see above);
    ``keep`` False (a dry run): the count is not written to the ledger."""
    year = today.year
    key = CACHE_KEY.format(year=year)
    cached = json.loads(ledger.get_meta(key) or "{}")
    first_open = date(year, 1, 1)
    closed = Decimal(0)
    full_on = date.fromisoformat(cached["full_on"]) if cached.get("full_on") else None
    if full_on is None or today - full_on >= FULL_RECOUNT:
        cached, full_on = {}, today  # the whole year again (a backdated document is seen)
    if cached.get("closed_through"):
        first_open = date.fromisoformat(cached["closed_through"]) + timedelta(days=1)
        closed = Decimal(cached["closed"])
    # Days before yesterday are closed: a document is dated the day it is issued, and a late
    # run or a clock a little off may still add to yesterday.
    last_closed = max(today - timedelta(days=2), date(year, 1, 1) - timedelta(days=1))
    open_sum = Decimal(0)
    for doc in igest.find_documents(
        status=DocumentStatus.FINAL, date_from=first_open, date_to=today
    ):
        if doc.date is None or doc.date.year != year:
            continue
        if doc.date <= last_closed:
            closed += signed_net(doc)
        else:
            open_sum += signed_net(doc)
    total = closed + open_sum
    record = {"total": str(total), "on": today.isoformat(), "full_on": full_on.isoformat()}
    if last_closed >= first_open:
        record |= {"closed_through": last_closed.isoformat(), "closed": str(closed)}
    elif cached.get("closed_through"):
        record |= {"closed_through": cached["closed_through"], "closed": cached["closed"]}
    if keep:
        ledger.set_meta(key, json.dumps(record))
    log.info("Turnover of %s: %s EUR (listed iGEST from %s)", year, total, first_open)
    return total


def year_total(
    ledger: Ledger, igest: IgestApi, year: int, *, today: date, keep: bool = True
) -> Decimal:
    """A closed year's turnover (``art53_year_listed:<year>``: the total and the day it was
    listed). Documents dated in a closed year may still be issued in the first days of the
    next (an invoice is due within five working days; a till's sales entered late): listed
    again each day until February, then kept for good."""
    key = YEAR_KEY.format(year=year)
    known = json.loads(ledger.get_meta(key) or "{}")
    on = date.fromisoformat(known["on"]) if "on" in known else None
    if on is not None and (on == today or on >= date(year + 1, 2, 1)):
        return Decimal(known["total"])
    docs = igest.find_documents(
        status=DocumentStatus.FINAL, date_from=date(year, 1, 1), date_to=date(year, 12, 31)
    )
    total = sum((signed_net(d) for d in docs if d.date and d.date.year == year), Decimal(0))
    if keep:
        ledger.set_meta(key, json.dumps({"total": str(total), "on": today.isoformat()}))
    return total


def last_turnover(ledger: Ledger, year: int) -> tuple[Decimal, str] | None:
    """The turnover as the last run read it, and the day it did (for the digest, which reads
    only the ledger)."""
    cached = json.loads(ledger.get_meta(CACHE_KEY.format(year=year)) or "{}")
    if "total" not in cached:
        return None
    return Decimal(cached["total"]), cached["on"]


def _easter(year: int) -> date:
    """Easter Sunday (the anonymous Gregorian computation, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def national_holidays(year: int) -> set[date]:
    """Portugal's mandatory national holidays (Código do Trabalho, art. 234): not working
    days. Carnival (optional) and each municipality's own day are not among them."""
    easter = _easter(year)
    fixed = [
        (1, 1),
        (4, 25),
        (5, 1),
        (6, 10),
        (8, 15),
        (10, 5),
        (11, 1),
        (12, 1),
        (12, 8),
        (12, 25),
    ]
    return {date(year, m, d) for m, d in fixed} | {
        easter - timedelta(days=2),  # Good Friday
        easter,
        easter + timedelta(days=60),  # Corpus Christi
    }


def add_working_days(day: date, days: int) -> date:
    """``days`` working days after ``day``: weekends and national holidays skipped."""
    holidays = national_holidays(day.year) | national_holidays(day.year + 1)
    while days:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            days -= 1
    return day


class Art53Guard:
    """One run's guard: the turnover read once (lazily), the exempt documents this run issues
    added as they are admitted; thread-safe (orders are issued in parallel)."""

    def __init__(
        self,
        settings: InvoiceConfig,
        ledger: Ledger,
        igest: IgestApi,
        *,
        today: date,
        store: str,
        keep: bool = True,
    ) -> None:
        self.settings = settings
        self.store = store  # the prefix of the reference a refusal names
        self.keep = keep  # False in a dry run: nothing is written to the ledger
        self.ledger = ledger
        self.igest = igest
        self.today = today
        self.share = THRESHOLD * Decimal(settings.art53_notice_percent) / 100
        self._lock = threading.Lock()
        self._total: Decimal | None = None  # as read from iGEST
        # What this run admitted since (issued, or drafted for approval): in the count, but not
        # (yet) a final document, and a refusal must not say it is one.
        self._added: list[_Admitted] = []
        self._last_year: Decimal | None = None
        # A dry run writes no meta, yet must refuse the orders after one it found crossing the
        # ceiling, as the real run will: the crossing it would record is kept here (None: the
        # ledger's is the one).
        self._dry_crossing: str | None = None
        # The next year's guard, for the documents of a run begun on 31 December and dated
        # 1 January (``_of_its_year``).
        self._next_year: Art53Guard | None = None
        self._year_before: Art53Guard | None = None  # the guard whose next year this one is

    def _crossed(self) -> dict[str, Any]:
        """The order that took the year past 18,750 EUR (``CROSSED_KEY``), if one did."""
        raw = self._dry_crossing
        if raw is None:
            raw = self.ledger.get_meta(CROSSED_KEY.format(year=self.today.year))
        crossed: dict[str, Any] = json.loads(raw or "{}")
        if crossed and self._never_sold(int(crossed["order"])):
            return {}  # cancelled before any invoice: no sale, no turnover, nothing crossed
        return crossed

    def _never_sold(self, order_id: int) -> bool:
        """Whether the order is cancelled and was never invoiced (the ledger's copy of it): a
        refund of a sale that no document records is not turnover. Paid again, it counts
        again, and may cross again."""
        order = self.ledger.order(order_id)
        work = self.ledger.work(order_id)
        return (
            order is not None
            and order.status != OrderStatus.PAID
            and (work is None or work.state != WorkState.FINAL)
        )

    def _cross(self, record: dict[str, Any] | None) -> None:
        raw = json.dumps(record) if record else ""
        if self.keep:
            self.ledger.set_meta(CROSSED_KEY.format(year=self.today.year), raw)
        else:
            self._dry_crossing = raw

    def turnover(self) -> Turnover:
        with self._lock:
            return Turnover(self.today.year, self._read(), self.share)

    def last_year(self) -> Decimal:
        """The previous calendar year's turnover: past 15,000 EUR, no exemption this year."""
        if self._last_year is None:
            self._last_year = year_total(
                self.ledger, self.igest, self.today.year - 1, today=self.today, keep=self.keep
            )
        return self._last_year + self._dry_run_before()

    def _dry_run_before(self) -> Decimal:
        """What a dry run would issue, dated the year before this guard's (a run begun on
        31 December): in no listing of iGEST, yet its real run's are final there when the next
        year's first document is judged (a draft left for approval is not)."""
        before = self._year_before
        if before is None or self.keep:
            return Decimal(0)
        with before._lock:
            return sum((a.amount for a in before._added if not a.held), Decimal(0))

    def _read(self) -> Decimal:
        if self._total is None:
            self._total = read_turnover(self.ledger, self.igest, self.today, keep=self.keep)
        return self._total + sum((a.amount for a in self._added), Decimal(0))

    def _so_far(self) -> str:
        """The turnover a refusal counts, in words that say what it is made of."""
        assert self._total is not None
        final = f"{eur(self._total)} (every final document in iGEST, credit notes deducted)"
        if not self._added:
            return final
        shown = [
            f"order {a.order}: {eur(a.amount)}" + (", drafted for approval" if a.held else "")
            for a in self._added[:3]
        ]
        if len(self._added) > 3:
            shown.append(f"{len(self._added) - 3} more")
        verb = "invoices" if self.keep else "would invoice"
        return (
            f"{final}, {eur(self._read())} with what this run {verb} before this order "
            f"({'; '.join(shown)})"
        )

    def refresh(self) -> None:
        """Read again (the run's own documents and credit notes are in iGEST now)."""
        with self._lock:
            self._total = None
            self._added = []
            self._next_year = None

    def _of_its_year(self, draft: DocumentDraft) -> Art53Guard:
        """The guard of the year ``draft`` is dated in. A run begun before midnight on
        31 December dates an order paid after it 1 January (``Issuer.issue_date``): that
        document is the new year's turnover, under the new year's rule (no exempt document at
        all after a year past 15,000 EUR), not the turnover of the year the run began in."""
        if draft.date.year <= self.today.year:
            return self
        with self._lock:
            if self._next_year is None:
                self._next_year = Art53Guard(
                    self.settings,
                    self.ledger,
                    self.igest,
                    today=draft.date,
                    store=self.store,
                    keep=self.keep,
                )
                self._next_year._year_before = self
            return self._next_year

    def admit(
        self,
        order_id: int,
        draft: DocumentDraft,
        *,
        paid: datetime | None = None,
        held: bool = False,
    ) -> None:
        """Refuse (OrderRejected) an exempt document that would take the year past 18,750 EUR,
        or whose order was paid after one that did; else count it as issued for the rest of
        this run (if it then fails, the run is only more careful than it needs to be).
        ``paid``: when its order was paid; ``held``: its draft will wait for approval."""
        guard = self._of_its_year(draft)
        if guard is not self:
            guard.admit(order_id, draft, paid=paid, held=held)
            return
        with self._lock:
            # One order, one invoice: admitted again in this run (its draft, made for approval,
            # finalized by the automatic hour's sweep), it is counted once, as it is now.
            self._added = [a for a in self._added if a.order != order_id]
            if not exempt_as_m10(draft):  # not M10 (an export, OSS): nothing to guard or read
                # Counted (net of VAT, as iGEST counts) unless the reading to come sees it
                # final in iGEST: a dry run's and a draft left for approval never are, and a
                # later order read the turnover without them (a dry run said "would issue"
                # of an order its real run refused).
                if self._total is not None or held or not self.keep:
                    self._added.append(_Admitted(order_id, _adds(draft), held))
                return
            try:
                total = self._read()
                last_year = self.last_year()
            except AuthError:
                raise
            except ApiError as exc:
                raise TurnoverUnknown(
                    f"could not read the year's turnover from iGEST (art. 53 CIVA: the "
                    f"document is issued only within 18,750 EUR): {exc}"
                ) from exc
            if last_year > THRESHOLD:
                year = self.today.year
                raise OrderRejected(
                    order_id,
                    f"refused under the small-business exemption (art. 53 CIVA): the turnover "
                    f"of {year - 1} was {eur(last_year)}, past {eur(THRESHOLD)}, so the "
                    f"exemption ended on 1 January {year}: this document must charge VAT and "
                    "is never issued as exempt (M10)",
                    hint=paid_without_vat_hint(self.store, order_id),
                )
            first = self._crossed()
            # Only an order paid after the crossing one comes after it: one paid before (a
            # draft approved later) is counted on its own, and crosses in its place if it does.
            if first and first["order"] != order_id and _paid_first(first, paid, order_id):
                if order_id not in first.get("refused_after", []):
                    self._cross(
                        first | {"refused_after": [*first.get("refused_after", []), order_id]}
                    )
                raise self._after_crossing(order_id, first, total)
            adds = _adds(draft)
            after = total + adds
            if after > CEILING:
                self._cross(
                    {
                        "order": order_id,
                        "after": str(after),
                        "amount": str(adds),
                        "paid": paid.isoformat() if paid else None,
                        # Kept when it is refused again (resend): they still wait on it.
                        "refused_after": first.get("refused_after", [])
                        if first and first["order"] == order_id
                        else [],
                    }
                )
                raise OrderRejected(
                    order_id,
                    f"refused under the small-business exemption (art. 53 CIVA): the year's "
                    f"turnover is {self._so_far()} and this {eur(adds)} would take "
                    f"it to {eur(after)}, past {eur(CEILING)}, where the exemption ends at once: "
                    "VAT is due on this very document, so it is never issued as exempt (M10)",
                    hint=paid_without_vat_hint(self.store, order_id),
                )
            self._added.append(_Admitted(order_id, adds, held))
            if first and first["order"] == order_id:  # the crossing order: credit notes made room
                self._lapse(first, "is issued exempt now: credit notes made room for it")

    def no_sale(self, order_id: int) -> None:
        """``order_id`` was cancelled before its invoice (a run settled it): if it was the
        order that took the year past 18,750 EUR, it never will (no sale, no turnover)."""
        with self._lock:
            raw = self.ledger.get_meta(CROSSED_KEY.format(year=self.today.year))
            first: dict[str, Any] = json.loads(raw or "{}")
            if first and first["order"] == order_id:
                self._lapse(first, "was cancelled before its invoice: no sale, no turnover")

    def _lapse(self, first: dict[str, Any], why: str) -> None:
        """The crossing order ``first`` no longer ends the exemption (``why``): its record is
        cleared, and the orders refused for coming after it are retried by the next run. Left
        failed, they waited for a person, told to charge VAT on an exempt sale (a document
        never to be undone) or to issue it by hand: a paid order without its invoice."""
        if self.keep:
            self._judge_again(first, why)
        # Cleared last: killed before, the record (and its list) is there when the lapse comes
        # again; cleared first, the list was gone and those orders stayed failed for good.
        self._cross(None)

    def _judge_again(self, first: dict[str, Any], why: str) -> None:
        """The orders refused for coming after ``first``, still failed for that alone, are left
        to the next run (a transient failure)."""
        crossing = int(first["order"])
        for later in first.get("refused_after", []):
            work = self.ledger.work(later)
            # Only a failure that is still this refusal: not a person's rejection since, nor
            # another reason found on a resend.
            if (
                work is None
                or work.state != WorkState.FAILED
                or work.transient
                or not (work.error or "").startswith(_REFUSED)
                or f"order {crossing}" not in (work.error or "")
            ):
                continue
            self.ledger.works.fail(
                later,
                Kind.INVOICE,
                f"refused as exempt only because order {crossing}, paid before it, took the "
                f"year's turnover past {eur(CEILING)}; order {crossing} {why}: this order is "
                "judged again by the next run",
                transient=True,
            )
            log.info("Order %s: retried, order %s %s", later, crossing, why)

    def _after_crossing(
        self, order_id: int, first: dict[str, Any], total: Decimal
    ) -> OrderRejected:
        """The refusal of an order paid after ``first`` (the order refused for taking the year
        past 18,750 EUR), with the turnover as it is now."""
        crossing = int(first["order"])
        head = _REFUSED
        work = self.ledger.work(crossing)
        issued = work is not None and work.state == WorkState.FINAL
        # Not recorded by versions before it was kept: those refuse as they did.
        amount = Decimal(first["amount"]) if first.get("amount") else None
        if issued or amount is None:
            # Invoiced since, with VAT as its refusal said (adopted by resend): the exemption
            # ended there, whatever credit notes came after.
            return OrderRejected(
                order_id,
                f"{head}order {crossing} took the year's turnover past {eur(CEILING)} "
                f"({eur(Decimal(first['after']))}), where the exemption ends at once: this "
                "later order must charge VAT as well and is never issued as exempt (M10)",
                hint=paid_without_vat_hint(self.store, order_id),
            )
        # Refused and never invoiced: no document has passed the ceiling, and its sale, which
        # came first, is counted before this one (it may no longer pass: credit notes).
        with_it = total + amount
        now = self._so_far()
        if with_it > CEILING:
            return OrderRejected(
                order_id,
                f"{head}order {crossing} took the year's turnover past {eur(CEILING)}: it is "
                f"{now}, {eur(with_it)} with the {eur(amount)} of order {crossing}, paid before "
                "this one and not invoiced yet (refused as exempt), where the exemption ends at "
                "once: this later order must charge VAT as well and is never issued as exempt "
                "(M10)",
                hint=paid_without_vat_hint(self.store, order_id),
            )
        return OrderRejected(
            order_id,
            f"{head}order {crossing}, paid before this one, was refused because its "
            f"{eur(amount)} took the year's turnover past {eur(CEILING)} (to "
            f"{eur(Decimal(first['after']))}); credit notes have since brought the turnover to "
            f"{now}, {eur(with_it)} with order {crossing}: within {eur(CEILING)}, so it can "
            "be issued exempt now, and it comes first, before this later order",
            hint=(
                f"resend order {crossing} first, or both at once: `igest-sync resend {crossing} "
                f"{order_id}`, with any other order refused after it"
            ),
        )

    def _due(self, now: Turnover) -> tuple[bool, bool, bool]:
        """Which notices ``now`` calls for, as the ledger's marks stand (read, not written):
        the share reached, 15,000 EUR passed, back under 15,000 EUR after passing it."""
        share_key, over_key = SHARE_KEY.format(year=now.year), OVER_KEY.format(year=now.year)
        share_due = now.total >= self.share and not self.ledger.get_meta(share_key)
        crossed = self.ledger.get_meta(over_key)
        over_due = now.total > THRESHOLD and not crossed
        back_under = now.total <= THRESHOLD and bool(crossed)
        return share_due, over_due, back_under

    def notices(self) -> list[str]:
        """What a person must be told about the year's turnover, each once (then re-armed only
        when credit notes bring the year back under 15,000 EUR)."""
        now = self.turnover()
        year = now.year
        told: list[str] = []
        share_key, over_key = SHARE_KEY.format(year=year), OVER_KEY.format(year=year)
        percent = int(self.share * 100 / THRESHOLD)
        share_due, over_due, back_under = self._due(now)
        if share_due:
            self.ledger.set_meta(share_key, self.today.isoformat())
        # Past 15,000 EUR already, the notice below says all (never "-750.01 EUR left").
        if share_due and now.total <= THRESHOLD:
            told.append(
                f"Small-business exemption (art. 53 CIVA): the turnover of {year} has reached "
                f"{eur(now.total)}, {percent} % of {eur(THRESHOLD)}. {eur(now.to_threshold)} "
                f"left before {eur(THRESHOLD)}: a turnover past it ends the exemption on "
                f"1 January {year + 1}, and AT must then be told within "
                f"{TELL_AT_WORKING_DAYS} working days. Past {eur(CEILING)} "
                f"({eur(now.to_ceiling)} from now) it ends at once: VAT is due on the very "
                "document that passes it."
            )
        if over_due:
            self.ledger.set_meta(over_key, self.today.isoformat())
            by = add_working_days(self.today, TELL_AT_WORKING_DAYS)
            told.append(
                f"Small-business exemption (art. 53 CIVA): the turnover of {year} is "
                f"{eur(now.total)}, past {eur(THRESHOLD)}. The exemption ends on 1 January "
                f"{year + 1} (from then on, charge VAT), and AT must be told within "
                f"{TELL_AT_WORKING_DAYS} working days: by {by} (weekends and national "
                f"holidays counted out; a municipal holiday moves it later). Past "
                f"{eur(CEILING)} ({eur(now.to_ceiling)} from now) "
                "VAT is due at once: igest-sync then refuses exempt documents."
            )
        elif back_under:
            self.ledger.set_meta(over_key, "")
            told.append(
                f"Small-business exemption (art. 53 CIVA): credit notes brought the turnover of "
                f"{year} back to {eur(now.total)}, not past {eur(THRESHOLD)}. If you told AT "
                "that the exemption ends, check with your accountant."
            )
        for notice in told:  # the log keeps them too, for whoever reads it later
            log.warning("%s", notice)
        return told

    def would_notices(self, drafts: list[DocumentDraft]) -> list[str]:
        """A dry run's: the notices ``notices`` would give once the real run has issued
        ``drafts`` (what it would issue or finalize: a draft left for approval is not final
        and not counted), worded as what would happen. Nothing is written: neither the count
        nor the marks, so the real run still tells each, once."""
        with self._lock:
            if self._total is None:
                self._total = read_turnover(self.ledger, self.igest, self.today, keep=False)
            total = self._total + sum((_adds(d) for d in drafts), Decimal(0))
        now = Turnover(self.today.year, total, self.share)
        year = now.year
        at = f"{eur(now.total)} with what this run would issue" if drafts else eur(now.total)
        percent = int(self.share * 100 / THRESHOLD)
        share_due, over_due, back_under = self._due(now)
        told: list[str] = []
        if share_due and now.total <= THRESHOLD:
            told.append(
                f"Small-business exemption (art. 53 CIVA): the turnover of {year} would reach "
                f"{at}, {percent} % of {eur(THRESHOLD)}. {eur(now.to_threshold)} would be "
                f"left before {eur(THRESHOLD)}: a turnover past it ends the exemption on "
                f"1 January {year + 1}, and AT must then be told within "
                f"{TELL_AT_WORKING_DAYS} working days. Past {eur(CEILING)} "
                f"({eur(now.to_ceiling)} from there) it ends at once: VAT is due on the very "
                "document that passes it."
            )
        if over_due:
            by = add_working_days(self.today, TELL_AT_WORKING_DAYS)
            told.append(
                f"Small-business exemption (art. 53 CIVA): the turnover of {year} would pass "
                f"{eur(THRESHOLD)}: {at}. The exemption would end on 1 January {year + 1} "
                f"(from then on, charge VAT), and AT would have to be told within "
                f"{TELL_AT_WORKING_DAYS} working days: by {by} (weekends and national "
                f"holidays counted out; a municipal holiday moves it later). Past "
                f"{eur(CEILING)} ({eur(now.to_ceiling)} from "
                "there) VAT is due at once: igest-sync then refuses exempt documents."
            )
        elif back_under:
            told.append(
                f"Small-business exemption (art. 53 CIVA): with the credit notes since, the "
                f"turnover of {year} would be back to {at}, not past {eur(THRESHOLD)}. If you "
                "told AT that the exemption ends, check with your accountant."
            )
        for notice in told:
            log.info("Dry run: %s", notice)
        return told

    def after_credit(self) -> list[str]:
        """A credit note was just issued (``credit``): the turnover read again, and what a
        person must be told of it, once (back under 15,000 EUR: said, and the alert re-armed).
        If iGEST cannot tell now, the next run reads it, whatever it issues and whatever day."""
        self.refresh()
        try:
            return self.notices()
        except ApiError as exc:
            log.warning("Could not read the year's turnover from iGEST: %s", exc)
            self.ledger.set_meta(NOTICED_KEY, "")
            return []


class TurnoverUnknown(VatCheckPending):
    """The year's turnover could not be read: the order waits for a later run (an exempt
    document is never issued without knowing it stays within the ceiling)."""


def guard_for(
    settings: InvoiceConfig,
    ledger: Ledger,
    igest: IgestApi,
    today: date,
    *,
    store: str,
    keep: bool = True,
) -> Art53Guard | None:
    """The run's guard when the merchant declared the regime, else None."""
    if settings.vat_regime != ART53:
        return None
    return Art53Guard(settings, ledger, igest, today=today, store=store, keep=keep)
