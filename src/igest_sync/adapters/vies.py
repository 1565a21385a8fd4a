"""VIES adapter: is an EU VAT number valid? The only module that knows VIES's wire format.

``POST {base_url}/check-vat-number`` with ``{"countryCode", "vatNumber",
"requesterMemberStateCode", "requesterNumber"}`` (numbers without their country prefix; the
requester is the merchant's own Portuguese VAT number, from iGEST's ``/entity``). Naming the
requester makes VIES return a consultation number (``requestIdentifier``): the evidence an
auditor accepts that the check was made that day.

Only a clear ``"valid": true`` or ``"valid": false`` is an answer. Anything else (an error code
such as ``MS_UNAVAILABLE``, which some Member States return every night, an unknown shape, a 4xx
or 5xx, a timeout) is **unavailable**: the order waits and a later run asks again. It is never
issued exempt on a guess, and never failed as invalid because a service was down.

The call goes through the one HTTP boundary (timeouts, pacing, error mapping). It is a POST, so
``HttpService`` does not repeat it once it may have been sent; we do not ask it to, although the
check is a pure read: a run that meets an unavailable VIES leaves the order waiting and the next
run asks again, which is the retry that matters (VIES's own outages last minutes to hours).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx

from igest_sync.adapters.http import HttpService, RateWindow, ServiceClient
from igest_sync.errors import ApiError
from igest_sync.models import ViesCheck, ViesStatus

SERVICE = "VIES"
# VIES answers in a second or two when the Member State's system is up; it allows few
# concurrent requests per client (MS_MAX_CONCURRENT_REQ), so pace gently.
_PER_SECOND = 2


def split_vat_number(vat_number: str) -> tuple[str, str]:
    """ "ESB12345674" -> ("ES", "B12345674"); Greece stays "EL" as VIES spells it."""
    compact = "".join(vat_number.split()).upper()
    country, number = compact[:2], compact[2:]
    return ("EL" if country == "GR" else country), number


class ViesClient(ServiceClient):
    """VIES REST client (public, no credentials)."""

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = HttpService(
            service=SERVICE,
            base_url=base_url,
            windows=[RateWindow(_PER_SECOND, 1.0)],
            credential_keys="vies.base_url in the config file",
            transport=transport,
            timeout=timeout,
            clock=clock,
            sleep=sleep,
        )

    def check(self, vat_number: str, *, requester: str, today: date) -> ViesCheck:
        """Ask VIES about ``vat_number`` (with its country prefix) on behalf of ``requester``
        (the merchant's Portuguese NIF, with or without "PT"). Never raises for a VIES problem:
        an unclear answer is a ``ViesCheck`` whose status is unavailable, with the reason."""
        country, number = split_vat_number(vat_number)
        requester_number = "".join(requester.split()).upper().removeprefix("PT")
        body = {
            "countryCode": country,
            "vatNumber": number,
            "requesterMemberStateCode": "PT",
            "requesterNumber": requester_number,
        }
        try:
            answer = self._http.request("POST", "/check-vat-number", json_body=body)
        except ApiError as exc:
            detail = exc.code or str(exc)
            return ViesCheck(country, number, ViesStatus.UNAVAILABLE, today, detail=detail)
        return read_answer(answer, country, number, today)


def _error_code(answer: dict) -> str | None:
    """VIES's error code, wherever this answer put it (``userError``, ``errorWrappers``)."""
    user_error = answer.get("userError")
    if isinstance(user_error, str) and user_error.strip():
        return user_error.strip().upper()
    wrappers = answer.get("errorWrappers")
    if isinstance(wrappers, list):
        for wrapper in wrappers:
            if isinstance(wrapper, dict) and wrapper.get("error"):
                return str(wrapper["error"]).strip().upper()
    if answer.get("actionSucceed") is False:
        return "ACTION_FAILED"
    return None


def read_answer(answer: Any, country: str, number: str, today: date) -> ViesCheck:
    """A VIES answer body -> ``ViesCheck``: valid or invalid only when VIES said so clearly."""
    if not isinstance(answer, dict):
        # An answer came, in a shape VIES's API never gives (a proxy's, a service mid-change).
        detail = "an answer of an unknown shape"
        return ViesCheck(country, number, ViesStatus.UNAVAILABLE, today, detail=detail)
    valid = answer.get("valid")
    code = _error_code(answer)
    consultation = answer.get("requestIdentifier")
    consultation = str(consultation).strip() if consultation else None
    # "VALID" / "INVALID" as userError merely restate the answer; any other code means the
    # service could not tell, whatever ``valid`` says (MS_UNAVAILABLE comes with valid: false).
    unclear = code is not None and code not in ("VALID", "INVALID")
    if valid is True and not unclear and code != "INVALID":
        return ViesCheck(country, number, ViesStatus.VALID, today, consultation or None)
    if valid is False and not unclear and code != "VALID":
        return ViesCheck(country, number, ViesStatus.INVALID, today, consultation or None)
    detail = code or "an answer that says neither valid nor invalid"
    return ViesCheck(country, number, ViesStatus.UNAVAILABLE, today, detail=detail)
