"""Credit notes (NC) against an invoice, pure: what one credits, or why it cannot.

- ``models``: the request and the answers (``CreditRequest``, ``CreditPlan`` with a
  ``CreditLine`` per reference, ``CreditRefused``);
- ``plan``: ``plan_credit``, the NC for a request, and the rules (its docstring);
- ``per_reference``: the original's lines per reference and what the NCs credited of each;
- ``fitting``: the NC's lines fitted to the cent, within what is left of each reference and so
  that each VAT rate adds up to the invoice;
- ``draft``: the NC's document for a plan (``credit_note_draft``), and ``over_credited``;
- ``identity``: what makes two credit requests the same, and the key their NC's reference carries.

The names the other packages use are importable from here (``identity``'s from ``identity``).
"""

from igest_sync.fiscal.credit.draft import credit_note_draft, over_credited
from igest_sync.fiscal.credit.models import CreditLine, CreditPlan, CreditRefused, CreditRequest
from igest_sync.fiscal.credit.per_reference import price_mode
from igest_sync.fiscal.credit.plan import plan_credit

__all__ = [
    "CreditLine",
    "CreditPlan",
    "CreditRefused",
    "CreditRequest",
    "credit_note_draft",
    "over_credited",
    "plan_credit",
    "price_mode",
]
