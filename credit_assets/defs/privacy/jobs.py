"""Borrower rights on a schedule: revoked consents' records erased when due, and erased
borrowers' pseudonymised decisions deleted once past retention (docs/PRIVACY.md)."""

import dagster as dg

from credit_assets.core.privacy.consent import purge_revoked
from credit_assets.core.privacy.context import PrivacyContext
from credit_assets.core.privacy.erasure import purge_expired_decisions
from credit_assets.defs.common.resources import PlatformResource


@dg.op(
    description="Erase the records of consents revoked CREDIT_CONSENT_ERASURE_DAYS ago or more "
    "from their source's files, raw and quarantined rows; delete erased borrowers' decisions "
    "older than CREDIT_DECISION_RETENTION_DAYS. Every erasure is an audit row."
)
def purge_privacy_records(context: dg.OpExecutionContext, platform: PlatformResource) -> None:
    settings = platform.settings
    ctx = PrivacyContext.of(
        settings, engine=platform.engine, store=platform.store, landing=platform.landing
    )
    done = purge_revoked(ctx, by=f"schedule:{context.run_id[:8]}")
    expired = purge_expired_decisions(platform.engine, settings.decision_retention_days)
    context.log.info(
        f"{len(done)} revoked consent(s) erased ({sum(int(d['rows']) for d in done)} rows); "
        f"{expired} pseudonymised decision(s) past retention deleted"
    )


@dg.job(description="Borrower-rights housekeeping: revoked consents and retention.")
def privacy_purge_job() -> None:
    purge_privacy_records()


daily_privacy_purge = dg.ScheduleDefinition(
    name="daily_privacy_purge",
    job=privacy_purge_job,
    cron_schedule="30 1 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day 01:30: erase revoked consents' records that are due, and "
    "pseudonymised decisions past retention.",
)
