"""The README's experiment recipe, as a new user runs it from a terminal: the scoring API
served, and no Dagster daemon.

The command lines are read from the README's "Champion/challenger experiments" section (so a
change there fails this test until the test follows) and run through the real CLI in this
process, with only what a reader fills in replaced: the held-back version, `$KEY`, and the
served API's address (the recipe's API is the demo's, on port 8000). Nothing but the command
line adds the experiment's partition of `experiment_report` or measures it: after `experiment
stop` and `materialize --select ingestion monitoring`, `experiment status` shows the report's
recommendation and `experiment promote` acts on that report, not on the want of one.

The workspace before the recipe is the demo's, smaller and quicker: synthetic borrowers
ingested into features (enough of them that the retrain's fairness evidence lets it be tested
live) and a champion registered; the recipe's retrain then runs the whole modeling group and
its compliance reports, judged on the test split (`CREDIT_EVALUATION=holdout`), not on
cross-validation folds.
"""

from __future__ import annotations

import re
import shlex
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from credit_assets.cli import main
from credit_assets.core.platform.apikeys import create_api_key
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.experiments import list_experiments
from credit_assets.core.platform.registry import get_model, list_models
from credit_assets.core.platform.settings import Settings
from credit_assets.core.promotion.verdicts import QUALITY
from credit_assets.core.tools.synthetic import generate
from credit_assets.orchestration import experiment_report, materialize_all
from tests.support.paths import REPO_ROOT
from tests.support.scoring import built_model, save_and_register
from tests.support.uploads import served_api

pytestmark = pytest.mark.slow

BORROWERS = 1500
END_DATE = date(2026, 9, 30)  # CREDIT_SNAPSHOT_DATE is the day after
HELD_BACK = "<the held-back version>"
# The recipe as the README gives it: a change there must be a change here.
RECIPE = [
    "CREDIT_PROMOTION_REQUIRES_EXPERIMENT=true credit-platform materialize --select modeling",
    f"credit-platform experiment start --challenger {HELD_BACK} --share 0.2",
    "credit-platform simulate-traffic --api-key $KEY --requests 1000 "
    "--outcomes-to .credit_home/landing/outcomes",
    'credit-platform experiment stop --reason "outcomes are in"',
    "credit-platform materialize --select ingestion monitoring",
    "credit-platform experiment status",
    "credit-platform experiment promote",
]


def readme_recipe() -> list[str]:
    """The command lines of the README's end-to-end experiment recipe: continuation lines
    joined, comments dropped."""
    text = (REPO_ROOT / "docs" / "compliance" / "experiments.md").read_text(encoding="utf-8")
    section = text[text.index("## Champion/challenger experiments") :]
    section = section[section.index("On the demo, end to end") :]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    joined = re.sub(r"\\\n\s*", "", block)
    lines = [line.split("  #", 1)[0].strip() for line in joined.splitlines()]
    return [" ".join(line.split()) for line in lines if line and not line.startswith("#")]


def test_the_readme_lists_the_recipe_this_test_runs() -> None:
    assert readme_recipe() == RECIPE


def _serving(url: str) -> dict | None:
    return httpx.get(f"{url}/readyz", timeout=5).json().get("experiment")


def run_line(line: str, fill: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> int:
    """One recipe line through `credit-platform`'s main: its `NAME=value` prefixes set for
    this command only, `$NAME` and the placeholders filled in."""
    for placeholder, value in fill.items():
        line = line.replace(placeholder, value)
    words = shlex.split(line)
    with monkeypatch.context() as scoped:
        while "=" in words[0]:
            name, _, value = words.pop(0).partition("=")
            scoped.setenv(name, value)
        assert words[0] == "credit-platform", line
        return main(words[1:])


@pytest.mark.timeout(300)
def test_the_readme_recipe_measures_and_judges_an_experiment_without_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / ".credit_home"  # the recipe's `.credit_home/landing/outcomes`
    env = {
        "CREDIT_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "CREDIT_SNAPSHOT_DATE": "2026-10-01",
        "CREDIT_FEATURE_BUCKETS": "2",
        # Quicker than the demo: one fit per family on the test split, and evidence and
        # fairness minimums sized for 1,500 borrowers.
        "CREDIT_EVALUATION": "holdout",
        "CREDIT_MODEL_FAMILIES": "catboost",
        "CREDIT_CHALLENGER_ITERATIONS": "150",
        "CREDIT_EVIDENCE_MIN_BADS": "10",
        "CREDIT_FAIRNESS_MIN_GROUP_SIZE": "15",
        "CREDIT_API_MODEL_POLL_SECONDS": "1",
        "CREDIT_API_SHADOW": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    generate(BORROWERS, settings.landing_dir, settings.ground_truth_dir, seed=7, end_date=END_DATE)
    features = materialize_all(["ingestion", "features"], log=lambda _: None)
    assert features.success, features.failures
    engine = migrated_engine(settings.resolved_database_url)
    save_and_register(settings, built_model())  # today's champion
    fill = {"$KEY": create_api_key(engine, "acme-bank")}
    capsys.readouterr()

    with served_api(env, tmp_path / "logs") as (url, _service):
        for line in readme_recipe():
            if "simulate-traffic" in line:
                line += f" --url {url}"  # the recipe's API is the demo's, on port 8000
            assert run_line(line, fill, monkeypatch) == 0, capsys.readouterr()
            out = capsys.readouterr().out
            if "materialize --select modeling" in line:
                [held_back] = [m for m in list_models(engine) if m["status"] == "held_back"]
                fill[HELD_BACK] = held_back["version"]
                assert f"challenger {fill[HELD_BACK]} held back" in out, out
            elif "experiment start" in line:
                experiment_id = out.strip()
                deadline = time.monotonic() + 30
                while (_serving(url) or {}).get("experiment_id") != experiment_id:
                    assert time.monotonic() < deadline, "the API never picked the experiment up"
                    time.sleep(0.2)  # the API's next model poll
            elif "materialize --select ingestion monitoring" in line:
                # No daemon: the command line added the partition and measured the report.
                report = experiment_report(experiment_id)
                assert report is not None, out
                assert report["experiment"]["status"] == "stopped"
                recommendation = report["recommendation"]
                assert f"==> experiment {experiment_id}: {recommendation}: " in out, out
            elif "experiment status" in line:
                assert f"report: {recommendation}: {report['reason']}" in out, out
            elif "experiment promote" in line:
                decided = [f"challenger {fill[HELD_BACK]} {d}" for d in ("promoted", "held back")]
                assert any(d in out for d in decided), out

    [experiment] = list_experiments(engine)
    assert experiment.challenger_version == fill[HELD_BACK]
    assert (home / "data" / "reports" / "experiments" / f"{experiment_id}.html").is_file()
    # Judged on the report's own verdict, never held back for want of one.
    gates = {g["name"]: g for g in get_model(engine, fill[HELD_BACK]).decision["gates"]}
    detail = gates[QUALITY]["detail"]
    assert f"experiment {experiment_id}, it recommends {recommendation}" in detail, detail
    assert gates[QUALITY]["passed"] == (recommendation == "promote")
