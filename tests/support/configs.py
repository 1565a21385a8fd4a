"""The config of a run against the in-memory fakes (tests/support/fakes.py): one builder, so
that a new setting or section is added in one place, not in every test module."""

from __future__ import annotations

from pathlib import Path

from igest_sync.config import Config, IgestConfig, InvoiceConfig, JumpsellerConfig


def fake_config(
    *, store: str = "loja", login: str | None = None, hooks_token: str | None = None, **invoice
) -> Config:
    """The store's code (and Jumpseller login, the code unless given), with the ``[invoice]``
    keys given; the services' URLs and secrets are the fakes' (never asked)."""
    return Config(
        path=Path("config.toml"),
        jumpseller=JumpsellerConfig(
            "http://js", login or store, "token", store, hooks_token=hooks_token
        ),
        igest=IgestConfig("http://ig", "key", "code"),
        invoice=InvoiceConfig(**invoice),
    )
