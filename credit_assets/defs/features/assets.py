"""Features: point-in-time borrower features, the training set and the online snapshot."""

import dagster as dg
import polars as pl

from credit_assets.core.contracts import Contract, load_contracts
from credit_assets.core.features import (
    borrower_bucket,
    build_training_set,
    feature_catalogue,
    model_feature_names,
    snapshot_features,
    training_set_summary,
)
from credit_assets.core.features.labelled import diagnose_unlabelled, no_labelled_rows_message
from credit_assets.core.features.specs import FeatureCatalogue
from credit_assets.core.features.training_set import NOT_FEATURES
from credit_assets.core.platform.online_store import current_snapshot, publish_snapshot
from credit_assets.core.platform.settings import get_settings
from credit_assets.core.platform.storage.keys import (
    BORROWER_FEATURES_PREFIX,
    TRAINING_SET,
    bucket_key,
)
from credit_assets.core.reports.metadata import column_profile, markdown_table
from credit_assets.defs.common.outcomes import NO_LABELLED_ROWS, named_outcome
from credit_assets.defs.common.partitions import bucket_partitions, raw_deps
from credit_assets.defs.common.resources import PlatformResource

FEATURE_OWNERS = ["team:data-engineering"]


def has_borrower_history(contracts: dict[str, Contract]) -> bool:
    """Whether any source describes borrowers over time (what a borrower snapshot needs)."""
    return any(
        c.borrower_column is not None and c.timestamp is not None and c.kind.value != "outcomes"
        for c in contracts.values()
    )


def missing_share_table(frame: pl.DataFrame, names: list[str], limit: int = 60) -> str:
    if frame.height == 0:
        return "_(no rows)_"
    shares = frame.select(pl.col(names).null_count() / frame.height).row(0, named=True)
    rows = sorted(
        ({"feature": k, "missing_share": v} for k, v in shares.items()),
        key=lambda r: -r["missing_share"],
    )
    return markdown_table(rows[:limit], ["feature", "missing_share"])


def range_violations(frame: pl.DataFrame, catalogue: FeatureCatalogue) -> list[dict[str, object]]:
    """Features whose values fall outside the range the catalogue declares."""
    problems = []
    for spec in catalogue.features:
        if spec.name not in frame.columns or spec.is_categorical:
            continue
        column = frame[spec.name]
        low, high = column.min(), column.max()
        if spec.min_value is not None and low is not None and low < spec.min_value:  # type: ignore[operator]
            problems.append(
                {"feature": spec.name, "bound": "min", "declared": spec.min_value, "found": low}
            )
        if spec.max_value is not None and high is not None and high > spec.max_value:  # type: ignore[operator]
            problems.append(
                {"feature": spec.name, "bound": "max", "declared": spec.max_value, "found": high}
            )
    return problems


def catalogue_check(
    frame: pl.DataFrame, catalogue: FeatureCatalogue, id_columns: set[str]
) -> dg.AssetCheckResult:
    computed = [c for c in frame.columns if c not in id_columns and not c.startswith("protected_")]
    missing = catalogue.missing(computed)
    return dg.AssetCheckResult(
        check_name="features_in_catalogue",
        passed=not missing,
        metadata={
            "features": len(computed),
            "not_in_catalogue": ", ".join(missing) or "none",
            "catalogue_version": catalogue.version,
        },
    )


def build_feature_assets(contracts: dict[str, Contract]) -> list[dg.AssetsDefinition]:
    return [_borrower_features(contracts), _training_set(contracts), online_features]


def _borrower_features(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return dg.asset(
        name="borrower_features",
        group_name="features",
        partitions_def=bucket_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=raw_deps(contracts),
        owners=FEATURE_OWNERS,
        kinds={"polars", "parquet"},
        check_specs=[
            dg.AssetCheckSpec(
                "features_in_catalogue",
                asset="borrower_features",
                blocking=True,
                description="Every computed feature is declared in the feature catalogue.",
            ),
            dg.AssetCheckSpec(
                "unique_borrowers",
                asset="borrower_features",
                blocking=True,
                description="One row per borrower.",
            ),
            dg.AssetCheckSpec(
                "values_within_catalogue_ranges",
                asset="borrower_features",
                blocking=True,
                description="Feature values stay within the ranges the catalogue declares.",
            ),
        ],
    )(borrower_features)


def _training_set(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return dg.asset(
        name="training_set",
        group_name="features",
        deps=raw_deps(contracts),
        owners=FEATURE_OWNERS,
        kinds={"polars", "parquet"},
        check_specs=[
            dg.AssetCheckSpec(
                "features_in_catalogue",
                asset="training_set",
                blocking=True,
                description="Every computed feature is declared in the feature catalogue.",
            ),
            dg.AssetCheckSpec(
                "unique_applications",
                asset="training_set",
                blocking=True,
                description="One row per application.",
            ),
            dg.AssetCheckSpec(
                "both_outcomes_present",
                asset="training_set",
                blocking=True,
                description="Every split holds good and bad outcomes.",
            ),
        ],
    )(training_set)


def borrower_features(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Point-in-time features of every borrower as of the snapshot date (CREDIT_SNAPSHOT_DATE,
    default today), one row per borrower, partitioned by borrower hash bucket. Only records
    dated strictly before the snapshot date count; a borrower with no record in a source gets
    that source's coverage flag 0 and empty aggregates (a thin file is the normal case). A run
    over a range of buckets reads the sources once and writes one file per bucket."""
    settings = platform.settings
    contracts = platform.contracts()
    catalogue = feature_catalogue(contracts)
    as_of = settings.resolved_snapshot_date
    buckets = sorted(context.partition_keys)
    if has_borrower_history(contracts):
        sources = platform.sources(contracts, eager=True)
        frame = (
            snapshot_features(sources, contracts, as_of)
            .with_columns(
                borrower_bucket(pl.col("borrower_id"), settings.feature_buckets).alias("_bucket")
            )
            .filter(pl.col("_bucket").is_in([int(b) for b in buckets]))
            .collect()
        )
    else:
        # e.g. a lender's application file alone: features exist per application only.
        frame = pl.DataFrame(
            schema={"borrower_id": pl.String, "as_of_date": pl.Date, "_bucket": pl.Int64}
        )
    uris = [
        platform.store.write_frame(
            bucket_key(b), frame.filter(pl.col("_bucket") == int(b)).drop("_bucket")
        )
        for b in buckets
    ]
    frame = frame.drop("_bucket")
    uri = uris[0] if len(uris) == 1 else platform.store.uri(BORROWER_FEATURES_PREFIX)

    yield catalogue_check(frame, catalogue, {"borrower_id", "as_of_date"})
    duplicates = frame.height - frame["borrower_id"].n_unique()
    yield dg.AssetCheckResult(
        check_name="unique_borrowers",
        passed=duplicates == 0,
        metadata={"duplicate_rows": duplicates},
    )
    violations = range_violations(frame, catalogue)
    yield dg.AssetCheckResult(
        check_name="values_within_catalogue_ranges",
        passed=not violations,
        metadata={
            "violations": dg.MetadataValue.md(markdown_table(violations) if violations else "none")
        },
    )
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": frame.height,
            "as_of_date": as_of.isoformat(),
            "buckets": ", ".join(buckets),
            "catalogue_version": catalogue.version,
            "uri": dg.MetadataValue.path(uri),
            "missing_share": dg.MetadataValue.md(
                missing_share_table(frame, [c for c in frame.columns if c in catalogue])
            ),
            "columns": dg.MetadataValue.md(column_profile(frame)),
        }
    )


def training_set(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Applications joined to point-in-time features as of each application date, with the
    matured 12-month outcome (`default_flag`, 1 = bad) and the `split` column: out-of-time
    (latest matured months are the test set) when applications are dated, a seeded stratified
    split otherwise. Protected attributes ride along as `protected_*` for fairness testing and
    are never model inputs. Without a single labelled application the run ends here, with a
    sentence naming the files and why ("no labelled rows: ..."), and modeling is skipped."""
    settings = platform.settings
    contracts = platform.contracts()
    catalogue = feature_catalogue(contracts)
    sources = platform.sources(contracts)
    frame = build_training_set(sources, contracts, seed=settings.seed)
    if frame.height == 0:
        raise no_labelled_rows(platform, sources, contracts)
    uri = platform.store.write_frame(TRAINING_SET, frame)
    summary = training_set_summary(frame)
    features = model_feature_names(frame, catalogue)
    yield catalogue_check(frame, catalogue, set(NOT_FEATURES))
    duplicates = frame.height - frame["application_id"].n_unique()
    yield dg.AssetCheckResult(
        check_name="unique_applications",
        passed=duplicates == 0,
        metadata={"duplicate_rows": duplicates},
    )
    per_split = (
        frame.group_by("split")
        .agg(pl.len().alias("rows"), pl.col("default_flag").sum().alias("bad"))
        .sort("split")
        .to_dicts()
    )
    yield dg.AssetCheckResult(
        check_name="both_outcomes_present",
        passed=len(per_split) > 0 and all(0 < r["bad"] < r["rows"] for r in per_split),
        metadata={"by_split": dg.MetadataValue.md(markdown_table(per_split))},
    )
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": frame.height,
            "default_rate": float(summary["default_rate"]),
            "features": len(features),
            "by_split": dg.MetadataValue.md(markdown_table(per_split)),
            "uri": dg.MetadataValue.path(uri),
            "missing_share": dg.MetadataValue.md(missing_share_table(frame, features)),
            "columns": dg.MetadataValue.md(column_profile(frame)),
            "catalogue_version": catalogue.version,
        }
    )


def no_labelled_rows(
    platform: PlatformResource, sources: dict[str, pl.LazyFrame], contracts: dict[str, Contract]
) -> dg.Failure:
    """The named outcome of a training set without a labelled row: the files, then the rows."""
    unlabelled = diagnose_unlabelled(sources, contracts)
    reasons = [*platform.unusable_files(unlabelled.sources), *unlabelled.reasons]
    return named_outcome(
        NO_LABELLED_ROWS,
        no_labelled_rows_message(reasons),
        metadata={
            "sources": ", ".join(unlabelled.sources),
            "applications": unlabelled.applications,
            "reasons": dg.MetadataValue.md(markdown_table([{"reason": r} for r in reasons])),
        },
    )


@dg.asset(
    group_name="features",
    deps=["borrower_features"],
    automation_condition=dg.AutomationCondition.eager(),
    owners=FEATURE_OWNERS,
    kinds={"sql"},
    check_specs=[
        dg.AssetCheckSpec(
            "rows_match_borrower_features",
            asset="online_features",
            blocking=True,
            description="The published snapshot holds every borrower of every bucket.",
        ),
    ],
)
def online_features(context: dg.AssetExecutionContext, platform: PlatformResource):
    """The latest borrower feature snapshot, published into the platform database keyed by
    `borrower_id` for real-time scoring. A new snapshot is written beside the current one and
    then switched in one transaction, so readers never see a half-written snapshot. The
    snapshot id is the feature lineage every scoring decision records."""
    contracts = platform.contracts()
    catalogue = feature_catalogue(contracts)
    scanned = platform.store.scan(BORROWER_FEATURES_PREFIX)
    if scanned is None:
        raise dg.Failure("borrower_features has no materialized bucket yet")
    frame = scanned.collect()
    if frame.height == 0:
        yield dg.AssetCheckResult(
            check_name="rows_match_borrower_features",
            passed=True,
            metadata={"note": "no borrower rows to publish"},
        )
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": 0,
                "note": "nothing published: borrower_features is empty",
            }
        )
        return
    as_of = frame["as_of_date"].max() if frame.height else platform.settings.resolved_snapshot_date
    snapshot_id = publish_snapshot(
        platform.engine,
        frame.drop("as_of_date"),
        as_of=as_of,  # type: ignore[arg-type]
        catalogue_version=catalogue.version,
        run_id=context.run_id,
    )
    published = current_snapshot(platform.engine)
    yield dg.AssetCheckResult(
        check_name="rows_match_borrower_features",
        passed=published is not None and published["rows"] == frame.height,
        metadata={
            "published_rows": published["rows"] if published else 0,
            "bucket_rows": frame.height,
        },
    )
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": frame.height,
            "snapshot_id": snapshot_id,
            "as_of_date": str(as_of),
            "catalogue_version": catalogue.version,
        }
    )


@dg.definitions
def feature_defs() -> dg.Definitions:
    contracts = load_contracts(get_settings().resolved_contracts_dir)
    return dg.Definitions(assets=build_feature_assets(contracts))
