"""Findings: small pure functions over the recorded data of one check.

Each topic module (``dns``, ``connection``, ``banner``, ``ehlo``, ``tls``)
exposes ``check_*`` functions taking a :class:`Context` and returning an
iterable of :class:`~bannercheck.model.Finding`. ``CHECKS`` lists them all, in
the order their findings appear before sorting. No function here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from bannercheck.model import DnsResult, Finding

@dataclass(frozen=True)
class Context:
    domain: str  # ASCII
    dns: DnsResult
    now: datetime  # timezone-aware UTC: when the check ran
    ehlo_name: str
    slow_greeting_s: float = 5.0
    cert_expiry_warn_days: int = 14
    allow_private: bool = False


CheckFn = Callable[[Context], Iterable[Finding]]
