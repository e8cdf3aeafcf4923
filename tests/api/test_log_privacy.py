"""Application logs carry no borrower identifiers, whatever the outcome of a request."""

from __future__ import annotations

import logging

from tests.support.scoring import application, running_api, utility_records

BORROWERS = ("b-good", "b-late", "b-bureau")


def test_no_borrower_identifier_reaches_the_application_logs(monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    with running_api(monkeypatch) as api:
        for borrower in BORROWERS:
            assert api.score({"borrower_id": borrower}).status_code == 200
        assert api.score({"borrower_id": "b-unknown-7731"}).status_code == 404
        inline = {
            "application": application("b-inline-5512"),
            "records": {"utility_payments": utility_records(6, 3)},
        }
        assert api.score(inline).status_code in (200, 422)
        batch = api.client.post(
            "/v1/scores/batch",
            json={"items": [{"borrower_id": b} for b in (*BORROWERS, "b-unknown-7731")]},
            headers=api.headers,
        )
        assert batch.status_code == 200
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records, "the app logged nothing at all: the test would prove nothing"
    for borrower in (*BORROWERS, "b-unknown-7731", "b-inline-5512"):
        assert borrower not in logged, f"{borrower} appears in the application log"
