"""A credit note names its invoice's customer as iGEST holds it, for every destination kind:
a Portuguese consumer and business, an EU business (M16, a VAT number like ESB...), an EU
consumer under OSS and an export. Through the real CLI against the sandbox, whose iGEST reads a
customer without a country as Portuguese (and refuses a foreign VAT number as a NIF)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.sandbox_clients import started_sandbox

from .conftest import Cli, make_cli
from .test_cross_border_e2e import CROSS_BORDER

DESTINATIONS = {
    10001: "PT consumer",
    10003: "PT business",
    10101: "EU business (M16)",
    10102: "EU consumer (OSS)",
    10103: "export",
}


@pytest.fixture
def sandbox() -> Iterator:
    # The real limits: their waits cost no wall time.
    with started_sandbox(seed=True, cross_border=True) as sb:
        yield sb


@pytest.fixture
def cli(sandbox, tmp_path: Path) -> Cli:
    return make_cli(
        sandbox, tmp_path, invoice=CROSS_BORDER, vies={"base_url": sandbox.vies_base_url}
    )


def _docs(sb, order_id: int) -> tuple[dict, list[dict]]:
    """(the order's final invoice, its final credit notes)."""
    code = sb.credentials["jumpseller"]["login"]
    base = f"jumpseller:{code}:{order_id}"
    finals = sb.igest.final_documents_by_reference()
    [invoice] = finals[base]
    notes = [d for ref, docs in finals.items() if ref.startswith(base + ":credit") for d in docs]
    return invoice, notes


def test_every_destination_kind_is_credited_with_the_invoices_customer(sandbox, cli: Cli):
    assert cli("invoice").code in (0, 1)  # the cross-border set has orders meant to fail
    for order_id, kind in DESTINATIONS.items():
        result = cli("credit", str(order_id), "--reason", "Devolução", "--all", "--yes")
        assert result.code == 0, f"{kind}: {result.stdout}{result.stderr}"
        invoice, [nc] = _docs(sandbox, order_id)
        assert nc["customer"] == invoice["customer"], kind
        assert Decimal(str(nc["gross_total"])) == Decimal(str(invoice["gross_total"])), kind
        assert [(ln.get("tax_country"), ln.get("exemption_code")) for ln in nc["lines"]] == [
            (ln.get("tax_country"), ln.get("exemption_code")) for ln in invoice["lines"]
        ], kind
    _, [spanish] = _docs(sandbox, 10101)
    assert spanish["customer"]["country"] == "ES"
    assert str(spanish["customer"]["nif"]).startswith("ESB")
    # Asked again: the one NC of this request, exit 0; never a second one.
    again = cli("credit", "10101", "--reason", "devolução", "--all", "--yes")
    assert again.code == 0 and "already issued: NC A/" in again.stdout
    assert "for this request" in again.stdout
    assert len(_docs(sandbox, 10101)[1]) == 1
