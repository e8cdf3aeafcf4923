"""The scoring API through a PostgreSQL outage: 503 while the database is down, never a
500 or a hang, recovery on its own once it is back, and a decision log that holds exactly
the decisions that were returned.

The test starts a PRIVATE PostgreSQL server (`initdb` into a temporary directory, a free
loopback port, its socket in that directory) so it can stop and restart it without
touching the shared server; the server is always stopped in a `finally` block. The API
is a real uvicorn process on that database, driven by a bounded load (a few client
threads, a few hundred requests a second at most, a 5 s client timeout).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.support.production import (
    IN_CI,
    free_port,
    http_status,
    process_env,
    running,
    scoring_api_command,
)
from tests.support.scoring import built_model, publish_borrowers, save_and_register

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CLIENT_TIMEOUT = 5.0
THREADS = 4
WARMUP_SECONDS = 3.0
OUTAGE_SECONDS = 3.0
AFTER_SECONDS = 7.0
RECOVERY_LIMIT = 5.0
PACE_SECONDS = 0.01  # per client thread between requests: at most ~400 requests/s in all


def _postgres_bin() -> Path | None:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@dataclass
class PrivatePostgres:
    bin_dir: Path
    root: Path  # data directory and socket directory live under it
    port: int
    as_user: list[str]  # ["runuser", "-u", "postgres", "--"] when we are root

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            stdin=subprocess.DEVNULL,
        )

    def init(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c shared_buffers=16MB -c max_connections=60 -c fsync=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60",
            "stop",
        )  # fmt: skip

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def log(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")[-4000:]
        except OSError:
            return "(no server log)"


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _postgres_bin()
    if bin_dir is None:
        message = "no PostgreSQL server binaries (initdb, pg_ctl) on this machine"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="credit-pg-", dir="/tmp"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PrivatePostgres(bin_dir, root, free_port(), as_user)
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            if server.running():
                server.stop("immediate")
        finally:
            from credit_assets.core.platform.db import engine_for

            engine_for.cache_clear()
            shutil.rmtree(root, ignore_errors=True)


@dataclass
class Outcome:
    thread: int
    started: float
    ended: float
    status: int | None  # None: no HTTP answer (timeout, connection error)
    decision_id: str | None
    error: str | None


def _drive(port: int, key: str, stop: threading.Event, thread: int, out: list[Outcome]) -> None:
    url = f"http://127.0.0.1:{port}/v1/scores"
    with httpx.Client(timeout=CLIENT_TIMEOUT, headers={"X-API-Key": key}) as client:
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = client.post(url, json={"borrower_id": "b-good"})
                decision_id = (
                    response.json().get("decision_id") if response.status_code == 200 else None
                )
                out.append(
                    Outcome(
                        thread, started, time.monotonic(), response.status_code, decision_id, None
                    )
                )
            except Exception as exc:  # the test asserts there are none
                out.append(
                    Outcome(
                        thread,
                        started,
                        time.monotonic(),
                        None,
                        None,
                        f"{type(exc).__name__}: {exc}",
                    )
                )
            time.sleep(PACE_SECONDS)


@pytest.mark.timeout(300)
def test_scoring_survives_a_postgres_restart_with_503s_and_an_exact_decision_log(
    private_postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from credit_assets.core.platform.apikeys import create_api_key
    from credit_assets.core.platform.db import migrated_engine
    from credit_assets.core.platform.settings import Settings

    pg = private_postgres
    for name, value in {
        "CREDIT_DATABASE_URL": pg.url,
        "CREDIT_API_MODEL_POLL_SECONDS": "1",  # the poller also meets the outage
        "CREDIT_API_SHADOW": "false",
        "CREDIT_API_RATE_LIMIT_PER_SECOND": "100000",
        "CREDIT_API_RATE_LIMIT_BURST": "100000",
        "CREDIT_API_DECISION_LOG_TIMEOUT_SECONDS": "3",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    champion = save_and_register(settings, built_model())
    publish_borrowers(settings)
    key = create_api_key(migrated_engine(pg.url), "outage-lender")
    migrated_engine(pg.url).dispose()  # no idle connection of ours across the restart

    port = free_port()
    command = scoring_api_command(port)
    outcomes: list[Outcome] = []
    stop = threading.Event()
    with running("scoring-api", command, tmp_path / "logs", env=process_env()) as api:
        api.wait_until(
            lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200,
            timeout=90,
            what="/readyz 200",
        )
        threads = [
            threading.Thread(target=_drive, args=(port, key, stop, n, outcomes), daemon=True)
            for n in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        try:
            time.sleep(WARMUP_SECONDS)
            down_requested = time.monotonic()
            pg.stop("fast")
            down = time.monotonic()  # the server is gone from here on
            time.sleep(OUTAGE_SECONDS)
            ready_during_outage = http_status(f"http://127.0.0.1:{port}/readyz")
            up_requested = time.monotonic()
            pg.start()
            up = time.monotonic()  # accepting connections from here on
            time.sleep(AFTER_SECONDS)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=CLIENT_TIMEOUT + 5)
            if not pg.running():
                pg.start()  # the log is read below; the fixture stops it in any case
        api_log = api.log(200)
        full_log = api.log_path.read_text(errors="replace").splitlines()
        # What the last lines may have scrolled away: every line about a failure that is not
        # the expected "database error" warning, with the traceback lines that follow it.
        failures = "\n".join(
            line
            for line in full_log
            if "database error" not in line and "registry unreachable" not in line
        )[-6000:]
        assert not any(t.is_alive() for t in threads), "a client thread did not stop"

    def within(o: Outcome, start: float, end: float) -> bool:
        return start <= o.started and o.ended <= end

    errors = [o for o in outcomes if o.status is None]
    assert not errors, f"requests without an answer (hang or crash): {errors[:5]}\n{api_log}"
    statuses = {o.status for o in outcomes}
    assert statuses <= {200, 503}, f"unexpected statuses {statuses}\n{failures}"
    assert "internal error" not in api_log and "Traceback" not in api_log, api_log

    before = [o for o in outcomes if o.ended < down_requested]
    during = [o for o in outcomes if within(o, down, up_requested)]
    after = [o for o in outcomes if o.started >= up]
    assert before and all(o.status == 200 for o in before)
    assert len(during) >= 10, "the load did not reach the API during the outage"
    assert all(o.status == 503 for o in during), [o.status for o in during]
    assert ready_during_outage == 503

    first_ok = min((o.ended for o in after if o.status == 200), default=None)
    assert first_ok is not None, "the API never recovered"
    recovery = first_ok - up
    assert recovery <= RECOVERY_LIMIT, f"first 200 {recovery:.2f} s after PostgreSQL was back"
    settled = [o for o in after if o.started >= up + RECOVERY_LIMIT]
    assert settled and all(o.status == 200 for o in settled)
    assert max(o.ended - o.started for o in outcomes) < CLIENT_TIMEOUT

    # The decision log holds exactly the decisions returned with 200: none lost, none extra.
    returned = [o.decision_id for o in outcomes if o.status == 200]
    engine = sa.create_engine(pg.url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            logged = (
                conn.execute(
                    sa.text("SELECT decision_id FROM decision_log WHERE lender = 'outage-lender'")
                )
                .scalars()
                .all()
            )
            versions = set(
                conn.execute(sa.text("SELECT DISTINCT model_version FROM decision_log")).scalars()
            )
    finally:
        engine.dispose()
    assert len(returned) == len(set(returned))
    assert len(logged) == len(returned) and set(logged) == set(returned)
    assert versions == {champion.version}

    print(
        f"\noutage: {len(outcomes)} requests ({len(returned)} x 200, "
        f"{sum(o.status == 503 for o in outcomes)} x 503, 0 errors); "
        f"pg stop took {down - down_requested:.2f} s, down {up_requested - down:.2f} s, "
        f"start took {up - up_requested:.2f} s; {len(during)} requests wholly inside the "
        f"outage, all 503; first 200 {recovery:.2f} s after PostgreSQL was back; "
        f"slowest request {max(o.ended - o.started for o in outcomes):.2f} s; "
        f"decision_log rows {len(logged)} == 200 responses {len(returned)}"
    )
