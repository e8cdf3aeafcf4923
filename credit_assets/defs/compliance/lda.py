"""The `lda_search` asset's steps: the budget the fairness verdict calls for, the search on the
challenger's own evaluation rows at its operating point, and the record compliance reads
(JSON with every candidate's configuration, Markdown for the Dagster UI, a self-contained HTML
page), and whether a discovered alternative can be registered as a challenger.

The search itself (`core.compliance.lda_discovery`) knows nothing of Dagster; this module
turns settings and stored reports into its arguments, and its result into what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from credit_assets.core.compliance.lda_candidates import SearchBudget, SearchSpace
from credit_assets.core.compliance.lda_discovery import (
    SearchResult,
    search_less_discriminatory_alternatives,
)
from credit_assets.core.modeling import TrainConfig
from credit_assets.core.platform.settings import Settings
from credit_assets.core.platform.storage.keys import report_key
from credit_assets.core.promotion import Gate, policy_from_settings
from credit_assets.defs.common.lineage import LINEAGE_LDA_OF
from credit_assets.defs.common.loaders import ChallengerContext, labels, score_scale
from credit_assets.defs.common.reports import write_report
from credit_assets.defs.common.resources import PlatformResource

LDA_REPORT = "lda"


@dataclass(frozen=True)
class SearchPlan:
    """How much to search, and why that much."""

    budget: SearchBudget
    why: str


def search_plan(settings: Settings, gate: Gate, lineage: dict[str, Any]) -> SearchPlan:
    """The full budget when the fairness gate holds the challenger back or cannot judge it;
    a light one (CREDIT_LDA_MAX_CANDIDATES_WHEN_FAIR) when it passes, or when the challenger
    is itself an alternative adopted from a search (its search was that one)."""
    if lineage.get(LINEAGE_LDA_OF):
        candidates = settings.lda_max_candidates_when_fair
        why = (
            f"this challenger is the alternative adopted from the search of "
            f"{lineage[LINEAGE_LDA_OF]}, so a light search "
            f"(CREDIT_LDA_MAX_CANDIDATES_WHEN_FAIR={candidates})"
        )
    elif gate.assessed and gate.passed:
        candidates = settings.lda_max_candidates_when_fair
        why = (
            "the fairness gate passes, so a light search "
            f"(CREDIT_LDA_MAX_CANDIDATES_WHEN_FAIR={candidates})"
        )
    else:
        candidates = settings.lda_max_candidates
        verdict = "holds the challenger back" if gate.assessed else "cannot judge the challenger"
        why = f"the fairness gate {verdict}, so the full search (CREDIT_LDA_MAX_CANDIDATES={candidates})"
    return SearchPlan(
        SearchBudget(
            max_candidates=candidates,
            max_seconds=settings.lda_max_seconds,
            workers=settings.lda_workers,
        ),
        why,
    )


def approval_rate_of(fairness: dict[str, Any], development: pl.DataFrame) -> float:
    """The share the fairness report's operating point approves; without one (no report),
    the development rows' good rate, the operating point's own default."""
    point = (fairness.get("extras") or {}).get("operating_point") or {}
    rate = point.get("approval_rate")
    if rate is not None and 0.0 < float(rate) < 1.0:
        return float(rate)
    return 1.0 - float(labels(development).mean()) if development.height else 0.5


def run_search(
    ctx: ChallengerContext,
    frame: pl.DataFrame,
    settings: Settings,
    plan: SearchPlan,
    approval_rate: float,
) -> SearchResult:
    """The search on `frame` (the training set, with proxy columns when declared): candidates
    fitted on its train split, judged on its test split against the challenger's own PD."""
    rows = frame.filter(pl.col("split") == "test")
    return search_less_discriminatory_alternatives(
        frame,
        ctx.loaded.features,
        ctx.protected,
        challenger_pd=ctx.loaded.predict_pd(rows, thread_count=settings.threads),
        approval_rate=approval_rate,
        # A lighter base configuration than the challenger's: every candidate is refit
        # exactly from its recorded configuration, and adoption refits that one.
        base_config=TrainConfig(
            iterations=300, learning_rate=0.1, threads=settings.threads, seed=settings.seed
        ),
        challenger_family=ctx.loaded.family,
        evaluation_rows=rows,
        space=SearchSpace(
            families=searched_families(settings, ctx.loaded.family), threads=settings.threads
        ),
        budget=plan.budget,
        policy=policy_from_settings(settings).fairness,
        scale=score_scale(settings),
        auc_tolerance=settings.lda_auc_tolerance,
        seed=settings.seed,
    )


def searched_families(settings: Settings, challenger_family: str) -> tuple[str, ...]:
    """The families that may serve (CREDIT_MODEL_FAMILIES), the challenger's first."""
    allowed = [f.strip() for f in settings.model_families.split(",") if f.strip()]
    return tuple(dict.fromkeys([challenger_family, *allowed]))


def adoptable(result: SearchResult, lineage: dict[str, Any]) -> str | None:
    """The discovered alternative to register as a challenger: servable, and found for a
    challenger that is not itself an adopted alternative (no search chain)."""
    if result.kind != "discovery" or not result.alternative or lineage.get(LINEAGE_LDA_OF):
        return None
    config = result.candidate(result.alternative).get("config") or {}
    return result.alternative if config.get("servable") else None


def write_lda_reports(
    platform: PlatformResource,
    version: str,
    result: SearchResult,
    record: dict[str, Any],
) -> dict[str, str]:
    """The JSON report (the result and `record`: plan, training set, adoptable alternative)
    and its HTML page; returns their URIs."""
    from credit_assets.core.compliance.lda_report import lda_html

    json_uri = write_report(platform, LDA_REPORT, version, {**result.to_dict(), **record})
    card = platform.store.uri(report_key("model_cards", version, "html"))
    page = lda_html(
        result, model_version=version, links={"JSON report": json_uri, "model card": card}
    )
    html_uri = platform.store.put_bytes(report_key(LDA_REPORT, version, "html"), page.encode())
    return {"json": json_uri, "html": html_uri}
