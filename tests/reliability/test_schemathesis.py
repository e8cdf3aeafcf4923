"""Property-based fuzzing of the scoring API from its own OpenAPI document (schemathesis).

The real app (`create_app()`, a promoted champion, a published feature snapshot, a
lender's key) runs in-process; schemathesis generates requests for every operation
in `/openapi.json`, valid (positive) and invalid (negative) ones, each is sent with a
valid API key, and every response must pass `not_a_server_error` (no 5xx) and
`response_schema_conformance` (the body matches the documented schema for its status).

Generation is derandomized (the same requests on every run), the Hypothesis database
is off, and the number of requests is bounded per operation and asserted in total.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from credit_assets.core.platform.apikeys import SCOPES
from tests.support.scoring import RunningApi, running_api

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error, response_schema_conformance  # noqa: E402

MIN_REQUESTS = 1000
# Most generated examples per (operation, mode). Operations without inputs (GET /healthz)
# yield one request whatever the budget: Hypothesis stops when every input was tried.
BUDGET: dict[tuple[str, str], int] = {
    ("POST /v1/scores", "positive"): 450,
    ("POST /v1/scores", "negative"): 250,
    ("POST /v1/scores/batch", "positive"): 220,
    ("POST /v1/scores/batch", "negative"): 150,
    ("POST /v1/sources/{source}/files", "positive"): 40,
    ("POST /v1/sources/{source}/files", "negative"): 30,
    ("POST /v1/sources/{source}/records", "positive"): 40,
    ("POST /v1/sources/{source}/records", "negative"): 30,
}
DEFAULT_BUDGET = 10

# Operations excluded from the schema-conformance check (none: keep it that way).
KNOWN_NONCONFORMING: set[str] = set()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApi]:
    # No rate limit in the way (429 is documented, but it would hide everything else);
    # no shadow model thread: one champion, one in-process app.
    # The key holds every scope, data:write and the borrower rights too: the upload and
    # borrower-rights routes are fuzzed with the rest.
    monkeypatch.setenv("CREDIT_INGEST_MAX_BYTES", str(256 * 1024))
    with running_api(
        monkeypatch,
        scopes=SCOPES,
        rate_limit_per_second=1e6,
        rate_limit_burst=10**6,
        shadow="false",
        max_records=200,
    ) as running:
        yield running


SCORING = ("POST /v1/scores", "POST /v1/scores/batch")


def _decision_ids(label: str, response) -> list[str]:
    """The decisions a 200 of a scoring operation carries: its own, or its 200 items'."""
    if label not in SCORING or response.status_code != 200:
        return []
    body = response.json()
    if label == "POST /v1/scores":
        return [body["decision_id"]]
    return [item["decision"]["decision_id"] for item in body["results"] if item["status"] == 200]


def _fuzz(
    api: RunningApi, operation, mode: GenerationMode, statuses: Counter, decided: list[str]
) -> int:
    """Send up to the budget of generated cases for one operation; requests made. The
    decision ids answered with a 200 are appended to `decided`."""
    made = 0
    checks = [not_a_server_error]
    if operation.label not in KNOWN_NONCONFORMING:
        checks.append(response_schema_conformance)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=BUDGET.get((operation.label, mode.value), DEFAULT_BUDGET),
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    def run(case) -> None:
        nonlocal made
        # The lender's key overrides whatever auth header was generated.
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=api.headers)
        response = api.client.request(**kwargs)
        made += 1
        statuses[(operation.label, response.status_code)] += 1
        case.validate_response(response, checks=checks)
        decided.extend(_decision_ids(operation.label, response))

    try:
        run()
    except Unsatisfiable:
        # Negative mode on an operation with no inputs: nothing can be made invalid.
        if made:
            raise
    return made


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_generated_requests_never_get_a_5xx_and_every_response_matches_its_schema(
    api: RunningApi,
) -> None:
    schema = schemathesis.openapi.from_dict(api.client.get("/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert labels == {
        "POST /v1/scores",
        "POST /v1/scores/batch",
        "GET /v1/models/current",
        "GET /v1/decisions/{decision_id}",
        "GET /healthz",
        "GET /readyz",
        "POST /v1/sources/{source}/files",
        "POST /v1/sources/{source}/records",
        "GET /v1/uploads/{upload_id}",
        "GET /v1/borrowers/{borrower_id}/export",
        "GET /v1/decisions/{decision_id}/explanation",
        "POST /v1/borrowers/{borrower_id}/consents",
        "DELETE /v1/borrowers/{borrower_id}/consents/{source}",
        "POST /v1/borrowers/{borrower_id}/erasure",
    }
    statuses: Counter = Counter()
    made: Counter = Counter()
    decided: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            made[(operation.label, mode.value)] = _fuzz(api, operation, mode, statuses, decided)

    total = sum(made.values())
    print(f"\nschemathesis: {total} requests; per operation and mode: {dict(made)}")
    print(f"statuses: {dict(sorted(statuses.items()))}")
    assert total >= MIN_REQUESTS
    assert all(made[(label, "positive")] >= 1 for label in labels)
    assert not any(status >= 500 for _, status in statuses)
    # The fuzzing reached the scoring path, not only the validation layer.
    assert statuses[("POST /v1/scores", 200)] > 0
    assert statuses[("POST /v1/scores/batch", 200)] > 0
    # The upload routes were fuzzed past the source look-up, into the receipt checks.
    assert statuses[("POST /v1/sources/{source}/files", 422)] > 0
    assert statuses[("POST /v1/sources/{source}/records", 422)] > 0
    # Every 200 decision (single and batch items) was logged, once, and nothing else was. A
    # replay under a generated Idempotency-Key answers the logged decision again: ids, not
    # responses, are counted.
    logged = [row.decision_id for row in api.decision_rows()]
    print(f"decisions: {len(decided)} answered with a 200, {len(set(decided))} distinct")
    assert len(logged) == len(set(logged))
    assert set(logged) == set(decided), (
        sorted(set(decided) - set(logged))[:5],
        sorted(set(logged) - set(decided))[:5],
    )


def test_models_current_promoted_at_is_an_rfc3339_date_time(api: RunningApi) -> None:
    schema = schemathesis.openapi.from_dict(api.client.get("/openapi.json").json())
    operation = schema["/v1/models/current"]["GET"]
    case = operation.Case()
    response = api.client.request(
        **case.as_transport_kwargs(base_url="http://testserver", headers=api.headers)
    )
    assert response.status_code == 200
    case.validate_response(response, checks=[response_schema_conformance])
