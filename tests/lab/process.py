"""Child processes of the lab (knotd, Postfix master), stopped whatever happens.

Each child runs in its own session, so stopping it also stops what it spawned
(Postfix's smtpd, tlsmgr, ...). An atexit hook stops anything a crashed test left.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path


class LabError(RuntimeError):
    """The lab could not start (missing package, busy address, a server that died)."""


_running: set[Process] = set()
_running_lock = threading.Lock()


class Process:
    """A started child with its output in a log file."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.popen = popen
        self.log = log

    @classmethod
    def start(
        cls, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
    ) -> Process:
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        process = cls(name, popen, log)
        with _running_lock:
            _running.add(process)
        return process

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def raise_if_exited(self) -> None:
        if self.popen.poll() is not None:
            raise LabError(
                f"{self.name} exited with status {self.popen.returncode}:\n{self.tail()}"
            )

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM the child's process group, SIGKILL it after ``grace_s``."""
        with _running_lock:
            _running.discard(self)
        self._signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.popen.wait(timeout=5)
        # Children of the group that outlived their leader (Postfix daemons).
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        # The group id is the child's pid (start_new_session); it is ours alone.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)


def _stop_all() -> None:
    with _running_lock:
        leftovers = list(_running)
    for process in leftovers:
        with contextlib.suppress(Exception):
            process.stop(grace_s=1.0)


atexit.register(_stop_all)


def wait_for(predicate: object, timeout_s: float, what: str) -> None:
    """Poll ``predicate()`` until true, or raise LabError naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise LabError(f"timed out after {timeout_s} s waiting for {what}")
