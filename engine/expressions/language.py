"""Which language an expression is written in: Python (DutyFlow's own), JUEL or FEEL.

The definitions' `expressionLanguage` (or an expression's own `language`) decides when it
names FEEL, JUEL or Python; anything else there (BPMN's default XPath URI, which many tools
write without meaning it) leaves the choice to the syntax:

- text starting with `=` is FEEL (Camunda 8);
- `#{...}` is JUEL; `${...}` is JUEL when its body is not Python but has JUEL's operators
  (`&&`, `!x`, `eq`, `? :`...), or uses what only JUEL has (`null`, `true`, `false`,
  `empty`, `execution`, Java methods such as `.equals(` or `.length()`). A property read
  (`order.total`) alone does not decide: Python reads `when.year` of a date;
- everything else is Python, exactly as before, so existing diagrams keep their behaviour.

Detection is cached per text: conditions are evaluated constantly.
"""
from __future__ import annotations

import ast
import functools
from enum import StrEnum

from lark.exceptions import LarkError

from . import juel, juel_runtime


class Language(StrEnum):
    PYTHON = "python"
    JUEL = "juel"
    FEEL = "feel"


_JUEL_NAMES = frozenset({"null", "true", "false", "empty", "execution"})
# Java methods without a Python method of that name: `.length()` means JUEL.
_JAVA_METHODS = juel_runtime.METHOD_NAMES - {"index", "count", "get", "replace"}
# Operators and words only JUEL has (Python has `and`, `or`, `not`, `==`, `<`...).
_JUEL_ONLY_TOKENS = frozenset({"&&", "||", "!", "eq", "ne", "lt", "gt", "le", "ge", "div", "mod",
                               "?", "empty", "null", "true", "false"})


def declared_language(uri: str | None) -> Language | None:
    """The language an `expressionLanguage`/`language` attribute names, if it names one of ours."""
    text = (uri or "").strip().lower()
    if "feel" in text:
        return Language.FEEL
    if "juel" in text:
        return Language.JUEL
    if text in ("python", "py", "python3") or text.endswith("/python"):
        return Language.PYTHON
    return None


@functools.lru_cache(maxsize=4096)
def detect(text: str, declared: Language | None = None) -> Language:
    stripped = text.strip()
    if declared is Language.PYTHON:
        return Language.PYTHON
    if declared is Language.FEEL or stripped.startswith("="):
        return Language.FEEL
    if not juel.is_wrapped(stripped):
        return Language.PYTHON
    if declared is Language.JUEL or stripped.startswith("#{"):
        return Language.JUEL
    return Language.JUEL if _looks_like_juel(stripped[2:-1]) else Language.PYTHON


def _looks_like_juel(body: str) -> bool:
    try:
        tree = ast.parse(body.strip(), mode="eval")
    except SyntaxError:
        return _has_juel_tokens(body)
    except (RecursionError, MemoryError, ValueError):
        return False
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in _JUEL_NAMES:
            return True
        if isinstance(node, ast.Attribute) and id(node) in called and node.attr in _JAVA_METHODS:
            return True
    return False


def _has_juel_tokens(body: str) -> bool:
    """Python cannot read it: JUEL when JUEL's own operators or words appear (then a typo is
    reported in JUEL's terms), else it stays a Python syntax error as before."""
    try:
        return any(str(token) in _JUEL_ONLY_TOKENS for token in juel.tokens(body))
    except (LarkError, RecursionError):
        return False


def canonical(text: str, language: Language) -> str:
    """The text the engine stores for evaluation, from which `detect` alone (without the
    definitions' declaration) finds the same language: Python unwrapped as before,
    JUEL as written or else as `#{...}`, FEEL with its `=`."""
    stripped = text.strip()
    if language is Language.FEEL:
        return stripped if stripped.startswith("=") else "=" + stripped
    if language is Language.JUEL:
        # As written when its syntax already says JUEL, so messages quote the designer's text.
        return stripped if detect(stripped) is Language.JUEL else "#{" + stripped[2:-1] + "}"
    return stripped
