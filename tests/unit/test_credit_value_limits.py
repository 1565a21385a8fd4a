"""fiscal/credit/ with net prices: no credit note credits a line beyond what is left of its
value, and the sequences an audit found that iGEST refused (or that fell a cent short) now go
through. Each NC is checked by the sandbox's own rule (``igest_sandbox.igest.credits``), with
every reference taken as having no article, the strictest reading: each is limited by value."""

from __future__ import annotations

from decimal import Decimal

import pytest
from test_credit import document

from igest_sandbox.igest.credits import already_credited, check_credit
from igest_sandbox.igest.rules import Problems
from igest_sync.fiscal.credit import CreditRefused, CreditRequest, plan_credit
from igest_sync.models import DocumentLine, IssuedDocument

D = Decimal


def _line(ref: str, qty: int, price: str, rate: str, discount: str = "0") -> DocumentLine:
    return DocumentLine(ref, f"Item {ref}", D(qty), D(price), D(discount), D(rate))


def _shipping(price: str, rate: str) -> DocumentLine:
    return DocumentLine("PORTES", "Portes", D(1), D(price), D(0), D(rate), None, True)


def _wire(doc: IssuedDocument) -> dict:
    """The document as the sandbox holds it."""
    return {
        "id": doc.id,
        "type": doc.type,
        "number": doc.number,
        "status": "final",
        "prices_include_vat": doc.prices_include_vat,
        "related_document": {"number": doc.related_number} if doc.related_number else None,
        "lines": [
            {
                "reference": ln.reference,
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "discount_percent": ln.discount_percent,
                "vat_rate": ln.vat_rate,
            }
            for ln in doc.lines
        ],
    }


def _credit_all(original: IssuedDocument, steps: list[list[str] | None]):
    """Plan and issue each step (None: ``--all``); every NC must pass the sandbox's check."""
    credits: list[IssuedDocument] = []
    warnings: list[str] = []
    for step in steps:
        if step is None:
            request = CreditRequest(everything=True)
        else:  # "--shipping" among the lines: credit the shipping too
            specs = [spec for spec in step if spec != "--shipping"]
            request = CreditRequest.parse(specs, shipping=len(specs) < len(step))
        plan = plan_credit(7, original, credits, request)
        nc = document(
            f"NC A/{len(credits) + 1}",
            list(plan.lines),
            inclusive=plan.prices_include_vat,
            kind="NC",
            related=original.number,
        )
        assert nc.gross_total == plan.gross_total
        problems = Problems()
        done = already_credited([_wire(c) for c in credits], original.number or "")
        check_credit(_wire(nc), _wire(original), done, lambda _ref: False, problems)
        assert not problems.fields, (step, problems.fields)
        credits.append(nc)
        warnings.extend(plan.warnings)
    return credits, warnings


def _six_percent_shipping() -> IssuedDocument:
    """The audit's net invoice whose 6 % lines are worth less line by line than the rate with
    VAT rounded once (26.74 + 0.56 against 27.31): its last cent can go on no line."""
    return document(
        "FR A/1",
        [
            _line("S1", 3, "18.78", "23.00"),
            _line("S2", 3, "8.41", "6.00"),
            _line("S3", 1, "1.85", "23.00"),
            _shipping("0.53", "6.00"),
        ],
        inclusive=False,
    )


def test_all_after_partial_credits_never_credits_the_shipping_beyond_its_value():
    # The audit's order: --all fitted the 6 % group by putting the shipping at 0.57 (VAT-
    # inclusive) where only 0.56 was left of it, and iGEST refused that NC every time.
    original = _six_percent_shipping()
    assert original.gross_total == D("98.88")
    credits, warnings = _credit_all(original, [["S1:3"], ["S2:3"], None])
    last = credits[-1]
    assert {ln.reference for ln in last.lines} == {"S3", "PORTES"}
    # At 6 % the invoice's lines are worth 26.74 + 0.56 line by line, 27.31 with VAT rounded
    # once: no line can take that cent without crediting more than is left of it. Said so.
    assert sum(c.gross_total for c in credits) == D("98.87")
    assert any("differ from the invoice by 0.01 EUR at 6.00 %" in w for w in warnings)


def test_the_unit_that_finishes_a_reference_credits_no_more_than_is_left_of_its_value():
    # 3 x 0.50 net at 23 % is worth 1.85; a unit alone is worth 0.62. After two units 0.61 is
    # left: the third credited 0.62 and iGEST refused it, and --all after it too.
    original = document(
        "FR A/1",
        [_line("SKU-1", 3, "0.50", "23.00"), _line("SKU-2", 1, "1.00", "23.00")],
        inclusive=False,
    )
    assert original.gross_total == D("3.08")
    credits, _ = _credit_all(original, [["SKU-1:1"], ["SKU-1:1"], ["SKU-1:1"], None])
    assert [c.gross_total for c in credits] == [D("0.62"), D("0.62"), D("0.61"), D("1.23")]
    credits, _ = _credit_all(original, [["SKU-1:1"], ["SKU-1:1"], None])
    assert sum(c.gross_total for c in credits) == D("3.08")


def test_a_credit_that_leaves_only_the_shipping_of_a_rate_keeps_its_cent_for_it():
    # The audit's finding 4: the NC that finished the goods at 13 % left the rate a cent short
    # of what the shipping alone can carry, and the last NC (the shipping only) could not take
    # it: the credit notes added up to 31.17 of 31.18.
    original = document(
        "FR A/1",
        [
            _line("SKU-1", 7, "0.01", "13.00"),
            _line("SKU-2", 3, "8.99", "13.00", discount="10.0111"),
            _shipping("3.25", "13.00"),
        ],
        inclusive=False,
    )
    assert original.gross_total == D("31.18")
    steps = [["SKU-1:2", "SKU-2:2"], ["SKU-1:3"], ["SKU-1:2", "SKU-2:1"], None]
    credits, warnings = _credit_all(original, steps)
    assert [ln.reference for ln in credits[-1].lines] == ["PORTES"]
    assert sum(c.gross_total for c in credits) == D("31.18")
    assert not any("differ from the invoice" in w for w in warnings)


@pytest.mark.parametrize("inclusive", [False, True])
def test_units_after_a_credit_note_beyond_the_line_are_refused_not_credited_at_zero(inclusive):
    # A credit note made by hand in iGEST at a higher price already carries more than the whole
    # line (iGEST limits goods by quantity, so it took it). The next unit used to step down a
    # cent at a time from 2,000.00 to 0.00 (seconds of work) and be credited at 0.00, silently.
    original = document("FR A/1", [_line("BIG", 10, "2000.00", "23.00")], inclusive=inclusive)
    by_hand = document(
        "NC A/1",
        [_line("BIG", 1, "25000.00", "23.00")],
        inclusive=inclusive,
        kind="NC",
        related="FR A/1",
    )
    for request in (["BIG:1"], ["BIG:9"], ["BIG"]):
        with pytest.raises(CreditRefused, match="credit the rest by hand"):
            plan_credit(7, original, [by_hand], CreditRequest.parse(request))


def test_a_unit_left_with_little_of_its_value_is_refused_rather_than_credited_for_cents():
    # A hand credit note of one unit left 0.04 EUR (0.05 with VAT) of a line of three units of
    # 2,000.00: one more unit at 0.04 would hide that it credited more than the unit it names.
    original = document("FR A/1", [_line("BIG", 3, "2000.00", "23.00")], inclusive=False)
    by_hand = document(
        "NC A/1",
        [_line("BIG", 1, "5999.96", "23.00")],
        inclusive=False,
        kind="NC",
        related="FR A/1",
    )
    with pytest.raises(CreditRefused, match="credit the rest by hand"):
        plan_credit(7, original, [by_hand], CreditRequest.parse(["BIG:1"]))


def test_a_line_with_no_vat_inclusive_price_is_never_sent_net_in_a_vat_inclusive_note():
    # The last unit of S needs VAT-inclusive prices (0.61 is left of its 1.85); no 6-decimal
    # VAT-inclusive unit price gives 30,000 units of T their 3.22 EUR with VAT. T went into the
    # VAT-inclusive NC at its net price: 2.85 EUR credited for 3.22, without a word.
    original = document(
        "FR A/1",
        [_line("S", 3, "0.50", "23.00"), _line("T", 60000, "0.000095", "13.00")],
        inclusive=False,
    )
    credits, _ = _credit_all(original, [["S:1"], ["S:1"]])
    with pytest.raises(CreditRefused, match="VAT-inclusive unit price.*by hand"):
        plan_credit(7, original, credits, CreditRequest.parse(["S:1", "T:30000"]))
    # Each alone is credited as ever.
    credits, _ = _credit_all(original, [["S:1"], ["S:1"], ["S:1"], ["T:30000"], None])
    assert sum(c.gross_total for c in credits) == original.gross_total


def test_a_credit_that_finishes_the_shipping_leaves_the_rate_what_its_goods_can_carry():
    # The audit's order: 9 x 0.17 of X-CLIP (no article: limited by value) and shipping 3.90,
    # both at 23 %, net prices; 6.68 in all. Four clips and the shipping credited 0.68 + 3.90
    # (5.63, VAT rounded once), leaving the rate 1.05 where the five clips left are worth 1.04
    # line by line: --all then credited 1.04 and the NCs ended 0.01 short, with no warning.
    original = document(
        "FR A/1", [_line("X-CLIP", 9, "0.17", "23.00"), _shipping("3.90", "23.00")], inclusive=False
    )
    assert original.gross_total == D("6.68")
    credits, warnings = _credit_all(original, [["X-CLIP:4", "--shipping"], None])
    assert sum(c.gross_total for c in credits) == D("6.68")
    assert not any("differ from the invoice" in w for w in warnings)
    # In the other order too, and with a unit at a time.
    for steps in ([["X-CLIP:4"], ["--shipping"], None], [["--shipping"]] + [["X-CLIP:1"]] * 9):
        credits, warnings = _credit_all(original, steps)
        assert sum(c.gross_total for c in credits) == D("6.68"), steps


def test_a_credit_note_that_cannot_add_up_does_not_say_it_does():
    # The last NC of the 6 % rate switches to VAT-inclusive prices (the shipping would go beyond
    # its value with net prices) and still ends a cent off: it said both that its prices make
    # the NCs add up to the invoice and that they differ from it by 0.01 EUR.
    original = _six_percent_shipping()
    credits, warnings = _credit_all(original, [["S1:3"], ["S2:3"], None])
    assert credits[-1].prices_include_vat
    assert any("differ from the invoice by 0.01 EUR" in w for w in warnings)
    assert any("VAT-inclusive prices" in w for w in warnings)
    assert not any("add up to the invoice" in w for w in warnings), warnings


def test_the_credit_table_labels_its_amounts_in_the_invoices_basis(capsys):
    # The last unit of SKU-1 has VAT-inclusive prices; the table's amounts stay net, as the
    # invoice has them (0.50 for the unit), but the column was labelled "With VAT (EUR)".
    from igest_sync.render.credits import credit_plan

    original = document(
        "FR A/1",
        [_line("SKU-1", 3, "0.50", "23.00"), _line("SKU-2", 1, "1.00", "23.00")],
        inclusive=False,
    )
    credits, _ = _credit_all(original, [["SKU-1:1"], ["SKU-1:1"]])
    plan = plan_credit(7, original, credits, CreditRequest.parse(["SKU-1:1"]))
    assert plan.prices_include_vat and not plan.amounts_include_vat
    [row] = [line for line in plan.summary if line.now]
    assert row.now_amount == D("0.50")
    credit_plan(plan, order_id=7)
    text = capsys.readouterr().out
    assert "Net (EUR)" in text and "With VAT (EUR)" not in text
