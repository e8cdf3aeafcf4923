"""The whole Dagster graph loads, and its shape is reviewed as a snapshot.

A change to an asset's key, deps, group, owners or checks changes the snapshot
below, so it shows in code review. Regenerate with
`python -m tests.defs.test_definitions > tests/defs/definitions_snapshot.json`.
"""

import json
import sys
from pathlib import Path

from credit_assets.orchestration import load_definitions, selected_asset_keys

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


def graph_snapshot() -> dict[str, dict[str, object]]:
    defs = load_definitions()
    graph = defs.resolve_asset_graph()
    snapshot = {}
    for key in sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string()):
        node = graph.get(key)
        snapshot[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "owners": list(node.owners),
            "partitioned": node.partitions_def is not None,
            "checks": sorted(c.name for c in node.check_keys),
            "blocking_checks": sorted(
                c.name for c in node.check_keys if graph.get_check_spec(c).blocking
            ),
            "has_description": bool(node.description),
        }
    return snapshot


def test_graph_matches_the_reviewed_snapshot():
    assert graph_snapshot() == json.loads(SNAPSHOT.read_text())


def test_every_asset_is_documented_and_owned():
    for name, node in graph_snapshot().items():
        assert node["has_description"], f"{name} has no description for the UI"
        assert node["owners"], f"{name} has no owner"


def test_sensors_and_jobs_load():
    defs = load_definitions()
    assert defs.resolve_sensor_def("landing_zone_sensor").name == "landing_zone_sensor"
    assert defs.resolve_job_def("ingest_applications").name == "ingest_applications"
    assert defs.resolve_sensor_def("lda_alternative_sensor").job_name == "adopt_lda_alternative"
    adoption = defs.resolve_job_def("adopt_lda_alternative").asset_layer.selected_asset_keys
    names = {k.to_user_string() for k in adoption}
    # The alternative gets every report and gate, the decision and its card; nothing upstream.
    assert {"challenger_model", "fairness_report", "lda_search", "champion_model"} <= names
    assert {"model_card", "model_evaluation", "reason_accuracy"} <= names
    assert not names & {"training_set", "model_selection", "batch_scores"}


def test_promotion_gates_never_block_a_run():
    """A gate that says no is an outcome: only data-quality checks may stop a run."""
    for name, node in graph_snapshot().items():
        if node["group"] in ("modeling", "compliance"):
            assert node["blocking_checks"] == [], f"{name} has blocking checks"


def test_a_group_selection_refreshes_the_assets_between_its_own():
    """`--select modeling` reruns the compliance reports that champion_model's gates read, so a
    new challenger is never judged on the previous model's reports; nothing else is pulled in."""
    graph = load_definitions().resolve_asset_graph()
    modeling = selected_asset_keys(graph, ["modeling"])
    between = {k.to_user_string() for k in modeling.pulled_in["modeling"]}
    assert {"fairness_report", "reason_accuracy", "explainability_report"} <= between
    assert all(graph.get(k).group_name == "compliance" for k in modeling.pulled_in["modeling"])
    assert {"challenger_model", "champion_model"} <= {k.to_user_string() for k in modeling.keys}
    # A selection that already holds both ends pulls in nothing; the feature group has no gaps.
    assert selected_asset_keys(graph, ["modeling", "compliance"]).pulled_in == {}
    assert selected_asset_keys(graph, ["features"]).pulled_in == {}


if __name__ == "__main__":
    json.dump(graph_snapshot(), sys.stdout, indent=2, sort_keys=True)
    print()
