"""A lender whose only labelled file was set aside: the run ends with a plain sentence naming
the file and why, and `credit-platform materialize` exits 4, never with a traceback."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from credit_assets.cli import EXIT_NO_LABELLED_ROWS, main
from tests.support.lender_files import LenderFileSpec, write_lender_workspace


@pytest.fixture
def label_file_set_aside(credit_home, tmp_path, monkeypatch) -> str:
    """A lender workspace whose one file lacks the label column; the file's source/name."""
    spec = LenderFileSpec(n_rows=300, protected="none", seed=3)
    written = write_lender_workspace(spec, credit_home, tmp_path / "contracts")
    pl.read_csv(written.csv_path).drop(written.label_column).write_csv(written.csv_path)
    monkeypatch.setenv("CREDIT_CONTRACTS_DIR", str(written.contract_path.parent))
    monkeypatch.setenv("CREDIT_FEATURE_BUCKETS", "1")
    return f"{spec.name}/{written.csv_path.name}"


def test_materialize_names_the_set_aside_file_and_exits_4(label_file_set_aside, capfd) -> None:
    code = main(["materialize"])
    out, err = capfd.readouterr()
    assert code == EXIT_NO_LABELLED_ROWS == 4
    assert err.strip().splitlines()[-1] == (
        f"materialize: no labelled rows: {label_file_set_aside} set aside: "
        "required column(s) missing: defaulted"
    )
    assert "Traceback" not in out + err and "Stack Trace" not in out + err


def test_the_training_set_step_fails_with_the_named_outcome(label_file_set_aside) -> None:
    main(["materialize", "--select", "ingestion", "features"])
    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        [failure] = [
            e.dagster_event.event_specific_data.user_failure_data  # type: ignore[union-attr]
            for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        ]
    assert failure.description.startswith(f"no labelled rows: {label_file_set_aside} set aside")
    assert failure.metadata["outcome"].value == "no_labelled_rows"
