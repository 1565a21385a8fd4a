"""A faithful sandbox of the APIs the tool talks to: Jumpseller (the store), iGEST (the
invoicing) and VIES (EU VAT numbers).

    from igest_sandbox import Sandbox, start_sandbox

    with start_sandbox() as sb:                 # three servers on 127.0.0.1, free ports
        sb.jumpseller_base_url                  # "http://127.0.0.1:PORT/v1"
        sb.credentials["igest"]                 # base_url, integration_key, security_code
        sb.vies_base_url                        # "http://127.0.0.1:PORT/rest-api"
        sb.vies.set_unavailable("ES", "B87654323", 2)  # the VIES registry (vies/app.py)
        sb.store.pay_order(10015)               # the Jumpseller state (jumpseller/store.py)
        sb.igest.final_documents_by_reference() # the iGEST state (igest/state.py)
        sb.faults.add("igest", "reset", method="POST", path=r"^/v1/documents$", after=True)
        sb.stats()

    sb = Sandbox()                              # in-process, no sockets:
    httpx.Client(transport=httpx.WSGITransport(app=sb.igest_app), base_url=sb.igest_base_url)

``Sandbox(cross_border=True)`` adds the cross-border orders (``cross_border.py``) to the seed;
``Sandbox(hosted_app=True)`` a period invoiced by the hosted "Quick Invoice" app before the
switch (``hosted_app.py``: its orders, and its documents in iGEST under references not ours);
``Sandbox(small_business=True)`` seeds, in place of the seed's orders, a store under the
small-business exemption (art. 53, M10) whose year's turnover is near 80 % of 15,000 EUR
(``small_business.py``; ``describe()["invoice"]`` the settings a config for it needs).

The apps share ``faults`` and the ``Stats``; Jumpseller and iGEST each have a rate limiter and a
latency
(``sb.jumpseller_app.latency``). Control endpoints without auth on both servers:
``GET /_sandbox/stats``, ``POST /_sandbox/reset-stats``, ``GET|POST|DELETE /_sandbox/faults``,
``POST /_sandbox/load`` ({"orders": n, "variants": n, "seed": s}); on Jumpseller also
``POST /_sandbox/orders/{id}/pay`` ({"at": ISO time}, optional) and ``.../cancel``,
``POST /_sandbox/orders/{id}/webhook`` ({"event": "order_paid"}: sent again to the hooks),
``GET /_sandbox/webhooks``, ``POST /_sandbox/webhooks/reset`` and ``GET /_sandbox/config``
(``describe()``: URLs, credentials and ``controls()``, what ``igest-sync sandbox`` prints).

Webhooks (``jumpseller/webhooks.py``): hooks registered through ``/v1/hooks.json`` (or
``sb.webhooks.add_hook``) get signed deliveries of the store's events from background threads,
with Jumpseller's retries (``webhook_time_scale=`` shrinks their minutes) and the pause after 8
failures; ``sb.credentials["jumpseller"]["hooks_token"]`` is the key of their HMAC.

The sandbox clock (``clock=``, default the real UTC time) dates new things and decides what
"today" and "in the future" mean for iGEST. ``monotonic=`` (the rate limiters' seconds) and
``sleep=`` (latency and ``timeout`` holds of in-process requests) put the emulators on a test's
virtual clock, the one its clients pace on.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Self

from igest_sandbox import cross_border, data, hosted_app, small_business
from igest_sandbox.faults import FaultRule, Faults
from igest_sandbox.igest import seed as igest_seed
from igest_sandbox.igest.app import IgestApp
from igest_sandbox.igest.state import IgestState
from igest_sandbox.jumpseller.app import JumpsellerApp
from igest_sandbox.jumpseller.store import JumpsellerStore, Product, Variant
from igest_sandbox.jumpseller.webhooks import Webhooks
from igest_sandbox.jumpseller.wire import product_fields
from igest_sandbox.limits import IgestLimiter, JumpsellerLimiter
from igest_sandbox.server import LoopbackServer
from igest_sandbox.stats import Stats
from igest_sandbox.vies.app import VatRegistry, ViesApp

__all__ = ["FaultRule", "Faults", "Sandbox", "start_sandbox"]

IN_PROCESS_JUMPSELLER = "http://jumpseller.sandbox/v1"
IN_PROCESS_IGEST = "http://igest.sandbox/v1"
IN_PROCESS_VIES = "http://vies.sandbox/rest-api"


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _latencies(latency: float | tuple[float, float] | dict[str, float]) -> tuple[float, float]:
    if isinstance(latency, dict):
        return float(latency.get("jumpseller", 0.0)), float(latency.get("igest", 0.0))
    if isinstance(latency, tuple):
        return float(latency[0]), float(latency[1])
    return float(latency), float(latency)


class Sandbox:
    """The emulators, their state and faults. ``start()`` serves them on loopback sockets;
    without it, use ``jumpseller_app``/``igest_app``/``vies_app`` through
    ``httpx.WSGITransport``."""

    def __init__(
        self,
        *,
        seed: bool = True,
        jumpseller_port: int = 0,
        igest_port: int = 0,
        latency: float | tuple[float, float] | dict[str, float] = 0.0,
        jumpseller_limits: tuple[int, int] = (20, 800),
        igest_limit: int = 10,
        ban_after: int = 2000,
        ban_seconds: float = 300.0,
        clock: Callable[[], datetime] | None = None,
        store_code: str = "lojadoazulejo",
        credentials: dict[str, dict[str, str]] | None = None,
        vies_port: int = 0,
        cross_border: bool = False,
        hosted_app: bool = False,
        small_business: bool = False,
        webhook_time_scale: float = 1.0,
        webhook_timeout: float = 15.0,
        monotonic: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if small_business and (cross_border or hosted_app):
            # Their orders charge VAT, which an exempt business never states.
            raise ValueError(
                "small_business is a store of its own: not with cross_border or hosted_app"
            )
        self.clock = clock or _utc_now
        self._ports = (jumpseller_port, igest_port, vies_port)
        self._servers: list[LoopbackServer] = []
        alnum = string.ascii_letters + string.digits
        given = credentials or {}
        self._js_login = given.get("jumpseller", {}).get("login") or "sb" + _random(
            string.ascii_lowercase + string.digits, 14
        )
        self._js_token = given.get("jumpseller", {}).get("auth_token") or _random(alnum, 32)
        self._ig_key = given.get("igest", {}).get("integration_key") or "ik_" + _random(alnum, 24)
        self._ig_code = given.get("igest", {}).get("security_code") or _random(string.digits, 8)
        self._hooks_token = given.get("jumpseller", {}).get("hooks_token") or _random(alnum, 32)

        self.faults = Faults(sleep=sleep)
        self.statistics = Stats()
        self.store = JumpsellerStore(self.clock, data.store_info(store_code), data.seed_locations())
        self.store.info["hooks_token"] = self._hooks_token
        self.webhooks = Webhooks(
            # The store code a delivery names: the one our model of Jumpseller shares with the
            # client's config ([jumpseller] store defaults to the login), so a config made
            # from the credentials accepts the sandbox's deliveries as they are.
            store_code=lambda: self._js_login,
            hooks_token=lambda: str(self.store.info.get("hooks_token") or ""),
            clock=self.clock,
            stats=self.statistics,
            faults=self.faults,
            time_scale=webhook_time_scale,
            timeout=webhook_timeout,
        )
        self.store.on_event = self._store_event
        self.igest = IgestState(
            self.clock,
            entity=igest_seed.entity(),
            series=igest_seed.series(),
            warehouses=igest_seed.warehouses(),
            taxes=igest_seed.taxes(),
            exemption_reasons=igest_seed.exemption_reasons(),
            base_url=IN_PROCESS_IGEST,
        )
        js_latency, ig_latency = _latencies(latency)
        per_second, per_minute = jumpseller_limits
        self.jumpseller_limiter = JumpsellerLimiter(
            per_second,
            per_minute,
            ban_after=ban_after,
            ban_seconds=ban_seconds,
            wall_clock=self.clock,
            monotonic=monotonic or time.monotonic,
        )
        self.igest_limiter = IgestLimiter(igest_limit, monotonic=monotonic or time.monotonic)
        self.jumpseller_app = JumpsellerApp(
            self.store,
            login=self._js_login,
            auth_token=self._js_token,
            stats=self.statistics,
            faults=self.faults,
            limiter=self.jumpseller_limiter,
            webhooks=self.webhooks,
            latency=js_latency,
        )
        self.igest_app = IgestApp(
            self.igest,
            integration_key=self._ig_key,
            security_code=self._ig_code,
            stats=self.statistics,
            faults=self.faults,
            limiter=self.igest_limiter,
            latency=ig_latency,
        )
        self.vies = VatRegistry(self.clock, seed=seed)
        self.vies_app = ViesApp(self.vies, stats=self.statistics, faults=self.faults)
        self.jumpseller_app.loader = self.igest_app.loader = self.load_generated
        self.jumpseller_app.describe = self.describe
        # What a person can try on it, in words (``describe()``): each loader adds its line.
        self.seeded: list[str] = []
        # The [alerts] settings of the alert sinks beside it (``sandbox --alerts``), if any:
        # ``describe()`` gives them, so ``init --sandbox`` writes them as it writes the URLs.
        self.alerts: dict[str, Any] | None = None
        # The [invoice] settings a config for this store needs (``small_business``): given by
        # ``describe()``, so ``init --sandbox`` writes them as it writes the URLs.
        self.invoice_settings: dict[str, Any] | None = None
        # The orders the controls pay and cancel (``controls()``).
        self.pending_order, self.paid_order = 10015, 10001
        if seed and small_business:
            self.load_small_business()
        elif seed:
            self.load_seed()
        if cross_border:
            self.load_cross_border()
        if hosted_app:
            self.load_hosted_app()

    # Data -----------------------------------------------------------------------------------

    def _store_event(self, event: str, kind: str, item_id: int) -> None:
        # Called with the store lock held: the body is the state right after the change.
        if not self.webhooks.wants(event):
            return
        if kind == "order":
            payload: dict[str, Any] = {"order": self.store.orders[item_id]}
        else:
            payload = {"product": product_fields(self.store.products[item_id])}
        self.webhooks.notify(event, item_id, payload)

    def load_seed(self) -> None:
        """The seed shop on both sides (see ``data``)."""
        self._load_catalogue(data.seed_products(), data.igest_seed_products())
        self.store.add_orders(data.seed_orders())
        self.seeded.append(
            "Loja do Azulejo, a Portuguese store: its catalogue on both sides and orders "
            "10001-10016 of November 2026 (10015 waits for a Multibanco payment)"
        )

    def _load_catalogue(self, products: list[Product], articles: list[dict[str, Any]]) -> None:
        for product in products:
            self.store.add_product(product)
        for sku, quantity in data.PORTO_STOCK.items():  # part of the item's stock is in Porto
            product, variant = self.store.item_by_sku(sku)
            total = (variant or product).stock
            self.store.set_stock(sku, quantity, location_id=2)
            self.store.set_stock(sku, total)
        for article in articles:
            self.igest.add_product(**article)

    def load_small_business(self) -> None:
        """In place of the seed's orders, a store under the small-business exemption (art.
        53 CIVA, M10) and its year's earlier exempt invoices in iGEST (``small_business.py``):
        OPT-IN, so that the seed's counts stay as the existing tests know them."""
        now = self.clock()
        self._load_catalogue(
            small_business.zero_rated(data.seed_products()), small_business.igest_articles()
        )
        small_business.load_small_business(self.store, self.igest, now)
        self.pending_order, self.paid_order = small_business.PENDING_ORDER, 10201
        self.invoice_settings = {
            **small_business.SETTINGS,
            "start_date": small_business.start_date(now).isoformat(),
        }
        total = f"{small_business.EARLIER_TOTAL:,.2f}"
        self.seeded.append(
            f"Loja do Azulejo under the small-business VAT exemption (art. 53 CIVA, M10): no "
            f"tax on its products, orders 10201-10206 of {now:%B %Y} ({self.pending_order} "
            f"waits for a Multibanco payment), and in iGEST {total} EUR of exempt invoices "
            f"earlier in {now.year} (series {small_business.EARLIER_SERIES}): invoicing the "
            "paid orders takes the year past 80 % of 15,000 EUR"
        )

    def load_cross_border(self) -> None:
        """The cross-border demo orders (``cross_border.py``): OPT-IN, so that the seed's
        counts stay as the existing tests know them."""
        self.store.add_orders(cross_border.cross_border_orders())
        self.seeded.append(
            "orders 10101-10109: a Spanish business (VIES), an OSS sale to France, exports "
            "(United Kingdom, Canary Islands), VAT numbers VIES refuses or cannot check yet, "
            "a 300-character product name, a checkout note, a sale at the till"
        )

    def load_hosted_app(self) -> None:
        """The period the hosted app invoiced before the switch (``hosted_app.py``), OPT-IN."""
        hosted_app.load_hosted_app(self.store, self.igest)
        self.seeded.append(
            "the hosted Quick Invoice app's invoices before the switch (series QI): October's "
            "orders 9001-9006, a sale at a fair, and orders 10001-10002 (a first `invoice` "
            "stops until `adopt` has recorded them)"
        )

    def load_generated(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Add ``orders`` generated orders and a catalogue of ``variants`` items (iGEST gets
        articles for ``igest_share`` of them, default 0.9). Deterministic per ``seed``."""
        seed = int(spec.get("seed", 0))
        orders = int(spec.get("orders", 0))
        variants = int(spec.get("variants", 0))
        share = float(spec.get("igest_share", 0.9))
        added_orders = 0
        if orders:
            start_id = int(spec.get("start_id") or max(self.store.next_order_id(), 20001))
            untaxed: dict[str, Any] = (
                {"items": small_business.line_specs(), "shipping_rate": None}
                if self.invoice_settings is not None  # a store that charges no tax
                else {}
            )
            added_orders = self.store.add_orders(
                data.generate_orders(orders, seed, start_id, **untaxed)
            )
        added_items = 0
        for product in data.generate_catalogue(variants, seed) if variants else ():
            self.store.add_product(product)
            items: Sequence[Variant | Product] = product.variants or [product]
            for index, item in enumerate(items):
                added_items += 1
                if (product.id * 7 + index) % 1000 < share * 1000:
                    net = (item.price * 100 / (100 + product.vat_rate)).quantize(
                        data.Decimal("0.000001")
                    )
                    self.igest.add_product(
                        item.sku or f"JS-{product.id}",
                        product.name,
                        net,
                        product.vat_rate,
                        stock={"ARM1": item.stock},
                    )
        return {"orders": added_orders, "variants": added_items}

    # Servers --------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return bool(self._servers)

    def start(self) -> Sandbox:
        if self._servers:
            return self
        self._servers = [
            LoopbackServer(self.jumpseller_app, self._ports[0]).start(),
            LoopbackServer(self.igest_app, self._ports[1]).start(),
            LoopbackServer(self.vies_app, self._ports[2]).start(),
        ]
        self.igest.base_url = self.igest_base_url
        return self

    def stop(self) -> None:
        """Stop the servers and the webhook senders (held faults are released); in-process use
        stays possible."""
        self.faults.release()
        self.webhooks.stop()
        servers, self._servers = self._servers, []
        for server in servers:
            server.stop()
        self.igest.base_url = IN_PROCESS_IGEST

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def jumpseller_base_url(self) -> str:
        if self._servers:
            return f"http://127.0.0.1:{self._servers[0].port}/v1"
        return IN_PROCESS_JUMPSELLER

    @property
    def igest_base_url(self) -> str:
        if self._servers:
            return f"http://127.0.0.1:{self._servers[1].port}/v1"
        return IN_PROCESS_IGEST

    @property
    def vies_base_url(self) -> str:
        if self._servers:
            return f"http://127.0.0.1:{self._servers[2].port}/rest-api"
        return IN_PROCESS_VIES

    @property
    def credentials(self) -> dict[str, dict[str, str]]:
        return {
            "jumpseller": {
                "base_url": self.jumpseller_base_url,
                "login": self._js_login,
                "auth_token": self._js_token,
                "hooks_token": self._hooks_token,
            },
            "igest": {
                "base_url": self.igest_base_url,
                "integration_key": self._ig_key,
                "security_code": self._ig_code,
            },
        }

    @property
    def control_url(self) -> str:
        """Where the Jumpseller emulator's control endpoints are (``/_sandbox/...``)."""
        return self.jumpseller_base_url.removesuffix("/v1")

    def describe(self) -> dict[str, Any]:
        """The facts ``sandbox`` prints (both forms) and ``GET /_sandbox/config`` answers:
        URLs, credentials, what it is seeded with, and how to drive it."""
        facts = {
            **self.credentials,
            "vies": {"base_url": self.vies_base_url},
            "seeded": list(self.seeded),
            "control": self.controls(),
        }
        if self.alerts is not None:
            facts["alerts"] = dict(self.alerts)
        if self.invoice_settings is not None:
            facts["invoice"] = dict(self.invoice_settings)
        return facts

    def controls(self) -> list[dict[str, Any]]:
        """How a person drives the running sandbox: one HTTP request each, no auth."""
        js, ig = self.control_url, self.igest_base_url.removesuffix("/v1")
        pay, cancel = self.pending_order, self.paid_order
        lose = [
            {
                "service": "igest",
                "kind": "reset",
                "path": "/finalize$",
                "after": True,
            }
        ]
        rows: list[tuple[str, str, str, object]] = [
            (
                f"pay order {pay} (waiting for payment)",
                "POST",
                f"{js}/_sandbox/orders/{pay}/pay",
                None,
            ),
            (f"cancel order {cancel}", "POST", f"{js}/_sandbox/orders/{cancel}/cancel", None),
            ("add 50 orders (a backlog)", "POST", f"{js}/_sandbox/load", {"orders": 50}),
            (
                f"send order {pay}'s webhook again to the hooks",
                "POST",
                f"{js}/_sandbox/orders/{pay}/webhook",
                {"event": "order_paid"},
            ),
            ("lose iGEST's next answer to a finalize", "POST", f"{ig}/_sandbox/faults", lose),
            ("heal every fault", "DELETE", f"{ig}/_sandbox/faults", None),
            ("see the webhooks sent", "GET", f"{js}/_sandbox/webhooks", None),
        ]
        return [
            {"what": what, "method": method, "url": url} | ({} if body is None else {"body": body})
            for what, method, url, body in rows
        ]

    def stats(self) -> dict[str, Any]:
        return self.statistics.snapshot()

    def reset_stats(self) -> None:
        self.statistics.reset()

    def reset_limits(self) -> None:
        self.jumpseller_limiter.reset()
        self.igest_limiter.reset()


def start_sandbox(
    *,
    seed: bool = True,
    jumpseller_port: int = 0,
    igest_port: int = 0,
    latency: float | tuple[float, float] | dict[str, float] = 0.0,
    jumpseller_limits: tuple[int, int] = (20, 800),
    igest_limit: int = 10,
    ban_after: int = 2000,
    **options: Any,
) -> Sandbox:
    """A running ``Sandbox`` (its servers listening on 127.0.0.1). ``options``: the other
    ``Sandbox`` keywords (``ban_seconds``, ``clock``, ``store_code``, ``credentials``,
    ``vies_port``, ``cross_border``, ``hosted_app``, ``small_business``, ``webhook_time_scale``, ``webhook_timeout``,
    ``monotonic``, ``sleep``)."""
    return Sandbox(
        seed=seed,
        jumpseller_port=jumpseller_port,
        igest_port=igest_port,
        latency=latency,
        jumpseller_limits=jumpseller_limits,
        igest_limit=igest_limit,
        ban_after=ban_after,
        **options,
    ).start()
