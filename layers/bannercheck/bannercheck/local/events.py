"""The events API Gateway, SQS and EventBridge Scheduler send, built locally.

The local HTTP server turns each request into the same event the deployed API
would deliver, so the handlers cannot tell the difference.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

TEMPLATE = Path(__file__).resolve().parents[4] / "template.yaml"


@cache
def rest_resources() -> tuple[str, ...]:
    """The REST API's resource paths, from the api function's events in template.yaml."""
    from bannercheck.cfn import load_template

    template = load_template(TEMPLATE)
    paths = {
        str(event["Properties"]["Path"])
        for resource in template["Resources"].values()
        if resource.get("Type") == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event.get("Type") == "Api"
    }
    # Most literal segments first, so /checks/{domain} never shadows a fixed path.
    return tuple(
        sorted(paths, key=lambda p: (-sum(not s.startswith("{") for s in p.split("/")), p))
    )


def to_resource(path: str) -> tuple[str, dict[str, str] | None] | None:
    """The REST resource serving ``path`` and its path parameters; None if there is none."""
    parts = [p for p in path.split("/") if p]
    for template in rest_resources():
        shape = [p for p in template.split("/") if p]
        if len(shape) != len(parts):
            continue
        params: dict[str, str] = {}
        for want, got in zip(shape, parts, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = got
            elif want != got:
                break
        else:
            return template, params or None
    return None


def _clf_time(now: datetime) -> str:
    return now.strftime("%d/%b/%Y:%H:%M:%S +0000")


def to_rest_event(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    api_key_id: str | None = None,
    source_ip: str = "127.0.0.1",
    stage: str = "v1",
    base_path: str | None = None,
) -> dict[str, Any]:
    """A REST API (v1 payload) proxy event, as API Gateway sends it to the function.

    ``base_path`` is what the client's URL had before ``path``: by default the
    stage, as on the execute-api endpoint (``/v1/checks``); the local server
    serves the API at its root and passes ``""`` (as ``sam local start-api`` does).
    """
    now = datetime.now(UTC)
    resource, path_params = to_resource(path) or (path, None)
    pairs = parse_qsl(query, keep_blank_values=True)
    multi: dict[str, list[str]] = {}
    for k, v in pairs:
        multi.setdefault(k, []).append(v)
    hdrs = dict(headers or {})
    text: str | None
    try:
        text = body.decode() if body else None
        is_b64 = False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": hdrs or None,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()} or None,
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": path_params,
        "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method.upper(),
            "path": f"/{stage}{path}" if base_path is None else f"{base_path}{path}",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTime": _clf_time(now),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {
                "apiKey": None,  # API Gateway hides the key itself; the id is enough
                "apiKeyId": api_key_id,
                "sourceIp": source_ip,
                "userAgent": hdrs.get("User-Agent") or hdrs.get("user-agent"),
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
                "cognitoIdentityPoolId": None,
                "cognitoIdentityId": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
            },
        },
        "body": text,
        "isBase64Encoded": is_b64,
    }


def to_http_api_event(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An HTTP API (v2 payload) event; form bodies arrive base64-encoded, as in AWS."""
    now = datetime.now(UTC)
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    params: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        params[k] = f"{params[k]},{v}" if k in params else v
    return {
        "version": "2.0",
        "routeKey": f"{method.upper()} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": hdrs,
        "queryStringParameters": params or None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": hdrs.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method.upper()} {path}",
            "stage": "$default",
            "time": _clf_time(now),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def to_scheduler_event(stack_name: str = "bannercheck-local") -> dict[str, Any]:
    """What the dispatch function receives from its ScheduleV2 schedule in template.yaml.

    A schedule with an ``Input`` delivers exactly that JSON to a Lambda target,
    not the "Scheduled Event" envelope of an EventBridge rule; so this is the
    template's ``Input`` with ``${AWS::StackName}`` filled in.
    """
    from bannercheck.cfn import load_template

    template = load_template(TEMPLATE)
    [schedule] = [
        event["Properties"]
        for event in template["Resources"]["DispatchFunction"]["Properties"]["Events"].values()
        if event.get("Type") == "ScheduleV2"
    ]
    text = schedule["Input"]
    text = text.get("Sub", text) if isinstance(text, dict) else text
    event: dict[str, Any] = json.loads(str(text).replace("${AWS::StackName}", stack_name))
    return event


def to_response(result: Mapping[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """A Lambda proxy result (REST or HTTP API) as status, headers, body bytes."""
    status = int(result.get("statusCode", 200))
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    for k, values in (result.get("multiValueHeaders") or {}).items():
        headers[k] = ", ".join(str(v) for v in values)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return status, headers, body
