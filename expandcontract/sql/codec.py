"""Change records to and from JSON-safe data.

The capture worker runs untrusted revision code, and the lint cache lives in the project tree a
pull request can write to: neither may hand the linter a pickle (unpickling runs code). This
codec builds only ec's own record classes, with only their declared fields, from plain values.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from expandcontract.sql import changes as c
from expandcontract.sql.types import SqlType

_CLASSES: dict[str, type] = {
    name: obj
    for name, obj in vars(c).items()
    if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == c.__name__
}
_CLASSES["SqlType"] = SqlType


class CodecError(ValueError):
    """Data that is not a valid encoding of change records."""


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"__type__": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = encode(getattr(value, f.name))
        return out
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def decode(value: Any, depth: int = 0) -> Any:
    if depth > 50:
        raise CodecError("nested too deeply")
    if isinstance(value, list):
        return [decode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            items = value["__tuple__"]
            if not isinstance(items, list):
                raise CodecError("bad tuple")
            return tuple(decode(v, depth + 1) for v in items)
        cls = _CLASSES.get(str(value.get("__type__")))
        if cls is None:
            raise CodecError(f"unknown record type {value.get('__type__')!r}")
        names = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {k: decode(v, depth + 1) for k, v in value.items() if k in names}
        try:
            return cls(**kwargs)
        except TypeError as error:
            raise CodecError(str(error)) from None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CodecError(f"unexpected value of type {type(value).__name__}")


def encode_changes(changes: list[c.Change]) -> list[Any]:
    return [encode(ch) for ch in changes]


def decode_changes(data: Any) -> list[c.Change]:
    if not isinstance(data, list):
        raise CodecError("expected a list of changes")
    out = [decode(item) for item in data]
    if not all(isinstance(ch, c.Change) for ch in out):
        raise CodecError("expected change records")
    return out
