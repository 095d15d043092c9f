"""Slack front: ``/bannercheck`` and its buttons, behind API Gateway (HTTP API).

The module imports nothing heavy (Bolt and boto3 take ~0.4 s): the app is
built on the first request and reused while the container lives.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any

# The local stack calls the handler without a Lambda context; Bolt reads these.
_LOCAL_CONTEXT = SimpleNamespace(
    function_name="bannercheck-slack-local", invoked_function_arn="local"
)


@cache
def _slack_handler() -> Any:
    from bannercheck.invoke import invoke_probe
    from bannercheck.slack import secrets
    from bannercheck.slack.app import make_app
    from bannercheck.store import store_from_env
    from slack_bolt.adapter.aws_lambda import SlackRequestHandler

    app = make_app(
        signing_secret=secrets.signing_secret(),
        store=store_from_env(),
        invoke=invoke_probe,
        api_url=secrets.api_url(),
    )
    return SlackRequestHandler(app)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = _slack_handler().handle(event, context or _LOCAL_CONTEXT)
    return response
