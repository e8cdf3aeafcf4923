"""The feature catalogue: every model input with its meaning, direction and reason text.

One place answers, for any feature a model may use: what it is, which source it
comes from, its dtype, how it moves risk (the monotone constraint a model is
trained under) and the reason code and consumer-facing text a declined applicant
receives when it is a principal reason. Behavioural features are declared in
`credit_assets.core.features.catalogue`; application attributes are declared in
their source's contract.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

from credit_assets.core.contracts import Contract, Role, SourceKind

Monotone = Literal["increasing", "decreasing", "none"]
FeatureDtype = Literal["float", "int", "bool", "category"]


@dataclass(frozen=True)
class FeatureSpec:
    """One model input.

    `monotone` is the direction of risk as the value rises: "increasing" means a
    higher value never lowers the probability of default.
    """

    name: str
    description: str
    source: str
    dtype: FeatureDtype
    monotone: Monotone = "none"
    reason_code: str | None = None
    reason_text: str | None = None
    min_value: float | None = None
    max_value: float | None = None

    @property
    def is_categorical(self) -> bool:
        return self.dtype == "category"

    @property
    def has_approved_reason(self) -> bool:
        return bool(self.reason_code) and bool(self.reason_text and self.reason_text.strip())

    @property
    def catboost_monotone_sign(self) -> int:
        """CatBoost's sign convention is on the raw prediction (log-odds of default)."""
        return {"increasing": 1, "decreasing": -1, "none": 0}[self.monotone]


@dataclass(frozen=True)
class FeatureCatalogue:
    """An ordered, versioned set of feature specs."""

    features: tuple[FeatureSpec, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"feature catalogue declares these names twice: {duplicated}")

    def __contains__(self, name: object) -> bool:
        return any(f.name == name for f in self.features)

    def __getitem__(self, name: str) -> FeatureSpec:
        for spec in self.features:
            if spec.name == name:
                return spec
        raise KeyError(f"feature {name!r} is not in the feature catalogue")

    def __len__(self) -> int:
        return len(self.features)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def version(self) -> str:
        """Content hash: any change to a name, direction or text is a new version."""
        payload = json.dumps([asdict(f) for f in self.features], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def missing(self, names: list[str]) -> list[str]:
        """Names not declared in the catalogue (a blocking check fails on any)."""
        return [n for n in names if n not in self]

    def without_reason(self, names: list[str]) -> list[str]:
        """Declared names without an approved reason code and text (blocks promotion)."""
        return [n for n in names if n in self and not self[n].has_approved_reason]

    def merged(self, other: FeatureCatalogue) -> FeatureCatalogue:
        return FeatureCatalogue(self.features + other.features)

    def to_records(self) -> list[dict[str, object]]:
        return [asdict(f) for f in self.features]


_CONTRACT_DTYPES: dict[str, FeatureDtype] = {
    "int": "int",
    "float": "float",
    "bool": "bool",
    "category": "category",
    "string": "category",
}


def application_feature_specs(contract: Contract) -> FeatureCatalogue:
    """Catalogue entries for the `feature` columns a lender declares on its applications.

    Protected columns never appear here, whatever else the contract says.
    """
    if contract.kind is not SourceKind.APPLICATIONS:
        raise ValueError(f"{contract.name} is a {contract.kind.value} source, not applications")
    specs = []
    for column in contract.columns_with(Role.FEATURE):
        if column.type in ("date", "datetime"):
            continue
        specs.append(
            FeatureSpec(
                name=column.name,
                description=column.description or f"{column.name} as declared on the application",
                source=contract.name,
                dtype=_CONTRACT_DTYPES[column.type],
                monotone=column.monotone,
                reason_code=column.reason_code,
                reason_text=column.reason_text,
                min_value=column.min,
                max_value=column.max,
            )
        )
    return FeatureCatalogue(tuple(specs))
