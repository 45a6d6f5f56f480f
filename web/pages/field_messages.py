"""Form field errors in the page's language.

The engine's forms (marshmallow) and the attachment checks word their field errors in
English, which the API returns as they are. A page shows them to people in their own
language: each message is matched against the wordings those checks use, with their
values (a range's ends, an enum's options, a file's name) taken out and put back into the
translated text. A message no pattern knows is shown as it came.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Gettext = Callable[[str], str]


def N_(text: str) -> str:
    """Marks a text for extraction; translated where it is shown."""
    return text


# (the English wording as a pattern, its msgid with the same values as placeholders)
_WORDINGS = [(re.compile(pattern), msgid) for pattern, msgid in (
    (r"^Missing data for required field\.$", N_("Missing data for required field.")),
    (r"^Field may not be null\.$", N_("Field may not be null.")),
    (r"^Field may not be blank\.$", N_("Field may not be blank.")),
    (r"^Not a valid integer\.$", N_("Not a valid integer.")),
    (r"^Not a valid string\.$", N_("Not a valid string.")),
    (r"^Not a valid boolean\.$", N_("Not a valid boolean.")),
    (r"^Not a valid ISO 8601 date or date-time\.$", N_("Not a valid ISO 8601 date or date-time.")),
    (r"^Unknown field\.$", N_("Unknown field.")),
    (r"^Must be one of: (?P<choices>.*)\.$", N_("Must be one of: %(choices)s.")),
    (r"^Must be greater than or equal to (?P<min>\S+) and less than or equal to (?P<max>\S+)\.$",
     N_("Must be greater than or equal to %(min)s and less than or equal to %(max)s.")),
    (r"^Must be greater than or equal to (?P<min>\S+)\.$",
     N_("Must be greater than or equal to %(min)s.")),
    (r"^Must be less than or equal to (?P<max>\S+)\.$", N_("Must be less than or equal to %(max)s.")),
    (r"^Length must be between (?P<min>\d+) and (?P<max>\d+)\.$",
     N_("Length must be between %(min)s and %(max)s.")),
    (r"^Shorter than minimum length (?P<min>\d+)\.$", N_("Shorter than minimum length %(min)s.")),
    (r"^Longer than maximum length (?P<max>\d+)\.$", N_("Longer than maximum length %(max)s.")),
    (r"^Attach from (?P<min>\d+) to (?P<max>\d+) files\.$",
     N_("Attach from %(min)s to %(max)s files.")),
    (r"^Not a file field of this form\.$", N_("Not a file field of this form.")),
    (r"^(?P<name>.+): larger than (?P<mb>\d+) MB\.$", N_("%(name)s: larger than %(mb)s MB.")),
    (r"^(?P<name>.+): not a readable image\.$", N_("%(name)s: not a readable image.")),
    (r"^(?P<name>.+): its content is (?P<type>\S+), not an allowed type \((?P<allowed>.*)\)\.$",
     N_("%(name)s: its content is %(type)s, not an allowed type (%(allowed)s).")),
    (r"^(?P<name>.+): (?P<type>\S+) is not allowed here \(allowed: (?P<allowed>.*)\)\.$",
     N_("%(name)s: %(type)s is not allowed here (allowed: %(allowed)s).")),
)]


def field_message(message: str, gettext: Gettext) -> str:
    """One field error in the language of `gettext`."""
    for pattern, msgid in _WORDINGS:
        found = pattern.match(message)
        if found:
            return gettext(msgid) % found.groupdict()
    return message


def field_errors(errors: Mapping[str, list], gettext: Gettext) -> dict[str, list]:
    """{field: [message]} with every message in the language of `gettext`."""
    return {field: [field_message(str(message), gettext) if isinstance(message, str) else message
                    for message in (messages if isinstance(messages, list) else [messages])]
            for field, messages in errors.items()}
