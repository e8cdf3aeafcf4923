"""The modelling table: applications x point-in-time features x matured outcomes.

One row per application with a known outcome. Features are computed as of the
application date by `compute_features`, so no record dated on or after the
application can reach a model. Protected attributes ride along, prefixed
`protected_`, for the fairness report only; `model_feature_names` never
returns them.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from credit_assets.core.contracts import ColumnSpec, Contract, SourceKind, contract_of_kind
from credit_assets.core.features.applications import application_key, applications_contract
from credit_assets.core.features.build import compute_features
from credit_assets.core.features.frames import APPLICATION_ID, AS_OF, BORROWER
from credit_assets.core.features.hashing import stable_hash
from credit_assets.core.features.specs import FeatureCatalogue

LABEL = "default_flag"
SPLIT = "split"
APPLICATION_DATE = "application_date"
PROTECTED_PREFIX = "protected_"
ID_COLUMNS = (APPLICATION_ID, BORROWER, APPLICATION_DATE)
NOT_FEATURES = frozenset({*ID_COLUMNS, AS_OF, LABEL, SPLIT})
MIN_MONTHS_FOR_OUT_OF_TIME = 3


def build_training_set(
    sources: dict[str, pl.LazyFrame],
    contracts: dict[str, Contract],
    *,
    seed: int = 42,
    test_share: float = 0.2,
    validation_share: float = 0.2,
) -> pl.DataFrame:
    """Applications joined to point-in-time features as of each application date.

    `default_flag` (Int8, 1 = bad) comes from the outcomes source (joined by
    application id) or else the label inside the applications file. `split` is
    out-of-time when applications are dated (the latest months are `test`, the
    months before them `validation`), else a seeded split stratified on the label.
    """
    if not (
        0 <= test_share < 1 and 0 <= validation_share < 1 and test_share + validation_share < 1
    ):
        raise ValueError("test_share and validation_share must be in [0, 1) and sum below 1")
    apps = applications_contract(contracts)
    if apps is None or apps.name not in sources:
        raise ValueError("a training set needs an applications source with data")
    applications = _with_row_identity(sources[apps.name], apps)
    sources = {**sources, apps.name: applications}

    timestamp = apps.timestamp
    dated = timestamp is not None
    rows = applications.select(
        application_key(apps).alias(APPLICATION_ID),
        (
            pl.col(apps.borrower_column).cast(pl.String)
            if apps.borrower_column
            else application_key(apps)
        ).alias(BORROWER),
        (pl.col(timestamp).cast(pl.Date) if timestamp else pl.lit(None, dtype=pl.Date)).alias(
            AS_OF
        ),
    )
    labelled = rows.join(
        _labels(sources, contracts, apps), on=APPLICATION_ID, how="inner", maintain_order="left"
    ).filter(pl.col(LABEL).is_not_null())

    table = compute_features(labelled, sources, contracts)
    for protected in _protected_frames(sources, contracts, apps):
        table = table.join(protected.frame, on=protected.key, how="left", maintain_order="left")
    frame = table.collect()

    frame = frame.with_columns(
        _split(frame, dated, seed=seed, test_share=test_share, validation_share=validation_share)
    )
    if dated:
        frame = frame.rename({AS_OF: APPLICATION_DATE})
    ids = [c for c in ID_COLUMNS if c in frame.columns]
    if apps.borrower_column is None:
        ids.remove(BORROWER)
    protected_columns = [c for c in frame.columns if c.startswith(PROTECTED_PREFIX)]
    features = [c for c in frame.columns if c not in NOT_FEATURES and c not in protected_columns]
    return frame.select(*ids, *features, *protected_columns, LABEL, SPLIT)


def model_feature_names(training_set: pl.DataFrame, catalogue: FeatureCatalogue) -> list[str]:
    """Catalogue features present in the table; never ids, labels or protected attributes."""
    return [
        name
        for name in catalogue.names
        if name in training_set.columns
        and name not in NOT_FEATURES
        and not name.startswith(PROTECTED_PREFIX)
    ]


def training_set_summary(df: pl.DataFrame) -> dict[str, object]:
    """Rows, default rate (overall and per split) and each feature's missing share."""
    features = [
        c for c in df.columns if c not in NOT_FEATURES and not c.startswith(PROTECTED_PREFIX)
    ]
    splits = {}
    if SPLIT in df.columns:
        for row in (
            df.group_by(SPLIT)
            .agg(pl.len().alias("rows"), pl.col(LABEL).mean().alias("default_rate"))
            .sort(SPLIT)
            .iter_rows(named=True)
        ):
            splits[row[SPLIT]] = {"rows": row["rows"], "default_rate": row["default_rate"]}
    missing = (
        df.select(pl.col(c).null_count() / pl.len() for c in features).row(0, named=True)
        if df.height
        else dict.fromkeys(features, 0.0)
    )
    return {
        "rows": df.height,
        "default_rate": df[LABEL].mean() if df.height else None,
        "splits": splits,
        "missing_share": missing,
    }


def _with_row_identity(frame: pl.LazyFrame, apps: Contract) -> pl.LazyFrame:
    """A file without an id column is keyed by landing file and row, as ingestion keys it."""
    if apps.id_column is not None:
        return frame
    present = frame.collect_schema().names()
    if "_source_file" not in present:
        frame = frame.with_columns(pl.lit(apps.name).alias("_source_file"))
    if "_row_number" not in present:
        frame = frame.with_row_index("_row_number", offset=1).with_columns(
            pl.col("_row_number").cast(pl.Int64)
        )
    return frame


def label_contract(
    sources: dict[str, pl.LazyFrame], contracts: dict[str, Contract], apps: Contract
) -> Contract:
    """The source `default_flag` comes from: the outcomes source (joined by application id)
    when one is declared and given, else the applications' own label column."""
    outcomes = contract_of_kind(contracts, SourceKind.OUTCOMES)
    if outcomes is not None and outcomes.name in sources and outcomes.label_column is not None:
        return outcomes
    if apps.label_column is not None:
        return apps
    raise ValueError(
        "no label: declare an outcomes source (with data) or a label column on the applications"
    )


def default_flag(column: ColumnSpec) -> pl.Expr:
    """1 where the label equals the contract's `bad` value, 0 for `good`, else null."""
    assert column.labels is not None
    bad, good = column.labels["bad"], column.labels["good"]
    if column.type in ("int", "float", "bool"):
        value = pl.col(column.name).cast(pl.Float64)
        is_bad, is_good = value == float(bad), value == float(good)
    else:
        value = pl.col(column.name).cast(pl.String)
        is_bad, is_good = value == str(bad), value == str(good)
    return pl.when(is_bad).then(1).when(is_good).then(0).cast(pl.Int8).alias(LABEL)


def _labels(
    sources: dict[str, pl.LazyFrame], contracts: dict[str, Contract], apps: Contract
) -> pl.LazyFrame:
    """application_id and default_flag of every application with an observed outcome."""
    source = label_contract(sources, contracts, apps)
    label = source.label_column
    assert label is not None
    if source is apps:
        return sources[apps.name].select(
            application_key(apps).alias(APPLICATION_ID), default_flag(label)
        )
    if source.id_column is None:
        raise ValueError(f"outcomes source {source.name!r} has no id column to join on")
    return (
        sources[source.name]
        .select(
            pl.col(source.id_column).cast(pl.String).alias(APPLICATION_ID),
            default_flag(label),
        )
        .unique(subset=APPLICATION_ID, keep="last")
    )


class _Protected(NamedTuple):
    frame: pl.LazyFrame
    key: str  # application_id or borrower_id


def _protected_frames(
    sources: dict[str, pl.LazyFrame], contracts: dict[str, Contract], apps: Contract
) -> list[_Protected]:
    """Protected attributes as `protected_<column>` frames keyed by application or borrower."""
    used: set[str] = set()

    def named(contract: Contract, column: str) -> str:
        name = f"{PROTECTED_PREFIX}{column}"
        if name in used:
            name = f"{PROTECTED_PREFIX}{contract.name}_{column}"
        used.add(name)
        return name

    found = []
    if apps.protected_columns:
        found.append(
            _Protected(
                sources[apps.name]
                .select(
                    application_key(apps).alias(APPLICATION_ID),
                    *(pl.col(c).alias(named(apps, c)) for c in apps.protected_columns),
                )
                .unique(subset=APPLICATION_ID, keep="last"),
                APPLICATION_ID,
            )
        )
    for contract in sorted(contracts.values(), key=lambda c: c.name):
        borrower = contract.borrower_column
        if (
            contract is apps
            or not contract.protected_columns
            or borrower is None
            or contract.name not in sources
        ):
            continue
        order = [contract.timestamp] if contract.timestamp else []
        latest = (
            sources[contract.name]
            .group_by(pl.col(borrower).cast(pl.String).alias(BORROWER))
            .agg(
                (pl.col(c).sort_by(order).last() if order else pl.col(c).last()).alias(
                    named(contract, c)
                )
                for c in contract.protected_columns
            )
        )
        found.append(_Protected(latest, BORROWER))
    return found


def _spans_enough_months(dates: pl.Series) -> bool:
    return dates.dt.truncate("1mo").n_unique() >= MIN_MONTHS_FOR_OUT_OF_TIME


def is_out_of_time(training_set: pl.DataFrame) -> bool:
    """Whether `split` is out of time (dated applications over enough months), the rule
    `build_training_set` applied; otherwise it is a seeded stratified holdout."""
    return APPLICATION_DATE in training_set.columns and _spans_enough_months(
        training_set.get_column(APPLICATION_DATE)
    )


def _split(
    frame: pl.DataFrame, dated: bool, *, seed: int, test_share: float, validation_share: float
) -> pl.Expr:
    if dated and _spans_enough_months(frame.get_column(AS_OF)):
        return _out_of_time_split(frame, test_share, validation_share)
    return _stratified_split(seed, test_share, validation_share)


def _out_of_time_split(frame: pl.DataFrame, test_share: float, validation_share: float) -> pl.Expr:
    """Whole application months, newest first: test until its share is met, then validation."""
    months = (
        frame.group_by(pl.col(AS_OF).dt.truncate("1mo").alias("month"))
        .len()
        .sort("month", descending=True)
        .with_columns(((pl.col("len").cum_sum() - pl.col("len")) / frame.height).alias("later"))
        .with_columns(
            pl.when(pl.col("later") < test_share)
            .then(pl.lit("test"))
            .when(pl.col("later") < test_share + validation_share)
            .then(pl.lit("validation"))
            .otherwise(pl.lit("train"))
            .alias(SPLIT)
        )
    )
    return (
        pl.col(AS_OF)
        .dt.truncate("1mo")
        .replace_strict(months["month"], months[SPLIT], return_dtype=pl.String)
        .alias(SPLIT)
    )


def _stratified_split(seed: int, test_share: float, validation_share: float) -> pl.Expr:
    """Within each label class, a seeded stable-hash order; first test, then validation."""
    order = stable_hash(pl.concat_str(pl.col(APPLICATION_ID), pl.lit(f":{seed}")))
    rank = order.rank("ordinal").over(LABEL)
    size = pl.len().over(LABEL)
    n_test = (size * test_share).round()
    n_validation = (size * validation_share).round()
    return (
        pl.when(rank <= n_test)
        .then(pl.lit("test"))
        .when(rank <= n_test + n_validation)
        .then(pl.lit("validation"))
        .otherwise(pl.lit("train"))
        .alias(SPLIT)
    )
