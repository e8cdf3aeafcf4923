"""A gate's verdict and the decision the verdicts add up to."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from credit_assets.core.reports.render import markdown_table
from credit_assets.core.reports.text import md_escape

PASS, FAIL, NOT_ASSESSED = "pass", "FAIL", "not assessed"

# Gate names are the names of the asset checks that show them.
QUALITY = "quality_not_worse_than_champion"
RANK_ORDERING = "bad_rate_falls_with_score"
REASONS = "features_have_approved_reasons"
NO_PROTECTED = "no_protected_inputs"
MONOTONICITY = "monotone_constraints_hold"
REASON_ACCURACY = "reasons_lower_risk_when_neutralised"
FAIRNESS = "four_fifths_rule"
LEAKAGE = "no_target_leakage"
GATE_ORDER = (
    QUALITY,
    RANK_ORDERING,
    REASONS,
    NO_PROTECTED,
    MONOTONICITY,
    REASON_ACCURACY,
    FAIRNESS,
    LEAKAGE,
)


@dataclass(frozen=True)
class Gate:
    """One gate's verdict: the figure it judged, the threshold and what it means."""

    name: str
    passed: bool
    detail: str
    figure: str = ""
    threshold: str = ""
    deciding: bool = True
    assessed: bool = True

    @property
    def verdict(self) -> str:
        if not self.assessed:
            return NOT_ASSESSED
        return PASS if self.passed else FAIL

    @property
    def holds_back(self) -> bool:
        return self.deciding and not self.passed

    def row(self) -> dict[str, str]:
        verdict = self.verdict if self.deciding or self.passed else f"{FAIL} (advisory)"
        return {
            "gate": self.name,
            "figure": self.figure,
            "threshold": self.threshold,
            "verdict": verdict,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Gate:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class PromotionDecision:
    gates: list[Gate]
    override_reason: str | None = None

    @property
    def all_passed(self) -> bool:
        return not self.failed

    @property
    def promote(self) -> bool:
        return self.all_passed or bool(self.override_reason and self.override_reason.strip())

    @property
    def failed(self) -> list[Gate]:
        """The deciding gates that said no."""
        return [g for g in self.gates if g.holds_back]

    @property
    def flagged(self) -> list[Gate]:
        """Advisory gates that said no: reported, not deciding."""
        return [g for g in self.gates if not g.deciding and not g.passed]

    @property
    def outcome(self) -> str:
        if not self.promote:
            return "held back"
        return "promoted by override" if self.failed else "promoted"

    def summary(self) -> str:
        """One line per decision, for a terminal: which gates said no and with what figure."""
        if not self.failed:
            return "every gate passed"
        return "; ".join(f"{g.name}: {g.detail}" for g in self.failed)

    def rows(self) -> list[dict[str, str]]:
        return [g.row() for g in self.gates]

    def markdown(self) -> str:
        """The gate table (a detail names the lender's groups and features: escaped)."""
        columns = ["gate", "figure", "threshold", "verdict", "detail"]
        table = markdown_table(self.rows(), columns) if self.gates else ""
        if self.override_reason:
            table += f"\n\n**Override:** {md_escape(self.override_reason)}"
        return table

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "promote": self.promote,
            "override_reason": self.override_reason,
            "failed": [g.name for g in self.failed],
            "flagged": [g.name for g in self.flagged],
            "summary": self.summary(),
            "gates": [asdict(g) for g in self.gates],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromotionDecision:
        return cls(
            gates=[Gate.from_dict(g) for g in data.get("gates", [])],
            override_reason=data.get("override_reason"),
        )


def decide(gates: list[Gate], override_reason: str | None = None) -> PromotionDecision:
    order = {name: i for i, name in enumerate(GATE_ORDER)}
    ordered = sorted(gates, key=lambda g: order.get(g.name, len(order)))
    return PromotionDecision(gates=ordered, override_reason=(override_reason or "").strip() or None)


def fmt(value: float | None, digits: int = 3) -> str:
    """A figure as a gate's detail shows it; n/a for a missing one."""
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.{digits}f}"
    )
