"""The less-discriminatory-alternative search as a page a compliance officer opens.

`lda_html` renders a `SearchResult` (`lda_discovery`) as one self-contained HTML page with the
platform's report renderer (`reports.render.render_html`: inline CSS, the plot as a
`data:image/png;base64,` URI, nothing fetched): the statement, the kind of finding and, for a
discovery, the alternative with its AUC cost and worst AIR; `frontier_png`, AUC against worst
AIR with both intervals; every candidate; the method and budget; the proxy screen; and how to
refit any candidate. Every text that may come from a lender (feature, attribute and group names
in candidate names and descriptions, the statement, the method) is HTML-escaped; in the plot,
names are drawn as plain text (`parse_math=False`), never as mathtext.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from credit_assets.core.compliance.lda_candidates import (
    CHALLENGER,
    STOP_CANDIDATES,
    STOP_EXHAUSTED,
    STOP_SECONDS,
)
from credit_assets.core.compliance.lda_discovery import SearchResult
from credit_assets.core.compliance.proxies import PROXY_AUC_THRESHOLD
from credit_assets.core.promotion import FOUR_FIFTHS
from credit_assets.core.reports.render import (
    Block,
    Image,
    KeyValues,
    Paragraph,
    Section,
    Table,
    figure_png,
    render_html,
)

KIND_TITLES = {
    "discovery": "Discovery: a less discriminatory alternative was found",
    "refutation": "Refutation: no less discriminatory alternative within the search",
    "not_assessed": "Not assessed: no search was run",
}
STOP_REASONS = {
    STOP_CANDIDATES: "the candidate limit was reached",
    STOP_SECONDS: "the time limit was reached",
    STOP_EXHAUSTED: "every candidate the space allows was tried",
}
LINK_SCHEMES = ("", "http", "https", "file", "s3", "gs", "abfs", "abfss", "az")
"""Schemes a link may use; any other (`javascript:`, `data:`) is shown as text, not a link."""

# ---------------------------------------------------------------- the frontier plot


def _plotted(result: SearchResult) -> list[dict[str, Any]]:
    """The candidates with both an AUC and a worst AIR (not those that failed)."""
    return [
        r for r in result.candidates if r.get("auc") is not None and r.get("worst_air") is not None
    ]


def _threshold(result: SearchResult) -> float:
    return float(result.policy.get("min_adverse_impact_ratio", FOUR_FIFTHS))


def _errors(rows: list[dict[str, Any]], key: str) -> list[list[float]]:
    """Asymmetric error bars (below, above) from `<key>_low` / `<key>_high`; 0 where unknown."""
    below, above = [], []
    for r in rows:
        low, high, value = r.get(f"{key}_low"), r.get(f"{key}_high"), r[key]
        below.append(max(0.0, value - low) if low is not None else 0.0)
        above.append(max(0.0, high - value) if high is not None else 0.0)
    return [below, above]


def _empty_png(result: SearchResult) -> bytes:
    fig = Figure(figsize=(6.5, 2.0), layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    why = "not assessed" if result.kind == "not_assessed" else "no candidate has figures"
    ax.text(0.5, 0.5, f"No candidates to plot: {why}.", ha="center", va="center", fontsize=11)
    return figure_png(fig)


def _draw_candidates(ax: Axes, rows: list[dict[str, Any]]) -> None:
    """Every candidate with its AUC and worst-AIR intervals as error bars."""
    ax.errorbar(
        [r["auc"] for r in rows],
        [r["worst_air"] for r in rows],
        xerr=_errors(rows, "auc"),
        yerr=_errors(rows, "worst_air"),
        fmt="o",
        color="#868e96",
        ecolor="#ced4da",
        markersize=5,
        elinewidth=1,
        zorder=2,
        label="candidate (95 % intervals)",
    )


def _draw_frontier(ax: Axes, rows: list[dict[str, Any]], result: SearchResult) -> None:
    """The frontier's points joined, by AUC."""
    on = set(result.frontier)
    frontier = sorted((r for r in rows if r["name"] in on), key=lambda r: r["auc"])
    if not frontier:
        return
    ax.plot(
        [r["auc"] for r in frontier],
        [r["worst_air"] for r in frontier],
        "-o",
        color="#3b5bdb",
        markersize=5,
        linewidth=1.2,
        zorder=3,
        label="frontier (not dominated)",
    )


def _draw_named(ax: Axes, rows: list[dict[str, Any]], result: SearchResult) -> None:
    """The challenger a star and the chosen alternative a diamond, each with its name drawn
    as plain text (a lender's feature name is never parsed as mathtext)."""
    marks = [(r, "*", 260, "#1c7ed6", "challenger") for r in rows if _is_challenger(r)]
    marks += [(r, "D", 90, "#2f9e44", "chosen alternative") for r in rows if _is_chosen(r, result)]
    for row, marker, size, color, label in marks:
        ax.scatter(
            row["auc"],
            row["worst_air"],
            s=size,
            marker=marker,
            color=color,
            edgecolor="black",
            linewidth=0.6,
            zorder=4,
            label=label,
        )
        ax.annotate(
            row["name"],
            (row["auc"], row["worst_air"]),
            textcoords="offset points",
            xytext=(6, 5),
            fontsize=8,
            parse_math=False,
        )


def _is_challenger(row: Mapping[str, Any]) -> bool:
    return row.get("generator") == CHALLENGER


def _is_chosen(row: dict[str, Any], result: SearchResult) -> bool:
    return result.alternative is not None and row["name"] == result.alternative


def _draw_policy(ax: Axes, result: SearchResult, challenger_auc: float | None) -> None:
    """The four-fifths line and the band of AUCs comparable with the challenger's."""
    threshold = _threshold(result)
    ax.axhline(
        threshold,
        color="#d9480f",
        linestyle="--",
        linewidth=1,
        label=f"fairness policy: worst AIR {threshold:g}",
    )
    if challenger_auc is None:
        return
    left, right = ax.get_xlim()
    low = challenger_auc - result.auc_tolerance
    right = max(right, challenger_auc + result.auc_tolerance / 2)
    ax.axvspan(
        low,
        right,
        color="#e7f0ff",
        zorder=0,
        label=f"AUC within {result.auc_tolerance:g} of the challenger's or better",
    )
    ax.set_xlim(min(left, low - result.auc_tolerance / 2), right)


def frontier_png(result: SearchResult) -> bytes:
    """AUC (x) against worst AIR (y) for every candidate with figures, both 95 % intervals as
    error bars; the frontier joined, the challenger a star, the chosen alternative a diamond,
    the policy threshold dashed and the comparable AUCs shaded. A small notice when there is
    nothing to plot (not assessed)."""
    rows = _plotted(result)
    if not rows:
        return _empty_png(result)
    fig = Figure(figsize=(7.5, 5.0), layout="constrained")
    ax = fig.add_subplot()
    _draw_candidates(ax, rows)
    _draw_frontier(ax, rows, result)
    _draw_named(ax, rows, result)
    challenger = next((r for r in rows if _is_challenger(r)), None)
    _draw_policy(ax, result, challenger["auc"] if challenger else None)
    rate = "" if result.approval_rate is None else f", approving {result.approval_rate:.0%}"
    ax.set_title(f"Less discriminatory alternatives: {len(rows)} models{rate}", fontsize=10)
    ax.set_xlabel("AUC (DeLong 95 % interval)")
    ax.set_ylabel("Worst adverse impact ratio (bootstrap 95 % interval)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return figure_png(fig)


# ---------------------------------------------------------------- figures as text


def _estimate(value: Any, low: Any = None, high: Any = None, signed: bool = False) -> str:
    """A figure and its interval, `0.841 [0.820, 0.862]`; a dash without a value."""
    if value is None:
        return "–"
    form = "{:+.3f}" if signed else "{:.3f}"
    text = form.format(value)
    if low is None or high is None:
        return text
    return f"{text} [{form.format(low)}, {form.format(high)}]"


def _cost(row: Mapping[str, Any]) -> str:
    """The AUC lost against the challenger (negative: gained) with its DeLong interval."""
    diff = row.get("auc_difference")
    if diff is None:
        return "–"
    low, high = row.get("difference_low"), row.get("difference_high")
    if low is None or high is None:
        return f"{_estimate(-diff, signed=True)} (DeLong 95 %)"
    return f"{_estimate(-diff, -high, -low, signed=True)} (DeLong 95 %)"


def _role(row: Mapping[str, Any], result: SearchResult) -> str:
    if _is_challenger(row):
        return "challenger"
    if row["name"] == result.alternative:
        return "chosen alternative"
    if row["name"] == result.least_discriminatory_comparable:
        return "least discriminatory comparable"
    return ""


def _servable(row: Mapping[str, Any]) -> str:
    if row.get("servable") is None:
        return "–"
    if row["servable"]:
        return "yes"
    why = row.get("not_servable_because")
    return f"no ({why})" if why else "no"


def _candidate_row(row: Mapping[str, Any], result: SearchResult) -> dict[str, Any]:
    return {
        "name": row["name"],
        "role": _role(row, result),
        "generator": row.get("generator"),
        "family": row.get("family"),
        "description": row.get("description"),
        "AUC [95 %]": _estimate(row.get("auc"), row.get("auc_low"), row.get("auc_high")),
        "AUC difference": _estimate(row.get("auc_difference"), signed=True),
        "comparable": row.get("comparable"),
        "worst AIR [95 %]": _estimate(
            row.get("worst_air"), row.get("worst_air_low"), row.get("worst_air_high")
        ),
        "worst group": row.get("worst_group"),
        "passes fairness policy": row.get("passes_fairness_policy"),
        "uses protected attribute in training": row.get("uses_protected_attribute_in_training"),
        "servable": _servable(row),
        "on frontier": row.get("on_frontier", row["name"] in result.frontier),
        "error": row.get("error"),
    }


# ---------------------------------------------------------------- sections


def _figures(row: Mapping[str, Any], what: str) -> dict[str, Any]:
    """One candidate's headline figures, for the finding."""
    gain = (row.get("air_gain_low"), row.get("air_gain_high"))
    return {
        what: row["name"],
        "description": row.get("description"),
        "AUC (DeLong 95 %)": _estimate(row.get("auc"), row.get("auc_low"), row.get("auc_high")),
        "AUC cost against the challenger": _cost(row),
        "worst AIR (bootstrap 95 %)": _estimate(
            row.get("worst_air"), row.get("worst_air_low"), row.get("worst_air_high")
        ),
        "worst group": row.get("worst_group"),
        "worst AIR gain over the challenger (paired bootstrap 95 %)": (
            f"[{gain[0]:+.3f}, {gain[1]:+.3f}]" if None not in gain else "–"
        ),
        "passes fairness policy": row.get("passes_fairness_policy"),
        "servable by the platform": _servable(row),
        "uses protected attribute in training": row.get("uses_protected_attribute_in_training"),
    }


def _finding(result: SearchResult) -> list[Block]:
    if result.kind == "not_assessed" or not result.candidates:
        return [Paragraph("Not assessed: no search was run, so no candidate was compared.")]
    names = {r["name"]: r for r in result.candidates}
    blocks: list[Block] = [Paragraph(KIND_TITLES.get(result.kind, result.kind) + ".")]
    if result.alternative in names:
        blocks.append(KeyValues(_figures(names[result.alternative], "alternative")))
    elif result.least_discriminatory_comparable in names:
        least = names[result.least_discriminatory_comparable]
        blocks.append(KeyValues(_figures(least, "least discriminatory comparable candidate")))
    challenger = next((r for r in result.candidates if _is_challenger(r)), None)
    if challenger is not None:
        blocks.append(
            KeyValues(
                {
                    "challenger AUC (DeLong 95 %)": _estimate(
                        challenger.get("auc"), challenger.get("auc_low"), challenger.get("auc_high")
                    ),
                    "challenger worst AIR (bootstrap 95 %)": _estimate(
                        challenger.get("worst_air"),
                        challenger.get("worst_air_low"),
                        challenger.get("worst_air_high"),
                    ),
                    "challenger worst group": challenger.get("worst_group"),
                    "challenger passes fairness policy": challenger.get("passes_fairness_policy"),
                }
            )
        )
    return blocks


def _frontier(result: SearchResult) -> list[Block]:
    failed = len(result.candidates) - len(_plotted(result))
    rate = "" if result.approval_rate is None else f" ({result.approval_rate:.0%})"
    text = (
        "Every model approves the same share of applicants as the challenger's operating point"
        f"{rate}. Horizontal bars: the AUC's DeLong 95 % interval; vertical bars: the worst "
        "adverse impact ratio's bootstrap 95 % interval. The frontier joins the models no other "
        "model beats on both AUC and worst AIR; the shaded band holds the AUCs within "
        f"{result.auc_tolerance:g} of the challenger's (a larger loss that DeLong's test cannot "
        "tell from noise is comparable too: see the table); the dashed line is the fairness "
        f"policy's threshold ({_threshold(result):g})."
    )
    if failed:
        text += f" {failed} candidate(s) without figures (not fitted) are not shown."
    return [Paragraph(text), Image(frontier_png(result), "AUC against worst AIR, every candidate")]


def _candidates(result: SearchResult) -> list[Block]:
    rows = [_candidate_row(r, result) for r in result.candidates]
    caption = (
        "Every candidate, the challenger first, in the order tried; AUC difference: AUC minus "
        "the challenger's on the same rows"
    )
    return [Table(rows, caption=caption)]


def _budget(result: SearchResult) -> dict[str, Any]:
    budget = result.budget
    stop = budget.get("stop_reason")
    return {
        "candidates tried": budget.get("candidates"),
        "candidates that could not be fitted": budget.get("failed", 0),
        "seconds used": budget.get("seconds"),
        "stopped because": STOP_REASONS.get(stop, stop) if stop else "not run",
        "limit: candidates": budget.get("max_candidates"),
        "limit: seconds": budget.get("max_seconds"),
        **(
            {"worker processes": budget["parallel_fallback"]}
            if budget.get("parallel_fallback")
            else {}
        ),
        "approval rate": result.approval_rate,
        "AUC tolerance": result.auc_tolerance,
        "DeLong alpha": result.alpha,
        "families": result.families,
        "generators": result.generators,
        **{f"fairness policy: {k}": v for k, v in result.policy.items()},
    }


def _method(result: SearchResult) -> list[Block]:
    return [Paragraph(result.method), KeyValues(_budget(result))]


def _proxies(result: SearchResult) -> list[Block]:
    if not result.proxies:
        return [Paragraph("No proxy screen was run.")]
    flagged = [p for p in result.proxies if p.get("flagged")]
    intro = Paragraph(
        f"Each feature alone against each protected attribute on the train rows "
        f"({len(result.proxies)} pairs screened): a folded AUC of at least "
        f"{PROXY_AUC_THRESHOLD:g} flags the feature as a proxy, which the drop_proxies, "
        "coarsen_proxy and monotone_proxy candidates act on."
    )
    if not flagged:
        return [intro, Paragraph("No feature is flagged as a proxy for a protected attribute.")]
    columns = ["feature", "protected", "auc", "method", "source", "n", "groups"]
    return [intro, Table(flagged, columns, caption="Flagged feature x attribute pairs")]


def _refit(result: SearchResult) -> list[Block]:
    return [
        Paragraph(
            "Every candidate's configuration (generator, family, features, hyper-parameters, "
            "seed, any weights, constraint or binning) is recorded in the JSON report under "
            "candidates[].config: SearchResult.from_dict(report).config(name) followed by "
            "refit(config, training_set, features) refits that candidate exactly on the same "
            "training set, so any model on this page can be reproduced and reviewed. The "
            "challenger is the model as trained and has no configuration here."
        )
    ]


def sections(result: SearchResult) -> list[Section]:
    return [
        Section("finding", "Finding", _finding(result)),
        Section("frontier", "AUC against worst AIR", _frontier(result)),
        Section("candidates", "Every candidate", _candidates(result)),
        Section("method", "Method and budget", _method(result)),
        Section("proxy-screen", "Proxy screen", _proxies(result)),
        Section("refit", "Refit any candidate", _refit(result)),
    ]


# ---------------------------------------------------------------- the page


def _link(label: str, uri: str) -> str:
    """An escaped link; a URI with a scheme outside `LINK_SCHEMES` is shown as text."""
    text = html.escape(label)
    if urlsplit(uri.strip()).scheme.lower() not in LINK_SCHEMES:
        return f"{text}: {html.escape(uri)}"
    return f'<a href="{html.escape(uri, quote=True)}">{text}</a>'


def _lead(result: SearchResult, links: Mapping[str, str] | None) -> str:
    """The statement in bold and the links, placed above the table of contents."""
    parts = [f"<p><strong>{html.escape(result.statement)}</strong></p>"]
    if links:
        anchors = " · ".join(_link(label, uri) for label, uri in links.items())
        parts.append(f"<p>{anchors}</p>")
    return "\n".join(parts)


def lda_html(
    result: SearchResult, *, model_version: str, links: dict[str, str] | None = None
) -> str:
    """One self-contained HTML page of the search for `model_version`; `links` (label -> URI,
    e.g. the model card and the JSON report) are shown under the statement."""
    page = render_html(
        f"Less discriminatory alternatives: model {model_version}",
        sections(result),
        subtitle=KIND_TITLES.get(result.kind, str(result.kind)),
    )
    head, nav, tail = page.partition("\n<nav>")
    if not nav:  # every text above is escaped, so this is render_html's own navigation
        raise RuntimeError("render_html produced no navigation to place the statement before")
    return f"{head}\n{_lead(result, links)}{nav}{tail}"
