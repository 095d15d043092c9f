"""probe(...) — the only module that opens sockets.

One SMTP session per call, the way a sending MTA starts one: wait for the
whole greeting, EHLO (HELO if refused), STARTTLS when offered, EHLO again
(RFC 3207 §4.2), QUIT. Never MAIL, RCPT, DATA, VRFY or EXPN. Everything seen is
recorded; whatever the server does, the call returns a Session and never
raises for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ssl
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

from bannercheck.certs import to_certificate, to_name_matches
from bannercheck.model import (
    Direction,
    Reply,
    Session,
    Step,
    StepStatus,
    Timings,
    TlsInfo,
    TranscriptLine,
)
from bannercheck.netpolicy import may_connect
from bannercheck.replies import ReplyReader, ReplyTooLargeError, to_keywords
from bannercheck.settings import Settings

QUIT_TIMEOUT_S = 2.0


class SessionEndedError(Exception):
    """Internal: a step failed; the recorder holds status and reason."""


@dataclass
class _Recorder:
    """Mutable while the session runs; frozen into a Session at the end."""

    settings: Settings
    started: float
    lines: list[TranscriptLine] = field(default_factory=list)
    truncated: bool = False

    def now_ms(self) -> float:
        return round((asyncio.get_running_loop().time() - self.started) * 1000, 1)

    def add(self, direction: Direction, text: str) -> None:
        if len(self.lines) >= self.settings.max_transcript_lines:
            self.truncated = True
            return
        self.lines.append(TranscriptLine(self.now_ms(), direction, text))


def _tls_context(settings: Settings, verify: bool) -> ssl.SSLContext:
    return _cached_tls_context(settings.ca_file, verify)


def _load_system_cas(ctx: ssl.SSLContext) -> None:
    """Trust the system CAs, lazily where the platform allows.

    A hashed CA directory (Debian's /etc/ssl/certs) lets OpenSSL read only the
    CA a chain needs; the bundle file alone (Amazon Linux) is read whole.
    """
    capath = ssl.get_default_verify_paths().capath
    if capath and any(Path(capath).glob("*.0")):
        ctx.load_verify_locations(capath=capath)
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)


@functools.cache
def _cached_tls_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    # A plain client context: create_default_context() adds VERIFY_X509_STRICT
    # on Python 3.13, which rejects certificates that every MTA accepts and
    # would report them as untrusted. Built once per process.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        _load_system_cas(ctx)
    if ca_file:
        ctx.load_verify_locations(cafile=ca_file)
    # Names are judged by the checks (RFC 6125 matching on the recorded
    # certificate), so OpenSSL only judges the chain.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    # Offer old protocols too, so a server that only speaks them is seen and
    # reported (TLS_PROTOCOL_OUTDATED) rather than failing the handshake.
    with warnings.catch_warnings(), contextlib.suppress(ValueError, ssl.SSLError):
        warnings.simplefilter("ignore", DeprecationWarning)  # deliberate, see above
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


class _Session:
    """One conversation; methods raise SessionEndedError to stop early."""

    def __init__(self, host: str, ip: str, port: int, settings: Settings, deadline: float) -> None:
        self.host, self.ip, self.port = host, ip, port
        self.settings = settings
        self.deadline = deadline
        loop = asyncio.get_running_loop()
        self.rec = _Recorder(settings, loop.time())
        self.status = StepStatus.OK
        self.failed_step: Step | None = None
        self.error: str | None = None
        self.timings: dict[str, float] = {}
        self.replies: dict[str, Reply] = {}
        self.tls: TlsInfo | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.ehlo_command: str | None = None
        self.connected_at = 0.0
        self.verify_error: str | None = None  # why OpenSSL refused the chain

    # -- plumbing ---------------------------------------------------------------
    def remaining(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    def fail(self, step: Step, status: StepStatus, error: str) -> SessionEndedError:
        self.status, self.failed_step, self.error = status, step, error
        self.rec.add(Direction.EVENT, f"{step.value}: {status.value}: {error}")
        return SessionEndedError(error)

    def send(self, line: str) -> None:
        assert self.writer is not None
        self.rec.add(Direction.SENT, line)
        self.writer.write(line.encode("ascii") + b"\r\n")

    async def read_reply(self, step: Step, timeout: float) -> Reply:
        assert self.reader is not None
        reader = ReplyReader(self.reader, self.settings)
        limit = min(timeout, self.remaining())
        if limit <= 0:
            # The check's own budget ran out before the server had any time to
            # answer (slow DNS, a queue for a session slot): not the server's fault.
            raise self.fail(
                step, StepStatus.NOT_ATTEMPTED, f"deadline reached before the {step.value} reply"
            )
        try:
            # asyncio.timeout, not wait_for: no extra task per reply (hot path).
            async with asyncio.timeout(limit):
                reply = await reader.read_reply()
        except TimeoutError:
            self._record_partial(reader)
            raise self.fail(
                step, StepStatus.IO_TIMEOUT, f"no complete reply within {limit:.1f}s"
            ) from None
        except ReplyTooLargeError as exc:
            self._record_partial(reader)
            raise self.fail(step, StepStatus.PROTOCOL_ERROR, str(exc)) from None
        except (ConnectionResetError, BrokenPipeError) as exc:
            self._record_partial(reader)
            raise self.fail(step, StepStatus.CONNECTION_RESET, _oserror_text(exc)) from None
        except ssl.SSLError as exc:
            self._record_partial(reader)
            raise self.fail(step, StepStatus.TLS_ERROR, _ssl_text(exc)) from None
        except OSError as exc:
            self._record_partial(reader)
            raise self.fail(step, StepStatus.NETWORK_ERROR, _oserror_text(exc)) from None
        for line in reply.lines:
            self.rec.add(Direction.RECEIVED, line)
        if reply.code is None and reply.lines:
            raise self.fail(step, StepStatus.PROTOCOL_ERROR, "reply does not start with a code")
        if reader.closed:
            if reply.lines:
                self.replies.setdefault(step.value, reply)
            raise self.fail(step, StepStatus.CLOSED, "connection closed by the server")
        if reply.truncated:
            self.replies[step.value] = reply
            raise self.fail(step, StepStatus.PROTOCOL_ERROR, "reply over the size limits")
        return reply

    def _record_partial(self, reader: ReplyReader) -> None:
        for line in reader.partial_lines():
            self.rec.add(Direction.RECEIVED, line)

    async def drain(self, step: Step) -> None:
        assert self.writer is not None
        try:
            async with asyncio.timeout(max(0.05, self.remaining())):
                await self.writer.drain()
        except TimeoutError:
            raise self.fail(step, StepStatus.IO_TIMEOUT, "server stopped reading") from None
        except OSError as exc:
            raise self.fail(step, StepStatus.CONNECTION_RESET, _oserror_text(exc)) from None

    # -- steps ------------------------------------------------------------------
    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        limit = min(self.settings.connect_timeout_s, self.remaining())
        if limit <= 0:
            # Slow DNS or a wait for a session slot used the deadline up: nothing
            # was sent, so nothing may be said about the server or the network.
            raise self.fail(
                Step.CONNECT, StepStatus.NOT_ATTEMPTED, "deadline reached before connecting"
            )
        self.rec.add(Direction.EVENT, f"connect {self.ip} port {self.port}")
        try:
            # asyncio.timeout rather than wait_for here and below: no extra
            # task per step (a bulk run's hot path).
            async with asyncio.timeout(limit):
                self.reader, self.writer = await asyncio.open_connection(
                    self.ip, self.port, limit=self.settings.max_line_bytes * 2
                )
        except TimeoutError:
            raise self.fail(
                Step.CONNECT, StepStatus.CONNECTION_TIMEOUT, f"no answer within {limit:.1f}s"
            ) from None
        except ConnectionRefusedError:
            raise self.fail(
                Step.CONNECT, StepStatus.CONNECTION_REFUSED, "connection refused"
            ) from None
        except OSError as exc:
            status = (
                StepStatus.CONNECTION_TIMEOUT
                if exc.errno == errno.ETIMEDOUT
                else StepStatus.NETWORK_ERROR
            )
            raise self.fail(Step.CONNECT, status, _oserror_text(exc)) from None
        self.timings["connect_ms"] = _ms(loop.time() - start)
        self.connected_at = loop.time()

    async def greeting(self) -> Reply:
        # The greeting may take as long as the deadline allows: tarpits and
        # postscreen delay it on purpose, and slow is not missing.
        reply = await self.read_reply(Step.GREETING, self.remaining())
        self.timings["greeting_ms"] = _ms(asyncio.get_running_loop().time() - self.connected_at)
        self.replies["greeting"] = reply
        return reply

    async def command(self, step: Step, line: str, timeout: float | None = None) -> Reply:
        self.send(line)
        await self.drain(step)
        return await self.read_reply(step, timeout or self.settings.command_timeout_s)

    async def hello(self) -> Reply:
        loop = asyncio.get_running_loop()
        start = loop.time()
        name = self.settings.ehlo_name
        reply = await self.command(Step.EHLO, f"EHLO {name}")
        self.replies["ehlo"] = reply
        self.ehlo_command = "EHLO"
        if reply.code is not None and 500 <= reply.code < 600:
            # RFC 5321 §4.1.4: a server that does not know EHLO answers 5xx;
            # fall back to HELO as a sending MTA would.
            self.replies["ehlo_rejected"] = reply
            reply = await self.command(Step.HELO, f"HELO {name}")
            self.replies["ehlo"] = reply
            self.ehlo_command = "HELO"
        self.timings["ehlo_ms"] = _ms(loop.time() - start)
        return reply

    async def starttls(self, verify: bool) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        reply = await self.command(Step.STARTTLS, "STARTTLS")
        self.replies["starttls"] = reply
        if reply.code != 220:
            return  # the server said no: recorded in the reply, judged by the checks
        assert self.writer is not None
        ctx = _tls_context(self.settings, verify)
        self.rec.add(Direction.EVENT, f"TLS handshake (SNI {self.host}, verify={verify})")
        try:
            async with asyncio.timeout(
                max(0.05, min(self.settings.command_timeout_s, self.remaining()))
            ):
                await self.writer.start_tls(ctx, server_hostname=self.host)
        except ssl.SSLCertVerificationError as exc:
            self.verify_error = exc.verify_message or "certificate verify failed"
            raise self.fail(
                Step.TLS_HANDSHAKE, StepStatus.TLS_ERROR, f"verify: {exc.verify_message}"
            ) from None
        except ssl.SSLError as exc:
            raise self.fail(Step.TLS_HANDSHAKE, StepStatus.TLS_ERROR, _ssl_text(exc)) from None
        except TimeoutError:
            raise self.fail(
                Step.TLS_HANDSHAKE, StepStatus.IO_TIMEOUT, "TLS handshake did not finish"
            ) from None
        except (ConnectionError, OSError) as exc:
            raise self.fail(
                Step.TLS_HANDSHAKE, StepStatus.TLS_ERROR, _oserror_text(exc) or "closed"
            ) from None
        self.timings["tls_ms"] = _ms(loop.time() - start)
        ssl_object = self.writer.get_extra_info("ssl_object")
        self.tls = _to_tls_info(ssl_object, self.host, verified=verify)
        version = self.tls.version if self.tls else "?"
        cipher = self.tls.cipher if self.tls else "?"
        self.rec.add(Direction.EVENT, f"TLS established: {version} {cipher}")

    async def quit(self) -> None:
        before = (self.status, self.failed_step, self.error)
        try:
            reply = await self.command(Step.QUIT, "QUIT", QUIT_TIMEOUT_S)
            self.replies["quit"] = reply
        except SessionEndedError:
            # A missing 221 (or a server that never closes) changes nothing
            # already learnt; the transcript shows it.
            self.status, self.failed_step, self.error = before

    async def close(self) -> None:
        if self.writer is None:
            return
        self.writer.close()
        with contextlib.suppress(TimeoutError, OSError, ssl.SSLError):
            async with asyncio.timeout(0.5):
                await self.writer.wait_closed()
        self.rec.add(Direction.EVENT, "closed")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _oserror_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _ssl_text(exc: ssl.SSLError) -> str:
    return exc.reason or str(exc) or "TLS error"


def _to_tls_info(ssl_object: ssl.SSLObject | None, host: str, *, verified: bool) -> TlsInfo | None:
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    certificate = to_certificate(der) if der else None
    cipher = ssl_object.cipher()
    return TlsInfo(
        version=ssl_object.version(),
        cipher=cipher[0] if cipher else None,
        cipher_bits=cipher[2] if cipher else None,
        sni=host,
        certificate=certificate,
        chain_length=_chain_length(ssl_object),
        chain_verified=verified,
        verify_error=None,
        name_matches=to_name_matches(certificate, host) if certificate else False,
    )


def _chain_length(ssl_object: ssl.SSLObject) -> int | None:
    # Public from Python 3.13 (the Lambda runtime); older versions: unknown.
    get_chain = getattr(ssl_object, "get_unverified_chain", None)
    if get_chain is None:
        return None
    try:
        return len(get_chain() or ())
    except (ssl.SSLError, ValueError):
        return None


def not_attempted(host: str, ip: str, port: int, reason: str) -> Session:
    """The session of an address the guard refused: no socket was opened."""
    return Session(
        host=host,
        ip=ip,
        port=port,
        status=StepStatus.NOT_ATTEMPTED,
        failed_step=Step.CONNECT,
        error=reason,
    )


async def _run(s: _Session, verify: bool) -> None:
    await s.connect()
    greeting = await s.greeting()
    if greeting.code != 220:
        # RFC 5321 §3.1: after a 554 (or 4xx) greeting the client sends QUIT.
        await s.quit()
        return
    hello = await s.hello()
    if hello.code != 250:
        await s.quit()
        return
    if s.ehlo_command == "EHLO" and any(k.keyword == "STARTTLS" for k in to_keywords(hello)):
        await s.starttls(verify)
        if s.tls is not None:
            reply = await s.command(Step.EHLO_TLS, f"EHLO {s.settings.ehlo_name}")
            s.replies["ehlo_tls"] = reply
    await s.quit()


def _to_session(s: _Session) -> Session:
    replies = s.replies
    ehlo = replies.get("ehlo")
    ehlo_tls = replies.get("ehlo_tls")
    loop = asyncio.get_running_loop()
    return Session(
        host=s.host,
        ip=s.ip,
        port=s.port,
        status=s.status,
        failed_step=s.failed_step,
        error=s.error,
        timings=Timings(
            connect_ms=s.timings.get("connect_ms"),
            greeting_ms=s.timings.get("greeting_ms"),
            ehlo_ms=s.timings.get("ehlo_ms"),
            tls_ms=s.timings.get("tls_ms"),
            total_ms=_ms(loop.time() - s.rec.started),
        ),
        greeting=replies.get("greeting"),
        ehlo_command=s.ehlo_command,
        ehlo=ehlo,
        ehlo_rejected=replies.get("ehlo_rejected"),
        keywords=to_keywords(ehlo) if ehlo is not None and ehlo.code == 250 else (),
        starttls=replies.get("starttls"),
        tls=s.tls,
        ehlo_tls=ehlo_tls,
        keywords_tls=to_keywords(ehlo_tls) if ehlo_tls and ehlo_tls.code == 250 else (),
        quit=replies.get("quit"),
        transcript=tuple(s.rec.lines),
        transcript_truncated=s.rec.truncated,
    )


async def _attempt(
    host: str, ip: str, port: int, settings: Settings, deadline: float, verify: bool
) -> _Session:
    s = _Session(host, ip, port, settings, deadline)
    try:
        await _run(s, verify)
    except SessionEndedError:
        pass
    finally:
        await s.close()
    return s


async def probe(host: str, ip: str, settings: Settings, deadline: float) -> Session:
    """Talk SMTP to ``ip`` (a address of MX ``host``) until done or ``deadline``.

    When the certificate chain does not verify, the handshake fails by design
    (OpenSSL judges it); a second, unverifying session then records the
    certificate and what follows TLS, so a broken chain is reported with its
    details instead of as a failed STARTTLS.
    """
    port = settings.smtp_port
    if not may_connect(ip, settings.allow_private, settings.private_networks):
        return not_attempted(host, ip, port, "address is not public")
    try:
        first = await _attempt(host, ip, port, settings, deadline, verify=True)
        session = _to_session(first)
        verify_error = first.verify_error
        if verify_error is None:
            return session
        second = await _attempt(host, ip, port, settings, deadline, verify=False)
        retry = _to_session(second)
        if retry.status is StepStatus.NOT_ATTEMPTED and retry.failed_step is Step.CONNECT:
            return session  # no time left for the retry: the first session is all we saw
        tls = replace(retry.tls, verify_error=verify_error) if retry.tls else None
        # One timeline for the whole exchange: the retry's lines count from the
        # first session's start, like every other line of the transcript.
        offset_ms = _ms(second.rec.started - first.rec.started)
        shifted = tuple(
            replace(line, t_ms=round(line.t_ms + offset_ms, 1)) for line in retry.transcript
        )
        return replace(
            retry,
            tls=tls,
            transcript=session.transcript + shifted,
            transcript_truncated=session.transcript_truncated or retry.transcript_truncated,
            timings=replace(retry.timings, total_ms=_plus_ms(retry.timings.total_ms, offset_ms)),
        )
    except Exception as exc:  # noqa: BLE001 - our own bug must not end the check
        return replace(
            not_attempted(host, ip, port, f"internal error: {type(exc).__name__}: {exc}"),
            status=StepStatus.INTERNAL_ERROR,
        )


def _plus_ms(value: float | None, offset_ms: float) -> float | None:
    return None if value is None else round(value + offset_ms, 1)
