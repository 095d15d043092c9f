"""Secrets Manager secrets, fetched at run time by name (Slack credentials, the
verification key); never logged.

Powertools Parameters caches each value for five minutes, so a rotated secret is
picked up without a redeploy and a warm function does not call Secrets Manager on
every request. Nothing here runs at import: boto3 is imported on the first fetch.

Example::

    signing_secret = fetch_secret(os.environ["SLACK_SIGNING_SECRET_NAME"])
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

SECRET_MAX_AGE_S = 300


class SecretMissingError(RuntimeError):
    """A secret that exists but holds no value (or a binary one)."""


def fetch_secret(name: str, *, force: bool = False) -> str:
    """The string value of the secret ``name`` (a name or an ARN), cached.

    ``force`` reads it from Secrets Manager past the cache (and caches the answer).

    >>> fetch_secret("arn:aws:secretsmanager:…:secret:bannercheck-verify")  # doctest: +SKIP
    'k2J…'
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or os.environ.get(
        "AWS_ENDPOINT_URL", ""
    )
    value = _provider(endpoint).get(name, max_age=SECRET_MAX_AGE_S, force_fetch=force)
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str) or not value.strip():
        raise SecretMissingError(f"the secret {name} has no value")
    return value.strip()


@cache
def _provider(endpoint: str) -> SecretsProvider:
    # One provider (its boto3 client and value cache) per endpoint: the endpoint is
    # part of the key only so that tests can switch servers, as for the store.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider()
