"""Validate report JSON against the published schema (every test that makes one)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "report.schema.json"


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def assert_valid_report(data: Any) -> None:
    """Raise AssertionError listing every schema violation of ``data``."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.path))
    if errors:
        lines = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:20]]
        raise AssertionError("report does not match the schema:\n" + "\n".join(lines))
