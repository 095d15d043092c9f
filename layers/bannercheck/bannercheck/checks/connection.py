"""Judgement of how each session ended: connect, greeting, mid-session drops.

TLS-step endings (STARTTLS, handshake, EHLO after TLS) belong to ``tls.py``;
a failed QUIT is not judged (many servers just close).
"""

from __future__ import annotations

from collections.abc import Iterator

from bannercheck.checks import catalog as c
from bannercheck.checks.context import Context
from bannercheck.checks.walk import is_complete_reply, to_evidence_line, to_sessions
from bannercheck.model import Direction, Finding, Session, Step, StepStatus

_TLS_STEPS = (Step.STARTTLS, Step.TLS_HANDSHAKE, Step.EHLO_TLS)
_DROPPED = (
    StepStatus.IO_TIMEOUT,
    StepStatus.CLOSED,
    StepStatus.CONNECTION_RESET,
    StepStatus.NETWORK_ERROR,  # after connecting: the connection broke
)
# Outcomes that say nothing about the server if the probe cannot reach port 25.
_EGRESS_LIKE = (StepStatus.CONNECTION_TIMEOUT, StepStatus.NETWORK_ERROR)


def _where(session: Session) -> str:
    return f"{session.ip} port {session.port}"


def _evidence(session: Session, what: str) -> str:
    detail = f": {session.error}" if session.error else ""
    return f"{what} {_where(session)}{detail}"


def _last_received(session: Session) -> str | None:
    received = [t.text for t in session.transcript if t.direction is Direction.RECEIVED]
    return received[-1] if received else None


def is_egress_blocked(ctx: Context) -> bool:
    """Every attempted connection timed out (or had no route) and at least one timed out.

    A refusal proves packets reach the server, so a single refused or connected
    session means the probe's own network lets port 25 out.
    """
    attempted = [s for _h, _a, s in to_sessions(ctx) if s.status is not StepStatus.NOT_ATTEMPTED]
    return (
        bool(attempted)
        and all(
            s.status in _EGRESS_LIKE and s.failed_step in (None, Step.CONNECT) for s in attempted
        )
        and any(s.status is StepStatus.CONNECTION_TIMEOUT for s in attempted)
    )


def check_egress(ctx: Context) -> Iterator[Finding]:
    if not is_egress_blocked(ctx):
        return
    targets = [s for _h, _a, s in to_sessions(ctx) if s.status is not StepStatus.NOT_ATTEMPTED]
    yield c.to_finding(
        c.PROBE_EGRESS_BLOCKED,
        f"All {len(targets)} connection attempts to port 25 of {ctx.domain}'s mail servers "
        "timed out although DNS answered: the probe's network may block outbound port 25",
        evidence="; ".join(f"{s.ip}:{s.port} {s.status.value}" for s in targets),
    )


def check_sessions(ctx: Context) -> Iterator[Finding]:
    """Map each session's ending (``StepStatus`` + ``failed_step``) to a finding."""
    egress_blocked = is_egress_blocked(ctx)
    for host, address, s in to_sessions(ctx):
        name = host.name
        status = s.status
        if status is StepStatus.OK:
            continue
        if status is StepStatus.NOT_ATTEMPTED:
            if ctx.may_probe(address):
                yield c.to_finding(
                    c.PROBE_NOT_ATTEMPTED,
                    f"{_where(s)} ({name}) was not "
                    + ("probed" if s.failed_step in (None, Step.CONNECT) else "probed to the end")
                    + (f": {s.error}" if s.error else ""),
                    host=name,
                    ip=s.ip,
                    evidence=s.error,
                )
            continue
        if status is StepStatus.INTERNAL_ERROR:
            yield c.to_finding(
                c.PROBE_INTERNAL_ERROR,
                f"The probe of {_where(s)} ({name}) failed with an internal error",
                host=name,
                ip=s.ip,
                evidence=s.error,
            )
            continue
        if s.failed_step in _TLS_STEPS or s.failed_step is Step.QUIT:
            continue
        yield from _check_ending(s, name, egress_blocked)


def _check_ending(s: Session, name: str, egress_blocked: bool) -> Iterator[Finding]:
    status = s.status
    at_connect = s.failed_step in (None, Step.CONNECT)
    if status is StepStatus.CONNECTION_REFUSED or (
        status is StepStatus.CONNECTION_RESET and at_connect
    ):
        yield c.to_finding(
            c.SMTP_CONNECT_REFUSED,
            f"{_where(s)} ({name}) refused the connection",
            host=name,
            ip=s.ip,
            evidence=_evidence(s, "connect"),
        )
    elif status is StepStatus.CONNECTION_TIMEOUT:
        if egress_blocked:
            # PROBE_EGRESS_BLOCKED already says it; do not blame each server.
            yield c.to_finding(
                c.SMTP_CONNECT_TIMEOUT,
                f"Connecting to {_where(s)} ({name}) timed out, like every other attempt: "
                "likely the probe's network, not this server",
                host=name,
                ip=s.ip,
                evidence=_evidence(s, "connect"),
                severity=c.INFO,
            )
        else:
            yield c.to_finding(
                c.SMTP_CONNECT_TIMEOUT,
                f"Connecting to {_where(s)} ({name}) timed out",
                host=name,
                ip=s.ip,
                evidence=_evidence(s, "connect"),
            )
    elif status is StepStatus.NETWORK_ERROR and at_connect:
        yield c.to_finding(
            c.SMTP_CONNECT_FAILED,
            f"Could not reach {_where(s)} ({name}): network error",
            host=name,
            ip=s.ip,
            evidence=_evidence(s, "connect"),
        )
    elif status in _DROPPED and _no_greeting(s):
        partial = (s.greeting is not None and bool(s.greeting.lines)) or (
            _last_received(s) is not None
        )
        yield c.to_finding(
            c.SMTP_NO_BANNER,
            f"{_where(s)} ({name}) accepted the connection but "
            + ("never finished its greeting" if partial else "sent no greeting")
            + f" ({status.value})",
            host=name,
            ip=s.ip,
            evidence=(to_evidence_line(s.greeting.lines) if s.greeting else None)
            or _last_received(s)
            or _evidence(s, "greeting from"),
        )
    elif status in _DROPPED and s.failed_step in (Step.GREETING, Step.EHLO, Step.HELO):
        if not _greeted(s):
            return
        step = s.failed_step.value.upper() if s.failed_step is not Step.GREETING else "greeting"
        after = "its greeting" if s.failed_step is Step.GREETING else f"our {step}"
        yield c.to_finding(
            c.SMTP_SESSION_DROPPED,
            f"{_where(s)} ({name}) stopped answering after {after} ({status.value})",
            host=name,
            ip=s.ip,
            evidence=_last_received(s) or _evidence(s, step),
            step=step,
        )
    elif status is StepStatus.PROTOCOL_ERROR:
        step = s.failed_step.value if s.failed_step else "session"
        yield c.to_finding(
            c.SMTP_PROTOCOL_ERROR,
            f"{_where(s)} ({name}) sent something that is not valid SMTP at the {step} step",
            host=name,
            ip=s.ip,
            evidence=_last_received(s) or _evidence(s, step),
        )


def _greeted(s: Session) -> bool:
    """A 220 greeting came; after a 4xx/5xx one, closing is what RFC 5321 §3.1 expects."""
    return is_complete_reply(s.greeting) and s.greeting is not None and s.greeting.code == 220


def _no_greeting(s: Session) -> bool:
    """The greeting never completed (a complete 4xx/5xx greeting is judged in banner.py)."""
    return s.failed_step in (None, Step.CONNECT, Step.GREETING) and not is_complete_reply(
        s.greeting
    )
