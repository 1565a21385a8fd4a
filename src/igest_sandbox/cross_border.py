"""Cross-border demo orders, OPT-IN (``Sandbox(cross_border=True)`` or
``store.add_orders(cross_border_orders())``) so that the seed's counts stay as they are.

Orders 10101-10109, paid, created on 18-19 November 2026 (before ``data.SEED_REFERENCE``);
every money field follows the money model (``orders.make_order``). A line on which Jumpseller
charged no VAT has no tax entry and no tax, as Jumpseller shows it (its price is the net one):

* 10101 Spanish business (billing ES, ``taxid`` "ESB87654323", VIES-valid), 0 % lines and
  untaxed shipping: an intra-EU supply (M16) once VIES says valid;
* 10102 French consumer taxed at FR 20 % (lines and shipping): an OSS sale, never an FS;
* 10103 United Kingdom consumer at 0 %: an export (M05);
* 10104 Canary Islands (ES, 35001 Las Palmas) at 0 %: outside the EU VAT territory, an export;
* 10105 Spanish business whose number VIES says invalid ("B12345674", right check digit);
* 10106 Spanish business whose Member State is unavailable in VIES for the first 3 checks
  ("ESB66123456"), then valid;
* 10107 Portuguese consumer buying a product whose name is 300 characters long;
* 10108 Portuguese consumer with a checkout note (``additional_information``, two lines
  separated by CR LF, as a browser sends them);
* 10109 a sale made at the till: ``source.created_from`` "pos".
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from igest_sandbox.data import seed_line
from igest_sandbox.jumpseller.orders import Buyer, LineSpec, make_order

LONG_NAME = (
    "Painel de azulejos pintado à mão com motivos florais azuis e amarelos inspirados na "
    "azulejaria portuguesa do século XVIII, composto por vinte e quatro peças de 15x15 cm, "
    "vidrado brilhante, fornecido com esquema de montagem numerado, caixa e "
    "certificado de autenticidade da nossa oficina em Lisboa 26."
)
assert len(LONG_NAME) == 300, len(LONG_NAME)

# Typed in a browser textarea: its line break is CR LF, and iGEST refuses the CR.
CHECKOUT_NOTE = "Por favor, embrulhar para oferta.\r\nEntregar depois das 18h."

BUYERS: dict[str, Buyer] = {
    "es_business": Buyer(
        "Lucía",
        "García",
        "compras@ceramicaslevante.es",
        "+34 961 234 567",
        address="Calle de Colón",
        street_number=12,
        city="Valencia",
        postal="46004",
        region="Valencia",
        region_code="V",
        municipality="Valencia",
        country="Spain",
        country_code="ES",
        taxid="ESB87654323",
        company="Cerámicas del Levante, S.L.",
        customer_id=300101,
    ),
    "fr_consumer": Buyer(
        "Camille",
        "Dubois",
        "camille.dubois@example.fr",
        address="Rue de la Paix",
        street_number=12,
        city="Paris",
        postal="75002",
        region="Île-de-France",
        region_code="IDF",
        municipality="Paris",
        country="France",
        country_code="FR",
        customer_id=300102,
    ),
    "uk_consumer": Buyer(
        "Oliver",
        "Smith",
        "oliver.smith@example.co.uk",
        address="Baker Street",
        street_number=221,
        city="London",
        postal="NW1 6XE",
        region="England",
        region_code="ENG",
        municipality="London",
        country="United Kingdom",
        country_code="GB",
        customer_id=300103,
    ),
    "canarias": Buyer(
        "Carmen",
        "Santana",
        "carmen.santana@example.es",
        address="Calle Mayor de Triana",
        street_number=45,
        city="Las Palmas de Gran Canaria",
        postal="35001",
        region="Las Palmas",
        region_code="GC",
        municipality="Las Palmas de Gran Canaria",
        country="Spain",
        country_code="ES",
        customer_id=300104,
    ),
    "es_invalid": Buyer(
        "Javier",
        "López",
        "javier@reformaslopez.es",
        address="Calle de Alcalá",
        street_number=200,
        city="Madrid",
        postal="28028",
        region="Madrid",
        region_code="M",
        municipality="Madrid",
        country="Spain",
        country_code="ES",
        taxid="B12345674",
        company="Reformas López, S.L.",
        customer_id=300105,
    ),
    "es_unavailable": Buyer(
        "Rocío",
        "Fernández",
        "pedidos@azulejosdelsur.es",
        address="Avenida de la Constitución",
        street_number=5,
        city="Sevilla",
        postal="41001",
        region="Sevilla",
        region_code="SE",
        municipality="Sevilla",
        country="Spain",
        country_code="ES",
        taxid="ESB66123456",
        company="Azulejos del Sur, S.L.",
        customer_id=300106,
    ),
    "pt_consumer": Buyer("Rita", "Lopes", "rita.lopes@example.pt", "913000111", customer_id=300107),
}


def _untaxed(sku: str, qty: int, net: str) -> LineSpec:
    """A line on which no VAT is charged: no tax entry, the net price."""
    return seed_line(sku, qty, price=Decimal(net), rate=None)


def _at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, 23, tzinfo=UTC)


def cross_border_orders() -> list[dict[str, Any]]:
    b = BUYERS
    card, transfer = (
        ("Cartão de crédito", "credit_card"),
        ("Transferência bancária", "bank_transfer"),
    )
    paypal = ("PayPal", "paypal")
    return [
        make_order(
            10101,
            [_untaxed("AZL-LIS", 20, "10.49"), _untaxed("CAN-AZU", 12, "8.12")],
            created_at=_at(18, 9, 12),
            buyer=b["es_business"],
            shipping="15.00",
            shipping_rate=None,
            payment=transfer,
        ),
        make_order(
            10102,
            [
                seed_line("AZL-POR", 2, rate=Decimal(20)),
                seed_line("AZT-500", 1, rate=Decimal("5.5")),
            ],
            created_at=_at(18, 10, 40),
            buyer=b["fr_consumer"],
            shipping="9.90",
            shipping_rate=20,
            shipping_tax_country="FR",
            payment=card,
        ),
        make_order(
            10103,
            [_untaxed("TSH-L", 2, "16.18"), _untaxed("VPT-10", 1, "24.69")],
            created_at=_at(18, 14, 5),
            buyer=b["uk_consumer"],
            shipping="18.00",
            shipping_rate=None,
            payment=paypal,
        ),
        make_order(
            10104,
            [_untaxed("AVL-001", 1, "19.92")],
            created_at=_at(18, 16, 30),
            buyer=b["canarias"],
            shipping="12.00",
            shipping_rate=None,
            payment=card,
        ),
        make_order(
            10105,
            [_untaxed("AZL-SIN", 10, "11.79")],
            created_at=_at(19, 9, 0),
            buyer=b["es_invalid"],
            shipping="15.00",
            shipping_rate=None,
            payment=transfer,
        ),
        make_order(
            10106,
            [_untaxed("CAN-AMA", 24, "8.12")],
            created_at=_at(19, 9, 45),
            buyer=b["es_unavailable"],
            shipping="15.00",
            shipping_rate=None,
            payment=transfer,
        ),
        make_order(
            10107,
            [seed_line("AZL-LIS", 1, name=LONG_NAME)],
            created_at=_at(19, 11, 20),
            buyer=b["pt_consumer"],
            shipping="3.90",
            payment=card,
        ),
        make_order(
            10108,
            [seed_line("MEL-250", 2), seed_line("CAN-VER", 1)],
            created_at=_at(19, 15, 10),
            buyer=b["pt_consumer"],
            shipping="3.90",
            payment=card,
            note=CHECKOUT_NOTE,
        ),
        make_order(
            10109,
            [seed_line("SRD-120", 3)],
            created_at=_at(19, 17, 55),
            buyer=b["pt_consumer"],
            shipping=0,
            shipping_method=None,
            shipping_option="pickup",
            payment=("Numerário", "cash"),
            created_from="pos",
        ),
    ]
