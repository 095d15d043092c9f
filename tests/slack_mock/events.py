"""Signed Slack requests as API Gateway HTTP API (payload 2.0) events.

Signatures follow Slack's scheme: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``
with the signing secret, built at test time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any


def sign(secret: str, timestamp: int, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def command_body(
    text: str,
    *,
    response_url: str,
    trigger_id: str | None = None,
    team_id: str = "T0001",
    user_id: str = "U0001",
    channel_id: str = "C0001",
    command: str = "/bannercheck",
    with_trigger_id: bool = True,
) -> str:
    fields = {
        "token": "legacy-verification-token-unused",
        "team_id": team_id,
        "team_domain": "example-team",
        "channel_id": channel_id,
        "channel_name": "mail-ops",
        "user_id": user_id,
        "user_name": "ada",
        "command": command,
        "text": text,
        "api_app_id": "A0001",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or f"{uuid.uuid4().int % 10**13}.1.{uuid.uuid4().hex[:16]}",
    }
    if not with_trigger_id:
        del fields["trigger_id"]
    return urllib.parse.urlencode(fields)


def action_body(
    action_id: str,
    value: str,
    *,
    response_url: str,
    message_ts: str = "1700000000.000100",
    team_id: str = "T0001",
    user_id: str = "U0001",
    channel_id: str = "C0001",
) -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "example-team"},
        "user": {"id": user_id, "username": "ada", "team_id": team_id},
        "api_app_id": "A0001",
        "token": "legacy-verification-token-unused",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": True,
        },
        "trigger_id": f"{uuid.uuid4().int % 10**13}.1.{uuid.uuid4().hex[:16]}",
        "channel": {"id": channel_id, "name": "mail-ops"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b1",
                "value": value,
                "text": {"type": "plain_text", "text": action_id},
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def to_event(
    body: str,
    *,
    secret: str,
    timestamp: int | None = None,
    signature: str | None = None,
    headers: Mapping[str, str] | None = None,
    path: str = "/slack/events",
) -> dict[str, Any]:
    """An HTTP API event as API Gateway hands it to Lambda (body base64-encoded)."""
    ts = int(time.time()) if timestamp is None else timestamp
    all_headers = {
        "content-type": "application/x-www-form-urlencoded",
        "host": "abc123.execute-api.eu-west-1.amazonaws.com",
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "x-slack-request-timestamp": str(ts),
        "x-slack-signature": signature or sign(secret, ts, body),
        **(headers or {}),
    }
    return {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": all_headers["user-agent"],
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": f"POST {path}",
            "stage": "$default",
            "time": "03/Dec/2026:18:00:00 +0000",
            "timeEpoch": ts * 1000,
        },
        "body": base64.b64encode(body.encode()).decode(),
        "isBase64Encoded": True,
    }
