"""The API's request-body schemas (JSON Schema), as openapi.yaml publishes them.

Copied here rather than read from openapi.yaml because the layer ships only this
package, and parsing YAML would slow every cold start; a unit test
(tests/unit/test_api_schemas.py) keeps each one equal to its requestBody in
openapi.yaml, so the published contract and what the API enforces cannot drift.

Example::

    from aws_lambda_powertools.utilities.validation import validate

    validate({"domain": "example.com"}, CHECK_REQUEST)
"""

from __future__ import annotations

from typing import Any

# POST /checks
CHECK_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["domain"],
    "additionalProperties": False,
    "properties": {
        "domain": {
            "type": "string",
            "maxLength": 253,
            "example": "example.com",
            "description": "A domain name (Unicode or A-labels); not a URL, address or IP.",
        },
    },
}

# PUT /watches/{domain}
WATCH_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "interval": {"type": "string", "enum": ["hourly", "daily", "weekly"], "default": "daily"},
        "slack_channel": {"type": "string", "pattern": "^[A-Za-z0-9]+$", "example": "C0123ABCD"},
        "slack_team_id": {"type": "string", "pattern": "^[A-Za-z0-9]+$", "example": "T0123ABCD"},
    },
}

# PUT /opt-outs/{domain} (an admin's note, capped at store.MAX_OPT_OUT_REASON)
OPT_OUT_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "reason": {
            "type": "string",
            "maxLength": 500,
            "example": "owner's request, ticket 1234",
            "description": "Why, for the admins: a ticket reference, not a name or address.",
        },
    },
}

# The operation each schema belongs to, as openapi.yaml names its path and method.
BY_OPERATION: dict[tuple[str, str], dict[str, Any]] = {
    ("/checks", "post"): CHECK_REQUEST,
    ("/watches/{domain}", "put"): WATCH_REQUEST,
    ("/opt-outs/{domain}", "put"): OPT_OUT_REQUEST,
}
