"""What every check receives: the recorded DNS data plus the knobs it judges by."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from bannercheck.model import Address, DnsResult, Finding
from bannercheck.netpolicy import allows_private


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
    private_networks: tuple[str, ...] = ()  # with allow_private: only these (empty = any)

    def may_probe(self, address: Address) -> bool:
        """Whether the guard let the probe connect to ``address`` (as netpolicy decides).

        The recorded ``public`` flag is what the check saw; the settings say which of
        the rest a lab allowed.
        """
        return address.public or allows_private(
            address.ip, self.allow_private, self.private_networks
        )


CheckFn = Callable[[Context], Iterable[Finding]]
