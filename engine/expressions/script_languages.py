"""The script languages DutyFlow translates onto the sandbox (JavaScript, Groovy), looked up
by a diagram's scriptFormat when it deploys and by the marker of a stored script when it runs.
Each is a module with FORMATS, MARKER, check_script, stored, is_stored, result_variable and
run (engine.expressions.javascript, engine.expressions.groovy)."""
from __future__ import annotations

import types

from . import groovy, javascript

LANGUAGES: tuple[types.ModuleType, ...] = (javascript, groovy)


def for_format(script_format: str | None) -> types.ModuleType | None:
    """The translated language of a scriptFormat, None for Python (or an unsupported one)."""
    return next((language for language in LANGUAGES
                 if language.is_script_format(script_format)), None)


def for_stored(text: str) -> types.ModuleType | None:
    """The language of a script the loader stored (its first line names it)."""
    return next((language for language in LANGUAGES if language.is_stored(text)), None)


def name(language: types.ModuleType) -> str:
    return language.FORMATS[0]
