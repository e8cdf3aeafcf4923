"""Fairness on BISG proxies: the same figures as for a self-reported attribute, two ways.

Where no applicant states a race or ethnicity, each applicant carries a probability per
group (`credit_assets.core.compliance.bisg`). The disparity is then estimated:

- **weighted** (the CFPB's method): every applicant counts in every group with its
  probability as weight. A group's approval rate is sum(p * approved) / sum(p), its size
  the sum of its probabilities (the expected number of applicants in it). This is the
  method the gate weighs most: no applicant is dropped.
- **most likely group**: every applicant whose most likely group has probability at least
  `threshold` (0.8) is counted in that group; the others form the `(missing)` group, which
  is reported, never deciding. Simpler to read, but it keeps only applicants the proxy is
  sure about, who are not a random sample of their group.

Weighted intervals and p-values come from a bootstrap that resamples applicants (all
of them, with replacement, with their probabilities); the p-value is twice the smaller
share of bootstrap ratios on either side of 1 (a percentile test of AIR = 1). The most-
likely-group figures are those of a self-reported attribute (Fisher's exact test,
resampling within groups). Without bootstrap draws (the LDA search's many refits) the
weighted p-value is a two-proportion z-test on Kish's effective sample sizes. Either method finding a significant disparity holds the
model back: the two err in different ways, so the gate does not pick the kinder one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.special import ndtr
from sklearn.metrics import roc_auc_score

from credit_assets.core.compliance.bisg import PROBABILITY_COLUMNS, PROXY_GROUPS, most_likely_group
from credit_assets.core.promotion import FairnessPolicy, group_verdict

PROXY_THRESHOLD = 0.8
"""A most-likely group counts an applicant when its probability reaches this."""
PROXY_ATTRIBUTE = "race_ethnicity"
WEIGHTED = f"{PROXY_ATTRIBUTE} (BISG, weighted)"
MOST_LIKELY = f"{PROXY_ATTRIBUTE} (BISG, most likely >= {PROXY_THRESHOLD:g})"
PROXY_EVIDENCE = "BISG race/ethnicity proxies (surname and geography, Census tables)"
_BOOTSTRAP_CELLS = 4_000_000  # resample counts held in memory at once


def has_proxies(frame: pl.DataFrame) -> bool:
    return all(c in frame.columns for c in PROBABILITY_COLUMNS)


def proxy_matrix(frame: pl.DataFrame) -> np.ndarray:
    """The probabilities as an (n, groups) array; rows without a proxy are all zero."""
    matrix = frame.select(PROBABILITY_COLUMNS).to_numpy().astype(np.float64)
    return np.nan_to_num(matrix, nan=0.0)


def most_likely_labels(frame: pl.DataFrame, threshold: float = PROXY_THRESHOLD) -> pl.Series:
    """The group per row the most-likely method counts it in, else null (`(missing)`)."""
    labels, sure = most_likely_group(frame, threshold)
    values = [str(g) if ok else None for g, ok in zip(labels, sure, strict=True)]
    return pl.Series(MOST_LIKELY, values, dtype=pl.String)


def _weighted_auc(y: np.ndarray, risk: np.ndarray, weight: np.ndarray) -> float | None:
    keep = weight > 0
    y, risk, weight = y[keep], risk[keep], weight[keep]
    if y.size == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, risk, sample_weight=weight))


def _bootstrap_rates(
    weights: np.ndarray, approved: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_bootstrap, groups) weighted approval rates over applicants resampled with replacement."""
    n = weights.shape[0]
    block = max(1, _BOOTSTRAP_CELLS // max(n, 1))
    uniform = np.full(n, 1.0 / n)
    weighted_approved = weights * approved[:, None]
    out = []
    for start in range(0, n_bootstrap, block):
        counts = rng.multinomial(n, uniform, size=min(block, n_bootstrap - start)).astype(
            np.float64
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append((counts @ weighted_approved) / (counts @ weights))
    return np.vstack(out) if out else np.empty((0, weights.shape[1]))


def _weighted_z_test(w_group: np.ndarray, w_reference: np.ndarray, approved: np.ndarray) -> float:
    """Two-sided p of equal weighted approval rates, with Kish's effective sample sizes."""
    sizes = []
    rates = []
    for w in (w_group, w_reference):
        total, squares = w.sum(), (w**2).sum()
        sizes.append(total**2 / squares if squares > 0 else 0.0)
        rates.append((w * approved).sum() / total if total > 0 else 0.0)
    if min(sizes) <= 0:
        return 1.0
    pooled = (rates[0] * sizes[0] + rates[1] * sizes[1]) / (sizes[0] + sizes[1])
    spread = math.sqrt(pooled * (1 - pooled) * (1 / sizes[0] + 1 / sizes[1]))
    if spread == 0:
        return 1.0
    return float(2 * ndtr(-abs(rates[0] - rates[1]) / spread))


@dataclass(frozen=True)
class _Weighted:
    """Applicants weighted by P(group): per group the size, approval rate and score moments."""

    scores: np.ndarray
    weights: np.ndarray
    approved: np.ndarray
    size: np.ndarray
    rates: np.ndarray
    means: np.ndarray
    variances: np.ndarray

    @classmethod
    def of(cls, scores: np.ndarray, weights: np.ndarray, cutoff: float) -> _Weighted:
        approved = (scores >= cutoff).astype(np.float64)
        size = weights.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rates = (weights * approved[:, None]).sum(axis=0) / size
            means = (weights * scores[:, None]).sum(axis=0) / size
            variances = (weights * (scores[:, None] - means) ** 2).sum(axis=0) / size
        return cls(scores, weights, approved, size, rates, means, variances)

    def judged(self, reference: int | None) -> bool:
        """Whether AIRs can be computed: there is a reference group and it approves someone."""
        return reference is not None and bool(self.rates[reference] > 0)


def _reference_group(weighted: _Weighted, n_groups: int, policy: FairnessPolicy) -> int | None:
    """The highest approval rate (then size) among groups large enough, else among any present."""
    size = weighted.size
    eligible = [i for i in range(n_groups) if size[i] >= policy.min_group_size]
    eligible = eligible or [i for i in range(n_groups) if size[i] > 0]
    return max(eligible, key=lambda i: (weighted.rates[i], size[i]), default=None)


def _bootstrap_air(ratios: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """95 % percentile interval of the bootstrap AIRs and the percentile test of AIR = 1."""
    ratios = ratios[np.isfinite(ratios)]
    if not ratios.size:
        return None, None, None
    low, high = (float(v) for v in np.percentile(ratios, [2.5, 97.5]))
    below = (np.sum(ratios <= 1.0) + 1) / (ratios.size + 1)
    above = (np.sum(ratios >= 1.0) + 1) / (ratios.size + 1)
    return low, high, float(min(1.0, 2 * min(below, above)))


def _air_uncertainty(
    weighted: _Weighted, i: int, reference: int, boot: np.ndarray | None
) -> tuple[float | None, float | None, float | None]:
    """Interval and p-value of group i's AIR: from the bootstrap, else the z-test (no interval)."""
    if boot is None:
        weights = weighted.weights
        return None, None, _weighted_z_test(weights[:, i], weights[:, reference], weighted.approved)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = boot[:, i] / boot[:, reference]
    return _bootstrap_air(ratios)


def _standardized_mean_difference(weighted: _Weighted, i: int, reference: int) -> float | None:
    """Group i's mean score minus the reference's, in their pooled standard deviation."""
    size, variances = weighted.size, weighted.variances
    pooled = math.sqrt(
        (size[i] * variances[i] + size[reference] * variances[reference])
        / (size[i] + size[reference])
    )
    return float((weighted.means[i] - weighted.means[reference]) / pooled) if pooled > 0 else None


def _outcome_fields(
    weighted: _Weighted, i: int, pd_values: np.ndarray | None, labels: np.ndarray | None
) -> dict[str, Any]:
    """Group i's labelled size, AUC, mean PD and observed bad rate."""
    w = weighted.weights[:, i]
    auc = mean_pd = bad_rate = None
    n_labelled = 0.0
    if labels is not None:
        known = ~np.isnan(labels)
        n_labelled = float(w[known].sum())
        y = labels[known]
        risk = pd_values[known] if pd_values is not None else -weighted.scores[known]
        auc = _weighted_auc(y, risk, w[known])
        if n_labelled > 0:
            bad_rate = float(np.average(y, weights=w[known]))
            if pd_values is not None:
                mean_pd = float(np.average(pd_values[known], weights=w[known]))
    elif pd_values is not None and weighted.size[i] > 0:
        mean_pd = float(np.average(pd_values, weights=w))
    return {
        "n_labelled": int(round(n_labelled)),
        "auc": auc,
        "mean_pd": mean_pd,
        "observed_bad_rate": bad_rate,
    }


def _group_fields(
    weighted: _Weighted,
    i: int,
    group: str,
    reference: int | None,
    boot: np.ndarray | None,
    policy: FairnessPolicy,
) -> dict[str, Any]:
    """Group i's `GroupFairness` fields but the outcome ones, against the reference group."""
    present = weighted.size[i] > 0
    judged = weighted.judged(reference)
    air = float(weighted.rates[i] / weighted.rates[reference]) if judged and present else None
    low = high = p_value = smd = None
    if air is not None and i != reference:
        assert reference is not None
        low, high, p_value = _air_uncertainty(weighted, i, reference, boot)
    if reference is not None and present:
        smd = _standardized_mean_difference(weighted, i, reference)
    figures = {
        "group": group,
        "n": int(round(weighted.size[i])),
        "adverse_impact_ratio": air,
        "p_value": p_value,
        "is_reference": i == reference,
    }
    verdict = group_verdict(figures, policy)
    return {
        **figures,
        "n_approved": int(round(float((weighted.weights[:, i] * weighted.approved).sum()))),
        "approval_rate": float(weighted.rates[i]) if present else 0.0,
        "air_ci_low": low,
        "air_ci_high": high,
        "practically_significant": verdict.practically_significant,
        "statistically_significant": verdict.statistically_significant,
        "decides": verdict.decides,
        "fails": verdict.fails,
        "not_deciding_because": verdict.not_deciding_because,
        "small_group": bool(weighted.size[i] < policy.min_group_size),
        "mean_score": float(weighted.means[i]) if present else float("nan"),
        "standardized_mean_difference": smd,
    }


def weighted_groups(
    scores: np.ndarray,
    pd_values: np.ndarray | None,
    labels: np.ndarray | None,
    weights: np.ndarray,
    *,
    cutoff: float,
    policy: FairnessPolicy,
    n_bootstrap: int,
    rng: np.random.Generator,
    groups: tuple[str, ...] = PROXY_GROUPS,
) -> list[dict]:
    """Per group the `GroupFairness` fields, every applicant weighted by P(group).

    Sizes (`n`, `n_approved`, `n_labelled`) are sums of probabilities, rounded: the
    expected number of applicants of the group.
    """
    weighted = _Weighted.of(scores, weights, cutoff)
    reference = _reference_group(weighted, len(groups), policy)
    boot = (
        _bootstrap_rates(weights, weighted.approved, n_bootstrap, rng)
        if weighted.judged(reference) and n_bootstrap > 0
        else None
    )
    return [
        {
            **_group_fields(weighted, i, group, reference, boot, policy),
            **_outcome_fields(weighted, i, pd_values, labels),
        }
        for i, group in enumerate(groups)
    ]
