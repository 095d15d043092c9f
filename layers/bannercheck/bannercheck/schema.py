"""The report's JSON Schema, derived from the dataclasses in ``model``. Pure.

The published copy is ``schema/report.schema.json``; a test keeps it equal to
what this module derives, so the schema cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import types
from enum import Enum
from typing import Any, Union, get_args, get_origin, get_type_hints

from bannercheck import model

SCHEMA_ID = "https://github.com/bannercheck/bannercheck/schema/report.schema.json"


def _type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = [_type_schema(a, defs) for a in get_args(tp)]
        return {"anyOf": options}
    if origin is tuple:
        return {"type": "array", "items": _type_schema(get_args(tp)[0], defs)}
    if tp is type(None):
        return {"type": "null"}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return {"type": "string", "enum": [m.value for m in tp]}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        _define(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if tp in simple:
        return {"type": simple[tp]}
    raise TypeError(f"no schema for {tp!r}")


def _define(cls: Any, defs: dict[str, Any]) -> None:
    if cls.__name__ in defs:
        return
    defs[cls.__name__] = {}  # placeholder against recursion
    hints = get_type_hints(cls, vars(model))
    fields = dataclasses.fields(cls)
    defs[cls.__name__] = {
        "type": "object",
        "properties": {f.name: _type_schema(hints[f.name], defs) for f in fields},
        "required": [f.name for f in fields],
        "additionalProperties": False,
    }


def to_report_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    _define(model.Report, defs)
    root = defs.pop("Report")
    root["properties"]["schema_version"] = {"const": model.SCHEMA_VERSION}
    root["properties"]["check_id"] = {"type": "string", "pattern": "^[0-9A-HJKMNP-TV-Z]{26}$"}
    root["properties"]["grade"] = {"type": "string", "enum": ["A", "B", "C", "F", "?"]}
    root["properties"]["checked_at"] = {
        "type": "string",
        "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
    }
    defs["Finding"]["properties"]["code"] = {"type": "string", "pattern": "^[A-Z][A-Z0-9_]+$"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "bannercheck report",
        "description": "One check of one domain's mail servers (see docs/findings.md).",
        **root,
        "$defs": dict(sorted(defs.items())),
    }
