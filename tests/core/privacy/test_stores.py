"""Every store the platform writes is known by name: a table or a data-store key that the
erasure's list does not name fails here, so it cannot be forgotten."""

from __future__ import annotations

import inspect

from credit_assets.core.platform.db import metadata
from credit_assets.core.platform.storage import keys
from credit_assets.core.privacy.stores import STORES, data_keys, tables


def test_every_table_is_named() -> None:
    assert set(metadata.tables) == tables()


def written_keys() -> list[str]:
    """Every key keys.py can build: its constants and each builder with sample arguments."""
    found = [v for n, v in vars(keys).items() if n.isupper() and isinstance(v, str)]
    for function in vars(keys).values():
        if inspect.isfunction(function) and function.__module__ == keys.__name__:
            parameters = inspect.signature(function).parameters
            arguments = {p: "lda" if p == "kind" else "x" for p in parameters}
            found.append(function(**{k: v for k, v in arguments.items() if k in parameters}))
    return found


def test_every_data_store_key_falls_under_a_named_store() -> None:
    named = data_keys()
    orphans = [k for k in written_keys() if not any(k.startswith(n) for n in named)]
    assert orphans == []


def test_stores_holding_borrower_data_say_what_the_erasure_does() -> None:
    for store in STORES:
        assert store.erasure.strip(), store.name
    holding = {s.name for s in STORES if s.holds_borrower_data}
    assert {"decision log", "online features", "raw rows", "archived files"} <= holding
