"""Partial upload files: named after the process writing them, swept once it is gone.

An upload streams into `.<id>.<host>-<pid>.part` and is renamed when complete
(upload_storage.py). A worker killed mid-upload (OOM, SIGKILL, a crash) leaves its
partial file behind; every worker sweeps, at start-up, those whose writer was
a process of this host that no longer runs. Files of other hosts (an upload
directory shared between instances) are left to their own hosts, or removed
once untouched for ORPHAN_SECONDS, for hosts that never come back.
"""

import logging
import os
import re
import socket
import time
from pathlib import Path

logger = logging.getLogger(__name__)

ORPHAN_SECONDS = 24 * 3600
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:64] or "host"


def partial_path(directory: Path, upload_id: str) -> Path:
    # The pid is read per file, not at import: workers fork after import.
    return directory / f".{upload_id}.{_HOST}-{os.getpid()}.part"


def _writer_gone(path: Path) -> bool:
    host, _, pid = path.name.split(".")[2].rpartition("-")
    if host != _HOST or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, run by another user
        return False
    return False


def sweep_partial_files(directory: Path) -> int:
    """Remove partial files left by dead writers; returns how many."""
    removed = 0
    orphaned = time.time() - ORPHAN_SECONDS
    for path in directory.glob(".*.part"):
        try:
            stale = path.name.count(".") == 3 and _writer_gone(path)
            if stale or path.stat().st_mtime < orphaned:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # finished or swept by another worker meanwhile
            continue
    if removed:
        logger.warning("removed %d partial upload file(s) left by stopped workers", removed)
    return removed
