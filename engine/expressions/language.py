"""Which language an expression is written in: Python (DutyFlow's own), JUEL, FEEL or XPath.

The definitions' `expressionLanguage` (or an expression's own `language`) decides when it
names FEEL, JUEL or Python; in a BPMN file also when it names XPath (`choose` says how the
two declarations combine), never in a DMN file. Anything else there leaves the choice to
the syntax:

- text starting with `=` is FEEL (Camunda 8);
- `#{...}` is JUEL; `${...}` is JUEL when its body is not Python but has JUEL's operators
  (`&&`, `!x`, `eq`, `? :`...), or uses what only JUEL has (`null`, `true`, `false`,
  `empty`, `execution`, Java methods such as `.equals(` or `.length()`, Spin's
  `S(...)`). A property read (`order.total`) alone does not decide: Python reads
  `when.year` of a date;
- everything else is Python, exactly as before, so existing diagrams keep their behaviour.

XPath is never guessed from the text: only a declaration makes it. Its stored form starts
with XPATH_MARKER, which `stored_language` (what the engine runs) recognises and `detect`
(what a designer wrote) does not, so a designer cannot reach XPath by typing the marker.

Detection is cached per text: conditions are evaluated constantly.
"""
from __future__ import annotations

import ast
import functools
from enum import StrEnum

from lark.exceptions import LarkError

from . import juel, juel_runtime, xpath


class Language(StrEnum):
    PYTHON = "python"
    JUEL = "juel"
    FEEL = "feel"
    XPATH = "xpath"


# Starts the stored text of an XPath expression (see `canonical`): not Python, JUEL or FEEL.
XPATH_MARKER = "xpath:"


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


def declared_bpmn_language(uri: str | None) -> Language | None:
    """As `declared_language`, and XPath for its URI (`http://www.w3.org/1999/XPath`,
    BPMN's default): in BPMN files only, DMN has no XPath."""
    if "xpath" in (uri or "").strip().lower():
        return Language.XPATH
    return declared_language(uri)


def choose(text: str, own: Language | None, document: Language | None) -> Language:
    """The language of a BPMN expression whose element declares `own` and whose definitions
    declare `document`. The element's declaration rules. The definitions' XPath does not
    claim text in JUEL's `${...}`/`#{...}` or FEEL's `=...` form, which cannot be XPath
    (`$` starts a variable name, no expression starts with `=`): tools write BPMN's default
    XPath URI on files whose conditions are JUEL (MIWG C.1.0)."""
    if own is not None:
        return detect(text, own)
    stripped = text.strip()
    if document is Language.XPATH and (juel.is_wrapped(stripped) or stripped.startswith("=")):
        return detect(text)
    return detect(text, document)


def stored_language(text: str) -> Language:
    """The language of an expression as the engine stores it (see `canonical`)."""
    if text.startswith(XPATH_MARKER):
        return Language.XPATH
    return detect(text)


@functools.lru_cache(maxsize=4096)
def detect(text: str, declared: Language | None = None) -> Language:
    stripped = text.strip()
    if declared is Language.PYTHON or declared is Language.XPATH:
        return declared
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
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "S":
            return True  # Camunda Spin's S(json): Python has no S()
    return False


def _has_juel_tokens(body: str) -> bool:
    """Python cannot read it: JUEL when JUEL's own operators or words appear (then a typo is
    reported in JUEL's terms), else it stays a Python syntax error as before."""
    try:
        return any(str(token) in _JUEL_ONLY_TOKENS for token in juel.tokens(body))
    except (LarkError, RecursionError):
        return False


def canonical(text: str, language: Language,
              bpmn_prefixes: frozenset[str] = frozenset()) -> str:
    """The text the engine stores for evaluation, from which `stored_language` alone
    (without the definitions' declaration) finds the same language: Python unwrapped as
    before, JUEL as written or else as `#{...}`, FEEL with its `=`, XPath after
    XPATH_MARKER with BPMN's functions written `bpmn:` (see xpath.with_bpmn_prefix)."""
    stripped = text.strip()
    if language is Language.XPATH:
        return XPATH_MARKER + xpath.with_bpmn_prefix(stripped, bpmn_prefixes)
    if language is Language.FEEL:
        return stripped if stripped.startswith("=") else "=" + stripped
    if language is Language.JUEL:
        # As written when its syntax already says JUEL, so messages quote the designer's text.
        return stripped if detect(stripped) is Language.JUEL else "#{" + stripped[2:-1] + "}"
    return stripped
