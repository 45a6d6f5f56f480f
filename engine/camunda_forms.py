"""Camunda Forms (bpmn.io form-js JSON schemas), read and enforced by DutyFlow itself.

A `.form` file deployed with a diagram (or a `zeebe:userTaskForm` embedded in it) is
drawn in the browser by form-js's viewer, but what the browser checked counts for
nothing: completion data becomes process data that gateways read, so the server reads
the same schema and checks every value itself, with form-js's own rules and messages
(required, min/max, minLength/maxLength, pattern, email/phone, options, decimal digits).
Only the keyed fields a form declares may be written.

The file is untrusted: its size, nesting and component count are limited before it is
parsed, every regular expression is compiled (and refused when it nests quantifiers, the
shape that backtracks exponentially) at deploy time, and what DutyFlow cannot enforce the
same way on the server (FEEL-valued constraints, option lists computed by FEEL, repeating
lists, computed fields) is refused with the file and the component's path.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import mimetypes
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any, Callable

import marshmallow
from marshmallow import fields as mm_fields

try:  # Python 3.11+
    import re._parser as sre_parse  # type: ignore[import-not-found]
    import re._constants as sre_constants  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

from .errors import FormValidationError, Problem
from .forms import DEFAULT_MAX_FILES, FieldSpec, FileReference, FormSpec
from .labels import PREFIX, language_tag, pick

MAX_FORM_BYTES = 512 * 1024
MAX_JSON_DEPTH = 24
MAX_COMPONENTS = 500
MAX_PATTERN_CHARS = 500
MAX_TEXT_CHARS = 20_000  # a text value no pattern is run on more of
# The types form-js draws whose values DutyFlow checks, and those it only shows.
INPUT_TYPES = ("textfield", "textarea", "number", "checkbox", "checklist", "radio", "select",
               "taglist", "datetime", "filepicker")
DISPLAY_TYPES = ("text", "image", "spacer", "separator", "html", "button", "iframe", "table",
                 "documentPreview", "default")
CONTAINER_TYPES = ("group",)
REFUSED_TYPES = {
    "dynamiclist": "repeating lists are not supported",
    "expression": "computed fields are not supported (their value is computed in the browser)",
}
OPTION_TYPES = ("checklist", "radio", "select", "taglist")
FILE_PREFIX = "files::"  # form-js's filepicker value: the browser sends the files as parts
# form-js's own patterns for validationType "email" and "phone" (Validator.js).
EMAIL = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}"
                   r"[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")
PHONE = re.compile(r"^(\+|00)\d{6,25}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)?$")
# One name of a key path: any text but dots and control characters (form-js allows
# "Vacation Approval"; FEEL reads such names), not starting with _ (DutyFlow's own) or a
# space, at most 200 characters.
_KEY_PART = re.compile(r"^[^\s._\x00-\x1f\x7f][^.\x00-\x1f\x7f]{0,199}(?<!\s)$")
_MISSING = object()

Report = Callable[[str, str | None, str], None]  # (component path, component key, message)


class FormFileError(Exception):
    """A form schema was refused; `problems` locate each finding in the file."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@dataclass(frozen=True)
class Component:
    """One keyed input of a form, as DutyFlow enforces it."""

    path: tuple[str, ...]  # the key path (`a.b` writes {"a": {"b": ...}}); a group may prefix it
    type: str
    label: str
    where: str  # the component's place in the file: components[2].components[0]
    required: bool = False
    readonly: bool = False  # readonly or disabled: shown, never written
    conditional: bool = False  # hidden by a FEEL condition sometimes: never required here
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: str | None = None
    validation_type: str | None = None  # email, phone
    options: tuple[Any, ...] | None = None  # static `values`
    values_key: tuple[str, ...] | None = None  # options read from process data
    decimal_digits: int | None = None
    serialize_to_string: bool = False
    subtype: str | None = None  # datetime: date, time, datetime
    accept: tuple[str, ...] = ()  # filepicker: media types
    multiple: bool = False

    @property
    def key(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class CamundaForm(FormSpec):
    """A form-js schema as a task's (or start event's) form.

    `fields` (FieldSpec per keyed input) keep what the rest of DutyFlow asks of a form
    (its field ids, its file fields); `schema` is the JSON the viewer draws.
    """

    file: str = ""
    form_id: str | None = None
    schema: str = "{}"
    components: tuple[Component, ...] = ()

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        """The fields and the schema, labels in `locale` where the components translate
        them (custom properties `i18n:<tag>` for the label, `i18n:<tag>:<value>` for an
        option's label), as diagram elements do (engine.labels)."""
        schema = _translated(self.schema_dict, locale) if locale else self.schema_dict
        labels = {component.key: component.label for component in _translated_components(
            self.components, schema)} if locale else {}
        out = super().as_dict(locale)
        for one in out["fields"]:
            one["label"] = labels.get(one["id"], one["label"])
        out["camunda_form"] = {"file": self.file, "id": self.form_id, "schema": schema}
        return out

    @cached_property
    def schema_dict(self) -> dict[str, Any]:
        return json.loads(self.schema)

    @cached_property
    def declared_paths(self) -> dict[tuple[str, ...], Component]:
        return {component.path: component for component in self.components}

    def validate(self, data: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """The cleaned values (nested by key path), or FormValidationError per field key.

        `context` is the process data (where `valuesKey` options come from)."""
        if not isinstance(data, dict):
            raise FormValidationError({"_schema": ["Form data must be a JSON object."]})
        errors: dict[str, list[str]] = {}
        cleaned: dict[str, Any] = {}
        for path in _leaf_paths(data, self.declared_paths):
            errors.setdefault(".".join(path), []).append("Not a field of this form.")
        for component in self.components:
            if component.readonly:
                continue  # shown for reading; what the browser sends back is not kept
            value = _get(data, component.path)
            problems, value = _check(component, value, context or {})
            if problems:
                errors[component.key] = problems
            elif value is not _MISSING:
                _set(cleaned, component.path, value)
        if errors:
            raise FormValidationError(errors)
        return cleaned


def _translations(properties: Any, suffix: str = "") -> dict[str, str]:
    """{language tag: text} of a component's `i18n:<tag>[:<suffix>]` properties."""
    if not isinstance(properties, dict):
        return {}
    found = {}
    for name, text in properties.items():
        if not (isinstance(name, str) and isinstance(text, str) and name.startswith(PREFIX)):
            continue
        tag, _, rest = name[len(PREFIX):].partition(":")
        if rest == suffix:
            found[language_tag(tag)] = text
    return found


def _translated(node: Any, locale: str) -> Any:
    """A copy of the schema with each component's label and option labels in `locale`."""
    if isinstance(node, list):
        return [_translated(item, locale) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _translated(value, locale) for key, value in node.items()}
    properties = node.get("properties")
    if isinstance(node.get("label"), str):
        out["label"] = pick(_translations(properties), locale, node["label"])
    if isinstance(node.get("values"), list):
        out["values"] = [{**option, "label": pick(_translations(properties, str(option.get("value"))),
                                                  locale, option.get("label", ""))}
                         if isinstance(option, dict) else option for option in node["values"]]
    return out


def _translated_components(components: tuple[Component, ...], schema: dict[str, Any]):
    """The components with their labels as the translated schema gives them."""
    for component in components:
        node: Any = {"components": schema.get("components")}
        for part in component.where.replace("]", "").split("."):
            name, _, index = part.partition("[")
            node = node.get(name, [])[int(index)] if isinstance(node, dict) else {}
        label = node.get("label") if isinstance(node, dict) else None
        yield Component(path=component.path, type=component.type, where=component.where,
                        label=label if isinstance(label, str) and label else component.label)


def _leaf_paths(data: dict[str, Any], declared: dict[tuple[str, ...], Component],
                prefix: tuple[str, ...] = ()):
    """Paths in `data` that no declared field covers."""
    for name, value in data.items():
        path = prefix + (str(name),)
        if path in declared:
            continue
        if isinstance(value, dict) and any(known[:len(path)] == path for known in declared):
            yield from _leaf_paths(value, declared, path)
        else:
            yield path


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def _is_empty(component: Component, value: Any) -> bool:
    return value is _MISSING or value is None or value == "" or \
        (isinstance(value, list) and not value) or \
        (component.type == "checkbox" and value is False)


def _check(component: Component, value: Any, context: dict[str, Any]) -> tuple[list[str], Any]:
    """form-js's checks of one value, and the value as process data will hold it."""
    if _is_empty(component, value):
        if component.required and not component.conditional:
            return ["Field is required."], value
        if component.type == "filepicker":
            return [], _MISSING  # no file sent
        return [], value if value is not _MISSING else _MISSING
    checker = _CHECKS[component.type]
    return checker(component, value, context)


def _check_text(component: Component, value: Any, _context) -> tuple[list[str], Any]:
    if not isinstance(value, str):
        return ["Must be text."], value
    if len(value) > MAX_TEXT_CHARS:
        return [f"Must have maximum length of {MAX_TEXT_CHARS}."], value
    problems = []
    if component.pattern and not re.search(component.pattern, value):
        problems.append(component.pattern_message or
                        f"Field must match pattern {component.pattern}.")
    length = len(value.strip())
    if component.min_length is not None and length < component.min_length:
        problems.append(f"Field must have minimum length of {component.min_length}.")
    if component.max_length is not None and length > component.max_length:
        problems.append(f"Field must have maximum length of {component.max_length}.")
    if component.validation_type == "email" and not EMAIL.match(value):
        problems.append("Field must be a valid email.")
    if component.validation_type == "phone" and not PHONE.match(value.replace(" ", "")):
        problems.append("Field must be a valid international phone number "
                        "(e.g. +4930664040900).")
    return problems, value


def _check_number(component: Component, value: Any, _context) -> tuple[list[str], Any]:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return ["Value is not a number."], value
    if isinstance(value, str) and not component.serialize_to_string:
        return ["Value is not a number."], value
    if isinstance(value, float) and not math.isfinite(value):
        return ["Value is not a number."], value
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return ["Value is not a number."], value
    if not number.is_finite():
        return ["Value is not a number."], value
    problems = []
    if component.decimal_digits is not None and \
            max(0, -number.normalize().as_tuple().exponent) > component.decimal_digits:
        digits = component.decimal_digits
        problems.append("Value is expected to " + ("be an integer" if digits == 0 else
                        f"have at most {digits} decimal digit{'s' if digits > 1 else ''}") + ".")
    if component.minimum is not None and number < component.minimum:
        problems.append(f"Field must have minimum value of {_plain(component.minimum)}.")
    if component.maximum is not None and number > component.maximum:
        problems.append(f"Field must have maximum value of {_plain(component.maximum)}.")
    return problems, value


def _check_checkbox(_component: Component, value: Any, _context) -> tuple[list[str], Any]:
    return ([], value) if isinstance(value, bool) else (["Must be true or false."], value)


def _options(component: Component, context: dict[str, Any]) -> list[Any]:
    if component.values_key is None:
        return list(component.options or ())
    found = _get(context, component.values_key)
    if not isinstance(found, list):
        return []
    return [item.get("value") if isinstance(item, dict) else item for item in found]


def _check_choice(component: Component, value: Any, context) -> tuple[list[str], Any]:
    options = _options(component, context)
    if isinstance(value, (dict, list)) or not any(_same(value, option) for option in options):
        return ["Not one of the options."], value
    return [], value


def _check_choices(component: Component, value: Any, context) -> tuple[list[str], Any]:
    if not isinstance(value, list):
        return ["Must be a list of options."], value
    options = _options(component, context)
    if len(value) > max(len(options), 1) or \
            any(isinstance(item, (dict, list)) or not any(_same(item, option) for option in options)
                for item in value):
        return ["Not one of the options."], value
    return [], value


def _same(a: Any, b: Any) -> bool:
    """Option values compare as JSON does: 1 is not "1" and True is not 1."""
    return type(a) is type(b) and a == b or \
        (isinstance(a, (int, float)) and isinstance(b, (int, float))
         and not isinstance(a, bool) and not isinstance(b, bool) and a == b)


def _check_datetime(component: Component, value: Any, _context) -> tuple[list[str], Any]:
    if not isinstance(value, str):
        return ["Not a valid date or time."], value
    text = value.strip()
    try:
        if component.subtype == "date":
            dt.date.fromisoformat(text)
        elif component.subtype == "time":
            if not _TIME.match(text):
                raise ValueError(text)
        else:
            dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        kind = {"date": "date (YYYY-MM-DD)", "time": "time (HH:MM)"}.get(
            component.subtype or "", "date and time (ISO 8601)")
        return [f"Not a valid {kind}."], value
    return [], text


_FILE_REFS = marshmallow.Schema.from_dict(
    {"files": mm_fields.List(mm_fields.Nested(FileReference))}, name="FilePickerValue")()


def _check_files(component: Component, value: Any, _context) -> tuple[list[str], Any]:
    if isinstance(value, str) and value.startswith(FILE_PREFIX):
        return ["Files are sent as multipart parts named after the field, not as data."], value
    try:
        refs = _FILE_REFS.load({"files": value})["files"]
    except marshmallow.ValidationError:
        return ["Files are sent as multipart parts named after the field, not as data."], value
    limit = DEFAULT_MAX_FILES if component.multiple else 1
    if len(refs) > limit:
        return [f"Attach at most {limit} file{'s' if limit > 1 else ''}."], value
    return [], refs


_CHECKS = {"textfield": _check_text, "textarea": _check_text, "number": _check_number,
           "checkbox": _check_checkbox, "radio": _check_choice, "select": _check_choice,
           "checklist": _check_choices, "taglist": _check_choices,
           "datetime": _check_datetime, "filepicker": _check_files}


def _plain(number: Decimal) -> str:
    return str(int(number)) if number == number.to_integral() else str(number)


# Reading a schema ------------------------------------------------------------------


def is_form_file(name: str) -> bool:
    return name.lower().endswith(".form")


def read_form_file(name: str, source: bytes) -> CamundaForm:
    """A `.form` file's schema, or FormFileError naming the file and each component."""
    if len(source) > MAX_FORM_BYTES:
        raise FormFileError([Problem(name, None, None, f"the form is {len(source)} bytes; "
                                                       f"the limit is {MAX_FORM_BYTES}")])
    try:
        text = source.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FormFileError([Problem(name, None, None, "the form is not UTF-8 encoded")]) from None
    return read_form_text(name, text)


def read_form_text(name: str, text: str, line_offset: int = 0) -> CamundaForm:
    """A form schema given as JSON text (a file, or a zeebe:userTaskForm's body)."""
    if len(text) > MAX_FORM_BYTES:
        raise FormFileError([Problem(name, None, None, f"the form is over {MAX_FORM_BYTES} "
                                                       "characters")])
    depth = _nesting(text)
    if depth > MAX_JSON_DEPTH:
        raise FormFileError([Problem(name, None, None, f"the form's JSON nests {depth} levels "
                                                       f"deep; the limit is {MAX_JSON_DEPTH}")])
    try:
        schema = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        line = getattr(err, "lineno", None)
        raise FormFileError([Problem(name, line + line_offset if line else None, None,
                                     f"the form is not valid JSON: {getattr(err, 'msg', err)}")]
                            ) from None
    return read_schema(name, schema, text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _nesting(text: str) -> int:
    """How deep the JSON text nests, without parsing it (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def read_schema(name: str, schema: Any, text: str | None = None) -> CamundaForm:
    problems: list[Problem] = []

    def report(where: str, key: str | None, message: str) -> None:
        problems.append(Problem(name, _line_of(text, key), key,
                                f"{where}{f' ({key!r})' if key else ''}: {message}"))

    if not isinstance(schema, dict) or not isinstance(schema.get("components"), list):
        raise FormFileError([Problem(name, None, None, "not a form-js schema: the top level "
                                                       "must be an object with \"components\"")])
    if schema.get("type", "default") != "default":
        raise FormFileError([Problem(name, None, None, "not a form-js schema: the top level's "
                                                       "type must be \"default\"")])
    schema = {**schema, "type": "default"}  # form-js draws nothing without it
    components: list[Component] = []
    _read_components(schema["components"], "components", (), report, components, [0])
    seen: dict[tuple[str, ...], str] = {}
    for component in components:
        if component.path in seen:
            report(component.where, component.key, f"the key is also used by {seen[component.path]}")
        seen.setdefault(component.path, component.where)
        for other in seen:
            if other != component.path and (other[:len(component.path)] == component.path or
                                            component.path[:len(other)] == other):
                report(component.where, component.key, f"the key overlaps {'.'.join(other)}")
                break
    if problems:
        raise FormFileError(problems)
    form_id = schema.get("id") if isinstance(schema.get("id"), str) else None
    fields = tuple(_field_spec(component) for component in components)
    return CamundaForm(fields=fields, file=name, form_id=form_id,
                       schema=json.dumps(schema, ensure_ascii=False, sort_keys=True),
                       components=tuple(components))


def _line_of(text: str | None, key: str | None) -> int | None:
    if not text or not key:
        return None
    index = text.find(json.dumps(key, ensure_ascii=False))
    if index < 0:  # a key under a group's path is written without the path
        index = text.find(json.dumps(key.split(".")[-1], ensure_ascii=False))
    return text.count("\n", 0, index) + 1 if index >= 0 else None


def _read_components(items: list[Any], where: str, prefix: tuple[str, ...], report: Report,
                     out: list[Component], count: list[int]) -> None:
    for index, item in enumerate(items):
        place = f"{where}[{index}]"
        count[0] += 1
        if count[0] > MAX_COMPONENTS:
            report(place, None, f"the form has more than {MAX_COMPONENTS} components")
            return
        if not isinstance(item, dict):
            report(place, None, "a component must be a JSON object")
            continue
        kind = item.get("type")
        key = item.get("key") if isinstance(item.get("key"), str) else None
        if kind in REFUSED_TYPES:
            report(place, key, f"component type {kind!r}: {REFUSED_TYPES[kind]}")
        elif kind in CONTAINER_TYPES:
            path = _key_path(item.get("path"), place, report) if item.get("path") else ()
            if isinstance(item.get("components"), list) and path is not None:
                _read_components(item["components"], f"{place}.components", prefix + path,
                                 report, out, count)
        elif kind in INPUT_TYPES:
            component = _read_input(item, kind, place, prefix, report)
            if component is not None:
                out.append(component)
        elif kind not in DISPLAY_TYPES:
            report(place, key, f"unknown component type {kind!r}")


def _key_path(key: Any, place: str, report: Report) -> tuple[str, ...] | None:
    if not isinstance(key, str) or not key.strip():
        report(place, None, "an input component needs a key (the process variable it writes)")
        return None
    parts = tuple(key.split("."))
    if not all(_KEY_PART.match(part) and not part.startswith("_") for part in parts):
        report(place, key, "a key is names joined by dots (none empty, starting with _ "
                           "or a space, or holding control characters)")
        return None
    return parts


def _read_input(item: dict[str, Any], kind: str, place: str, prefix: tuple[str, ...],
                report: Report) -> Component | None:
    path = _key_path(item.get("key"), place, report)
    if path is None:
        return None
    path = prefix + path
    key = ".".join(path)
    validate = item.get("validate") or {}
    if not isinstance(validate, dict):
        report(place, key, "validate must be an object")
        return None
    ok = True

    def number(name: str, value: Any, whole: bool = False) -> Decimal | None:
        nonlocal ok
        if value is None or value == "":
            return None
        if isinstance(value, str) and value.startswith("="):
            report(place, key, f"{name} given by a FEEL expression is not supported; "
                               "write a number")
            ok = False
            return None
        try:
            parsed = Decimal(str(value))
            if isinstance(value, bool) or not parsed.is_finite() or \
                    (whole and (parsed != parsed.to_integral() or parsed < 0)):
                raise InvalidOperation
        except InvalidOperation:
            report(place, key, f"{name} {value!r} is not a{' whole' if whole else ''} number")
            ok = False
            return None
        return parsed

    minimum = number("validate.min", validate.get("min"))
    maximum = number("validate.max", validate.get("max"))
    min_length = number("validate.minLength", validate.get("minLength"), whole=True)
    max_length = number("validate.maxLength", validate.get("maxLength"), whole=True)
    digits = number("decimalDigits", item.get("decimalDigits"), whole=True)
    pattern = validate.get("pattern") or None
    if pattern is not None:
        problem = _pattern_problem(pattern)
        if problem:
            report(place, key, f"validate.pattern: {problem}")
            ok = False
    validation_type = validate.get("validationType") or None
    if validation_type not in (None, "email", "phone", "custom"):
        report(place, key, f"validate.validationType {validation_type!r} is not one of "
                           "email, phone, custom")
        ok = False
    options, values_key = None, None
    if kind in OPTION_TYPES:
        if item.get("valuesExpression"):
            report(place, key, "options given by valuesExpression (FEEL) are not supported; "
                               "use values or valuesKey")
            ok = False
        elif item.get("valuesKey"):
            values_key = _key_path(item.get("valuesKey"), place, report)
            ok = ok and values_key is not None
        else:
            values = item.get("values")
            if not isinstance(values, list) or not values or \
                    not all(isinstance(v, dict) and "value" in v and
                            isinstance(v["value"], (str, int, float, bool)) for v in values):
                report(place, key, f"a {kind} needs values: a list of {{\"label\", \"value\"}}")
                ok = False
            else:
                options = tuple(v["value"] for v in values)
    accept: tuple[str, ...] = ()
    if kind == "filepicker":
        if len(path) != 1:
            report(place, key, "a file picker's key must be a plain name (its files are "
                               "sent as parts named after it)")
            ok = False
        accept, accepted = _accept(item.get("accept"))
        if not accepted:
            report(place, key, f"accept {item.get('accept')!r} must list media types or "
                               "file extensions (image/*, .pdf)")
            ok = False
    if isinstance(item.get("multiple"), str) and item["multiple"].startswith("="):
        report(place, key, "multiple given by a FEEL expression is not supported")
        ok = False
    if not ok:
        return None
    subtype = item.get("subtype") if kind == "datetime" else None
    return Component(
        path=path, type=kind, label=str(item.get("label") or key), where=place,
        required=validate.get("required") is True,
        readonly=item.get("readonly") is True or item.get("disabled") is True,
        conditional=isinstance(item.get("conditional"), dict) and
        bool(item["conditional"].get("hide")),
        minimum=minimum, maximum=maximum,
        min_length=int(min_length) if min_length is not None else None,
        max_length=int(max_length) if max_length is not None else None,
        pattern=pattern, pattern_message=validate.get("patternErrorMessage") or None,
        validation_type=validation_type if validation_type != "custom" else None,
        options=options, values_key=values_key,
        decimal_digits=int(digits) if digits is not None else None,
        serialize_to_string=item.get("serializeToString") is True,
        subtype=subtype if subtype in ("date", "time", "datetime") else "datetime"
        if kind == "datetime" else None,
        accept=accept, multiple=item.get("multiple") is True)


def _accept(value: Any) -> tuple[tuple[str, ...], bool]:
    """form-js's `accept` (the file input's: media types and extensions) as media types."""
    if value in (None, ""):
        return (), True
    if not isinstance(value, str) or value.startswith("="):
        return (), False
    types = []
    for part in (part.strip().lower() for part in value.split(",") if part.strip()):
        if part.startswith("."):
            guessed = mimetypes.guess_type("file" + part)[0]
            if guessed is None:
                return (), False
            types.append(guessed)
        elif re.fullmatch(r"[a-z0-9][a-z0-9.+-]*/(\*|[a-z0-9][a-z0-9.+-]*)", part):
            types.append(part)
        else:
            return (), False
    return tuple(dict.fromkeys(types)), bool(types)


def _pattern_problem(pattern: Any) -> str | None:
    """Why a pattern cannot be used on the server: not text, too long, not a regular
    expression Python reads alike, or shaped to backtrack exponentially."""
    if not isinstance(pattern, str):
        return "must be text"
    if pattern.startswith("="):
        return "a FEEL expression is not supported; write the regular expression"
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"{len(pattern)} characters; the limit is {MAX_PATTERN_CHARS}"
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as err:
        return f"{pattern!r} is not a regular expression: {err}"
    if _risky(parsed, 0):
        return (f"{pattern!r} repeats a group that itself repeats or refers back; such "
                "patterns can take exponential time")
    return None


def _risky(parsed, repeats: int) -> bool:
    """Nested quantifiers or back references: the shapes that backtrack exponentially."""
    for op, arg in parsed:
        if op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            return True
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT,
                  getattr(sre_constants, "POSSESSIVE_REPEAT", None)):
            low, high, sub = arg
            unbounded = high == sre_constants.MAXREPEAT or high > 10
            if unbounded and repeats:
                return True
            if _risky(sub, repeats + (1 if unbounded else 0)):
                return True
        elif op == sre_constants.SUBPATTERN:
            if _risky(arg[-1], repeats):
                return True
        elif op == sre_constants.BRANCH:
            if any(_risky(branch, repeats) for branch in arg[1]):
                return True
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            if _risky(arg[1], repeats):
                return True
    return False


def _field_spec(component: Component) -> FieldSpec:
    """The component as the rest of DutyFlow sees a form field (ids, file fields)."""
    return FieldSpec(id=component.key, label=component.label,
                     type="file" if component.type == "filepicker" else component.type,
                     required=component.required and not component.conditional,
                     readonly=component.readonly, accept=component.accept,
                     max_files=DEFAULT_MAX_FILES if component.multiple else 1)


