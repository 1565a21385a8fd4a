"""Seed data: a believable Portuguese shop ("Loja do Azulejo") on both sides, plus factories.

Jumpseller: 12 products (18 sellable items) with SKUs; variants by pattern, colour and size; VAT at
23 %, 13 %, 6 % and one exempt product at 0 % (a book published by a non-profit cultural
association, exempt under art. 9 CIVA: ``SEED_EXEMPTION_CODE`` "M07", the code a demo config must
set as ``[invoice.exemptions] domestic_goods``); one digital product; one with unlimited stock.
Prices include VAT. Two locations: 1 Armazém Lisboa (main), 2 Loja Porto.

iGEST: the same entity's articles for most SKUs (``IGEST_MISSING`` are absent, so
sync-products has work), some with a different stock (``IGEST_STOCK``) or an old price.

Orders 10001-10016, created in November 2026 before ``SEED_REFERENCE`` (deterministic):
see ``seed_orders`` for what each one exercises. Every figure follows the money model.

Factories: ``make_order``/``LineSpec``/``Buyer`` (jumpseller/orders.py), ``generate_orders`` and
``generate_catalogue`` (here), ``seed_line_specs`` (the seed items as order lines) and
``seed_line`` (one of them by SKU, with a quantity and changes).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from igest_sandbox.jumpseller.orders import Buyer, LineSpec, make_order, random_nif
from igest_sandbox.jumpseller.store import Product, Variant
from igest_sandbox.money import round2

__all__ = [
    "SEED_EXEMPTION_CODE",
    "SEED_REFERENCE",
    "Buyer",
    "LineSpec",
    "generate_catalogue",
    "generate_orders",
    "make_order",
    "seed_line",
    "seed_line_specs",
    "seed_orders",
    "seed_products",
]

SEED_REFERENCE = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
SEED_EXEMPTION_CODE = "M07"
ENTITY_NIF = "509999999"
# Jumpseller payment_method_type -> a sensible iGEST payment code, for demo configs.
SUGGESTED_PAYMENT_METHODS = {
    "multibanco": "MB",
    "mbway": "MB",
    "credit_card": "CC",
    "paypal": "OU",
    "bank_transfer": "TB",
}

# id, name, VAT %, type, (option name, option type) or None,
#     [(sku, option value, price incl. VAT, stock; None = unlimited)]
_CATALOGUE: list[
    tuple[int, str, str, str, tuple[str, str] | None, list[tuple[str, str | None, str, int | None]]]
] = [
    (
        1001,
        "Azulejo pintado à mão 15x15 cm",
        "23",
        "physical",
        ("Padrão", "option"),
        [
            ("AZL-LIS", "Lisboa", "12.90", 40),
            ("AZL-POR", "Porto", "12.90", 25),
            ("AZL-SIN", "Sintra", "14.50", 8),
        ],
    ),
    (
        1002,
        "Caneca de grés",
        "23",
        "physical",
        ("Cor", "color"),
        [
            ("CAN-AZU", "Azul", "9.99", 60),
            ("CAN-AMA", "Amarelo", "9.99", 35),
            ("CAN-VER", "Verde", "9.99", 0),
        ],
    ),
    (
        1003,
        'T-shirt "Saudade"',
        "23",
        "physical",
        ("Tamanho", "option"),
        [
            ("TSH-S", "S", "19.90", 12),
            ("TSH-M", "M", "19.90", 20),
            ("TSH-L", "L", "19.90", 18),
            ("TSH-XL", "XL", "21.90", 5),
        ],
    ),
    (1004, "Avental de linho", "23", "physical", None, [("AVL-001", None, "24.50", 15)]),
    (1005, "Azeite virgem extra 500 ml", "6", "physical", None, [("AZT-500", None, "8.75", 80)]),
    (1006, "Mel de rosmaninho 250 g", "6", "physical", None, [("MEL-250", None, "6.40", 30)]),
    (
        1007,
        "Conserva de sardinha em azeite",
        "6",
        "physical",
        None,
        [("SRD-120", None, "3.95", 120)],
    ),
    (
        1008,
        "Vinho do Porto Tawny 10 anos 75 cl",
        "13",
        "physical",
        None,
        [("VPT-10", None, "27.90", 24)],
    ),
    (
        1009,
        'Livro "Azulejaria Portuguesa" (edição da associação)',
        "0",
        "physical",
        None,
        [("LIV-AZP", None, "18.00", 10)],
    ),
    (
        1010,
        "Postal ilustrado (impressão a pedido)",
        "23",
        "physical",
        None,
        [("PST-ILU", None, "2.50", None)],
    ),
    (
        1011,
        "Curso online: pintura de azulejo",
        "23",
        "digital",
        None,
        [("CUR-ONL", None, "49.00", None)],
    ),
    (1012, 'Saco de pano "Lisboa"', "23", "physical", None, [("SAC-LIS", None, "7.50", 50)]),
]

PORTO_STOCK = {"AZL-POR": 5, "CAN-AZU": 6}  # location 2 / warehouse ARM2
IGEST_MISSING = frozenset({"PST-ILU", "SAC-LIS", "TSH-XL"})
IGEST_STOCK = {"AZL-SIN": 10, "AZT-500": 72, "CAN-AMA": 34}  # totals differing from Jumpseller
IGEST_OLD_PRICE = {"VPT-10": "26.90"}  # VAT-inclusive price iGEST still has


def seed_products() -> list[Product]:
    created = SEED_REFERENCE - timedelta(days=120)
    products, variant_id = [], 5001
    for pid, name, rate, kind, option, items in _CATALOGUE:
        product = Product(
            id=pid,
            name=name,
            price=Decimal(items[0][2]),
            vat_rate=Decimal(rate),
            type=kind,
            brand="Loja do Azulejo",
            created_at=created,
            updated_at=created,
            category=(1, "Loja"),
            weight=Decimal(0) if kind == "digital" else Decimal("0.5"),
            description=f"<p>{name}, feito em Portugal.</p>",
        )
        if option is None:
            sku, _, price, stock = items[0]
            product.sku, product.barcode = sku, f"560{pid:06d}0001"
            product.stock, product.stock_unlimited = stock or 0, stock is None
        else:
            for n, (sku, value, price, stock) in enumerate(items):
                product.variants.append(
                    Variant(
                        id=variant_id,
                        sku=sku,
                        price=Decimal(price),
                        stock=stock or 0,
                        stock_unlimited=stock is None,
                        barcode=f"560{pid:06d}{n + 1:04d}",
                        options=((option[0], option[1], value or ""),),
                    )
                )
                variant_id += 1
        products.append(product)
    return products


def seed_line_specs() -> list[LineSpec]:
    """Every seed item as a qty-1 order line (ids, SKU, price, rate, digital)."""
    return list(_seed_specs())


def seed_line(sku: str, qty: int = 1, **changes: Any) -> LineSpec:
    """The seed item ``sku`` as an order line of ``qty``, with ``changes`` (price ...)."""
    return replace(_seed_specs_by_sku()[sku], qty=qty, **changes)


@functools.cache
def _seed_specs_by_sku() -> dict[str, LineSpec]:
    return {spec.sku or "": spec for spec in _seed_specs()}


@functools.cache
def _seed_specs() -> tuple[LineSpec, ...]:
    # Made once per process: every seeded sandbox looks up about 25 lines by SKU, and each
    # lookup used to build the whole catalogue again. The specs are frozen, safe to share.
    specs = []
    for product in seed_products():
        rate = product.vat_rate if product.vat_rate else None
        digital = product.type == "digital"
        if not product.variants:
            specs.append(
                LineSpec(
                    name=product.name,
                    price=product.price,
                    sku=product.sku,
                    rate=rate,
                    product_id=product.id,
                    digital=digital,
                )
            )
        for v in product.variants:
            specs.append(
                LineSpec(
                    name=f"{product.name} - {v.options[0][2]}",
                    price=v.price,
                    sku=v.sku,
                    rate=rate,
                    product_id=product.id,
                    variant_id=v.id,
                    digital=digital,
                )
            )
    return tuple(specs)


def store_info(code: str) -> dict[str, Any]:
    return {
        "name": "Loja do Azulejo",
        "code": code,
        "currency": "EUR",
        "country": "PT",
        "timezone": "Europe/Lisbon",
        "email": "loja@lojadoazulejo.example.pt",
        "hooks_token": "sandbox-hooks-token-not-secret",
        "url": "https://loja-do-azulejo.jumpseller.com",
        "logo": None,
        "weight_unit": "kg",
        "subscription_status": "active",
        "subscription_plan": "plus",
        "fb_pixel_id": None,
        "address": {
            "address": "Rua dos Azulejos 12",
            "city": "Lisboa",
            "postal": "1100-001",
            "region": "Lisboa",
            "country": "Portugal",
            "region_code": "14",
            "country_code": "PT",
        },
        "whatsapp_phone": None,
    }


def seed_locations() -> list[dict[str, Any]]:
    def location(lid: int, name: str, main: bool, city: str, postal: str) -> dict[str, Any]:
        return {
            "id": lid,
            "name": name,
            "email": "loja@lojadoazulejo.example.pt",
            "active": True,
            "main": main,
            "pickup_point": not main,
            "is_stock_origin": True,
            "location_address": {
                "id": 100 + lid,
                "name": name,
                "surname": None,
                "address": "Rua dos Azulejos" if main else "Rua de Santa Catarina",
                "street_number": "12" if main else "210",
                "complement": None,
                "city": city,
                "postal": postal,
                "country": "PT",
                "region": city,
                "type": "store",
                "taxid": ENTITY_NIF,
                "taxid_type": "NIF",
                "default": main,
                "region_format": None,
                "municipality": city,
                "latitude": None,
                "longitude": None,
            },
        }

    return [
        location(1, "Armazém Lisboa", True, "Lisboa", "1100-001"),
        location(2, "Loja Porto", False, "Porto", "4000-443"),
    ]


# --------------------------------------------------------------------------------------------
# iGEST side


def igest_seed_products() -> list[dict[str, Any]]:
    """iGEST articles for the seed SKUs: net prices, stock per warehouse (ARM1, ARM2)."""
    articles = []
    products = seed_products()
    for spec in _seed_specs():
        if spec.sku in IGEST_MISSING:
            continue
        rate = spec.rate or Decimal(0)
        gross = Decimal(IGEST_OLD_PRICE.get(spec.sku or "", spec.price))
        net = (gross * 100 / (100 + rate)).quantize(Decimal("0.000001"))
        product, variant = _seed_item(products, spec.sku or "")
        holder = variant or product
        total = IGEST_STOCK.get(spec.sku or "", holder.stock)
        porto = PORTO_STOCK.get(spec.sku or "", 0)
        articles.append(
            {
                "reference": spec.sku,
                "description": spec.name,
                "type": "S" if spec.digital else "P",
                "price": net,
                "vat_rate": rate,
                "exemption_code": SEED_EXEMPTION_CODE if rate == 0 else None,
                "barcode": holder.barcode,
                "stock": {}
                if spec.digital or holder.stock_unlimited
                else {"ARM1": total - porto, "ARM2": porto},
            }
        )
    return articles


def _seed_item(products: list[Product], sku: str) -> tuple[Product, Variant | None]:
    for product in products:
        if product.sku == sku:
            return product, None
        for variant in product.variants:
            if variant.sku == sku:
                return product, variant
    raise KeyError(sku)


# --------------------------------------------------------------------------------------------
# Orders

BUYERS = {
    "marta": Buyer("Marta", "Silva", "marta.silva@example.pt", "912345678"),
    "joao": Buyer(
        "João",
        "Ferreira",
        "joao.ferreira@example.pt",
        "913000111",
        address="Rua de Cedofeita",
        street_number=45,
        city="Porto",
        postal="4050-180",
        region="Porto",
        region_code="17",
        municipality="Porto",
        taxid="123456789",
    ),
    "tasca": Buyer(
        "Rui",
        "Costa",
        "compras@tascadolargo.example.pt",
        "239000222",
        address="Largo da Portagem",
        street_number=3,
        city="Coimbra",
        postal="3000-337",
        region="Coimbra",
        region_code="06",
        municipality="Coimbra",
        taxid="512345678",
        company="Tasca do Largo, Lda.",
    ),
    "atelier": Buyer(
        "Helena",
        "Oliveira",
        "helena@atelieroliveira.example.pt",
        address="Rua do Souto",
        street_number=77,
        city="Braga",
        postal="4700-329",
        region="Braga",
        region_code="03",
        municipality="Braga",
        taxid="508123453",
        company="Atelier Oliveira, Unipessoal Lda.",
    ),
    "ines": Buyer(
        "Inês",
        "Pereira",
        "ines.pereira@example.pt",
        "914555666",
        city="Braga",
        postal="4700-001",
        region="Braga",
        municipality="Braga",
    ),
    "pedro": Buyer("Pedro", "Santos", "pedro.santos@example.pt", "915777888"),
    "sofia": Buyer(
        "Sofia",
        "Martins",
        "sofia.martins@example.pt",
        city="Faro",
        postal="8000-001",
        region="Faro",
        municipality="Faro",
        taxid="256789010",
    ),
    "ana": Buyer("Ana", "Gomes", "ana.gomes@example.pt", "916000999", taxid="219876541"),
    "tiago": Buyer("Tiago", "Sousa", "tiago.sousa@example.pt"),
    "beatriz": Buyer("Beatriz", "Costa", "beatriz.costa@example.pt", "917123123"),
}


def _day(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, 11, tzinfo=UTC)


def seed_orders() -> list[dict[str, Any]]:
    """The seed orders; the comment on each says what it exercises."""
    b = BUYERS
    mb, card = ("Multibanco", "multibanco"), ("Cartão de crédito", "credit_card")
    mbway, paypal = ("MB WAY", "mbway"), ("PayPal", "paypal")
    transfer = ("Transferência bancária", "bank_transfer")
    return [
        # Consumer without NIF; two VAT-inclusive lines at 23 %; shipping 3.90 with 23 % VAT.
        make_order(
            10001,
            [seed_line("CAN-AZU", 2), seed_line("AZL-LIS")],
            created_at=_day(2, 10, 14),
            buyer=b["marta"],
            shipping="3.90",
            payment=mb,
        ),
        # NIF in billing taxid; 6 %, 13 % and 23 % lines.
        make_order(
            10002,
            [seed_line("AZT-500", 2), seed_line("VPT-10"), seed_line("TSH-M")],
            created_at=_day(3, 16, 40),
            buyer=b["joao"],
            shipping="4.90",
            payment=card,
        ),
        # Company (name + NIF); a 10 % coupon spread over the lines.
        make_order(
            10003,
            [seed_line("AZL-POR", 4), seed_line("AZL-SIN", 2), seed_line("CAN-AMA", 6)],
            created_at=_day(5, 9, 5),
            buyer=b["tasca"],
            order_discount="14.05",
            coupon="AZULEJO10",
            shipping="6.90",
            payment=transfer,
        ),
        # Prices EXCLUDING VAT (B2B); shipping VAT on top too. Round figures so that iGEST's
        # per-rate rounding gives the same VAT as Jumpseller's per-line rounding.
        make_order(
            10004,
            [
                seed_line("AVL-001", 5, price=Decimal("20.00")),
                seed_line("MEL-250", 10, price=Decimal("5.00")),
            ],
            created_at=_day(6, 11, 30),
            buyer=b["atelier"],
            prices_include_tax=False,
            shipping="5.00",
            payment=transfer,
        ),
        # Free shipping (no shipping tax entry).
        make_order(
            10005,
            [seed_line("SAC-LIS", 2), seed_line("PST-ILU", 5)],
            created_at=_day(8, 20, 2),
            buyer=b["ines"],
            shipping=0,
            shipping_method="Envio grátis",
            payment=mbway,
        ),
        # Shipping discount of 2.00 on 4.90.
        make_order(
            10006,
            [seed_line("MEL-250"), seed_line("SRD-120", 3)],
            created_at=_day(9, 13, 45),
            buyer=b["beatriz"],
            shipping="4.90",
            shipping_discount="2.00",
            payment=mb,
        ),
        # Gift card of 12.00: total is 12.00 less than the value of the sale.
        make_order(
            10007,
            [seed_line("TSH-L"), seed_line("AZL-SIN")],
            created_at=_day(10, 18, 20),
            buyer=b["marta"],
            shipping="3.90",
            gift_card="12.00",
            payment=card,
        ),
        # NIF in the checkout custom field "NIF", not in the billing address.
        make_order(
            10008,
            [seed_line("VPT-10", 2)],
            created_at=_day(11, 21, 9),
            buyer=b["pedro"],
            shipping="4.90",
            additional_fields=[("NIF", "234567899")],
            payment=mbway,
        ),
        # Digital only: no shipping required.
        make_order(
            10009,
            [seed_line("CUR-ONL")],
            created_at=_day(12, 8, 55),
            buyer=b["sofia"],
            payment=paypal,
        ),
        # The exempt book (0 %, no tax entry) with a 6 % line.
        make_order(
            10010,
            [seed_line("LIV-AZP"), seed_line("AZT-500")],
            created_at=_day(13, 15, 0),
            buyer=b["ana"],
            shipping="3.90",
            payment=mb,
        ),
        # 3 x 9.99 at 23 % inclusive (base 24.37, VAT 5.60, total 29.97); store pickup.
        make_order(
            10011,
            [seed_line("CAN-AZU", 3)],
            created_at=_day(14, 12, 31),
            buyer=b["tiago"],
            shipping_method="Levantamento na loja",
            shipping_option="store_pickup",
            payment=card,
        ),
        # Paid, then refunded: canceled with completed_at kept.
        make_order(
            10012,
            [seed_line("AVL-001")],
            created_at=_day(15, 10, 10),
            status="canceled",
            completed_at=_day(15, 10, 18),
            buyer=b["ines"],
            shipping="3.90",
            payment=card,
        ),
        # Canceled without ever being paid.
        make_order(
            10013,
            [seed_line("CAN-AMA")],
            created_at=_day(17, 9, 12),
            status="canceled",
            buyer=b["beatriz"],
            shipping="3.90",
            payment=mb,
        ),
        # Abandoned cart.
        make_order(
            10014,
            [seed_line("TSH-S")],
            created_at=_day(18, 22, 47),
            status="abandoned",
            buyer=b["pedro"],
            shipping="3.90",
            payment=mb,
        ),
        # Multibanco reference not paid yet (tests pay it later).
        make_order(
            10015,
            [seed_line("AZL-LIS", 6)],
            created_at=_day(18, 23, 58),
            status="pending_payment",
            buyer=b["joao"],
            shipping="5.90",
            payment=mb,
        ),
        # MB WAY not paid yet, with NIF.
        make_order(
            10016,
            [seed_line("SRD-120", 4), seed_line("MEL-250", 2)],
            created_at=_day(19, 7, 3),
            status="pending_payment",
            buyer=b["ana"],
            shipping="3.90",
            payment=mbway,
        ),
    ]


# --------------------------------------------------------------------------------------------
# Large catalogues

_NOUNS = (
    "Azulejo",
    "Caneca",
    "Prato",
    "Taça",
    "Jarra",
    "Vela",
    "Caderno",
    "Sabonete",
    "Toalha",
    "Cesto",
    "Galo de Barcelos",
    "Andorinha",
)
_ADJECTIVES = ("clássico", "moderno", "rústico", "artesanal", "pintado", "vidrado", "mini")
_SIZES = ("XS", "S", "M", "L", "XL", "XXL")


def generate_catalogue(
    n_variants: int, seed: int = 0, start_product_id: int = 100001, start_variant_id: int = 1000001
) -> Iterator[Product]:
    """Products holding ``n_variants`` sellable items in all, one product at a time.

    About a third are simple products (one item each); the rest have 2-6 size variants.
    SKUs are ``GEN-<product id>[-<size>]``; prices include VAT; deterministic per ``seed``.
    """
    rng = random.Random(seed)
    made, pid, vid = 0, start_product_id, start_variant_id
    created = SEED_REFERENCE - timedelta(days=200)
    while made < n_variants:
        rate = Decimal(rng.choice(("23", "23", "23", "13", "6")))
        name = f"{rng.choice(_NOUNS)} {rng.choice(_ADJECTIVES)} n.º {pid - start_product_id + 1}"
        price = Decimal(rng.randrange(150, 9990)) / 100
        product = Product(
            id=pid,
            name=name,
            price=price,
            vat_rate=rate,
            created_at=created,
            updated_at=created,
            brand="Loja do Azulejo",
        )
        count = 1 if rng.random() < 0.33 else min(rng.randint(2, 6), n_variants - made)
        if count == 1:
            product.sku, product.stock = f"GEN-{pid}", rng.randrange(0, 200)
            product.barcode = f"2{pid:011d}"
        else:
            for size in _SIZES[:count]:
                product.variants.append(
                    Variant(
                        id=vid,
                        sku=f"GEN-{pid}-{size}",
                        price=price,
                        stock=rng.randrange(0, 60),
                        options=(("Tamanho", "option", size),),
                    )
                )
                vid += 1
        made += count
        pid += 1
        yield product


_FIRST = ("Ana", "João", "Maria", "Pedro", "Inês", "Rui", "Sofia", "Tiago", "Beatriz", "Luís")
_LAST = ("Silva", "Santos", "Ferreira", "Pereira", "Costa", "Martins", "Sousa", "Gomes")
_PAYMENTS = (
    ("Multibanco", "multibanco"),
    ("MB WAY", "mbway"),
    ("Cartão de crédito", "credit_card"),
    ("PayPal", "paypal"),
)


def generate_orders(
    n: int,
    seed: int = 0,
    start_id: int = 20001,
    *,
    items: Sequence[LineSpec] | None = None,
    start: datetime | None = None,
    spacing: timedelta = timedelta(minutes=37),
    paid_share: float = 0.85,
    shipping_rate: Decimal | None = Decimal(23),
) -> Iterator[dict[str, Any]]:
    """``n`` orders with ids from ``start_id``, created ``spacing`` apart, one at a time.

    Deterministic for a ``seed``. Lines come from ``items`` (default: the seed catalogue's
    sellable items). Prices include VAT (the Portuguese case, and one whose documents always
    match the total to the cent). About ``paid_share`` are paid; the rest are pending,
    canceled or abandoned. ``shipping_rate`` None: shipping without a tax entry.
    """
    rng = random.Random(seed)
    pool = list(items) if items is not None else seed_line_specs()
    moment = start or (SEED_REFERENCE - spacing * n)
    for i in range(n):
        chosen = rng.sample(pool, k=min(len(pool), rng.randint(1, 4)))
        lines = [replace(item, qty=rng.randint(1, 3)) for item in chosen]
        digital = all(item.digital for item in lines)
        roll = rng.random()
        status = (
            "paid"
            if roll < paid_share
            else rng.choice(("pending_payment", "pending_payment", "canceled", "abandoned"))
        )
        subtotal = sum((item.price * item.qty for item in lines), Decimal(0))
        discount = (
            round2(subtotal * Decimal(rng.choice((5, 10, 15))) / 100)
            if rng.random() < 0.2
            else Decimal(0)
        )
        shipping = Decimal(rng.choice(("3.90", "4.90", "0")))
        gift = Decimal(rng.choice(("5.00", "10.00"))) if rng.random() < 0.08 else Decimal(0)
        name, surname = rng.choice(_FIRST), rng.choice(_LAST)
        buyer = Buyer(
            name,
            surname,
            f"{name.lower()}.{surname.lower()}{i}@example.pt",
            taxid=random_nif(rng) if rng.random() < 0.4 else None,
            customer_id=100000 + rng.randrange(5000),
        )
        try:
            yield make_order(
                start_id + i,
                lines,
                created_at=moment,
                status=status,
                buyer=buyer,
                order_discount=discount,
                coupon="PROMO" if discount else None,
                shipping=0 if digital else shipping,
                shipping_discount=0,
                gift_card=gift,
                payment=rng.choice(_PAYMENTS),
                shipping_rate=shipping_rate,
            )
        except ValueError:  # a gift card above a tiny order: drop the card
            yield make_order(
                start_id + i,
                lines,
                created_at=moment,
                status=status,
                buyer=buyer,
                order_discount=discount,
                coupon="PROMO" if discount else None,
                shipping=0 if digital else shipping,
                payment=rng.choice(_PAYMENTS),
                shipping_rate=shipping_rate,
            )
        moment += spacing
