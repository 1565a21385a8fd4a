"""Jumpseller order factories: every money field computed from the money model.

``make_order`` builds one wire order (the spec's ``OrderFields``, every property present, empty
values ``null``); ``generate_orders`` yields many, deterministically, one at a time.

Money (``docs/money-model.md``): per line a_i = price*qty - discount and its VAT v_i
(inclusive: a_i*r/(100+r); exclusive: a_i*r/100, half-up); ``subtotal`` = sum(price*qty);
``discount`` = sum of line discounts (an order-level discount is spread over the lines, largest
remainder in cents); shipping amount = shipping - shipping_discount with its ``shipping_tax``;
``tax`` = sum(v_i) + shipping_tax; V = sum(a_i) + shipping amount + VAT added on top by
exclusive lines/shipping; ``total`` = V - gift_cards_discount.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from igest_sandbox.jumpseller.common import STATUS_NAMES, wire_time
from igest_sandbox.money import LineMoney, order_figures, round2, spread, to_decimal

TAX_IDS = {Decimal(23): 1, Decimal(13): 2, Decimal(6): 3, Decimal(0): 4}


def tax_id(rate: Decimal) -> int:
    """The store's tax id of a rate: the seed's four, else one per rate (FR 20 % and 5.5 %
    are two taxes, not one)."""
    return TAX_IDS.get(rate.normalize(), 100 + int(rate * 10))


STORE_URL = "https://loja-do-azulejo.jumpseller.com"


@dataclass(frozen=True)
class LineSpec:
    """One product line. ``rate`` None: no tax entry (a 0 % line). ``included`` None: the
    order's ``prices_include_tax``. ``discount``: the line's own discount (whole line); an
    order-level discount is added on top by ``make_order``."""

    name: str
    price: Decimal
    qty: int = 1
    sku: str | None = None
    rate: Decimal | None = Decimal(23)
    included: bool | None = None
    discount: Decimal = Decimal(0)
    product_id: int | None = None
    variant_id: int | None = None
    weight: Decimal = Decimal("0.5")
    digital: bool = False


@dataclass(frozen=True)
class Buyer:
    name: str
    surname: str
    email: str
    phone: str | None = None
    address: str = "Rua Augusta"
    street_number: int | None = 100
    city: str = "Lisboa"
    postal: str = "1100-053"
    region: str = "Lisboa"
    region_code: str | None = "14"
    municipality: str | None = "Lisboa"
    country: str = "Portugal"
    country_code: str = "PT"
    taxid: str | None = None  # billing address taxid (the NIF, when the customer gave one)
    company: str | None = None  # billing_information.company_name
    customer_id: int | None = None


DEFAULT_BUYER = Buyer("Marta", "Silva", "marta.silva@example.pt", "912345678")


def _line(spec: LineSpec | Mapping[str, Any]) -> LineSpec:
    if isinstance(spec, LineSpec):
        return spec
    data = dict(spec)
    for key in ("price", "discount", "weight"):
        if key in data:
            data[key] = to_decimal(data[key])
    if data.get("rate") is not None:
        data["rate"] = to_decimal(data["rate"])
    return LineSpec(**data)


def _address(buyer: Buyer, billing: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": buyer.name,
        "surname": buyer.surname,
        "address": buyer.address,
        "city": buyer.city,
        "postal": buyer.postal,
        "region": buyer.region,
        "country": buyer.country,
        "country_code": buyer.country_code,
        "region_code": buyer.region_code,
        "street_number": buyer.street_number,
        "complement": None,
        "municipality": buyer.municipality,
    }
    if billing:
        data = {
            "name": buyer.name,
            "surname": buyer.surname,
            "taxid": buyer.taxid,
            **{k: v for k, v in data.items() if k not in ("name", "surname")},
        }
    else:
        data["latitude"] = None
        data["longitude"] = None
    data["neighbourhood"] = None
    return data


def _tax_entry(rate: Decimal, included: bool) -> dict[str, Any]:
    return {
        "id": tax_id(rate),
        "name": f"IVA {rate.normalize()}%",
        "rate": rate,
        "fixed": False,
        "tax_on_product_price": included,
    }


def make_order(
    order_id: int,
    lines: Sequence[LineSpec | Mapping[str, Any]],
    *,
    created_at: datetime,
    status: str = "paid",
    completed_at: datetime | None = None,
    buyer: Buyer | None = None,
    prices_include_tax: bool = True,
    order_discount: Decimal | str | int = 0,
    coupon: str | None = None,
    shipping: Decimal | str | int = 0,
    shipping_rate: Decimal | str | int | None = 23,
    shipping_included: bool | None = None,
    shipping_discount: Decimal | str | int = 0,
    gift_card: Decimal | str | int = 0,
    shipping_required: bool | None = None,
    shipping_method: str | None = "CTT Expresso",
    shipping_option: str | None = None,
    payment: tuple[str, str] = ("Multibanco", "multibanco"),
    additional_fields: Sequence[tuple[str, str]] = (),
    currency: str = "EUR",
    note: str | None = None,
    created_from: str = "checkout",
    shipping_tax_country: str = "PT",
) -> dict[str, Any]:
    """One Jumpseller order (``OrderFields``) with every money field from the money model.

    ``status`` is a ``status_enum`` value; ``completed_at`` defaults to ``created_at`` + 7 min
    for a paid order (a canceled order given a ``completed_at`` is a refunded sale). Digital
    orders (every line ``digital``) have ``shipping_required`` false and no shipping.
    ``note`` is the customer's checkout note (``additional_information``); ``created_from`` the
    order's source (checkout, admin, api, pos, ...); ``shipping_tax_country`` the country of
    the shipping tax entry.
    """
    if status not in STATUS_NAMES:
        raise ValueError(f"unknown status {status!r}")
    specs = [_line(s) for s in lines]
    buyer = buyer or DEFAULT_BUYER
    if shipping_required is None:
        shipping_required = not all(s.digital for s in specs)
    shipping_d = round2(to_decimal(shipping)) if shipping_required else Decimal("0.00")
    ship_rate = Decimal(0) if shipping_rate is None else to_decimal(shipping_rate)
    ship_included = prices_include_tax if shipping_included is None else shipping_included
    ship_discount = round2(to_decimal(shipping_discount))
    if ship_discount > shipping_d:
        raise ValueError("shipping_discount exceeds shipping")

    # The order-level discount becomes each line's share, weighted by what is left of the line.
    own = [round2(s.discount) for s in specs]
    weights = [round2(s.price * s.qty) - d for s, d in zip(specs, own)]
    shares = spread(round2(to_decimal(order_discount)), weights)
    money = []
    for spec, own_discount, share in zip(specs, own, shares):
        included = prices_include_tax if spec.included is None else spec.included
        money.append(
            LineMoney(
                price=round2(spec.price),
                qty=Decimal(spec.qty),
                discount=own_discount + share,
                rate=spec.rate or Decimal(0),
                included=included,
            )
        )
        if money[-1].amount < 0:
            raise ValueError(f"line {spec.name!r}: discount exceeds its value")
    figures = order_figures(
        money,
        shipping=shipping_d,
        shipping_rate=ship_rate,
        shipping_included=ship_included,
        shipping_discount=ship_discount,
        gift_cards_discount=to_decimal(gift_card),
    )
    if figures.total < 0:
        raise ValueError("gift card exceeds the value of the sale")

    if completed_at is None and status == "paid":
        completed_at = created_at + timedelta(minutes=7)
    products = []
    for spec, line in zip(specs, money):
        products.append(
            {
                "id": spec.product_id,
                "variant_id": spec.variant_id,
                "sku": spec.sku,
                "name": spec.name,
                "image": None,
                "qty": spec.qty,
                "price": line.price,
                "discount": line.discount,
                "weight": spec.weight,
                "tax": line.vat,  # per-line tax, as in Jumpseller's own example order
                "taxes": [] if spec.rate is None else [_tax_entry(spec.rate, line.included)],
                "stock_locations": [] if spec.digital else [{"location_id": 1, "stock": spec.qty}],
            }
        )
    shipping_taxes = []
    if shipping_required and shipping_d > 0 and shipping_rate is not None:
        shipping_taxes.append(
            {
                "id": tax_id(ship_rate),
                "name": f"IVA {ship_rate.normalize()}%",
                "country": shipping_tax_country,
                "region": None,
                "rate": ship_rate,
                "fixed": False,
                "tax_on_shipping_price": ship_included,
            }
        )
    option = shipping_option or ("delivery" if shipping_required else "no_shipping")
    fullname = f"{buyer.name} {buyer.surname}"
    return {
        "id": order_id,
        "source": {
            "created_from": created_from,
            "created_from_app_code": None,
            "source_name": None,
            "medium": None,
            "campaign": None,
            "referral_url": None,
            "referral_code": None,
            "user_agent": "Mozilla/5.0 (sandbox)",
            "first_page_visited": "/",
            "first_page_visited_at": wire_time(created_at - timedelta(minutes=12)),
            "referral_source": None,
        },
        "created_at": wire_time(created_at),
        "completed_at": wire_time(completed_at),
        "currency": currency,
        "subtotal": figures.subtotal,
        "tax": figures.tax,
        "shipping_tax": figures.shipping_tax,
        "shipping": figures.shipping,
        "shipping_required": shipping_required,
        "total": figures.total,
        "discount": figures.discount,
        "shipping_discount": figures.shipping_discount,
        "gift_cards_discount": figures.gift_cards_discount,
        "fulfillment_status": "Unfulfilled",
        "shipping_method_id": 1 if shipping_required else None,
        "shipping_service_id": None,
        "shipping_method_name": shipping_method if shipping_required else None,
        "payment_method_name": payment[0],
        "payment_method_type": payment[1],
        "payment_information": None,
        "payment_notification_id": None,
        "additional_information": note,
        "duplicate_url": f"{STORE_URL}/admin/orders/{order_id}/duplicate",
        "recovery_url": f"{STORE_URL}/checkout/recover/{order_id}",
        "review_url": None,
        "checkout_url": f"{STORE_URL}/checkout/{order_id}",
        "coupons": coupon,
        "promotions": ([{"name": coupon, "discount": figures.discount}] if coupon else []),
        "customer": {
            "id": buyer.customer_id or order_id + 90000,
            "email": buyer.email,
            "phone": buyer.phone,
            "phone_prefix": "+351" if buyer.phone else None,
            "ip": "192.0.2.10",
            "fullname": fullname,
        },
        "shipping_branch": None,
        "shipping_address": _address(buyer, billing=False),
        "billing_address": _address(buyer, billing=True),
        "pickup_address": None,
        "products": products,
        "additional_fields": [
            {"label": label, "value": value, "id": i + 1, "area": "contact"}
            for i, (label, value) in enumerate(additional_fields)
        ],
        "shipping_taxes": shipping_taxes,
        "status": STATUS_NAMES[status],
        "status_name": STATUS_NAMES[status],
        "status_enum": status,
        "tracking_url": None,
        "tracking_company": None,
        "tracking_number": None,
        "shipping_option": option,
        "same_day_delivery": False,
        "shipment_status": "Unfulfilled",
        "shipment_status_enum": "unfulfilled",
        "recovered_from": None,
        "external_shipping_rate_id": None,
        "external_shipping_rate_description": None,
        "billing_information": {
            "business_activity": None,
            "company_name": buyer.company,
            "taxpayer_type": None,
        },
    }


# --------------------------------------------------------------------------------------------
# Large deterministic data


def nif_check_digit(first_eight: str) -> str:
    """The check digit of a Portuguese NIF (weights 9..2, mod 11; 10 and 11 give 0)."""
    total = sum(int(d) * w for d, w in zip(first_eight, range(9, 1, -1)))
    return str((11 - total % 11) % 11 % 10)


def random_nif(rng: random.Random) -> str:
    first = str(rng.choice((1, 2, 2, 2, 5))) + "".join(str(rng.randrange(10)) for _ in range(7))
    return first + nif_check_digit(first)
