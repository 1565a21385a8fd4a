"""``run_checks`` against the shared in-memory fakes, set up as an account that passes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.config import (
    Config,
    IgestConfig,
    InvoiceConfig,
    JumpsellerConfig,
    ProductsConfig,
    StockConfig,
)
from igest_sync.errors import AuthError, ExitCode, ServerError, TransportError
from igest_sync.fiscal.rules import VAT_RATES
from igest_sync.models import (
    Entity,
    ExemptionReason,
    Series,
    StoreLocation,
    TaxRate,
    ViesCheck,
    ViesStatus,
)
from igest_sync.runs.setup.service_checks import CheckResult, checks_exit_code, run_checks
from tests.support.fakes import FakeIgest, FakeJumpseller

TOKEN = "js-token-SECRET"
MAIN = StoreLocation(1, "Armazém Lisboa", main=True, holds_stock=True)
PORTO = StoreLocation(2, "Loja Porto", main=False, holds_stock=True)
SECURITY = "ig-code-SECRET"

# A day of 2026: from 2027 check adds the qualified-seal reminder (tests/unit/test_seal.py).
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def shop(info: dict | None = None, error: Exception | None = None) -> FakeJumpseller:
    """A Jumpseller store whose info is ``info``, or whose store_info raises ``error``."""
    errors = {"store_info": error, "locations": error} if error else None
    return FakeJumpseller(info=info, errors=errors)


def account(**overrides) -> FakeIgest:
    """An iGEST account that passes every check, with ``overrides`` of its fake's fields;
    ``errors`` maps a method to what it raises."""
    igest = FakeIgest(
        entity=Entity(nif="509999999", name="Loja Lda", currency="EUR", stock_by_warehouse=True),
        series={t: [Series("A", t, f"ATC{t}", True)] for t in ("FR", "FT", "FS", "NC")},
        warehouses=[("ARM1", "Armazém 1"), ("ARM2", "Loja")],
        taxes=[
            TaxRate(region, kind, rate)
            for region, rates in VAT_RATES.items()
            for kind, rate in rates.items()
        ],
        exemption_reasons=[
            ExemptionReason("M10", "regime de isenção"),
            ExemptionReason("M16", "RITI"),
        ],
        errors=overrides.pop("errors", None),
    )
    for name, value in overrides.items():
        assert hasattr(igest, name), name
        setattr(igest, name, value)
    return igest


def make_config(**sections) -> Config:
    invoice = InvoiceConfig(
        warehouse="ARM1", product_exemption_code="M10", **sections.pop("invoice", {})
    )
    stock = StockConfig(**({"enabled": True, "warehouse": "ARM2"} | sections.pop("stock", {})))
    products = ProductsConfig(**sections.pop("products", {}))
    assert not sections
    return Config(
        path=Path("config.toml"),
        jumpseller=JumpsellerConfig("https://api.jumpseller.com/v1", "loja", TOKEN, "loja"),
        igest=IgestConfig("https://igest.example.pt/v1", "ig-key-SECRET", SECURITY),
        invoice=invoice,
        products=products,
        stock=stock,
    )


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    names = [r.name for r in results]
    assert len(names) == len(set(names)), names
    return {r.name: r for r in results}


def failures(results: list[CheckResult]) -> list[str]:
    return [r.name for r in results if not r.ok]


def test_all_good():
    results = run_checks(make_config(), shop(), account(), now=NOW)
    assert failures(results) == []
    assert not [r.name for r in results if r.warning]
    assert set(by_name(results)) == {
        "Jumpseller store",
        "iGEST entity",
        "Series FR A",
        "Series NC A",
        "Warehouse ARM1 ([invoice] warehouse)",
        "Warehouse ARM2 ([stock] warehouse)",
        "Exemption code M10 ([invoice] product_exemption_code)",
        "VAT rates PT",
        "Stock by warehouse",
    }
    store = by_name(results)["Jumpseller store"]
    assert "Loja" in store.detail and "EUR" in store.detail


def test_a_start_date_to_come_is_a_warning_naming_it():
    # Kept (a store set up ahead), but said: a mistyped year would leave every sale until then
    # without its invoice, and no run would say so.
    ahead = make_config(invoice={"start_date": date(2027, 1, 1)})
    warned = by_name(run_checks(ahead, shop(), account(), now=NOW))
    start = warned["First day invoiced ([invoice] start_date)"]
    assert start.ok and start.warning
    assert start.detail == (
        "2027-01-01 is after today (2026-11-27): nothing paid before it is ever invoiced"
    )
    today = make_config(invoice={"start_date": NOW.date()})
    assert "First day invoiced ([invoice] start_date)" not in by_name(
        run_checks(today, shop(), account(), now=NOW)
    )


def test_wrong_jumpseller_credentials_fail_that_check_only():
    jumpseller = shop(error=AuthError("401 Unauthorized", service="Jumpseller", status=401))
    results = run_checks(make_config(), jumpseller, account(), now=NOW)
    assert failures(results) == ["Jumpseller store"]
    store = results[0]
    assert "401 Unauthorized" in store.detail
    assert "auth_token" in store.hint


def test_wrong_igest_credentials_skip_the_other_igest_checks():
    igest = account(
        errors={"entity": AuthError("credentials refused", service="iGEST", status=401)}
    )
    results = run_checks(make_config(), shop(), igest, now=NOW)
    assert [(r.name, r.ok) for r in results] == [
        ("Jumpseller store", True),
        ("iGEST entity", False),
    ]
    assert "credentials refused" in results[1].detail and "skipped" in results[1].detail
    assert "security_code" in results[1].hint
    assert igest.calls == ["entity"]


def test_unreachable_igest_skips_the_other_igest_checks():
    igest = account(errors={"entity": TransportError("connection refused", service="iGEST")})
    results = run_checks(make_config(), shop(), igest, now=NOW)
    assert failures(results) == ["iGEST entity"] and len(results) == 2


def test_one_failing_call_does_not_stop_the_others():
    igest = account(
        errors={"warehouses": ServerError("503 Service Unavailable", service="iGEST", status=503)}
    )
    results = run_checks(make_config(), shop(), igest, now=NOW)
    assert failures(results) == ["Warehouses"]
    assert "503" in by_name(results)["Warehouses"].detail
    assert {"Series FR A", "VAT rates PT", "Stock by warehouse"} <= set(by_name(results))


def test_entity_server_error_still_runs_reference_checks_but_not_stock_mode():
    igest = account(errors={"entity": ServerError("500", service="iGEST", status=500)})
    results = by_name(run_checks(make_config(), shop(), igest, now=NOW))
    assert not results["iGEST entity"].ok
    assert results["Series FR A"].ok and results["VAT rates PT"].ok
    assert "Stock by warehouse" not in results


def test_missing_series():
    igest = account(
        series_by_type={
            "FR": [Series("B", "FR", "ATCB", True)],
            "NC": [Series("A", "NC", "ATCN", True)],
        }
    )
    results = by_name(run_checks(make_config(), shop(), igest, now=NOW))
    series = results["Series FR A"]
    assert not series.ok and "found: B" in series.detail
    assert "[invoice] series" in series.hint
    assert results["Series NC A"].ok


def test_inactive_series_fails_and_series_without_atcud_warns():
    igest = account(
        series_by_type={
            "FR": [Series("A", "FR", "ATC", False)],
            "NC": [Series("A", "NC", None, True)],
        }
    )
    results = by_name(run_checks(make_config(), shop(), igest, now=NOW))
    assert not results["Series FR A"].ok and "not active" in results["Series FR A"].detail
    assert results["Series NC A"].ok and results["Series NC A"].warning


def test_credit_note_series_only_when_credit_cancelled():
    config = make_config(invoice={"credit_cancelled": False})
    names = set(by_name(run_checks(config, shop(), account(), now=NOW)))
    assert "Series FR A" in names and "Series NC A" not in names


def test_fs_checks_the_fallback_series_too():
    config = make_config(invoice={"document_type": "FS", "fs_fallback": "FT"})
    names = set(by_name(run_checks(config, shop(), account(), now=NOW)))
    assert {"Series FS A", "Series FT A", "Series NC A"} <= names


def test_missing_warehouse():
    igest = account(warehouse_list=[("ARM1", "Armazém 1")])
    results = by_name(run_checks(make_config(), shop(), igest, now=NOW))
    missing = results["Warehouse ARM2 ([stock] warehouse)"]
    assert not missing.ok and "ARM2" in missing.detail and "found: ARM1" in missing.detail
    assert results["Warehouse ARM1 ([invoice] warehouse)"].ok


def test_no_warehouse_configured_needs_no_call():
    config = make_config(invoice={}, stock={"enabled": False, "warehouse": None})
    config = replace(config, invoice=replace(config.invoice, warehouse=None))
    igest = account()
    results = by_name(run_checks(config, shop(), igest, now=NOW))
    assert results["Warehouses"].ok
    assert "warehouses" not in igest.calls


def test_unknown_exemption_code():
    config = make_config(
        products={"vat_rate": Decimal(0), "exemption_code": "M16"},
        invoice={"shipping_exemption_code": "M99"},
    )
    results = by_name(run_checks(config, shop(), account(), now=NOW))
    assert results["Exemption code M16 ([products] exemption_code)"].ok
    unknown = results["Exemption code M99 ([invoice] shipping_exemption_code)"]
    assert not unknown.ok and "M99" in unknown.detail


def test_missing_vat_rate_for_the_region():
    igest = account(
        tax_list=[
            TaxRate("PT-MA", "NOR", Decimal("22.00")),
            TaxRate("PT-MA", "INT", Decimal("12.00")),
        ]
    )
    config = make_config(invoice={"vat_region": "PT-MA"}, products={"vat_rate": Decimal(22)})
    result = by_name(run_checks(config, shop(), igest, now=NOW))["VAT rates PT-MA"]
    assert not result.ok and "RED 4 %" in result.detail and "22" not in result.detail


def test_stock_by_warehouse_required_for_a_stock_warehouse():
    igest = account(entity_value=Entity("509999999", "Loja Lda", "EUR", False))
    results = by_name(run_checks(make_config(), shop(), igest, now=NOW))
    assert not results["Stock by warehouse"].ok
    assert "[stock] warehouse" in results["Stock by warehouse"].hint


@pytest.mark.parametrize("stock", [{"enabled": False}, {"warehouse": None}])
def test_stock_by_warehouse_not_needed_otherwise(stock):
    igest = account(entity_value=Entity("509999999", "Loja Lda", "EUR", False))
    results = by_name(run_checks(make_config(stock=stock), shop(), igest, now=NOW))
    assert "Stock by warehouse" not in results
    assert failures(list(results.values())) == []


def test_store_currency_other_than_eur_is_a_warning():
    info = {"name": "Shop", "code": "shop", "currency": "USD"}
    store = run_checks(make_config(), shop(info), account(), now=NOW)[0]
    assert store.ok and store.warning and "USD" in store.detail and "EUR" in store.hint


def test_service_messages_are_redacted():
    jumpseller = shop(error=AuthError(f"bad token {TOKEN}", service="Jumpseller"))
    igest = account(errors={"taxes": ServerError(f"echo {SECURITY}", service="iGEST")})
    results = run_checks(make_config(), jumpseller, igest, now=NOW)
    text = repr(results)
    assert TOKEN not in text and SECURITY not in text
    assert "bad token ***" in results[0].detail


# -- stock locations ---------------------------------------------------------------------------

# From Jumpseller's total into iGEST's one count per item: no location to choose.
TO_ONE_COUNT = {
    "direction": "jumpseller_to_igest",
    "warehouse": None,
    "jumpseller_location_id": None,
}


def test_several_stock_locations_without_one_configured_fail_naming_them():
    jumpseller = FakeJumpseller(locations=[MAIN, PORTO])
    results = run_checks(make_config(), jumpseller, account(), now=NOW)
    result = by_name(results)["Jumpseller stock location"]
    assert not result.ok and "2 locations (1 Armazém Lisboa, 2 Loja Porto)" in result.detail
    assert "[stock] jumpseller_location_id" in result.hint
    assert failures(results) == ["Jumpseller stock location"]
    assert checks_exit_code(results) == ExitCode.USAGE == 2


def test_a_configured_location_is_looked_up():
    config = make_config(stock={"jumpseller_location_id": 2})
    found = by_name(run_checks(config, FakeJumpseller(locations=[MAIN, PORTO]), account(), now=NOW))
    assert found["Jumpseller stock location"].ok
    assert found["Jumpseller stock location"].detail == "location 2: Loja Porto"
    missing = by_name(run_checks(config, FakeJumpseller(), account(), now=NOW))
    assert not missing["Jumpseller stock location"].ok
    assert "no location 2" in missing["Jumpseller stock location"].detail


@pytest.mark.parametrize("stock", [{"enabled": False}, TO_ONE_COUNT])
def test_no_location_needed_when_stock_is_off_or_read_into_one_igest_count(stock):
    one_count = Entity(nif="509999999", name="Loja Lda", currency="EUR", stock_by_warehouse=False)
    igest = account(entity_value=one_count)
    results = run_checks(
        make_config(stock=stock), FakeJumpseller(locations=[MAIN, PORTO]), igest, now=NOW
    )
    assert "Jumpseller stock location" not in by_name(results)
    assert checks_exit_code(results) == ExitCode.OK


def test_check_refuses_jumpsellers_total_into_one_of_several_warehouses_as_the_run_does():
    stock = {
        "direction": "jumpseller_to_igest",
        "warehouse": "ARM1",
        "jumpseller_location_id": None,
    }
    jumpseller = FakeJumpseller(locations=[MAIN, PORTO])
    results = run_checks(make_config(stock=stock), jumpseller, account(), now=NOW)
    result = by_name(results)["Stock by warehouse"]
    assert len(jumpseller.called("locations")) == 1  # read once for both checks
    assert not result.ok and "1 Armazém Lisboa, 2 Loja Porto" in result.detail
    assert "iGEST warehouse ARM1" in result.detail
    assert "nothing was written" not in result.detail
    assert "[stock] jumpseller_location_id" in (result.hint or "")
    assert checks_exit_code(results) == ExitCode.USAGE


def test_check_refuses_igests_total_into_one_of_several_locations_as_the_run_does():
    config = make_config(stock={"jumpseller_location_id": 2, "warehouse": None})
    jumpseller = FakeJumpseller(locations=[MAIN, PORTO])
    results = by_name(run_checks(config, jumpseller, account(), now=NOW))
    result = results["Stock by warehouse"]
    assert len(jumpseller.called("locations")) == 1  # read once for both checks
    assert not result.ok and "would go into Jumpseller location 2" in result.detail
    assert "[stock] warehouse is not set" in result.detail
    assert "nothing was written" not in result.detail  # check writes nothing anyway
    assert "[stock] warehouse" in (result.hint or "")


# -- exit codes, as for every command ------------------------------------------------------------


def test_exit_code_5_when_a_service_is_unreachable_or_refuses():
    refused = shop(error=AuthError("401", service="Jumpseller", status=401))
    assert (
        checks_exit_code(run_checks(make_config(), refused, account(), now=NOW)) == ExitCode.SERVICE
    )
    igest = account(errors={"entity": TransportError("down", service="iGEST")})
    assert checks_exit_code(run_checks(make_config(), FakeJumpseller(), igest, now=NOW)) == 5


def test_exit_code_2_when_only_the_config_is_wrong_and_5_wins_over_it():
    igest = account(warehouse_list=[("ARM1", "Armazém 1")])  # [stock] warehouse ARM2 missing
    results = run_checks(make_config(), FakeJumpseller(), igest, now=NOW)
    assert failures(results) == ["Warehouse ARM2 ([stock] warehouse)"]
    assert checks_exit_code(results) == ExitCode.USAGE
    igest.faults.add("taxes", ServerError("502", service="iGEST"), times=None)
    assert checks_exit_code(run_checks(make_config(), FakeJumpseller(), igest, now=NOW)) == 5


def test_exemption_codes_by_destination_are_checked_against_igest():
    config = make_config(invoice={"exemptions": {"eu_goods": "M16", "export_goods": "M99"}})
    results = by_name(run_checks(config, FakeJumpseller(), account(), now=NOW))
    assert results["Exemption code M16 ([invoice.exemptions] eu_goods)"].ok
    unknown = results["Exemption code M99 ([invoice.exemptions] export_goods)"]
    assert not unknown.ok and "export_goods" in unknown.hint


def test_an_exemption_codes_meaning_is_igests_own_text():
    igest = account(
        reasons=[
            ExemptionReason("M10", "regime de isenção"),
            ExemptionReason("M44", "Texto do iGEST para M44", "Artigo 6.º do CIVA"),
            # The reference already in the text, capitalised otherwise: said once.
            ExemptionReason("M07", "Isento artigo 9.º do CIVA", "Artigo 9.º do CIVA"),
        ]
    )
    config = make_config(invoice={"exemptions": {"export_goods": "M44", "domestic_goods": "M07"}})
    results = by_name(run_checks(config, shop(), igest))
    assert results["Exemption code M10 ([invoice] product_exemption_code)"].detail == (
        "known to iGEST: regime de isenção"
    )
    detail = results["Exemption code M44 ([invoice.exemptions] export_goods)"].detail
    assert detail == "known to iGEST: Texto do iGEST para M44 (Artigo 6.º do CIVA)"
    detail = results["Exemption code M07 ([invoice.exemptions] domestic_goods)"].detail
    assert detail == "known to iGEST: Isento artigo 9.º do CIVA"


class _Vies:
    """VIES answering ``status`` (with ``detail``) to any question, recording each."""

    def __init__(self, status: str, detail: str | None = None) -> None:
        self.status, self.detail = status, detail
        self.asked: list[tuple[str, str]] = []

    def check(self, vat_number: str, *, requester: str, today: date) -> ViesCheck:
        self.asked.append((vat_number, requester))
        return ViesCheck("PT", vat_number[2:], ViesStatus(self.status), today, "W1", self.detail)


INTRA_EU = {"invoice": {"exemptions": {"eu_goods": "M16", "eu_shipping": "M16"}}}


@pytest.mark.parametrize(
    ("status", "detail", "ok", "warning", "words"),
    [
        ("valid", None, True, False, "your PT509999999 is valid"),
        ("invalid", None, True, True, "not registered for intra-EU trade"),
        ("unavailable", "MS_UNAVAILABLE", True, True, "orders wait until it does"),
        (
            "unavailable",
            "VIES POST /check-vat-number: HTTP 404 Not Found",
            False,
            False,
            "base_url",
        ),
        (
            "unavailable",
            "VIES POST /check-vat-number: HTTP 401 Unauthorized",
            False,
            False,
            "base_url",
        ),
    ],
)
def test_with_intra_eu_sales_check_asks_vies_about_the_merchants_own_number(
    status, detail, ok, warning, words
):
    vies = _Vies(status, detail)
    results = run_checks(make_config(**INTRA_EU), shop(), account(), now=NOW, vies=vies)
    result = by_name(results)["VIES (EU VAT numbers)"]
    assert vies.asked == [("PT509999999", "509999999")]
    assert (result.ok, result.warning) == (ok, warning) and words in result.detail
    if not ok:  # a wrong URL looked like VIES being down forever: the config must change
        assert checks_exit_code(results) == ExitCode.USAGE


def test_without_intra_eu_sales_check_asks_no_vies():
    vies = _Vies("valid")
    results = run_checks(make_config(), shop(), account(), now=NOW, vies=vies)
    assert vies.asked == [] and "VIES (EU VAT numbers)" not in by_name(results)
