"""What an AT exemption code means, as iGEST says it (``GET /exemption-reasons``).

Sources describe some codes differently (M44 to M46 above all), so the tool never carries a
meaning of its own: wherever a person reads a code (``approve``'s list, ``check``), the text is
iGEST's, read once per command. When iGEST cannot be asked, the code is shown alone, saying so,
rather than with a guess.
"""

from __future__ import annotations

import logging

from igest_sync.errors import ApiError, AuthError
from igest_sync.models import ExemptionReason
from igest_sync.runs.services import IgestApi

log = logging.getLogger("igest_sync.invoice")


class ExemptionTexts:
    """iGEST's descriptions of the exemption codes, asked for at most once."""

    def __init__(self, igest: IgestApi) -> None:
        self.igest = igest
        self._reasons: dict[str, ExemptionReason] | None = None
        self.unavailable: str | None = None  # why iGEST's list could not be read

    def reasons(self) -> dict[str, ExemptionReason]:
        if self._reasons is None:
            try:
                self._reasons = {r.code: r for r in self.igest.exemption_reasons()}
            except AuthError:
                raise
            except ApiError as exc:
                log.warning("Could not read iGEST's exemption reasons: %s", exc)
                self.unavailable = str(exc)
                self._reasons = {}
        return self._reasons

    def description(self, code: str) -> str | None:
        """iGEST's text for ``code`` (with its legal reference when iGEST gives one), or None."""
        reason = self.reasons().get(code)
        if reason is None or not reason.description.strip():
            return None
        text = reason.description.strip()
        ref = (reason.legal_reference or "").strip()
        return f"{text} ({ref})" if ref and ref not in text else text

    def label(self, code: str) -> str:
        """``M10: <iGEST's text>``, or the code with why there is no text."""
        text = self.description(code)
        if text is not None:
            return f"{code}: {text}"
        if self.unavailable is not None:
            return f"{code} (iGEST's description could not be read)"
        return f"{code} (not on iGEST's list)"
