"""``igest-sync hooks``: register, list and remove the store's webhooks that ``serve`` receives.

Which hooks are ours: the ones whose ids we recorded in the ledger (meta ``hooks``, id -> the
URL we gave it) and that still point at that URL. A hook the merchant re-pointed, or one of
another app, is never ours, so ``remove`` cannot touch it. A hook whose event is one we need and
whose URL is exactly the target is adopted as ours (it is what we would create; this is how a
lost answer to our POST, or a lost ledger, heals on the next run without a duplicate).

``install`` is idempotent: per needed event it keeps a hook already at the target, moves a
stale one of ours there (PUT), or creates one (POST); our hooks for events no longer needed
(stock no longer read from Jumpseller) are deleted. A rerun changes nothing in the hooks' list.

A hook kept is saved again as it is (PUT with its own event and URL): Jumpseller pauses a hook
after 8 failed deliveries, its API shows no such state, and saving the hook again (as the admin
panel's save does) turns it back on (our model, docs/architecture.md). So ``install`` is also
how real time is turned back on, and ``serve`` runs it by itself at start and when it sees
that no webhook arrives (serve/watch.py).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from igest_sync.config import Config
from igest_sync.errors import ApiError, NotFound, UsageError
from igest_sync.models import Hook

log = logging.getLogger("igest_sync.hooks")

ORDER_EVENTS = ("order_paid", "order_canceled", "order_updated")
STOCK_EVENT = "product_stock_updated"
META_KEY = "hooks"


class HookApi(Protocol):
    def hooks(self) -> list[Hook]: ...

    def create_hook(self, event: str, url: str) -> Hook: ...

    def update_hook(self, hook_id: int, event: str, url: str) -> Hook: ...

    def delete_hook(self, hook_id: int) -> None: ...


class HookMeta(Protocol):
    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...


def needed_events(config: Config) -> tuple[str, ...]:
    """The events ``serve`` acts on: the order events, and stock changes when ``[stock]`` reads
    Jumpseller's stock (direction jumpseller_to_igest)."""
    if config.stock.enabled and config.stock.direction == "jumpseller_to_igest":
        return (*ORDER_EVENTS, STOCK_EVENT)
    return ORDER_EVENTS


def target_url(config: Config, url: str | None) -> str:
    """``--url``, else ``[serve] public_url``; https (http only on loopback), like the config."""
    chosen = url or config.serve.public_url
    if not chosen:
        raise UsageError(
            "No URL for the webhooks: give --url https://... or set [serve] public_url "
            "(the address Jumpseller posts to, forwarded to `igest-sync serve`)."
        )
    parts = urlsplit(chosen)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise UsageError(
            f"The webhook URL must be https (http only for 127.0.0.1/localhost): "
            f"{shown_url(chosen)}"
        )
    if not parts.hostname:
        raise UsageError(f"The webhook URL has no host: {shown_url(chosen)}")
    if parts.query or parts.fragment:
        # [serve] public_url refuses one (a token pasted there would travel in every log):
        # hooks saved with it could never be named in the config that checks and heals them.
        raise UsageError(
            f"The webhook URL must not carry a query or fragment: {shown_url(chosen)}",
            hint="Give the address alone, as [serve] public_url takes it: Jumpseller signs "
            "every delivery with the hooks token, which serve checks.",
        )
    return chosen


def shown_url(url: str) -> str:
    """A URL fit to print: a password and the query (where tokens travel) masked."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username or parts.password:
        netloc = f"***@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


# -- what we recorded -------------------------------------------------------------------------


def recorded(ledger: HookMeta) -> dict[int, str]:
    """Our hooks as recorded: id -> the URL we registered it with."""
    raw = ledger.get_meta(META_KEY)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        return {}
    return {int(k): str(v) for k, v in data.items() if str(k).isdecimal()}


def _record(ledger: HookMeta, ours: dict[int, str]) -> None:
    ledger.set_meta(META_KEY, json.dumps({str(k): v for k, v in sorted(ours.items())}))


def is_ours(hook: Hook, ours: dict[int, str]) -> bool:
    return ours.get(hook.id) == hook.url


# -- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HookLine:
    """One hook and what was done with it (``action``: kept, created, updated, deleted, or
    ``other`` for a hook that is not ours, listed but left alone)."""

    id: int
    event: str
    url: str
    ours: bool
    action: str = "kept"

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "event": self.event,
            "url": shown_url(self.url),
            "ours": self.ours,
            "action": self.action,
        }


@dataclass
class HooksReport:
    command: str  # install | list | remove
    target: str | None = None
    needed: tuple[str, ...] = ()
    lines: list[HookLine] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(1 for line in self.lines if line.action in ("created", "updated", "deleted"))

    @property
    def missing(self) -> list[str]:
        """Needed events without a hook of ours at the target (for ``list``)."""
        if self.target is None:
            return []
        have = {line.event for line in self.lines if line.ours and line.url == self.target}
        return [e for e in self.needed if e not in have]

    def to_json(self) -> dict[str, object]:
        return {
            "command": f"hooks {self.command}",
            "url": shown_url(self.target) if self.target else None,
            "events": list(self.needed),
            "missing": self.missing,
            "hooks": [line.to_json() for line in self.lines],
        }


# -- the runs ---------------------------------------------------------------------------------


def install_hooks(config: Config, api: HookApi, ledger: HookMeta, url: str | None) -> HooksReport:
    target = target_url(config, url)
    needed = needed_events(config)
    report = HooksReport("install", target, needed)
    hooks = api.hooks()
    ours = {h.id: h.url for h in hooks if is_ours(h, recorded(ledger))}
    done: set[int] = set()
    for event in needed:
        line = _ensure(api, ledger, ours, hooks, event, target)
        done.add(line.id)
        report.lines.append(line)
    for hook in hooks:
        if hook.id in done:
            continue
        if hook.id in ours:  # ours, for an event no longer needed, or a second one
            _delete(api, hook)
            ours.pop(hook.id)
            _record(ledger, ours)
            report.lines.append(HookLine(hook.id, hook.event, hook.url, True, "deleted"))
        else:
            report.lines.append(HookLine(hook.id, hook.event, hook.url, False, "other"))
    _record(ledger, ours)
    return report


def _ensure(
    api: HookApi,
    ledger: HookMeta,
    ours: dict[int, str],
    hooks: list[Hook],
    event: str,
    target: str,
) -> HookLine:
    there = [h for h in hooks if h.event == event and h.url == target]
    # Prefer one we recorded, so a rerun keeps the very same hook.
    there.sort(key=lambda h: (h.id not in ours, h.id))
    if there:
        hook = there[0]
        if hook.id not in ours:
            log.info("Adopted Jumpseller hook %s (%s), already at our URL", hook.id, event)
        ours[hook.id] = hook.url
        _record(ledger, ours)
        # Saved again as it is: a paused hook resumes (the API cannot tell which are paused).
        api.update_hook(hook.id, event, hook.url)
        log.info(
            "Re-saved Jumpseller hook %s (%s), which resumes it if it was paused", hook.id, event
        )
        return HookLine(hook.id, event, hook.url, True, "kept")
    stale = sorted(h.id for h in hooks if h.event == event and h.id in ours)
    if stale:
        hook = api.update_hook(stale[0], event, target)
        ours[hook.id] = target
        _record(ledger, ours)
        log.info("Moved Jumpseller hook %s (%s) to the new URL", hook.id, event)
        return HookLine(hook.id, event, target, True, "updated")
    try:
        hook = api.create_hook(event, target)
    except ApiError:
        # The POST may have reached Jumpseller with its answer lost: look before failing, so
        # the hook is adopted now instead of duplicated by the next run.
        found = [h for h in api.hooks() if h.event == event and h.url == target]
        if not found:
            raise
        hook = min(found, key=lambda h: h.id)
    ours[hook.id] = target
    _record(ledger, ours)
    log.info("Created Jumpseller hook %s (%s)", hook.id, event)
    return HookLine(hook.id, event, target, True, "created")


def _delete(api: HookApi, hook: Hook) -> None:
    try:
        api.delete_hook(hook.id)
    except NotFound:
        pass  # gone already: what we wanted
    log.info("Deleted Jumpseller hook %s (%s)", hook.id, hook.event)


def _mine(hook: Hook, ours: dict[int, str], target: str | None) -> bool:
    """Recorded as ours at this URL, or one of our events at ``[serve] public_url`` (a lost
    ledger: no other app posts to our own receiver)."""
    return is_ours(hook, ours) or (
        target is not None and hook.url == target and hook.event in (*ORDER_EVENTS, STOCK_EVENT)
    )


def list_hooks(config: Config, api: HookApi, ledger: HookMeta) -> HooksReport:
    target = config.serve.public_url
    report = HooksReport("list", target, needed_events(config))
    ours = recorded(ledger)
    for hook in api.hooks():
        mine = _mine(hook, ours, target)
        action = "kept" if mine else "other"
        report.lines.append(HookLine(hook.id, hook.event, hook.url, mine, action))
    return report


def remove_hooks(config: Config, api: HookApi, ledger: HookMeta) -> HooksReport:
    """Delete our hooks and nothing else; the record forgets each as it goes."""
    report = HooksReport("remove", None, needed_events(config))
    ours = recorded(ledger)
    for hook in api.hooks():
        if not _mine(hook, ours, config.serve.public_url):
            report.lines.append(HookLine(hook.id, hook.event, hook.url, False, "other"))
            continue
        _delete(api, hook)
        ours.pop(hook.id, None)
        _record(ledger, ours)
        report.lines.append(HookLine(hook.id, hook.event, hook.url, True, "deleted"))
    # What is left was recorded but is gone, or was re-pointed by someone else: not ours.
    _record(ledger, {})
    return report


def hooks_check(config: Config, api: HookApi) -> tuple[bool, str, str | None]:
    """For ``check``: (ok, detail, hint) about the hooks and ``[serve] public_url``."""
    target = config.serve.public_url
    if target is None:
        return (
            True,
            "[serve] public_url not set: no webhooks expected (cron or serve's sweep only)",
            None,
        )
    hooks = api.hooks()
    needed = needed_events(config)
    have = {h.event for h in hooks if h.url == target}
    missing = [e for e in needed if e not in have]
    elsewhere = sorted({h.event for h in hooks if h.event in missing})
    if not missing:
        return True, f"{', '.join(needed)} point at {shown_url(target)}", None
    detail = f"no hook sends {', '.join(missing)} to {shown_url(target)}"
    if elsewhere:
        detail += f" ({', '.join(elsewhere)} go elsewhere)"
    return False, detail, "Run `igest-sync hooks install` (it registers [serve] public_url)."
