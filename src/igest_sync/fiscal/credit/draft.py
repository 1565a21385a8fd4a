"""The NC's document for a plan (``credit_note_draft``), and what final NCs credit beyond their
invoice (``over_credited``, reconcile's check). The rules: ``plan.py``'s docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from igest_sync.config import InvoiceConfig
from igest_sync.fiscal import rules as pt_rules
from igest_sync.fiscal.credit.models import CreditPlan, CreditRefused
from igest_sync.fiscal.credit.per_reference import qty, refs_of
from igest_sync.models import Customer, DocumentDraft, IssuedDocument


def over_credited(original: IssuedDocument, credits: Sequence[IssuedDocument]) -> list[str]:
    """What the final ``credits`` of ``original`` credit beyond it, one text per reference
    ("CAN-AZU: 3 invoiced, 4 credited (NC A/2, NC A/3)"); empty when within it, or when
    iGEST sent the original without its lines (nothing to compare)."""
    if not original.lines:
        return []
    finals = [c for c in credits if c.status == "final"]
    refs = refs_of(original, finals)
    out = []
    for ref in refs.values():
        numbers = f" ({', '.join(ref.numbers)})" if ref.numbers else ""
        if ref.shipping and ref.already_amount > ref.invoiced_amount:
            out.append(
                f"shipping: {ref.invoiced_amount} EUR invoiced, {ref.already_amount} EUR "
                f"credited{numbers}"
            )
        elif not ref.shipping and ref.already > ref.invoiced:
            out.append(
                f"{ref.reference}: {qty(ref.invoiced)} invoiced, {qty(ref.already)} "
                f"credited{numbers}"
            )
    strangers = sorted({ln.reference for c in finals for ln in c.lines} - set(refs))
    out += [
        f"{reference}: not on {original.number}, credited all the same" for reference in strangers
    ]
    return out


def credit_note_draft(
    order_id: int,
    plan: CreditPlan,
    settings: InvoiceConfig,
    *,
    reference: str,
    issue_date: date,
    reason: str,
    restock: bool,
    customer: Customer | None = None,
    warehouse: str | None = None,
) -> DocumentDraft:
    """The NC for ``plan`` under ``reference`` (its request's): the original's customer as iGEST
    holds it (a foreign VAT number keeps its country, the address stays) and its price mode, no
    payment method (an NC is not a receipt); ``restock`` returns the goods to the warehouse."""
    if plan.original_date is not None and issue_date < plan.original_date:
        raise CreditRefused(
            order_id,
            f"a credit note dated {issue_date} cannot precede {plan.original_number} "
            f"dated {plan.original_date}",
        )
    reason = reason.strip() or settings.credit_reason
    customer = customer or plan.customer
    if customer is None:  # iGEST sent the original without its customer: its NIF and name
        nif = plan.customer_nif
        consumer = nif in (None, "", pt_rules.FINAL_CONSUMER_NIF)
        customer = Customer(
            nif=None if consumer else nif, name=plan.customer_name or "Consumidor final"
        )
    full = plan.remaining_total == 0 and not plan.already_total
    what = "Anula" if full else "Credita parte de"
    return DocumentDraft(
        order_id=order_id,
        external_reference=reference,
        type=pt_rules.CREDIT_NOTE,
        series=settings.series,
        date=issue_date,
        customer=customer,
        lines=plan.lines,
        prices_include_vat=plan.prices_include_vat,
        payment_method=None,
        warehouse=warehouse if warehouse is not None else settings.warehouse,
        move_stock=restock,
        notes=f"{what} {plan.original_number} (encomenda Jumpseller n.º {order_id}): {reason}",
        net_total=plan.net_total,
        vat_total=plan.vat_total,
        gross_total=plan.gross_total,
        vat_breakdown=plan.vat_breakdown,
        related_document=(plan.original_number, reason),
        warnings=plan.warnings,
    )
