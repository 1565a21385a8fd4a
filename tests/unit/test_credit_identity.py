"""fiscal/credit/identity.py: what makes two credit requests the same, and the reference that
carries a request's key in iGEST."""

from __future__ import annotations

from decimal import Decimal

import pytest

from igest_sync.fiscal.credit import CreditRequest
from igest_sync.fiscal.credit.identity import RequestIdentity, canonical_request, normalized_reason
from igest_sync.references import is_credit_reference, key_of_reference, request_reference

D = Decimal


def ident(lines=(), reason="Devolução", **kw) -> RequestIdentity:
    return RequestIdentity.of(7, CreditRequest.parse(lines, **kw), reason)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (["A:2", "B:1"], ["B:1", "A:2"]),
        (["A:1", "A:1"], ["A:2"]),
        (["A:2.0"], ["A:2"]),
        (["A:03.00"], ["A:3"]),
    ],
)
def test_the_same_lines_in_any_spelling_are_the_same_request(a, b):
    assert ident(a) == ident(b) and ident(a).key() == ident(b).key()


def test_the_reason_is_compared_without_case_blanks_or_a_final_stop():
    assert normalized_reason("  Devolução   de 1  CANECA. ") == "devolução de 1 caneca"
    # NFC: a composed and a decomposed "ç" are one reason.
    assert normalized_reason("Devolu\u0063\u0327\u00e3o") == normalized_reason("Devolução")
    assert ident(["A:1"], "Partiu.").key() == ident(["A:1"], "partiu").key()


@pytest.mark.parametrize(
    "other",
    [
        ident(["A:2"]),  # another quantity
        ident(["A"]),  # all units left of A is not one unit
        ident(["A:1"], shipping=True),  # and the shipping
        ident(["A:1"], "Outra razão"),  # another reason
        ident(everything=True),  # everything left
        RequestIdentity.of(8, CreditRequest.parse(["A:1"]), "Devolução"),  # another order
    ],
)
def test_anything_else_is_another_request(other):
    assert other.key() != ident(["A:1"]).key()


def test_every_again_is_another_occurrence_with_its_own_key():
    one = ident(["A:1"])
    keys = {one.key(n) for n in range(1, 6)}
    assert len(keys) == 5
    assert one.key(1) == ident(["A:1"]).key()  # stable: the same text gives the same key


def test_the_reference_carries_the_key_and_is_read_back():
    one = ident(["A:1"])
    ref = one.reference("loja", 2)
    assert ref == request_reference("loja", 7, one.key(2))
    assert ref.startswith("jumpseller:loja:7:credit:r") and len(one.key()) == 11
    assert key_of_reference("loja", 7, ref) == one.key(2)
    assert key_of_reference("loja", 8, ref) is None  # another order's
    assert key_of_reference("loja", 7, "jumpseller:loja:7:credit") is None


@pytest.mark.parametrize(
    ("reference", "ours"),
    [
        ("jumpseller:loja:7:credit", True),  # numbered by older versions
        ("jumpseller:loja:7:credit:2", True),
        ("jumpseller:loja:7:credit:r0123456789", True),
        ("jumpseller:loja:7:credit:1", False),  # the first one had no number
        ("jumpseller:loja:7:credit:02", False),
        ("jumpseller:loja:7:credit:rXYZ", False),
        ("jumpseller:loja:7", False),  # the invoice
        ("jumpseller:outra:7:credit", False),
        (None, False),
    ],
)
def test_which_references_are_this_orders_credit_notes(reference, ours):
    assert is_credit_reference("loja", 7, reference) is ours


def test_the_canonical_text_of_a_request():
    assert canonical_request(CreditRequest(everything=True)) == "all"
    text = canonical_request(CreditRequest.parse(["B", "A:1", "A:1"], shipping=True))
    assert text == '{"lines": ["A=2", "B=*"], "shipping": true}'
