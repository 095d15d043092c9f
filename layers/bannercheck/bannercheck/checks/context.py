"""What every check receives: the recorded DNS data plus the knobs it judges by."""

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
    ehlo_name: str  # the name announced
    # The configured name, when it was the target's own and ehlo_name replaced it.
    configured_ehlo_name: str | None = None
    slow_greeting_s: float = 5.0
    cert_expiry_warn_days: int = 14
    allow_private: bool = False


CheckFn = Callable[[Context], Iterable[Finding]]
