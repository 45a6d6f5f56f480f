"""Loading BPMN: untrusted XML handled safely, every problem reported with its location."""
from __future__ import annotations

import time

import pytest

from engine.errors import BpmnValidationError, FormValidationError
from engine.loader import MAX_BPMN_BYTES, MAX_PER_PROCESS, MAX_PROCESSES, load_processes
from tests.conftest import read_bpmn
from tests.engine.bpmn_builder import (HEADER, flow, gateway_fan, gateway_mesh, linear, process,
                                       user_task)

KNOWN = {"QA", "质量部", "Procurement", "Warehouse", "Production", "Sales", "Legal",
         "Customer Service", "qa"}


def problems_of(source: bytes, known=KNOWN.__contains__) -> list[str]:
    with pytest.raises(BpmnValidationError) as caught:
        load_processes(source, "test.bpmn", known)
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize("name,key", [("inbound_materials.bpmn", "inbound_materials"),
                                      ("contract_approval.bpmn", "contract_approval"),
                                      ("customer_complaint.bpmn", "customer_complaint")])
def test_shipped_diagrams_load(name, key):
    [model] = load_processes(read_bpmn(name), name, KNOWN.__contains__)
    assert model.key == key
    assert model.duties
    assert all(duty.owners for duty in model.duties.values())


def test_inbound_materials_model_details():
    [model] = load_processes(read_bpmn("inbound_materials.bpmn"), "inbound_materials.bpmn")
    inspect = model.duties["inspect_goods"]
    assert inspect.lane == "质量部"
    assert inspect.due_date == "PT4H"
    fields = {field.id: field for field in inspect.form.fields}
    assert fields["result"].type == "enum" and fields["result"].required
    assert [option for option, _ in fields["result"].options] == ["pass", "fail"]
    assert fields["defects"].minimum == 0


def test_malformed_xml_reports_line():
    source = b'<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="x">\n<oops>\n</bpmn:definitions>'
    [problem] = problems_of(source)
    assert problem.startswith("test.bpmn:4: -: malformed XML")


def test_entities_and_dtd_are_refused():
    billion_laughs = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
                      b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n<lolz>&lol2;</lolz>')
    [problem] = problems_of(billion_laughs)
    assert "DTDs and entity declarations are not allowed" in problem
    external = (b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b'<d>&x;</d>')
    assert "not allowed" in problems_of(external)[0]


def test_size_limit():
    source = b"<a>" + b" " * (MAX_BPMN_BYTES + 1) + b"</a>"
    assert "the limit is" in problems_of(source)[0]


def test_not_bpmn_and_no_executable_process():
    assert "not a BPMN 2.0" in problems_of(b"<html/>")[0]
    source = process('<bpmn:startEvent id="start"/>', executable=False)
    assert "no executable process" in problems_of(source)[0]


def test_user_task_without_owner():
    body = "\n".join(['<bpmn:startEvent id="start"/>', user_task("orphan"),
                      '<bpmn:endEvent id="end"/>', flow("start", "orphan"), flow("orphan", "end")])
    [problem] = problems_of(process(body))
    assert ": orphan: user task has no owner" in problem
    assert problem.startswith("test.bpmn:")


def test_unknown_lane_and_candidate_group():
    problems = problems_of(linear(["inspect"], lane="Nowhere"))
    assert any("inspect: lane 'Nowhere' names no known department" in p for p in problems)
    body = "\n".join(['<bpmn:startEvent id="start"/>',
                      user_task("check", attrs='camunda:candidateGroups="qa, ghosts"'),
                      '<bpmn:endEvent id="end"/>', flow("start", "check"), flow("check", "end")])
    [problem] = problems_of(process(body))
    assert "candidate group 'ghosts' names no known department" in problem


def test_candidate_groups_own_a_task_without_lane():
    body = "\n".join(['<bpmn:startEvent id="start"/>',
                      user_task("check", attrs='camunda:candidateGroups="qa"'),
                      '<bpmn:endEvent id="end"/>', flow("start", "check"), flow("check", "end")])
    [model] = load_processes(process(body), "t.bpmn", KNOWN.__contains__)
    assert model.duties["check"].owners == ("qa",)


def gateway_process(conditions: list[str | None], default: str | None = None) -> bytes:
    default_attr = f' default="{default}"' if default else ""
    body = ['<bpmn:startEvent id="start"/>', user_task("decide"),
            f'<bpmn:exclusiveGateway id="gw"{default_attr}/>',
            '<bpmn:endEvent id="end_a"/>', '<bpmn:endEvent id="end_b"/>',
            flow("start", "decide"), flow("decide", "gw"),
            flow("gw", "end_a", conditions[0], "to_a"), flow("gw", "end_b", conditions[1], "to_b")]
    return process("\n".join(body), {"QA": ["start", "decide", "gw", "end_a", "end_b"]})


def test_gateway_flow_without_condition_is_always_true_with_a_warning():
    [model] = load_processes(gateway_process(["${x == 1}", None]), "t.bpmn")
    [warning] = model.warnings
    assert warning.element_id == "to_b" and warning.line is not None
    assert "flow leaving gateway 'gw' has no condition" in warning.message
    assert "always true" in warning.message


def test_gateway_default_flow_needs_no_condition():
    [model] = load_processes(gateway_process(["x == 1", None], default="to_b"), "t.bpmn")
    assert model.key == "proc"


def test_condition_syntax_and_sandbox_errors_are_located():
    problems = problems_of(gateway_process(["${x ==}", "__import__('os')"]))
    assert any(": to_a: condition" in p for p in problems)
    assert any(": to_b: condition" in p for p in problems)


def test_bad_timer_and_due_date():
    timer = ('<bpmn:boundaryEvent id="late" attachedToRef="t1" cancelActivity="false">'
             '<bpmn:timerEventDefinition><bpmn:timeDuration>two hours</bpmn:timeDuration>'
             '</bpmn:timerEventDefinition></bpmn:boundaryEvent>')
    body = "\n".join(['<bpmn:startEvent id="start"/>',
                      user_task("t1", attrs='camunda:dueDate="tomorrow"'), timer,
                      '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end2"/>',
                      flow("start", "t1"), flow("t1", "end"), flow("late", "end2")])
    problems = problems_of(process(body, {"QA": ["start", "t1", "late", "end", "end2"]}))
    assert any(": t1: dueDate 'tomorrow' is neither" in p for p in problems)
    assert any(": late: timeDuration: 'two hours' is not an ISO 8601 duration" in p for p in problems)


def test_script_errors_report_the_script_line():
    script = ('<bpmn:scriptTask id="calc" scriptFormat="python"><bpmn:script>x = 1\n'
              'import os</bpmn:script></bpmn:scriptTask>')
    body = "\n".join(['<bpmn:startEvent id="start"/>', script, '<bpmn:endEvent id="end"/>',
                      flow("start", "calc"), flow("calc", "end")])
    source = process(body, {"QA": ["start", "calc", "end"]})
    [problem] = problems_of(source)
    script_line = source.decode().splitlines().index("import os</bpmn:script></bpmn:scriptTask>") + 1
    assert problem.startswith(f"test.bpmn:{script_line}: calc: script:")


def test_unsupported_script_language():
    script = ('<bpmn:scriptTask id="calc" scriptFormat="ruby"><bpmn:script>x = 1</bpmn:script>'
              '</bpmn:scriptTask>')
    body = "\n".join(['<bpmn:startEvent id="start"/>', script, '<bpmn:endEvent id="end"/>',
                      flow("start", "calc"), flow("calc", "end")])
    [problem] = problems_of(process(body, {"QA": ["start", "calc", "end"]}))
    assert "script format 'ruby' is not supported" in problem


def test_form_field_problems():
    fields = ('<camunda:formField id="1bad" type="string"/>'
              '<camunda:formField id="kind" type="colour"/>'
              '<camunda:formField id="choice" type="enum"/>'
              '<camunda:formField id="n" type="long"><camunda:validation>'
              '<camunda:constraint name="minimum" config="1"/></camunda:validation></camunda:formField>')
    body = "\n".join(['<bpmn:startEvent id="start"/>', user_task("t1", fields),
                      '<bpmn:endEvent id="end"/>', flow("start", "t1"), flow("t1", "end")])
    problems = problems_of(process(body, {"QA": ["start", "t1", "end"]}))
    text = "\n".join(problems)
    assert "form field id '1bad'" in text
    assert "unsupported type 'colour'" in text
    assert "enum form field 'choice' has no camunda:value options" in text
    assert "unknown constraint 'minimum'" in text


def _file_field(field_id: str, properties: str, kind: str = "file") -> str:
    return (f'<camunda:formField id="{field_id}" type="{kind}"><camunda:properties>'
            f'{properties}</camunda:properties></camunda:formField>')


def test_file_fields_and_their_properties():
    accept = '<camunda:property id="dutyflow:accept" value="{}"/>'
    most = '<camunda:property id="dutyflow:maxFiles" value="{}"/>'
    fields = (_file_field("photos", accept.format("image/*, application/pdf") + most.format(3))
              + _file_field("bad_types", accept.format("pictures"))
              + _file_field("too_many", most.format(500))
              + _file_field("text", accept.format("image/png"), kind="string"))
    body = "\n".join(['<bpmn:startEvent id="start"/>', user_task("t1", fields),
                      '<bpmn:endEvent id="end"/>', flow("start", "t1"), flow("t1", "end")])
    text = "\n".join(problems_of(process(body, {"QA": ["start", "t1", "end"]})))
    assert "form field 'bad_types': dutyflow:accept 'pictures' must list media types" in text
    assert "form field 'too_many': dutyflow:maxFiles '500' must be a whole number from 1 to 100" \
        in text
    assert "form field 'text': dutyflow:accept applies to file fields only" in text
    assert "'photos'" not in text
    good = "\n".join(['<bpmn:startEvent id="start"/>',
                      user_task("t1", _file_field("photos", accept.format("image/*") + most.format(2))),
                      '<bpmn:endEvent id="end"/>', flow("start", "t1"), flow("t1", "end")])
    [model] = load_processes(process(good, {"QA": ["start", "t1", "end"]}), "f.bpmn")
    form = model.duties["t1"].form
    photo = {"sha256": "a" * 64, "name": "a.jpg", "type": "image/jpeg", "size": 10}
    assert form.validate({"photos": [photo]}) == {"photos": [photo]}
    for wrong, message in (([photo] * 3, "Attach from 0 to 2 files."),
                           ([{**photo, "type": "application/pdf"}], "not allowed here"),
                           ([{**photo, "sha256": "x"}], "SHA-256"),
                           ("a.jpg", "Not a valid list.")):
        with pytest.raises(FormValidationError) as refused:
            form.validate({"photos": wrong})
        assert message in str(refused.value.errors["photos"]), wrong


def test_every_problem_is_reported_at_once():
    problems = problems_of(linear(["a", "b"], lane="Nowhere"))
    assert len(problems) == 2


def test_library_errors_are_translated():
    # A sequence flow pointing at a missing node makes SpiffWorkflow's parser fail.
    body = "\n".join(['<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>',
                      flow("start", "missing")])
    problems = problems_of(process(body, {"QA": ["start", "end"]}))
    assert problems and all(p.startswith("test.bpmn:") for p in problems)


@pytest.mark.parametrize("body, element, message", [
    ('<bpmn:adHocSubProcess id="pick">\n<bpmn:userTask id="a"/><bpmn:userTask id="b"/>'
     "</bpmn:adHocSubProcess>" + flow("start", "pick") + flow("pick", "end"),
     "pick", "ad-hoc subprocesses are not supported"),
    ('<bpmn:userTask id="book"/>' + flow("start", "book") + flow("book", "end")
     + '<bpmn:boundaryEvent id="undo_booking" attachedToRef="book">\n'
       "<bpmn:compensateEventDefinition/></bpmn:boundaryEvent>",
     "undo_booking", "compensation is not supported (DutyFlow cannot undo finished work)"),
    ('<bpmn:complexGateway id="pick"/>' + flow("start", "pick") + flow("pick", "end"),
     "pick", "complex gateways are not supported"),
])
def test_constructs_the_engine_cannot_run_are_refused_where_drawn(body, element, message):
    source = process("\n".join(['<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>',
                                body]), {"QA": ["start", "end", "book", "pick", "a", "b"]})
    problems = problems_of(source)
    assert any(problem.startswith("test.bpmn:") and f": {element}: {message}" in problem
               for problem in problems), problems


def test_camunda_el_wrapper_and_plain_iso_timers_are_accepted():
    [model] = load_processes(read_bpmn("inbound_materials.bpmn"), "inbound_materials.bpmn")
    assert "inspect_goods" in model.duties


def test_overlong_ids_and_names_are_problems_not_database_errors():
    body = "\n".join(['<bpmn:startEvent id="start"/>', user_task("t" * 201),
                      '<bpmn:endEvent id="end"/>', flow("start", "t" * 201, flow_id="f1"),
                      flow("t" * 201, "end", flow_id="f2")])
    problems = problems_of(process(body, {"QA": ["start", "t" * 201, "end"]}))
    assert any("id is 201 characters long; the limit is 200" in p for p in problems)


def test_a_process_over_the_element_limits_is_refused_with_its_counts_and_nothing_else():
    source = gateway_mesh(12_000, 20_000)
    assert len(source) <= MAX_BPMN_BYTES
    started = time.perf_counter()
    problems = problems_of(source)
    assert time.perf_counter() - started < 1
    assert problems == [
        f"test.bpmn:6: proc: the process has 12001 flow nodes; "
        f"the limit is {MAX_PER_PROCESS['flow nodes']}",
        f"test.bpmn:6: proc: the process has 20001 sequence flows; "
        f"the limit is {MAX_PER_PROCESS['sequence flows']}"]


def test_a_document_over_the_process_limit_is_refused():
    processes = "".join(f'<bpmn:process id="p{index}" isExecutable="true">'
                        f'<bpmn:startEvent id="s{index}"/></bpmn:process>'
                        for index in range(MAX_PROCESSES + 1))
    source = f"{HEADER}{processes}</bpmn:definitions>".encode()
    [problem] = problems_of(source)
    assert problem.endswith(f"p{MAX_PROCESSES}: the document has {MAX_PROCESSES + 1} processes; "
                            f"the limit is {MAX_PROCESSES}")


def test_loading_time_grows_linearly_with_the_number_of_gateways():
    # A generous bound for a shared machine: quadratic growth would be ~4x; bench/ has the
    # precise figure.
    def best_time(gateways: int) -> float:
        source = gateway_fan(gateways)
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            [model] = load_processes(source, "fan.bpmn")
            timings.append(time.perf_counter() - started)
        assert model.key == "proc"
        return min(timings)

    assert best_time(600) / best_time(300) < 3


def test_who_may_start_is_read_from_the_process_and_its_start_lanes():
    [model] = load_processes(read_bpmn("inbound_materials.bpmn"), "inbound_materials.bpmn")
    assert (model.start_lanes, model.starter_groups, model.starter_users) == \
        (("Procurement",), (), ())
    source = read_bpmn("inbound_materials.bpmn").replace(
        b'<bpmn:process id="inbound_materials"',
        b'<bpmn:process id="inbound_materials" camunda:candidateStarterGroups="QA, Legal" '
        b'camunda:candidateStarterUsers=" li.qa ,"')
    [model] = load_processes(source, "inbound_materials.bpmn", KNOWN.__contains__)
    assert (model.starter_groups, model.starter_users) == (("QA", "Legal"), ("li.qa",))


def test_a_candidate_starter_group_must_name_a_department():
    source = read_bpmn("inbound_materials.bpmn").replace(
        b'<bpmn:process id="inbound_materials"',
        b'<bpmn:process id="inbound_materials" camunda:candidateStarterGroups="QA, Ghosts"')
    [problem] = problems_of(source)
    assert problem.endswith("inbound_materials: candidate starter group 'Ghosts' names no "
                            "known department (matched against department keys, names and lanes)")


def test_a_form_field_s_java_validator_deploys_with_a_warning_and_its_other_constraints_hold():
    """Camunda's `validator` constraint names a Java class (or bean): it cannot run here."""
    start = ('<bpmn:startEvent id="start"><bpmn:extensionElements><camunda:formData>'
             '<camunda:formField id="account" type="string"><camunda:validation>'
             '<camunda:constraint name="required"/>'
             '<camunda:constraint name="validator" config="com.example.AccountValidator"/>'
             "</camunda:validation></camunda:formField></camunda:formData>"
             "</bpmn:extensionElements></bpmn:startEvent>")
    source = process("\n".join([start, user_task("check"), '<bpmn:endEvent id="end"/>',
                                flow("start", "check"), flow("check", "end")]),
                     {"QA": ["start", "check", "end"]})
    [model] = load_processes(source, "t.bpmn", KNOWN.__contains__)
    [warning] = model.warnings
    assert warning.element_id == "start" and warning.line is not None
    assert "form field 'account': validator 'com.example.AccountValidator' is Java code" \
        in warning.message
    with pytest.raises(FormValidationError) as refused:
        model.start_form.validate({})
    assert "account" in refused.value.errors


def bean_assigned(attrs: str, lanes: bool = True) -> bytes:
    body = ['<bpmn:startEvent id="start"/>', user_task("review", attrs=attrs),
            '<bpmn:endEvent id="end"/>', flow("start", "review"), flow("review", "end")]
    return process("\n".join(body), {"QA": ["start", "review", "end"]} if lanes else None)


def test_an_assignee_given_by_a_bean_s_method_deploys_with_a_warning_and_the_lane_owns_the_task():
    """`#{jobService.findRequester(id)}` calls Java code: the task goes to its lane."""
    [model] = load_processes(
        bean_assigned('camunda:assignee="#{jobService.findRequester(jobId)}"'), "t.bpmn",
        KNOWN.__contains__)
    [warning] = model.warnings
    assert warning.element_id == "review" and warning.line is not None
    assert ("assignee '#{jobService.findRequester(jobId)}' (juel): line 1, column 14: method "
            "findRequester() is not available: Java code cannot run in DutyFlow; the assignee "
            "is left out") in warning.message
    duty = model.duties["review"]
    assert (duty.lane, duty.assignee) == ("QA", None)


def test_an_assignee_given_by_a_bean_s_method_is_refused_where_it_is_the_only_owner():
    [problem] = problems_of(bean_assigned('camunda:assignee="#{jobService.findRequester(jobId)}"',
                                          lanes=False))
    assert ": review: assignee '#{jobService.findRequester(jobId)}' (juel): " in problem
    assert "method findRequester() is not available" in problem


def test_camunda_extensions_in_the_activiti_namespace_are_read_as_camunda_s():
    """Camunda Modeler 2 wrote `xmlns:camunda="http://activiti.org/bpmn"`; Camunda 7 reads
    it as its own namespace, so its forms and people are the diagram's, not left out."""
    source = process("\n".join([
        '<bpmn:startEvent id="start"><bpmn:extensionElements><camunda:formData>'
        '<camunda:formField id="amount" type="long"><camunda:validation>'
        '<camunda:constraint name="required"/></camunda:validation></camunda:formField>'
        "</camunda:formData></bpmn:extensionElements></bpmn:startEvent>",
        user_task("check", attrs='camunda:candidateGroups="Legal"'), '<bpmn:endEvent id="end"/>',
        flow("start", "check"), flow("check", "end")])).replace(
        b'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"',
        b'xmlns:camunda="http://activiti.org/bpmn"')
    [model] = load_processes(source, "t.bpmn", KNOWN.__contains__)
    assert [field.id for field in model.start_form.fields] == ["amount"]
    assert model.start_form.fields[0].required
    assert model.duties["check"].candidate_groups == ("Legal",)
