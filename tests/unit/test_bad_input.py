"""Bad input from the wire and from people: each refused with a message that names the item.

Orders start as the JSON Jumpseller sends (the sandbox's ``make_order``, every money field
from the money model), get one defect, and go through the real path: ``parse_order`` then
``build_document``. A refusal must name the order, and the product, field or value at fault.
The CLI side (state files, config files, what is printed) is in tests/faults/test_bad_input_cli.py.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from igest_sandbox.jumpseller.orders import Buyer, make_order
from igest_sync.adapters.igest import document_body
from igest_sync.adapters.jumpseller.parse import parse_order
from igest_sync.config import InvoiceConfig, load_config
from igest_sync.errors import BadResponse, ConfigError, OrderRejected
from igest_sync.fiscal.mapping import build_document, expected_gross
from igest_sync.models import DocumentDraft
from igest_sync.references import external_reference

ORDER_ID = 4242
SETTINGS = InvoiceConfig(
    start_date=date(2026, 11, 1),
    product_exemption_code="M07",
    shipping_exemption_code="M07",
    warehouse="ARM1",
)


def wire(**kwargs: Any) -> dict[str, Any]:
    """A valid paid order as Jumpseller sends it: two mugs at 9.99 and 3.90 shipping."""
    lines = kwargs.pop(
        "lines",
        [
            {
                "sku": "CAN-AZU",
                "name": "Caneca de grés",
                "price": "9.99",
                "qty": 2,
                "rate": 23,
                "product_id": 501,
            }
        ],
    )
    return make_order(
        ORDER_ID,
        lines,
        created_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
        shipping="3.90",
        **kwargs,
    )


def build(raw: dict[str, Any]) -> DocumentDraft:
    # Through JSON text, as the adapter reads it: numbers become Decimal, strings stay strings.
    text = json.dumps({"order": raw}, default=str)
    parsed = json.loads(text, parse_float=Decimal)
    order = parse_order(parsed)
    return build_document(
        order,
        SETTINGS,
        reference=external_reference("loja", order.id),
        issue_date=date(2026, 11, 27),
    )


def refusal(raw: dict[str, Any]) -> str:
    with pytest.raises(OrderRejected) as caught:
        build(raw)
    text = str(caught.value) + (f" ({caught.value.hint})" if caught.value.hint else "")
    assert text.startswith(f"Order {ORDER_ID}: "), text
    assert "\n" not in text and "Traceback" not in text
    return text


def test_the_valid_order_is_the_baseline():
    draft = build(wire())
    assert draft.gross_total == Decimal("23.88")
    assert [line.reference for line in draft.lines] == ["CAN-AZU", "PORTES"]


# -- missing and null fields -------------------------------------------------------------------


def _without(path: tuple, *, null: bool) -> dict[str, Any]:
    raw = wire()
    target = raw
    for key in path[:-1]:
        target = target[key]
    if null:
        target[path[-1]] = None
    else:
        del target[path[-1]]
    return raw


@pytest.mark.parametrize("null", [False, True], ids=["missing", "null"])
@pytest.mark.parametrize(
    "path, words",
    [
        (("total",), "total is missing"),
        (("currency",), "currency is missing"),
        (("products", 0, "qty"), "products[0].qty is missing"),
        (("products", 0, "price"), "products[0].price is missing"),
    ],
)
def test_a_missing_or_null_field_is_named(path: tuple, words: str, null: bool):
    text = refusal(_without(path, null=null))
    assert "could not be read" in text and words in text


def test_a_missing_status_is_named():
    raw = wire()
    raw["status"] = raw["status_enum"] = raw["status_name"] = None
    order = parse_order({"order": raw})
    assert "status is missing" in order.defects


def test_null_products_are_an_order_without_products():
    raw = wire()
    raw["products"] = None
    assert "the order has no products" in refusal(raw)


def test_a_product_that_is_not_an_object_is_named():
    raw = wire()
    raw["products"].append("Caneca")
    assert "products[1] is 'Caneca', not a product" in refusal(raw)


def test_an_unreadable_payment_time_is_named():
    raw = wire()
    raw["completed_at"] = "ontem à tarde"
    assert "completed_at is 'ontem à tarde', not a date" in refusal(raw)


def test_null_billing_and_customer_give_a_final_consumer_document():
    raw = wire()
    raw["billing_address"] = None
    raw["customer"] = None
    draft = build(raw)
    assert draft.customer.nif is None and draft.gross_total == Decimal("23.88")


@pytest.mark.parametrize("value", [None, "", "abc", True, "²"])
def test_an_order_without_a_usable_id_cannot_be_named_and_is_a_bad_response(value):
    raw = wire()
    raw["id"] = value
    with pytest.raises(BadResponse) as caught:
        parse_order({"order": raw})
    assert "without a valid id" in str(caught.value)


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_a_payment_time_past_the_calendar_is_refused_naming_the_field(stamp):
    # Shifting it to UTC overflows: the order is refused by name, the run goes on.
    raw = wire()
    raw["completed_at"] = stamp
    assert "completed_at" in refusal(raw) and "not a date" in refusal(raw)


@pytest.mark.parametrize(
    "field,value", [("price", "1e30"), ("qty", "1e999"), ("discount", "1E+40")]
)
def test_an_implausibly_large_number_is_refused_naming_the_field(field, value):
    # Past any shop's amounts it would overflow the cent arithmetic: a defect, not a crash.
    raw = wire()
    raw["products"][0][field] = value
    text = refusal(raw)
    assert f"products[0].{field}" in text and "not a number" in text


# -- quantities and prices ----------------------------------------------------------------------


@pytest.mark.parametrize("qty", [0, -1, "-2"])
def test_zero_or_negative_quantities_are_refused_naming_the_product(qty):
    raw = wire()
    raw["products"][0]["qty"] = qty
    text = refusal(raw)
    assert 'product "Caneca de grés" (SKU CAN-AZU)' in text
    assert f"quantity {qty}" in text and "must be positive" in text


def test_a_negative_price_is_refused_naming_the_product():
    raw = wire()
    raw["products"][0]["price"] = Decimal("-9.99")
    text = refusal(raw)
    assert "SKU CAN-AZU" in text and "negative or missing price (-9.99)" in text


def _money_as_strings(value: Any) -> Any:
    """Every number in the order, ids and quantities included, as a string."""
    if isinstance(value, dict):
        return {k: _money_as_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_money_as_strings(v) for v in value]
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    return value


def test_numeric_strings_are_accepted_and_give_the_same_document():
    numbers = wire(order_discount="2.00", gift_card="5.00")
    strings = _money_as_strings(copy.deepcopy(numbers))
    assert strings["total"] == "16.88" and strings["products"][0]["price"] == "9.99"
    expected, got = build(numbers), build(strings)
    assert got == expected
    assert got.gross_total == expected_gross(parse_order({"order": numbers})) == Decimal("21.88")
    assert [(line.quantity, line.unit_price) for line in got.lines] == [
        (line.quantity, line.unit_price) for line in expected.lines
    ]


def test_amounts_a_server_summed_in_binary_floats_give_the_same_document():
    # The spec types money as JSON numbers: a server that adds them as doubles (a mug, the
    # shipping, the other mug) sends 23.880000000000003. Read as written, the order was refused
    # ("document total 23.88 EUR would differ from the 23.88 EUR the customer paid") and waited.
    exact = wire()
    floats = json.loads(json.dumps({"order": exact}, default=str))
    floats["order"]["total"] = 9.99 + 3.90 + 9.99
    text = json.dumps(floats)
    assert '"total": 23.880000000000003' in text
    order = parse_order(json.loads(text, parse_float=Decimal))
    draft = build_document(
        order,
        SETTINGS,
        reference=external_reference("loja", order.id),
        issue_date=date(2026, 11, 27),
    )
    assert draft == build(exact) and draft.gross_total == Decimal("23.88")


@pytest.mark.parametrize("field, value", [("price", "9,99"), ("qty", "dois"), ("discount", "NaN")])
def test_a_string_that_is_not_a_number_is_named(field: str, value: str):
    raw = wire()
    raw["products"][0][field] = value
    assert f"products[0].{field} is {value!r}, not a number" in refusal(raw)


def test_an_unreadable_order_total_is_named():
    raw = wire()
    raw["total"] = "23.88 EUR"
    assert "total is '23.88 EUR', not a number" in refusal(raw)


# -- taxes -------------------------------------------------------------------------------------


def _tax(**changes: Any) -> list[dict[str, Any]]:
    tax = {"id": 1, "name": "IVA 23%", "rate": 23, "fixed": False, "tax_on_product_price": True}
    return [{**tax, **changes}]


@pytest.mark.parametrize(
    "taxes, words",
    [
        ("IVA 23%", "products[0].taxes[0] is 'IVA 23%', not a tax"),
        ([23], "products[0].taxes[0] is 23, not a tax"),
        (_tax(rate="vinte e três"), "products[0].taxes[0].rate is 'vinte e três', not a number"),
        (_tax(rate=None), "has a tax 'IVA 23%' without a rate"),
        (_tax(fixed=True), "has a fixed (monetary) tax 'IVA 23%'"),
        (_tax() + _tax(name="Selo", rate=6), "has 2 taxes ('IVA 23%', 'Selo')"),
        (_tax(rate=21, name="IVA 21%"), "has VAT rate 21 %, which is not legal in PT"),
    ],
)
def test_an_unknown_tax_structure_is_refused_naming_the_product(taxes, words: str):
    raw = wire()
    raw["products"][0]["taxes"] = taxes
    text = refusal(raw)
    assert words in text, text
    if "could not be read" not in text:
        assert "SKU CAN-AZU" in text


def test_a_single_tax_object_instead_of_a_list_is_read_as_that_tax():
    # The spec's ambiguity (one object where a list is expected) is tolerated, not guessed at.
    raw = wire()
    raw["products"][0]["taxes"] = _tax()[0]
    assert build(raw) == build(wire())


def test_an_unknown_shipping_tax_is_refused_naming_shipping():
    raw = wire()
    raw["shipping_taxes"][0]["rate"] = 7
    assert "shipping has VAT rate 7 %" in refusal(raw)


# -- totals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("delta", ["0.01", "-0.02", "10.00"])
def test_an_order_whose_total_does_not_add_up_is_refused_with_both_figures(delta: str):
    raw = wire()
    raw["total"] = raw["total"] + Decimal(delta)
    text = refusal(raw)
    paid = Decimal("23.88") + Decimal(delta)
    assert f"would differ from the {paid:.2f} EUR the customer paid" in text
    assert "add up to 23.88 EUR" in text and "invoice it by hand" in text


def test_a_one_cent_gap_that_net_prices_can_carry_is_issued_at_what_was_paid_with_a_warning():
    # Jumpseller may round VAT another way; when a price mode reaches what was paid to the
    # cent, that is what the document carries, and the warning names both figures.
    raw = wire()
    raw["total"] = Decimal("23.87")
    draft = build(raw)
    assert draft.gross_total == Decimal("23.87")
    assert any("add up to 23.88 EUR" in w and "23.87 EUR" in w for w in draft.warnings)


# -- NIFs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("taxid", ["12345678A", "PT12345678A", "1234S6789", "ES12345678A"])
def test_a_nif_with_letters_is_refused_naming_it_and_the_way_out(taxid: str):
    text = refusal(wire(buyer=Buyer("Rita", "Lopes", "rita@example.pt", taxid=taxid)))
    assert f"NIF {taxid!r} is invalid" in text
    assert f"resend {ORDER_ID} --nif" in text and "--as-consumer" in text


@pytest.mark.parametrize("taxid", ["PT 123 456 789", "123.456.789", "pt123456789"])
def test_a_valid_nif_typed_with_separators_or_prefix_is_cleaned(taxid: str):
    draft = build(wire(buyer=Buyer("Rita", "Lopes", "rita@example.pt", taxid=taxid)))
    assert draft.customer.nif == "123456789"


@pytest.mark.parametrize("taxid", ["ABC", "XY123456789"])
def test_letters_that_are_no_country_prefix_are_an_invalid_nif_for_a_portuguese_customer(
    taxid: str,
):
    text = refusal(wire(buyer=Buyer("Rita", "Lopes", "rita@example.pt", taxid=taxid)))
    assert f"NIF {taxid!r} is invalid" in text


# -- SKUs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sku, reference",
    [
        ("  CAN AZU  ", "CAN AZU"),  # inner spaces kept, the edges trimmed
        ("AZULEJO-Nº5-AÇÚCAR", "AZULEJO-Nº5-AÇÚCAR"),
        ("ТАРЕЛКА/синяя 12", "ТАРЕЛКА/синяя 12"),
        ("🐓-GALO", "🐓-GALO"),
    ],
)
def test_skus_with_spaces_or_unicode_are_kept_exactly_on_the_wire(sku: str, reference: str):
    raw = wire(lines=[{"sku": sku, "name": "Azulejo", "price": "9.99", "qty": 2, "rate": 23}])
    draft = build(raw)
    assert draft.lines[0].reference == reference
    body = json.loads(json.dumps(document_body(draft, finalize=False), ensure_ascii=False))
    assert body["lines"][0]["reference"] == reference


def test_a_blank_sku_falls_back_to_the_product_id_with_a_warning_naming_it():
    raw = wire(
        lines=[
            {
                "sku": "   ",
                "name": "Azulejo",
                "price": "9.99",
                "qty": 2,
                "rate": 23,
                "product_id": 501,
            }
        ]
    )
    draft = build(raw)
    assert draft.lines[0].reference == "JS-501"
    assert any('"Azulejo" has no SKU; used the reference JS-501' in w for w in draft.warnings)


def test_a_blank_sku_without_a_product_id_is_refused_naming_the_product():
    raw = wire(lines=[{"sku": " ", "name": "Azulejo", "price": "9.99", "qty": 2, "rate": 23}])
    assert 'product "Azulejo"' in refusal(raw) and "neither a SKU nor a product id" in refusal(raw)


# -- configuration -----------------------------------------------------------------------------

TOKEN = "tok-bad-input-9f27c1"
SECURITY = "sec-bad-input-55e0d2"

CONFIG = f"""\
[jumpseller]
base_url = "https://api.jumpseller.com/v1"
login = "mystore"
auth_token = "{TOKEN}"

[igest]
base_url = "https://igest.example.pt/api/v1"
integration_key = "key-bad-input-1"
security_code = "{SECURITY}"

[invoice]
start_date = 2026-11-01
"""


def _problems(tmp_path: Path, text: str) -> tuple[str, list[str]]:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    return str(caught.value), caught.value.problems


def test_wrong_types_in_the_config_are_all_named_at_once(tmp_path: Path):
    text = CONFIG + 'concurrency = "four"\nlink_documents = "yes"\nseries = 7\n'
    message, problems = _problems(tmp_path, text)
    assert len(problems) == 3, problems
    for key in ("concurrency", "link_documents", "series"):
        assert any(p.startswith(f"config.toml: [invoice] {key}: expected") for p in problems), (
            key,
            problems,
        )
    assert str(tmp_path / "config.toml") in message


def test_a_start_date_that_is_not_a_date_is_named(tmp_path: Path):
    text = CONFIG.replace("start_date = 2026-11-01", 'start_date = "1st of November"')
    _, problems = _problems(tmp_path, text)
    assert any("[invoice] start_date: expected a date" in p for p in problems), problems


@pytest.mark.parametrize(
    "key, value", [("auth_token", "1234567890"), ("security_code", "['x-secret-y']")]
)
def test_a_secret_of_the_wrong_type_is_named_but_never_echoed(tmp_path: Path, key: str, value: str):
    section = "jumpseller" if key == "auth_token" else "igest"
    old = f'{key} = "{TOKEN if key == "auth_token" else SECURITY}"'
    text = CONFIG.replace(old, f"{key} = {value}")
    assert text != CONFIG
    message, problems = _problems(tmp_path, text)
    assert any(f"[{section}] {key}: expected a string" in p for p in problems), problems
    everything = message + "\n".join(problems)
    assert "1234567890" not in everything and "x-secret-y" not in everything


@pytest.mark.parametrize("value", ["abc", None])
def test_an_unreadable_total_says_so_beside_the_0_that_stands_for_it(value):
    # Its field holds 0 (a neutral value): reconcile must not call that what the customer paid.
    raw = wire()
    raw["total"] = value
    raw["products"][0]["qty"] = "x"  # a line's defect is not the total's
    order = parse_order({"order": raw})
    why = "total is 'abc', not a number" if value else "total is missing"
    assert order.total == 0 and order.total_unread == why and len(order.defects) == 2
    assert parse_order({"order": wire()}).total_unread is None
