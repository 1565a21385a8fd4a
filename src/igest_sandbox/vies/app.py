"""The VIES emulator: the Commission's REST API for checking EU VAT numbers (vies.md).

Routes (under ``/rest-api``, the sandbox's stand-in for
``https://ec.europa.eu/taxation_customs/vies/rest-api``; no authentication):

* ``POST /check-vat-number`` ``{"countryCode", "vatNumber", "requesterMemberStateCode",
  "requesterNumber"}`` -> ``{"countryCode", "vatNumber", "requestDate", "valid",
  "requestIdentifier", "name", "address", "userError"}``. ``requestIdentifier`` is a fresh
  consultation number ("WAPI" + 12 characters) when the requester is given, else "".
* ``GET /ms/{countryCode}/vat/{vatNumber}`` -> ``{"isValid", "requestDate", "userError",
  "name", "address", "requestIdentifier": "", "vatNumber", "viesApproximate"}``.

Seeded numbers (``SEED_VALID``, ``SEED_UNAVAILABLE``; country codes as VIES spells them, so
Greece is ``EL``):

* valid: ES B87654323 (Cerámicas del Levante, S.L.), ES A28501534 (Distribuciones Ibéricas,
  S.A.), FR 83404833048 (Maison Lumière SARL), DE 136687097 (Keramikhaus Berlin GmbH);
* unavailable, then valid: ES B66123456 (Azulejos del Sur, S.L.) answers ``MS_UNAVAILABLE``
  to its first 3 checks (both routes count), as a Member State's system does at night;
* everything else with a known country code is invalid (``valid: false``, ``userError``
  ``INVALID``), e.g. ES B12345674, whose check digit is right;
* an unknown country code (``GR``, ``GB``, ``XX``) or a number that is not 2-12 letters and
  digits is ``INVALID_INPUT``.

What "unavailable" looks like, on purpose in both of the shapes seen in practice, neither of
which says valid or invalid: ``POST`` answers ``{"actionSucceed": false, "errorWrappers":
[{"error": "MS_UNAVAILABLE", "message": ...}]}`` (no ``valid`` key); ``GET`` answers 200 with
``"isValid": false`` and ``"userError": "MS_UNAVAILABLE"``, which a client must not read as
"invalid". ``INVALID_INPUT`` on ``POST`` is a 400 of the same ``errorWrappers`` shape.

``VatRegistry`` (``sb.vies``) holds the table; tests add numbers with ``add_valid`` and
``set_unavailable`` and read ``checks`` (every check answered, in order).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from igest_sandbox.data import ENTITY_NIF
from igest_sandbox.faults import Faults
from igest_sandbox.messages import Request, Response
from igest_sandbox.stats import Stats
from igest_sandbox.wsgi import EmulatorApp

# VIES's Member State codes: ISO 3166-1 except Greece (EL); XI is Northern Ireland.
MEMBER_STATES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "EL",
        "ES",
        "FI",
        "FR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
        "XI",
    ]
)
_NUMBER = re.compile(r"^[0-9A-Z+*]{2,12}$")

SEED_VALID: dict[tuple[str, str], tuple[str, str]] = {
    ("ES", "B87654323"): ("CERAMICAS DEL LEVANTE, S.L.", "CALLE DE COLON 12\n46004 VALENCIA"),
    ("ES", "A28501534"): ("DISTRIBUCIONES IBERICAS, S.A.", "GRAN VIA 30\n28013 MADRID"),
    ("FR", "83404833048"): ("MAISON LUMIERE SARL", "12 RUE DE LA PAIX\n75002 PARIS"),
    ("DE", "136687097"): ("---", "---"),  # Germany shares neither name nor address
    # The merchant itself (the iGEST sandbox's entity), registered for intra-EU trade: what
    # `igest-sync check` asks about to see that VIES answers.
    ("PT", ENTITY_NIF): ("LOJA DO AZULEJO, LDA.", "RUA DAS FLORES 12\n1200-195 LISBOA"),
}
SEED_UNAVAILABLE: dict[tuple[str, str], tuple[int, str, str]] = {
    ("ES", "B66123456"): (
        3,
        "AZULEJOS DEL SUR, S.L.",
        "AVENIDA DE LA CONSTITUCION 5\n41001 SEVILLA",
    ),
}


@dataclass
class Check:
    country: str
    number: str
    answer: str  # VALID, INVALID, INVALID_INPUT, MS_UNAVAILABLE
    request_identifier: str
    at: datetime


class VatRegistry:
    """The registered numbers behind the emulator and the log of checks answered."""

    def __init__(self, clock: Callable[[], datetime], *, seed: bool = True) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.valid: dict[tuple[str, str], tuple[str, str]] = {}
        self.unavailable_for: dict[tuple[str, str], int] = {}  # checks still to refuse
        self.checks: list[Check] = []
        self._consultations = 0
        if seed:
            for key, (name, address) in SEED_VALID.items():
                self.add_valid(*key, name, address)
            for key, (calls, name, address) in SEED_UNAVAILABLE.items():
                self.add_valid(*key, name, address)
                self.set_unavailable(*key, calls)

    def add_valid(self, country: str, number: str, name: str = "---", address: str = "---") -> None:
        with self.lock:
            self.valid[(country, number)] = (name, address)

    def set_unavailable(self, country: str, number: str, calls: int) -> None:
        """The next ``calls`` checks of this number answer MS_UNAVAILABLE."""
        with self.lock:
            self.unavailable_for[(country, number)] = calls

    def check(self, country: str, number: str, *, consult: bool) -> tuple[Check, str, str]:
        """(the check, name, address) for one request; ``consult``: issue a consultation
        number (only for a valid or invalid answer: an unavailable state gives none)."""
        with self.lock:
            key = (country, number)
            name, address = "---", "---"
            if country not in MEMBER_STATES or not _NUMBER.match(number):
                answer = "INVALID_INPUT"
            elif self.unavailable_for.get(key, 0) > 0:
                self.unavailable_for[key] -= 1
                answer = "MS_UNAVAILABLE"
            elif key in self.valid:
                answer = "VALID"
                name, address = self.valid[key]
            else:
                answer = "INVALID"
            identifier = ""
            if consult and answer in ("VALID", "INVALID"):
                self._consultations += 1
                identifier = f"WAPI{self._consultations:012X}"
            done = Check(country, number, answer, identifier, self.clock())
            self.checks.append(done)
            return done, name, address


def _request_date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _error(code: str, status: int) -> Response:
    messages = {
        "MS_UNAVAILABLE": "The application at the Member State is not replying or not available",
        "INVALID_INPUT": "The provided CountryCode is invalid or the VAT number is empty",
    }
    return Response.json(
        {
            "actionSucceed": False,
            "errorWrappers": [{"error": code, "message": messages.get(code, code)}],
        },
        status,
    )


class ViesApp(EmulatorApp):
    service = "vies"

    def __init__(
        self, registry: VatRegistry, *, stats: Stats, faults: Faults, latency: float = 0.0
    ) -> None:
        super().__init__(stats=stats, faults=faults, latency=latency)
        self.registry = registry
        self.router.add("POST", "/rest-api/check-vat-number", self.check_vat_number)
        self.router.add("GET", "/rest-api/ms/{country}/vat/{number}", self.check_by_path)

    def error_response(self, status: int, message: str) -> Response:
        return Response.json(
            {"actionSucceed": False, "errorWrappers": [{"error": str(status), "message": message}]},
            status,
        )

    def check_vat_number(self, request: Request) -> Response:
        try:
            data = request.json()
        except ValueError:
            return _error("INVALID_INPUT", 400)
        if not isinstance(data, dict):
            return _error("INVALID_INPUT", 400)
        country = str(data.get("countryCode") or "")
        number = str(data.get("vatNumber") or "")
        requester = data.get("requesterMemberStateCode") and data.get("requesterNumber")
        done, name, address = self.registry.check(country, number, consult=bool(requester))
        if done.answer == "INVALID_INPUT":
            return _error("INVALID_INPUT", 400)
        if done.answer == "MS_UNAVAILABLE":
            return _error("MS_UNAVAILABLE", 200)
        return Response.json(
            {
                "countryCode": country,
                "vatNumber": number,
                "requestDate": _request_date(done.at),
                "valid": done.answer == "VALID",
                "requestIdentifier": done.request_identifier,
                "name": name,
                "address": address,
                "traderName": "",
                "traderStreet": "",
                "traderPostalCode": "",
                "traderCity": "",
                "traderCompanyType": "",
                "traderNameMatch": "NOT_PROCESSED",
                "traderStreetMatch": "NOT_PROCESSED",
                "traderPostalCodeMatch": "NOT_PROCESSED",
                "traderCityMatch": "NOT_PROCESSED",
                "traderCompanyTypeMatch": "NOT_PROCESSED",
            }
        )

    def check_by_path(self, request: Request) -> Response:
        country, number = request.params["country"], request.params["number"]
        done, name, address = self.registry.check(country, number, consult=False)
        answer: dict[str, Any] = {
            "isValid": done.answer == "VALID",
            "requestDate": _request_date(done.at),
            "userError": done.answer,
            "name": name,
            "address": address,
            "requestIdentifier": "",
            "originalVatNumber": number,
            "vatNumber": number,
            "viesApproximate": {
                "name": "---",
                "street": "---",
                "postalCode": "---",
                "city": "---",
                "companyType": "---",
                "matchName": 3,
                "matchStreet": 3,
                "matchPostalCode": 3,
                "matchCity": 3,
                "matchCompanyType": 3,
            },
        }
        return Response.json(answer)


__all__ = ["MEMBER_STATES", "SEED_UNAVAILABLE", "SEED_VALID", "VatRegistry", "ViesApp"]
