"""What JavaScript and Groovy scripts share (engine.expressions.script_languages): a diagram's
scriptFormat names the language, the stored text names it again and keeps a script task's
result variable, an empty script is refused at its start, and a designer's names are data,
never Python attributes."""
from __future__ import annotations

import pytest

from engine import sandbox
from engine.expressions import ExpressionSyntaxError, script_languages
from engine.expressions.groovy import GROOVY
from engine.expressions.javascript import JAVASCRIPT
from engine.sandbox import SandboxError
from tests.engine.scripts import data

LANGUAGES = pytest.mark.parametrize("language", [JAVASCRIPT, GROOVY],
                                    ids=lambda language: language.name)


@pytest.mark.parametrize("script_format, language", [
    ("javascript", JAVASCRIPT), ("JavaScript", JAVASCRIPT), (" js ", JAVASCRIPT),
    ("ECMAScript", JAVASCRIPT), ("nashorn", JAVASCRIPT), ("graal.js", JAVASCRIPT),
    ("groovy", GROOVY), ("Groovy", GROOVY),
    ("python", None), ("", None), (None, None), ("ruby", None),
])
def test_a_script_format_names_its_translated_language(script_format, language):
    assert script_languages.for_format(script_format) is language


@LANGUAGES
def test_a_stored_script_keeps_its_result_variable(language):
    stored = language.stored("1 + 1", "sum")
    assert language.is_stored(stored) and language.result_variable(stored) == "sum"
    assert language.result_variable(language.stored("1")) is None
    assert language.run(stored, {}) == 2
    assert not sandbox.check_script("x = 1")  # Python is unaffected


@LANGUAGES
def test_a_stored_script_names_its_language_and_no_other(language):
    stored = language.stored("1", "sum")
    assert stored.startswith(f"// dutyflow: {language.name} -> sum\n")
    assert script_languages.for_stored(stored) is language
    assert script_languages.for_stored("x = 1") is None  # stored Python


@LANGUAGES
@pytest.mark.parametrize("script", ["", "  \n\t"])
def test_an_empty_script_is_refused_at_its_start(language, script):
    with pytest.raises(ExpressionSyntaxError) as refused:
        language.check_script(script)
    assert (refused.value.line, refused.value.column) == (1, 1)
    assert "the script is empty" in str(refused.value)


@pytest.mark.parametrize("language, script", [
    *[(JAVASCRIPT, script) for script in (
        "({}).constructor", "items.constructor", "name['__class__']", "order.__dict__",
        "execution.getVariable('__builtins__')")],
    *[(GROOVY, script) for script in (
        "order.__class__", "name['__class__']", "order.__dict__", "[:].constructor",
        "execution.getVariable('__builtins__')")],
], ids=lambda value: getattr(value, "name", value))
def test_designer_names_never_reach_python_attributes(language, script):
    try:
        result = language.run(script, data())
    except SandboxError:
        return
    assert result is None  # a missing map entry (Groovy), undefined (JavaScript)
