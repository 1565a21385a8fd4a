"""Render the Jumpseller store's product records as the spec's JSON (every field present)."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Any

from igest_sandbox.jumpseller.store import JumpsellerStore, Product, Variant, wire_time


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def variant_fields(variant: Variant) -> dict[str, Any]:
    return {
        "id": variant.id,
        "price": variant.price,
        "sku": variant.sku,
        "barcode": variant.barcode,
        "stock": variant.stock,
        "stock_unlimited": variant.stock_unlimited,
        "stock_threshold": 0,
        "stock_notification": False,
        "cost_per_item": None,
        "compare_at_price": None,
        "options": [
            {
                "name": name,
                "option_type": kind,
                "value": value,
                "custom": None,
                "product_option_position": n,
                "product_value_position": 0,
            }
            for n, (name, kind, value) in enumerate(variant.options)
        ],
        "image": None,
    }


def product_fields(product: Product) -> dict[str, Any]:
    category = product.category
    return {
        "id": product.id,
        "name": product.name,
        "page_title": product.name,
        "description": product.description,
        "type": product.type,
        "days_to_expire": None,
        "price": product.variants[0].price if product.variants else product.price,
        "discount": Decimal(0),
        "weight": product.weight,
        "stock": product.total_stock(),
        "stock_unlimited": product.unlimited(),
        "stock_threshold": 0,
        "stock_notification": False,
        "back_in_stock_enabled": False,
        "cost_per_item": None,
        "compare_at_price": None,
        "sku": None if product.variants else product.sku,
        "brand": product.brand,
        "barcode": None if product.variants else product.barcode,
        "google_product_category_text": None,
        "quotable": False,
        "featured": False,
        "reviews_enabled": True,
        "status": product.status,
        "created_at": wire_time(product.created_at),
        "updated_at": wire_time(product.updated_at),
        "package_format": "box",
        "length": None,
        "width": None,
        "height": None,
        "diameter": None,
        "permalink": _slug(product.name) or str(product.id),
        "categories": (
            []
            if category is None
            else [
                {
                    "id": category[0],
                    "name": category[1],
                    "parent_id": None,
                    "permalink": _slug(category[1]),
                }
            ]
        ),
        "images": [],
        "variants": [variant_fields(v) for v in product.variants],
        "digital_products": (
            [
                {
                    "id": product.id,
                    "url": f"https://files.example/{product.id}",
                    "expiration_seconds": 3600,
                    "external": False,
                }
            ]
            if product.type == "digital"
            else []
        ),
    }


def location_stock_rows(
    store: JumpsellerStore,
    location_ids: list[int],
    product_ids: list[int],
    variant_ids: list[int] | None,
) -> list[dict[str, Any]]:
    rows = []
    for location_id in location_ids:
        for product_id in product_ids:
            product = store.products.get(product_id)
            if product is None:
                continue
            holders: list[int | None] = [v.id for v in product.variants] or [None]
            for variant_id in holders:
                if variant_ids and variant_id not in variant_ids:
                    continue
                rows.append(
                    {
                        "location_id": location_id,
                        "product_id": product_id,
                        "variant_id": variant_id,
                        "stock": store.stock_at(location_id, product_id, variant_id),
                    }
                )
    return rows
