"""Faults on iGEST's writes and look-ups, through the real CLI: nothing lost, nothing twice.

Each test gives every order its own fault (orders go one at a time, so the n-th faulted request
is the n-th order's), then checks the first run (exit 1, each failure recorded with a reason a
person can read), and a second run once the faults stop (exit 0, exactly one final document per
paid order with the right total, no draft left, nothing failed).

``after=False``: the request is refused and not processed. ``after=True``: iGEST processed it
(the draft exists, the document is final) and the answer was lost: the next run must find it
by its external reference, never send it again. A 429 is always "before": it means refused, so
the client repeats even a POST after waiting (see test_rate_limits.py, which also holds the
one real 30 s read timeout, inside its 200-order run). Faults on iGEST's listing: see
test_listing_faults.py.
"""

from __future__ import annotations

import re

import pytest

from .conftest import (
    DRAFT_POST,
    FINALIZE_POST,
    LOOKUP_GET,
    Cli,
    add_paid_orders,
    assert_all_done,
    one_line,
    requests_to,
    soak,
)

# What `status --json` must say (failed[].error) for each kind of fault.
READABLE = {
    "500": r"server error HTTP 500 Internal Server Error",
    "502": r"server error HTTP 502 Bad Gateway",
    "reset": r"connection failed",
    "timeout": r"connection failed|timed out",
    "truncated": r"^iGEST's answer could not be read: .*not valid JSON \(or was cut short\)",
    "bad_shape": r"^iGEST's answer could not be read: .*expected an object",
}
REFUSED = ["500", "502", "reset", "timeout", "truncated", "bad_shape"]
ANSWER_LOST = ["500", "502", "reset", "truncated", "bad_shape"]
# A finalize answered 200 with something unreadable is read back at once (its answer is not in
# the contract): those kinds of lost answer are no failure there.
READ_BACK = ["truncated", "bad_shape"]


def _first_run_fails_readably(sb, cli: Cli, ids: list[int], kinds: list[str]) -> None:
    first = cli("invoice", "--json")
    assert first.code == 1, first.stderr
    report = first.json()
    assert report["failed"] == len(kinds)
    assert report["issued"] == len(ids) - len(kinds)
    failed = {f["order_id"]: f for f in cli.status()["failed"]}
    assert set(failed) == set(ids[: len(kinds)])
    for order_id, kind in zip(ids, kinds):
        error = failed[order_id]["error"]
        assert re.search(READABLE[kind], error), f"{kind}: {error!r}"
        assert "iGEST" in error and one_line(error)
        assert failed[order_id]["transient"], f"{kind}: the next run must retry by itself"
    # whatever happened, no order has two final documents
    assert soak.audit(sb).duplicates == []


@pytest.mark.parametrize("after", [False, True], ids=["refused", "answer-lost"])
def test_faults_on_the_draft_post(sb, cli: Cli, after: bool):
    kinds = ANSWER_LOST if after else REFUSED
    ids = add_paid_orders(sb, len(kinds) + 1)  # the last order meets no fault
    for kind in kinds:
        sb.faults.add("igest", kind, method="POST", path=DRAFT_POST, after=after, seconds=0.3)
    _first_run_fails_readably(sb, cli, ids, kinds)
    if after:  # each draft was created; none may be created again
        assert len([d for d in sb.igest.documents if d["status"] == "draft"]) == len(kinds)
    sb.faults.clear()
    second = cli("invoice", "--json")
    assert second.code == 0, second.stdout + second.stderr
    assert second.json()["issued"] == len(kinds)
    assert_all_done(sb, cli)
    drafts_posted = len(requests_to(sb, "igest", "POST", DRAFT_POST))
    # refused: each order's draft is sent twice (the refused one was never made); lost: once
    assert drafts_posted == len(ids) + (0 if after else len(kinds))


@pytest.mark.parametrize("after", [False, True], ids=["refused", "answer-lost"])
def test_faults_on_the_finalize_post(sb, cli: Cli, after: bool):
    # A lost answer of the wrong shape is read back at once (the finalize's answer is not in
    # the contract): see the test below.
    kinds = [k for k in ANSWER_LOST if k not in READ_BACK] if after else REFUSED
    ids = add_paid_orders(sb, len(kinds) + 1)
    for kind in kinds:
        sb.faults.add("igest", kind, method="POST", path=FINALIZE_POST, after=after, seconds=0.3)
    _first_run_fails_readably(sb, cli, ids, kinds)
    if after:  # already final in iGEST; the ledger does not know yet
        assert len(soak.audit(sb).missing) == 0
    sb.faults.clear()
    second = cli("invoice", "--json")
    assert second.code == 0, second.stdout + second.stderr
    report = second.json()
    # lost answers: the final documents are found and adopted; refused: the kept drafts are
    # finalized now, without a second draft
    assert report["adopted" if after else "issued"] == len(kinds)
    assert_all_done(sb, cli)
    assert len(requests_to(sb, "igest", "POST", DRAFT_POST)) == len(ids)


def test_a_finalize_answered_with_something_else_than_the_document_is_read_back(sb, cli: Cli):
    """The contract does not say what finalize answers: a 200 that is not the final document
    (a list, a status alone) failed an order whose document iGEST had finalized. It is read
    back: final, it is recorded now, exactly once."""
    ids = add_paid_orders(sb, len(READ_BACK))
    for kind in READ_BACK:
        sb.faults.add("igest", kind, method="POST", path=FINALIZE_POST, after=True)
    first = cli("invoice", "--json")
    assert first.code == 0, first.stdout + first.stderr
    assert first.json()["issued"] == len(ids)
    assert_all_done(sb, cli)
    assert len(requests_to(sb, "igest", "POST", DRAFT_POST)) == len(ids)


def test_a_failed_lookup_of_a_lost_answer_keeps_the_order_failed_until_it_works(sb, cli: Cli):
    # The draft's answer is lost; on the next run the look-up by reference fails too (every
    # try): the order must stay failed, with the reason, and nothing be sent blind.
    [order_id] = add_paid_orders(sb, 1)
    sb.faults.add("igest", "reset", method="POST", path=DRAFT_POST, after=True)
    assert cli("invoice").code == 1
    sb.faults.add("igest", "502", method="GET", path=LOOKUP_GET, times=None)
    second = cli("invoice")
    assert second.code == 1, second.stdout + second.stderr
    [failed] = cli.status()["failed"]
    assert failed["order_id"] == order_id
    assert re.search(
        rf"could not look up jumpseller:\S+:{order_id} in iGEST: .*502", failed["error"]
    ), failed["error"]
    assert len(requests_to(sb, "igest", "POST", DRAFT_POST)) == 1  # never sent blind
    sb.faults.clear()
    assert cli("invoice").code == 0
    assert_all_done(sb, cli)
    assert len(requests_to(sb, "igest", "POST", DRAFT_POST)) == 1  # the lost draft was used


def test_refused_igest_credentials_stop_the_run_and_leave_the_orders_to_the_next_run(sb, cli: Cli):
    add_paid_orders(sb, 1)
    assert cli("invoice").code == 0
    add_paid_orders(sb, 2)
    cli.env["IGEST_SYNC_IGEST_SECURITY_CODE"] = "00000000"
    refused = cli("invoice")
    assert refused.code == 5, refused.stdout + refused.stderr
    assert "credentials were refused" in refused.stderr
    # The code came from the environment: the hint names the variable, not the file's key.
    text = " ".join(refused.stderr.split())
    assert "IGEST_SYNC_IGEST_SECURITY_CODE (set in the environment" in text
    assert "igest.security_code" not in text and "igest.integration_key in" in text
    del cli.env["IGEST_SYNC_IGEST_SECURITY_CODE"]
    assert cli("invoice").code == 0
    assert_all_done(sb, cli)


def test_a_persons_resend_whose_finalize_answer_is_lost_is_told_what_igest_holds(sb, cli: Cli):
    """`resend ORDER` through a proxy that loses the finalize's answer said "failed, could not
    reach iGEST, the next run tries again" (exit 1) while iGEST had issued the invoice. It looks
    the order up again at once, as `credit` does: adopted, exit 0, exactly one document."""
    [order_id] = add_paid_orders(sb, 1)
    sb.faults.add("igest", "502", method="POST", path=DRAFT_POST)  # refused: nothing made
    assert cli("invoice").code in (0, 1)
    sb.faults.clear()
    sb.faults.add("igest", "reset", method="POST", path=FINALIZE_POST, after=True)
    result = cli("resend", str(order_id), "--json")
    assert result.code == 0, result.stdout + result.stderr
    [outcome] = result.json()["orders"]
    assert (outcome["order_id"], outcome["action"]) == (order_id, "adopted"), outcome
    assert_all_done(sb, cli)
    assert len(requests_to(sb, "igest", "POST", FINALIZE_POST)) == 1


def test_a_resend_whose_look_up_fails_is_not_looked_up_again_at_once(sb, cli: Cli):
    # Only an answer lost after a draft or a finalize was sent is looked up again at once; a
    # look-up that failed (iGEST down) is the next run's, not a second round of waiting now.
    [order_id] = add_paid_orders(sb, 1)
    sb.faults.add("igest", "502", method="POST", path=DRAFT_POST)
    cli("invoice")
    sb.faults.clear()
    sb.faults.add("igest", "502", method="GET", path=LOOKUP_GET, times=None)
    result = cli("resend", str(order_id))
    assert result.code == 1, result.stdout + result.stderr
    assert "Looking up again" not in cli.log_text()
    [failed] = cli.status()["failed"]
    assert "could not look up" in failed["error"], failed
