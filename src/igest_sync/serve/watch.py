"""Real time watches itself: whether Jumpseller's webhooks still reach ``serve``.

Jumpseller pauses a hook after 8 failed deliveries (``serve`` down during a deploy, a proxy
misconfigured, deliveries refused) and its API shows no such state: the only sign is paid
orders that no delivery announced. So ``serve`` keeps, per store, which orders a delivery has
announced since it started, and checks what the ledger knows: a paid order (found by the sweep,
or recorded by a cron run) that no delivery announced and that was paid more than ``GRACE`` ago
(a delivery takes seconds, Jumpseller's first retry comes a minute after a failure) means real
time is *degraded*. Each order counts once; only orders paid after ``serve`` started watching
(its start, when it also re-saves the hooks) and within the last ``WINDOW`` count.

The order is what counts, not the time of the last delivery: a hook paused seconds after a
delivery, or the ``order_paid`` hook paused while ``order_canceled`` still delivers, is seen as
soon as one paid order goes unannounced, however soon the sweep invoices it.

Real time is then degraded until a delivery arrives after that moment: ``/healthz`` says
``"status": "degraded"`` with the reason (still HTTP 200, so a load balancer keeps serve in),
``status`` shows it, one alert goes out (reminded like any other), and ``serve`` re-saves the
hooks (``hooks install``), which turns paused ones back on.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta

from igest_sync.adapters.jumpseller.parse import parse_timestamp
from igest_sync.config import Config
from igest_sync.errors import IgestSyncError
from igest_sync.runs.setup.hooks import HookApi, HooksReport, install_hooks
from igest_sync.state.database import moment
from igest_sync.state.inbox import (
    LAST_WEBHOOK,
    REALTIME,
    REALTIME_HEALED,
    Degraded,
    InboxStore,
)
from igest_sync.state.ledger import Ledger

log = logging.getLogger("igest_sync.serve")

GRACE = timedelta(minutes=3)  # a paid order's delivery is this late before it counts as missed
WINDOW = timedelta(days=1)  # orders paid longer ago are not watched (and not remembered)
# Jumpseller's clock (an order's payment time) and ours (a delivery's arrival) may differ by
# some seconds: a delivery this soon before the payment time may be the one announcing it.
SKEW = timedelta(minutes=1)
WATCH_EVERY = timedelta(seconds=30)  # how often real time is checked between sweeps
REINSTALL_RETRY = timedelta(minutes=5)  # the hooks could not be saved again: try again then
REINSTALL_EVERY = timedelta(minutes=30)  # while real time stays degraded, save them this often

OnDegraded = Callable[[str, Degraded, str], None]  # the store, the degradation, what to do
SHOWN = 10  # order ids named in a reason, at most


def degraded(inbox: InboxStore) -> Degraded | None:
    """The degradation recorded in the state file, if real time is degraded."""
    return inbox.realtime_degraded()


def _named(order_ids: Iterable[int]) -> str:
    ids = sorted(set(order_ids))
    text = ", ".join(str(i) for i in ids[:SHOWN])
    return text + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")


def unannounced(
    ledger: Ledger,
    announced: Mapping[int, datetime],
    watching_since: datetime,
    now: datetime,
    *,
    counted: Collection[int] = (),
) -> tuple[str, str, list[int]] | None:
    """(reason, public reason, orders) when orders the ledger knows were paid since
    ``watching_since`` (within ``WINDOW``), more than ``GRACE`` ago, and no delivery about them
    arrived after their payment (``announced``: order id -> the last delivery about it; an
    ``order_updated`` before the payment announced nothing). ``counted``: orders already
    counted as missed, each counted once."""
    since = max(watching_since, now - WINDOW)
    missed = []
    for order_id in ledger.paid_between(since, now - GRACE):
        if order_id in counted:
            continue
        heard = announced.get(order_id)
        if heard is not None:
            record = ledger.order(order_id)
            paid = moment(record.paid_at) if record is not None else None
            if paid is None or heard >= paid - SKEW:
                continue
        missed.append(order_id)
    if not missed:
        return None
    last = moment(ledger.get_meta(LAST_WEBHOOK))
    public = f"paid orders that no webhook announced within {_minutes()} minutes"
    latest = (
        f"the last delivery arrived at {last.isoformat(timespec='seconds')}"
        if last is not None
        else "no delivery has arrived since serve started"
    )
    return f"{public} (orders {_named(missed)}); {latest}", f"{public}; {latest}", missed


def _minutes() -> int:
    return int(GRACE.total_seconds() // 60)


def degrade(
    ledger: Ledger,
    seen: tuple[str, str],
    now: datetime,
    *,
    again_within: timedelta = timedelta(0),
) -> Degraded | None:
    """Record that real time is degraded (``seen``: the reason, and its public form); the new
    degradation, or None when it already was: then only its reason is brought up to date
    (orders missed since, for another cause: a token fixed must not be blamed on and on).

    A degradation that comes back within ``again_within`` of the delivery that healed the
    last one is that one again (deliveries that keep coming minutes late, a hook that keeps
    pausing): recorded with its first moment, so it is said and alerted once, and reminded as
    any other alert, not once for every late order; also None."""
    reason, public = seen
    already = degraded(ledger)
    if already is not None:
        if (already.reason, already.public) != (reason, public):
            state = Degraded(already.since, reason, public, already.lost_at)
            ledger.set_meta(REALTIME, json.dumps(state.to_json()))
            log.warning("Real time is still degraded: %s", reason)
        return None
    healed = _healed(ledger)
    if healed is not None and now - healed[1] < again_within:
        lost = now.astimezone(UTC).isoformat(timespec="seconds")
        state = Degraded(healed[0], reason, public, lost)
        ledger.set_meta(REALTIME, json.dumps(state.to_json()))
        log.warning(
            "Real time is degraded again, as it was from %s until %s: %s",
            healed[0],
            healed[1].isoformat(timespec="seconds"),
            reason,
        )
        return None
    state = Degraded(now.astimezone(UTC).isoformat(timespec="seconds"), reason, public)
    ledger.set_meta(REALTIME, json.dumps(state.to_json()))
    log.warning("Real time is degraded: %s", reason)
    return state


def _healed(ledger: Ledger) -> tuple[str, datetime] | None:
    """(since, healed at) of the last degradation a delivery healed, if recorded."""
    try:
        data = json.loads(ledger.get_meta(REALTIME_HEALED) or "{}")
        healed = moment(str(data["healed_at"]))
        since = str(data["since"])
    except (ValueError, KeyError, TypeError):
        return None
    return (since, healed) if healed is not None else None


def heal_on_delivery(ledger: Ledger) -> bool:
    """Clear a degradation once a delivery has arrived after it began; True when cleared."""
    state = degraded(ledger)
    if state is None:
        return False
    last, since = moment(ledger.get_meta(LAST_WEBHOOK)), moment(state.lost_at or state.since)
    if last is None or since is None or last <= since:
        return False
    healed = {"since": state.since, "healed_at": last.isoformat(timespec="seconds")}
    ledger.set_meta(REALTIME_HEALED, json.dumps(healed))
    ledger.set_meta(REALTIME, "")
    log.info("Real time works again: a webhook arrived at %s", last.isoformat(timespec="seconds"))
    return True


FIX = (
    "serve re-saves its hooks by itself (igest-sync hooks install, which turns paused ones "
    "back on); if no delivery comes after the next paid order, check that [serve] public_url "
    "reaches serve (proxy, firewall) and the hooks token, then run igest-sync hooks install"
)
# Without [serve] public_url (hooks registered with `hooks install --url`) serve saves no hook
# again: saying it does left a paused hook paused while the merchant waited for serve.
FIX_WITHOUT_URL = (
    "serve cannot save its hooks again without [serve] public_url: run igest-sync hooks "
    "install --url https://... (the address Jumpseller posts to; it turns paused hooks back "
    "on), and set [serve] public_url so that serve does it by itself next time; if no "
    "delivery comes after the next paid order, check that the address reaches serve (proxy, "
    "firewall) and the hooks token"
)


# ``hooks install`` as serve runs it by itself: the store's hooks saved again at its
# [serve] public_url.
SaveHooks = Callable[[Ledger], HooksReport]


def hooks_saver(config: Config, hooks: HookApi) -> SaveHooks | None:
    """How serve saves one store's hooks again; None without ``[serve] public_url``: serve
    cannot know where they point."""
    if not config.serve.public_url:
        return None
    return lambda ledger: install_hooks(config, hooks, ledger, None)


class Keeper:
    """One store's real-time upkeep in ``serve``'s worker: when to check, when to save the
    hooks again (at start, then when degraded), and what was said. Its ``check`` and
    ``reinstall`` run in the worker's units, under the run lock."""

    def __init__(
        self,
        name: str,
        save_hooks: SaveHooks | None,
        now: datetime,
        *,
        again_within: timedelta = timedelta(0),
    ) -> None:
        self.name = name
        self.save_hooks = save_hooks  # hooks_saver's
        # Lost again this soon after it healed: the same degradation (``degrade``).
        self.again_within = again_within
        self.on_degraded: OnDegraded | None = None
        self.watching_since = now  # orders paid from now on are watched for deliveries
        self.next_watch = now + WATCH_EVERY
        self.next_reinstall: datetime | None = now  # at start: save the hooks again
        self.last_reinstall: datetime | None = None
        self._no_url_said = False
        # Deliveries the receiver refused since the last one it accepted: for their signature,
        # or signed with our token but sent to another path (its threads count them).
        self._bad_signatures = 0
        self._last_bad_signature: datetime | None = None
        self._wrong_paths = 0
        self._last_wrong_path: tuple[str, datetime] | None = None
        # Orders a delivery announced (when), and orders already counted as missed (when).
        self._announced: dict[int, datetime] = {}
        self._counted: dict[int, datetime] = {}
        self._lock = threading.Lock()

    def announced(self, order_id: int, at: datetime, triggered: str | None = None) -> None:
        """A delivery about ``order_id`` was accepted at ``at`` (the receiver's thread).

        ``triggered`` (Jumpseller-Triggered-At) is on Jumpseller's clock, the one an order's
        payment time is on: a delivery it dates after the payment announced it, even when our
        clock is minutes behind (no NTP), where our time of arrival reads "before the payment"
        and every announced order counted as missed. Further than ``WINDOW`` from ``at`` it
        is no clock's difference (the header is not signed): not used."""
        sent = parse_timestamp(triggered)
        if sent is not None and abs(sent - at) <= WINDOW:
            at = max(at, sent)
        with self._lock:
            self._announced[order_id] = at

    def refused_signature(self, at: datetime) -> None:
        """The receiver refused a delivery whose Jumpseller-Hmac-Sha256 did not verify: one
        forged request says nothing, but with real time degraded it names the likely cause
        (a hooks token that is not the key Jumpseller signs with)."""
        with self._lock:
            self._bad_signatures += 1
            self._last_bad_signature = at

    def delivered_elsewhere(self, path: str, at: datetime) -> None:
        """The receiver answered 404 to a delivery signed with this store's token: it came to
        ``path``, not to the store's, so the proxy forwards another path than public_url's."""
        with self._lock:
            self._wrong_paths += 1
            self._last_wrong_path = (path, at)

    def delivered(self) -> None:
        """A delivery was accepted: what was refused before it is no cause of what follows."""
        with self._lock:
            self._bad_signatures, self._last_bad_signature = 0, None
            self._wrong_paths, self._last_wrong_path = 0, None

    def _with_refusals(self, seen: tuple[str, str]) -> tuple[str, str]:
        """``seen`` with what the receiver refused since the last delivery it accepted (or
        since serve started): the likely cause."""
        with self._lock:
            signatures, last_signature = self._bad_signatures, self._last_bad_signature
            paths, last_path = self._wrong_paths, self._last_wrong_path
        reason, public = seen
        if signatures and last_signature is not None:
            reason += (
                f"; {signatures} deliver{'y was' if signatures == 1 else 'ies were'} refused "
                "for a wrong Jumpseller-Hmac-Sha256 signature (the last at "
                f"{last_signature.isoformat(timespec='seconds')}): check that [jumpseller] "
                "hooks_token is the key Jumpseller signs webhooks with (Admin Panel > Config > "
                "Notifications > Webhooks)"
            )
            public += "; deliveries are refused for their signature"
        if paths and last_path is not None:
            path, at = last_path
            reason += (
                f"; {paths} deliver{'y' if paths == 1 else 'ies'} signed with this store's "
                f"hooks token came to {path}, where serve does not listen (the last at "
                f"{at.isoformat(timespec='seconds')}): check that the proxy forwards "
                "[serve] public_url's path unchanged"
            )
            public += "; deliveries come to another path"
        return reason, public

    @property
    def fix(self) -> str:
        """What to do about real time degraded: whether serve saves the hooks again itself."""
        return FIX if self.save_hooks is not None else FIX_WITHOUT_URL

    def after_a_step_back(self, now: datetime) -> None:
        """Due times the wall clock set before it stepped back lie further ahead than their
        interval: due now (serve's worker, ``_after_a_step_back``); a save "in the future" is
        a save now, so the next one comes ``REINSTALL_EVERY`` from here, not from then. Orders
        are watched from now when serve started "in the future": from then, those paid during
        the step were never looked at (a paused hook unseen for as long as the step)."""
        self.watching_since = min(self.watching_since, now)
        if self.next_watch > now + WATCH_EVERY:
            self.next_watch = now
        if self.next_reinstall is not None and self.next_reinstall > now + REINSTALL_EVERY:
            self.next_reinstall = now
        if self.last_reinstall is not None and self.last_reinstall > now:
            self.last_reinstall = now

    def due_times(self) -> list[datetime | None]:
        return [self.next_watch, self.next_reinstall]

    def check(self, ledger: Ledger, now: datetime) -> list[str]:
        """Whether webhooks still arrive; degraded: say so once and save the hooks again."""
        self.next_watch = now + WATCH_EVERY
        heal_on_delivery(ledger)
        with self._lock:
            for memory in (self._announced, self._counted):
                for order_id in [o for o, at in memory.items() if at < now - WINDOW - GRACE]:
                    del memory[order_id]
            heard = dict(self._announced)
            counted = set(self._counted)
        missed = unannounced(ledger, heard, self.watching_since, now, counted=counted)
        if missed is not None:
            reason, public, orders = missed
            with self._lock:
                self._counted.update(dict.fromkeys(orders, now))
            seen = self._with_refusals((reason, public))
            new = degrade(ledger, seen, now, again_within=self.again_within)
            if new is not None:
                if self.on_degraded is not None:
                    self.on_degraded(self.name, new, self.fix)
                self.next_reinstall = now
            elif self.next_reinstall is None and (
                self.last_reinstall is None or now - self.last_reinstall >= REINSTALL_RETRY
            ):
                # Missed again while degraded (hooks deleted since the last save, say): saved
                # again now, not REINSTALL_EVERY after the last save; a save that failed keeps
                # its own retry time.
                self.next_reinstall = now
        if degraded(ledger) is not None and self.next_reinstall is None:
            last = self.last_reinstall
            if last is None or now - last >= REINSTALL_EVERY:
                self.next_reinstall = now
        return []

    def reinstall_due(self, now: datetime) -> bool:
        """Whether the hooks are to be saved again now; never without ``[serve] public_url``
        (serve cannot know where they point; said once in the log)."""
        if self.next_reinstall is None or now < self.next_reinstall:
            return False
        if self.save_hooks is not None:
            return True
        self.next_reinstall = None
        if not self._no_url_said:
            self._no_url_said = True
            log.warning(
                "Store %s: [serve] public_url is not set, so serve cannot save its hooks "
                "again (a hook Jumpseller paused stays paused): set it",
                self.name,
            )
        return False

    def reinstall(self, ledger: Ledger, now: datetime) -> list[str]:
        """``hooks install`` by serve itself: each of our hooks saved again (a paused one
        resumes), a missing one created. Never a person's problem by itself: logged."""
        self.next_reinstall = None
        if self.save_hooks is None:  # reinstall_due says so: nothing to save them with
            return []
        try:
            report = self.save_hooks(ledger)
        except IgestSyncError as exc:
            log.warning(
                "Store %s: could not save the hooks again (%s); trying again in %d minutes",
                self.name,
                exc,
                REINSTALL_RETRY.total_seconds() // 60,
            )
            self.next_reinstall = now + REINSTALL_RETRY
            return []
        self.last_reinstall = now
        ours = [line for line in report.lines if line.ours and line.action != "deleted"]
        log.info(
            "Store %s: %d hook(s) saved again (%d change(s)); paused ones resume",
            self.name,
            len(ours),
            report.changed,
        )
        return []
