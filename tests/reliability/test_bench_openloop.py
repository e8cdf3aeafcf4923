"""The API bench's open-loop client (bench/openloop.c), against small local HTTP servers.

The half-load figure of docs/BENCHMARKS.md is only as good as this instrument: it must
send at the rate asked, count every non-200 and broken connection as an error, charge a
slow answer to the requests queued behind it, and stop by itself when the server hangs.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build openloop.c")


def _bench_api():
    spec = importlib.util.spec_from_file_location("bench_api", REPO_ROOT / "bench" / "bench_api.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


bench_api = _bench_api()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the scoring API
    disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (40 ms)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if b"slow" in body:
            time.sleep(0.2)
        status = 503 if b"bad" in body else 200
        payload = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = bench_api.build_openloop(tmp_path_factory.mktemp("openloop"))
    assert built is not None
    return built


def _load(binary: Path, port: int, bodies: list[bytes], tmp_path: Path, **kw: float) -> dict:
    return bench_api.openloop_load(
        binary,
        port,
        "/v1/scores",
        bodies,
        {"Content-Type": "application/json"},
        connections=int(kw.get("connections", 4)),
        seconds=kw.get("seconds", 1.0),
        rate=kw.get("rate", 200.0),
        workdir=tmp_path,
    )


def test_it_sends_at_the_rate_asked_and_counts_every_answer(
    binary: Path, server: int, tmp_path: Path
) -> None:
    result = _load(binary, server, [b'{"borrower_id": "B1"}'], tmp_path, rate=200, seconds=1.0)
    assert result["requests"] == 201  # request k at k / 200 s, for k = 0..200
    assert result["errors"] == 0
    assert 1.0 <= result["seconds"] < 1.5  # the last scheduled at 1 s, answered soon after
    assert result["p99_ms"] < 200
    assert result["client_wait_p99_ms"] is not None


def test_a_status_other_than_200_is_an_error(binary: Path, server: int, tmp_path: Path) -> None:
    result = _load(binary, server, [b'{"a": "bad"}', b'{"a": "good"}'], tmp_path, rate=200)
    assert result["requests"] == 201
    assert 40 < result["errors"] < 161  # about half, picked at random


def test_a_slow_answer_is_charged_to_the_requests_queued_behind_it(
    binary: Path, server: int, tmp_path: Path
) -> None:
    # One connection, 20 requests/s for 0.5 s, each answered in 200 ms: the 11 requests
    # queue in the client, the last answered ~2.2 s after the start though scheduled at
    # 0.5 s; a closed-loop client would report ~200 ms for every one.
    result = _load(
        binary, server, [b'{"a": "slow"}'], tmp_path, rate=20, seconds=0.5, connections=1
    )
    assert result["requests"] == 11
    assert result["errors"] == 0
    assert result["p99_ms"] > 1500
    assert result["p50_ms"] > 500
    assert result["client_wait_p99_ms"] > 1000


def test_it_stops_by_itself_when_the_server_never_answers(binary: Path, tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    requests = tmp_path / "requests.bin"
    requests.write_bytes(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    fds = [c.fileno() for c in clients]
    started = time.monotonic()
    run = subprocess.run(
        [str(binary), str(port), "50", "0.5", str(requests), "1", *map(str, fds)],
        pass_fds=fds,
        capture_output=True,
        text=True,
        timeout=30,
        env={"OPENLOOP_DRAIN_SECONDS": "1"},
    )
    assert run.returncode == 0
    assert time.monotonic() - started < 5
    assert run.stdout.splitlines()[-1].startswith("# sent=2 errors=26 ")  # 2 stuck + 24 unsent
    for sock in [*clients, listener]:
        sock.close()


def test_bad_arguments_are_refused(binary: Path, tmp_path: Path) -> None:
    run = subprocess.run(
        [str(binary), "1", "0", "1", str(tmp_path / "none"), "1", "3"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert "must be positive" in run.stderr
