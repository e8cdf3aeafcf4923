"""The LDA search's statement on the public credit files, as docs/LDA.md records it.

    .venv/bin/python bench/lda_statements.py            # prints the block
    .venv/bin/python bench/lda_statements.py --write    # and replaces it in docs/LDA.md

Each file in ../shared/datasets is onboarded with its example contract in a fresh workspace
and materialized through compliance, exactly as `credit-platform materialize` does. The search
runs with its full budget even when the fairness gate passes (the pipeline's default there is
a light one), so the statement says what the whole searched class and budget found. A file
whose contract declares no protected attribute and no proxy input gets no search, and the
block says so in the platform's own words.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATASETS = REPO.parent / "shared" / "datasets"
FILES = {"german_credit": "german_credit.csv", "lending_club": "lending_club.csv"}
BEGIN, END = "<!-- lda-statements:begin -->", "<!-- lda-statements:end -->"
TARGET = REPO / "docs" / "LDA.md"  # its "On the public files" section holds the block
FULL_BUDGET = "24"


def statement(name: str, workdir: Path) -> str:
    """Materialize one public file through compliance; the LDA search's statement or note."""
    import dagster as dg

    from credit_assets.orchestration import materialize_all

    home = workdir / name
    landing = home / "landing" / name
    landing.mkdir(parents=True)
    shutil.copy(DATASETS / FILES[name], landing / FILES[name])
    os.environ.update(
        {
            "CREDIT_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            "CREDIT_CONTRACTS_DIR": str(REPO / "contracts" / "examples" / name),
            "CREDIT_LDA_MAX_CANDIDATES": FULL_BUDGET,
            "CREDIT_LDA_MAX_CANDIDATES_WHEN_FAIR": FULL_BUDGET,
            "CREDIT_LDA_ADOPT": "false",
        }
    )
    log: list[str] = []
    outcome = materialize_all(["ingestion", "features", "modeling", "compliance"], log.append)
    if not outcome.success:
        raise SystemExit(f"{name}: materialize failed\n" + "\n".join(log))
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("lda_search"))
        assert event is not None and event.asset_materialization is not None
        values = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    if "statement" not in values:
        return f"no search: {values.get('note')}"
    report = json.loads((home / f"data/reports/lda/{values['model_version']}.json").read_text())
    return f"{report['kind']}: {report['statement']}"


def block(statements: dict[str, str], commit: str) -> str:
    lines = [
        BEGIN,
        f"From `bench/lda_statements.py` at {commit} (full budget, {FULL_BUDGET} candidates):",
        "",
    ]
    lines += [f"- **{name}**: {text}" for name, text in statements.items()]
    return "\n".join([*lines, END])


def main(argv: list[str] | None = None) -> int:
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the block in docs/LDA.md")
    args = parser.parse_args(argv)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        statements = {name: statement(name, Path(tmp)) for name in FILES}
    text = block(statements, commit or "an unknown commit")
    print(text)
    if args.write:
        old = TARGET.read_text()
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        if not pattern.search(old):
            raise SystemExit(f"{TARGET.relative_to(REPO)} has no {BEGIN} ... {END} block")
        TARGET.write_text(pattern.sub(lambda _: text, old))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
