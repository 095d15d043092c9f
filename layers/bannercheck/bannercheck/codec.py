"""Report <-> JSON-ready dict, driven by the dataclass type hints.

Stored reports are read back with :func:`to_report`; unknown keys are ignored
so that an older reader survives a newer minor schema.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from bannercheck import model

T = TypeVar("T")


_SCALARS = (str, int, float, bool, type(None))


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _identity(obj: Any) -> Any:
    return obj


def _enum_value(obj: Enum) -> Any:
    return obj.value


def _sequence(obj: tuple[Any, ...] | list[Any]) -> list[Any]:
    return [to_dict(v) for v in obj]


def _mapping(obj: dict[Any, Any]) -> dict[Any, Any]:
    return {k: to_dict(v) for k, v in obj.items()}


def _dataclass(obj: Any) -> dict[str, Any]:
    return {name: to_dict(getattr(obj, name)) for name in _field_names(obj.__class__)}


@cache
def _converter(cls: type) -> Callable[[Any], Any]:
    # Decided once per type: a report is a few hundred values of a dozen types.
    # Enums first: they are str enums, and must become their values.
    if issubclass(cls, Enum):
        return _enum_value
    if issubclass(cls, _SCALARS):
        return _identity
    if issubclass(cls, (tuple, list)):
        return _sequence
    if dataclasses.is_dataclass(cls):
        return _dataclass
    if issubclass(cls, dict):
        return _mapping
    return _identity


def to_dict(obj: Any) -> Any:
    """A JSON-ready structure of plain dicts, lists, str, numbers, None.

    Enums become their values (they are ``str`` enums, so checked before str).
    """
    return _converter(obj.__class__)(obj)


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return get_type_hints(cls, vars(model))


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if origin is tuple:
        (item, *_rest) = get_args(tp)
        return tuple(_convert(item, v) for v in value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    hints = _hints(cast(Any, cls))
    kwargs = {
        f.name: _convert(hints[f.name], data[f.name])
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name in data
    }
    return cls(**kwargs)


def to_report(data: dict[str, Any]) -> model.Report:
    return from_dict(model.Report, data)
