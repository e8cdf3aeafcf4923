"""GET /v1/decisions/{id}: a lender reads back exactly what it was told; nobody else can."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from credit_assets.core.platform.apikeys import TenantError
from tests.support.scoring import RunningApi, key_headers, partner_headers, payloads, running_api


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApi]:
    if request.param == "postgres":
        monkeypatch.setenv("CREDIT_DATABASE_URL", request.getfixturevalue("postgres_url"))
    with running_api(monkeypatch, shadow="false") as running:
        yield running


def test_a_lender_reads_back_the_decision_it_was_given(api: RunningApi) -> None:
    given = api.score({"borrower_id": "b-late"}).json()
    read = api.client.get(f"/v1/decisions/{given['decision_id']}", headers=api.headers)
    assert read.status_code == 200
    logged = read.json()
    assert logged["score"] == given["score"] and logged["reasons"] == given["reasons"]
    assert {k: v for k, v in logged.items() if k != "logged_at"} == given
    assert datetime.fromisoformat(logged["logged_at"]).utcoffset().total_seconds() == 0


def test_an_inline_decision_and_a_batch_item_read_back_too(api: RunningApi) -> None:
    inline = api.score(payloads()["b-good"]).json()
    [item] = api.batch([{"borrower_id": "b-bureau"}]).json()["results"]
    for given in (inline, item["decision"]):
        read = api.client.get(f"/v1/decisions/{given['decision_id']}", headers=api.headers)
        assert read.status_code == 200
        assert read.json()["score"] == given["score"]
        assert read.json()["lineage"] == given["lineage"]


def test_another_lender_gets_no_key_on_this_deployment(api: RunningApi) -> None:
    # One deployment per lender: a second lender is refused a key here, so it has nothing
    # to read another's decisions with (docs/DEPLOY.md).
    with pytest.raises(TenantError, match="serves lender 'acme-bank', not 'north-credit-union'"):
        key_headers(api, "north-credit-union")


def test_a_data_partner_cannot_read_decisions(api: RunningApi) -> None:
    decision_id = api.score({"borrower_id": "b-good"}).json()["decision_id"]
    partner = partner_headers(api, "acme-utility", "utility_payments")
    theirs = api.client.get(f"/v1/decisions/{decision_id}", headers=partner)
    assert theirs.status_code == 403
    assert theirs.json() == {"detail": "this API key lacks the scope decisions:read"}


def test_an_unknown_decision_is_404(api: RunningApi) -> None:
    unknown = api.client.get(f"/v1/decisions/{'0' * 32}", headers=api.headers)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no decision with this id for your lender"}


def test_reading_decisions_needs_the_decisions_read_scope(api: RunningApi) -> None:
    decision_id = api.score({"borrower_id": "b-good"}).json()["decision_id"]
    scoring_only = key_headers(api, "acme-bank", "scores:write", "models:read")
    refused = api.client.get(f"/v1/decisions/{decision_id}", headers=scoring_only)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "this API key lacks the scope decisions:read"}
    reader = key_headers(api, "acme-bank", "decisions:read")
    assert api.client.get(f"/v1/decisions/{decision_id}", headers=reader).status_code == 200
    assert api.client.get(f"/v1/decisions/{decision_id}").status_code == 401


def test_an_over_long_decision_id_is_422_naming_the_path(api: RunningApi) -> None:
    response = api.client.get(f"/v1/decisions/{'a' * 65}", headers=api.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "decision_id"]
