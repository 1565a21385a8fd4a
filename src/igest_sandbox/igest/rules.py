"""iGEST's validation rules for the emulator: payload parsing with 400/409/422 errors.

Every problem of a payload is collected and reported together in ``fields`` (the key is the
JSON path, as in ``"lines[0].vat_rate"``), as the contract's error body shows.

Rules (contract, plus choices marked *):
* money, rates and quantities are decimal strings; unit prices up to 6 decimals, quantities
  above 0*, discount_percent 0-100*;
* a line's ``tax_country`` (default PT) is an EU Member State; a PT line's ``vat_rate`` is a
  rate of the taxes table (any region) or 0*, another country's line carries one of that
  country's rates (``tables.EU_RATES``); ``exemption_code`` is required exactly when the rate
  is 0 and must be on AT's list;
* texts within SAF-T's limits (``TEXT_LIMITS``) and free of control characters (Unicode
  category Cc), else 422 naming the field; the one exception* is a line feed in ``notes``,
  the only multi-line text (a carriage return is refused there too);
* ``customer.nif`` must pass the check digit when the customer's country is PT (the default);
  without a NIF the customer is the final consumer 999999990;
* ``type`` FT/FR/FS/NC with an active series of that type; ``warehouse`` must exist;
  ``currency`` EUR*; ``payment_method`` one of SAF-T's codes, required on an FR*;
* an NC needs ``related_document`` {number, reason} naming a final sales document.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from stdnum.pt import nif as pt_nif

from igest_sandbox.tables import EU_RATES, EXEMPTION_REASONS, PAYMENT_MECHANISMS

FINAL_CONSUMER = "999999990"
DOCUMENT_TYPES = ("FT", "FR", "FS", "NC")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
HOME_COUNTRY = "PT"

# SAF-T's text lengths (igest-api.md): beyond them a 422 naming the field.
TEXT_LIMITS = {
    "description": 200,
    "reference": 60,
    "name": 100,
    "address": 100,
    "city": 50,
    "postal_code": 20,
    "notes": 500,
}


def control_character(value: str, allowed: str = "") -> str | None:
    """The first control character of ``value`` not in ``allowed``, as "U+000A", or None."""
    for char in value:
        if unicodedata.category(char) == "Cc" and char not in allowed:
            return f"U+{ord(char):04X}"
    return None


class IgestError(Exception):
    """An error answer: status, code, message and per-field messages."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}


def not_found(what: str) -> IgestError:
    return IgestError(404, "not_found", f"{what} not found")


def conflict(message: str) -> IgestError:
    return IgestError(409, "conflict", message)


class Problems:
    """Collects field problems; ``raise_if_any`` turns them into one 422."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, path: str, message: str) -> None:
        self.fields.setdefault(path, message)

    def raise_if_any(self, message: str = "The document is not valid") -> None:
        if self.fields:
            raise IgestError(422, "validation_failed", message, self.fields)

    def decimal(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        *,
        required: bool = True,
        default: str | None = None,
        places: int | None = None,
        minimum: Decimal | None = None,
        above: Decimal | None = None,
        maximum: Decimal | None = None,
    ) -> Decimal | None:
        value = data.get(key, default)
        if value is None:
            if required:
                self.add(path, "is required")
            return None
        if not isinstance(value, str) or not _DECIMAL.match(value):
            self.add(path, 'must be a decimal string such as "12.30"')
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            self.add(path, "is not a number")
            return None
        if places is not None and "." in value and len(value.split(".")[1]) > places:
            self.add(path, f"has more than {places} decimals")
        if minimum is not None and number < minimum:
            self.add(path, f"must be at least {minimum}")
        if above is not None and number <= above:
            self.add(path, f"must be greater than {above}")
        if maximum is not None and number > maximum:
            self.add(path, f"must be at most {maximum}")
        return number

    def text(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        *,
        required: bool = True,
        max_length: int = 200,
        allowed: str = "",
    ) -> str | None:
        value = data.get(key)
        if value is None or value == "":
            if required:
                self.add(path, "is required")
            return None
        if not isinstance(value, str):
            self.add(path, "must be a string")
            return None
        if len(value) > max_length:
            self.add(path, f"is longer than {max_length} characters")
        found = control_character(value, allowed)
        if found:
            self.add(path, f"contains a control character ({found})")
        return value

    def exemption(self, rate: Decimal | None, code: Any, path: str) -> str | None:
        if rate is None:
            return None
        if rate == 0:
            if not code:
                self.add(path, "is required when vat_rate is 0")
            elif code not in EXEMPTION_REASONS:
                self.add(path, f"{code!r} is not on AT's list of exemption codes")
            return code or None
        if code:
            self.add(path, "must be empty when vat_rate is not 0")
        return None


def object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise IgestError(400, "bad_request", "The body must be a JSON object")
    return body


def valid_nif(value: str) -> bool:
    return value.isdigit() and len(value) == 9 and pt_nif.is_valid(value)


def parse_customer(data: Any, problems: Problems) -> dict[str, Any]:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.add("customer", "must be an object")
        data = {}
    nif = data.get("nif")
    country = data.get("country") or "PT"
    if nif in (None, ""):
        nif = None
    elif not isinstance(nif, str) or not nif.isalnum():
        problems.add("customer.nif", f"{nif!r} is not a tax number")
    elif country == "PT" and not valid_nif(nif):
        # Only Portuguese numbers have a check digit iGEST knows; foreign ones pass as given.
        problems.add("customer.nif", f"{nif!r} is not a valid Portuguese NIF (check digit)")
    for key in ("name", "address", "city", "postal_code"):
        problems.text(data, key, f"customer.{key}", required=False, max_length=TEXT_LIMITS[key])
    customer = {key: data.get(key) for key in ("name", "email", "address", "postal_code", "city")}
    customer["country"] = country
    customer["nif"] = nif or FINAL_CONSUMER
    if not customer["name"]:
        customer["name"] = "Consumidor final" if nif is None else None
        if nif is not None:
            problems.add("customer.name", "is required with a NIF")
    return customer


def parse_lines(data: Any, legal_rates: set[Decimal], problems: Problems) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not data:
        problems.add("lines", "at least one line is required")
        return []
    lines = []
    for i, line in enumerate(data):
        path = f"lines[{i}]"
        if not isinstance(line, dict):
            problems.add(path, "must be an object")
            continue
        rate = problems.decimal(line, "vat_rate", f"{path}.vat_rate", minimum=Decimal(0))
        country = parse_tax_country(line.get("tax_country"), f"{path}.tax_country", problems)
        if rate is not None and country == HOME_COUNTRY and rate not in legal_rates:
            problems.add(f"{path}.vat_rate", f"{line['vat_rate']} is not a rate of the taxes table")
        elif (
            rate is not None
            and country
            and country != HOME_COUNTRY
            and rate not in EU_RATES[country]
        ):
            known = ", ".join(f"{r:.2f}" for r in sorted(EU_RATES[country], reverse=True))
            problems.add(
                f"{path}.vat_rate", f"{line['vat_rate']} is not a VAT rate of {country} ({known})"
            )
        parsed = {
            "reference": problems.text(
                line, "reference", f"{path}.reference", max_length=TEXT_LIMITS["reference"]
            ),
            "description": problems.text(
                line, "description", f"{path}.description", max_length=TEXT_LIMITS["description"]
            ),
            "quantity": problems.decimal(
                line, "quantity", f"{path}.quantity", places=6, above=Decimal(0)
            ),
            "unit_price": problems.decimal(
                line, "unit_price", f"{path}.unit_price", places=6, minimum=Decimal(0)
            ),
            "discount_percent": problems.decimal(
                line,
                "discount_percent",
                f"{path}.discount_percent",
                default="0",
                minimum=Decimal(0),
                maximum=Decimal(100),
            ),
            "vat_rate": rate,
            "tax_country": country or HOME_COUNTRY,
            "exemption_code": problems.exemption(
                rate, line.get("exemption_code"), f"{path}.exemption_code"
            ),
        }
        lines.append(parsed)
    return lines


def parse_tax_country(value: Any, path: str, problems: Problems) -> str | None:
    """An EU Member State's ISO code (SAF-T's TaxCountryRegion; Greece is GR, not VIES's EL)."""
    if value is None:
        return HOME_COUNTRY
    if not isinstance(value, str) or value not in EU_RATES:
        problems.add(path, f"{value!r} is not an EU Member State (ISO 3166-1 alpha-2)")
        return None
    return value


def parse_notes(value: Any, problems: Problems) -> str | None:
    if value in (None, ""):
        return None
    return problems.text(
        {"notes": value}, "notes", "notes", max_length=TEXT_LIMITS["notes"], allowed="\n"
    )


def parse_date(value: Any, path: str, problems: Problems) -> date | None:
    if not isinstance(value, str):
        problems.add(path, "is required as YYYY-MM-DD")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.add(path, f"{value!r} is not a date YYYY-MM-DD")
        return None


def parse_flag(data: dict[str, Any], key: str, problems: Problems, default: bool) -> bool:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        problems.add(key, "must be true or false")
        return default
    return value


def check_payment(value: Any, doc_type: str | None, problems: Problems) -> str | None:
    if value in (None, ""):
        if doc_type == "FR":
            problems.add("payment_method", "is required on an FR (it is also a receipt)")
        return None
    if value not in PAYMENT_MECHANISMS:
        problems.add("payment_method", f"{value!r} is not a SAF-T payment mechanism code")
    return value
