"""Camunda Forms (form-js schemas) as DutyFlow reads and enforces them: the schema is
untrusted input refused with its file and component path, every value is checked on the
server with form-js's rules, and a diagram's form references resolve at deploy time."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.camunda_forms import (MAX_FORM_BYTES, MAX_JSON_DEPTH, FormFileError,
                                  read_form_file)
from engine.errors import BpmnValidationError, FormValidationError
from engine.loader import load_processes

INTEROP = Path(__file__).resolve().parents[2].parent / "shared" / "interop" / "camunda-examples"
PREFIX = "usertask__task-camunda-forms__"

EVERY_INPUT = {
    "id": "everything", "type": "default", "versionTag": "v3",
    "components": [
        {"type": "text", "text": "# Delivery check"},
        {"type": "textfield", "key": "supplier", "label": "Supplier",
         "validate": {"required": True, "minLength": 2, "maxLength": 20}},
        {"type": "textfield", "key": "note", "validate": {"pattern": "^C-[0-9]+$",
                                                          "patternErrorMessage": "Like C-12"}},
        {"type": "textfield", "key": "mail", "validate": {"validationType": "email"}},
        {"type": "textarea", "key": "remarks"},
        {"type": "number", "key": "count", "decimalDigits": 0,
         "validate": {"min": 1, "max": 500, "required": True}},
        {"type": "number", "key": "weight", "decimalDigits": 2},
        {"type": "checkbox", "key": "sealed", "validate": {"required": True}},
        {"type": "checklist", "key": "defects",
         "values": [{"label": "Dented", "value": "dent"}, {"label": "Wet", "value": "wet"}]},
        {"type": "radio", "key": "verdict", "validate": {"required": True},
         "values": [{"label": "Pass", "value": "pass"}, {"label": "Fail", "value": "fail"}]},
        {"type": "select", "key": "dock", "valuesKey": "docks"},
        {"type": "taglist", "key": "tags", "values": [{"label": "A", "value": "a"}]},
        {"type": "datetime", "key": "arrived", "subtype": "date"},
        {"type": "datetime", "key": "at", "subtype": "time"},
        {"type": "group", "label": "Carrier", "path": "carrier", "components": [
            {"type": "textfield", "key": "name", "validate": {"required": True}},
            {"type": "textfield", "key": "plate.number"}]},
        {"type": "textfield", "key": "reference", "readonly": True},
        {"type": "textfield", "key": "secret", "conditional": {"hide": "=verdict = \"pass\""},
         "validate": {"required": True}},
        {"type": "filepicker", "key": "photos", "accept": "image/*,.pdf", "multiple": True},
        {"type": "spacer"}, {"type": "image", "source": "x.png"}, {"type": "separator"},
    ]}

VALID = {"supplier": "ACME", "note": "C-12", "mail": "a@b.cn", "remarks": "", "count": 12,
         "weight": 3.25, "sealed": True, "defects": ["wet"], "verdict": "pass", "dock": "D2",
         "tags": [], "arrived": "2026-03-01", "at": "08:30",
         "carrier": {"name": "SF", "plate": {"number": "沪A123"}}}


def form_of(schema: dict, name: str = "check.form"):
    return read_form_file(name, json.dumps(schema).encode())


def errors_of(form, data, context=None) -> dict[str, list[str]]:
    with pytest.raises(FormValidationError) as refused:
        form.validate(data, context=context)
    return refused.value.errors


def test_valid_data_is_kept_nested_by_key_path_and_readonly_values_are_dropped():
    form = form_of(EVERY_INPUT)
    cleaned = form.validate({**VALID, "reference": "from the browser"},
                            context={"docks": [{"label": "Two", "value": "D2"}]})
    assert cleaned["carrier"] == {"name": "SF", "plate": {"number": "沪A123"}}
    assert "reference" not in cleaned and cleaned["count"] == 12
    assert [field.id for field in form.fields][:3] == ["supplier", "note", "mail"]
    assert form.file_fields["photos"].accept == ("image/*", "application/pdf")


@pytest.mark.parametrize("change,field,message", [
    ({"supplier": ""}, "supplier", "Field is required."),
    ({"supplier": "A"}, "supplier", "Field must have minimum length of 2."),
    ({"supplier": "A" * 21}, "supplier", "Field must have maximum length of 20."),
    ({"supplier": 5}, "supplier", "Must be text."),
    ({"note": "12"}, "note", "Like C-12"),
    ({"mail": "not-mail"}, "mail", "Field must be a valid email."),
    ({"count": 0}, "count", "Field must have minimum value of 1."),
    ({"count": 501}, "count", "Field must have maximum value of 500."),
    ({"count": 1.5}, "count", "Value is expected to be an integer."),
    ({"count": "12"}, "count", "Value is not a number."),
    ({"count": True}, "count", "Value is not a number."),
    ({"weight": 1.255}, "weight", "Value is expected to have at most 2 decimal digits."),
    ({"sealed": False}, "sealed", "Field is required."),
    ({"sealed": "yes"}, "sealed", "Must be true or false."),
    ({"defects": ["fire"]}, "defects", "Not one of the options."),
    ({"defects": "wet"}, "defects", "Must be a list of options."),
    ({"verdict": "maybe"}, "verdict", "Not one of the options."),
    ({"verdict": None}, "verdict", "Field is required."),
    ({"dock": "D9"}, "dock", "Not one of the options."),
    ({"arrived": "01/03/2026"}, "arrived", "Not a valid date (YYYY-MM-DD)."),
    ({"at": "25:00"}, "at", "Not a valid time (HH:MM)."),
    ({"carrier": {"name": ""}}, "carrier.name", "Field is required."),
    ({"extra": 1}, "extra", "Not a field of this form."),
    ({"carrier": {"name": "SF", "driver": "x"}}, "carrier.driver", "Not a field of this form."),
    ({"photos": "files::abc"}, "photos",
     "Files are sent as multipart parts named after the field, not as data."),
])
def test_each_rule_refuses_with_form_js_message_under_the_field_key(change, field, message):
    errors = errors_of(form_of(EVERY_INPUT), {**VALID, **change},
                       context={"docks": [{"label": "Two", "value": "D2"}]})
    assert errors == {field: [message]}


def test_a_field_hidden_by_a_condition_is_never_required_and_non_objects_are_refused():
    form = form_of(EVERY_INPUT)
    assert "secret" not in form.validate(VALID, context={"docks": ["D2"]})
    assert errors_of(form, ["not", "an object"]) == {"_schema": ["Form data must be a JSON object."]}


def test_file_references_added_by_the_service_pass_and_are_limited_in_number():
    form = form_of({"components": [{"type": "filepicker", "key": "photo"}]})
    ref = {"sha256": "a" * 64, "name": "p.jpg", "type": "image/jpeg", "size": 10}
    assert form.validate({"photo": [ref]}) == {"photo": [ref]}
    assert errors_of(form, {"photo": [ref, {**ref, "sha256": "b" * 64}]}) == \
        {"photo": ["Attach at most 1 file."]}
    assert form.validate({}) == {}


@pytest.mark.parametrize("component,message", [
    ({"type": "textfield", "key": "a", "validate": {"pattern": "(a+)+$"}},
     "components[0] ('a'): validate.pattern: '(a+)+$' repeats a group"),
    ({"type": "textfield", "key": "a", "validate": {"pattern": "(x)\\1"}}, "refers back"),
    ({"type": "textfield", "key": "a", "validate": {"pattern": "[a-"}},
     "is not a regular expression"),
    ({"type": "number", "key": "n", "validate": {"min": "=limit"}},
     "validate.min given by a FEEL expression is not supported"),
    ({"type": "number", "key": "n", "validate": {"max": "lots"}}, "validate.max 'lots' is not"),
    ({"type": "select", "key": "s"}, "a select needs values"),
    ({"type": "select", "key": "s", "valuesExpression": "=options"}, "valuesExpression (FEEL)"),
    ({"type": "dynamiclist", "key": "rows", "components": []}, "repeating lists are not supported"),
    ({"type": "expression", "key": "sum", "expression": "=a+b"}, "computed fields"),
    ({"type": "bogus", "key": "b"}, "unknown component type 'bogus'"),
    ({"type": "textfield"}, "components[0]: an input component needs a key"),
    ({"type": "textfield", "key": "_private"}, "a key is names joined by dots"),
    ({"type": "textfield", "key": "a..b"}, "a key is names joined by dots"),
    ({"type": "filepicker", "key": "a.b"}, "a file picker's key must be a plain name"),
    ({"type": "filepicker", "key": "f", "accept": ".nonsense-ext"}, "accept '.nonsense-ext'"),
])
def test_a_schema_DutyFlow_cannot_enforce_is_refused_naming_file_and_component(component,
                                                                              message):
    with pytest.raises(FormFileError) as refused:
        form_of({"components": [component]}, "bad.form")
    [problem] = refused.value.problems
    assert problem.file == "bad.form" and message in problem.message


def test_duplicate_and_overlapping_keys_are_refused_with_the_line():
    text = json.dumps({"components": [{"type": "textfield", "key": "a"},
                                      {"type": "textfield", "key": "a.b"}]}, indent=1)
    with pytest.raises(FormFileError) as refused:
        read_form_file("dup.form", text.encode())
    assert any("overlaps a" in problem.message and problem.line
               for problem in refused.value.problems)


def test_untrusted_json_is_limited_in_size_and_depth_before_it_is_parsed():
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    for source, message in ((b" " * (MAX_FORM_BYTES + 1), "the limit is"),
                            (deep.encode(), "nests"), (b"{nope", "not valid JSON"),
                            (b'{"components": [], "n": NaN}', "not valid JSON"),
                            (b"\xff\xfe", "not UTF-8"), (b"[]", "not a form-js schema"),
                            (b'{"type": "table", "components": []}', "must be \"default\"")):
        with pytest.raises(FormFileError) as refused:
            read_form_file("x.form", source)
        assert message in str(refused.value), source[:20]


# Form references in diagrams ---------------------------------------------------------

def diagram(task_attributes: str, extension: str = "", process_extension: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    {process_extension}
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="check" name="Check" camunda:candidateGroups="qa" {task_attributes}>
      {extension}
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


FORM = ("forms/check.form", json.dumps(EVERY_INPUT).encode())


@pytest.mark.parametrize("attributes,extension", [
    ('camunda:formKey="camunda-forms:deployment:check.form"', ""),
    ('camunda:formKey="camunda-forms:app:forms/check.form"', ""),
    ('camunda:formRef="everything"', ""),
    ('camunda:formRef="everything" camunda:formRefBinding="deployment"', ""),
    ('camunda:formRef="everything" camunda:formRefBinding="versionTag" '
     'camunda:formRefVersion="v3"', ""),
    ("", '<bpmn:extensionElements><zeebe:formDefinition formId="everything"/>'
         "</bpmn:extensionElements>"),
])
def test_every_way_of_naming_a_deployed_form_gives_the_task_that_form(attributes, extension):
    [model] = load_processes(diagram(attributes, extension), "p.bpmn", decision_files=[FORM])
    form = model.duties["check"].form
    assert form.form_id == "everything" and form.file == "forms/check.form"
    assert form.as_dict()["camunda_form"]["schema"]["components"][1]["key"] == "supplier"


@pytest.mark.parametrize("definition", [
    'formKey="camunda-forms:bpmn:Form_1"',
    # what Camunda Modeler writes once the task is a Camunda user task
    'externalReference="Form_1"',
])
def test_an_embedded_zeebe_form_is_read_from_the_diagram(definition):
    embedded = json.dumps({"components": [{"type": "textfield", "key": "ok",
                                           "validate": {"required": True}}]})
    source = diagram("", f"<bpmn:extensionElements><zeebe:userTask/><zeebe:formDefinition "
                         f"{definition}/></bpmn:extensionElements>",
                     f'<bpmn:extensionElements><zeebe:userTaskForm id="Form_1">{embedded}'
                     "</zeebe:userTaskForm></bpmn:extensionElements>")
    [model] = load_processes(source, "p.bpmn")
    assert errors_of(model.duties["check"].form, {}) == {"ok": ["Field is required."]}
    assert model.warnings == ()


def test_an_external_reference_to_no_embedded_form_deploys_with_a_warning():
    [model] = load_processes(diagram("", '<bpmn:extensionElements><zeebe:formDefinition '
                                         'externalReference="https://forms.example/x"/>'
                                         "</bpmn:extensionElements>"), "p.bpmn")
    [warning] = model.warnings
    assert warning.element_id == "check" and "names a form DutyFlow does not serve" in \
        warning.message


@pytest.mark.parametrize("attributes,message", [
    ('camunda:formKey="camunda-forms:deployment:other.form"', "other.form is not in the "
                                                              "deployment"),
    ('camunda:formRef="nope" camunda:formRefBinding="deployment"',
     "form 'nope' is not in the deployment"),
    ('camunda:formRef="everything" camunda:formRefBinding="version" camunda:formRefVersion="2"',
     "camunda:formRefBinding 'version' is not supported"),
    ('camunda:formRef="everything" camunda:formRefBinding="versionTag" '
     'camunda:formRefVersion="v9"', "has versionTag 'v3'"),
    ('camunda:formKey="camunda-forms:elsewhere:check.form"', "write camunda-forms:deployment:"),
])
def test_a_form_the_deployment_lacks_is_a_deploy_error_at_the_element(attributes, message):
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(diagram(attributes), "p.bpmn", decision_files=[FORM])
    [problem] = refused.value.problems
    assert (problem.file, problem.element_id, problem.line) == ("p.bpmn", "check", 8)
    assert message in problem.message


def test_a_broken_form_file_is_reported_once_with_its_own_name():
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(diagram('camunda:formRef="everything"'), "p.bpmn",
                       decision_files=[("broken.form", b"{")])
    assert [problem.file for problem in refused.value.problems] == ["broken.form"]


def test_an_html_form_key_deploys_with_a_warning():
    [model] = load_processes(diagram('camunda:formKey="embedded:app:forms/x.html"'), "p.bpmn")
    assert [w.message for w in model.warnings][0].startswith(
        "form key 'embedded:app:forms/x.html' names a page DutyFlow does not serve")


def test_camundas_quickstart_forms_are_read_and_enforced():
    source = (INTEROP / f"{PREFIX}invoiceApproval.bpmn").read_bytes()
    files = [(name, (INTEROP / f"{PREFIX}{name}").read_bytes())
             for name in ("start-form.form", "task-form.form")]
    [model] = load_processes(source, "invoiceApproval.bpmn", default_owner="qa",
                             decision_files=files)
    assert [field.id for field in model.start_form.fields] == \
        ["creditor", "amount", "invoiceNumber"]
    task_form = model.duties["UserTask_1"].form
    assert errors_of(task_form, {"creditor": "ACME", "amount": "12.50", "approved": "true"}) == \
        {"amount": ["Field must match pattern ^[0-9]+$."]}
    assert task_form.validate({"creditor": "ACME", "amount": "1250", "approved": "true"}) == \
        {"creditor": "ACME", "amount": "1250", "approved": "true"}


def test_a_start_form_with_a_file_picker_is_refused():
    picker = json.dumps({"id": "snap", "components": [{"type": "filepicker", "key": "photo"}]})
    source = diagram("").replace(b'<bpmn:startEvent id="start">',
                                 b'<bpmn:startEvent id="start" camunda:formRef="snap">')
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(source, "p.bpmn", decision_files=[("snap.form", picker.encode())])
    [problem] = refused.value.problems
    assert problem.element_id == "start" and "a start form cannot take files" in problem.message


def test_labels_and_options_are_shown_in_the_readers_language_where_translated():
    form = form_of({"components": [
        {"type": "radio", "key": "verdict", "label": "Verdict",
         "properties": {"i18n:zh-CN": "结论", "i18n:zh-CN:pass": "合格"},
         "values": [{"label": "Pass", "value": "pass"}, {"label": "Fail", "value": "fail"}]},
        {"type": "group", "label": "Carrier", "path": "carrier", "components": [
            {"type": "textfield", "key": "name", "label": "Name",
             "properties": {"i18n:zh-CN": "承运人"}}]}]})
    chinese = form.as_dict("zh")
    schema = chinese["camunda_form"]["schema"]["components"]
    assert schema[0]["label"] == "结论"
    assert [option["label"] for option in schema[0]["values"]] == ["合格", "Fail"]
    assert [field["label"] for field in chinese["fields"]] == ["结论", "承运人"]
    assert form.as_dict("en")["camunda_form"]["schema"]["components"][0]["label"] == "Verdict"


ZEEBE_FORM_ID = ('', '<bpmn:extensionElements><zeebe:userTask/>'
                     '<zeebe:formDefinition formId="everything"/></bpmn:extensionElements>')


@pytest.mark.parametrize("attributes,extension,what", [
    (*ZEEBE_FORM_ID, "zeebe:formDefinition formId"),
    ('camunda:formRef="everything"', "", "camunda:formRef"),
    ('camunda:formRef="everything" camunda:formRefBinding="latest"', "", "camunda:formRef"),
])
def test_a_task_naming_a_form_id_its_deployment_lacks_deploys_with_a_warning_at_its_line(
        attributes, extension, what):
    [model] = load_processes(diagram(attributes, extension), "p.bpmn")
    [warning] = model.warnings
    assert (warning.file, warning.element_id, warning.line) == ("p.bpmn", "check", 8)
    assert warning.message.startswith(f"{what} 'everything' is not in the deployment: the "
                                      "latest deployed form with that id is shown")
    assert model.missing_forms == ("everything",)


def test_a_task_naming_an_undeployed_form_id_shows_the_latest_deployed_form_of_that_id():
    [model] = load_processes(diagram(*ZEEBE_FORM_ID), "p.bpmn",
                             latest_decision_files=[("later/check.form",
                                                     json.dumps(EVERY_INPUT).encode())])
    form = model.duties["check"].form
    assert (form.form_id, form.file) == ("everything", "later/check.form")
    assert "supplier" in errors_of(form, {})


def test_a_task_whose_form_id_is_deployed_nowhere_refuses_every_completion_with_the_reason():
    [model] = load_processes(diagram(*ZEEBE_FORM_ID), "p.bpmn")
    form = model.duties["check"].form
    assert form.as_dict()["undeployed_form"]["id"] == "everything"
    assert errors_of(form, {}) == {"_schema": [
        "form 'everything' is not deployed: deploy a .form file with that id, then the "
        "task shows it and can be completed"]}


@pytest.mark.parametrize("attributes,extension", [
    ('camunda:formRef="everything" camunda:formRefBinding="deployment"', ""),
    ("", '<bpmn:extensionElements><zeebe:formDefinition formId="everything" '
         'bindingType="deployment"/></bpmn:extensionElements>'),
])
def test_a_form_id_bound_to_the_deployment_is_still_refused_when_the_deployment_lacks_it(
        attributes, extension):
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(diagram(attributes, extension), "p.bpmn")
    assert "'everything' is not in the deployment" in refused.value.problems[0].message


def test_a_start_event_naming_an_undeployed_form_id_is_still_refused():
    source = diagram("").replace(b'<bpmn:startEvent id="start">',
                                 b'<bpmn:startEvent id="start" camunda:formRef="everything">')
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(source, "p.bpmn")
    assert refused.value.problems[0].element_id == "start"
