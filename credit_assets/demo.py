"""`credit-platform demo`: data, a materialized graph, the Dagster UI and the scoring API.

Every process it starts runs in its own session so Ctrl-C (or SIGTERM) stops
all of them, the Dagster webserver and daemon included.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from credit_assets.core.platform.settings import REPO_ROOT, Settings, get_settings
from credit_assets.orchestration import ensure_dagster_home, materialize_all

UI_PORT = int(os.environ.get("CREDIT_DEMO_UI_PORT", "3000"))
API_PORT = int(os.environ.get("CREDIT_DEMO_API_PORT", "8000"))


def _wait_for(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def print_fairness_evidence(settings: Settings) -> None:
    """The latest challenger's worst AIR per attribute: self-reported beside BISG-proxied."""
    from credit_assets.core.platform.db import migrated_engine
    from credit_assets.core.platform.registry import list_models
    from credit_assets.core.platform.storage.keys import report_key
    from credit_assets.core.platform.storage.local import data_store

    models = list_models(migrated_engine(settings.resolved_database_url))
    store = data_store(settings)
    key = report_key("fairness", models[0]["version"]) if models else None
    if key is None or not store.exists(key):
        return
    report = json.loads(store.get_bytes(key))
    print(f"==> fairness evidence for {models[0]['version']}: {report.get('evidence')}")
    for attribute in report.get("attributes", []):
        worst = attribute.get("worst_adverse_impact_ratio")
        figure = "n/a" if worst is None else f"{worst:.3f} ({attribute.get('worst_group')})"
        verdict = "pass" if attribute.get("passed") else "FAIL"
        print(f"    {attribute['attribute']:<44} worst AIR {figure:<22} {verdict}")
    proxies = (report.get("extras") or {}).get("proxies")
    if proxies:
        print(
            f"    BISG coverage: {proxies['test_rows_with_proxy']} of {proxies['test_rows']} test "
            f"applications have a proxy ({proxies['vintage'].split(';')[0]})"
        )


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        args, cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def run_demo(borrowers: int, serve: bool = True) -> int:
    settings = get_settings()
    ensure_dagster_home(settings)
    bin_dir = Path(sys.executable).parent
    code = _ensure_data(settings, bin_dir, borrowers)
    if code:
        return code
    print("==> materializing the asset graph")
    outcome = materialize_all(log=print)
    if not outcome.success:
        print(f"!! materialization failed: {outcome.failures}", file=sys.stderr)
        return 1
    print_fairness_evidence(settings)
    if not serve:
        return 0
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes, api_available = _start_services(bin_dir, logs)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _serve_until_stopped(settings, processes, api_available, logs)
    except KeyboardInterrupt:
        print("\nstopping ...")
        return 0
    finally:
        _stop(processes)


def _ensure_data(settings: Settings, bin_dir: Path, borrowers: int) -> int:
    """Synthetic landing files (`credit-platform generate`) unless the workspace holds data
    already; the generator's exit code (0 when reused)."""
    landing_has_data = settings.landing_dir.exists() and any(settings.landing_dir.rglob("*.*"))
    archived = settings.archive_dir.exists() and any(settings.archive_dir.rglob("*.*"))
    if landing_has_data or archived:
        print(f"==> reusing the data in {settings.home} (delete it to start afresh)")
        return 0
    print(f"==> generating {borrowers:,} borrowers into {settings.landing_dir}")
    return subprocess.call(
        [
            str(bin_dir / "credit-platform"),
            "generate",
            "--borrowers",
            str(borrowers),
            "--dirty-rate",
            "0.002",
            "--bad-files",
        ]
    )


def _start_services(bin_dir: Path, logs: Path) -> tuple[list[subprocess.Popen[bytes]], bool]:
    """The Dagster UI (with its daemon) and, when this checkout has it, the scoring API, each
    logging into `logs`; and whether the API was started."""
    processes = [
        _spawn(
            [
                str(bin_dir / "dagster"),
                "dev",
                "-h",
                "127.0.0.1",
                "-p",
                str(UI_PORT),
                "-w",
                str(REPO_ROOT / "workspace.yaml"),
            ],
            logs / "dagster.log",
        )
    ]
    api_available = (REPO_ROOT / "scoring_api" / "main.py").exists()
    if api_available:
        processes.append(
            _spawn(
                [
                    str(bin_dir / "credit-platform"),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(API_PORT),
                ],
                logs / "api.log",
            )
        )
    return processes, api_available


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM handler: stop the demo as Ctrl-C does."""
    raise KeyboardInterrupt


def _serve_until_stopped(
    settings: Settings,
    processes: list[subprocess.Popen[bytes]],
    api_available: bool,
    logs: Path,
) -> int:
    """Say where the UI and the API are once they answer, then wait; 1 once a process exits
    (Ctrl-C or SIGTERM raise KeyboardInterrupt instead)."""
    ui_ready = _wait_for(f"http://127.0.0.1:{UI_PORT}/server_info", 180)
    api_ready = api_available and _wait_for(f"http://127.0.0.1:{API_PORT}/healthz", 60)
    print()
    print(
        f"Dagster UI   http://127.0.0.1:{UI_PORT}   {'ready' if ui_ready else 'NOT READY: see ' + str(logs / 'dagster.log')}"
    )
    if api_available:
        print(
            f"Scoring API  http://127.0.0.1:{API_PORT}/docs   {'ready' if api_ready else 'NOT READY: see ' + str(logs / 'api.log')}"
        )
        from credit_assets.demo_api import print_demo_curl

        print_demo_curl(API_PORT)
    print(f"Workspace    {settings.home}   (logs in {logs})")
    print("Press Ctrl-C to stop.")
    while all(p.poll() is None for p in processes):
        time.sleep(1)
    print("!! a demo process exited; see the logs above", file=sys.stderr)
    return 1
