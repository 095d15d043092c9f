"""The Slack function's request handler: the Bolt app, kept, with a current signing secret.

Building the app is worth keeping while the container lives; keeping its signing
secret for as long is not: a rotated secret must be picked up within five
minutes (docs/slack.md), and a container that started before the admin replaced
the template's placeholder must not answer 401 forever. So the secret is read
on every request through ``bannercheck.slack.secrets``, which holds a Secrets
Manager value for five minutes (a dictionary look-up until then), and the app
is rebuilt with the new secret the first time it differs.

Example::

    handler = SecretRefreshingHandler(build, signing_secret)
    handler.handle(event, context)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class RequestHandler(Protocol):
    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]: ...


class SecretRefreshingHandler:
    """A request handler rebuilt (with ``build``) whenever the signing secret changes."""

    def __init__(
        self, build: Callable[[str], RequestHandler], read_secret: Callable[[], str]
    ) -> None:
        self._build = build
        self._read_secret = read_secret
        self._secret = read_secret()
        self._handler = build(self._secret)

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._refresh()
        return self._handler.handle(event, context)

    def _refresh(self) -> None:
        try:
            secret = self._read_secret()
        except Exception:
            # Secrets Manager unavailable once the cached value has aged: the secret
            # we have is the best guess, and an outage must not turn into 500s.
            log.warning("signing secret not read again; the current one stays", exc_info=True)
            return
        if secret != self._secret:
            # Built before it is used: a concurrent request (local stack) sees one or the other.
            self._handler = self._build(secret)
            self._secret = secret
            log.info("signing secret changed: the Slack app was rebuilt with it")
