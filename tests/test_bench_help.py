"""Every benchmark script answers --help (argparse formats each help string)."""

import subprocess
import sys

import pytest

from tests.support.paths import REPO_ROOT

SCRIPTS = sorted(p.name for p in (REPO_ROOT / "bench").glob("bench_*.py")) + ["run_all.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_benchmark_script_answers_help(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert "usage:" in done.stdout
