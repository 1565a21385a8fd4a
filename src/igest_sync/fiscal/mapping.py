"""Pure mapping: a Jumpseller order becomes an iGEST document draft, or a refusal saying why.

Nothing here talks to a service, reads a clock or depends on set or dict order: the same order
and settings always give the same draft (the runs rely on it to recognise their own drafts).

Money (docs/money-model.md, docs/invoicing-rules.md): every figure is derived from Jumpseller's
LINE totals (price x qty - the line's discount), never from rounded unit prices. The document
must carry, to the cent, the value of the sale: ``total + gift_cards_discount``. iGEST computes
its totals itself (VAT rounded once per rate, ``money.document_totals``), so the mapping tries
the natural price mode (VAT-inclusive unit prices when the store's prices include VAT) and then
the other one, and keeps the first whose gross total equals what was paid. If neither does,
the order is refused with both figures: a wrong document can only be undone by a credit note.

How each Jumpseller amount appears on the document:

- product line: SKU (fallback ``<missing_sku_prefix><product id>[-<variant id>]`` with a
  warning), name, quantity, the unit price and a discount percent that reproduce the line's
  amount after its discount (order-level discounts are already spread over the lines);
- shipping: a service line "PORTES" (shipping discount as its discount percent), omitted when
  nothing is charged for it;
- gift cards: a means of payment, not a discount (the card was a multi-purpose voucher, VAT is
  due now), so the goods keep their full value and a note says how much the card paid;
- notes: the Jumpseller order number, the gift card, and the payment date when the document is
  issued on another day.

Choices where the rules are silent (what an accountant would expect):

- The document's VAT is iGEST's (rounded once per rate); it may differ by a cent from the
  ``tax`` Jumpseller reports (rounded per line). The gross total never differs: that is checked.
- If Jumpseller's total differs from its own lines (it rounded VAT per rate, say) but one price
  mode reproduces what was paid, the document is issued with a warning; what was paid wins.
- A free product (price 0 or fully discounted) stays on the document as a 0.00 line: it was
  delivered. A 100 % discount is a discount percent of 100, never a negative line.
- A product without a name is described by its reference (with a warning).
- Shipping charged on an order that "needs no shipping" is contradictory and refused.
- For the FS limits a digital-only order (no shipping) is a supply of services (100 EUR).
- The credit note copies the original's lines, customer and price mode; it is refused when the
  finalized original carries another total than those lines, so it always cancels it exactly.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from igest_sync.config import InvoiceConfig
from igest_sync.errors import OrderRejected
from igest_sync.fiscal import rules as pt_rules
from igest_sync.fiscal import texts
from igest_sync.fiscal.customer import CustomerOverride, customer_and_warnings, is_individual
from igest_sync.fiscal.destination import Destination, Zone, order_destination
from igest_sync.fiscal.exemptions import (
    INTRA_EU_CODE,
    SMALL_BUSINESS_CODE,
    exemption_code,
    setting_to_fill,
    typical_code,
)
from igest_sync.fiscal.money import ZERO, LineAmounts, PricedLines, price_lines
from igest_sync.fiscal.oss_rates import country_rates
from igest_sync.models import (
    Customer,
    DocumentDraft,
    DocumentType,
    Order,
    OrderLine,
    Tax,
    ViesCheck,
    ViesStatus,
)
from igest_sync.timeutil import lisbon_date

SHIPPING_REFERENCE = "PORTES"
SHIPPING_DESCRIPTION = "Portes de envio"


def expected_gross(order: Order) -> Decimal:
    """What the document must carry: the value of the sale, gift cards included."""
    return order.total + order.gift_cards_discount


def known_gross(order: Order) -> Decimal | None:
    """``expected_gross``, or None when Jumpseller sent an amount it is made of that could not
    be read: the 0 standing in for it is not what the customer paid (``total_unread``)."""
    return None if order.total_unread else expected_gross(order)


def _eur(x: Decimal) -> str:
    return f"{x:.2f} EUR"


def _pct(rate: Decimal) -> str:
    return f"{rate.normalize():f} %"


def _product_label(line: OrderLine) -> str:
    sku = (line.sku or "").strip()
    return f'product "{line.name}" ({f"SKU {sku}" if sku else f"no SKU, id {line.product_id}"})'


def _where(destination: Destination) -> str:
    if destination.zone == Zone.DOMESTIC:
        return "Portugal"
    if destination.territory and destination.zone == Zone.EXPORT:
        return f"{destination.territory} ({destination.country}, outside the EU VAT territory)"
    if destination.zone == Zone.EU:
        return f"{destination.country} (EU)"
    return f"{destination.country} (outside the EU)"


def _oss_country(destination: Destination) -> bool:
    """Whether the goods go to another Member State whose VAT the OSS scheme charges (Northern
    Ireland is in the EU for goods but not an OSS country of iGEST's)."""
    return destination.zone == Zone.EU and destination.country not in ("PT", "XI")


def _vat_rate(
    order: Order,
    taxes: tuple[Tax, ...],
    label: str,
    settings: InvoiceConfig,
    destination: Destination,
    shipping: bool,
    supplied_on: date,
) -> tuple[Decimal, bool, str | None, str | None]:
    """(rate, included, exemption code, OSS country) of a product or of shipping; refuses what
    iGEST can't carry: fixed taxes, several taxes, rates legal neither in the region nor (under
    the OSS scheme) in the customer's Member State on ``supplied_on``, 0 % without a code for
    its destination."""
    fixed = [t for t in taxes if t.fixed]
    if fixed:
        raise OrderRejected(
            order.id,
            f"{label} has a fixed (monetary) tax {fixed[0].name!r}; iGEST lines carry a VAT "
            "percentage only. Change the tax in Jumpseller to a percentage.",
        )
    if len(taxes) > 1:
        names = ", ".join(repr(t.name) for t in taxes)
        raise OrderRejected(
            order.id,
            f"{label} has {len(taxes)} taxes ({names}); a document line carries one "
            "VAT rate. Leave one tax on it in Jumpseller.",
        )
    rate = ZERO
    if taxes:
        if taxes[0].rate is None:
            raise OrderRejected(order.id, f"{label} has a tax {taxes[0].name!r} without a rate")
        rate = taxes[0].rate
    included = taxes[0].included if taxes else True
    if rate == 0:
        code = exemption_code(settings, destination.zone, shipping)
        if not code:
            raise OrderRejected(
                order.id,
                f"{label} has 0 % VAT and goes to {_where(destination)}; a 0 % line needs an "
                f"exemption reason: set {setting_to_fill(destination.zone, shipping)} (often "
                f"{typical_code(settings, destination.zone)}; ask your accountant, and "
                "`igest-sync check` shows iGEST's description of the code) or give it a VAT rate.",
            )
        if code not in pt_rules.EXEMPTION_CODES:
            raise OrderRejected(
                order.id,
                f"{setting_to_fill(destination.zone, shipping)} is {code!r}, which is not on "
                "AT's list of exemption codes (M01 ... M99)",
            )
        return ZERO, included, code, None
    # Another Member State's rate, the customer being there: an EU distance sale (OSS).
    foreign = _oss_country(destination)
    their_rates = (
        country_rates(destination.country, settings.oss_rates, on=supplied_on) if foreign else set()
    )
    if settings.oss and rate in their_rates:
        return rate, included, None, destination.country
    if rate > 0 and rate in pt_rules.legal_rates(settings.vat_region):
        return rate, included, None, None
    if rate in their_rates:
        raise OrderRejected(
            order.id,
            f"{label} has VAT rate {_pct(rate)}, a rate of {destination.country}, where the "
            "goods go: an EU distance sale at the customer's country rate (OSS). Set "
            "[invoice] oss = true to issue it with that rate and country, or fix the tax in "
            "Jumpseller.",
        )
    legal = ", ".join(_pct(r) for r in sorted(pt_rules.VAT_RATES[settings.vat_region].values()))
    theirs = ""
    if foreign:
        listed = ", ".join(_pct(r) for r in sorted(their_rates)) or "none known"
        theirs = (
            f" nor a rate of {destination.country} on {supplied_on}, where the goods go "
            f"({listed}; "
            "invoice.oss_rates adds one introduced since)"
        )
    raise OrderRejected(
        order.id,
        f"{label} has VAT rate {_pct(rate)}, which is not legal in "
        f"{settings.vat_region} (legal: {legal}, or 0 % with an exemption code){theirs}. Fix "
        "the tax in Jumpseller, or invoice.vat_region if the goods ship from elsewhere.",
    )


# The order already charged VAT: a person decides how it is invoiced (an exempt document for
# what was paid, made by hand and adopted; or VAT, once the exemption has ended).
_ART53_BY_HAND = (
    "this order already charged it: issue it by hand in iGEST, exempt (M10) for what the "
    "customer paid, with the external reference {ref}, then `igest-sync resend {id}` adopts it; "
    'or, if your exemption has ended, set vat_regime = "normal", replace the "M10" exemption '
    "codes ([invoice.exemptions] domestic_goods and domestic_shipping, or the older [invoice] "
    "product_exemption_code and shipping_exemption_code) and `igest-sync resend {id}`"
)


def _check_art53(
    order: Order, items: list[LineAmounts], settings: InvoiceConfig, reference: str
) -> None:
    """Under the small-business exemption, a line charging Portugal's VAT is refused: an exempt
    business's invoice states no VAT, and VAT stated on an invoice is due (art. 2.º n.º 1 c)
    CIVA), so issuing the rate Jumpseller charged would make the merchant owe it, unregistered,
    out of the price the customer paid. A line under OSS (another Member State's VAT) is left
    to the OSS rules."""
    if settings.vat_regime != "art53":
        return
    # Every line that charges it, not the first only: fixed one at a time in Jumpseller, each
    # next order would be refused for the next product.
    charging = list(
        dict.fromkeys(
            f"{'shipping' if item.is_service else f'product {item.reference}'} charges "
            f"{_pct(item.rate)} VAT"
            for item in items
            if item.rate > 0 and item.tax_country is None
        )
    )
    if charging:
        which = (
            charging[0] if len(charging) == 1 else f"{', '.join(charging[:-1])} and {charging[-1]}"
        )
        raise OrderRejected(
            order.id,
            f'{which}, but [invoice] vat_regime is "art53" (the small-business exemption, '
            "art. 53 CIVA): your documents carry no VAT (M10). Remove the VAT from your "
            "products and shipping in Jumpseller so that new orders charge none.",
            hint=_ART53_BY_HAND.format(ref=reference, id=order.id),
        )


def _check_oss_consumer(
    order: Order,
    items: list[LineAmounts],
    settings: InvoiceConfig,
    destination: Destination,
    nif: str | None,
    warnings: list[str],
) -> None:
    """Under the OSS scheme a sale to a consumer in another Member State carries that State's
    VAT (pt-invoicing facts, section 6): Portugal's VAT on one is issued as paid (the document
    must carry what the customer paid), with a warning to fix the store's taxes."""
    if not (settings.oss and _oss_country(destination) and is_individual(nif)):
        return
    portuguese = sorted({i.rate for i in items if i.rate > 0 and i.tax_country is None})
    if portuguese:
        rates = ", ".join(_pct(r) for r in portuguese)
        warnings.append(
            f"Order {order.id}: a consumer in {destination.country} was charged Portugal's VAT "
            f"({rates}) although [invoice] oss is on (their State's VAT under the OSS "
            f"scheme); issued as paid. Check the taxes for {destination.country} in Jumpseller."
        )


def _check_oss_business(
    order: Order,
    items: list[LineAmounts],
    destination: Destination,
    nif: str | None,
    warnings: list[str],
) -> None:
    """The OSS scheme covers sales to consumers only (pt-invoicing facts, section 7): a
    business with a VAT number of another Member State buys exempt (M16, its number valid in
    VIES) or, charged VAT, pays Portugal's. Another State's VAT on a business is issued as paid
    (the document must carry what the customer paid), with a warning to check the customer and
    the store's taxes. ``tax_country`` is set only with [invoice] oss on, for the destination."""
    if is_individual(nif):
        return
    theirs = sorted({i.rate for i in items if i.tax_country is not None})
    if theirs:
        country = destination.country
        rates = ", ".join(_pct(r) for r in theirs)
        warnings.append(
            f"Order {order.id}: a business in {country} (VAT number {nif}) was charged "
            f"{country}'s VAT ({rates}) under [invoice] oss, but the OSS scheme covers sales to "
            "consumers only; issued as paid. A sale to a business with a VAT number of another "
            "Member State is an intra-EU supply (0 %, M16, its number checked in VIES), "
            f"otherwise it carries Portugal's VAT: check this customer's VAT number and how "
            f"Jumpseller taxes businesses in {country}."
        )


def _fitted(order: Order, text: str, limit: int, what: str, warnings: list[str]) -> str:
    """``text`` within iGEST's ``limit``, with a warning when it had to be shortened."""
    short = texts.shorten(text, limit)
    if short != text:
        warnings.append(
            f"Order {order.id}: the {what} has {len(text)} characters, more than iGEST's "
            f"{limit}; shortened to {short!r}"
        )
    return short


def _product_item(
    order: Order,
    line: OrderLine,
    settings: InvoiceConfig,
    destination: Destination,
    supplied_on: date,
    warnings: list[str],
) -> LineAmounts:
    label = _product_label(line)
    if line.qty is None or line.qty <= 0:
        raise OrderRejected(order.id, f"{label} has quantity {line.qty}; it must be positive")
    if line.price is None or line.price < 0:
        raise OrderRejected(order.id, f"{label} has a negative or missing price ({line.price})")
    if line.discount is None or line.discount < 0:
        raise OrderRejected(
            order.id, f"{label} has a negative or missing discount ({line.discount})"
        )
    listed = line.price * line.qty
    if line.discount > listed:
        raise OrderRejected(
            order.id,
            f"{label} has a discount of {_eur(line.discount)}, more than the line's {_eur(listed)}",
        )
    rate, included, code, tax_country = _vat_rate(
        order, line.taxes, label, settings, destination, False, supplied_on
    )
    reference = (line.sku or "").strip()
    if not reference:
        if line.product_id is None:
            raise OrderRejected(order.id, f"{label} has neither a SKU nor a product id")
        reference = f"{settings.missing_sku_prefix}{line.product_id}"
        if line.variant_id is not None:
            reference += f"-{line.variant_id}"
        warnings.append(
            f'Order {order.id}: product "{line.name}" has no SKU; used the reference {reference}'
        )
    reference = texts.without_controls(reference)
    if len(reference) > texts.REFERENCE:
        raise OrderRejected(
            order.id,
            f"{label} has a SKU of {len(reference)} characters; iGEST references hold at most "
            f"{texts.REFERENCE} and a SKU is the product's identity there, so it is not "
            "shortened. Give the product a shorter SKU in Jumpseller (and iGEST), then resend.",
        )
    description = texts.without_controls(line.name or "")
    if not description:
        description = reference
        warnings.append(
            f"Order {order.id}: product {reference} has no name; described by its reference"
        )
    description = _fitted(
        order, description, texts.DESCRIPTION, f"product {reference} name", warnings
    )
    return LineAmounts(
        reference,
        description,
        line.qty,
        rate,
        code,
        False,
        included,
        listed,
        listed - line.discount,
        tax_country,
    )


def _shipping_item(
    order: Order, settings: InvoiceConfig, destination: Destination, supplied_on: date
) -> LineAmounts | None:
    if order.shipping < 0 or order.shipping_discount < 0:
        raise OrderRejected(
            order.id,
            f"shipping {_eur(order.shipping)} or shipping discount "
            f"{_eur(order.shipping_discount)} is negative",
        )
    charged = order.shipping - order.shipping_discount
    if charged < 0:
        raise OrderRejected(
            order.id,
            f"the shipping discount {_eur(order.shipping_discount)} exceeds the "
            f"shipping {_eur(order.shipping)}",
        )
    if charged == 0:
        return None
    if not order.shipping_required:
        raise OrderRejected(
            order.id,
            f"the order needs no shipping but charges {_eur(charged)} for it",
        )
    rate, included, code, tax_country = _vat_rate(
        order, order.shipping_taxes, "shipping", settings, destination, True, supplied_on
    )
    description = texts.without_controls(order.shipping_method_name or "")
    description = _fitted(
        order, description or SHIPPING_DESCRIPTION, texts.DESCRIPTION, "shipping method name", []
    )
    return LineAmounts(
        SHIPPING_REFERENCE,
        description,
        Decimal("1"),
        rate,
        code,
        True,
        included,
        order.shipping,
        charged,
        tax_country,
    )


# Issued by hand with the order's reference, the document is adopted by igest-sync (exactly
# once holds) and reconcile finds it; without the reference it would look missing.
_BY_HAND = (
    "check the order in Jumpseller; to invoice it by hand, give the iGEST document the "
    "external reference {ref} and run `igest-sync resend {id}`, which adopts it"
)


def _business_only(
    items: list[LineAmounts], settings: InvoiceConfig, destination: Destination
) -> str | None:
    """The VAT prefix of the Member State whose business alone can take an order with 0 %
    lines going there (an intra-EU supply, ``fiscal.intra_eu``'s rule); None otherwise."""
    if destination.zone != Zone.EU or destination.country == "PT":
        return None
    small_business = settings.vat_regime == "art53"
    if any(
        item.rate == 0 and not (small_business and item.exemption_code == SMALL_BUSINESS_CODE)
        for item in items
    ):
        return destination.vat_prefix
    return None


def _check_no_product_is_shipping(order: Order, items: list[LineAmounts], reference: str) -> None:
    """A product whose SKU is the shipping line's reference is refused, shipped or not.

    A credit note's lines are told apart by reference (``fiscal/credit``): the product would
    be taken for the shipping, so that crediting the shipping credited the product too, and
    the product could not be credited by its line.
    """
    for item in items:
        if item.reference == SHIPPING_REFERENCE:
            raise OrderRejected(
                order.id,
                f"a product has the SKU {SHIPPING_REFERENCE}, the reference igest-sync gives "
                "the shipping line: on its invoice and credit notes the two could not be told "
                "apart. Give the product another SKU in Jumpseller (and iGEST) for the orders "
                "to come",
                hint=_BY_HAND.format(ref=reference, id=order.id),
            )


def _check_order(order: Order, settings: InvoiceConfig, reference: str) -> None:
    if order.defects:
        raise OrderRejected(
            order.id, "Jumpseller sent fields that could not be read: " + "; ".join(order.defects)
        )
    if (order.currency or "").upper() != "EUR":
        raise OrderRejected(
            order.id,
            f"the order is in {order.currency!r}; iGEST documents are issued in EUR only",
            hint=_BY_HAND.format(ref=reference, id=order.id),
        )
    if not order.lines:
        raise OrderRejected(order.id, "the order has no products")
    if order.total < 0 or order.gift_cards_discount < 0:
        raise OrderRejected(
            order.id,
            f"negative total {_eur(order.total)} or gift card {_eur(order.gift_cards_discount)}",
        )
    if settings.vat_region not in pt_rules.REGIONS:
        raise OrderRejected(
            order.id,
            f"invoice.vat_region is {settings.vat_region!r}; use one of "
            + ", ".join(pt_rules.REGIONS),
        )


def _price_lines(
    order: Order, items: list[LineAmounts], warnings: list[str], reference: str
) -> PricedLines:
    """The lines and totals of the first price mode whose gross equals what was paid."""
    paid = expected_gross(order)
    priced = price_lines(items, paid)
    model = sum((i.gross() for i in items), ZERO)  # V in the money model
    if priced.gross_total != paid:
        message = (
            f"document total {_eur(priced.gross_total)} would differ from the "
            f"{_eur(paid)} the customer paid"
        )
        if model != paid:
            message += (
                f"; Jumpseller's products and shipping add up to {_eur(model)} but its "
                f"total{' plus gift cards' if order.gift_cards_discount else ''} is "
                f"{_eur(paid)}"
            )
        raise OrderRejected(
            order.id,
            message,
            hint=_BY_HAND.format(ref=reference, id=order.id),
        )
    if model != paid:
        # Jumpseller rounded the VAT some other way (per rate, like iGEST): what was paid wins.
        warnings.append(
            f"Order {order.id}: its lines add up to {_eur(model)} by Jumpseller's rule, its total "
            f"to {_eur(paid)}; the document carries {_eur(paid)}, what was paid"
        )
    return priced


def _document_type(
    order: Order,
    settings: InvoiceConfig,
    nif: str | None,
    priced: PricedLines,
    warnings: list[str],
) -> str:
    kind = settings.document_type
    gross = priced.gross_total
    if kind not in pt_rules.INVOICE_TYPES:
        raise OrderRejected(order.id, f"invoice.document_type {kind!r} is not one of FR, FT, FS")
    if kind != DocumentType.FS:
        return kind
    # An FS is only for VAT due in Portugal (art. 40 n.º 1 CIVA): not for another Member
    # State's VAT under the OSS scheme (iGEST refuses one with a foreign line), nor for an
    # intra-EU supply (M16), whose VAT the buyer owes in their own State. The fallback setting
    # decides, as for an FS above its limit.
    oss = sorted({line.tax_country for line in priced.lines if line.tax_country})
    due_abroad = (
        f"carries {', '.join(oss)} VAT under the OSS scheme"
        if oss
        else "is an intra-EU supply (M16), whose VAT the buyer owes in their own State"
        if any(line.exemption_code == INTRA_EU_CODE for line in priced.lines)
        else None
    )
    if due_abroad:
        if settings.fs_fallback in (DocumentType.FR, DocumentType.FT):
            warnings.append(
                f"Order {order.id}: {due_abroad}, which a fatura simplificada cannot; "
                f"issued as {settings.fs_fallback} (invoice.fs_fallback)"
            )
            return settings.fs_fallback
        raise OrderRejected(
            order.id,
            f"the order {due_abroad}, and a fatura simplificada (FS) is only for VAT due "
            "in Portugal; set invoice.document_type or invoice.fs_fallback to FR or FT to "
            "issue such orders",
        )
    if settings.vat_regime == "art53":
        return kind  # under the small-business exemption an FS may be of any amount (art. 40)
    # Art. 40 CIVA: goods to a non-taxable person up to 1000 EUR, anything else up to 100 EUR.
    # A digital-only order (no shipping) is a service, not goods.
    goods_to_consumer = order.shipping_required and is_individual(nif)
    limit = pt_rules.FS_LIMIT_GOODS_TO_CONSUMERS if goods_to_consumer else pt_rules.FS_LIMIT_OTHER
    if gross <= limit:
        return kind
    sale = "goods sold to a consumer" if goods_to_consumer else "this sale"
    fallback = settings.fs_fallback
    if fallback in (DocumentType.FR, DocumentType.FT):
        warnings.append(
            f"Order {order.id}: {_eur(gross)} is above the {_eur(limit)} limit of a fatura "
            f"simplificada for {sale}; issued as {fallback} (invoice.fs_fallback)"
        )
        return fallback
    raise OrderRejected(
        order.id,
        f"{_eur(gross)} is above the {_eur(limit)} limit of a fatura simplificada (FS) "
        f"for {sale}; set invoice.fs_fallback to FR or FT to issue such orders",
    )


def _notes(
    order: Order, issue_date: date, settings: InvoiceConfig, vies: ViesCheck | None
) -> list[str]:
    notes = [f"Encomenda Jumpseller n.º {order.id}"]
    if vies is not None and vies.status == ViesStatus.VALID:
        # The consultation number is the evidence that the buyer's number was valid that day.
        notes.append(
            f"NIF {vies.vat_number} válido no VIES em {vies.checked_on.isoformat()}"
            + (f", consulta n.º {vies.consultation}" if vies.consultation else "")
        )
    if order.gift_cards_discount > 0:
        notes.append(f"Pago com cartão-oferta: {_eur(order.gift_cards_discount)}")
    paid_on = _paid_on(order)
    if paid_on is not None and paid_on != issue_date:
        notes.append(f"Pago em {paid_on.isoformat()}")
    if settings.copy_order_notes and order.customer_note:
        note = texts.without_controls(order.customer_note)
        if note:
            notes.append(f"Nota do cliente: {note}")
    return notes


def _fitted_notes(
    order: Order, issue_date: date, settings: InvoiceConfig, vies: ViesCheck | None
) -> tuple[str, tuple[str, ...]]:
    """The document's notes within iGEST's limit, and the warning when they were shortened."""
    notes, shortened = texts.fit_notes(_notes(order, issue_date, settings, vies))
    return notes, (_notes_shortened(order.id),) if shortened else ()


def _notes_shortened(order_id: int) -> str:
    return (
        f"Order {order_id}: the document notes are longer than iGEST's {texts.NOTES} "
        "characters; the customer's note was shortened"
    )


def with_vies_check(
    draft: DocumentDraft, order: Order, settings: InvoiceConfig, check: ViesCheck
) -> DocumentDraft:
    """``draft`` (``build_document``'s for ``order``) with VIES's confirmation of the buyer's
    VAT number on its notes, the evidence of an exempt intra-EU supply (``fiscal.intra_eu``).

    The notes are all a check changes: the lines decide the exemption, and the check, asked for
    those lines, only proves it. So the document is built once, then its notes made again."""
    notes, shortened = _fitted_notes(order, draft.date, settings, check)
    kept = tuple(w for w in draft.warnings if w != _notes_shortened(order.id))
    return replace(draft, notes=notes, warnings=kept + shortened)


def _paid_on(order: Order) -> date | None:
    """The Lisbon day the order was paid, when Jumpseller says."""
    if order.completed_at is None:
        return None
    return lisbon_date(order.completed_at)  # a naive timestamp is Jumpseller's UTC


def _customer_within_limits(order: Order, customer: Customer, warnings: list[str]) -> Customer:
    fitted: dict[str, Any] = {}
    for field, limit, what in (
        ("name", texts.CUSTOMER_NAME, "customer name"),
        ("address", texts.ADDRESS, "customer address"),
        ("city", texts.CITY, "customer city"),
        ("postal_code", texts.POSTAL_CODE, "customer postal code"),
    ):
        value = getattr(customer, field)
        if value is None:
            continue
        cleaned = texts.without_controls(value)
        fitted[field] = _fitted(order, cleaned, limit, what, warnings) if cleaned else None
    fitted["name"] = fitted.get("name") or customer.name
    return replace(customer, **fitted)


def build_document(
    order: Order,
    settings: InvoiceConfig,
    *,
    reference: str,
    issue_date: date,
    override: CustomerOverride | None = None,
) -> DocumentDraft:
    """The invoice (FR, FT or FS) for a paid order, or OrderRejected naming the cause and fix.

    ``reference``: the external reference the document carries, its order's work's (one module
    makes references: ``references.py``; a refusal's hint names it for an invoice made by hand).
    See the module docstring for how each amount is shown. ``issue_date`` is the document date
    (a Lisbon date); when the payment was on another day a note says so. An exempt intra-EU
    supply then needs VIES's confirmation on its notes: ``with_vies_check``.
    """
    _check_order(order, settings, reference)
    warnings: list[str] = []
    destination = order_destination(order)
    # A paid order's goods are supplied when it is paid (the VAT rate of that day applies).
    supplied_on = _paid_on(order) or issue_date
    items = [
        _product_item(order, line, settings, destination, supplied_on, warnings)
        for line in order.lines
    ]
    _check_no_product_is_shipping(order, items, reference)
    shipping = _shipping_item(order, settings, destination, supplied_on)
    if shipping is not None:
        items.append(shipping)
    _check_art53(order, items, settings, reference)

    customer, customer_warnings = customer_and_warnings(
        order, settings, override, business_only=_business_only(items, settings, destination)
    )
    warnings.extend(customer_warnings)
    _check_oss_consumer(order, items, settings, destination, customer.nif, warnings)
    _check_oss_business(order, items, destination, customer.nif, warnings)
    customer = _customer_within_limits(order, customer, warnings)
    priced = _price_lines(order, items, warnings, reference)
    kind = _document_type(order, settings, customer.nif, priced, warnings)
    fitted_notes, shortened = _fitted_notes(order, issue_date, settings, None)
    warnings.extend(shortened)
    payment = None
    if kind == DocumentType.FR:
        payment = settings.payment_methods.get(
            order.payment_method_type or "", settings.default_payment_method
        )
    return DocumentDraft(
        order_id=order.id,
        external_reference=reference,
        type=kind,
        series=settings.series,
        date=issue_date,
        customer=customer,
        lines=priced.lines,
        prices_include_vat=priced.prices_include_vat,
        payment_method=payment,
        warehouse=settings.warehouse,
        move_stock=settings.move_stock,
        notes=fitted_notes,
        net_total=priced.net_total,
        vat_total=priced.vat_total,
        gross_total=priced.gross_total,
        vat_breakdown=priced.vat_breakdown,
        warnings=tuple(warnings),
    )
