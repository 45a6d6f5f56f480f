"""Expression languages besides DutyFlow's sandboxed Python: JUEL (Camunda 7) and FEEL
(Camunda 8), parsed with real grammars (lark, LALR) and translated onto the same sandbox.

`check` is what deployment runs on every expression, `evaluate` what the engine runs;
both pick the language with `language.detect`. Python goes exactly the way it always has.
"""
from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any

from engine import sandbox

from . import feel, juel, juel_runtime
from .language import Language, canonical, declared_language, detect
from .parsing import ExpressionSyntaxError

__all__ = ["ExpressionSyntaxError", "Language", "canonical", "check", "check_unary_tests",
           "declared_language", "detect", "evaluate", "matches"]

_COMPILERS: dict[Language, Callable[[str], types.CodeType]] = {
    Language.JUEL: juel.compile_expression,
    Language.FEEL: feel.compile_expression,
}
_NAMESPACES: dict[Language, dict[str, Any]] = {
    Language.JUEL: sandbox.translated_namespace(juel_runtime.HELPERS),
    Language.FEEL: sandbox.translated_namespace(feel.HELPERS),
}


def check(text: str, declared: Language | None = None) -> Language:
    """Refuse (SandboxError) an expression that does not parse or is not allowed; return its
    language. JUEL and FEEL errors are ExpressionSyntaxErrors with line and column."""
    language = detect(text, declared)
    if language is Language.PYTHON:
        sandbox.check_expression(text)
    else:
        _COMPILERS[language](text.strip())
    return language


def evaluate(text: str, data: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> Any:
    """Evaluate an expression in the language its text shows (see `canonical`)."""
    language = detect(text)
    if language is Language.PYTHON:
        return sandbox.evaluate(text, data, extra)
    code = _COMPILERS[language](text.strip())
    return sandbox.evaluate_translated(code, _NAMESPACES[language], data, extra or {})


def check_unary_tests(text: str) -> None:
    """Refuse (SandboxError, located) a decision table input entry that is not FEEL unary
    tests; `-` and blank (any input) pass."""
    if not _any_input(text):
        feel.compile_unary_tests(text.strip())


def matches(text: str, value: Any, data: Mapping[str, Any]) -> bool:
    """Whether `value` passes the input entry `text`, whose names are read from `data`;
    only true matches (false and null do not)."""
    if _any_input(text):
        return True
    code = feel.compile_unary_tests(text.strip())
    scope = dict(data)
    scope[feel.INPUT_NAME] = value
    return sandbox.evaluate_translated(code, _NAMESPACES[Language.FEEL], scope, {}) is True


def _any_input(text: str) -> bool:
    return text.strip() in ("", "-")
