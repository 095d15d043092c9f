"""Slack credentials and endpoint, from the environment (never logged).

Locally and in tests the values come directly (``SLACK_SIGNING_SECRET``,
``SLACK_BOT_TOKEN``); in AWS the variables name Secrets Manager secrets
(``SLACK_SIGNING_SECRET_NAME``, ``SLACK_BOT_TOKEN_NAME``), fetched with
Powertools Parameters and cached for five minutes, so a rotated secret is
picked up without a redeploy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_API_URL = "https://slack.com/api/"
SECRET_MAX_AGE_S = 300


class SlackConfigError(RuntimeError):
    """A Slack credential is configured neither directly nor by secret name."""


def _secret(env: Mapping[str, str], direct: str, by_name: str) -> str:
    value = env.get(direct)
    if value:
        return value
    name = env.get(by_name)
    if not name:
        raise SlackConfigError(f"set {direct} or {by_name}")
    # Lazy: Powertools Parameters imports boto3, too slow for the handler's import.
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(name, max_age=SECRET_MAX_AGE_S)
    if isinstance(secret, bytes):
        secret = secret.decode()
    return str(secret).strip()


def signing_secret(environ: Mapping[str, str] | None = None) -> str:
    return _secret(
        os.environ if environ is None else environ,
        "SLACK_SIGNING_SECRET",
        "SLACK_SIGNING_SECRET_NAME",
    )


def bot_token(environ: Mapping[str, str] | None = None) -> str:
    return _secret(
        os.environ if environ is None else environ, "SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN_NAME"
    )


def api_url(environ: Mapping[str, str] | None = None) -> str:
    """Slack's Web API base URL; ``SLACK_API_URL`` points it at a local stand-in."""
    env = os.environ if environ is None else environ
    url = env.get("SLACK_API_URL") or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"
