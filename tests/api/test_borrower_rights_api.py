"""Borrower rights over the API: access, explanation, consent and erasure, each behind a scope
no key holds by default, each recorded in the audit against the key that asked."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from credit_assets.core.platform.db import decision_log, migrated_engine, privacy_requests
from scoring_api.privacy_schemas import (
    BorrowerExport,
    ConsentRecord,
    DecisionExplanation,
    ErasureResult,
    RevokedConsent,
)
from tests.support.asgi import asgi_request
from tests.support.paths import REPO_ROOT
from tests.support.scoring import RunningApi, key_headers, partner_headers, running_api

RIGHTS = ("scores:write", "decisions:read", "borrowers:read", "consents:write", "borrowers:erase")
CONSENT_SOURCE = "bank_transactions"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """One app for the module, on contracts where open-banking data needs a consent, with a
    key holding every borrower right. Each test works on borrowers of its own."""
    contracts = tmp_path_factory.mktemp("contracts") / "contracts"
    shutil.copytree(REPO_ROOT / "contracts", contracts)
    bank = contracts / f"{CONSENT_SOURCE}.yaml"
    if "consent: required" not in bank.read_text():
        bank.write_text(bank.read_text() + "consent: required\n")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("CREDIT_HOME", str(tmp_path_factory.mktemp("rights_home")))
        monkeypatch.setenv("CREDIT_CONTRACTS_DIR", str(contracts))
        monkeypatch.delenv("CREDIT_DATABASE_URL", raising=False)
        with running_api(monkeypatch, shadow="false", scopes=RIGHTS) as running:
            yield running


def _engine(api: RunningApi) -> sa.Engine:
    return migrated_engine(api.settings.resolved_database_url)


def _key_id(headers: dict[str, str]) -> str:
    return headers["Authorization"].split("_")[1]


def _audit(api: RunningApi, kind: str) -> list[Any]:
    with _engine(api).connect() as conn:
        return list(
            conn.execute(
                sa.select(privacy_requests)
                .where(privacy_requests.c.kind == kind)
                .order_by(privacy_requests.c.requested_at)
            )
        )


def _set_decision(api: RunningApi, decision_id: str, **values: Any) -> None:
    with _engine(api).begin() as conn:
        conn.execute(
            sa.update(decision_log)
            .where(decision_log.c.decision_id == decision_id)
            .values(**values)
        )


def _self_contained(page: str) -> None:
    """No script, nothing loaded from elsewhere: links only to the page's own sections."""
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert "@import" not in page and "url(" not in page
    assert not re.search(r"""(?:src|href|action)\s*=\s*(?!["']?#)""", page, re.I)


def _page_headers(response: Any) -> None:
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


# ---------------------------------------------------------------- access


def test_the_export_holds_the_borrowers_decision_with_its_score_and_reasons(
    api: RunningApi,
) -> None:
    given = api.score({"borrower_id": "b-late"}).json()
    response = api.client.get("/v1/borrowers/b-late/export", headers=api.headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    document = response.json()
    BorrowerExport.model_validate(document)  # the OpenAPI document says what it is
    assert document["borrower_id"] == "b-late" and document["lender"] == "acme-bank"
    [decision] = document["decisions"]
    assert decision["decision_id"] == given["decision_id"]
    assert decision["score"] == given["score"]
    assert [r["code"] for r in decision["reasons"]] == [r["code"] for r in given["reasons"]]
    assert document["current_features"]["snapshot_id"] == api.snapshot_id
    [audit] = [r for r in _audit(api, "access") if r.request_id == document["request_id"]]
    assert audit.requested_by == f"api:{_key_id(api.headers)}"
    assert "b-late" not in f"{audit.pseudonym} {audit.touched}"  # the audit keeps no id


def test_nothing_held_is_404_in_the_platforms_shape(api: RunningApi) -> None:
    response = api.client.get("/v1/borrowers/b-never-seen/export", headers=api.headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "nothing is held about this borrower"}


def test_the_export_page_escapes_a_hostile_value_and_loads_nothing(api: RunningApi) -> None:
    hostile = "<script>alert(1)"  # a printable id: something is held once a consent is
    path = f"/v1/borrowers/{quote(hostile, safe='')}"
    granted = api.client.post(
        f"{path}/consents", json={"source": CONSENT_SOURCE}, headers=api.headers
    )
    assert granted.status_code == 201
    as_page = api.client.get(f"{path}/export?format=html", headers=api.headers)
    assert as_page.status_code == 200
    _page_headers(as_page)
    page = as_page.text
    assert hostile not in page and "&lt;script&gt;alert(1)" in page
    _self_contained(page)
    # A browser's Accept gets the page too; an API client's the JSON.
    browser = api.client.get(
        f"{path}/export", headers={**api.headers, "Accept": "text/html,*/*;q=0.8"}
    )
    assert browser.headers["content-type"].startswith("text/html")
    assert browser.headers["vary"] == "Accept"
    client = api.client.get(f"{path}/export", headers={**api.headers, "Accept": "*/*"})
    assert client.json()["borrower_id"] == hostile


# ---------------------------------------------------------------- explanation


def test_the_explanation_lists_the_decisions_reasons_in_order(api: RunningApi) -> None:
    given = api.score({"borrower_id": "b-good"}).json()
    path = f"/v1/decisions/{given['decision_id']}/explanation"
    response = api.client.get(path, headers=api.headers)
    assert response.status_code == 200
    explained = response.json()
    DecisionExplanation.model_validate(explained)
    assert [p["code"] for p in explained["principal_reasons"]] == [
        r["code"] for r in given["reasons"]
    ]
    assert [p["rank"] for p in explained["principal_reasons"]] == list(
        range(1, len(given["reasons"]) + 1)
    )
    assert explained["score"] == given["score"]
    assert explained["score_range"] == {"min": 300, "max": 850}
    assert explained["cutoff"] == api.settings.approval_cutoff_score
    assert explained["adverse"] == (given["score"] < api.settings.approval_cutoff_score)
    # A key with the default scopes (decisions:read among them) may ask for it too.
    default = key_headers(api, "acme-bank")
    assert api.client.get(path, headers=default).status_code == 200
    assert len([r for r in _audit(api, "explanation") if "decision_id" in r.touched]) >= 2


def test_another_lenders_decision_and_an_unknown_one_are_the_same_404(api: RunningApi) -> None:
    theirs = api.score({"borrower_id": "b-thin"}).json()["decision_id"]
    _set_decision(api, theirs, lender="north-credit-union")
    answers = [
        api.client.get(f"/v1/decisions/{decision}/explanation", headers=api.headers)
        for decision in (theirs, "0" * 32)
    ]
    for answer in answers:
        assert answer.status_code == 404
        assert answer.json() == {"detail": "no decision with this id for your lender"}


def test_the_explanation_page_escapes_a_hostile_reason(api: RunningApi) -> None:
    decision = api.score({"borrower_id": "b-late"}).json()["decision_id"]
    reasons = [{"code": "U03", "text": "<script>alert('x')</script>", "contribution": 0.4}]
    _set_decision(api, decision, reasons=json.dumps(reasons))
    response = api.client.get(
        f"/v1/decisions/{decision}/explanation?format=html", headers=api.headers
    )
    assert response.status_code == 200
    _page_headers(response)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in response.text
    _self_contained(response.text)


# ---------------------------------------------------------------- consent


def test_a_consent_granted_then_revoked_is_audited_both_ways(api: RunningApi) -> None:
    path = "/v1/borrowers/b-open-1/consents"
    key_id = _key_id(api.headers)
    granted = api.client.post(
        path, json={"source": CONSENT_SOURCE, "by": "dpo-team"}, headers=api.headers
    )
    assert granted.status_code == 201
    consent = granted.json()
    ConsentRecord.model_validate(consent)
    assert consent["status"] == "granted" and consent["source"] == CONSENT_SOURCE
    assert consent["granted_by"] == f"api:{key_id}:dpo-team"

    revoked = api.client.delete(f"{path}/{CONSENT_SOURCE}", headers=api.headers)
    assert revoked.status_code == 200
    body = revoked.json()
    RevokedConsent.model_validate(body)
    assert body["consent_id"] == consent["consent_id"] and body["status"] == "revoked"
    assert body["revoked_by"] == f"api:{key_id}"
    assert body["online_row_recomputed"] is False  # not in the snapshot: no row to change

    [grant] = [r for r in _audit(api, "consent_granted") if consent["consent_id"] in r.touched]
    [revoke] = [r for r in _audit(api, "consent_revoked") if consent["consent_id"] in r.touched]
    assert grant.requested_by == f"api:{key_id}:dpo-team"
    assert revoke.requested_by == f"api:{key_id}" and grant.pseudonym == revoke.pseudonym
    assert "b-open-1" not in grant.pseudonym

    again = api.client.delete(f"{path}/{CONSENT_SOURCE}", headers=api.headers)
    assert again.status_code == 409
    assert CONSENT_SOURCE in again.json()["detail"]


def test_a_source_that_needs_no_consent_is_422_naming_those_that_do(api: RunningApi) -> None:
    path = "/v1/borrowers/b-open-2/consents"
    granted = api.client.post(path, json={"source": "utility_payments"}, headers=api.headers)
    revoked = api.client.delete(f"{path}/utility_payments", headers=api.headers)
    for response, loc in ((granted, ["body", "source"]), (revoked, ["path", "source"])):
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == loc
        assert f"consent-based sources: {CONSENT_SOURCE}" in error["msg"]


# ---------------------------------------------------------------- erasure


def test_an_erased_borrower_is_no_longer_scored_nor_exported(api: RunningApi) -> None:
    decision = api.score({"borrower_id": "b-bureau"}).json()["decision_id"]
    erased = api.client.post(
        "/v1/borrowers/b-bureau/erasure",
        json={"reason": "GDPR Art. 17 request ref 4411"},
        headers=api.headers,
    )
    assert erased.status_code == 200
    outcome = erased.json()
    ErasureResult.model_validate(outcome)
    assert outcome["stores"]["online features"] == {"rows": 1}
    assert outcome["stores"]["decision log"]["pseudonymised"] == 1
    assert outcome["rows_removed"] >= 1 and outcome["pseudonym"].startswith("pz_")

    assert api.score({"borrower_id": "b-bureau"}).status_code == 404
    assert api.client.get("/v1/borrowers/b-bureau/export", headers=api.headers).status_code == 404
    with _engine(api).connect() as conn:
        kept = conn.execute(
            sa.select(decision_log.c.borrower_id).where(decision_log.c.decision_id == decision)
        ).scalar_one()
    assert kept == outcome["pseudonym"]
    [audit] = [r for r in _audit(api, "erasure") if r.request_id == outcome["request_id"]]
    assert (audit.reason, audit.status) == ("GDPR Art. 17 request ref 4411", "done")

    # Idempotent: erasing again (or someone never seen) finds nothing and says so.
    again = api.client.post(
        "/v1/borrowers/b-bureau/erasure", json={"reason": "repeat"}, headers=api.headers
    )
    assert again.status_code == 200 and again.json()["rows_removed"] == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"reason": ""}, {"reason": "   "}, {"reason": "r" * 501}, {"reason": "x", "extra": 1}],
)
def test_an_erasure_needs_a_reason(api: RunningApi, body: dict[str, Any]) -> None:
    response = api.client.post("/v1/borrowers/b-good/erasure", json=body, headers=api.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"
    assert api.score({"borrower_id": "b-good"}).status_code == 200  # nothing was erased


# ---------------------------------------------------------------- who may


def _rights_requests(borrower: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"/v1/borrowers/{borrower}/export", None),
        ("POST", f"/v1/borrowers/{borrower}/consents", {"source": CONSENT_SOURCE}),
        ("DELETE", f"/v1/borrowers/{borrower}/consents/{CONSENT_SOURCE}", None),
        ("POST", f"/v1/borrowers/{borrower}/erasure", {"reason": "asked"}),
    ]


def test_a_default_key_and_a_partner_key_get_403_naming_the_scope(api: RunningApi) -> None:
    default = key_headers(api, "acme-bank")
    partner = partner_headers(api, "acme-utility", "utility_payments")
    needs = ["borrowers:read", "consents:write", "consents:write", "borrowers:erase"]
    for headers in (default, partner):
        for (method, path, body), scope in zip(_rights_requests("b-good"), needs, strict=True):
            response = api.client.request(method, path, json=body, headers=headers)
            assert response.status_code == 403, (method, path)
            assert response.json() == {"detail": f"this API key lacks the scope {scope}"}
    decision = api.score({"borrower_id": "b-good"}).json()["decision_id"]
    explained = api.client.get(f"/v1/decisions/{decision}/explanation", headers=partner)
    assert explained.status_code == 403
    assert api.client.get("/v1/borrowers/b-good/export").status_code == 401
    assert api.score({"borrower_id": "b-good"}).status_code == 200  # nothing was erased


def test_a_key_without_the_scope_is_refused_before_a_byte_of_the_body_is_read(
    api: RunningApi,
) -> None:
    default = key_headers(api, "acme-bank")
    chunked = {**default, "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    for path in ("/v1/borrowers/b-good/erasure", "/v1/borrowers/b-good/consents"):
        answer = asgi_request(api, "POST", path, headers=chunked, chunks=itertools.repeat(b" "))
        assert (answer.status, answer.reads) == (403, 0)


@pytest.mark.parametrize("borrower", ["b" * 101, "%20b-good", "b-good%20"])
def test_a_bad_borrower_id_is_422_naming_the_path(api: RunningApi, borrower: str) -> None:
    for method, path, body in _rights_requests(borrower):
        response = api.client.request(method, path, json=body, headers=api.headers)
        assert response.status_code == 422, (method, path)
        assert response.json()["detail"][0]["loc"] == ["path", "borrower_id"]


def test_a_control_character_in_a_borrower_id_is_422_before_anything(api: RunningApi) -> None:
    response = api.client.get("/v1/borrowers/b%09good/export", headers=api.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path"]


def test_the_access_log_never_shows_a_borrower_id_of_these_paths() -> None:
    from scoring_api.urls import redacted

    assert redacted("/v1/borrowers/B0001234/export?format=html") == (
        "/v1/borrowers/[redacted]/export?format=html"
    )
    assert redacted("/v1/borrowers/B%201/consents/bank_transactions") == (
        "/v1/borrowers/[redacted]/consents/bank_transactions"
    )
    assert redacted("/v1/decisions/abc/explanation") == "/v1/decisions/abc/explanation"


def test_the_borrower_rights_scopes_are_granted_only_by_name() -> None:
    from credit_assets.core.platform.apikeys import DEFAULT_SCOPES, PARTNER_SCOPES, SCOPES

    rights = {"borrowers:read", "consents:write", "borrowers:erase"}
    assert rights <= set(SCOPES)
    assert not rights & set(DEFAULT_SCOPES) and not rights & set(PARTNER_SCOPES)
