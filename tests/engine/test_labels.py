"""Translations of names, form labels and enum options, carried as Camunda properties."""
from __future__ import annotations

from engine.labels import localized_xml, pick
from engine.loader import load_processes
from tests.conftest import read_bpmn
from tests.engine.bpmn_builder import flow, process

TRANSLATED = process("\n".join([
    '<bpmn:startEvent id="start"/>',
    '<bpmn:userTask id="inspect" name="Inspect goods"><bpmn:extensionElements>'
    '<camunda:properties><camunda:property name="i18n:zh-CN" value="检验来货"/>'
    '<camunda:property name="dutyflow:remindAfter" value="PT1H"/></camunda:properties>'
    '<camunda:formData>'
    '<camunda:formField id="result" label="Result" type="enum">'
    '<camunda:properties><camunda:property name="i18n:zh-CN" value="检验结果"/>'
    '<camunda:property name="i18n:zh-CN:pass" value="合格"/></camunda:properties>'
    '<camunda:value id="pass" name="Pass"/><camunda:value id="fail" name="Fail"/>'
    '</camunda:formField>'
    '<camunda:formField id="notes" label="Notes" type="string"/>'
    '</camunda:formData></bpmn:extensionElements></bpmn:userTask>',
    '<bpmn:endEvent id="end" name="Done"/>',
    flow("start", "inspect"), flow("inspect", "end")]), {"QA": ["start", "inspect", "end"]})


def model():
    return load_processes(TRANSLATED, "t.bpmn")[0]


def test_task_names_follow_the_readers_language_and_fall_back_to_the_drawn_name():
    found = model()
    assert found.labels == {"inspect": {"zh-cn": "检验来货"}}
    assert found.label("inspect", "zh", "Inspect goods") == "检验来货"  # Babel's locale
    assert found.label("inspect", "zh_CN", "Inspect goods") == "检验来货"
    assert found.label("inspect", "en", "Inspect goods") == "Inspect goods"
    assert found.label("end", "zh", "Done") == "Done"  # no translation drawn
    assert found.duties["inspect"].remind_after == "PT1H"  # other properties still read


def test_form_labels_and_enum_options_are_translated_per_field():
    form = model().duties["inspect"].form
    chinese = {field["id"]: field for field in form.as_dict("zh-CN")["fields"]}
    assert chinese["result"]["label"] == "检验结果"
    assert chinese["result"]["options"] == [{"id": "pass", "label": "合格"},
                                            {"id": "fail", "label": "Fail"}]
    assert chinese["notes"]["label"] == "Notes"
    assert form.as_dict()["fields"][0]["label"] == "Result"  # the API's form is as drawn


def test_pick_prefers_the_exact_region_then_the_language():
    texts = {"zh-tw": "檢驗", "zh-cn": "检验"}
    assert pick(texts, "zh-TW", "x") == "檢驗"
    assert pick(texts, "zh-CN", "x") == "检验"
    assert pick(texts, "zh", "x") in ("检验", "檢驗")
    assert pick(texts, "de", "x") == "x"
    assert pick(None, "zh", "x") == "x"


def test_the_diagram_is_drawn_with_translated_names():
    xml = TRANSLATED.decode()
    chinese = localized_xml(xml, "zh")
    assert 'name="检验来货"' in chinese and 'name="Done"' in chinese
    assert localized_xml(xml, "en") == xml


def test_the_shipped_diagrams_carry_chinese_labels():
    for name in ("inbound_materials.bpmn", "contract_approval.bpmn", "customer_complaint.bpmn",
                 "policy_signoff.bpmn"):
        found = load_processes(read_bpmn(name), name)[0]
        assert found.label(found.key, "zh", found.name) != found.name, name
        for duty in found.duties.values():
            assert found.label(duty.element_id, "zh", duty.name) != duty.name, (name, duty.element_id)
            for field in duty.form.as_dict("zh")["fields"]:
                english = next(f for f in duty.form.as_dict()["fields"] if f["id"] == field["id"])
                assert field["label"] != english["label"], (name, field["id"])
                for option, drawn in zip(field.get("options", []), english.get("options", [])):
                    assert option["label"] != drawn["label"], (name, field["id"], option["id"])
