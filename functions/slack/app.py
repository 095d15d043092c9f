"""Slack front: ``/bannercheck`` and its buttons, behind API Gateway (HTTP API).

The module imports nothing heavy (Bolt and boto3 take ~0.4 s): the
app is built on the first request and reused while the container lives, and
rebuilt when its signing secret changes (``bannercheck.slack.handler``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@cache
def _handler() -> Handler:
    from bannercheck.invoke import invoke_probe
    from bannercheck.slack import secrets
    from bannercheck.slack.app import make_app
    from bannercheck.slack.handler import SecretRefreshingHandler
    from bannercheck.store import store_from_env
    from slack_bolt.adapter.aws_lambda import SlackRequestHandler

    store, api_url = store_from_env(), secrets.api_url()

    def build(signing_secret: str) -> SlackRequestHandler:
        app = make_app(
            signing_secret=signing_secret, store=store, invoke=invoke_probe, api_url=api_url
        )
        return SlackRequestHandler(app)

    return SecretRefreshingHandler(build, secrets.signing_secret).handle


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if context is None:  # the local stack calls without one; Bolt reads it
        from bannercheck.invoke import LocalContext

        context = LocalContext.new("bannercheck-slack-local")
    return _handler()(event, context)
