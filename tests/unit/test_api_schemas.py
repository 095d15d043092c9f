"""The request-body schemas the API enforces are the ones openapi.yaml publishes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from bannercheck.api_schemas import BY_OPERATION

ROOT = Path(__file__).resolve().parents[2]


def _published() -> dict[tuple[str, str], dict[str, Any]]:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    return {
        (path, method): operation["requestBody"]["content"]["application/json"]["schema"]
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "requestBody" in operation
    }


def test_every_request_body_schema_is_openapis_own() -> None:
    published = _published()
    assert set(BY_OPERATION) == set(published), "an operation's body is not enforced"
    for operation, schema in BY_OPERATION.items():
        assert schema == published[operation], f"{operation}: copy it from openapi.yaml"


@pytest.mark.parametrize("operation", sorted(BY_OPERATION))
def test_the_api_refuses_what_openapi_refuses(operation: tuple[str, str]) -> None:
    from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

    schema = BY_OPERATION[operation]
    # Every schema is an object that takes no other fields: a stray key is refused.
    with pytest.raises(SchemaValidationError):
        validate(event={"unknown": 1}, schema=schema)
    with pytest.raises(SchemaValidationError):
        validate(event=[], schema=schema)


def test_the_validator_is_not_imported_with_the_api() -> None:
    # The API handler's cold start stays as it was: the validator (fastjsonschema)
    # loads with the first request that has a body.
    code = (
        "import sys, bannercheck.api; "
        "print(sorted(m for m in sys.modules if m.startswith(('fastjsonschema', "
        "'aws_lambda_powertools.utilities.validation'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
