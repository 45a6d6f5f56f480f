"""Expression languages besides DutyFlow's sandboxed Python: JUEL (Camunda 7), FEEL
(Camunda 8) and XPath 1.0 (BPMN's default), parsed with real grammars (lark, LALR) and
translated onto the same sandbox.

`check` is what deployment runs on every expression, `evaluate` what the engine runs on
the stored (`canonical`) text; both pick the language with `language.detect` or, without
a declaration, `language.stored_language`. Python goes exactly the way it always has.
"""
from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any

from engine import sandbox

from . import feel, juel, juel_runtime, xpath, xpath_runtime
from .language import (XPATH_MARKER, Language, canonical, choose, declared_bpmn_language,
                       declared_language, detect, stored_language)
from .parsing import ExpressionSyntaxError

__all__ = ["ExpressionSyntaxError", "Language", "canonical", "check", "check_unary_tests",
           "choose", "compiled", "declared_bpmn_language", "declared_language", "detect",
           "evaluate", "matches"]

_COMPILERS: dict[Language, Callable[[str], types.CodeType]] = {
    Language.JUEL: juel.compile_expression,
    Language.FEEL: feel.compile_expression,
    Language.XPATH: xpath.compile_expression,
}
_NAMESPACES: dict[Language, dict[str, Any]] = {
    Language.JUEL: sandbox.translated_namespace(juel_runtime.HELPERS),
    Language.FEEL: sandbox.translated_namespace(feel.HELPERS),
    Language.XPATH: sandbox.translated_namespace(xpath_runtime.HELPERS),
}


def check(text: str, declared: Language | None = None,
          bpmn_prefixes: frozenset[str] = frozenset()) -> Language:
    """Refuse (SandboxError) an expression that does not parse or is not allowed; return its
    language. JUEL, FEEL and XPath errors are ExpressionSyntaxErrors with line and column.
    Without `declared`, `text` may also be a stored (canonical) expression. `bpmn_prefixes`
    are the XML prefixes bound to BPMN's namespace where an XPath expression was written."""
    language = detect(text, declared) if declared is not None else stored_language(text)
    if language is Language.PYTHON:
        sandbox.check_expression(text)
    elif declared is None:
        compiled(text)
    elif language is Language.XPATH:
        xpath.compile_expression(text.strip(), frozenset(bpmn_prefixes))
    else:
        _COMPILERS[language](text.strip())
    return language


def compiled(stored: str) -> types.CodeType:
    """The sandboxed code of a stored JUEL, FEEL or XPath expression (see `canonical`)."""
    language = stored_language(stored)
    if language is Language.XPATH:
        return xpath.compile_expression(stored[len(XPATH_MARKER):].strip())
    return _COMPILERS[language](stored.strip())


def evaluate(text: str, data: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> Any:
    """Evaluate a stored expression (see `canonical`) in the language it shows."""
    language = stored_language(text)
    if language is Language.PYTHON:
        return sandbox.evaluate(text, data, extra)
    return sandbox.evaluate_translated(compiled(text), _NAMESPACES[language], data, extra or {})


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
