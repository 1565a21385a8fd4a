"""Configuration: load, validate and write the TOML file.

The dataclasses are the contract the rest of the tool reads. ``load_config`` validates a whole
file at once and reports every problem together (unknown, missing, mistyped and out-of-range
keys), each naming the file and the key, so a person fixes the file in one pass instead of one
error per run. The known keys are the dataclass fields themselves (``validation`` reads
them): a new field is a new key, with no second list to keep in step. Where the files live is
``igest_sync.config.paths``.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w

from igest_sync.config.validation import ENV_OVERRIDES, validate
from igest_sync.errors import ConfigError


@dataclass(frozen=True)
class JumpsellerConfig:
    base_url: str
    login: str
    auth_token: str
    store: str  # store code used in external references; defaults to login
    # The key Jumpseller signs webhooks with (Admin Panel > Config > Notifications > Webhooks);
    # not the API token. Only `serve` and `check` need it.
    hooks_token: str | None = None


@dataclass(frozen=True)
class IgestConfig:
    base_url: str
    integration_key: str
    security_code: str


@dataclass(frozen=True)
class InvoiceConfig:
    start_date: date | None = None
    document_type: str = "FR"  # FR | FT | FS
    series: str = "A"
    fs_fallback: str = "FR"  # FR | FT | fail: what an order above the FS limits becomes
    vat_region: str = "PT"  # PT | PT-AC | PT-MA: where goods are dispatched from
    product_exemption_code: str | None = None  # M.. for 0 % products
    shipping_exemption_code: str | None = None  # M.. for 0 % shipping
    nif_field: str = "NIF"  # label of the checkout custom field holding the NIF
    invalid_nif: str = "fail"  # fail | consumer
    payment_methods: dict[str, str] = field(default_factory=dict)  # jumpseller type -> iGEST code
    default_payment_method: str = "OU"
    warehouse: str | None = None
    move_stock: bool = True
    missing_sku_prefix: str = "JS-"  # fallback reference: JS-<product id>[-<variant id>]
    credit_cancelled: bool = True  # issue an NC when a paid, invoiced order is cancelled
    credit_reason: str = "Encomenda cancelada"
    # Orders created this many days ago at most are credited when cancelled (credit_cancelled);
    # an older one cancelled later is printed as a notice naming the command that credits it.
    credit_lookback_days: int = 90
    link_documents: bool = True  # attach the document to the Jumpseller order
    email_customer: bool = False
    # The merchant confirms that iGEST puts a qualified seal on its PDFs (Lei 73-A/2025, from
    # 2027): no reminder then, and `check` says it was confirmed in the config.
    qualified_seal: bool = False
    email_max_age_days: int = 3
    concurrency: int = 4
    remind_failed_hours: int = 24  # a failure already shown is shown again after this long
    # Review mode (runs/invoicing/review.py): `invoice` and `serve` stop at a checked draft that
    # waits for `igest-sync approve`; a draft still waiting at review_deadline_hour (Lisbon) of its
    # payment day is a notice and an alert; auto_finalize_hour (None: never) finalizes what waits
    # from that hour of its payment day.
    review: bool = False
    review_deadline_hour: int = 18
    auto_finalize_hour: int | None = None
    # [invoice.exemptions]: AT code per destination and kind, domestic_goods ... export_shipping
    # (fiscal/exemptions.py). product_/shipping_exemption_code remain the domestic pair.
    exemptions: dict[str, str] = field(default_factory=dict)
    oss: bool = False  # issue EU distance sales at the customer's country rate (OSS)
    # [invoice.oss_rates]: rates a Member State introduced after fiscal/oss_rates.py's table.
    oss_rates: dict[str, tuple[Decimal, ...]] = field(default_factory=dict)
    copy_order_notes: bool = False  # the customer's checkout note onto the document
    # Jumpseller source.created_from values invoiced; None: every source except "pos".
    sources: tuple[str, ...] | None = None
    # "art53": the small-business VAT exemption (art. 53 CIVA, M10 on the documents); the year's
    # turnover is then counted from iGEST and guarded (runs/art53.py). "normal": VAT charged.
    vat_regime: str = "normal"
    # art53: a notice and an alert, once a year, when the turnover reaches this share (%) of
    # the 15,000 EUR threshold.
    art53_notice_percent: int = 80


DEFAULT_VIES_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"


@dataclass(frozen=True)
class ViesConfig:
    base_url: str = DEFAULT_VIES_URL


@dataclass(frozen=True)
class ProductsConfig:
    vat_rate: Decimal = Decimal("23")
    exemption_code: str | None = None  # required when vat_rate is 0
    prices_include_vat: bool = True


@dataclass(frozen=True)
class StockConfig:
    enabled: bool = False
    direction: str = "igest_to_jumpseller"  # or jumpseller_to_igest
    warehouse: str | None = None  # None: sum of all iGEST warehouses
    jumpseller_location_id: int | None = None  # None: product/variant stock
    max_zero_share: Decimal = Decimal("0.2")


DEFAULT_SERVE_HOST = "127.0.0.1"
DEFAULT_SERVE_PORT = 8787
# Where `serve` receives webhooks when [serve] public_url is not set (behind a proxy that
# forwards this path, or in tests).
DEFAULT_HOOK_PATH = "/webhooks/jumpseller"


@dataclass(frozen=True)
class ServeConfig:
    host: str = DEFAULT_SERVE_HOST  # the address `serve` binds; loopback behind a TLS proxy
    port: int = DEFAULT_SERVE_PORT
    # The full https URL Jumpseller posts to; `serve` listens on its path.
    public_url: str | None = None
    sweep_minutes: int = 10  # the polling backstop: the work of `invoice`, this often

    @property
    def hook_path(self) -> str:
        """The path webhooks arrive on: public_url's path ("/" if it has none)."""
        if self.public_url is None:
            return DEFAULT_HOOK_PATH
        return urlsplit(self.public_url).path or "/"


@dataclass(frozen=True)
class AlertsConfig:
    """[alerts]: where a person hears of a stuck order (email, a chat webhook), and the digest.

    No channel set (the default) is today's behaviour: cron output and the log only.
    """

    smtp_host: str | None = None
    smtp_port: int | None = None  # None: 587 for starttls, 465 for tls, 25 for none
    smtp_security: str = "starttls"  # starttls | tls | none (none: loopback or no password)
    smtp_user: str | None = None
    smtp_password: str | None = None  # or IGEST_SYNC_ALERTS_SMTP_PASSWORD
    email_from: str | None = None
    email_to: tuple[str, ...] = ()
    webhook_url: str | None = None  # a secret: chat webhooks embed their token in the URL
    webhook_format: str = "json"  # slack | discord | teams | ntfy | json
    unreachable_minutes: int = 60  # a service down this long is an alert (shorter: retried)
    late_hours: int = 20  # a paid order without its document this long is an alert
    digest: str = "off"  # daily | weekly (Mondays) | off
    digest_hour: int = 8  # Lisbon time: the first run after it sends the digest
    include_customer: bool = False  # the customer's name in email alerts (never in chat)

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host)

    @property
    def webhook_enabled(self) -> bool:
        return bool(self.webhook_url)

    @property
    def channels(self) -> tuple[str, ...]:
        """The configured channels, in the order they are tried."""
        return tuple(
            name
            for name, on in (("email", self.email_enabled), ("webhook", self.webhook_enabled))
            if on
        )

    @property
    def port(self) -> int:
        if self.smtp_port:
            return self.smtp_port
        return {"tls": 465, "none": 25}.get(self.smtp_security, 587)


@dataclass(frozen=True)
class Config:
    path: Path
    jumpseller: JumpsellerConfig
    igest: IgestConfig
    invoice: InvoiceConfig = InvoiceConfig()
    products: ProductsConfig = ProductsConfig()
    stock: StockConfig = StockConfig()
    vies: ViesConfig = ViesConfig()
    serve: ServeConfig = ServeConfig()
    alerts: AlertsConfig = AlertsConfig()
    # The IGEST_SYNC_* variables that supplied a value (they win over the file): a refused
    # credential's hint names the variable, not the file.
    from_env: frozenset[str] = frozenset()

    def where(self, section: str, key: str) -> str:
        """Where a key's value came from, for a hint: its variable or the file's key."""
        var = ENV_OVERRIDES.get((section, key))
        if var and var in self.from_env:
            return f"{var} (set in the environment, it wins over the file)"
        return f"{section}.{key} in {self.path}"

    def secrets(self) -> list[str]:
        """Values that must never appear in output, logs or tracebacks."""
        return [
            s
            for s in (
                self.jumpseller.auth_token,
                # The Basic-auth pair, whose base64 a server may echo without its scheme.
                self.jumpseller.auth_token
                and f"{self.jumpseller.login}:{self.jumpseller.auth_token}",
                self.igest.security_code,
                self.igest.integration_key,
                self.jumpseller.hooks_token,
                self.alerts.smtp_password,
                self.alerts.webhook_url,
            )
            if s
        ]


# --------------------------------------------------------------------------------------------
# Validation (the rules live in config.validation)

DEFAULT_JUMPSELLER_URL = "https://api.jumpseller.com/v1"

_SCHEMA: dict[str, type] = {
    "jumpseller": JumpsellerConfig,
    "igest": IgestConfig,
    "invoice": InvoiceConfig,
    "products": ProductsConfig,
    "stock": StockConfig,
    "vies": ViesConfig,
    "serve": ServeConfig,
    "alerts": AlertsConfig,
}


def _build(data: dict, path: Path, env: Mapping[str, str]) -> tuple[Config, list[str]]:
    sections, problems, warnings = validate(data, _SCHEMA, path.name, env)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(
            f"Configuration {path}: {count}",
            problems=problems,
            hint="Fix the keys listed; `igest-sync init --example` prints every key, documented.",
        )
    jumpseller = sections["jumpseller"]
    jumpseller.setdefault("store", jumpseller["login"])
    return Config(
        path=path,
        jumpseller=JumpsellerConfig(**jumpseller),
        igest=IgestConfig(**sections["igest"]),
        invoice=InvoiceConfig(**sections["invoice"]),
        products=ProductsConfig(**sections["products"]),
        stock=StockConfig(**sections["stock"]),
        vies=ViesConfig(**sections["vies"]),
        serve=ServeConfig(**sections["serve"]),
        alerts=AlertsConfig(**sections["alerts"]),
        # As validate() reads them: an empty variable does not win over the file.
        from_env=frozenset(var for var in ENV_OVERRIDES.values() if env.get(var)),
    ), warnings


# --------------------------------------------------------------------------------------------
# Reading and writing the file


def load_config(path: Path, env: Mapping[str, str] | None = None) -> tuple[Config, list[str]]:
    """Read and validate ``path``; return the config and warnings, or raise ``ConfigError``.

    ``env`` defaults to ``os.environ``; its ``IGEST_SYNC_*`` credentials win over the file.
    """
    env = os.environ if env is None else env
    label = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        # The message says it all: a problem line "file not found" under it only repeated it.
        raise ConfigError(
            f"No configuration file at {path}", hint="Create it with `igest-sync init`."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the configuration file {path}",
            problems=[f"{label}: {exc.strerror or exc}"],
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise ConfigError(
            f"Configuration {path} is not valid TOML", problems=[f"{label}: not UTF-8 text"]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message names the line and column, never the content: safe to show.
        raise ConfigError(
            f"Configuration {path} is not valid TOML", problems=[f"{label}: not valid TOML: {exc}"]
        ) from None
    config, warnings = _build(data, path, env)
    return config, _permission_warnings(path) + warnings


def _permission_warnings(path: Path) -> list[str]:
    if os.name != "posix":
        return []
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if mode & 0o077:
        return [
            (
                f"{path} is open to other users (mode {mode & 0o777:o}) and may hold secrets: "
                f"run `chmod 600 {path}`"
            )
        ]
    return []


_HEADER = """\
# igest-sync configuration, written by `igest-sync init`.
# `igest-sync init --example` prints every key with its default and allowed values.
# The secrets may come from IGEST_SYNC_JUMPSELLER_AUTH_TOKEN, IGEST_SYNC_IGEST_SECURITY_CODE and
# IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN instead, which win over this file.

"""


def example_config_text() -> str:
    """The fully commented example configuration, shipped inside the package.

    The repository's top-level config.example.toml is the same file (a test keeps them equal);
    this copy is the one an installed igest-sync can print.
    """
    return resources.files("igest_sync").joinpath("config.example.toml").read_text("utf-8")


def _without_none(values: dict) -> dict:
    """TOML has no null: a setting that is not set is simply absent."""
    return {
        k: _without_none(v) if isinstance(v, dict) else v
        for k, v in values.items()
        if v is not None
    }


def write_config(path: Path, values: dict, *, overwrite: bool = False) -> None:
    """Write ``values`` as TOML to ``path``, readable by its owner only from the first byte."""
    text = (_HEADER + tomli_w.dumps(_without_none(values))).encode("utf-8")
    if path.exists() and not overwrite:
        raise ConfigError(
            f"{path} already exists; not overwriting it.",
            hint="Edit it, or add --force to the same `igest-sync init` command to replace it.",
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:  # not the file: a folder on its path is a file
        raise ConfigError(
            f"Cannot write the configuration file {path}: {path.parent} (or a folder above it) "
            "is a file, not a folder.",
            hint="Give a path in a folder (--config, or IGEST_SYNC_HOME), or move that file away.",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot write the configuration file {path}: {exc.strerror or exc}"
        ) from None
    try:
        if overwrite:
            # mkstemp creates the file 0600; replace() swaps it in whole, so a crash never
            # leaves half a config behind.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                _write_all(fd, text)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        else:
            # O_EXCL: if someone created the file since the check above, fail, never clobber.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                _write_all(fd, text)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
    except FileExistsError:
        raise ConfigError(
            f"{path} already exists; not overwriting it.",
            hint="Edit it, or add --force to the same `igest-sync init` command to replace it.",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot write the configuration file {path}: {exc.strerror or exc}"
        ) from None


def _write_all(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def default_start_date() -> date:
    """``init``'s first day to invoice: today in Lisbon, the day orders are dated by, not the
    machine's day (on a server ahead of Lisbon, the rest of Lisbon's day would be skipped)."""
    # Imported here: loading a config for any command need not load the time-zone data.
    from igest_sync.timeutil import lisbon_date

    return lisbon_date(datetime.now(UTC))


def init_values(
    *,
    jumpseller_login: str,
    jumpseller_auth_token: str | None,
    igest_base_url: str,
    igest_integration_key: str | None,
    igest_security_code: str | None,
    jumpseller_base_url: str = DEFAULT_JUMPSELLER_URL,
    store: str | None = None,
    start_date: date | None = None,
    document_type: str = "FR",
    series: str = "A",
    warehouse: str | None = None,
    vat_region: str = "PT",
    products_vat_rate: Decimal | None = None,
    products_exemption_code: str | None = None,
    jumpseller_hooks_token: str | None = None,
    review: bool = False,
) -> dict:
    """The dict ``igest-sync init`` writes; raises ``ConfigError`` if it would not load.

    A credential given as None is left out of the file, to come from its environment variable.
    ``start_date`` defaults to ``default_start_date()``: a new installation never invoices the
    store's history.
    """
    values: dict[str, dict[str, Any]] = {
        "jumpseller": {
            "base_url": jumpseller_base_url,
            "login": jumpseller_login,
            "auth_token": jumpseller_auth_token,
            "store": store,
            "hooks_token": jumpseller_hooks_token,
        },
        "igest": {
            "base_url": igest_base_url,
            "integration_key": igest_integration_key,
            "security_code": igest_security_code,
        },
        "invoice": {
            "start_date": start_date or default_start_date(),
            "document_type": document_type,
            "series": series,
            "vat_region": vat_region,
            "warehouse": warehouse,
            # A new store starts in review mode (init's default): drafts a person approves.
            "review": review,
        },
        "products": {"vat_rate": products_vat_rate, "exemption_code": products_exemption_code},
    }
    values = _without_none(values)
    if not values["products"]:
        del values["products"]
    # Validate now, so init refuses bad answers instead of writing a file that will not load;
    # credentials left to the environment count as present.
    stand_in = {
        var: "from-the-environment"
        for (section, key), var in ENV_OVERRIDES.items()
        if section in ("jumpseller", "igest") and key not in values[section]
    }
    _build(values, Path("config.toml"), stand_in)
    return values
