"""`credit-platform serve`: the scoring API in uvicorn worker processes, one listening socket
each on the same port (SO_REUSEPORT).

uvicorn's own `--workers` shares one listening socket, and the worker that wakes first
accepts whatever is pending. A client that holds a few keep-alive connections (a lender's
connection pool, a proxy's upstream pool, a load generator) therefore often finds them
split very unevenly between the workers, and the busier worker then limits the whole.
With a socket per worker, the kernel spreads new connections over the workers by a hash
of their addresses: even on average, never all on one.

The parent only supervises: a worker that dies after it started serving is started again;
one that dies before it ever served (the app cannot load, the database URL is wrong) stops
the whole server with its exit code, rather than restarting in a loop.
SIGINT or SIGTERM stops every worker (each finishes the requests it has: uvicorn's graceful
shutdown) and then the parent. Before any worker starts, the port is bound once without
SO_REUSEPORT, so a port another program holds is a clear error, not a silent share.

With one worker, or where the platform has no SO_REUSEPORT, this is plain `uvicorn.run`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

APP = "scoring_api.main:create_app"
BACKLOG = 2048  # uvicorn's default


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    access_log: bool = True
    app: str = APP
    factory: bool = True


class PortInUseError(RuntimeError):
    """Another program listens on the port."""


def serve(options: ServeOptions) -> int:
    """Run the API until SIGINT/SIGTERM; the exit code (0, or a worker's that failed to start)."""
    import uvicorn

    if options.workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(
            options.app,
            factory=options.factory,
            host=options.host,
            port=options.port,
            workers=options.workers,
            log_level=options.log_level,
            access_log=options.access_log,
        )
        return 0
    try:
        _check_port_free(options.host, options.port)
    except PortInUseError as exc:
        print(f"credit-platform serve: {exc}", file=sys.stderr)
        return 1
    return Supervisor(options).run()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUseError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on host:port that other sockets of this user may share."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def _worker(options: ServeOptions, ready: Any) -> None:
    """One worker process: its own socket, one uvicorn server on it; `ready` is set once the
    app has started and the server accepts connections."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                ready.set()

    sock = listening_socket(options.host, options.port)
    config = uvicorn.Config(
        options.app,
        factory=options.factory,
        log_level=options.log_level,
        access_log=options.access_log,
        host=options.host,
    )
    Server(config).run(sockets=[sock])


class Supervisor:
    """Starts `workers` worker processes and keeps them running until told to stop."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[tuple[BaseProcess, Any]] = []  # (process, its ready event)
        self.stopping = threading.Event()

    def _start(self) -> tuple[BaseProcess, Any]:
        ready = self.context.Event()
        process = self.context.Process(target=_worker, args=(self.options, ready), daemon=False)
        process.start()
        return process, ready

    def _stop(self, *_args: Any) -> None:
        self.stopping.set()

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            print(
                f"credit-platform serve: {self.options.workers} workers on "
                f"http://{self.options.host}:{self.options.port} (a socket each, SO_REUSEPORT)",
                file=sys.stderr,
                flush=True,
            )
            self.workers = [self._start() for _ in range(self.options.workers)]
            while not self.stopping.wait(0.2):
                code = self._replace_dead()
                if code:
                    break
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def _replace_dead(self) -> int:
        """Restart workers that died while serving; a non-zero code if one failed to start."""
        for i, (process, ready) in enumerate(self.workers):
            if process.is_alive() or self.stopping.is_set():
                continue
            code = process.exitcode or 0
            if code == 0:  # a clean exit: it was told to stop (a signal to the process group)
                self.stopping.set()
                return 0
            if not ready.is_set():
                print(
                    f"credit-platform serve: worker {process.pid} exited with {code} while "
                    "starting; stopping",
                    file=sys.stderr,
                    flush=True,
                )
                return code or 1
            print(
                f"credit-platform serve: worker {process.pid} exited with {code}; starting another",
                file=sys.stderr,
                flush=True,
            )
            self.workers[i] = self._start()
        return 0

    def _shutdown(self, timeout: float = 30.0) -> None:
        for process, _ in self.workers:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes in-flight requests, then exits
        deadline = time.monotonic() + timeout
        for process, _ in self.workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `credit-platform serve` (and of `python -m scoring_api.serve`)."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes; with more than one, each listens on its own socket (SO_REUSEPORT) "
        "so the kernel spreads connections evenly",
    )
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", action="store_true")


def options_from(args: argparse.Namespace, app: str = APP, factory: bool = True) -> ServeOptions:
    return ServeOptions(
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=not args.no_access_log,
        app=app,
        factory=factory,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m scoring_api.serve [APP]`: any ASGI app the same way (the API benchmark serves
    its bare endpoint like this, so both sides run the same process model)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("app", nargs="?", default=APP, help=f"module:attribute (default {APP})")
    parser.add_argument("--no-factory", action="store_true", help="APP is an app, not a factory")
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    return serve(options_from(args, app=args.app, factory=not args.no_factory))


if __name__ == "__main__":
    raise SystemExit(main())
