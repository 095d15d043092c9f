"""The Slack function's request handler: the Bolt app, kept, with a current signing secret.

Building the app is worth keeping while the container lives; keeping its signing
secret for as long is not: a rotated secret must be picked up within five
minutes (docs/slack.md), and a container that started before the admin replaced
the template's placeholder must not answer 401 forever. So the secret is read
on every request through ``bannercheck.slack.secrets``, which holds a Secrets
Manager value for five minutes (a dictionary look-up until then), and the app
is rebuilt with the new secret the first time it differs.

A request that fails verification may be the first one signed with a secret
set since the value was cached: then the secret is read again past the cache and,
if it changed, the request is verified again with the new one, so it is accepted
at once rather than up to five minutes later. Forged requests fail verification
too, so that read happens at most once per ``recheck_interval_s`` per container:
a flood of them cannot become a flood of Secrets Manager calls.

Example::

    handler = SecretRefreshingHandler(build, signing_secret)
    handler.handle(event, context)
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

RECHECK_INTERVAL_S = 30.0
UNVERIFIED = 401  # what Bolt answers a request whose signature or timestamp is wrong


class RequestHandler(Protocol):
    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]: ...


class SecretReader(Protocol):
    def __call__(self, *, force: bool = False) -> str: ...


class SecretRefreshingHandler:
    """A request handler rebuilt (with ``build``) whenever the signing secret changes."""

    def __init__(
        self,
        build: Callable[[str], RequestHandler],
        read_secret: SecretReader,
        *,
        recheck_interval_s: float = RECHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._build = build
        self._read_secret = read_secret
        self._recheck_interval_s = recheck_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_recheck = -math.inf
        self._secret = read_secret()
        self._handler = build(self._secret)

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._refresh(force=False)
        response = self._handler.handle(event, context)
        if response.get("statusCode") != UNVERIFIED or not self._may_recheck():
            return response
        if not self._refresh(force=True):
            return response
        # Bolt verifies before any listener runs: the refused request started
        # nothing, so handling it again with the new secret cannot do anything twice.
        return self._handler.handle(event, context)

    def _may_recheck(self) -> bool:
        with self._lock:
            now = self._clock()
            if now - self._last_recheck < self._recheck_interval_s:
                return False
            self._last_recheck = now
            return True

    def _refresh(self, *, force: bool) -> bool:
        """Read the secret (past the cache when ``force``); True when it changed."""
        try:
            secret = self._read_secret(force=force)
        except Exception:
            # Secrets Manager unavailable once the cached value has aged: the secret
            # we have is the best guess, and an outage must not turn into 500s.
            log.warning("signing secret not read again; the current one stays", exc_info=True)
            return False
        if secret == self._secret:
            return False
        # Built before it is used: a concurrent request (local stack) sees one or the other.
        self._handler = self._build(secret)
        self._secret = secret
        log.info("signing secret changed: the Slack app was rebuilt with it")
        return True
