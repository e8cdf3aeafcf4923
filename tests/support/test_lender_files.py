"""The lender-file generator: every shape it draws is a file the platform takes as it is.

A lender's own labelled file plus the contract written for it must load, pass the
landing pre-flight, be ingested whole (no row quarantined), conform to the pandera
schema, keep its values and label coding, and carry the truth it was drawn from:
the bad rate asked for and a signal a model can learn.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

from credit_assets.core.contracts import Contract, Role, SourceKind, load_contract
from credit_assets.core.contracts.pandera_schema import check_against_contract
from credit_assets.core.features.training_set import build_training_set
from credit_assets.core.ingestion.files import inspect_landing_file
from credit_assets.core.ingestion.stream import IngestResult, ingest_file
from credit_assets.core.ingestion.zones import landing_zone
from credit_assets.core.modeling.metrics import auc
from credit_assets.core.platform.settings import Settings
from tests.support.lender_files import (
    TRUTH_COLUMNS,
    LenderFileSpec,
    WrittenLender,
    expected_bayes_auc,
    lender_file_specs,
    make_lender_file,
    write_lender_workspace,
)

FIXED_SPECS = {
    "numeric_only": LenderFileSpec(n_numeric=6, n_categorical=0, seed=101),
    "categorical_only": LenderFileSpec(n_numeric=0, n_categorical=4, seed=102),
    "mixed_with_nulls": LenderFileSpec(
        n_numeric=5, n_categorical=4, null_share=0.15, label_coding="good_bad", seed=103
    ),
    "no_protected_column": LenderFileSpec(protected="none", label_coding="int01_bad0", seed=104),
    "tiny_with_rare_bads": LenderFileSpec(n_rows=200, bad_rate=0.03, protected="sex", seed=105),
    "capitalised_names": LenderFileSpec(
        n_numeric=8,
        n_categorical=6,
        name_style="capitalised",
        label_coding="y_n",
        null_share=0.05,
        protected="age",
        seed=106,
    ),
}
MIN_BAYES_AUC = 0.6
BINOMIAL_Z = 4.5  # a realised bad rate further out than this is a generator bug, not luck
APPROVAL_SHARE = 0.7
PROPERTY_SETTINGS = settings(
    max_examples=10,
    deadline=None,
    database=None,  # no example database written into the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(params=list(FIXED_SPECS), ids=list(FIXED_SPECS))
def spec(request: pytest.FixtureRequest) -> LenderFileSpec:
    return FIXED_SPECS[request.param]


@pytest.fixture
def written(spec: LenderFileSpec, credit_home: Path) -> WrittenLender:
    return write_lender_workspace(spec, credit_home, credit_home / "contracts")


def ingest(written: WrittenLender) -> tuple[Contract, IngestResult]:
    """What `raw_<source>` does with the file, short of storing it."""
    contract = load_contract(written.contract_path)
    inspect_landing_file(written.csv_path, contract)  # the landing sensor's pre-flight
    return contract, ingest_file(written.csv_path, contract)


def binomial_tolerance(bad_rate: float, n_rows: int) -> float:
    return BINOMIAL_Z * math.sqrt(bad_rate * (1 - bad_rate) / n_rows) + 1 / n_rows


def approval_ratio(true_pd: np.ndarray, disadvantaged: np.ndarray) -> float:
    """Approval rate of the disadvantaged group over the others', approving the safest 70 %."""
    approved = true_pd <= np.quantile(true_pd, APPROVAL_SHARE)
    return float(approved[disadvantaged].mean() / approved[~disadvantaged].mean())


# -- fixed shapes -------------------------------------------------------------------------


def test_written_contract_loads_as_an_applications_contract(written: WrittenLender):
    contract = load_contract(written.contract_path)

    assert contract.name == written.name and contract.kind is SourceKind.APPLICATIONS
    assert contract.keys == [] and contract.formats == ["csv"]
    assert contract.label_column is not None and contract.label_column.name == written.label_column
    assert contract.protected_columns == written.protected_columns
    assert contract.feature_columns
    assert all(c.reason_code and c.reason_text for c in contract.feature_columns)


def test_file_lands_where_the_landing_zone_looks(written: WrittenLender, credit_home: Path):
    contract = load_contract(written.contract_path)

    files = landing_zone(Settings(home=credit_home)).files(contract)

    assert [f.name for f in files] == [written.csv_path.name]


def test_platform_ingest_accepts_every_row_and_quarantines_none(written: WrittenLender):
    _, result = ingest(written)

    assert result.rejected["reason"].to_list() == []
    assert result.accepted.height == result.rows_read == written.expected_rows


def test_accepted_rows_pass_the_contracts_pandera_schema(written: WrittenLender):
    contract, result = ingest(written)

    report = check_against_contract(result.accepted, contract)

    assert report.passed, report.markdown()


def test_ingest_keeps_every_value_as_generated(spec: LenderFileSpec, written: WrittenLender):
    frame, _ = make_lender_file(spec)
    _, result = ingest(written)

    generated = frame.drop(TRUTH_COLUMNS)
    assert_frame_equal(result.accepted.select(generated.columns), generated)


def test_training_set_reads_the_label_coding_as_generated(written: WrittenLender):
    contract, result = ingest(written)

    table = build_training_set({contract.name: result.accepted.lazy()}, {contract.name: contract})

    assert table["default_flag"].to_list() == written.is_bad.tolist()


def test_columns_with_nulls_are_declared_nullable_and_only_those(spec: LenderFileSpec):
    frame, contract = make_lender_file(spec)

    for name, column in contract["columns"].items():
        assert column["nullable"] == (frame[name].null_count() > 0), name
    assert any(c["nullable"] for c in contract["columns"].values()) == (spec.null_share > 0)


def test_realised_bad_rate_is_within_binomial_tolerance(
    spec: LenderFileSpec, written: WrittenLender
):
    realised = written.is_bad.mean()

    assert abs(realised - spec.bad_rate) <= binomial_tolerance(spec.bad_rate, spec.n_rows)
    assert written.true_pd.mean() == pytest.approx(spec.bad_rate, abs=1e-9)


def test_true_pd_ranks_the_realised_labels_well(written: WrittenLender):
    assert auc(written.is_bad, written.true_pd) > MIN_BAYES_AUC
    assert expected_bayes_auc(written.true_pd) > MIN_BAYES_AUC


def test_capitalised_names_include_names_with_a_space():
    _, contract = make_lender_file(FIXED_SPECS["capitalised_names"])

    assert {"Annual Income", "Home Ownership", "CreditAmount", "Charged Off", "Age"} <= set(
        contract["columns"]
    )


# -- signal, disparity, limits ------------------------------------------------------------


def test_low_signal_is_learnable_but_weaker_than_normal():
    normal, _ = make_lender_file(LenderFileSpec(n_rows=5000, seed=7))
    low, _ = make_lender_file(LenderFileSpec(n_rows=5000, seed=7, signal="low"))

    low_auc = expected_bayes_auc(low["_true_pd"])
    assert 0.52 < low_auc < 0.65
    assert expected_bayes_auc(normal["_true_pd"]) > low_auc + 0.1


@pytest.mark.parametrize("protected", ["sex", "age"])
def test_planted_disparity_lowers_the_disadvantaged_groups_approval_rate(protected):
    fair, _ = make_lender_file(LenderFileSpec(n_rows=5000, protected=protected, seed=8))
    unfair, _ = make_lender_file(
        LenderFileSpec(n_rows=5000, protected=protected, disparity=1.5, seed=8)
    )

    def ratio(frame: pl.DataFrame) -> float:
        return approval_ratio(frame["_true_pd"].to_numpy(), frame["_disadvantaged"].to_numpy())

    assert ratio(fair) > 0.9
    assert ratio(unfair) < 0.8


def test_disparity_reaches_the_label_only_through_the_features():
    spec = LenderFileSpec(
        n_rows=5000, n_numeric=0, n_categorical=2, protected="sex", disparity=1.5, seed=9
    )
    frame, contract = make_lender_file(spec)
    features = [n for n, c in contract["columns"].items() if c["role"] == Role.FEATURE.value]

    by_features = frame.group_by(features).agg(
        pl.col("_true_pd").n_unique().alias("pds"), pl.col("sex").n_unique().alias("sexes")
    )

    assert by_features["sexes"].max() == 2  # both groups share feature values...
    assert by_features["pds"].max() == 1  # ...and then share their true PD


@pytest.mark.parametrize(
    "shape",
    [
        {"n_rows": 199},
        {"n_rows": 5001},
        {"bad_rate": 0.02},
        {"bad_rate": 0.51},
        {"n_numeric": 0, "n_categorical": 0},
        {"null_share": 0.25},
        {"protected": "none", "disparity": 0.5},
    ],
)
def test_spec_refuses_shapes_outside_the_promised_range(shape):
    with pytest.raises(ValueError):
        LenderFileSpec(**shape)


# -- every shape ---------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(spec=lender_file_specs(max_rows=2000))
def test_every_shape_is_ingested_whole_and_conforms(spec: LenderFileSpec):
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        written = write_lender_workspace(spec, home, home / "contracts")
        contract, result = ingest(written)

        assert result.rejected["reason"].to_list() == []
        assert result.accepted.height == written.expected_rows == spec.n_rows
        assert check_against_contract(result.accepted, contract).passed


@PROPERTY_SETTINGS
@given(spec=lender_file_specs(max_rows=2000))
def test_every_shape_has_the_bad_rate_and_signal_asked_for(spec: LenderFileSpec):
    frame, _ = make_lender_file(spec)
    is_bad = frame["_is_bad"].to_numpy()
    true_pd = frame["_true_pd"].to_numpy()

    assert abs(is_bad.mean() - spec.bad_rate) <= binomial_tolerance(spec.bad_rate, spec.n_rows)
    # Label-free: a file with a handful of bads cannot make this wobble.
    bayes_auc = expected_bayes_auc(true_pd)
    assert bayes_auc > (MIN_BAYES_AUC if spec.signal == "normal" else 0.5)
