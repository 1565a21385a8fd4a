"""VAT rates of the other 26 Member States, for lines issued under the OSS scheme.

Under the One-Stop Shop (pt-invoicing facts in docs/invoicing-rules.md, section 7) an EU distance
sale is charged at the customer's country rate. Jumpseller computes that rate; the tool only
checks that it is one of that country's rates, so a typo in a store's tax table (21 % set for
France, say) is refused instead of being invoiced. The table is plain data: standard rate first,
then the reduced, super-reduced and parking rates that apply to goods.

As of 2026-11-29. Source of every entry unless it says otherwise ("EC"): the European
Commission's "VAT rates applied in the Member States of the European Union" (DG TAXUD,
situation at 1 January 2025), with the changes later announced by the Member States, each
dated and named. A rate a country introduces after this table goes into the config,
``[invoice.oss_rates]`` (``ES = ["21", "10", "4"]``), which adds to it (with no date: the config
is the merchant's word for today). A rate a country withdrew stays here with the day it ended
(``until``): a supply made before that day may still be invoiced at it, one made from that day
on is refused, so that a store whose tax table was not updated never issues the old rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class OssRate:
    rate: Decimal
    since: date  # in force from (the oldest ones: in force on the table's date, and before)
    source: str = "EC"
    until: date | None = None  # withdrawn on this day (supplies from then on: refused)

    def applies_on(self, day: date) -> bool:
        started = self.since <= _TABLE_DATE or self.since <= day
        return started and (self.until is None or day < self.until)


_TABLE_DATE = date(2025, 1, 1)


def _rates(
    *values: str, since: date = _TABLE_DATE, source: str = "EC", until: date | None = None
) -> tuple[OssRate, ...]:
    return tuple(OssRate(Decimal(v), since, source, until) for v in values)


OSS_RATES: dict[str, tuple[OssRate, ...]] = {
    "AT": _rates("20", "13", "10"),
    "BE": _rates("21", "12", "6"),
    "BG": _rates("20", "9"),
    "CY": _rates("19", "9", "5", "3"),
    "CZ": _rates("21", "12"),  # 10 and 15 merged into 12 on 2024-01-01
    "DE": _rates("19", "7"),
    "DK": _rates("25"),
    "EE": _rates("9", "5")
    + _rates("22", until=date(2025, 7, 1), source="Estonian VAT Act amendment (standard rate)")
    + _rates("13", since=date(2025, 1, 1), source="Estonian VAT Act amendment (accommodation)")
    + _rates("24", since=date(2025, 7, 1), source="Estonian VAT Act amendment (standard rate)"),
    "ES": _rates("21", "10", "4"),
    "FI": _rates("25.5", "10")
    + _rates("14", until=date(2026, 1, 1), source="Finnish Government (food, 14 -> 13.5)")
    + _rates("13.5", since=date(2026, 1, 1), source="Finnish Government (food, 14 -> 13.5)"),
    "FR": _rates("20", "10", "5.5", "2.1"),
    # Greece's islands rates (17, 9, 4) apply on Leros, Lesvos, Kos, Samos and Chios.
    "GR": _rates("24", "13", "6", "17", "9", "4"),
    "HR": _rates("25", "13", "5"),
    "HU": _rates("27", "18", "5"),
    "IE": _rates("23", "13.5", "9", "4.8"),
    "IT": _rates("22", "10", "5", "4"),
    "LT": _rates("21", "9", "5")
    + _rates("12", since=date(2026, 1, 1), source="Lithuanian VAT Act amendment (2025)"),
    "LU": _rates("17", "14", "8", "3"),
    "LV": _rates("21", "12", "5"),
    "MT": _rates("18", "12", "7", "5"),
    "NL": _rates("21", "9"),
    "PL": _rates("23", "8", "5"),
    "RO": _rates("19", "9", "5", until=date(2025, 8, 1), source="Romanian Law 141/2025")
    + _rates("21", "11", since=date(2025, 8, 1), source="Romanian Law 141/2025"),
    "SE": _rates("25", "12", "6"),
    "SI": _rates("22", "9.5", "5"),
    "SK": _rates("5")
    + _rates("20", "10", until=date(2025, 1, 1), source="Slovak Act 278/2024")
    + _rates("23", "19", since=date(2025, 1, 1), source="Slovak Act 278/2024"),
}


def country_rates(
    country: str, extra: Mapping[str, Sequence[Decimal]] | None = None, *, on: date
) -> set[Decimal]:
    """The rates a line may carry for ``country`` (ISO code; EL is Greece) for a supply made
    ``on`` that day: the table's in force then, and the config's. Empty for Portugal and for any
    country outside the table."""
    code = "GR" if country == "EL" else country
    rates = {r.rate for r in OSS_RATES.get(code, ()) if r.applies_on(on)}
    rates.update(Decimal(r) for r in (extra or {}).get(code, ()))
    if code == "GR":
        rates.update(Decimal(r) for r in (extra or {}).get("EL", ()))
    return rates
