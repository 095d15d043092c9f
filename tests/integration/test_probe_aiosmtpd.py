"""The probe against aiosmtpd, a third-party SMTP server, with STARTTLS and AUTH.

A second, independent implementation besides Postfix and the scripted peers:
what bannercheck records must not depend on the quirks of our own peers.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from bannercheck.checks import Context, run_checks
from bannercheck.model import Address, DnsResult, DnsStatus, MxHost, Session, StepStatus
from bannercheck.settings import Settings
from bannercheck.transport import probe

from tests.lab.pki import LabCA, TlsKind

pytestmark = pytest.mark.integration

HOST = "mx.aiosmtpd.test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Accept:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        raise AssertionError("the probe must never send DATA")


def _authenticator(*_args: object) -> object:
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=False)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return LabCA(tmp_path_factory.mktemp("aiosmtpd-ca"))


def _controller(ca: LabCA, *, auth_require_tls: bool) -> Controller:
    files = ca.issue(HOST, TlsKind.LAB_CA)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(files.cert), str(files.key))
    return Controller(
        _Accept(),
        hostname="127.0.0.1",
        port=_free_port(),
        server_hostname=HOST,
        tls_context=context,
        require_starttls=False,
        auth_require_tls=auth_require_tls,
        authenticator=_authenticator,
        ident="aiosmtpd test",
    )


@pytest.fixture
def server(request: pytest.FixtureRequest, ca: LabCA) -> Iterator[Controller]:
    controller = _controller(ca, auth_require_tls=request.param)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def _probe(controller: Controller, ca_file: Path) -> Session:
    settings = Settings(
        allow_private=True, smtp_port=controller.port, ca_file=str(ca_file), timeout_s=5
    )

    async def go() -> Session:
        loop = asyncio.get_running_loop()
        return await probe(HOST, "127.0.0.1", settings, loop.time() + 5)

    return asyncio.run(go())


def _findings(session: Session) -> set[str]:
    from datetime import datetime

    address = Address(ip="127.0.0.1", family=4, public=False, session=session)
    dns = DnsResult(
        mx_status=DnsStatus.OK,
        hosts=(MxHost(name=HOST, preference=10, addresses=(address,)),),
    )
    context = Context(
        domain="aiosmtpd.test",
        dns=dns,
        now=datetime.now(UTC),
        ehlo_name="probe.test",
        allow_private=True,
    )
    return {f.code for f in run_checks(context)}


@pytest.mark.parametrize("server", [True], indirect=True)
def test_starttls_then_auth_is_recorded_in_order(server: Controller, ca: LabCA) -> None:
    session = _probe(server, ca.ca_file)
    assert session.status is StepStatus.OK, session.error
    assert session.greeting is not None and session.greeting.code == 220
    before = {k.keyword for k in session.keywords}
    after = {k.keyword for k in session.keywords_tls}
    assert "STARTTLS" in before and "AUTH" not in before
    assert "AUTH" in after and "STARTTLS" not in after
    assert session.tls is not None and session.tls.chain_verified and session.tls.name_matches
    assert session.quit is not None and session.quit.code == 221
    codes = _findings(session)
    assert "TLS_OK" in codes
    assert not {"AUTH_BEFORE_TLS", "STARTTLS_MISSING", "STARTTLS_FAILED"} & codes


@pytest.mark.parametrize("server", [False], indirect=True)
def test_auth_offered_in_clear_is_reported(server: Controller, ca: LabCA) -> None:
    session = _probe(server, ca.ca_file)
    assert "AUTH" in {k.keyword for k in session.keywords}
    assert "AUTH_BEFORE_TLS" in _findings(session)
