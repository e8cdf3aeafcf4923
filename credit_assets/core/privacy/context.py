"""What a borrower-rights request works with: the deployment's settings, database, stores,
contracts, lender and pseudonymisation key, built from the settings alone (no Dagster), so
the command line and the scoring API share it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.engine import Engine

from credit_assets.core.contracts import Contract, load_contracts
from credit_assets.core.ingestion.zones import LandingZone, landing_zone
from credit_assets.core.platform.apikeys import served_lender
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.settings import Settings
from credit_assets.core.platform.storage.local import DataStore, data_store
from credit_assets.core.privacy.pseudonyms import pseudonym, pseudonym_key


@dataclass
class PrivacyContext:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        return migrated_engine(self.settings.resolved_database_url)

    @cached_property
    def store(self) -> DataStore:
        return data_store(self.settings)

    @cached_property
    def landing(self) -> LandingZone:
        return landing_zone(self.settings)

    @cached_property
    def contracts(self) -> dict[str, Contract]:
        return load_contracts(self.settings.resolved_contracts_dir)

    @cached_property
    def lender(self) -> str:
        """The lender this deployment serves (CREDIT_TENANT, else its first key's)."""
        return self.settings.tenant or served_lender(self.engine) or ""

    @cached_property
    def key(self) -> bytes:
        return pseudonym_key(self.settings)

    @classmethod
    def of(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        store: DataStore | None = None,
        landing: LandingZone | None = None,
    ) -> PrivacyContext:
        """A context sharing what the caller already holds (a Dagster resource's store)."""
        ctx = cls(settings)
        for name, value in (("engine", engine), ("store", store), ("landing", landing)):
            if value is not None:
                ctx.__dict__[name] = value  # what cached_property would have computed
        return ctx

    def pseudonym(self, borrower_id: str) -> str:
        return pseudonym(self.key, borrower_id)
