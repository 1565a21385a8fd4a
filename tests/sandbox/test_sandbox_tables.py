"""The sandbox's own tax tables (independent of the client's fiscal.rules)."""

from __future__ import annotations

from decimal import Decimal

from igest_sandbox.igest.seed import exemption_reasons, taxes
from igest_sandbox.tables import EU_RATES, EU_STANDARD_RATES, EXEMPTION_REASONS, country_rates


def test_the_27_member_states_with_iso_codes() -> None:
    assert len(EU_RATES) == 27
    assert "GR" in EU_RATES and "EL" not in EU_RATES and "GB" not in EU_RATES
    assert EU_STANDARD_RATES["ES"] == Decimal(21) and EU_STANDARD_RATES["HU"] == Decimal(27)
    assert Decimal("5.5") in country_rates("FR") and Decimal("25.5") in country_rates("FI")
    assert country_rates("GB") == frozenset()


def test_exemption_codes_carry_their_legal_reference() -> None:
    assert "M08" not in EXEMPTION_REASONS and "M03" not in EXEMPTION_REASONS
    reasons = {r["code"]: r for r in exemption_reasons()}
    assert reasons["M16"]["legal_reference"] == "Artigo 14.º do RITI"
    assert reasons["M05"]["legal_reference"] == "Artigo 14.º do CIVA"
    assert all(r["legal_reference"] and r["description"] for r in reasons.values())


def test_the_taxes_table_has_every_portuguese_region() -> None:
    rates = {(t["region"], t["kind"]): t["rate"] for t in taxes()}
    assert rates[("PT", "NOR")] == "23.00" and rates[("PT-AC", "RED")] == "4.00"
    assert rates[("PT-MA", "INT")] == "12.00" and rates[("PT", "ISE")] == "0.00"
