"""What must hold after a schedule, read from the two models alone (iGEST's documents and
Jumpseller's orders), never from the ledger or a run's report:

- no order has two final invoices (nor a reference two final documents);
- every order paid on or after the start date, and still paid, has its invoice;
- no invoice for an order that was never paid;
- no credit note beyond the invoice (no over-credit), no more credit notes for an order than
  requests for it (a person's ``credit`` commands, and one for its cancellation), and one for
  each command that answered with one (one NC per reference: exactly one per request);
- an order cancelled after it was invoiced is credited in full (unless created before
  ``credit_lookback_days``: a person's, told by a notice);
- no draft left behind.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from igest_sync.adapters.jumpseller.parse import parse_order
from igest_sync.fiscal.credit import CreditRequest
from igest_sync.timeutil import lisbon_date
from tests.simulation.world import START_DATE, World

INVOICE_TYPES = ("FR", "FT", "FS")


def _order_id(reference: str) -> int | None:
    parts = reference.split(":")
    return int(parts[2]) if len(parts) >= 3 and parts[2].isdigit() else None


def finals(world: World) -> list[dict[str, Any]]:
    return [d for d in world.sb.igest.documents if d["status"] == "final"]


def invoices_by_order(world: World) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for doc in finals(world):
        order_id = _order_id(doc["external_reference"] or "")
        if doc["type"] in INVOICE_TYPES and order_id is not None:
            found.setdefault(order_id, []).append(doc)
    return found


def invoiced_orders(world: World) -> dict[int, dict[str, Any]]:
    """Order id -> its (first) final invoice."""
    return {order_id: docs[0] for order_id, docs in invoices_by_order(world).items()}


def _paid_day(raw: dict[str, Any]) -> date | None:
    order = parse_order({"order": raw})
    return lisbon_date(order.completed_at) if order.completed_at else None


def paid_without_invoice(world: World, first: date = START_DATE) -> list[int]:
    """Orders paid (and still paid) on or after ``first`` that have no final invoice."""
    store = world.sb.store
    invoiced = invoices_by_order(world)
    missing = []
    for order_id in store.order_ids():
        raw = store.order(order_id)
        day = _paid_day(raw)
        paid = raw["status_enum"] == "paid" and day is not None and day >= first
        if paid and order_id not in invoiced:
            missing.append(order_id)
    return missing


def _past_the_lookback(world: World, order_id: int) -> bool:
    """Created before ``credit_lookback_days``: its cancellation is pointed out to a person
    (``credit N --all``), not credited by the pass (one placed months before, ``--churn``)."""
    order = parse_order({"order": world.sb.store.order(order_id)})
    days = world.config.invoice.credit_lookback_days
    return order.created_at is not None and lisbon_date(order.created_at) < lisbon_date(
        world.clock.wall()
    ) - timedelta(days=days)


def final(
    world: World,
    asked: list[tuple[int, CreditRequest]],
    answered_requests: set[tuple[int, CreditRequest]] | None = None,
) -> list[str]:
    """Every check, after the clean end of a schedule: the problems found, in words."""
    problems: list[str] = []
    store = world.sb.store
    by_reference: dict[str, int] = {}
    for doc in finals(world):
        ref = doc["external_reference"] or ""
        by_reference[ref] = by_reference.get(ref, 0) + 1
    problems += [
        f"{count} final documents with reference {ref}"
        for ref, count in sorted(by_reference.items())
        if count > 1
    ]
    invoices = invoices_by_order(world)
    problems += [
        f"order {order_id} has {len(docs)} final invoices: "
        + ", ".join(str(d["number"]) for d in docs)
        for order_id, docs in sorted(invoices.items())
        if len(docs) > 1
    ]
    missing = paid_without_invoice(world)
    if missing:
        problems.append(f"paid orders without an invoice after a clean run: {missing}")
    for order_id in sorted(invoices):
        raw = store.order(order_id)
        if raw.get("completed_at") is None:
            problems.append(f"order {order_id} was never paid but has an invoice")
    notes: dict[int, list[dict[str, Any]]] = {}
    for doc in finals(world):
        order_id = _order_id(doc["external_reference"] or "")
        if doc["type"] == "NC" and order_id is not None:
            notes.setdefault(order_id, []).append(doc)
    for order_id, ncs in sorted(notes.items()):
        invoice = invoices.get(order_id)
        if invoice is None:
            problems.append(f"order {order_id} has credit notes but no invoice")
            continue
        credited = sum((Decimal(str(n["gross_total"])) for n in ncs), Decimal(0))
        if credited > Decimal(str(invoice[0]["gross_total"])):
            problems.append(
                f"order {order_id} over-credited: {credited} credited of "
                f"{invoice[0]['gross_total']}"
            )
        allowed = sum(1 for o, _ in asked if o == order_id) + (
            store.order(order_id)["status_enum"] == "canceled"
        )
        if len(ncs) > allowed:
            problems.append(f"order {order_id} has {len(ncs)} credit notes for {allowed} requests")
    answered = answered_requests or set()
    for order_id in sorted({o for o, _ in answered}):
        wanted = sum(1 for o, _ in answered if o == order_id)
        if len(notes.get(order_id, [])) < wanted:
            problems.append(
                f"order {order_id}: {wanted} credit commands answered with a credit note, "
                f"but iGEST holds {len(notes.get(order_id, []))}"
            )
    for order_id, docs in sorted(invoices.items()):
        if store.order(order_id)["status_enum"] != "canceled" or _past_the_lookback(
            world, order_id
        ):
            continue
        credited = sum(
            (Decimal(str(n["gross_total"])) for n in notes.get(order_id, [])), Decimal(0)
        )
        if credited != Decimal(str(docs[0]["gross_total"])):
            problems.append(
                f"order {order_id} was cancelled after its invoice "
                f"({docs[0]['gross_total']}) but only {credited} is credited"
            )
    drafts = [d["id"] for d in world.sb.igest.documents if d["status"] == "draft"]
    if drafts:
        problems.append(f"drafts left in iGEST: {drafts}")
    return problems
