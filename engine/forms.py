"""Typed task forms, read from Camunda 7 `camunda:formData`, validated with marshmallow.

Completion data becomes process data that gateway conditions read, so only the
fields a form declares may be written, each checked against its type and
constraints on the server, whatever the client did.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

import marshmallow
from marshmallow import fields as mm_fields, validate as mm_validate

from .errors import FormValidationError
from .labels import pick

FIELD_TYPES = ("string", "long", "boolean", "date", "enum", "file")
# A DutyFlow extension of Camunda's types: a `file` field's value is the list of files
# attached, each referenced by the SHA-256 of its content (the service stores the bytes).
# Field properties: `dutyflow:accept` (media types, `image/*` allowed) and
# `dutyflow:maxFiles`.
FILE_PROPERTIES = ("dutyflow:accept", "dutyflow:maxFiles")
DEFAULT_MAX_FILES = 10
_SHA256 = mm_validate.Regexp(r"^[0-9a-f]{64}$", error="Not a SHA-256 hex digest.")
# Camunda's `long` is Java's: a 64-bit signed integer. Larger values would pass through
# process data into expressions and exports that other systems read as 64-bit.
LONG_RANGE = mm_validate.Range(min=-2**63, max=2**63 - 1,
                               error="Must be a whole number from {min} to {max} (64-bit).")
CONSTRAINTS = ("required", "readonly", "min", "max", "minlength", "maxlength")


@dataclass(frozen=True)
class FieldSpec:
    """One form field as the designer declared it."""

    id: str
    label: str
    type: str
    required: bool = False
    readonly: bool = False
    options: tuple[tuple[str, str], ...] = ()
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    min_length: int | None = None
    max_length: int | None = None
    default: str | None = None
    # The label's and the options' translations (engine.labels): ((tag, text), ...) and
    # ((option id, ((tag, text), ...)), ...).
    translations: tuple[tuple[str, str], ...] = ()
    option_translations: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    accept: tuple[str, ...] = ()  # file fields: media types allowed; () = the service's list
    max_files: int = DEFAULT_MAX_FILES

    def accepts(self, media_type: str, default: tuple[str, ...] = ()) -> bool:
        """Whether a file of `media_type` (as its content shows) may be attached here."""
        return any(allowed == media_type or (allowed.endswith("/*") and
                                             media_type.startswith(allowed[:-1]))
                   for allowed in (self.accept or default))

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        """The field as forms draw it; labels in `locale` where the diagram translates them."""
        out: dict[str, Any] = {"id": self.id, "label": pick(dict(self.translations), locale, self.label),
                               "type": self.type, "required": self.required}
        if self.type == "enum":
            options = dict(self.option_translations)
            out["enum"] = [option_id for option_id, _ in self.options]
            out["options"] = [{"id": option_id,
                               "label": pick(dict(options.get(option_id, ())), locale, name)}
                              for option_id, name in self.options]
        for key, value in (("min", self.minimum), ("max", self.maximum),
                           ("min_length", self.min_length), ("max_length", self.max_length),
                           ("default", self.default)):
            if value is not None:
                out[key] = int(value) if isinstance(value, Decimal) and value == value.to_integral() \
                    else (str(value) if isinstance(value, Decimal) else value)
        if self.readonly:
            out["readonly"] = True
        if self.type == "file":
            out["max_files"] = self.max_files
            if self.accept:
                out["accept"] = list(self.accept)
        return out


@dataclass(frozen=True)
class FormSpec:
    """The form of one user task or start event; an empty form accepts only `{}`.

    `external` is the `camunda:formKey` of a form DutyFlow cannot read (an embedded HTML
    form of the Camunda webapp, `embedded:app:forms/approve-invoice.html`) on a task that
    declares no fields: its completion takes plain variables, as Camunda's REST API does
    (engine.runtime.check_variables: names usable in expressions, size-limited)."""

    fields: tuple[FieldSpec, ...] = field(default_factory=tuple)
    external: str | None = None

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        return {"fields": [spec.as_dict(locale) for spec in self.fields]}

    @cached_property
    def file_fields(self) -> dict[str, FieldSpec]:
        return {spec.id: spec for spec in self.fields if spec.type == "file" and not spec.readonly}

    def validate(self, data: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Return the cleaned, JSON-ready values, or raise FormValidationError per field.
        (`context`, the process data, matters to Camunda Forms only: engine.camunda_forms.)"""
        if not isinstance(data, dict):
            raise FormValidationError({"_schema": ["Form data must be a JSON object."]})
        try:
            return self._schema.load(data)
        except marshmallow.ValidationError as err:
            raise FormValidationError(_flatten(err.messages)) from None

    @cached_property
    def _schema(self) -> marshmallow.Schema:
        declared = {spec.id: _marshmallow_field(spec) for spec in self.fields
                    if not spec.readonly}
        schema_class = marshmallow.Schema.from_dict(declared, name="TaskForm")
        return schema_class(unknown=marshmallow.RAISE)


def _flatten(messages: Any) -> dict[str, list[str]]:
    if isinstance(messages, dict):
        return {str(key): value if isinstance(value, list) else [str(value)]
                for key, value in messages.items()}
    return {"_schema": [str(messages)]}


class _IsoDate(mm_fields.Field):
    """A date or date-time in ISO 8601, kept as its ISO string so process data stays plain."""

    default_error_messages = {"invalid": "Not a valid ISO 8601 date or date-time."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        text = value.strip()
        try:
            if "T" in text or " " in text:
                return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise self.make_error("invalid") from None


class FileReference(marshmallow.Schema):
    """One attached file as process data and the completion event hold it."""

    sha256 = mm_fields.String(required=True, validate=_SHA256)
    name = mm_fields.String(required=True, validate=mm_validate.Length(min=1, max=255))
    type = mm_fields.String(required=True, validate=mm_validate.Length(min=3, max=100))
    size = mm_fields.Integer(required=True, strict=True, validate=mm_validate.Range(min=0))

    class Meta:
        unknown = marshmallow.RAISE


def _file_field(spec: FieldSpec, kwargs: dict[str, Any]) -> mm_fields.Field:
    def allowed(refs: list[dict[str, Any]]) -> None:
        for ref in refs:
            if spec.accept and not spec.accepts(ref["type"]):
                raise marshmallow.ValidationError(
                    f"{ref['name']}: {ref['type']} is not allowed here "
                    f"(allowed: {', '.join(spec.accept)}).")

    length = mm_validate.Length(min=1 if spec.required else 0, max=spec.max_files,
                                error=f"Attach from {1 if spec.required else 0} to "
                                      f"{spec.max_files} files.")
    return mm_fields.List(mm_fields.Nested(FileReference), validate=[length, allowed], **kwargs)


def _marshmallow_field(spec: FieldSpec) -> mm_fields.Field:
    kwargs: dict[str, Any] = {"required": spec.required}
    if not spec.required:
        kwargs["allow_none"] = True
    validators = []
    if spec.type == "file":
        return _file_field(spec, kwargs)
    if spec.type == "long":
        validators.append(LONG_RANGE)
        if spec.minimum is not None or spec.maximum is not None:
            validators.append(mm_validate.Range(min=spec.minimum, max=spec.maximum))
        return mm_fields.Integer(strict=True, validate=validators, **kwargs)
    if spec.type == "boolean":
        return mm_fields.Boolean(truthy={True}, falsy={False}, **kwargs)
    if spec.type == "date":
        return _IsoDate(**kwargs)
    if spec.type == "enum":
        validators.append(mm_validate.OneOf([option_id for option_id, _ in spec.options]))
        return mm_fields.String(validate=validators, **kwargs)
    if spec.min_length is not None or spec.max_length is not None:
        validators.append(mm_validate.Length(min=spec.min_length, max=spec.max_length))
    if spec.required:
        validators.append(mm_validate.Length(min=1, error="Field may not be blank."))
    return mm_fields.String(validate=validators, **kwargs)


def parse_number(text: str | None) -> Decimal | None:
    """Constraint configs are text in the XML; None means absent, ValueError means garbage."""
    if text is None or text.strip() == "":
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
