"""The one place a run's document steps are wired: its ``Issuer`` (the exactly-once path), its
``FollowUp`` (link-back, email) and its ``Credits`` (through that same issuer).

``invoice``, ``resend``, ``approve``, ``serve``'s webhook work and ``reconcile --fix`` get them
through ``InvoiceRun``; ``credit`` through ``credit_run``. Both call ``wire``: the wiring is
written once, from a ``RunContext``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from igest_sync.config import Config
from igest_sync.runs.context import Clock, RunContext
from igest_sync.runs.credits.credit import Credits
from igest_sync.runs.invoicing.catch_up import CatchUp
from igest_sync.runs.invoicing.followup import FollowUp
from igest_sync.runs.invoicing.issuer import CrashHook, Issuer
from igest_sync.runs.services import IgestApi, JumpsellerApi, ViesApi
from igest_sync.state.ledger import Ledger
from igest_sync.timeutil import lisbon_date


@dataclass(frozen=True)
class DocumentSteps:
    """One run's issuer, follow-ups and credit pass, sharing that issuer."""

    issuer: Issuer
    followup: FollowUp
    credits: Credits


def wire(
    context: RunContext,
    *,
    now: datetime | None = None,
    crash_hook: CrashHook | None = None,
    catch_up: CatchUp | None = None,
) -> DocumentSteps:
    """The run's steps; ``now`` is the run's start (read from the context's clock if not
    given). ``crash_hook`` goes to the issuer (tests stand a kill with it), and so does
    ``catch_up`` (``serve``'s worker hands the same one to each of its units)."""
    now = now or context.now()
    issuer = Issuer(context, today=lisbon_date(now), crash_hook=crash_hook, catch_up=catch_up)
    followup = FollowUp(context, now=now)
    return DocumentSteps(issuer, followup, Credits(context, issuer, followup))


def credit_run(
    config: Config,
    ledger: Ledger,
    jumpseller: JumpsellerApi,
    igest: IgestApi,
    *,
    vies: ViesApi | None = None,
    now: datetime | Clock | None = None,
    crash_hook: CrashHook | None = None,
) -> Credits:
    """The ``credit`` command's run from a config (the tests' seam; the CLI wires its
    context): its own issuer and follow-ups."""
    context = RunContext.build(config, ledger, jumpseller, igest, vies=vies, now=now)
    return wire(context, crash_hook=crash_hook).credits
