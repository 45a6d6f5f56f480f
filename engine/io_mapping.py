"""Input and output parameters of tasks and subprocesses: Camunda 7's `camunda:inputOutput`
and Camunda 8's `zeebe:ioMapping`.

An input parameter makes a local variable as the element starts (every input computed from
the data before it, as Camunda 7 does): visible to the element
(a user task's data and form, a subprocess's steps), gone when it ends; a process variable
of the same name is hidden meanwhile and comes back unchanged. An output parameter is
computed from the element's data as it ends (its locals, the form's values, what the
subprocess made) and written to the process data.

Values (Camunda 7): text (a literal string; empty is null), one expression (`${...}`,
`#{...}`, FEEL `=...`: evaluated in the sandbox), `camunda:list` and `camunda:map` (nested,
of the same), or `camunda:script scriptFormat="python"` whose text is one Python
expression giving the value, or `scriptFormat="javascript"` (or `"groovy"`) whose value is its `return` or
its last expression (run on a copy of the data: it sets no variables). Zeebe: `<zeebe:input source="=expr" target="name"/>` (a
source without `=` is a static text; a target may be a path, `customer.email`). A Camunda 8
script task's `<zeebe:script expression="=expr" resultVariable="name"/>` is its result:
FEEL evaluated on the task's data as it ends, written before its outputs are computed.
Everything is checked at deploy time (names usable in expressions, expressions that parse,
scripts only Python); an expression that fails when run stops the instance with an
incident at the element.
"""
from __future__ import annotations

import keyword
import textwrap
from collections.abc import Callable, Collection, Iterable
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException

from . import expressions, hooks, people, sandbox
from .expressions import script_languages

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
PYTHON_FORMATS = ("", "python", "py", "python3")
HIDDEN = "io_hidden"  # internal data: the values the locals hide, by name
MAX_DEPTH = 10

Report = Callable[[etree._Element, str, int | None], None]
# A compiled value: ("text", str) | ("null",) | ("expr", text) | ("js", stored script) |
# ("list", [value]) |
# ("map", [(key, value)])
Value = tuple


@dataclass(frozen=True)
class Mapping:
    element_id: str
    inputs: tuple[tuple[str, Value], ...]
    outputs: tuple[tuple[str, Value], ...]
    result: tuple[str, Value] | None = None  # a Camunda 8 script task's (zeebe:script)


def read_mappings(process: etree._Element, declared: expressions.Language | None,
                  report: Report, calls: Collection[str] = ()) -> dict[str, Mapping]:
    """The input/output mappings of the process's elements, by element id. `calls` are the
    call activities that start a child instance: their mappings are the call's, between
    caller and child (engine.calls), not locals of the caller."""
    found = {}
    for element in process.iter():
        if not isinstance(element.tag, str) or element.get("id") in calls:
            continue
        extensions = element.find(f"{{{BPMN_NS}}}extensionElements")
        if extensions is None:
            continue
        inputs: list[tuple[str, Value]] = []
        outputs: list[tuple[str, Value]] = []
        reader = _Reader(element, declared, report)
        result = None
        for io in extensions.iterfind(f"{{{CAMUNDA_NS}}}inputOutput"):
            for node in io:
                kind = etree.QName(node).localname if isinstance(node.tag, str) else ""
                if kind in ("inputParameter", "outputParameter"):
                    read = reader.parameter(node)
                    if read is not None:
                        (inputs if kind == "inputParameter" else outputs).append(read)
        for script in extensions.iterfind(f"{{{ZEEBE_NS}}}script"):
            result = reader.script(script)
        for io in extensions.iterfind(f"{{{ZEEBE_NS}}}ioMapping"):
            for node in io:
                kind = etree.QName(node).localname if isinstance(node.tag, str) else ""
                if kind in ("input", "output"):
                    read = reader.zeebe(node)
                    if read is not None:
                        (inputs if kind == "input" else outputs).append(read)
        if inputs or outputs or result:
            found[element.get("id")] = Mapping(element.get("id"), tuple(inputs), tuple(outputs),
                                               result)
    return found


class _Reader:
    def __init__(self, element: etree._Element, declared: expressions.Language | None,
                 report: Report):
        self.element, self.declared, self._report = element, declared, report
        self.ok = True

    def report(self, message: str, line: int | None) -> None:
        self.ok = False
        self._report(self.element, message, line)

    def parameter(self, node: etree._Element) -> tuple[str, Value] | None:
        name = (node.get("name") or "").strip()
        what = f"{etree.QName(node).localname} {name!r}"
        if not _is_variable(name):
            self.report(f"{what}: the name must be usable in expressions (letters, digits, "
                        "underscore; not starting with _ or a digit)", node.sourceline)
            return None
        self.ok = True
        value = self.value(node, what, 0)
        return (name, value) if self.ok else None

    def zeebe(self, node: etree._Element) -> tuple[str, Value] | None:
        target, source = (node.get("target") or "").strip(), (node.get("source") or "").strip()
        what = f"zeebe:{etree.QName(node).localname} {target!r}"
        if not all(_is_feel_name(part) for part in target.split(".")):
            self.report(f"{what}: the target must be a FEEL name (`Vacation Status` too), or "
                        "a path of such names (customer.email)", node.sourceline)
            return None
        self.ok = True
        # A source is a FEEL expression with `=`, else a static value (as in Zeebe).
        value = (self.expression(source, what, node.sourceline) if source.startswith("=")
                 else ("text", source)) if source else ("null",)
        return (target, value) if self.ok else None

    def script(self, node: etree._Element) -> tuple[str, Value] | None:
        """A Camunda 8 script task's `zeebe:script expression="=..." resultVariable="x"`:
        its value is written as the task ends, before its outputs are computed (they may
        read it)."""
        target, source = (node.get("resultVariable") or "").strip(), \
            (node.get("expression") or "").strip()
        what = f"zeebe:script resultVariable {target!r}"
        if not _is_feel_name(target):
            self.report(f"{what}: a script needs a resultVariable, a FEEL name the value is "
                        "stored under", node.sourceline)
            return None
        if source.lstrip("=").strip() == "":
            self.report(f"{what}: the script's expression is empty", node.sourceline)
            return None
        self.ok = True
        # The expression is FEEL, with or without the `=` the modeler writes.
        value = self.expression(source if source.startswith("=") else "=" + source, what,
                                node.sourceline)
        return (target, value) if self.ok else None

    def value(self, node: etree._Element, what: str, depth: int) -> Value:
        if depth > MAX_DEPTH:
            self.report(f"{what}: lists and maps nest at most {MAX_DEPTH} deep", node.sourceline)
            return ("null",)
        children = [child for child in node if isinstance(child.tag, str)]
        if not children:
            text = (node.text or "").strip()
            if not text:
                return ("null",)
            if people.is_expression(text):
                return self.expression(text, what, node.sourceline)
            return ("text", text)
        child = children[0]
        kind = etree.QName(child).localname
        if len(children) > 1 or etree.QName(child).namespace != CAMUNDA_NS:
            self.report(f"{what}: a value is text, an expression, one camunda:list, "
                        "camunda:map or camunda:script", child.sourceline)
            return ("null",)
        if kind == "list":
            return ("list", [self.value(item, what, depth + 1) for item in child
                             if isinstance(item.tag, str)])
        if kind == "map":
            entries = []
            for entry in child:
                if not isinstance(entry.tag, str):
                    continue
                key = entry.get("key")
                if key is None:
                    self.report(f"{what}: a camunda:entry needs a key", entry.sourceline)
                    continue
                entries.append((key, self.value(entry, what, depth + 1)))
            return ("map", entries)
        if kind == "script":
            script_format = (child.get("scriptFormat") or "").strip()
            translated = script_languages.for_format(script_format)
            if script_format.lower() not in PYTHON_FORMATS and translated is None:
                self.report(f"{what}: script format {script_format!r} is not supported; "
                            "scripts are sandboxed Python, JavaScript or Groovy",
                            child.sourceline)
                return ("null",)
            if child.get("resource"):
                self.report(f"{what}: a script resource cannot be read; write the script in "
                            "the diagram", child.sourceline)
                return ("null",)
            if translated is not None:
                return self.translated(child, what, translated)
            text = (child.text or "").strip()
            try:
                sandbox.check_expression(text)
            except sandbox.SandboxError as err:
                self.report(f"{what}: a parameter's script is one Python expression giving "
                            f"its value: {err}", child.sourceline)
                return ("null",)
            return ("expr", text)
        self.report(f"{what}: camunda:{kind} is not a value (text, an expression, "
                    "camunda:list, camunda:map or camunda:script)", child.sourceline)
        return ("null",)

    def translated(self, node: etree._Element, what: str,
                   language: script_languages.ScriptLanguage) -> Value:
        """A JavaScript or Groovy parameter script: its value is its `return`, else its last
        expression statement's, as Camunda takes it."""
        dedented = textwrap.dedent(node.text or "")
        source = dedented.strip("\n")
        try:
            language.check_script(source)
        except sandbox.SandboxError as err:
            first = node.sourceline + len(dedented) - len(dedented.lstrip("\n"))
            self.report(f"{what}: script ({language.name}): {err}",
                        first + (err.line - 1 if err.line else 0))
            return ("null",)
        return ("js", language.stored(source))

    def expression(self, text: str, what: str, line: int) -> Value:
        language = expressions.detect(text, self.declared)
        try:
            expressions.check(text, language)
        except sandbox.SandboxError as err:
            self.report(f"{what}: {text!r} ({language.value}): {err}", line)
            return ("null",)
        return ("expr", expressions.canonical(text, language))


def _is_feel_name(name: str) -> bool:
    """A name FEEL reads from the process data: words (spaces between them allowed, as FEEL
    allows), not starting with _, no punctuation that FEEL would read as an operator."""
    stripped = name.strip()
    return bool(stripped) and stripped == name and not name.startswith("_") and \
        len(name) <= 200 and all(part.isidentifier() for part in name.split(" ") if part) \
        and "  " not in name


def _is_variable(name: str) -> bool:
    return name.isidentifier() and not name.startswith("_") and not keyword.iskeyword(name)


def evaluate(value: Value, data: dict[str, Any]) -> Any:
    kind = value[0]
    if kind == "null":
        return None
    if kind == "text":
        return value[1]
    if kind == "expr":
        return expressions.evaluate(value[1], data)
    if kind == "js":  # on a copy: a parameter's script gives a value, it sets no variables
        return script_languages.for_stored(value[1]).run(value[1], dict(data))
    if kind == "list":
        return [evaluate(item, data) for item in value[1]]
    return {key: evaluate(item, data) for key, item in value[1]}


def attach(specs: Iterable[Any], mappings: dict[str, Mapping]) -> None:
    """Make the compiled specs of these elements map their inputs as they start and their
    outputs as they end (engine.hooks)."""
    if not mappings:
        return
    for spec in specs:
        for task_spec in spec.task_specs.values():
            mapping = mappings.get(getattr(task_spec, "bpmn_id", None))
            if mapping is None or task_spec.name != task_spec.bpmn_id:
                continue
            if mapping.inputs:
                hooks.on_start(task_spec, _inputs(mapping.inputs), "inputs")
            hooks.on_end(task_spec, _outputs(mapping))


_MISSING = "__io_missing__"


def _inputs(inputs) -> Callable[[Any], None]:
    def map_inputs(my_task: Any) -> None:
        values = [(name, _run(value, my_task.data, my_task, name)) for name, value in inputs]
        my_task.internal_data[HIDDEN] = {
            root: deepcopy(my_task.data.get(root, _MISSING))
            for root in dict.fromkeys(name.split(".")[0] for name, _ in values)}
        _assign(my_task.data, values)
    return map_inputs


def _outputs(mapping: Mapping) -> Callable[[Any], None]:
    def map_outputs(my_task: Any) -> None:
        if mapping.result is not None:
            name, value = mapping.result
            _assign(my_task.data, [(name, _run(value, my_task.data, my_task, name))])
        values = [(name, _run(value, my_task.data, my_task, name))
                  for name, value in mapping.outputs]
        for name, hidden in (my_task.internal_data.pop(HIDDEN, None) or {}).items():
            if hidden == _MISSING:
                my_task.data.pop(name, None)
            else:
                my_task.data[name] = hidden
        _assign(my_task.data, values)
    return map_outputs


def _assign(data: dict[str, Any], values: list[tuple[str, Any]]) -> None:
    """Set each value under its name, or its path (Zeebe's `customer.email`: the contexts
    on the way are made, or copied and extended)."""
    for name, value in values:
        *path, last = name.split(".")
        target = data
        for part in path:
            inner = target.get(part)
            target[part] = dict(inner) if isinstance(inner, dict) else {}
            target = target[part]
        target[last] = value


def _run(value: Value, data: dict[str, Any], my_task: Any, name: str) -> Any:
    try:
        return evaluate(value, data)
    except sandbox.SandboxError as err:
        raise WorkflowTaskException(f"parameter {name!r}: {err}", task=my_task) from None
