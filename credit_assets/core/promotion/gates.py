"""The gates on quality, rank ordering, reasons, protected inputs and monotonicity."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from credit_assets.core.contracts.contract import PROXY_PROBABILITY_PREFIX
from credit_assets.core.features.specs import FeatureCatalogue
from credit_assets.core.promotion.policy import PromotionPolicy
from credit_assets.core.promotion.verdicts import (
    LEAKAGE,
    MONOTONICITY,
    NO_PROTECTED,
    QUALITY,
    RANK_ORDERING,
    REASON_ACCURACY,
    REASONS,
    Gate,
)
from credit_assets.core.promotion.verdicts import fmt as _fmt
from credit_assets.core.reports.text import too_few


def quality_gate(
    challenger_auc: float | None,
    champion_auc: float | None,
    policy: PromotionPolicy,
    paired: Mapping[str, Any] | None = None,
    counts: Mapping[str, Any] | None = None,
) -> Gate:
    """Quality against the champion on the same test rows. `paired` is DeLong's comparison
    there (`difference` = challenger - champion, its `low`/`high` interval and the one-sided
    `p_worse` that the challenger ranks worse); without it the point estimates decide.
    `counts` (`rows`, `bads`, and the challenger's `auc_low`/`auc_high`) are the test rows
    behind the figure: fewer than `policy.evidence_min_bads` bads or goods is evidence too
    thin to judge, not assessed, and holds the model back (override with a reason)."""
    if challenger_auc is None:
        return Gate(
            QUALITY,
            False,
            "not assessed: the challenger has no test AUC (one outcome class in the test rows)",
            assessed=False,
        )
    thin = _thin(counts, policy.evidence_min_bads)
    if thin:
        return _thin_evidence_gate(thin, challenger_auc, champion_auc, counts, policy)
    if champion_auc is None:
        return Gate(
            QUALITY,
            challenger_auc >= policy.first_model_auc_floor,
            f"first model: test AUC {challenger_auc:.4f} against the floor "
            f"{policy.first_model_auc_floor:.2f}",
            figure=f"AUC {challenger_auc:.4f}",
            threshold=f">= {policy.first_model_auc_floor:.2f} (first model)",
        )
    if paired is None or policy.quality_alpha >= 1.0:
        return Gate(
            QUALITY,
            not (champion_auc - challenger_auc > policy.auc_tolerance),
            f"test AUC {challenger_auc:.4f} against the champion's {champion_auc:.4f} "
            f"(may lose at most {policy.auc_tolerance:.3f})",
            figure=f"AUC {challenger_auc:.4f} (champion {champion_auc:.4f})",
            threshold=f">= champion - {policy.auc_tolerance:.3f}",
        )
    return _paired_quality_gate(challenger_auc, champion_auc, paired, policy)


def _thin_evidence_gate(
    thin: str,
    challenger_auc: float,
    champion_auc: float | None,
    counts: Mapping[str, Any] | None,
    policy: PromotionPolicy,
) -> Gate:
    """Not assessed, and held back: too few bads or goods behind the test AUC (`thin` says
    how few) to tell a good model from a lucky one."""
    interval = (
        f" [{counts['auc_low']:.3f}, {counts['auc_high']:.3f}]"
        if counts and counts.get("auc_low") is not None and counts.get("auc_high") is not None
        else ""
    )
    against = f" against the champion's {champion_auc:.4f}" if champion_auc is not None else ""
    return Gate(
        QUALITY,
        False,
        f"evidence too thin: {thin}; the test AUC {challenger_auc:.4f}{interval}{against} "
        "cannot tell a good model from a lucky one. Held back: gather more outcomes, or "
        "promote with a recorded override reason",
        figure=f"AUC {challenger_auc:.4f}{interval} on {counts['rows'] if counts else '?'} rows",
        threshold=f">= {policy.evidence_min_bads} bads and goods in the test rows",
        assessed=False,
    )


def _paired_quality_gate(
    challenger_auc: float,
    champion_auc: float,
    paired: Mapping[str, Any],
    policy: PromotionPolicy,
) -> Gate:
    """The quality rule on DeLong's paired comparison: a loss beyond the tolerance holds the
    challenger back unless the one-sided test shows it could be noise."""
    loss = champion_auc - challenger_auc
    practical = loss > policy.auc_tolerance
    p_worse = float(paired["p_worse"])
    undefined = math.isnan(p_worse)
    # An undefined test never excuses a loss: "not assessed" holds the challenger back.
    significant = undefined or p_worse < policy.quality_alpha
    interval = f"[{paired['low']:+.4f}, {paired['high']:+.4f}]"
    verdict = (
        "not assessed: a loss beyond the tolerance, and DeLong's test is undefined on these "
        "test rows (too few bads or goods), so it cannot be shown to be noise; held back "
        "(promote only with a recorded override)"
        if practical and undefined
        else "a loss beyond the tolerance that is not noise"
        if practical and significant
        else "a loss beyond the tolerance, but within noise"
        if practical
        else "within the tolerance"
    )
    return Gate(
        QUALITY,
        not (practical and significant),
        f"test AUC {challenger_auc:.4f} against the champion's {champion_auc:.4f} on the same "
        f"rows: difference {-loss:+.4f} {interval}, DeLong one-sided p = {p_worse:.3g}; "
        f"{verdict}",
        figure=f"AUC {challenger_auc:.4f} (champion {champion_auc:.4f}), "
        f"diff {-loss:+.4f} {interval}, p {p_worse:.3g}",
        threshold=f"loss <= {policy.auc_tolerance:.3f} or p >= {policy.quality_alpha:g}",
    )


def _thin(counts: Mapping[str, Any] | None, minimum: int) -> str:
    """ "2 bads in the test rows (minimum 30)", or "" when the counts suffice or are unknown."""
    if not counts or counts.get("rows") is None or counts.get("bads") is None:
        return ""
    rows = int(counts["rows"])
    return too_few(int(counts["bads"]), rows, minimum, f"{rows} test rows")


def awaiting_experiment(offline: Gate) -> Gate:
    """The offline comparison, held until live evidence: the policy asks for an experiment
    before a challenger replaces the champion."""
    return replace(
        offline,
        passed=False,
        detail=f"offline: {offline.detail}. The policy (CREDIT_PROMOTION_REQUIRES_EXPERIMENT) "
        "judges a new champion on live outcomes: run an experiment on it, then "
        "`credit-platform experiment promote`",
        threshold="a champion/challenger experiment recommends promote",
    )


def live_quality_gate(
    experiment_id: str, report: Mapping[str, Any] | None, champion_version: str | None
) -> Gate:
    """Quality judged on live outcomes: the experiment's report (`experiment_report`) must
    recommend promoting the challenger, measured against the model that is champion now."""
    threshold = "the experiment recommends promote, measured against today's champion"
    if report is None:
        return Gate(
            QUALITY,
            False,
            f"experiment {experiment_id} has no report yet (materialize its experiment_report)",
            threshold=threshold,
        )
    difference, p_value = report.get("auc_difference"), report.get("auc_p_value")
    figure = (
        f"live AUC diff {difference:+.4f}, p {p_value:.3g}"
        if difference is not None and p_value is not None
        else "no live AUC difference yet"
    )
    compared_with = (report.get("experiment") or {}).get("champion_version")
    if compared_with != champion_version:
        return Gate(
            QUALITY,
            False,
            f"experiment {experiment_id} measured the challenger against {compared_with}, but "
            f"the champion is now {champion_version}: its evidence is about another model",
            figure=figure,
            threshold=threshold,
        )
    recommendation = report.get("recommendation")
    return Gate(
        QUALITY,
        recommendation == "promote",
        f"on the live outcomes of experiment {experiment_id}, it recommends {recommendation}: "
        f"{report.get('reason')}",
        figure=figure,
        threshold=threshold,
    )


def _one_sided_increase_p(n_better: int, bad_better: int, n_worse: int, bad_worse: int) -> float:
    """p-value that the better band's bad rate exceeds the worse band's (pooled z-test)."""
    pooled = (bad_better + bad_worse) / (n_better + n_worse)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_better + 1 / n_worse)) if 0 < pooled < 1 else 0.0
    if se == 0:
        return 1.0
    z = (bad_better / n_better - bad_worse / n_worse) / se
    return 0.5 * math.erfc(z / math.sqrt(2))


def rank_ordering_gate(bands: Sequence[Mapping[str, Any]], policy: PromotionPolicy) -> Gate:
    """Observed bad rate falls from the worst band to the best (bands given best first).

    Adjacent populated bands are compared; an inversion (a better band with a higher bad
    rate) fails the gate only when it is statistically significant, so a 200-row holdout
    does not hold a model back on noise.
    """
    populated = [b for b in bands if b.get("n") and b.get("observed_bad_rate") is not None]
    inversions, significant = [], []
    for better, worse in zip(populated, populated[1:], strict=False):
        if better["observed_bad_rate"] > worse["observed_bad_rate"] + 1e-12:
            p = _one_sided_increase_p(
                int(better["n"]), int(better["n_bad"]), int(worse["n"]), int(worse["n_bad"])
            )
            text = (
                f"{better['band']} {better['observed_bad_rate']:.3f} (n {better['n']}) > "
                f"{worse['band']} {worse['observed_bad_rate']:.3f} (n {worse['n']}), p {_fmt(p)}"
            )
            inversions.append(text)
            if p < policy.rank_ordering_alpha:
                significant.append(text)
    rates = " > ".join(f"{b['band']} {b['observed_bad_rate']:.3f}" for b in reversed(populated))
    if significant:
        detail = "significant inversion: " + "; ".join(significant)
    elif inversions:
        detail = "inversions within noise: " + "; ".join(inversions)
    else:
        detail = f"bad rate falls band by band: {rates}" if rates else "no band with outcomes"
    return Gate(
        RANK_ORDERING,
        not significant,
        detail,
        figure=f"{len(significant)} significant of {len(inversions)} inversions",
        threshold=f"no inversion with p < {policy.rank_ordering_alpha:g}",
        assessed=len(populated) >= 2,
    )


def reason_gate(feature_names: list[str], catalogue: FeatureCatalogue) -> Gate:
    missing = catalogue.missing(feature_names)
    without = catalogue.without_reason(feature_names)
    problems = [f"not in catalogue: {', '.join(missing)}"] if missing else []
    problems += [f"no approved reason text: {', '.join(without)}"] if without else []
    return Gate(
        REASONS,
        not problems,
        "; ".join(problems) or f"all {len(feature_names)} features map to an approved reason",
        figure=f"{len(missing) + len(without)} without approved text",
        threshold="0",
    )


def protected_gate(feature_names: Iterable[str], protected_columns: Iterable[str]) -> Gate:
    """No input may be a protected attribute or a proxy input (surname, first name, ZIP,
    tract), nor a column derived for fairness testing (`protected_*`, `bisg_*`)."""
    protected = set(protected_columns)
    protected |= {f"protected_{c}" for c in protected}
    leaked = sorted(
        n
        for n in feature_names
        if n in protected or n.startswith(("protected_", PROXY_PROBABILITY_PREFIX))
    )
    return Gate(
        NO_PROTECTED,
        not leaked,
        f"protected or proxy inputs: {', '.join(leaked)}"
        if leaked
        else "no protected attribute or proxy input among the inputs",
        figure=f"{len(leaked)} protected inputs",
        threshold="0",
    )


def monotonicity_gate(evidence: Mapping[str, Any] | None) -> Gate:
    """From the monotonicity evidence recorded in the model's manifest."""
    if not evidence:
        return Gate(
            MONOTONICITY,
            False,
            "not assessed: no monotonicity evidence recorded with the model (retrain it)",
            assessed=False,
        )
    failed = [
        f["feature"]
        for f in evidence.get("features", [])
        if f.get("status") == "fail" or f.get("passed") is False
    ]
    checked = len(evidence.get("features", []))
    passed = bool(evidence.get("passed", False)) and not failed
    return Gate(
        MONOTONICITY,
        passed,
        "every constrained feature is monotone" if passed else f"violated by: {', '.join(failed)}",
        figure=f"{len(failed)} of {checked} constrained features violated",
        threshold="0",
    )


def reason_accuracy_gate(report: Mapping[str, Any] | None, policy: PromotionPolicy) -> Gate:
    """Neutralising the top reason lowers predicted risk for enough sampled applicants."""
    if not report:
        return Gate(REASON_ACCURACY, False, "no reason accuracy report for this model version")
    checked = int(report.get("checked") or 0)
    share = float(report.get("share") or 0.0)
    target = policy.reason_accuracy_target
    if checked == 0:
        return Gate(
            REASON_ACCURACY,
            True,
            "no applicant with a risk-raising reason to check",
            threshold=f">= {target:.0%}",
            assessed=False,
        )
    return Gate(
        REASON_ACCURACY,
        share >= target,
        f"risk fell for {report.get('passed')} of {checked} sampled applicants "
        f"({share:.1%}) when their top reason was neutralised",
        figure=f"{share:.1%}",
        threshold=f">= {target:.0%}",
    )


def leakage_gate(screen: Mapping[str, Any] | None, cleared: Iterable[str] = ()) -> Gate:
    """No feature alone nearly separates the outcome, and no common value occurs with one
    outcome only (`core/modeling/leakage`), unless its contract column is declared
    `known_at_decision: true`. No screen recorded: not assessed, held back."""
    threshold = "no single-feature AUC >= the screen's bound, no one-label value"
    if screen is None:
        return Gate(
            LEAKAGE,
            False,
            "not assessed: no leakage screen was recorded for this model (retrain it)",
            threshold=threshold,
            assessed=False,
        )
    allowed = set(cleared)
    findings = [f for f in screen.get("findings", []) if f["feature"] not in allowed]
    aucs = {k: v for k, v in (screen.get("single_auc") or {}).items() if v is not None}
    top = max(aucs.items(), key=lambda item: item[1]) if aucs else None
    figure = f"highest single-feature AUC {top[1]:.3f} ({top[0]})" if top else ""
    if findings:
        details = "; ".join(f["detail"] for f in findings)
        features = sorted({f["feature"] for f in findings})
        return Gate(
            LEAKAGE,
            False,
            f"target leakage suspected: {details}. If {', '.join(features)} is known when the "
            "decision is made, say `known_at_decision: true` on its contract column; otherwise "
            "drop it (role: ignore)",
            figure=figure,
            threshold=threshold,
        )
    cleared_note = (
        f"; cleared by contract (known_at_decision): {', '.join(sorted(allowed))}"
        if allowed & {f["feature"] for f in screen.get("findings", [])}
        else ""
    )
    return Gate(
        LEAKAGE,
        True,
        f"no feature alone separates the outcome on {screen.get('rows', 0)} development rows "
        f"({screen.get('bads', 0)} bads){cleared_note}",
        figure=figure,
        threshold=threshold,
    )
