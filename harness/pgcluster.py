"""A throwaway PostgreSQL cluster on loopback, from Debian's server binaries.

    python3 harness/pgcluster.py start DIR   # prints a postgresql+asyncpg:// URL
    python3 harness/pgcluster.py stop DIR

The server accepts TLS with a self-signed certificate for `localhost`,
whose copy DIR/root.crt clients use as their root (when openssl exists).

Used by .ci/run, by the template tests when no server is given, and by the
benchmark. Tuned for tests (no fsync): never for data you want to keep.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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


def _free_port() -> int:
    # Not harness.server's: this file also runs as a script, where the
    # package is not importable.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    # initdb and the server refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


def start(directory: str | Path) -> str:
    """Start a cluster; `directory` remembers where it lives, for stop()."""
    root = Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True)
    # The server runs as `postgres`, which must reach its files: keep them in
    # a directory of their own under the system temp dir, whatever the
    # permissions of the caller's directory (pytest's are private to root).
    home = Path(tempfile.mkdtemp(prefix="lean-fastapi-pg-"))
    (root / "cluster").write_text(str(home))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    data = home / "data"
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
    settings = dict(SERVER_SETTINGS)
    if _make_certificate(data, root / "root.crt"):
        settings["ssl"] = "on"
    port = _free_port()
    options = " ".join(f"-c {key}={value}" for key, value in settings.items())
    (root / "options").write_text(f"-p {port} -k {home} {options}")
    resume(root)
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"


def pause(directory: str | Path) -> None:
    """Stop the server, keeping its data: the database "goes down"."""
    home = Path((Path(directory).resolve() / "cluster").read_text())
    _pg_ctl(home, "-m", "fast", "stop")


def resume(directory: str | Path) -> None:
    """Start the server again, on the same port, with the same data."""
    root = Path(directory).resolve()
    home = Path((root / "cluster").read_text())
    _pg_ctl(home, "-l", str(home / "server.log"), "-o", (root / "options").read_text(), "start")


def freeze(directory: str | Path) -> None:
    """SIGSTOP the server and its backends: connected, but never answering."""
    for pid in _server_pids(directory):
        os.kill(pid, signal.SIGSTOP)


def thaw(directory: str | Path) -> None:
    for pid in _server_pids(directory):
        os.kill(pid, signal.SIGCONT)


def _server_pids(directory: str | Path) -> list[int]:
    home = Path((Path(directory).resolve() / "cluster").read_text())
    postmaster = int((home / "data" / "postmaster.pid").read_text().split()[0])
    children = [
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if _parent_of(stat) == postmaster
    ]
    return [postmaster, *children]


def _parent_of(stat: Path) -> int | None:
    try:  # "pid (name) state ppid ...": the name may hold spaces
        return int(stat.read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _pg_ctl(home: Path, *args: str) -> None:
    command = [str(bin_dir() / "pg_ctl"), "-D", str(home / "data"), "-w", "-t", "60", *args]
    subprocess.run(_as_postgres(command), check=True, capture_output=True)


def _make_certificate(data: Path, root_cert: Path) -> bool:
    """A self-signed certificate for `localhost`, so TLS can be tested with
    verify-full; its copy at `root_cert` is the clients' root. False (and the
    server runs without TLS) when openssl is missing."""
    openssl = shutil.which("openssl")
    if not openssl:
        return False
    certificate, key = data / "server.crt", data / "server.key"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(certificate),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    if os.geteuid() == 0:
        for path in (certificate, key):
            shutil.chown(path, "postgres", "postgres")
    shutil.copyfile(certificate, root_cert)
    return True


def create_database(python: str | Path, url: str, name: str) -> str:
    """A new, empty database `name` on the server at `url`; its URL. `python`
    runs the program that makes it: an interpreter with asyncpg (the system
    python3 that runs this file as a script may not have it)."""
    program = Path(__file__).resolve().parent / "programs" / "create_database.py"
    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    subprocess.run([str(python), str(program), plain, name], check=True, timeout=60)
    return f"{url.rpartition('/')[0]}/{name}"


def stop(directory: str | Path) -> None:
    pointer = Path(directory).resolve() / "cluster"
    if not pointer.exists():
        return
    home = Path(pointer.read_text())
    if (home / "data" / "postmaster.pid").exists():
        with contextlib.suppress(subprocess.CalledProcessError):
            _pg_ctl(home, "-m", "fast", "stop")
    shutil.rmtree(home, ignore_errors=True)
    pointer.unlink()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in {"start", "stop"}:
        sys.exit("usage: harness/pgcluster.py start|stop DIR")
    if sys.argv[1] == "start":
        print(start(sys.argv[2]))
    else:
        stop(sys.argv[2])
