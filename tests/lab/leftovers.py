"""Labs whose owner died without stopping them (SIGKILL, OOM killer): find and remove them.

Each lab directory records its owner (pid and start time, so a reused pid does not look
alive) and the process groups it started. A sweep kills a group only if its leader's
command line names that very directory: never anything else on the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

DIR_PREFIX = "bannercheck-lab-"
OWNER_FILE = "owner"
PIDS_FILE = "pids"
_YOUNG_S = 60.0  # a directory without an owner file this young may be starting right now


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime), counted after the parenthesised command name.
    return stat.rsplit(")", 1)[1].split()[19]


def record_owner(directory: Path) -> None:
    pid = os.getpid()
    (directory / OWNER_FILE).write_text(f"{pid} {_start_time(pid)}\n")


def record_child(directory: Path, pid: int) -> None:
    with (directory / PIDS_FILE).open("a") as out:
        out.write(f"{pid}\n")


def _owner_alive(directory: Path) -> bool:
    try:
        pid_text, started = (directory / OWNER_FILE).read_text().split()
    except (OSError, ValueError):
        return time.time() - directory.stat().st_mtime < _YOUNG_S
    return _start_time(int(pid_text)) == started


def _kill_children(directory: Path) -> None:
    try:
        pids = [int(line) for line in (directory / PIDS_FILE).read_text().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if str(directory).encode() in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def sweep(tmp: Path | None = None) -> list[Path]:
    """Stop and remove labs whose owner process is gone; return their directories."""
    removed = []
    for directory in Path(tmp or tempfile.gettempdir()).glob(DIR_PREFIX + "*"):
        try:
            if not directory.is_dir() or _owner_alive(directory):
                continue
        except OSError:
            continue  # removed meanwhile
        _kill_children(directory)
        shutil.rmtree(directory, ignore_errors=True)
        removed.append(directory)
    return removed
