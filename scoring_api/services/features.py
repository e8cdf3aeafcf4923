"""A request's features: from the online store by borrower id, or computed from an inline payload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from polars.exceptions import PolarsError
from sqlalchemy.engine import Engine

from credit_assets.core.contracts import Contract
from credit_assets.core.features import features_for_payload
from credit_assets.core.features.applications import applications_contract
from credit_assets.core.features.payload import coerce_value
from credit_assets.core.platform.online_store import (
    NoSnapshotError,
    UnknownBorrowerError,
    read_features,
)
from scoring_api.errors import ApiError, FieldError, payload_field_error
from scoring_api.schemas import ScoreRequest, identifier_problem

NO_SNAPSHOT = "no online feature snapshot is published yet; score with an inline application"


@dataclass(frozen=True)
class RequestFeatures:
    features: Mapping[str, Any]
    snapshot_id: str | None
    source: str  # "online_store" | "inline"
    borrower_id: str | None
    stored_json: str | None = None  # the online-store row's JSON text, logged as it is


def check_request_shape(request: ScoreRequest) -> None:
    """Exactly one way of scoring per request; the FieldError names the field to fix."""
    if request.borrower_id is not None and (request.application is not None or request.records):
        field = "application" if request.application is not None else "records"
        raise FieldError(
            ["body", field],
            f"give either borrower_id or {field}, not both: borrower_id scores "
            "from the online store, application (+ records) scores inline",
        )
    if request.borrower_id is None and request.application is None:
        loc = ["body", "application"] if request.records else ["body", "borrower_id"]
        raise FieldError(
            loc,
            "give borrower_id (features from the online store) or application "
            "(+ records, features computed inline)",
        )


def online_features_for(engine: Engine, borrower_id: str) -> RequestFeatures:
    try:
        found = read_features(engine, borrower_id)
    except UnknownBorrowerError:
        raise ApiError(404, "unknown borrower: not in the current feature snapshot") from None
    except NoSnapshotError:
        raise ApiError(503, NO_SNAPSHOT) from None
    return RequestFeatures(found.features, found.snapshot_id, "online_store", borrower_id)


def inline_features_for(request: ScoreRequest, contracts: dict[str, Contract]) -> RequestFeatures:
    """Features of an inline payload through the same core code as the batch assets."""
    application = request.application or {}
    apps = applications_contract(contracts)
    if apps is not None:
        _check_identifiers(application, apps)
    as_of = _as_of(application, apps)
    try:
        features = features_for_payload(application, request.records or {}, as_of, contracts)
    except ValueError as exc:
        raise payload_field_error(str(exc), apps.name if apps else None) from None
    except (PolarsError, OverflowError, TypeError) as exc:
        raise FieldError(
            ["body", "records"], f"records could not be read: {type(exc).__name__}"
        ) from None
    borrower = application.get(apps.borrower_column) if apps and apps.borrower_column else None
    return RequestFeatures(
        features, None, "inline", str(borrower) if borrower is not None else None
    )


def _check_identifiers(application: Mapping[str, Any], apps: Contract) -> None:
    """The application's borrower and application ids are identifiers like `borrower_id`
    (they are logged with the decision): a FieldError naming the one that is not."""
    for column in (apps.borrower_column, apps.id_column):
        value = application.get(column) if column else None
        if isinstance(value, str) and value:  # an empty one is a missing one
            problem = identifier_problem(value)
            if problem is not None:
                raise FieldError(["body", "application", column or ""], problem)


def _as_of(application: Mapping[str, Any], apps: Contract | None) -> date:
    """The application date when given (the as-of date of every feature), else today (UTC)."""
    if apps is not None and apps.timestamp and application.get(apps.timestamp) not in (None, ""):
        column = apps.timestamp
        try:
            value = coerce_value(application[column], apps.columns[column], f"{apps.name}.{column}")
        except ValueError as exc:
            raise FieldError(["body", "application", column], str(exc)) from None
        return value.date() if isinstance(value, datetime) else value  # type: ignore[return-value]
    return datetime.now(UTC).date()
