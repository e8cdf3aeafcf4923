"""Which family becomes the challenger: the best by the evidence, within a stated preference.

The evidence is `CandidateEvidence` (cross-validated, or on an out-of-time split). Among
the families that may serve (`CREDIT_MODEL_FAMILIES`: CatBoost and the WoE scorecard;
the L2 logistic regression is the benchmark both are held to and cannot serve), the
family with the highest AUC wins. A lender may prefer one family, as many prefer the
scorecard their reviewers and regulators read: with `CREDIT_PREFER_FAMILY=scorecard`
and `CREDIT_PREFER_MARGIN=0.01` the scorecard is chosen unless another family beats
it by more than 0.01 AUC. The rule, the figures and the sentence that explains the
choice are recorded with the challenger and its promotion decision.

The chosen family still has to pass every promotion gate; choosing it promotes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from credit_assets.core.modeling.candidates import CHALLENGER, LOGISTIC, SCORECARD

SERVABLE = (CHALLENGER, SCORECARD)


@dataclass(frozen=True)
class SelectionPolicy:
    """Which families may serve, and an optional preference with its AUC margin."""

    families: tuple[str, ...] = SERVABLE
    prefer: str = ""
    margin: float = 0.01

    def __post_init__(self) -> None:
        unknown = sorted(set(self.families) - set(SERVABLE))
        if unknown or not self.families:
            raise ValueError(
                f"CREDIT_MODEL_FAMILIES must name one or more of {', '.join(SERVABLE)}; "
                f"got {', '.join(self.families) or 'nothing'}"
                + (f" ({', '.join(unknown)} cannot serve)" if unknown else "")
            )
        if self.prefer and self.prefer not in self.families:
            raise ValueError(
                f"CREDIT_PREFER_FAMILY={self.prefer} is not among CREDIT_MODEL_FAMILIES"
            )

    @classmethod
    def parse(cls, families: str, prefer: str = "", margin: float = 0.01) -> SelectionPolicy:
        names = tuple(dict.fromkeys(n.strip() for n in families.split(",") if n.strip()))
        return cls(names, prefer.strip(), float(margin))

    def describe(self, method: str = "cross_validation") -> str:
        """The rule, naming the evidence it reads (`method` as `CandidateEvidence` has it)."""
        evidence = _evidence_word(method)
        if not self.prefer:
            return f"the best {evidence} AUC among {', '.join(self.families)}"
        return (
            f"prefer {self.prefer} unless another family is better by more than {self.margin:g} "
            f"{evidence} AUC"
        )


def _evidence_word(method: str) -> str:
    return "cross-validated" if method == "cross_validation" else "holdout"


@dataclass(frozen=True)
class Selection:
    """The chosen family and why, as recorded with the challenger."""

    family: str
    best: str
    rule: str
    reason: str
    auc: dict[str, float]
    policy: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Selection:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def choose_family(
    models: dict[str, dict[str, Any]], policy: SelectionPolicy, method: str, basis: str = ""
) -> Selection:
    """The family to train as the challenger, from each family's evidence (`models[f]["auc"]`).

    A family that could not be evaluated is not chosen; when no servable family was
    evaluated, CatBoost (or the first allowed family) is trained and the reason says so,
    so the gates, not an exception, decide what happens next.
    """
    aucs = {
        name: float(m["auc"])
        for name, m in models.items()
        if name in policy.families and m.get("auc") is not None
    }
    recorded = {
        "families": list(policy.families),
        "prefer": policy.prefer,
        "margin": policy.margin,
        "method": method,
        **({"basis": basis} if basis else {}),
    }
    evidence = _evidence_word(method)
    rule = policy.describe(method) + (f"; evidence: {basis}" if basis else "")
    benchmark = models.get(LOGISTIC, {}).get("auc")
    against = f"; logistic benchmark {benchmark:.3f}" if benchmark is not None else ""
    if not aucs:
        fallback = CHALLENGER if CHALLENGER in policy.families else policy.families[0]
        return Selection(
            fallback,
            fallback,
            rule,
            f"no servable family could be evaluated; {fallback} is trained and judged by the gates",
            {},
            recorded,
        )
    best = max(aucs, key=lambda n: (aucs[n], n == policy.prefer))
    figures = ", ".join(f"{n} {a:.3f}" for n, a in sorted(aucs.items(), key=lambda kv: -kv[1]))
    if policy.prefer and policy.prefer in aucs and best != policy.prefer:
        gap = aucs[best] - aucs[policy.prefer]
        if gap <= policy.margin:
            reason = (
                f"{policy.prefer} preferred: {best} is better by {gap:.3f} {evidence} AUC, "
                f"within the {policy.margin:g} margin ({figures}{against})"
            )
            return Selection(policy.prefer, best, rule, reason, aucs, recorded)
        reason = (
            f"{best} chosen over the preferred {policy.prefer}: better by {gap:.3f} "
            f"{evidence} AUC, more than the {policy.margin:g} margin ({figures}{against})"
        )
        return Selection(best, best, rule, reason, aucs, recorded)
    if policy.prefer and policy.prefer not in aucs:
        reason = (
            f"{best} chosen: the preferred {policy.prefer} could not be evaluated "
            f"({figures}{against})"
        )
    elif len(aucs) == 1:
        reason = f"{best} is the only family evaluated ({figures}{against})"
    else:
        reason = f"{best} has the best {evidence} AUC ({figures}{against})"
    return Selection(best, best, rule, reason, aucs, recorded)


def trees_from_folds(fits: list[dict[str, int]], refit_rows: int, cap: int) -> tuple[int, str]:
    """CatBoost's number of trees for a refit on `refit_rows`: the folds' median early-stopped
    rounds, scaled by how many more rows the refit has than a fold fitted on (capped)."""
    rounds = sorted(f["best_iteration"] + 1 for f in fits)
    fold_rows = sorted(f["fit_rows"] for f in fits)
    median_rounds = rounds[len(rounds) // 2]
    median_rows = max(1, fold_rows[len(fold_rows) // 2])
    trees = int(min(cap, max(1, round(median_rounds * refit_rows / median_rows))))
    note = (
        f"{trees} trees: the {len(fits)} folds early-stopped at a median of {median_rounds} "
        f"rounds on {median_rows:,} rows, scaled to the {refit_rows:,} rows of the refit"
        + (f" (capped at {cap})" if trees == cap else "")
    )
    return trees, note
