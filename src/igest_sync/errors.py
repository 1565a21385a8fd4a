"""The one exception tree of igest-sync.

Adapters translate every httpx error and error status into these at one boundary; the core
raises them; ``cli.py`` alone turns them into a one-line message, a hint and an exit code.
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
    │   ├── AuthError                       401/403: credentials refused
    │   ├── NotFound                        404
    │   ├── Conflict                        409: state conflict (e.g. already final)
    │   └── Rejected                        400/422: the service refused the content
    └── OrderRejected                   1   one order cannot become a correct document

Per-item failures (an ``ApiError`` or ``OrderRejected`` while handling one order or SKU) are
recorded and reported; the run goes on and exits 1. ``transient`` says whether the next run may
retry by itself (network, 5xx) or a person must act first (bad data, a refusal).
"""

from __future__ import annotations


class IgestSyncError(Exception):
    """Base of every error this tool raises on purpose."""

    exit_code = 2
    transient = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(IgestSyncError):
    exit_code = 2


class ConfigError(IgestSyncError):
    """One or more problems in the configuration; ``problems`` lists them all."""

    exit_code = 2

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return self.message + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class StateError(IgestSyncError):
    exit_code = 4


class RunLocked(StateError):
    exit_code = 3


class SafetyBrake(IgestSyncError):
    exit_code = 6


class ApiError(IgestSyncError):
    """A service call failed. ``service`` is "Jumpseller" or "iGEST"."""

    exit_code = 5

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


class TransportError(ApiError):
    transient = True


class ServerError(ApiError):
    transient = True


class RateLimited(ApiError):
    transient = True


class BadResponse(ApiError):
    transient = True


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

    exit_code = 1

    def __init__(self, order_id: int | str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"Order {order_id}: {message}", hint=hint)
        self.order_id = order_id
        self.reason = message
