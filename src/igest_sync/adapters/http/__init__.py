"""Shared HTTP plumbing for the adapters, one module per concern:

- ``service``: ``HttpService``, the one error boundary (retries, the time budget, and httpx
  errors and HTTP statuses mapped to our exceptions), and ``ServiceClient``;
- ``pacing``: ``RateGate``, the rate limits over sliding windows, shared by threads;
- ``pace_file``: ``PaceFile``, what an earlier run spent of the current second.

Nothing here knows Jumpseller's or iGEST's wire format. The names the adapters and tests use are
importable from here.
"""

from igest_sync.adapters.http.pace_file import UNFINISHED, PaceFile
from igest_sync.adapters.http.pacing import LATE_SEND, Clock, RateGate, RateWindow, Sleep
from igest_sync.adapters.http.service import (
    IDEMPOTENT_METHODS,
    MIN_ATTEMPT,
    NEVER_SENT,
    USER_AGENT,
    ErrorReader,
    HttpService,
    ServiceClient,
    default_error_reader,
    tls_context,
)

__all__ = [
    "IDEMPOTENT_METHODS",
    "LATE_SEND",
    "MIN_ATTEMPT",
    "NEVER_SENT",
    "UNFINISHED",
    "USER_AGENT",
    "Clock",
    "ErrorReader",
    "HttpService",
    "PaceFile",
    "RateGate",
    "RateWindow",
    "ServiceClient",
    "Sleep",
    "default_error_reader",
    "tls_context",
]
