"""The private-address guard refuses before any socket is opened.

DNS answers naming internal addresses are recorded data here, and the probe
is a recorder: no packet can leave for them, even if the guard were broken.
"""

import asyncio

import pytest
from bannercheck.model import Address, DnsResult, DnsStatus, MxHost, Session, StepStatus
from bannercheck.scan import Limiter, _probe_hosts
from bannercheck.settings import Settings

INTERNAL = [
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "100.64.0.1",
    "127.0.0.1",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "fd00::1",
    "fe80::1",
    "224.0.0.1",
]


def _dns(ips: list[str]) -> DnsResult:
    addresses = tuple(Address(ip=ip, family=6 if ":" in ip else 4, public=False) for ip in ips)
    return DnsResult(
        mx_status=DnsStatus.OK,
        hosts=(MxHost(name="mx.internal.example", preference=10, addresses=addresses),),
    )


class RecordingProbe:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, host: str, ip: str, settings: Settings, deadline: float) -> Session:
        self.calls.append(ip)
        return Session(host=host, ip=ip, port=25, status=StepStatus.OK)


def _run(settings: Settings, probe: RecordingProbe) -> DnsResult:
    async def go() -> DnsResult:
        loop = asyncio.get_running_loop()
        return await _probe_hosts(_dns(INTERNAL), settings, loop.time() + 5, Limiter(4), probe)

    return asyncio.run(go())


def test_internal_addresses_are_never_handed_to_the_transport() -> None:
    probe = RecordingProbe()
    result = _run(Settings(), probe)
    assert probe.calls == []
    sessions = [a.session for a in result.hosts[0].addresses]
    assert all(s is not None and s.status is StepStatus.NOT_ATTEMPTED for s in sessions)


def test_lab_mode_hands_them_over() -> None:
    probe = RecordingProbe()
    _run(Settings(allow_private=True), probe)
    assert sorted(probe.calls) == sorted(INTERNAL)


@pytest.mark.parametrize("ip", INTERNAL)
def test_transport_refuses_too(ip: str) -> None:
    """Defence in depth: the transport itself refuses without opening a socket."""
    from bannercheck import transport

    async def go() -> Session:
        loop = asyncio.get_running_loop()
        return await transport.probe("mx.internal.example", ip, Settings(), loop.time() + 1)

    session = asyncio.run(go())
    assert session.status is StepStatus.NOT_ATTEMPTED
    assert session.transcript == ()
