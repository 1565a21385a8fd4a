"""Who the document is issued to: the NIF (or EU VAT number) and the billing details.

Rules (pt-invoicing.md §4, §6):

- The NIF comes from the billing address's ``taxid`` or, when that is empty, from the checkout
  custom field whose label is ``invoice.nif_field`` (compared trimmed and case-insensitively).
- A Portuguese NIF is checked with python-stdnum (length and check digit, "PT" prefix, spaces,
  dots and dashes stripped) and sent as its 9 digits. Like stdnum and iGEST we do not restrict
  the leading digits: a real but unusual prefix must never make an order impossible to invoice.
- A number with another EU country prefix ("ES B12345674"), or without prefix for a billing
  address in another EU country, is checked by format and check digit with ``stdnum.eu.vat``
  and sent with its prefix ("ESB12345674"; Greece uses "EL"), the way an intra-EU invoice must
  show it. VIES (whether it is registered) is not consulted. Without prefix, a number that fails
  the country's format but is a valid Portuguese NIF is taken as one: Portuguese taxpayers
  living abroad give their NIF.
- A number for a country outside the EU cannot be checked here; it is kept as typed (compacted).
- No NIF, or the generic 999999990: the final consumer (``Customer.nif = None``). Their name and
  address are kept when they gave a name; otherwise the name is "Consumidor final".
- An invalid NIF refuses the order (``invoice.invalid_nif = "fail"``, the default, naming the
  ``resend`` options that fix it) or issues to the final consumer with a warning
  (``"consumer"``). A ``CustomerOverride`` (``resend --nif`` / ``--as-consumer``) wins over both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError
from stdnum.pt import nif as pt_nif

from igest_sync.config import InvoiceConfig
from igest_sync.errors import OrderRejected
from igest_sync.fiscal import rules as pt_rules
from igest_sync.models import Address, Customer, Order

# Separators people type inside tax numbers ("PT 123.456.789", "ES-B1234567-4", "123/456/789").
_SEPARATORS = re.compile(r"[\s.\-/_]")


class OverrideRefused(OrderRejected):
    """The customer a person gave (``resend --nif`` / ``--as-consumer``) is refused as given."""


@dataclass(frozen=True)
class CustomerOverride:
    """What a person decided for one order (``resend --nif N`` / ``resend --as-consumer``)."""

    nif: str | None = None
    as_consumer: bool = False


def order_nif(order: Order, nif_field: str) -> str | None:
    """The tax number the customer typed, untouched but trimmed; None when there is none.

    The billing ``taxid`` wins; otherwise the first checkout custom field whose label equals
    ``nif_field`` (trimmed, case-insensitive) and has a non-blank value.
    """
    if order.billing is not None and order.billing.taxid and order.billing.taxid.strip():
        return order.billing.taxid.strip()
    wanted = nif_field.strip().casefold()
    for label, value in order.additional_fields:
        if (label or "").strip().casefold() == wanted and value and value.strip():
            return value.strip()
    return None


def _vat_prefix(country: str) -> str:
    # Greece's VAT numbers use "EL", not its ISO code.
    return "EL" if country == "GR" else country


def _is_eu_vat_country(code: str) -> bool:
    return code.lower() in eu_vat.MEMBER_STATES or code == "EL"


def normalize_nif(raw: str, country: str | None) -> tuple[str | None, str | None]:
    """(normalized number, None) or (None, why it is not valid).

    ``country`` is the billing country (ISO code; None means Portugal). See the module
    docstring for the rules. Examples: "PT 123 456 789" -> "123456789";
    ("B12345674", "ES") -> "ESB12345674".
    """
    compact = _SEPARATORS.sub("", raw or "").upper()
    if not compact:
        return None, "the tax number is empty"
    home = (country or "PT").strip().upper() or "PT"
    # Two leading letters are a country prefix only when they name an EU VAT country (or the
    # billing country): "XY123456789" typed by a Portuguese customer is an invalid NIF.
    letters = compact[:2] if compact[:2].isalpha() else None
    prefix = (
        letters
        if letters and (letters == "PT" or _is_eu_vat_country(letters) or letters == home)
        else None
    )

    if prefix == "PT" or (prefix is None and home == "PT"):
        try:
            return pt_nif.validate(compact), None
        except ValidationError:
            return None, (
                f"{raw.strip()!r} is not a valid Portuguese NIF (9 digits with a check digit)"
            )

    vat_country = prefix or _vat_prefix(home)
    if not _is_eu_vat_country(vat_country):
        # Outside the EU we have no reliable format to check; keep what the customer typed.
        return compact, None

    candidate = compact if prefix else vat_country + compact
    try:
        number = eu_vat.validate(candidate)
    except ValidationError:
        if prefix is None and pt_nif.is_valid(compact):
            return pt_nif.compact(compact), None
        return None, f"{raw.strip()!r} is not a valid {vat_country} VAT number"
    if number.startswith("GR"):
        number = "EL" + number[2:]
    return number, None


def is_individual(nif: str | None) -> bool:
    """True for the final consumer and for Portuguese NIFs of natural persons (1, 2, 3, 45)."""
    if nif is None:
        return True
    return len(nif) == 9 and nif.isdigit() and nif.startswith(pt_rules.INDIVIDUAL_NIF_PREFIXES)


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def _billing_name(billing: Address) -> str | None:
    company = _clean(billing.company)
    if company:
        return company
    parts = [p for p in (_clean(billing.name), _clean(billing.surname)) if p]
    return " ".join(parts) or None


def _resolve_nif(
    order: Order,
    settings: InvoiceConfig,
    override: CustomerOverride | None,
    country: str,
    business_only: str | None = None,
) -> tuple[str | None, tuple[str, ...]]:
    if override is not None:
        check_override(order, override)
        if override.as_consumer:
            return None, ()
    if override is not None and override.nif:
        nif, _ = normalize_nif(override.nif, country)
        return nif, ()

    raw = order_nif(order, settings.nif_field)
    if raw is None:
        return None, ()
    nif, error = normalize_nif(raw, country)
    if error is None:
        return nif, ()
    if business_only is not None:
        # Its 0 % lines are exempt only for a business of that State: a final consumer cannot
        # take it (resend --as-consumer, or invalid_nif = "consumer", was refused a moment
        # later as if the customer had typed no number at all).
        raise OrderRejected(
            order.id,
            f"the customer's VAT number {raw!r} is invalid ({error}), and the order's 0 % "
            f"lines are exempt only as an intra-EU supply to a business with a valid "
            f"{business_only} number. Issue it with the corrected number: igest-sync resend "
            f"{order.id} --nif {business_only}<number>, or charge VAT on the order in "
            "Jumpseller.",
        )
    if settings.invalid_nif == "consumer":
        return None, (
            (
                f"Order {order.id}: NIF {raw!r} is invalid ({error}); issued to the final consumer "
                f'because invoice.invalid_nif = "consumer"'
            ),
        )
    raise OrderRejected(
        order.id,
        f"the customer's NIF {raw!r} is invalid ({error}). Issue it with a corrected NIF: "
        f"igest-sync resend {order.id} --nif N, or to the final consumer: "
        f"igest-sync resend {order.id} --as-consumer",
    )


def check_override(order: Order, override: CustomerOverride) -> None:
    """Raises ``OverrideRefused`` when what a person gave for ``order`` cannot be used as
    given (an invalid number for its billing country, both --nif and --as-consumer): asked
    before anything is written, so that a typo leaves the order as it was."""
    billing = order.billing or Address()
    country = (_clean(billing.country_code) or "PT").upper()
    if override.as_consumer and override.nif:
        raise OverrideRefused(order.id, "choose either --nif or --as-consumer, not both")
    if override.nif:
        _, error = normalize_nif(override.nif, country)
        if error:
            raise OverrideRefused(order.id, f"the NIF given with --nif is invalid: {error}")


def customer_and_warnings(
    order: Order,
    settings: InvoiceConfig,
    override: CustomerOverride | None = None,
    *,
    business_only: str | None = None,
) -> tuple[Customer, tuple[str, ...]]:
    """The document's customer and the warnings to show with the draft. Raises OrderRejected.

    ``business_only``: the VAT prefix of the Member State whose business alone can take the
    order (0 % lines going there, ``mapping``): an invalid number is then refused with the
    fix that can work, never sent to the final consumer."""
    billing = order.billing or Address()
    country = (_clean(billing.country_code) or "PT").upper()
    nif, warnings = _resolve_nif(order, settings, override, country, business_only)
    if nif == pt_rules.FINAL_CONSUMER_NIF:
        nif = None  # the generic consumer NIF is the absence of one, not a customer record

    email = _clean(order.customer_email)
    name = _billing_name(billing)
    if name is None:
        if nif is None:
            # An anonymous consumer: an address without a name identifies no one.
            return Customer(
                nif=None, name=pt_rules.FINAL_CONSUMER_NAME, email=email, country=country
            ), warnings
        # iGEST matches customers by NIF and keeps its own name; this only fills a new record.
        name = f"Contribuinte {nif}"
    customer = Customer(
        nif=nif,
        name=name,
        email=email,
        address=_clean(billing.address),
        postal_code=_clean(billing.postal),
        city=_clean(billing.city),
        country=country,
    )
    return customer, warnings


def build_customer(
    order: Order, settings: InvoiceConfig, override: CustomerOverride | None = None
) -> Customer:
    """The document's customer (see the module docstring). Raises OrderRejected."""
    return customer_and_warnings(order, settings, override)[0]
