"""What ``sync-products`` and ``sync-stock`` show."""

from __future__ import annotations

from typing import TYPE_CHECKING

from igest_sync.render.console import (
    _cell,
    _key_column,
    _show,
    _table,
    _text_column,
    current,
    emit_json,
    error,
    warn,
)

if TYPE_CHECKING:
    from igest_sync.models import CatalogueOutcome
    from igest_sync.runs.catalogue.plan import CatalogueReport


# -- catalogue ----------------------------------------------------------------------------------

# What a dry run shows for each change it did not make (its JSON keeps the plain actions).
_WOULD = {"created": "would create", "updated": "would update", "deleted": "would delete"}


def catalogue_report(report: CatalogueReport, title: str, *, json_out: bool = False) -> None:
    if json_out:
        emit_json(report.to_json())  # a brake a dry run met is in its info
        return
    _report(report, title)
    if report.brake is not None:  # a dry run's plan the brake would stop: told last, on stderr
        error(report.brake)
    if report.stopped is not None:  # why the writes stopped, and what to do: last, on stderr
        error(report.stopped)


def _report(report: CatalogueReport, title: str) -> None:
    if current().quiet and not report.failed:
        # -q: only what needs a person. A product created with no stock in iGEST while the
        # shop has some does: the next sync-stock would show it sold out.
        from igest_sync.runs.catalogue.plan import (
            HELD_TWICE,
            NOT_MATCHED,
            TYPE_DIFFERS,
            UNREADABLE,
        )
        from igest_sync.runs.catalogue.products import NO_STOCK_YET

        # A Jumpseller item without a SKU, or sharing one, is never synced (product or stock)
        # until a person fixes it there: a warning on stderr, whatever -q hides.
        unsynced = [o for o in report.outcomes if o.reason in NOT_MATCHED]
        for o in unsynced[:20]:
            warn(f"{o.key}: {o.detail}")
        if len(unsynced) > 20:
            warn(f"... and {len(unsynced) - 20} more (sync-products/sync-stock without -q)")
        unread = [o for o in report.outcomes if o.reason in (UNREADABLE, HELD_TWICE, TYPE_DIFFERS)]
        if unread:
            _show("Left alone, a person's to fix:")
            for o in unread[:20]:
                _show(f"  {o.key}: {o.detail}")
            if len(unread) > 20:
                _show(f"  ... and {len(unread) - 20} more (sync-products/sync-stock without -q)")
        empty = [o.key for o in report.outcomes if o.reason == NO_STOCK_YET]
        if empty:
            named = ", ".join(empty[:10]) + (
                f" and {len(empty) - 10} more" if len(empty) > 10 else ""
            )
            _show(
                f"Created in iGEST with no stock while the shop has some: {named}. Enter their "
                "stock in iGEST before the next sync-stock, which copies iGEST's stock to the "
                "shop (they would show sold out)."
            )
        return
    outcomes = list(report.outcomes)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[_label(o)] = counts.get(_label(o), 0) + 1

    def said(action: str) -> str:
        """A dry run's change as what it would be ("would create"), as its detail says."""
        if report.dry_run and action in _WOULD:
            return _WOULD[action]
        return action

    shown = [o for o in outcomes if _label(o) != "unchanged"]
    if shown and (current().out.is_terminal or report.failed or len(shown) <= 200):
        table = _table(title)
        table.add_column("SKU", overflow="fold")
        _key_column(table, "Action")
        _text_column(table, "Detail")
        for o in shown[:500]:
            table.add_row(
                _cell(o.key),
                _cell(said(_label(o))),
                _cell(o.detail),
                style="red" if o.action == "failed" else None,
            )
        _show(table)
        if len(shown) > 500:
            _show(f"... and {len(shown) - 500} more (use --json for all)")
    summary = _table(f"{title} summary")
    for action in sorted(counts):
        summary.add_column(_cell(said(action)), justify="right")
    summary.add_row(*(str(counts[a]) for a in sorted(counts)))
    _show(summary)
    if report.differing:
        one = report.differing == 1
        _show(
            _cell(
                f"{report.differing} {'product differs' if one else 'products differ'} from "
                "the shop; `igest-sync sync-products --update` updates "
                f"{'it' if one else 'them'} in iGEST."
            )
        )


# A product left alone although it differs (no --update): unchanged in iGEST and in --json's
# counts, but not what a person reads as "unchanged".
_DIFFERS = "differs"


def _label(outcome: CatalogueOutcome) -> str:
    if outcome.action == "unchanged" and outcome.differs:
        return _DIFFERS
    return str(outcome.action)
