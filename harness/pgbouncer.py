"""A PgBouncer in transaction pooling mode in front of a PostgreSQL server.

start() runs Debian's `pgbouncer` on a free loopback port, forwarding every
database name to the server at the URL it is given, and returns the URL of
the same database through the pooler; stop() ends it. Four server
connections per database and user, shared by every client transaction: the
mode in which prepared statements and session state do not survive
between transactions, which is what the service must cope with.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from harness.server import free_port

CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {home}/userlist.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 500
logfile = {home}/pgbouncer.log
pidfile = {home}/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
"""


def available() -> bool:
    return shutil.which("pgbouncer") is not None


def start(directory: Path, postgres_url: str) -> str:
    """Start PgBouncer in front of the server of `postgres_url`; the URL of the
    same database through it. `directory` remembers where it runs, for stop()."""
    server = urlsplit(postgres_url)
    listen_port = free_port()
    # PgBouncer refuses to run as root: as root it runs as `postgres`, which
    # must reach its files (pytest's directories are private to root).
    home = Path(tempfile.mkdtemp(prefix="lean-fastapi-pgbouncer-"))
    Path(directory, "pgbouncer").write_text(str(home))
    config = home / "pgbouncer.ini"
    config.write_text(
        CONFIG.format(host=server.hostname, port=server.port, listen_port=listen_port, home=home)
    )
    (home / "userlist.txt").write_text(f'"{server.username}" ""\n')
    command = ["pgbouncer", "-d", str(config)]
    if os.geteuid() == 0:
        for path in (home, *home.iterdir()):
            shutil.chown(path, "postgres", "postgres")
        command[1:1] = ["-u", "postgres"]
    subprocess.run(command, check=True, capture_output=True, timeout=30)
    _wait_for(listen_port)
    return server._replace(netloc=f"{server.username}@127.0.0.1:{listen_port}").geturl()


def stop(directory: Path) -> None:
    """Stop the PgBouncer start() ran from `directory` (SIGINT: at once,
    dropping its connections) and remove its files."""
    record = Path(directory, "pgbouncer")
    if not record.exists():
        return
    home = Path(record.read_text())
    pid_file = home / "pgbouncer.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    shutil.rmtree(home, ignore_errors=True)
    record.unlink()


def log(directory: Path) -> str:
    home = Path(Path(directory, "pgbouncer").read_text())
    log_file = home / "pgbouncer.log"
    return log_file.read_text() if log_file.exists() else ""


def _wait_for(port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PgBouncer does not listen on port {port}") from None
            time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
