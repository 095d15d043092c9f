"""Slack front: ``/bannercheck`` and its buttons, behind API Gateway (HTTP API).

The module imports nothing heavy (Bolt, boto3 and Powertools take ~0.4 s): the
app is built on the first request and reused while the container lives, and
rebuilt when its signing secret changes (``bannercheck.slack.handler``).
Logs are Powertools JSON with the HTTP API request id as correlation id.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@cache
def _handler() -> Handler:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.logging import correlation_paths
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

    slack = SecretRefreshingHandler(build, secrets.signing_secret)
    return Logger().inject_lambda_context(  # type: ignore[no-any-return]
        slack.handle, correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if context is None:  # the local stack calls without one; Bolt and Powertools read it
        from bannercheck.invoke import LocalContext

        context = LocalContext.new("bannercheck-slack-local")
    return _handler()(event, context)
