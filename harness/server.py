"""A server process on a loopback port, stopped the same way everywhere.

It runs in a process group of its own (workers and `taskset` included), is
ready once its health route answers 200, and stops with SIGTERM to the
group, a wait, then SIGKILL. Its output goes to a log file or nowhere:
never a pipe, which fills up when nobody reads it and blocks the server.
"""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_of(port: int, path: str) -> int:
    """The status of GET `path` on 127.0.0.1:`port` (OSError: nothing answers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


class Server:
    """A started process serving on `port`; `with` stops it on the way out."""

    def __init__(self, argv: list[str], *, port: int, env: dict, cwd=None, log: Path | None = None):
        self.port, self.log = port, log
        self._output = log.open("wb") if log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_until_healthy(self, path: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.output()[-4000:]}")
            with contextlib.suppress(OSError):  # refused or reset: not yet
                if status_of(self.port, path) == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer {path} within {seconds} s")

    def terminate(self) -> None:
        """SIGTERM to the whole group, without waiting."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self, timeout: float = 30) -> str:
        """Stop (SIGTERM, then SIGKILL after `timeout` s); the output so far."""
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.log:
            self._output.close()
        return self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()


def serve(
    argv: list[str], *, port: int, env: dict, health: str = "/api/health", cwd=None, log=None
) -> Server:
    """Start `argv` (which listens on `port`) and wait until `health` answers 200."""
    server = Server(argv, port=port, env=env, cwd=cwd, log=log)
    try:
        server.wait_until_healthy(health)
    except BaseException:
        server.stop()
        raise
    return server
