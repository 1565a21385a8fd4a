"""A store under the small-business VAT exemption (art. 53 CIVA), OPT-IN
(``Sandbox(small_business=True)``, ``igest-sync sandbox --small-business``): a store of its
own, in place of the seed's orders (every one of which charges VAT, which an exempt business
never states), so that the art. 53 path can be tried end to end.

* The seed catalogue on both sides, at 0 %: in Jumpseller no tax on any product (a store that
  charges no tax), in iGEST its articles exempt under ``EXEMPTION_CODE`` (M10).
* Orders 10201-10205, paid, and 10206 waiting for a Multibanco payment, created in the current
  month of the sandbox's clock, before its "now": no tax entry on any line nor on shipping,
  as Jumpseller shows an order of a store that charges no tax. ``start_date`` (the first day
  of that month; in January, the clock's day) is the ``[invoice] start_date`` for them.
* In iGEST, the year's earlier sales (``EARLIER_TOTAL``, a little under 80 % of 15,000 EUR),
  invoiced by hand in a series of their own (``EARLIER_SERIES``), final, exempt (M10), dated
  from 1 January to the day before ``start_date``: invoicing the paid orders takes the year's
  turnover past 80 % (the dry run's "would reach", then the real run's notice, once).

The year is the sandbox clock's. On 1 January there is no earlier day in the year: the earlier
invoices are then dated that very day, and a first ``invoice`` stops on them (``adopt``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from igest_sandbox.data import (
    BUYERS,
    igest_seed_products,
    seed_line,
    seed_line_specs,
)
from igest_sandbox.igest.state import IgestState
from igest_sandbox.jumpseller.orders import LineSpec, make_order
from igest_sandbox.jumpseller.store import Product

EXEMPTION_CODE = "M10"
EARLIER_SERIES = "B"
EARLIER_TOTAL = Decimal("11880.00")  # 80 % of 15,000 EUR is 12,000.00
EARLIER_INVOICES = 8
PAID_ORDERS = (10201, 10202, 10203, 10204, 10205)
PENDING_ORDER = 10206  # waits for a Multibanco payment
# What a config for this store sets (``Sandbox.describe()``'s "invoice", which
# ``igest-sync init --sandbox`` writes), besides its ``start_date``.
SETTINGS: dict[str, Any] = {
    "vat_regime": "art53",
    # Its sales to other Member States are exempt under art. 53 too (no intra-EU supply).
    "exemptions": {
        key: EXEMPTION_CODE
        for key in ("domestic_goods", "domestic_shipping", "eu_goods", "eu_shipping")
    },
}


def orders_from(now: datetime) -> datetime:
    """When this store's orders begin: the first day of ``now``'s month (in January, of its
    day, so that the year's earlier sales have days of their own before it)."""
    first = datetime(now.year, now.month, 1, tzinfo=UTC)
    if now.month == 1:
        first = datetime(now.year, 1, now.day, tzinfo=UTC)
    return first


def start_date(now: datetime) -> date:
    """The ``[invoice] start_date`` of a config for this store."""
    return orders_from(now).date()


def zero_rated(products: list[Product]) -> list[Product]:
    """The catalogue with no tax on any product (prices unchanged: what the customer pays)."""
    for product in products:
        product.vat_rate = Decimal(0)
    return products


def igest_articles() -> list[dict[str, Any]]:
    """iGEST's articles for the seed SKUs, exempt: the net price is the price paid."""
    articles = []
    specs = {spec.sku: spec for spec in seed_line_specs()}
    for article in igest_seed_products():
        spec = specs[article["reference"]]
        articles.append(
            article
            | {"price": spec.price, "vat_rate": Decimal(0), "exemption_code": EXEMPTION_CODE}
        )
    return articles


def line_specs() -> list[LineSpec]:
    """The seed items as order lines without tax (``POST /_sandbox/load``'s orders)."""
    return [replace(spec, rate=None) for spec in seed_line_specs()]


def _line(sku: str, qty: int = 1) -> LineSpec:
    return replace(seed_line(sku, qty), rate=None)  # no tax entry: 0 %


def small_business_orders(now: datetime) -> list[dict[str, Any]]:
    """Orders 10201-10206, created between ``orders_from(now)`` and ``now``."""
    first = orders_from(now)
    step = (now - first) / 8
    b = BUYERS

    def at(n: int) -> datetime:
        return first + step * n

    def order(order_id: int, n: int, lines: list[LineSpec], buyer: str, **kw: Any) -> Any:
        paid = kw.pop("status", "paid") == "paid"
        return make_order(
            order_id,
            lines,
            created_at=at(n),
            completed_at=at(n) + step / 4 if paid else None,
            status="paid" if paid else "pending_payment",
            buyer=b[buyer],
            shipping_rate=None,  # untaxed shipping: no shipping tax entry
            **kw,
        )

    mb, card = ("Multibanco", "multibanco"), ("Cartão de crédito", "credit_card")
    return [
        order(10201, 1, [_line("AZL-LIS", 4), _line("CAN-AZU", 2)], "marta", shipping="3.90",
              payment=mb),
        order(10202, 2, [_line("AVL-001"), _line("MEL-250", 2)], "joao", shipping="4.90",
              payment=card),
        order(10203, 3, [_line("VPT-10", 2), _line("AZT-500", 2)], "tasca", shipping="6.90",
              payment=mb),
        order(10204, 4, [_line("CUR-ONL")], "sofia", payment=card),
        order(10205, 5, [_line("TSH-M", 2), _line("SAC-LIS")], "ines", shipping="3.90",
              payment=mb),
        order(PENDING_ORDER, 6, [_line("AZL-POR", 2)], "pedro", shipping="3.90",
              status="pending_payment", payment=mb),
    ]  # fmt: skip


def earlier_days(now: datetime) -> list[date]:
    """The days of the year's earlier invoices: spread from 1 January to the day before the
    orders begin (that very day on 1 January, when there is no day before)."""
    first_day = date(now.year, 1, 1)
    last_day = max(first_day, start_date(now) - timedelta(days=1))
    span = (last_day - first_day).days
    return [
        first_day + timedelta(days=span * n // (EARLIER_INVOICES - 1))
        for n in range(EARLIER_INVOICES)
    ]


def earlier_amounts() -> list[Decimal]:
    """``EARLIER_TOTAL`` in ``EARLIER_INVOICES`` amounts, the cents on the last."""
    each = (EARLIER_TOTAL / EARLIER_INVOICES).quantize(Decimal("0.01"))
    return [each] * (EARLIER_INVOICES - 1) + [EARLIER_TOTAL - each * (EARLIER_INVOICES - 1)]


def load_small_business(store: Any, igest: IgestState, now: datetime) -> None:
    """This store's orders and iGEST's earlier invoices (see the module doc); the catalogue is
    the caller's (``Sandbox.load_small_business``: the seed's, with ``zero_rated`` and
    ``igest_articles``)."""
    store.add_orders(small_business_orders(now))
    igest.series.append(
        {"code": EARLIER_SERIES, "document_type": "FR", "atcud_code": "JBFR", "active": True}
    )
    for n, (day, amount) in enumerate(zip(earlier_days(now), earlier_amounts(), strict=True)):
        igest.create_document(
            {
                "type": "FR",
                "series": EARLIER_SERIES,
                "date": day.isoformat(),
                "customer": {"name": "Consumidor final"},
                "lines": [
                    {
                        "reference": "FEIRAS",
                        "description": f"Vendas em feiras e ao balcão ({n + 1})",
                        "quantity": "1",
                        "unit_price": f"{amount:.2f}",
                        "vat_rate": "0.00",
                        "exemption_code": EXEMPTION_CODE,
                    }
                ],
                "prices_include_vat": True,
                "payment_method": "NU",
                "finalize": True,
            }
        )
