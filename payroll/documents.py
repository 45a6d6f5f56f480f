"""What the KPI scheme and the org file share in their marshmallow schemas, so both refuse a
field and name a problem the same way: a field with one message for all its refusals, and
marshmallow's nested errors as the paths people read (`indicators[1].weight`)."""
from __future__ import annotations

from typing import Any, Callable

from marshmallow import fields


def error_paths(messages: dict, prefix: str = "") -> dict[str, list[str]]:
    """Flatten {"indicators": {1: {"weight": [...]}}} to {"indicators[1].weight": [...]};
    a `_schema` error belongs to the entry it is under (the document itself at the top)."""
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        path = _child(prefix, key)
        if isinstance(value, dict):
            for child, child_messages in error_paths(value, path).items():
                out.setdefault(child, []).extend(child_messages)
        else:
            out.setdefault(path, []).extend(value if isinstance(value, list) else [value])
    return out


def _child(prefix: str, key: Any) -> str:
    if key == "_schema":
        return prefix or "_schema"
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


class Checked(fields.Field):
    """A field loaded by `read`, which returns the value to load or None to refuse it, with
    one message for every refusal (missing, null, wrong type or out of range alike): the
    document's author reads what is expected there, not which of marshmallow's rules failed."""

    def __init__(self, read: Callable[[Any], Any], message: str, **kwargs):
        errors = {"required": message, "null": message, "invalid": message}
        super().__init__(error_messages=errors, **kwargs)
        self.read = read

    def _deserialize(self, value, attr, data, **kwargs) -> Any:
        loaded = self.read(value)
        if loaded is None:
            raise self.make_error("invalid")
        return loaded
