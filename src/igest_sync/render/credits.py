"""What ``credit`` and ``reconcile`` show: the credit plan asked about, the credit report, and
the period's reconciliation."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from igest_sync.render.console import (
    _cell,
    _err_lines,
    _key_column,
    _layout,
    _money,
    _show,
    _table,
    _text_column,
    emit_report_json,
)

if TYPE_CHECKING:
    from igest_sync.fiscal.credit import CreditPlan
    from igest_sync.runs.credits.credit import CreditReport
    from igest_sync.runs.reconcile import ReconcileReport


# -- reconcile --------------------------------------------------------------------------------


def reconcile_report(report: ReconcileReport, *, json_out: bool = False) -> None:
    """The problems found (and what --fix did); always shown: a person asked for it."""
    if json_out:
        emit_report_json(report)
        return
    wide = _layout() != "compact"
    if report.problems:
        table = _table(f"Reconciliation {report.period.first} to {report.period.last}")
        _text_column(table, "Problem")
        _key_column(table, "Order")
        _key_column(table, "Documents")
        _text_column(table, "Detail")
        if wide:
            _text_column(table, "What to do")
        for p in report.problems:
            fixed = report.fixed(p)
            hint = "" if fixed else (report.hint(p) or "")
            # A reason the state file recorded ends a sentence: "...; what to do" follows it.
            detail = (
                p.detail
                if wide or not hint
                else f"{p.detail.removesuffix('.')}; what to do: {hint}"
            )
            row = [
                _cell(p.kind.replace("_", " ") + (" (fixed)" if fixed else "")),
                str(p.order_id) if p.order_id is not None else "?",
                "\n".join(_cell(d) for d in p.documents),
                _cell(detail),
            ]
            if wide:
                row.append(_cell(hint))
            table.add_row(*row, style=None if fixed else "red")
        _show(table)
    if report.fixes:
        table = _table("What --fix did")
        _key_column(table, "Order")
        _key_column(table, "Result")
        _text_column(table, "Detail")
        for o in report.fixes:
            table.add_row(
                _cell(o.key),
                _cell(o.action),
                _cell(o.detail),
                style="red" if o.action == "failed" else None,
            )
        _show(table)
    for notice in report.notices:
        _show(f"[yellow]note:[/yellow] {_cell(notice)}")
    _show(_cell(report.summary()))


# -- credit -----------------------------------------------------------------------------------


def credit_plan(plan: CreditPlan, *, order_id: int) -> None:
    """The original, each of its lines (invoiced, already credited, this credit, left), the
    amount of this credit note and what remains: what a person confirms before it is issued."""
    customer = plan.customer_name or "consumidor final"
    country = plan.customer.country if plan.customer else "PT"
    if plan.customer_nif and plan.customer_nif != "999999990":
        label = "NIF" if country == "PT" else f"VAT no., {country}"
        customer += f" ({label} {plan.customer_nif})"
    when = plan.original_date.isoformat() if plan.original_date else "no date"
    _show(
        _cell(
            f"Order {order_id}: credit note for {plan.original_number} of {when}, {customer}, "
            f"{_money(plan.invoiced_total)} EUR"
        )
    )
    if plan.credit_numbers:
        numbers = ", ".join(plan.credit_numbers)
        _show(_cell(f"  Already credited: {_money(plan.already_total)} EUR by {numbers}"))
    if plan.same_request:
        earlier = ", ".join(plan.same_request)
        _show(
            _cell(
                f"  Issued before for this same request: {earlier}; this is one more "
                "credit note (--again)"
            )
        )
    table = _table()
    _text_column(table, "Line")
    # The amounts are in the invoice's basis, VAT-inclusive or net as it had them, even when
    # this NC has the other price mode (a net invoice's last unit credited with VAT).
    amount = "With VAT (EUR)" if plan.amounts_include_vat else "Net (EUR)"
    for name in ("Invoiced", "Credited", "This credit", "Left", amount):
        _key_column(table, name, right=True)
    for line in plan.summary:
        table.add_row(
            _cell("shipping" if line.shipping else line.reference),
            _qty(line.invoiced),
            _qty(line.already),
            _qty(line.now),
            _qty(line.remaining),
            _money(line.now_amount) if line.now else "",
            style="bold" if line.now else None,
        )
    _show(table)
    _show(
        f"  This credit note: [bold]{_money(plan.gross_total)} EUR with VAT[/bold] "
        f"(net {_money(plan.net_total)}, VAT {_money(plan.vat_total)}); "
        f"left to credit after it: {_money(plan.remaining_total)} EUR with VAT"
    )
    for warning in plan.warnings:
        _show(f"  [yellow]warning:[/yellow] {_cell(warning)}")


def _qty(value: Decimal) -> str:
    return f"{value.normalize():f}" if value else "0"


def credit_report(
    report: CreditReport, *, json_out: bool = False, plan_shown: bool = False
) -> None:
    """``credit``'s result, always shown (a person asked); the plan too, unless the question
    showed it already."""
    if json_out:
        emit_report_json(report)
        return
    if report.plan is not None and not plan_shown:
        credit_plan(report.plan, order_id=report.order_id)
    for notice in report.notices:
        _show(f"[yellow]note:[/yellow] {_cell(notice)}")
    if report.usage_error:
        # A request the invoice cannot take as typed (a SKU not on it): said as every other
        # usage error is, on stderr after "error:", not as a result line on stdout.
        _err_lines("error:", "red", report.summary())
        return
    _show(_cell(report.summary()), style="red" if report.exit_code else None)
