"""The catalogue of every feature `compute_features` produces for a contract set.

Behavioural features are declared beside the code that computes them (payments,
bank); application and generic-source features come from their contracts. The
order here is the column order of the feature frame.
"""

from __future__ import annotations

from credit_assets.core.contracts import Contract, SourceKind
from credit_assets.core.features.applications import applications_contract
from credit_assets.core.features.bank import bank_feature_specs
from credit_assets.core.features.frames import alternative_contracts, generic_feature_contracts
from credit_assets.core.features.generic import generic_feature_specs
from credit_assets.core.features.payments import payment_feature_specs
from credit_assets.core.features.specs import (
    FeatureCatalogue,
    FeatureSpec,
    application_feature_specs,
)

N_ALTERNATIVE_SOURCES = "n_alternative_sources"


def alternative_feature_specs(contract: Contract) -> list[FeatureSpec]:
    if contract.kind is SourceKind.BANK_TRANSACTIONS:
        return bank_feature_specs(contract)
    return payment_feature_specs(contract)


def feature_catalogue(contracts: dict[str, Contract]) -> FeatureCatalogue:
    """Every feature computed for `contracts`, with its direction and reason text."""
    specs: list[FeatureSpec] = []
    applications = applications_contract(contracts)
    if applications is not None:
        specs += application_feature_specs(applications).features
    alternatives = alternative_contracts(contracts)
    for contract in alternatives:
        specs += alternative_feature_specs(contract)
    if alternatives:
        specs.append(
            FeatureSpec(
                name=N_ALTERNATIVE_SOURCES,
                description="Number of alternative-data sources (utility, telecom, rent, bank) "
                "with any record before the as-of date.",
                source=",".join(c.name for c in alternatives),
                dtype="int",
                monotone="none",
                reason_code="H01",
                reason_text="Limited alternative credit history",
                min_value=0.0,
                max_value=float(len(alternatives)),
            )
        )
    for contract in generic_feature_contracts(contracts):
        specs += generic_feature_specs(contract)
    return FeatureCatalogue(tuple(specs))


def behavioural_feature_names(contracts: dict[str, Contract]) -> list[str]:
    """Features computed from records (not passed through from the application)."""
    catalogue = feature_catalogue(contracts)
    applications = applications_contract(contracts)
    passed_through = set(application_feature_specs(applications).names) if applications else set()
    return [n for n in catalogue.names if n not in passed_through]
