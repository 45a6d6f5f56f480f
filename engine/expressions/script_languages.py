"""The script languages DutyFlow translates onto the sandbox (JavaScript, Groovy), looked up
by a diagram's scriptFormat when it deploys and by the marker of a stored script when it runs.

What is the same for each (the stored text and its marker, reading the grammar, the steps
from source to checked code, running it) is a ScriptLanguage, described once here. A
language's own module (engine.expressions.javascript, engine.expressions.groovy) has only
its grammar, its refusals and its translation (on engine.expressions.script_translation's
frame), and builds its ScriptLanguage from them.
"""
from __future__ import annotations

import ast
import functools
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import lark

from engine import sandbox

from .parsing import ExpressionSyntaxError, load_parser, parse

# The first line of a stored script: a comment in both languages and a Python syntax error,
# so stored Python never starts so (as XPATH_MARKER does for XPath). A script task's
# camunda:resultVariable follows it: `// dutyflow: javascript -> name`.
_MARKER = "// dutyflow: "
_RESULT_ARROW = " -> "
_COMPILED_KEPT = 256  # compiled scripts kept per language


@dataclass(frozen=True, eq=False)
class ScriptLanguage:
    """A translated script language: the scriptFormats it is written as (the first names it,
    in messages and in the marker), its grammar, and what is its own in turning a parsed
    script into Python statements."""
    formats: tuple[str, ...]
    grammar: str  # a .lark file of this package
    # The script's statements as Python for the sandbox (ExpressionSyntaxError located in
    # the script for what the subset leaves out).
    translate: Callable[[str, lark.Tree], list[ast.stmt]]
    # A parse error of the script, said in the language's terms (naming a refused word).
    refusal: Callable[[str, ExpressionSyntaxError], ExpressionSyntaxError]
    helpers: Mapping[str, Any]  # the runtime helpers its code calls
    to_plain: Callable[[Any], Any]  # a value of the language as process data
    start: tuple[str, ...] = ("start",)  # the grammar's rules a parse may start from
    compile_script: Callable[[str], types.CodeType] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compile_script",
                           functools.lru_cache(maxsize=_COMPILED_KEPT)(self._compile))

    @property
    def name(self) -> str:
        return self.formats[0]

    @property
    def marker(self) -> str:
        return f"{_MARKER}{self.name}"

    @functools.cached_property
    def parser(self) -> lark.Lark:
        return load_parser(self.grammar, start=self.start, placeholders=True)

    @functools.cached_property
    def _namespace(self) -> dict[str, Any]:
        return sandbox.translated_namespace(self.helpers)

    def is_script_format(self, script_format: str | None) -> bool:
        return (script_format or "").strip().lower() in self.formats

    def is_stored(self, text: str) -> bool:
        return text.startswith(self.marker)

    def stored(self, source: str, result_variable: str | None = None) -> str:
        """The text the engine keeps for a checked script (see `is_stored`)."""
        arrow = f"{_RESULT_ARROW}{result_variable}" if result_variable else ""
        return f"{self.marker}{arrow}\n{source}"

    @staticmethod
    def result_variable(text: str) -> str | None:
        """The variable a stored script's value goes to (a script task's
        camunda:resultVariable)."""
        first = text.split("\n", 1)[0]
        return first.split(_RESULT_ARROW, 1)[1].strip() or None if _RESULT_ARROW in first \
            else None

    def check_script(self, source: str) -> None:
        """Refuse (ExpressionSyntaxError with the line and column in `source`, or
        SandboxError) a script outside the subset."""
        self.compile_script(source)

    def _compile(self, source: str) -> types.CodeType:
        """Parse, check and compile a (stored or written) script. Raises
        ExpressionSyntaxError located at the line and column of the script as written
        (SandboxError for what the sandbox refuses)."""
        if self.is_stored(source):
            source = source.split("\n", 1)[1] if "\n" in source else ""
        if not source.strip():
            raise ExpressionSyntaxError("the script is empty", 1, 1)
        try:
            tree = parse(self.parser, source, 0)
        except ExpressionSyntaxError as err:
            raise self.refusal(source, err) from None
        try:
            body = self.translate(source, tree)
        except RecursionError:
            raise ExpressionSyntaxError("script is nested too deeply") from None
        return sandbox.compile_translated_script(ast.Module(body=body or [ast.Pass()],
                                                            type_ignores=[]))

    def run(self, source: str, data: dict, extra: dict | None = None) -> Any:
        """Run a (stored or written) script over `data`, which changes only through
        execution.setVariable and removeVariable; returns the script's value."""
        return sandbox.run_translated_script(self.compile_script(source), self._namespace,
                                             data, extra or {}, self.to_plain)


@functools.cache
def languages() -> tuple[ScriptLanguage, ...]:
    """JavaScript and Groovy (imported here, when first asked for: each builds its
    ScriptLanguage from this module)."""
    from . import groovy, javascript
    return (javascript.JAVASCRIPT, groovy.GROOVY)


def for_format(script_format: str | None) -> ScriptLanguage | None:
    """The translated language of a scriptFormat, None for Python (or an unsupported one)."""
    return next((language for language in languages()
                 if language.is_script_format(script_format)), None)


def for_stored(text: str) -> ScriptLanguage | None:
    """The language of a script the loader stored (its first line names it)."""
    return next((language for language in languages() if language.is_stored(text)), None)
