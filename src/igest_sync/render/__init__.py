"""Everything a person sees: rich tables, progress bars, JSON, one-line errors.

Quiet by default for cron: a report prints when stdout is a terminal, when something failed
(a person must act), or when asked (--json). Errors and warnings go to stderr.

Tables fit the terminal: under ~100 columns a compact layout with fewer columns, from ~120 the
wide one (``approve`` lists its drafts one block each below ~120). Dates, document numbers and config keys are never cut in two (see ``_cell``); free
text such as a failure reason wraps between words. Every ``--json`` output goes through
``emit_json``: it carries ``"schema": "igest-sync/1"`` and integer order ids.
"""

from __future__ import annotations

from igest_sync.render.adopt import adopt_matches, adopt_report
from igest_sync.render.alerts import digest_report

# Callers use ``render.<name>`` from here; the forked-CLI test harness forgets this package and
# every module in it before each call (they build rich consoles from the environment at import).
from igest_sync.render.catalogue import catalogue_report
from igest_sync.render.console import (
    SCHEMA,
    FitTable,
    Renderer,
    current,
    emit_json,
    emit_report_json,
    error,
    info,
    internal_error,
    json_document,
    local_time,
    progress,
    rendering,
    warn,
)
from igest_sync.render.credits import credit_plan, credit_report, reconcile_report
from igest_sync.render.hooks import hooks_report
from igest_sync.render.invoicing import invoice_report, status_report
from igest_sync.render.setup import check_json, check_results, sandbox_info, sandbox_json

__all__ = [
    "SCHEMA",
    "FitTable",
    "Renderer",
    "adopt_matches",
    "adopt_report",
    "catalogue_report",
    "check_json",
    "check_results",
    "credit_plan",
    "credit_report",
    "current",
    "digest_report",
    "emit_json",
    "emit_report_json",
    "error",
    "hooks_report",
    "info",
    "internal_error",
    "invoice_report",
    "json_document",
    "local_time",
    "progress",
    "reconcile_report",
    "rendering",
    "sandbox_info",
    "sandbox_json",
    "status_report",
    "warn",
]
