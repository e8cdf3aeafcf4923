"""The plain-language statement of a less-discriminatory-alternative search.

A discovery names the alternative a lender can adopt (a servable model first, then the least
disparity), what it gains in worst adverse impact ratio and what it costs in AUC, with its
caveats (a protected attribute used in training, a model the platform cannot serve). A
refutation states what none of the candidates reached, within which families, generators and
budget, and the least discriminatory comparable candidate. `method_text` is the method a
search states whatever it finds.
"""

from __future__ import annotations

from typing import Any

from credit_assets.core.compliance.lda_candidates import Kind
from credit_assets.core.promotion import FairnessPolicy


def _cost_text(row: dict[str, Any]) -> str:
    """A candidate's AUC cost (or gain) against the challenger, with DeLong's half-interval."""
    cost = -row["auc_difference"]
    half = (
        (row["difference_high"] - row["difference_low"]) / 2
        if row["difference_low"] is not None and row["difference_high"] is not None
        else None
    )
    spread = f" ± {half:.3f} (DeLong 95 %)" if half is not None else ""
    if cost >= 0:
        return f"at an AUC cost of {cost:.3f}{spread}"
    return f"with an AUC gain of {-cost:.3f}{spread}"


def _caveats(best: dict[str, Any], pool: list[dict[str, Any]]) -> str:
    """What adopting `best` needs (counsel, a servable model), and a fairer unservable one."""
    notes = []
    config = best["config"]
    if config["uses_protected_attribute_in_training"]:
        notes.append(
            f"It uses {config['protected_attribute']} in training (never as an input): "
            "counsel must confirm that is lawful for this product."
        )
    if not config["servable"]:
        notes.append(f"The platform cannot serve it as is: {best['not_servable_because']}.")
    fairer = max(
        (
            r
            for r in pool
            if not r["config"]["servable"]
            and round(r["worst_air"], 2) > round(best["worst_air"], 2)
        ),
        key=lambda r: r["worst_air"],
        default=None,
    )
    if fairer is not None:
        notes.append(
            f"A model the platform cannot serve, '{fairer['name']}', reaches a worst AIR of "
            f"{fairer['worst_air']:.2f} ({_cost_text(fairer)})."
        )
    return " ".join(notes)


def search_statement(
    challenger: dict[str, Any],
    tried: list[dict[str, Any]],
    *,
    families: list[str],
    budget: dict[str, Any],
    budget_text: str,
    tolerance: float,
    threshold: float,
) -> tuple[Kind, str | None, str | None, str | None, str]:
    """(kind, finding, alternative, least discriminatory comparable, statement)."""
    judged = [r for r in tried if r["worst_air"] is not None and r["auc"] is not None]
    comparable = [r for r in judged if r["comparable"]]
    least = max(comparable, key=lambda r: (r["worst_air"], r["auc"]), default=None)
    least_name = least["name"] if least else None
    at = f"worst AIR at the operating point, approving {challenger['approval_rate']:.0%}"
    finding, pool = _finding(challenger, comparable)
    if finding is not None:
        # What a lender can adopt comes first: a servable model, then the least disparity.
        best = max(pool, key=lambda r: (r["config"]["servable"], r["worst_air"], r["auc"]))
        text = _discovery_text(challenger, best, pool, at=at)
        return "discovery", finding, best["name"], least_name, text
    scope = _scope_text(tried, families=families, budget=budget, budget_text=budget_text)
    text = _refutation_text(
        challenger, judged, least, scope=scope, at=at, tolerance=tolerance, threshold=threshold
    )
    return "refutation", None, None, least_name, text


def _finding(
    challenger: dict[str, Any], comparable: list[dict[str, Any]]
) -> tuple[str | None, list[dict[str, Any]]]:
    """What the comparable candidates found, and the ones that found it: a pass of the
    fairness policy the challenger fails (with a worst AIR above its own), else a gain in
    worst AIR beyond bootstrap noise, else nothing."""
    base_air = challenger["worst_air"]
    passing = [
        r
        for r in comparable
        if r["passes_fairness_policy"] and (base_air is None or r["worst_air"] > base_air)
    ]
    improving = [r for r in comparable if r["air_gain_low"] is not None and r["air_gain_low"] > 0]
    if passing and not challenger["passes_fairness_policy"]:
        return "passes_fairness_policy", passing
    if improving:
        return "improves_worst_air", improving
    return None, []


def _discovery_text(
    challenger: dict[str, Any], best: dict[str, Any], pool: list[dict[str, Any]], *, at: str
) -> str:
    """The statement of a discovery: `best`, what it gains and costs, and its caveats."""
    base_air = challenger["worst_air"]
    frm = "n/a" if base_air is None else f"{base_air:.2f}"
    verdict = (
        "and passes the fairness policy"
        if best["passes_fairness_policy"]
        else "but still does not pass the fairness policy"
    )
    gain = (
        f"; gain 95 % bootstrap {best['air_gain_low']:+.2f} to {best['air_gain_high']:+.2f}"
        if best["air_gain_low"] is not None
        else ""
    )
    text = (
        f"Discovery: alternative '{best['name']}' ({best['description']}) reduces the "
        f"disparity from {frm} to {best['worst_air']:.2f} ({at}{gain}) {verdict}, "
        f"{_cost_text(best)}; AUC {best['auc']:.3f} against the challenger's "
        f"{challenger['auc']:.3f}."
    )
    caveats = _caveats(best, pool)
    return f"{text} {caveats}".strip()


def _scope_text(
    tried: list[dict[str, Any]],
    *,
    families: list[str],
    budget: dict[str, Any],
    budget_text: str,
) -> str:
    """What a refutation covers: the candidates, their families and generators, the budget."""
    generators = sorted({r["generator"] for r in tried})
    return (
        f"among {len(tried)} candidates of these families ({', '.join(families)}; generators: "
        f"{', '.join(generators) or 'none'}) within the budget ({budget_text}; used "
        f"{budget['seconds']:.0f} s, stopped: {budget['stop_reason']}"
        + (f"; {budget['failed']} more could not be fitted" if budget.get("failed") else "")
        + ")"
    )


def _refutation_text(
    challenger: dict[str, Any],
    judged: list[dict[str, Any]],
    least: dict[str, Any] | None,
    *,
    scope: str,
    at: str,
    tolerance: float,
    threshold: float,
) -> str:
    """The statement of a refutation: what none of the candidates in `scope` reached, the
    least discriminatory comparable one, and the least disparity at any AUC."""
    base_air = challenger["worst_air"]
    if challenger["passes_fairness_policy"]:
        lead = (
            f"Refutation: the challenger passes the fairness policy (worst AIR "
            f"{'n/a' if base_air is None else f'{base_air:.2f}'}); {scope}, none within "
            f"{tolerance:g} AUC improves its worst AIR beyond sampling noise"
        )
    else:
        lead = (
            f"Refutation: {scope}, none within {tolerance:g} AUC reaches AIR {threshold:g} "
            "(or a disparity that is not statistically significant)"
        )
    if least is not None:
        best_text = (
            f"; best {least['worst_air']:.2f} (candidate '{least['name']}', "
            f"{_cost_text(least)}) against the challenger's "
            f"{'n/a' if base_air is None else f'{base_air:.2f}'} ({at})"
        )
    else:
        best_text = f"; no candidate is within {tolerance:g} AUC of the challenger"
    fairest = max(judged, key=lambda r: (r["worst_air"], r["auc"]), default=None)
    beyond = (
        f". The least disparity at any AUC: '{fairest['name']}', worst AIR "
        f"{fairest['worst_air']:.2f} {_cost_text(fairest)}"
        if fairest is not None and fairest is not least
        else ""
    )
    return f"{lead}{best_text}{beyond}. This holds for this model class and budget only."


def method_text(
    families: list[str],
    budget_text: str,
    tolerance: float,
    alpha: float,
    policy: FairnessPolicy,
    n_bootstrap: int,
) -> str:
    """The method a search states whatever it finds: candidates, evaluation, fairness."""
    return (
        "Less-discriminatory-alternative search (Gillis, Meursault & Ustun, FAccT 2024; model "
        f"multiplicity: Black, Raghavan & Barocas, FAccT 2022) over {', '.join(families)} "
        f"candidates within {budget_text}, generators taken in turn. Every candidate approves "
        "the same share of the evaluation rows as the challenger's operating point (lowest "
        "risk first; ties by one seeded order of applicants). AUC with its DeLong 95 % "
        "interval; the difference from the challenger by DeLong's paired test on the same "
        f"rows. Comparable: an AUC loss of at most {tolerance:g}, or a larger loss with "
        f"one-sided p >= {alpha:g}. Fairness: the promotion gate's rule ({policy.describe()}) "
        f"at the operating point; the worst AIR's 95 % interval from {n_bootstrap} bootstrap "
        "resamples of applicants (decisions held, the same resamples for every candidate, so "
        "the gain over the challenger is paired; BISG-weighted groups are judged by the report "
        "but not resampled). Reweighting and reductions use the protected attribute in "
        "training only, never as a scoring input; reductions (fairlearn ExponentiatedGradient) "
        "are randomized mixtures the platform does not serve. A refutation holds for this "
        "model class and budget only."
    )
