"""Configuration: load, validate and write the TOML file; paths from platformdirs.

(Interface stub: the dataclasses are final; load/validate/write are to be implemented.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True)
class JumpsellerConfig:
    base_url: str
    login: str
    auth_token: str
    store: str  # store code used in external references; defaults to login


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
    link_documents: bool = True  # attach the document to the Jumpseller order
    email_customer: bool = False
    email_max_age_days: int = 3
    concurrency: int = 4


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


@dataclass(frozen=True)
class Config:
    path: Path
    jumpseller: JumpsellerConfig
    igest: IgestConfig
    invoice: InvoiceConfig = InvoiceConfig()
    products: ProductsConfig = ProductsConfig()
    stock: StockConfig = StockConfig()

    def secrets(self) -> list[str]:
        """Values that must never appear in output, logs or tracebacks."""
        return [s for s in (self.jumpseller.auth_token, self.igest.security_code,
                            self.igest.integration_key) if s]
