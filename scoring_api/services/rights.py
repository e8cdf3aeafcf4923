"""Borrower rights over the API: access, explanation, consent and erasure, through the same
services as `credit-platform borrower ...` (`credit_assets.core.privacy`).

Each of them reads or rewrites files (the landing zone, the data store: local or S3) and the
platform database, so each runs in the thread pool, answer rendered (JSON or the HTML page)
there too, never on the event loop. What they raise becomes the platform's error shape here:
nothing held about a borrower or no such decision for the lender is 404, a source that is
not consent-based 422, no live consent to revoke 409, the data store or the pseudonymisation
key unavailable 503. Erasures in this process run one at a time: each rewrites files other
erasures may rewrite too.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from credit_assets.core.ingestion.zones import LandingZone
from credit_assets.core.platform.apikeys import VerifiedKey
from credit_assets.core.platform.settings import Settings
from credit_assets.core.privacy import access, consent, erasure
from credit_assets.core.privacy.context import PrivacyContext
from credit_assets.core.privacy.pseudonyms import PseudonymKeyError
from credit_assets.core.privacy.records import ConsentError
from scoring_api.errors import ApiError, FieldError

T = TypeVar("T")

NOTHING_HELD = "nothing is held about this borrower"
NO_DECISION = "no decision with this id for your lender"  # as GET /v1/decisions/{id} says


@dataclass(frozen=True)
class Answer:
    """A rendered answer: the JSON document, or the HTML page when one was asked for."""

    body: str
    html: bool
    status: int = 200


def requester(key: VerifiedKey, operator: str | None = None) -> str:
    """Who asks, as the audit records it: `api:<key id>`, and the lender's operator if named."""
    return f"api:{key.key_id}" + (f":{operator.strip()}" if operator else "")


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities as null: JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def as_json(document: Any) -> str:
    return json.dumps(_finite(document), default=str, separators=(",", ":"), allow_nan=False)


class BorrowerRights:
    """The borrower-rights operations of one app, sharing its engine and landing zone."""

    def __init__(self, settings: Settings, engine: Engine, landing: LandingZone) -> None:
        # The store, contracts and pseudonymisation key are built on first use (in a thread).
        self.context = PrivacyContext.of(settings, engine=engine, landing=landing)
        self._erasing = asyncio.Lock()

    async def _run(self, key: VerifiedKey, work: Callable[[PrivacyContext], T]) -> T:
        return await run_in_threadpool(self._within, key, work)

    def _within(self, key: VerifiedKey, work: Callable[[PrivacyContext], T]) -> T:
        ctx = self.context
        try:
            if key.lender != ctx.lender:
                # One deployment per lender (apikeys.create_api_key); a key of another
                # lender cannot exist but for a database carried over from elsewhere.
                raise ApiError(
                    403, "this API key's lender is not the lender this deployment serves"
                )
            return work(ctx)
        except PseudonymKeyError as exc:
            raise ApiError(503, f"borrower rights are unavailable: {exc}") from exc
        except OSError as exc:  # the landing folder, the data store or the S3 endpoint
            raise ApiError(
                503, f"the data store is unavailable ({type(exc).__name__}); retry later"
            ) from exc

    async def export(self, key: VerifiedKey, borrower_id: str, *, html: bool) -> Answer:
        def work(ctx: PrivacyContext) -> Answer:
            try:
                document = access.borrower_export(ctx, borrower_id, by=requester(key))
            except access.UnknownBorrowerError:
                raise ApiError(404, NOTHING_HELD) from None
            return Answer(access.export_html(document) if html else as_json(document), html)

        return await self._run(key, work)

    async def explanation(self, key: VerifiedKey, decision_id: str, *, html: bool) -> Answer:
        def work(ctx: PrivacyContext) -> Answer:
            try:
                explained = access.decision_explanation(
                    ctx,
                    decision_id,
                    by=requester(key),
                    cutoff=ctx.settings.approval_cutoff_score,
                )
            except access.UnknownDecisionError:
                raise ApiError(404, NO_DECISION) from None
            return Answer(access.explanation_html(explained) if html else as_json(explained), html)

        return await self._run(key, work)

    async def grant(
        self, key: VerifiedKey, borrower_id: str, source: str, operator: str | None
    ) -> Answer:
        def work(ctx: PrivacyContext) -> Answer:
            _consent_source(ctx, source, ["body", "source"])
            granted = consent.grant(ctx, borrower_id, source, requester(key, operator))
            return Answer(as_json(granted.to_dict()), html=False, status=201)

        return await self._run(key, work)

    async def revoke(self, key: VerifiedKey, borrower_id: str, source: str) -> Answer:
        def work(ctx: PrivacyContext) -> Answer:
            _consent_source(ctx, source, ["path", "source"])
            try:
                revoked, recomputed = consent.revoke(ctx, borrower_id, source, requester(key))
            except ConsentError as exc:  # the source is consent-based: nothing live to revoke
                raise ApiError(409, str(exc)) from None
            body = {**revoked.to_dict(), "online_row_recomputed": recomputed}
            return Answer(as_json(body), html=False)

        return await self._run(key, work)

    async def erase(
        self, key: VerifiedKey, borrower_id: str, reason: str, operator: str | None
    ) -> Answer:
        def work(ctx: PrivacyContext) -> Answer:
            outcome = erasure.erase_borrower(
                ctx, borrower_id, by=requester(key, operator), reason=reason
            )
            body = outcome.to_dict()
            failed = [
                f
                for store in outcome.stores.values()
                if isinstance(store, dict)
                for f in store.get("failed", [])
            ]
            if failed:  # recorded as failed in the audit; erasing again finishes the job
                body = {
                    "detail": "the erasure could not redact every store; retry it (it is "
                    f"idempotent): {'; '.join(failed)}",
                    "outcome": body,
                }
                return Answer(as_json(body), html=False, status=503)
            return Answer(as_json(body), html=False)

        async with self._erasing:
            return await self._run(key, work)


def _consent_source(ctx: PrivacyContext, source: str, loc: list[str | int]) -> None:
    """422 naming the consent-based sources unless `source` is one."""
    try:
        consent.consent_source(ctx, source)
    except ConsentError as exc:
        raise FieldError(loc, str(exc)) from None
