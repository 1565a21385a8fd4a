"""Jumpseller's ``/products_locations`` handlers (stock by location) and request helpers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from igest_sandbox.jumpseller.store import JumpsellerStore, NotFoundError
from igest_sandbox.jumpseller.wire import location_stock_rows
from igest_sandbox.wsgi import HttpError, Request, Response


def bad_params(message: str) -> HttpError:
    return HttpError(400, {"message": message})


def int_field(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise bad_params(f"{name} must be an integer")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise bad_params(f"{name} must be an integer") from None
    if number != number.to_integral_value():
        raise bad_params(f"{name} must be an integer")
    return int(number)


def money_field(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise bad_params(f"{name} must be a number")
    return Decimal(value).quantize(Decimal("0.01"))


class LocationStockRoutes:
    """GET/PUT ``/v1/products_locations`` (``location_ids`` and ``product_ids`` required,
    comma separated, at most 50 each; ``variant_ids`` optional)."""

    store: JumpsellerStore

    def _id_list(self, request: Request, name: str, required: bool) -> list[int]:
        raw = ",".join(request.args(name))
        if not raw:
            if required:
                raise bad_params(f"{name} is required")
            return []
        try:
            ids = [int(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            raise bad_params(f"{name} must be comma separated integers") from None
        if len(ids) > 50:
            raise bad_params(f"{name}: at most 50 ids")
        return ids

    def get_location_stock(self, request: Request) -> Response:
        locations = self._id_list(request, "location_ids", True)
        products = self._id_list(request, "product_ids", True)
        variants = self._id_list(request, "variant_ids", False)
        with self.store.lock:
            known = {loc["id"] for loc in self.store.locations}
            if any(loc not in known for loc in locations):
                raise HttpError(404, {"message": "Location not found"})
            return Response.json(
                location_stock_rows(self.store, locations, products, variants or None)
            )

    def put_location_stock(self, request: Request) -> Response:
        try:
            fields = request.json()
        except ValueError:
            raise bad_params("body must be JSON") from None
        missing = [
            k
            for k in ("location_id", "product_id", "stock_unlimited", "stock")
            if not isinstance(fields, dict) or k not in fields
        ]
        if missing:
            raise bad_params(f"missing {', '.join(missing)}")
        location_id = int_field(fields["location_id"], "location_id")
        product_id = int_field(fields["product_id"], "product_id")
        variant_id = (
            None
            if fields.get("variant_id") is None
            else int_field(fields["variant_id"], "variant_id")
        )
        with self.store.lock:
            try:
                self.store.set_stock(
                    product_id,
                    int_field(fields["stock"], "stock"),
                    variant_id=variant_id,
                    location_id=location_id,
                    unlimited=bool(fields["stock_unlimited"]),
                )
            except NotFoundError:
                raise HttpError(404, {"message": "Not found"}) from None
            except ValueError as exc:
                raise bad_params(str(exc)) from None
            self.store.product(product_id).updated_at = self.store.clock()
            return Response.json(
                {
                    "location_id": location_id,
                    "product_id": product_id,
                    "variant_id": variant_id,
                    "stock": self.store.stock_at(location_id, product_id, variant_id),
                }
            )
