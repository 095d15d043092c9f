"""Slack credentials and endpoint, from the environment (never logged).

Locally and in tests the values come directly (``SLACK_SIGNING_SECRET``,
``SLACK_BOT_TOKEN``); in AWS the variables name Secrets Manager secrets
(``SLACK_SIGNING_SECRET_NAME``, ``SLACK_BOT_TOKEN_NAME``), fetched with
Powertools Parameters and cached for five minutes, so a rotated secret is
picked up without a redeploy.
"""

from __future__ import annotations

import os
import secrets as random_secrets
from collections.abc import Mapping
from pathlib import Path

from bannercheck.secret import fetch_secret

DEFAULT_API_URL = "https://slack.com/api/"
# The local stack (BANNERCHECK_LOCAL=1) and `make slack` share a signing secret
# kept here, so signatures are verified locally too.
LOCAL_SECRET_FILE = Path(__file__).resolve().parents[4] / ".local" / "slack-signing-secret"


class SlackConfigError(RuntimeError):
    """A Slack credential is configured neither directly nor by secret name."""


def _secret(env: Mapping[str, str], direct: str, by_name: str, *, force: bool = False) -> str:
    value = env.get(direct)
    if value:
        return value
    name = env.get(by_name)
    if not name:
        if direct == "SLACK_SIGNING_SECRET" and env.get("BANNERCHECK_LOCAL") == "1":
            return local_signing_secret()
        raise SlackConfigError(f"set {direct} or {by_name}")
    return fetch_secret(name, force=force)


def signing_secret(environ: Mapping[str, str] | None = None, *, force: bool = False) -> str:
    """The signing secret; ``force`` reads a Secrets Manager one past its cache."""
    return _secret(
        os.environ if environ is None else environ,
        "SLACK_SIGNING_SECRET",
        "SLACK_SIGNING_SECRET_NAME",
        force=force,
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


def local_signing_secret(path: Path = LOCAL_SECRET_FILE) -> str:
    """The local stack's signing secret, created (mode 0600) on first use."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = random_secrets.token_hex(16)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # the other side created it meanwhile
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
    return secret
