"""A throwaway PostgreSQL cluster on loopback, from Debian's server binaries.

    python tests/pgcluster.py start DIR   # prints a postgresql+asyncpg:// URL
    python tests/pgcluster.py stop DIR

Used by .ci/run, by the template tests when no server is given, and by the
benchmark. Tuned for tests (no fsync): never for data you want to keep.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "256MB",
}


def bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def _version(path: str) -> int:
    return int(Path(path).parts[4]) if Path(path).parts[4].isdigit() else 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    # initdb and the server refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


def start(directory: str | Path) -> str:
    root = Path(directory).resolve()
    data = root / "data"
    if data.exists():
        shutil.rmtree(data)
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    binaries = bin_dir()
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = " ".join(f"-c {key}={value}" for key, value in SERVER_SETTINGS.items())
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {root} {options}",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    (root / "port").write_text(str(port))
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"


def stop(directory: str | Path) -> None:
    data = Path(directory).resolve() / "data"
    if data.exists():
        subprocess.run(
            _as_postgres([str(bin_dir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in {"start", "stop"}:
        sys.exit("usage: pgcluster.py start|stop DIR")
    if sys.argv[1] == "start":
        print(start(sys.argv[2]))
    else:
        stop(sys.argv[2])
