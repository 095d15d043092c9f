"""``make run`` as a newcomer uses it: start, check a domain, stop, start again.

The command is the one the Makefile runs (``python -m bannercheck.local run``),
with a free port, the lab, and a data directory of the test's own.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Running:
    base: str
    key: str
    banner: str


@contextmanager
def local_stack(data: Path) -> Iterator[Running]:
    cmd = [sys.executable, "-u", "-m", "bannercheck.local", "run", "--port", "0", "--lab"]
    cmd += ["--data", str(data)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        assert ready.wait(120) and proc.poll() is None, "".join(lines[-40:])
        banner = "".join(lines)
        base = re.search(r"API\s+(http://127\.0\.0\.1:\d+)/checks", banner)
        key = re.search(r"x-api-key: ([\w-]+)\)", banner)
        assert base and key, banner
        yield Running(base.group(1), key.group(1), banner)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert code == 0, "".join(lines[-40:])
    assert "stopping" in "".join(lines)


def call(run: Running, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        run.base + path,
        data,
        {"x-api-key": run.key, "content-type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_make_run_checks_a_lab_domain_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    with local_stack(tmp_path) as run:
        assert "curl -s -X POST" in run.banner and "good.test" in run.banner
        status, report = call(run, "POST", "/checks", {"domain": "good.test"})
        assert status == 201, report
        assert report["dns"]["mx_status"] == "ok"
        assert call(run, "PUT", "/watches/single.test", {})[0] == 201
        tick = subprocess.run(
            [
                sys.executable,
                "-m",
                "bannercheck.local",
                "tick",
                "--port",
                run.base.rsplit(":", 1)[1],
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert tick.returncode == 0, tick.stderr
        assert json.loads(tick.stdout)["queued"] == 1
        first_key = run.key

    with local_stack(tmp_path) as again:
        assert again.key == first_key  # the local API key is kept too
        status, listing = call(again, "GET", "/checks/good.test")
        assert status == 200
        assert listing["latest"]["check_id"] == report["check_id"]
        watches = call(again, "GET", "/watches")[1]["watches"]
        assert [w["domain"] for w in watches] == ["single.test"]
        # Stopping waited for the probe the tick had started: its check was stored.
        status, scheduled = call(again, "GET", "/checks/single.test")
        assert status == 200, scheduled
        assert [h["source"] for h in scheduled["history"]] == ["schedule"]
        assert watches[0]["last_check_id"] == scheduled["latest"]["check_id"]
