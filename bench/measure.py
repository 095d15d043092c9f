"""Run a command and measure it: wall time, CPU seconds, peak RSS, RSS over time.

CPU comes from wait4(): the child's own time plus every descendant it waited
for (xargs waits for each swaks). RSS is sampled from /proc every SAMPLE_S as
the sum over the child and all its descendants, so 64 concurrent swaks count
as 64 processes, not as the largest one.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_S = 0.05
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    rss_timeline: tuple[tuple[float, float], ...] = ()  # (seconds, MB)


@dataclass(frozen=True)
class Stats:
    min: float
    median: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        return cls(min(values), statistics.median(values), max(values), len(values))

    def to_json(self) -> dict[str, float]:
        return {"min": self.min, "median": self.median, "max": self.max, "n": self.n}


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            found += [int(c) for c in Path(task.path, "children").read_text().split()]
    except (OSError, ValueError):
        pass  # the process ended while we looked
    return found


def _tree_rss_kb(root: int) -> int:
    """RSS of ``root`` and all its descendants (walking /proc/PID/task/TID/children)."""
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        total += rss_pages * _PAGE_KB
        stack += _children(pid)
    return total


@dataclass
class _Sampler:
    root: int
    started: float
    peak_kb: int = 0
    timeline: list[tuple[float, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            kb = _tree_rss_kb(self.root)
            self.peak_kb = max(self.peak_kb, kb)
            if kb:
                self.timeline.append((round(time.monotonic() - self.started, 3), kb / 1024))
            self.stop.wait(SAMPLE_S)


def measure(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    stdout_path: str | Path | None = None,
    timeout_s: float = 600.0,
) -> Run:
    """Run ``argv`` to completion; never raises for a failing command (see returncode).

    Measures must run one at a time: CPU is the growth of this process's
    RUSAGE_CHILDREN, which counts every child reaped meanwhile.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with open(stdout_path or os.devnull, "w") as sink:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=sink if stdout_path else subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=cwd,
            text=True,
        )
        sampler = _Sampler(popen.pid, started)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        timer = threading.Timer(timeout_s, _kill_group, (popen.pid,))
        timer.start()
        try:
            out, _ = popen.communicate()
        finally:
            timer.cancel()
            wall = time.monotonic() - started
            sampler.stop.set()
            thread.join()
            _kill_group(popen.pid)  # anything the command left behind
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(
        wall_s=wall,
        cpu_s=cpu,
        peak_rss_mb=sampler.peak_kb / 1024,
        returncode=popen.returncode,
        stdout=out or "",
        rss_timeline=tuple(sampler.timeline),
    )


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def find_python313() -> str | None:
    """A real CPython 3.13 (the Lambda runtime's version), as the layer build finds one.

    ``PY_RUNTIME`` first (the layer Makefile's variable), then pyenv's, then one on
    PATH; pyenv's shims need pyenv on PATH, so not those.
    """
    candidates = [os.environ.get("PY_RUNTIME", "")]
    candidates += [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))]
    candidates.append(shutil.which("python3.13") or "")
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and "shims" not in Path(candidate).parts:
            return candidate
    return None
