"""What the expression and script languages share: loading a grammar, turning parse
failures into located errors, and the few Python-AST builders their translators use.

Positions are those of the expression as the designer wrote it, surrounding whitespace
removed (what a modeler's input field shows): line 1 is its first line, columns count
characters from 1, `${`/`#{` and FEEL's `=` included.
"""
from __future__ import annotations

import ast
from importlib import resources
from typing import Any

import lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from engine.sandbox import GENERATED_PREFIX, MAX_SOURCE_CHARS, SandboxSyntaxError

MAX_EXPECTED_SHOWN = 8


class ExpressionSyntaxError(SandboxSyntaxError):
    """A JUEL or FEEL expression that does not parse or names what does not exist.

    `.line` is the line within the expression, `.column` the column within that line.
    """

    def __init__(self, reason: str, line: int | None = None, column: int | None = None):
        super().__init__(reason, line)
        self.column = column
        if line is not None and column is not None:
            self.args = (f"line {line}, column {column}: {reason}",)

    def at_line(self, line: int | None) -> ExpressionSyntaxError:
        return type(self)(self.reason, line, self.column)

    def __str__(self) -> str:
        return self.args[0]


def load_parser(grammar_file: str, lexer: str = "contextual",
                start: tuple[str, ...] = ("start",), placeholders: bool = False) -> lark.Lark:
    """An LALR parser (linear time whatever the input) for a grammar shipped in this package.
    With `placeholders`, an optional part left out of a rule is a None child (the script
    translators unpack a rule's children by position)."""
    grammar = resources.files(__package__).joinpath(grammar_file).read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer=lexer, propagate_positions=True,
                     maybe_placeholders=placeholders, start=list(start))


def located(source: str, index: int, reason: str) -> ExpressionSyntaxError:
    """An error at character `index` of `source`."""
    index = max(0, min(index, len(source)))
    line = source.count("\n", 0, index) + 1
    column = index - (source.rfind("\n", 0, index) + 1) + 1
    return ExpressionSyntaxError(reason, line, column)


def parse(parser: lark.Lark, source: str, offset: int, start: str = "start") -> lark.Tree:
    """Parse `source[offset:]` from the grammar's rule `start`; errors are located in `source`."""
    if len(source) > MAX_SOURCE_CHARS:
        raise ExpressionSyntaxError(f"expression is longer than {MAX_SOURCE_CHARS} characters")
    body = source[offset:]
    if not body.strip():
        raise located(source, len(source), "the expression is empty")
    try:
        return parser.parse(body, start=start)
    except UnexpectedInput as err:
        raise located(source, offset + _error_index(err, body), _describe(parser, err)) from None
    except RecursionError:
        raise ExpressionSyntaxError("expression is nested too deeply") from None


def _error_index(err: UnexpectedInput, body: str) -> int:
    if isinstance(err, UnexpectedEOF) or (
            isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        return len(body)  # where the expression ends: `}` of a JUEL one
    position = getattr(err, "pos_in_stream", None)
    return position if isinstance(position, int) else len(body)


def _describe(parser: lark.Lark, err: UnexpectedInput) -> str:
    if isinstance(err, UnexpectedCharacters):
        return f"unexpected character {err.char!r}"
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        found = f"unexpected {str(err.token)!r}"
    else:
        found = "unexpected end of expression"
    expected = sorted({_terminal_text(parser, name) for name in getattr(err, "expected", ())})
    if not expected:
        return found
    shown = ", ".join(expected[:MAX_EXPECTED_SHOWN])
    if len(expected) > MAX_EXPECTED_SHOWN:
        shown += ", ..."
    return f"{found}; expected {shown}"


def _terminal_text(parser: lark.Lark, name: str) -> str:
    if name == "$END":
        return "end of expression"
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if pattern.type == "str":
        return repr(pattern.value)
    return name.lower().replace("_", " ")


def position_of(tree: Any, offset: int) -> int:
    """Index in the written expression where a parse-tree node or token starts."""
    if isinstance(tree, lark.Token):
        return offset + (tree.start_pos or 0)
    meta = getattr(tree, "meta", None)
    start = getattr(meta, "start_pos", None) if meta is not None and not meta.empty else None
    return offset + (start or 0)


# -------------------------------------------------------------------- Python-AST builders

def helper(name: str, *args: ast.expr) -> ast.Call:
    """A call of the generated helper `_sandbox_<name>`."""
    return ast.Call(func=ast.Name(id=GENERATED_PREFIX + name, ctx=ast.Load()), args=list(args),
                    keywords=[])


def constant(value: Any) -> ast.Constant:
    return ast.Constant(value=value)


def scope() -> ast.Name:
    """The read-only mapping of the task's variables (see sandbox.evaluate_translated)."""
    return ast.Name(id=GENERATED_PREFIX + "scope", ctx=ast.Load())
