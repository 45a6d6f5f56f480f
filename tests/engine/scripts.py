"""What the tests of the translated script languages (JavaScript, Groovy) share: the process
data their scripts read, and diagrams around one script task, written as Camunda Modeler
writes them."""
from __future__ import annotations

from decimal import Decimal

import pytest

from engine.errors import BpmnValidationError
from engine.loader import load_processes
from tests.engine.bpmn_builder import flow, process


def data():
    return {"amount": 250, "limit": 100, "name": "Zhang Wei", "blank": "", "nothing": None,
            "items": [3, 1, 2], "order": {"total": 120, "lines": [{"sku": "X1", "qty": 2},
                                                                  {"sku": "Y2", "qty": 5}]},
            "price": Decimal("19.90"), "count_text": "42", "dept": "质量部",
            "_hidden": "internal"}


def script_task(script: str, *, script_format: str, extra: str = "") -> str:
    """The script task `calc`; `extra` are more of its attributes."""
    return (f'<bpmn:scriptTask id="calc" scriptFormat="{script_format}"{extra}>'
            f'<bpmn:script>{script}</bpmn:script></bpmn:scriptTask>')


def listener(kind: str, event: str, script: str, *, script_format: str) -> str:
    return (f'<camunda:{kind} event="{event}"><camunda:script scriptFormat="{script_format}">'
            f'{script}</camunda:script></camunda:{kind}>')


def diagram(task: str, review_extensions: str = "") -> bytes:
    """start, `task`, the user task `review` with these extension elements, end."""
    review = (f'<bpmn:userTask id="review" name="review"><bpmn:extensionElements>'
              f'{review_extensions}</bpmn:extensionElements></bpmn:userTask>')
    return process("\n".join(['<bpmn:startEvent id="start"/>', task, review,
                              '<bpmn:endEvent id="end"/>', flow("start", "calc"),
                              flow("calc", "review"), flow("review", "end")]),
                   {"QA": ["start", "calc", "review", "end"]})


def deploy_refusal(source: bytes, file: str):
    """The one problem that refuses the diagram `source` at deploy time, said of `file`."""
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(source, file)
    [problem] = refused.value.problems
    assert problem.file == file
    return problem


def line_holding(source: bytes, text: str) -> int:
    """The line of the file `source` that holds `text`."""
    return next(number for number, line in enumerate(source.decode().splitlines(), 1)
                if text in line)
