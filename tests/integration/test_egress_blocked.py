"""Port 25 blocked on the probe's own network: real connect timeouts on loopback.

A listener whose accept queue is full drops new SYNs, so connecting to it
times out exactly as a filtered port 25 does. DNS (the lab's Knot) works; every
address of every MX host times out: the check must say the probe's network may
block port 25 (inconclusive), not blame the servers.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from bannercheck.model import Severity, StepStatus, Verdict
from bannercheck.scan import run_check

from tests.lab import Lab

pytestmark = pytest.mark.integration


def _blackhole(stack: ExitStack, ip: str, port: int) -> None:
    listener = stack.enter_context(socket.socket())
    listener.bind((ip, port))
    listener.listen(0)
    filler = stack.enter_context(socket.socket())
    filler.connect((ip, port))  # the queue is now full: further SYNs are dropped


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as opened:
        yield opened


def test_all_connects_timing_out_is_egress_blocked(lab: Lab, stack: ExitStack) -> None:
    port = _free_port()
    for host in ("mx1.good.test", "mx2.good.test"):
        for ip in lab.addresses(host):
            _blackhole(stack, ip, port)
    settings = lab.settings(allow_private=True, smtp_port=port, connect_timeout_s=0.5)
    report = run_check("good.test", settings)
    sessions = report.sessions()
    assert len(sessions) == 2
    assert all(s.status is StepStatus.CONNECTION_TIMEOUT for s in sessions)
    codes = {f.code: f for f in report.findings}
    assert codes["PROBE_EGRESS_BLOCKED"].severity is Severity.INCONCLUSIVE
    assert report.verdict is Verdict.INCONCLUSIVE
    assert not [f for f in report.findings if f.severity is Severity.FAIL]


def test_a_refusal_proves_the_path_is_open(lab: Lab, stack: ExitStack) -> None:
    """mx1 times out, mx2 refuses (RST): port 25 does leave our network, so the
    timeout is the server's, and there is no egress finding."""
    port = _free_port()
    for ip in lab.addresses("mx1.good.test"):
        _blackhole(stack, ip, port)
    settings = lab.settings(allow_private=True, smtp_port=port, connect_timeout_s=0.5)
    report = run_check("good.test", settings)
    by_host = {s.host: s.status for s in report.sessions()}
    assert by_host == {
        "mx1.good.test": StepStatus.CONNECTION_TIMEOUT,
        "mx2.good.test": StepStatus.CONNECTION_REFUSED,
    }
    codes = {f.code for f in report.findings}
    assert {"SMTP_CONNECT_TIMEOUT", "SMTP_CONNECT_REFUSED"} <= codes
    assert "PROBE_EGRESS_BLOCKED" not in codes
