"""Real ``txguard serve`` processes on free loopback ports, always stopped by the test that started them."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .._postgres import run_database


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``txguard serve`` process and a client for it."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log
        self.client = httpx.Client(base_url=url, timeout=30)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_until(self, condition: Callable[[], bool], *, within: float, what: Callable[[], object] = lambda: "") -> None:
        """Poll ``condition`` until it holds. ``within`` only bounds a wait that would otherwise hang
        forever on a server that never gets there (every loop here stops by itself); it is a
        generous ceiling, not a measure of speed. Failing, it shows ``what`` and the server's log."""
        deadline = time.monotonic() + within
        while not condition():
            assert time.monotonic() < deadline, (what(), self.output())
            time.sleep(0.1)


@contextmanager
def serve(args: Sequence[str], log: Path, *, ready_timeout: float = 60) -> Iterator[Server]:
    """Start ``txguard serve ARGS --port FREE``, wait until ``/readyz`` answers 200, stop it afterwards."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "txguard.cli", "serve", *args, "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"txguard serve exited with {proc.returncode}:\n{server.output()}")
            try:
                if server.client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"txguard serve was not ready in {ready_timeout}s:\n{server.output()}")
            time.sleep(0.1)
        yield server
    finally:
        server.client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database of this run for one test, dropped afterwards; fails (never skips) in CI if unreachable."""
    with run_database("txguard_serve_test") as url:
        yield url
