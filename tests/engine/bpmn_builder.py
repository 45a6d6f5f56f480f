"""Small BPMN documents for tests, written the way Camunda Modeler writes them."""
from __future__ import annotations

from xml.sax.saxutils import escape

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  id="defs" targetNamespace="http://bpmn.io/schema/bpmn">"""


def process(body: str, lanes: dict[str, list[str]] | None = None, process_id: str = "proc",
            executable: bool = True) -> bytes:
    """A document with one process; `lanes` maps lane name -> flow node ids."""
    lane_xml = ""
    if lanes:
        lane_xml = "<bpmn:laneSet id=\"lanes\">" + "".join(
            f'<bpmn:lane id="lane_{index}" name="{name}">'
            + "".join(f"<bpmn:flowNodeRef>{ref}</bpmn:flowNodeRef>" for ref in refs)
            + "</bpmn:lane>" for index, (name, refs) in enumerate(lanes.items())) + "</bpmn:laneSet>"
    flag = "true" if executable else "false"
    return (f'{HEADER}\n<bpmn:process id="{process_id}" name="Test process" isExecutable="{flag}">'
            f"{lane_xml}\n{body}\n</bpmn:process>\n</bpmn:definitions>\n").encode("utf-8")


def flow(source: str, target: str, condition: str | None = None, flow_id: str | None = None) -> str:
    flow_id = flow_id or f"f_{source}_{target}"
    if condition is None:
        return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}"/>'
    return (f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
            f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}'
            f"</bpmn:conditionExpression></bpmn:sequenceFlow>")


def user_task(task_id: str, fields: str = "", attrs: str = "") -> str:
    form = (f"<bpmn:extensionElements><camunda:formData>{fields}</camunda:formData>"
            f"</bpmn:extensionElements>") if fields else ""
    return f'<bpmn:userTask id="{task_id}" name="{task_id}" {attrs}>{form}</bpmn:userTask>'


def linear(tasks: list[str], lane: str = "QA", extra: str = "") -> bytes:
    """start -> tasks... -> end, all in one lane."""
    nodes = ["start"] + tasks + ["end"]
    body = ['<bpmn:startEvent id="start"/>', *[user_task(task) for task in tasks],
            '<bpmn:endEvent id="end"/>', extra]
    body += [flow(a, b) for a, b in zip(nodes, nodes[1:])]
    return process("\n".join(body), {lane: nodes})


def gateway_mesh(gateways: int, flows: int) -> bytes:
    """The deploy-cost attack: `gateways` exclusive gateways joined by `flows` flows without
    conditions (12,000 and 20,000 fit under the 2 MB upload limit)."""
    body = ['<bpmn:startEvent id="start"/>', flow("start", "g0")]
    body += [f'<bpmn:exclusiveGateway id="g{index}"/>' for index in range(gateways)]
    body += [flow(f"g{index % gateways}", f"g{(index + 1 + index // gateways) % gateways}",
                  flow_id=f"f{index}") for index in range(flows)]
    return process("\n".join(body))


def gateway_fan(gateways: int) -> bytes:
    """A valid process that grows in width only: start -> fork -> `gateways` exclusive
    gateways, each with two conditional flows -> end (3 flows per gateway)."""
    body = ['<bpmn:startEvent id="start"/>', '<bpmn:parallelGateway id="fork"/>',
            '<bpmn:endEvent id="end"/>', flow("start", "fork")]
    for index in range(gateways):
        gateway = f"g{index}"
        body += [f'<bpmn:exclusiveGateway id="{gateway}"/>', flow("fork", gateway),
                 flow(gateway, "end", "amount &gt; 10", f"{gateway}_big"),
                 flow(gateway, "end", "amount &lt;= 10", f"{gateway}_small")]
    return process("\n".join(body))


DMN_1_3 = "https://www.omg.org/spec/DMN/20191111/MODEL/"


def decision_table(decision_id: str, inputs: list[str], outputs: list[str],
                   rules: list[tuple[list[str], list[str]]], hit_policy: str = "UNIQUE",
                   aggregation: str | None = None, namespace: str = DMN_1_3,
                   output_values: dict[str, str] | None = None, extra: str = "") -> bytes:
    """A DMN file with one decision table, as Camunda Modeler writes it: `inputs` are the
    input expressions, `outputs` the output names, each rule its input and output entries
    (cell text, escaped here)."""
    def cell(kind: str, text: str, index: str) -> str:
        return f'<{kind} id="{kind}_{index}"><text>{escape(text)}</text></{kind}>'

    values = output_values or {}
    policy = f' hitPolicy="{hit_policy}"' + (f' aggregation="{aggregation}"' if aggregation else "")
    body = [f'<input id="input_{n}" label="input {n}"><inputExpression id="expr_{n}" '
            f'typeRef="string"><text>{escape(text)}</text></inputExpression></input>'
            for n, text in enumerate(inputs)]
    body += [f'<output id="output_{n}" name="{name}" typeRef="string">'
             + (f'<outputValues id="values_{n}"><text>{escape(values[name])}</text></outputValues>'
                if name in values else "") + "</output>" for n, name in enumerate(outputs)]
    for r, (tests, results) in enumerate(rules, 1):
        body.append(f'<rule id="rule_{r}">'
                    + "".join(cell("inputEntry", text, f"{r}_{n}") for n, text in enumerate(tests))
                    + "".join(cell("outputEntry", text, f"{r}_{n}")
                              for n, text in enumerate(results)) + "</rule>")
    lines = "\n".join(body)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<definitions xmlns="{namespace}" '
            f'xmlns:camunda="http://camunda.org/schema/1.0/dmn" id="defs_{decision_id}" '
            f'name="Decisions" namespace="http://camunda.org/schema/1.0/dmn">\n'
            f'<decision id="{decision_id}" name="{decision_id}">{extra}\n'
            f'<decisionTable id="table_{decision_id}"{policy}>\n{lines}\n</decisionTable>\n'
            f"</decision>\n</definitions>\n").encode("utf-8")
