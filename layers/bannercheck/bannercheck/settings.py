"""Knobs of one check: timeouts, limits and identity, never constants in code."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, replace

DEFAULT_EHLO_FALLBACK = "bannercheck-probe.localdomain"


def default_ehlo_name() -> str:
    """The machine's own name when it is a FQDN (no DNS lookup is made)."""
    name = socket.gethostname().rstrip(".")
    return name if "." in name else DEFAULT_EHLO_FALLBACK


@dataclass(frozen=True)
class Settings:
    timeout_s: float = 30.0  # one overall deadline per domain
    dns_try_timeout_s: float = 2.0  # per query try (one lost datagram costs this)
    dns_lifetime_s: float = 8.0  # per question, all tries; never past the deadline
    connect_timeout_s: float = 8.0  # per TCP connect
    command_timeout_s: float = 15.0  # per reply after the greeting
    resolver: str | None = None  # "ADDR" or "ADDR:PORT" / "[v6]:PORT"
    allow_private: bool = False
    ehlo_name: str = DEFAULT_EHLO_FALLBACK
    smtp_port: int = 25
    max_mx_hosts: int = 10
    max_concurrency: int = 64  # sessions in flight per process
    slow_greeting_s: float = 5.0
    cert_expiry_warn_days: int = 14
    # Reply caps: a hostile server cannot exhaust memory or time.
    max_line_bytes: int = 4096
    max_reply_lines: int = 100
    max_reply_bytes: int = 65536
    max_transcript_lines: int = 400
    # Extra trust anchors (PEM file) besides the system CAs: labs and tests only.
    ca_file: str | None = None

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _env_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    """Settings from ``BANNERCHECK_*`` variables (the Lambda functions' config)."""
    env = os.environ if environ is None else environ
    base = Settings(ehlo_name=env.get("BANNERCHECK_EHLO_NAME") or default_ehlo_name())
    changes: dict[str, object] = {}
    if env.get("BANNERCHECK_TIMEOUT"):
        changes["timeout_s"] = float(env["BANNERCHECK_TIMEOUT"])
    if env.get("BANNERCHECK_RESOLVER"):
        changes["resolver"] = env["BANNERCHECK_RESOLVER"]
    if env.get("BANNERCHECK_SMTP_PORT"):
        changes["smtp_port"] = int(env["BANNERCHECK_SMTP_PORT"])
    changes["allow_private"] = _env_bool(env.get("BANNERCHECK_ALLOW_PRIVATE"))
    if env.get("BANNERCHECK_CA_FILE"):  # labs and the local stack only
        changes["ca_file"] = env["BANNERCHECK_CA_FILE"]
    return replace(base, **changes)  # type: ignore[arg-type]
