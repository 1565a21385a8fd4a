"""What render prints is what the store and the merchant typed: no markup, no emoji codes."""

from __future__ import annotations

from igest_sync import render


def test_emoji_codes_in_store_data_print_as_typed() -> None:
    with render.out.capture() as captured:
        render.out.print("BOX:cd:2 and --line SKU:-1: the quantity must be positive")
    assert captured.get().strip() == "BOX:cd:2 and --line SKU:-1: the quantity must be positive"
