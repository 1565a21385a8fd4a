"""Jumpseller JSON -> models: orders, catalogue items, hooks (pure functions, no HTTP).

Orders are parsed leniently on purpose: a field that is not a number, or a required one that is
missing, becomes a readable phrase in ``Order.defects`` (and a neutral value in the field) so the
mapping can refuse that one order by name while the run goes on. Only an order without a usable
``id`` cannot be named at all, and raises ``BadResponse``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from igest_sync.errors import BadResponse
from igest_sync.models import Address, CatalogueItem, Hook, Order, OrderLine, Tax

SERVICE = "Jumpseller"
ZERO = Decimal("0")


def unwrap(item: Any, key: str) -> Any:
    """``{"order": {...}}`` -> ``{...}``; an already bare object is returned as it is."""
    if isinstance(item, dict) and isinstance(item.get(key), dict):
        return item[key]
    return item


def as_list(body: Any) -> list:
    """A page body as a list: null -> [], a single object (the spec's ambiguity) -> [it]."""
    if body is None:
        return []
    if isinstance(body, list):
        return body
    return [body]


def parse_int_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    # isdecimal, not isdigit: "²" is a digit that int() refuses.
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value.strip())
    return None


# No shop amount, quantity or rate reaches a trillion; a larger one ("1e30") is a broken field,
# and refusing it here keeps it from overflowing the money arithmetic later.
_LARGEST = Decimal("1e12")


# A JSON number that a server computed in binary floating point can carry an artifact in its
# last digits (12.30 + 17.22 -> 29.520000000000003: 17 significant digits, the most a double
# prints). No amount, quantity or rate has more than a few decimals, so a number that long is
# rounded to 9 decimal places, which gives the amount back and moves nothing real.
_DOUBLE_DIGITS = 15
_ARTIFACT = Decimal("1e-9")
_ARTIFACT_EXPONENT = -9


def _number(value: Any) -> Decimal | None:
    """A finite Decimal of plausible size from a JSON number or a numeric string; None when it
    is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    number: Decimal
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    if not number.is_finite() or abs(number) >= _LARGEST:
        return None
    shape = number.as_tuple()
    if len(shape.digits) >= _DOUBLE_DIGITS and int(shape.exponent) < _ARTIFACT_EXPONENT:
        # 29.520000000 -> 29.52, and 100.000000000 -> 100 (not normalize()'s 1E+2)
        number = number.quantize(_ARTIFACT).normalize()
        if number == number.to_integral_value():
            number = number.quantize(Decimal(1))
    return number


class _Reader:
    """Collects defects while reading one order."""

    def __init__(self) -> None:
        self.defects: list[str] = []
        self.unread: dict[str, str] = {}  # the order's own amounts that could not be read

    def money(self, obj: dict, key: str, where: str, *, required: bool = False) -> Decimal:
        value = obj.get(key)
        if value is None:
            if required:
                self._unreadable(key, where, f"{where}{key} is missing")
            return ZERO
        number = _number(value)
        if number is None:
            self._unreadable(key, where, f"{where}{key} is {value!r}, not a number")
            return ZERO
        return number

    def _unreadable(self, key: str, where: str, defect: str) -> None:
        self.defects.append(defect)
        if not where:  # an amount of the order itself, not of one of its lines
            self.unread[key] = defect

    def optional_number(self, obj: dict, key: str, where: str) -> Decimal | None:
        value = obj.get(key)
        if value is None:
            return None
        number = _number(value)
        if number is None:
            self.defects.append(f"{where}{key} is {value!r}, not a number")
        return number

    def when(self, obj: dict, key: str) -> datetime | None:
        value = obj.get(key)
        if value is None or value == "":
            return None
        parsed = parse_timestamp(value)
        if parsed is None:
            self.defects.append(f"{key} is {value!r}, not a date")
        return parsed

    def taxes(self, items: Any, where: str, included_key: str) -> tuple[Tax, ...]:
        taxes = []
        for i, raw in enumerate(as_list(items)):
            if not isinstance(raw, dict):
                self.defects.append(f"{where}[{i}] is {raw!r}, not a tax")
                continue
            taxes.append(
                Tax(
                    name=_text(raw.get("name")) or "",
                    rate=self.optional_number(raw, "rate", f"{where}[{i}]."),
                    fixed=bool(raw.get("fixed") or False),
                    included=bool(raw.get(included_key) or False),
                )
            )
        return tuple(taxes)


def parse_timestamp(value: Any) -> datetime | None:
    """``"2026-11-20 14:03:11 UTC"`` or ISO 8601 -> aware UTC datetime; None if neither."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    zone_is_utc = False
    if text.endswith(" UTC"):
        text, zone_is_utc = text[:-4].strip(), True
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            return None
    if parsed.tzinfo is None or zone_is_utc:
        # Jumpseller writes its timestamps in UTC; a naive one can only mean UTC.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 or 9999 shifted past the calendar's edge
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    return None


def _address(raw: Any) -> Address | None:
    if not isinstance(raw, dict):
        return None
    country_code = _text(raw.get("country_code"))
    country = _text(raw.get("country"))
    if not country_code and country and len(country.strip()) == 2:
        country_code = country.strip()
    return Address(
        name=_text(raw.get("name")),
        surname=_text(raw.get("surname")),
        company=_text(raw.get("company")),
        taxid=_text(raw.get("taxid")),
        address=_text(raw.get("address")),
        city=_text(raw.get("city")),
        postal=_text(raw.get("postal")),
        region=_text(raw.get("region")),
        country_code=country_code.upper() if country_code else None,
    )


def _status(raw: dict, reader: _Reader) -> str:
    status = _text(raw.get("status_enum"))
    if not status:
        translated = _text(raw.get("status"))
        status = "_".join(translated.lower().split()) if translated else ""
    if not status:
        reader.defects.append("status is missing")
    return status


def parse_order(item: Any) -> Order:
    """One order (wrapped ``{"order": {...}}`` or bare) -> ``Order``."""
    raw = unwrap(item, "order")
    if not isinstance(raw, dict):
        raise BadResponse(
            f"{SERVICE} sent an order that is not an object: {str(item)[:80]!r}", service=SERVICE
        )
    order_id = parse_int_id(raw.get("id"))
    if order_id is None:
        raise BadResponse(
            f"{SERVICE} sent an order without a valid id ({raw.get('id')!r})", service=SERVICE
        )
    reader = _Reader()
    money = reader.money
    customer = raw.get("customer")
    if not isinstance(customer, dict):
        customer = {}
    currency = _text(raw.get("currency"))
    if not currency:
        reader.defects.append("currency is missing")
    lines = []
    for i, product in enumerate(as_list(raw.get("products"))):
        where = f"products[{i}]."
        if not isinstance(product, dict):
            reader.defects.append(f"products[{i}] is {product!r}, not a product")
            continue
        lines.append(
            OrderLine(
                product_id=parse_int_id(product.get("id")),
                variant_id=parse_int_id(product.get("variant_id")),
                sku=_text(product.get("sku")) or None,
                name=_text(product.get("name")) or "",
                qty=money(product, "qty", where, required=True),
                price=money(product, "price", where, required=True),
                discount=money(product, "discount", where),
                taxes=reader.taxes(product.get("taxes"), f"{where}taxes", "tax_on_product_price"),
            )
        )
    additional = []
    for field in as_list(raw.get("additional_fields")):
        if isinstance(field, dict):
            additional.append((_text(field.get("label")) or "", _text(field.get("value")) or ""))
    shipping_required = raw.get("shipping_required")
    return Order(
        id=order_id,
        status=_status(raw, reader),
        created_at=reader.when(raw, "created_at"),
        completed_at=reader.when(raw, "completed_at"),
        currency=currency or "",
        subtotal=money(raw, "subtotal", ""),
        discount=money(raw, "discount", ""),
        shipping=money(raw, "shipping", ""),
        shipping_discount=money(raw, "shipping_discount", ""),
        gift_cards_discount=money(raw, "gift_cards_discount", ""),
        tax=money(raw, "tax", ""),
        shipping_tax=money(raw, "shipping_tax", ""),
        total=money(raw, "total", "", required=True),
        shipping_required=True if shipping_required is None else bool(shipping_required),
        shipping_method_name=_text(raw.get("shipping_method_name")),
        shipping_taxes=reader.taxes(
            raw.get("shipping_taxes"), "shipping_taxes", "tax_on_shipping_price"
        ),
        payment_method_name=_text(raw.get("payment_method_name")),
        payment_method_type=_text(raw.get("payment_method_type")),
        customer_email=_text(customer.get("email")),
        billing=_billing(raw),
        additional_fields=tuple(additional),
        lines=tuple(lines),
        defects=tuple(reader.defects),
        total_unread="; ".join(
            d for k, d in reader.unread.items() if k in ("total", "gift_cards_discount")
        )
        or None,
        shipping_address=_address(raw.get("shipping_address")),
        shipping_option=_text(raw.get("shipping_option")) or None,
        source=_source(raw.get("source")),
        customer_note=_text(raw.get("additional_information")) or None,
    )


def _billing(raw: dict) -> Address | None:
    """The billing address, with the company the spec keeps beside it
    (``billing_information.company_name``); a ``company`` in the address itself is read too."""
    billing = _address(raw.get("billing_address"))
    information = raw.get("billing_information")
    company = _text(information.get("company_name")) if isinstance(information, dict) else None
    if billing is not None and company and company.strip() and not (billing.company or "").strip():
        return replace(billing, company=company)
    return billing


def _source(raw: Any) -> str | None:
    """``source.created_from`` (checkout, admin, api, pos, ...), lower-cased; None if absent."""
    if not isinstance(raw, dict):
        return None
    created_from = _text(raw.get("created_from"))
    return created_from.strip().lower() or None if created_from else None


# ------------------------------------------------------------------------------------------
# Catalogue


def _price(value: Any) -> tuple[Decimal, str | None]:
    """The price, or 0 and why it cannot be read (that item's product is then not synced:
    a price we cannot read must never become 0 in iGEST)."""
    number = _number(value)
    if number is None:
        return Decimal(0), f"its price in Jumpseller is {value!r}, not a price"
    if number < 0:
        # The number as Jumpseller shows it (-1.0), not Python's Decimal('-1.0').
        return Decimal(0), f"its price in Jumpseller is negative ({value}); give it a price"
    return number, None


def _stock(value: Any, unlimited: bool) -> tuple[int, str | None]:
    """The stock, or 0 and why it cannot be read (its stock is then never written from it)."""
    if unlimited:
        return 0, None
    if value is None:
        return 0, "Jumpseller gives no stock for it"
    number = _number(value)
    if number is None or number != number.to_integral_value():
        return 0, f"its stock in Jumpseller is {value!r}, not a whole number"
    return int(number), None


def location_row_stock(row: dict, location_id: int) -> tuple[int, str | None]:
    """A ``/products_locations`` row's stock, or 0 and why it cannot be read (never taken
    for 0 by the caller: the item is then left alone)."""
    stock, unread = _stock(row.get("stock"), unlimited=False)
    return stock, None if unread is None else f"{unread} (at location {location_id})"


def catalogue_items(item: Any) -> list[CatalogueItem]:
    """One product (wrapped or bare) -> one item, or one per variant when it has variants."""
    product = unwrap(item, "product")
    if not isinstance(product, dict):
        raise BadResponse(f"{SERVICE} sent a product that is not an object", service=SERVICE)
    product_id = parse_int_id(product.get("id"))
    if product_id is None:
        raise BadResponse(
            f"{SERVICE} sent a product without a valid id ({product.get('id')!r})", service=SERVICE
        )
    name = _text(product.get("name")) or ""
    digital = product.get("type") == "digital"
    variants = [unwrap(v, "variant") for v in as_list(product.get("variants"))]
    variants = [v for v in variants if isinstance(v, dict)]
    where = f"product {product_id}"
    if not variants:
        price, price_unread = _price(product.get("price"))
        unlimited = bool(product.get("stock_unlimited") or False)
        stock, stock_unread = _stock(product.get("stock"), unlimited)
        return [
            CatalogueItem(
                product_id=product_id,
                variant_id=None,
                sku=_text(product.get("sku")) or None,
                name=name,
                price=price,
                barcode=_text(product.get("barcode")) or None,
                digital=digital,
                stock=stock,
                stock_unlimited=unlimited,
                price_unread=price_unread,
                stock_unread=stock_unread,
            )
        ]
    items = []
    for variant in variants:
        variant_id = parse_int_id(variant.get("id"))
        if variant_id is None:
            raise BadResponse(
                f"{SERVICE} sent a variant of {where} without a valid id", service=SERVICE
            )
        texts = (
            _text(o.get("value")) for o in as_list(variant.get("options")) if isinstance(o, dict)
        )
        values = [v for v in texts if v]
        own = variant.get("price")
        price, price_unread = _price(product.get("price") if own is None else own)
        # A product with unlimited stock has it for every variant that does not say otherwise.
        flag = variant.get("stock_unlimited")
        unlimited = bool(product.get("stock_unlimited") if flag is None else flag)
        stock, stock_unread = _stock(variant.get("stock"), unlimited)
        items.append(
            CatalogueItem(
                product_id=product_id,
                variant_id=variant_id,
                sku=_text(variant.get("sku")) or None,
                name=f"{name} - {' / '.join(values)}" if values else name,
                price=price,
                barcode=_text(variant.get("barcode")) or None,
                digital=digital,
                stock=stock,
                stock_unlimited=unlimited,
                price_unread=price_unread,
                stock_unread=stock_unread,
            )
        )
    return items


def parse_hook(item: Any) -> Hook:
    """One hook (``{"hook": {...}}`` or bare) -> ``Hook``.

    A hook we cannot identify (no id, event or URL) is a broken answer, not a hook to skip:
    ``hooks remove`` must never act on a guess, so it raises ``BadResponse``.
    """
    hook = unwrap(item, "hook")
    if not isinstance(hook, dict):
        raise BadResponse(f"{SERVICE} sent a hook that is not an object", service=SERVICE)
    hook_id = parse_int_id(hook.get("id"))
    event, url = _text(hook.get("event")), _text(hook.get("url"))
    if hook_id is None or not event or not url:
        raise BadResponse(
            f"{SERVICE} sent a hook without an id, event or URL (id {hook.get('id')!r})",
            service=SERVICE,
        )
    return Hook(id=hook_id, event=event, url=url)
