"""`materialize --select` takes asset groups; any other name is refused by name, listing the
groups (and an asset's group), never a silent exit 0 that did nothing."""

import pytest

from credit_assets.cli import main
from credit_assets.orchestration import SelectionError, check_selection, load_definitions


def test_an_asset_name_is_refused_naming_its_group(credit_home):
    graph = load_definitions().resolve_asset_graph()
    with pytest.raises(SelectionError) as refused:
        check_selection(graph, ["monitoring", "experiment_report"])
    assert str(refused.value) == (
        "unknown group 'experiment_report': --select takes asset groups (ingestion, features, "
        "modeling, compliance, scoring, monitoring); experiment_report is an asset of group "
        "monitoring"
    )
    check_selection(graph, ["ingestion", "monitoring"])  # groups pass


def test_the_cli_exits_2_for_an_unknown_name(credit_home, capsys):
    assert main(["materialize", "--select", "modelling"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("materialize: unknown group 'modelling': --select takes asset groups")
    assert not (credit_home / "archive").exists()  # nothing was ingested or run
