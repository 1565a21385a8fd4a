"""Intra-EU supplies (M16) and order sources: pure decisions the runs act on.

An order with 0 % lines going to another Member State is exempt only as a supply to a business
whose VAT number of that state VIES says is valid (art. 14.º RITI; docs/invoicing-rules.md,
section 7). The decision runs in two steps around the one VIES call the runs make:

1. ``vat_number_to_check(order, draft, settings)``: the number VIES must confirm before the
   document is issued, or None when nothing on the draft needs it; refuses an order whose
   customer gave no VAT number of that state (an exempt sale to a consumer would be a wrong
   invoice).
2. ``vies_verdict(order_id, check)``: VIES said valid -> go (its consultation number goes on the
   notes); invalid -> the order is refused with the cause and the ``resend`` options; anything
   else -> the order waits (returned reason) and the next run asks again, never issued unchecked.

``source_skip_reason`` decides which Jumpseller order sources are invoiced at all.
"""

from __future__ import annotations

from igest_sync.config import InvoiceConfig
from igest_sync.errors import OrderRejected
from igest_sync.fiscal.destination import Zone, order_destination
from igest_sync.fiscal.exemptions import SMALL_BUSINESS_CODE
from igest_sync.models import DocumentDraft, Order, ViesCheck, ViesStatus

# Sales usually invoiced at the till (Jumpseller POS): left out unless [invoice] sources says.
DEFAULT_EXCLUDED_SOURCES = ("pos",)


def vat_number_to_check(order: Order, draft: DocumentDraft, settings: InvoiceConfig) -> str | None:
    """The customer's VAT number (with its prefix, as on the draft) that VIES must confirm, or
    None when the draft has no 0 % line going to another Member State.

    Under the small-business exemption (``vat_regime = "art53"``) a line exempt as M10 needs
    no VAT number: such a business's sales to the EU are not intra-EU supplies (art. 139 n.º 1
    of the VAT Directive: their exemption does not apply to it) but sales exempt under art. 53
    whoever buys, a consumer or a business."""
    destination = order_destination(order)
    if destination.zone != Zone.EU or destination.country == "PT":
        return None
    small_business = settings.vat_regime == "art53"
    if not any(
        line.vat_rate == 0 and not (small_business and line.exemption_code == SMALL_BUSINESS_CODE)
        for line in draft.lines
    ):
        return None
    prefix = destination.vat_prefix
    nif = draft.customer.nif
    if nif is not None and nif.upper().startswith(prefix):
        return nif.upper()
    given = (
        "the customer has no VAT number"
        if nif is None
        else f"the customer's VAT number {nif} is not {_a(prefix)} {prefix} number"
    )
    raise OrderRejected(
        order.id,
        f"the order has 0 % VAT lines going to {destination.country} (EU): exempt only as an "
        f"intra-EU supply to a business with {_a(prefix)} {prefix} VAT number that VIES "
        f"confirms, and {given}. Issue it with the buyer's number: igest-sync resend "
        f"{order.id} --nif {prefix}<number>, or charge VAT on the order in Jumpseller.",
    )


def _a(letters: str) -> str:
    """The article before letters read one by one: "an ES", "a DE" (A, E, F, H, I, L, M, N,
    O, R, S and X are said with a vowel first)."""
    return "an" if letters[:1].upper() in "AEFHILMNORSX" else "a"


def vies_verdict(order_id: int, check: ViesCheck) -> str | None:
    """None when VIES confirmed the number; the reason to wait when it could not answer.

    Raises ``OrderRejected`` when VIES says the number is not valid.
    """
    if check.status == ViesStatus.VALID:
        return None
    when = check.checked_on.isoformat()
    if check.status == ViesStatus.INVALID:
        consultation = f", consultation {check.consultation}" if check.consultation else ""
        raise OrderRejected(
            order_id,
            f"VIES says the VAT number {check.vat_number} is not valid (checked {when}"
            f"{consultation}); a 0 % intra-EU supply needs a valid one. Issue it with a "
            f"corrected number: igest-sync resend {order_id} --nif N, or charge VAT on the "
            "order in Jumpseller and resend it.",
        )
    return (
        f"VIES could not confirm the VAT number {check.vat_number} ({check.detail or 'no answer'}"
        f", {when}); the order waits and the next run asks VIES again"
    )


def source_skip_reason(order: Order, settings: InvoiceConfig) -> str | None:
    """Why an order is not invoiced because of where it was created, or None to invoice it.

    ``[invoice] sources`` lists the invoiced ``source.created_from`` values; when it is not set,
    every source but ``pos`` is. An order without a source (older orders, some apps) is
    invoiced: skipping a sale on a missing field would be the worse mistake.
    """
    source = order.source
    if source is None:
        return None
    if settings.sources is not None:
        if source in settings.sources:
            return None
        listed = ", ".join(settings.sources)
        return (
            f"created from '{source}', which is not in invoice.sources ({listed}): "
            "not invoiced by igest-sync"
        )
    if source in DEFAULT_EXCLUDED_SOURCES:
        return (
            f"created from '{source}' (a sale usually invoiced at the till): not invoiced; "
            "add it to invoice.sources to invoice such orders"
        )
    return None
