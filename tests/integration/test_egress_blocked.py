"""Port 25 blocked on the probe's own network: real connect timeouts on loopback.

A listener whose accept queue is full drops new SYNs, so connecting to it
times out exactly as a filtered port 25 does. DNS (the lab's Knot) works; every
address of every MX host times out: the check must say the probe's network may
block port 25 (inconclusive), not blame the servers.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from bannercheck.codec import to_dict
from bannercheck.model import Report, Severity, StepStatus, Verdict
from bannercheck.scan import Limiter, check_domain, run_check

from tests.lab import Lab
from tests.reportcheck import assert_valid_report

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
    assert_valid_report(to_dict(report))
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
    assert_valid_report(to_dict(report))
    by_host = {s.host: s.status for s in report.sessions()}
    assert by_host == {
        "mx1.good.test": StepStatus.CONNECTION_TIMEOUT,
        "mx2.good.test": StepStatus.CONNECTION_REFUSED,
    }
    codes = {f.code for f in report.findings}
    assert {"SMTP_CONNECT_TIMEOUT", "SMTP_CONNECT_REFUSED"} <= codes
    assert "PROBE_EGRESS_BLOCKED" not in codes


async def _queued_behind_a_silent_server(lab: Lab) -> Report:
    """good.test with a tiny timeout, queued for the only session slot.

    silent.test's session holds the slot until its own (longer) deadline, so
    good.test's deadline passes before any of its sessions may start: the bulk-run
    case where sessions wait on the process-wide bound.
    """
    limiter = Limiter(1)
    silent_ip = lab.ip("mx.silent.test")
    before = lab.connections(silent_ip)
    holder = asyncio.create_task(
        check_domain("silent.test", lab.settings(timeout_s=2.0), limiter=limiter)
    )
    while lab.connections(silent_ip) == before:  # the slot is taken once it connected
        await asyncio.sleep(0.01)
    queued = await check_domain("good.test", lab.settings(timeout_s=0.6), limiter=limiter)
    assert_valid_report(to_dict(await holder))
    return queued


def test_deadline_spent_in_the_queue_is_not_blamed_on_anyone(lab: Lab) -> None:
    good = [ip for h in ("mx1.good.test", "mx2.good.test") for ip in lab.addresses(h)]
    before = {ip: lab.connections(ip) for ip in good}
    report = asyncio.run(_queued_behind_a_silent_server(lab))
    assert_valid_report(to_dict(report))
    sessions = report.sessions()
    assert len(sessions) == 2
    assert all(s.status is StepStatus.NOT_ATTEMPTED for s in sessions)
    assert {s.error for s in sessions} == {"deadline reached before connecting"}
    codes = {f.code for f in report.findings}
    assert "PROBE_NOT_ATTEMPTED" in codes
    assert not codes & {"PROBE_EGRESS_BLOCKED", "SMTP_CONNECT_TIMEOUT", "SMTP_NO_BANNER"}
    assert report.verdict is Verdict.INCONCLUSIVE
    assert {ip: lab.connections(ip) for ip in good} == before  # no connection was made
