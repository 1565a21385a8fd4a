"""The one exception tree of igest-sync.

Adapters translate every httpx error and error status into these at one boundary; the core
raises them; the CLI (``cli/errors.py``) alone turns them into a one-line message, a hint and
an exit code.
Nothing else of httpx, sqlite3 or tomllib escapes the module that uses it.

    IgestSyncError                      exit 2 unless a subclass says otherwise
    ├── UsageError                      2   bad command line (mutually exclusive flags ...)
    ├── ConfigError                     2   config file missing, bad TOML, unknown/missing keys
    ├── StateError                      4   state file corrupt, from a newer version, unwritable
    │   └── RunLocked                   3   another run holds the lock
    ├── SafetyBrake                     6   sync-stock refused a suspicious run (use --force)
    ├── ApiError                        5   one of the two services failed us
    │   ├── TransportError                  network: connect, timeout, reset      (transient)
    │   ├── ServerError                     5xx                                    (transient)
    │   ├── RateLimited                     429 after waiting as told              (transient)
    │   ├── BadResponse                     body not JSON or not the expected shape(transient)
    │   │   └── Misdirected                 a redirect, a TLS certificate refused: the
    │   │                                   base_url or the server must change (not transient)
    │   ├── AuthError                       401/403: credentials refused
    │   ├── NotFound                        404
    │   ├── Conflict                        409: state conflict (e.g. already final)
    │   └── Rejected                        400/422: the service refused the content
    ├── OrderRejected                   1   one order cannot become a correct document
    └── AlertError                      5   an alert channel failed (SMTP, chat webhook)

Per-item failures (an ``ApiError`` or ``OrderRejected`` while handling one order or SKU) are
recorded and reported; the run goes on and exits 1. ``transient`` says whether the next run may
retry by itself (network, 5xx) or a person must act first (bad data, a refusal).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, TypeGuard


class ExitCode(IntEnum):
    """Every exit code of the CLI. The help text and the README's table are made from this."""

    OK = 0
    ITEM_FAILED = 1
    USAGE = 2
    LOCKED = 3
    STATE = 4
    SERVICE = 5
    SAFETY_BRAKE = 6
    INTERNAL = 70

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "all done",
    ExitCode.ITEM_FAILED: "some item failed (the rest was done), a paid order is still without its "
    "invoice, or `status --fail-if-late` found a late order or no run for that long",
    ExitCode.USAGE: "usage or configuration error (the message names the file and key)",
    ExitCode.LOCKED: (
        "another run holds the lock; this one did nothing (a lock held by `serve` is waited "
        "for, up to 120 s, first)"
    ),
    ExitCode.STATE: "the state file cannot be used (corrupt, from a newer version, not writable); "
    "it is left untouched",
    ExitCode.SERVICE: "a service could not be reached or refused the credentials",
    ExitCode.SAFETY_BRAKE: "`sync-stock`'s safety brake stopped the run (use `--force` if the "
    "change is real)",
    ExitCode.INTERNAL: "internal error; the traceback is in the log file",
}


class IgestSyncError(Exception):
    """Base of every error this tool raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE
    transient = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(IgestSyncError):
    exit_code: ExitCode = ExitCode.USAGE


class ConfigError(IgestSyncError):
    """One or more problems in the configuration; ``problems`` lists them all."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return self.message + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class StateError(IgestSyncError):
    exit_code: ExitCode = ExitCode.STATE


class RunLocked(StateError):
    exit_code: ExitCode = ExitCode.LOCKED

    def __init__(
        self, message: str, *, hint: str | None = None, held_for: float | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.held_for = held_for  # seconds the holder has held the lock, when known


class SafetyBrake(IgestSyncError):
    exit_code: ExitCode = ExitCode.SAFETY_BRAKE


class ApiError(IgestSyncError):
    """A service call failed. ``service`` is "Jumpseller" or "iGEST"."""

    exit_code: ExitCode = ExitCode.SERVICE

    def __init__(
        self,
        message: str,
        *,
        service: str,
        status: int | None = None,
        code: str | None = None,
        fields: dict[str, str] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.service = service
        self.status = status
        self.code = code
        self.fields = dict(fields or {})

    def with_fields(self) -> str:
        """The message followed by what the service said of each field, for a failure reason:
        "... The document is not valid (422): lines[0].description: is longer than 200
        characters". The message alone rarely says which field was wrong."""
        if not self.fields:
            return self.message
        detail = "; ".join(f"{name}: {problem}" for name, problem in sorted(self.fields.items()))
        return f"{self.message}: {detail}"


# The hints of a failure that may pass by itself, as a run reads them. A command that is no run
# (``check``) or that retries by itself (``serve``) gives its own in their place.
SERVER_HINT = (
    "The service had a problem; the next run will retry (a command you typed: "
    "run it again once the service answers)."
)
NETWORK_HINT = (
    "Check the network and the base_url; the next run will retry (a command "
    "you typed: run it again once the service answers)."
)


class TransportError(ApiError):
    transient = True


class ServerError(ApiError):
    transient = True


class RateLimited(ApiError):
    transient = True


class BadResponse(ApiError):
    """An answer that could not be read (not JSON, or not the shape the spec gives): a proxy's
    page, a service mid-deploy. The next run asks again, as after a 5xx, and says so."""

    transient = True

    def __init__(self, message: str, *, service: str, hint: str | None = None, **kw: Any) -> None:
        if hint is None and self.transient:
            hint = SERVER_HINT
        super().__init__(message, service=service, hint=hint, **kw)


class Misdirected(BadResponse):
    """The request never reached the API: the server redirected it (never followed: it could
    carry our credentials elsewhere) or its TLS certificate was refused. No retry helps; the
    base_url, or the server's setup, must change."""

    transient = False


def passes_by_itself(exc: BaseException | None) -> TypeGuard[ApiError]:
    """A service that did not answer as it should, for a while (the network, a 5xx, a 429): the
    next run retries it, and a person hears of it only when it lasts."""
    return isinstance(exc, ApiError) and exc.transient


class AuthError(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class Rejected(ApiError):
    pass


class OrderRejected(IgestSyncError):
    """An order that cannot become a correct document; the message names the cause and the fix."""

    exit_code: ExitCode = ExitCode.ITEM_FAILED

    def __init__(self, order_id: int | str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"Order {order_id}: {message}", hint=hint)
        self.order_id = order_id
        self.reason = message


class AlertError(IgestSyncError):
    """An alert channel (SMTP server, chat webhook) failed. Never fails a run: the alert stays
    recorded and a later run sends it; ``alerts test`` and ``check`` report it."""

    exit_code: ExitCode = ExitCode.SERVICE
    transient = True

    def __init__(self, channel: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.channel = channel
