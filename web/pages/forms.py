"""Turning HTML form posts into the typed values a task form validates.

Browsers send every field as text and omit unchecked boxes; the engine's form
(marshmallow) then checks types, ranges and required fields, as it does for the API.
"""
from __future__ import annotations

import json
from typing import Any

from werkzeug.datastructures import MultiDict


def typed_values(fields: list[dict], posted: MultiDict) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in fields:
        name, kind = field["id"], field["type"]
        if field.get("readonly") or kind == "file":
            continue  # files come as the request's files (web/uploads.py)
        if kind == "boolean":
            values[name] = posted.get(name) in ("on", "true", "1")
            continue
        raw = (posted.get(name) or "").strip()
        if raw == "":
            continue  # absent: "required" is reported by the form's own validation
        if kind == "long":
            try:
                values[name] = int(raw)
            except ValueError:
                values[name] = raw  # let validation say "Not a valid integer."
        else:
            values[name] = raw
    return values


def camunda_form_values(posted: MultiDict) -> Any:
    """A Camunda Form's values, posted as JSON text by static/camunda_form.js: checked by
    the engine like an API completion's data (anything but an object is refused there)."""
    try:
        return json.loads(posted.get("camunda_form_data") or "{}")
    except ValueError:
        return None
