"""The LDA search as a page: self-contained, every lender text escaped, the plot embedded, and
every kind of result (discovery, refutation, not assessed, failed candidates) rendered."""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import replace
from typing import Any

import polars as pl
import pytest

from credit_assets.core.compliance.lda_candidates import (
    CHALLENGER,
    STOP_CANDIDATES,
    SearchBudget,
    SearchSpace,
)
from credit_assets.core.compliance.lda_discovery import (
    SearchResult,
    search_less_discriminatory_alternatives,
)
from credit_assets.core.compliance.lda_report import frontier_png, lda_html
from credit_assets.core.modeling.train import TrainConfig, train_challenger
from tests.support.lda_data import PLANTED_FEATURES, planted_proxy_disparity

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCRIPT = "<script>alert(1)</script>"
PROXY = f"shop{SCRIPT}"
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
IMAGE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
CONFIG = TrainConfig(
    iterations=80, learning_rate=0.1, depth=4, early_stopping_rounds=20, threads=1, seed=7
)


@pytest.fixture(scope="module")
def searched() -> SearchResult:
    """A small real search whose proxy feature's name is markup (about a second)."""
    frame = planted_proxy_disparity(2000, seed=0).rename({"shopping_index": PROXY})
    features = [
        replace(f, name=PROXY) if f.name == "shopping_index" else f for f in PLANTED_FEATURES
    ]
    test = frame.filter(pl.col("split") == "test")
    space = SearchSpace(
        protected_in_training=False,
        seeds=(1,),
        depths=(3,),
        learning_rates=(0.1,),
        l2_leaf_regs=(3.0,),
        iterations=(80,),
        top_proxies=1,
        max_dropped=1,
    )
    return search_less_discriminatory_alternatives(
        frame,
        features,
        ["sex"],
        challenger_pd=train_challenger(frame, features, CONFIG).predict_pd(test),
        approval_rate=0.4,
        base_config=CONFIG,
        space=space,
        budget=SearchBudget(max_candidates=3),
        n_bootstrap=100,
    )


@pytest.fixture(scope="module")
def page(searched: SearchResult) -> str:
    return lda_html(searched, model_version=f"v7{SCRIPT}")


def _candidate(name: str, auc: float | None, air: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "generator": CHALLENGER if name == CHALLENGER else "drop_proxies",
        "family": "catboost",
        "description": f"{name} described",
        "auc": auc,
        "auc_low": None if auc is None else auc - 0.02,
        "auc_high": None if auc is None else auc + 0.02,
        "auc_difference": None if auc is None or name == CHALLENGER else auc - 0.80,
        "comparable": auc is not None and auc >= 0.79,
        "worst_air": air,
        "worst_air_low": None if air is None else air - 0.05,
        "worst_air_high": None if air is None else air + 0.05,
        "worst_group": "sex=female",
        "passes_fairness_policy": None if air is None else air >= 0.8,
        "uses_protected_attribute_in_training": False,
        "servable": True,
        "config": None,
        **extra,
    }


def _result(candidates: list[dict[str, Any]], **fields: Any) -> SearchResult:
    values: dict[str, Any] = {
        "kind": "refutation",
        "statement": "Refutation: none found.",
        "candidates": candidates,
        "frontier": [c["name"] for c in candidates if c["auc"] is not None][:1],
        "budget": {
            "max_candidates": 5,
            "max_seconds": 60.0,
            "candidates": len(candidates) - 1,
            "failed": sum("error" in c for c in candidates),
            "seconds": 3.0,
            "stop_reason": STOP_CANDIDATES,
        },
        "method": "A method & its <limits>.",
        "approval_rate": 0.4,
        "policy": {"min_adverse_impact_ratio": 0.8},
        **fields,
    }
    return SearchResult(**values)


def _png_of(page: str) -> bytes:
    (encoded,) = IMAGE.findall(page)
    return base64.b64decode(encoded, validate=True)


def test_the_page_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert not EXTERNAL.search(page) and 'src="http' not in page
    lowered = page.lower()
    assert "<link" not in lowered and "<script" not in lowered
    assert "@import" not in lowered and "url(" not in lowered
    assert page.count("<img ") == 1


def test_the_frontier_plot_is_an_embedded_png(searched: SearchResult, page: str) -> None:
    assert _png_of(page).startswith(PNG_SIGNATURE)
    assert frontier_png(searched).startswith(PNG_SIGNATURE)


def test_lender_text_is_escaped_and_never_raw(searched: SearchResult, page: str) -> None:
    assert any(PROXY in r["description"] for r in searched.candidates)  # the name reached it
    assert SCRIPT not in page and "alert(1)</" not in page
    assert html.escape(PROXY) in page
    assert f"model v7{html.escape(SCRIPT)}</h1>" in page
    flagged = [p for p in searched.proxies if p["flagged"]]
    assert flagged and f"<td>{html.escape(flagged[0]['feature'])}</td>" in page


def test_the_statement_and_every_candidate_appear(searched: SearchResult, page: str) -> None:
    assert f"<strong>{html.escape(searched.statement)}</strong>" in page
    assert html.escape(searched.method) in page
    for row in searched.candidates:
        assert f"<td>{html.escape(row['name'])}</td>" in page
        assert f"<td>{html.escape(row['description'])}</td>" in page
    flagged = sum(p["flagged"] for p in searched.proxies)
    assert page.count("<tr>") == (1 + len(searched.candidates)) + (1 + flagged)  # two tables
    assert 'id="refit"' in page and "Refit any candidate" in page and "JSON report" in page


def test_a_discovery_names_its_alternative(searched: SearchResult, page: str) -> None:
    assert searched.kind == "discovery" and searched.alternative is not None
    alternative = html.escape(searched.alternative)
    assert f"<dt>alternative</dt><dd>{alternative}</dd>" in page
    assert f"<td>{alternative}</td><td>chosen alternative</td>" in page
    assert "Discovery: a less discriminatory alternative was found" in page
    row = searched.candidate(searched.alternative)
    assert f"{row['worst_air']:.3f} [{row['worst_air_low']:.3f}, " in page
    assert "the candidate limit was reached" in page


def test_a_not_assessed_result_renders_and_says_so() -> None:
    result = SearchResult(
        kind="not_assessed",
        statement="No protected attribute or proxy declared: no search run.",
        candidates=[],
        frontier=[],
        budget={"max_candidates": 40, "max_seconds": 900.0, "candidates": 0, "seconds": 0.0},
        method="A method.",
    )
    page = lda_html(result, model_version="v1")
    assert "Not assessed" in page and html.escape(result.statement) in page
    assert "No proxy screen was run." in page
    assert _png_of(page).startswith(PNG_SIGNATURE)


def test_a_refutation_shows_the_least_discriminatory_comparable() -> None:
    candidates = [_candidate(CHALLENGER, 0.80, 0.60), _candidate("closest", 0.795, 0.70)]
    result = _result(candidates, least_discriminatory_comparable="closest")
    page = lda_html(result, model_version="v2")
    assert "Refutation: no less discriminatory alternative" in page
    assert "<dt>least discriminatory comparable candidate</dt><dd>closest</dd>" in page
    assert "0.795 [0.775, 0.815]" in page and "+0.005 (DeLong 95 %)" in page
    assert "A method &amp; its &lt;limits&gt;." in page


def test_a_failed_candidate_is_listed_but_not_plotted() -> None:
    candidates = [
        _candidate(CHALLENGER, 0.80, 0.60),
        _candidate("odd_interval", 0.81, 0.90, worst_air_low=0.95, worst_air_high=0.97),
        _candidate("broken", None, None, error=f"CatBoostError: {SCRIPT}"),
    ]
    result = _result(candidates, kind="discovery", alternative="odd_interval")
    assert frontier_png(result).startswith(PNG_SIGNATURE)
    page = lda_html(result, model_version="v3")
    assert f"<td>CatBoostError: {html.escape(SCRIPT)}</td>" in page and SCRIPT not in page
    assert "1 candidate(s) without figures (not fitted) are not shown" in page


def test_a_name_that_looks_like_mathtext_is_drawn_as_text() -> None:
    name = r"a$\undefinedcommand$b"  # matplotlib's mathtext would refuse to draw it
    candidates = [_candidate(CHALLENGER, 0.80, 0.60), _candidate(name, 0.80, 0.85)]
    result = _result(candidates, kind="discovery", alternative=name, frontier=[name])
    assert frontier_png(result).startswith(PNG_SIGNATURE)


def test_links_are_escaped_links_and_unsafe_schemes_are_text() -> None:
    result = _result([_candidate(CHALLENGER, 0.80, 0.60)])
    page = lda_html(
        result,
        model_version="v4",
        links={
            "model card": "https://example.test/card.html?a=1&b=2",
            "JSON <report>": "s3://bucket/lda.json",
            "trap": "javascript:alert(1)",
        },
    )
    assert '<a href="https://example.test/card.html?a=1&amp;b=2">model card</a>' in page
    assert '<a href="s3://bucket/lda.json">JSON &lt;report&gt;</a>' in page
    assert 'href="javascript' not in page and "trap: javascript:alert(1)" in page


def test_the_page_renders_from_the_json_report(searched: SearchResult, page: str) -> None:
    again = SearchResult.from_dict(json.loads(json.dumps(searched.to_dict(), allow_nan=False)))
    assert lda_html(again, model_version=f"v7{SCRIPT}") == page
