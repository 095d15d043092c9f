"""The deployed default never connects to loopback: tested for real.

Lab DNS answers name loopback addresses (127.x, ::1, ::ffff:127.x) where a
server listens; without --allow-private that server must see no connection.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from bannercheck.codec import to_dict
from bannercheck.model import StepStatus
from bannercheck.scan import run_check
from bannercheck.settings import Settings

from tests.reportcheck import assert_valid_report

pytestmark = pytest.mark.integration


def _deployed(lab: Any) -> Settings:
    # What the service runs with, except for the resolver pointing at the lab.
    return Settings(timeout_s=3.0, resolver=lab.resolver, dns_try_timeout_s=1.0)


@pytest.mark.parametrize("domain", ["single.test", "good.test", "mapped.test"])
def test_loopback_targets_are_refused_before_connecting(lab: Any, domain: str) -> None:
    before = {ip: lab.connections(ip) for ip in lab.peer_ips()}
    report = run_check(domain, _deployed(lab))
    assert_valid_report(to_dict(report))
    codes = {f.code for f in report.findings}
    assert "ADDRESS_NOT_PUBLIC" in codes
    sessions = report.sessions()
    assert sessions and all(s.status is StepStatus.NOT_ATTEMPTED for s in sessions)
    assert all(s.transcript == () for s in sessions)
    after = {ip: lab.connections(ip) for ip in lab.peer_ips()}
    assert after == before


class _Listener:
    """A TCP listener on port 25 of ``host`` ([::1] or 127.0.0.1) that counts connections."""

    def __init__(self, host: str = "::1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 25))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def v6_listener() -> Iterator[_Listener]:
    listener = _Listener()
    try:
        yield listener
    finally:
        listener.close()


@pytest.mark.xdist_group("ipv6-loopback-25")
def test_ipv6_loopback_is_refused(lab: Any, v6_listener: _Listener) -> None:
    report = run_check("v6.test", _deployed(lab))
    assert_valid_report(to_dict(report))
    assert "ADDRESS_NOT_PUBLIC" in {f.code for f in report.findings}
    assert v6_listener.accepted == 0
    # And the listener is real: the lab mode does connect to it.
    lab_mode = run_check("v6.test", _deployed(lab).with_(allow_private=True, timeout_s=1.0))
    assert_valid_report(to_dict(lab_mode))
    assert v6_listener.accepted >= 1


@pytest.fixture
def v4_listener() -> Iterator[_Listener]:
    listener = _Listener("127.0.0.1")
    try:
        yield listener
    finally:
        listener.close()


@pytest.mark.xdist_group("ipv4-loopback-25")
@pytest.mark.parametrize("domain", ["loop4.test", "loopmapped.test"])
def test_literal_loopback_is_refused(lab: Any, v4_listener: _Listener, domain: str) -> None:
    """127.0.0.1 and ::ffff:127.0.0.1, as DNS gives them: the listener sees nothing."""
    report = run_check(domain, _deployed(lab))
    assert_valid_report(to_dict(report))
    assert "ADDRESS_NOT_PUBLIC" in {f.code for f in report.findings}
    assert [s.status for s in report.sessions()] == [StepStatus.NOT_ATTEMPTED]
    assert v4_listener.accepted == 0
    # And the listener is real: the lab mode reaches it by either spelling.
    lab_mode = run_check(domain, _deployed(lab).with_(allow_private=True, timeout_s=1.0))
    assert_valid_report(to_dict(lab_mode))
    assert v4_listener.accepted >= 1
